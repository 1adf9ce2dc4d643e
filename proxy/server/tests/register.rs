//! REGISTER against the running service (RFC 3261 §10.3, §22): digest challenges, bindings in memory and in
//! PostgreSQL, de-registration, refusals.

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod common;

use carillon_sip::auth::{Algorithm, Challenge};
use carillon_sip::{HeaderName, StatusCode};
use common::{Campus, DOMAIN, Running, Ua, config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_without_credentials_is_challenged_with_sha256_and_md5_rfc8760() {
    let campus = Campus::new().await;
    let service = Running::start(config(&campus)).await;
    let mut ua = Ua::new(service.udp, "4000", &campus.password("4000")).await;
    let contact = format!("sip:4000@{}", ua.addr);
    let request = ua.register_request("reg-challenge", 1, Some(&contact), 600, None);
    let response = ua.transact(&request).await;
    assert_eq!(response.status(), Some(StatusCode::UNAUTHORIZED));
    let challenges: Vec<Challenge<'_>> = response
        .header_values(HeaderName::WwwAuthenticate)
        .map(|v| Challenge::parse(v, HeaderName::WwwAuthenticate).expect("a challenge"))
        .collect();
    let digests: Vec<_> = challenges.iter().filter_map(Challenge::as_digest).collect();
    let algorithms: Vec<_> = digests.iter().map(|d| d.effective_algorithm()).collect();
    assert_eq!(algorithms, [Some(Algorithm::Sha256), Some(Algorithm::Md5)], "strongest first");
    for digest in &digests {
        assert_eq!(digest.realm, DOMAIN);
        assert!(digest.qop.is_some_and(|q| q.auth), "qop=auth offered");
    }
    assert!(campus.stored_contacts("4000").await.is_empty(), "nothing stored before authentication");
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_register_binds_the_contact_in_memory_and_database_and_unregister_removes_it_rfc3261_10_3() {
    let campus = Campus::new().await;
    let service = Running::start(config(&campus)).await;
    for (extension, algorithm) in [("4000", Algorithm::Sha256), ("4001", Algorithm::Md5)] {
        let mut ua = Ua::new(service.udp, extension, &campus.password(extension)).await;
        let contact = format!("sip:{extension}@{}", ua.addr);
        let ok = ua.register(&contact, 600, algorithm).await;
        assert_eq!(ok.status(), Some(StatusCode::OK), "{algorithm} answer accepted: {ok:?}");
        let listed: Vec<&str> = ok.header_values(HeaderName::Contact).collect();
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert!(listed[0].contains(&contact), "the 200 lists the contact: {listed:?}");
        assert!(listed[0].contains("expires="), "with its expiry: {listed:?}");
        campus.wait_for_contacts(extension, |c| c == [contact.clone()]).await;

        let removed = ua.register(&contact, 0, algorithm).await;
        assert_eq!(removed.status(), Some(StatusCode::OK));
        assert_eq!(removed.header_values(HeaderName::Contact).count(), 0, "no binding left: {removed:?}");
        campus.wait_for_contacts(extension, <[String]>::is_empty).await;
    }
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_refused_and_nothing_is_stored_rfc3261_22_4() {
    let campus = Campus::new().await;
    let service = Running::start(config(&campus)).await;
    let mut ua = Ua::new(service.udp, "4000", "not the password").await;
    let contact = format!("sip:4000@{}", ua.addr);
    let refused = ua.register(&contact, 600, Algorithm::Sha256).await;
    let status = refused.status().map(|s| s.as_u16());
    assert!(matches!(status, Some(401 | 403)), "wrong password refused: {refused:?}");

    // Nothing in memory: a call to 4000 finds no contact (480), and nothing in the database.
    let mut caller = Ua::new(service.udp, "4001", &campus.password("4001")).await;
    let answer = common::call(&mut caller, "4000").await;
    assert_eq!(answer.status(), Some(StatusCode::TEMPORARILY_UNAVAILABLE), "{answer:?}");
    assert!(campus.stored_contacts("4000").await.is_empty());
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_may_register_only_its_own_address_rfc3261_10_3_step_4() {
    let campus = Campus::new().await;
    let service = Running::start(config(&campus)).await;
    // 4000's credentials, but the To names 4001.
    let mut ua = Ua::new(service.udp, "4000", &campus.password("4000")).await;
    let contact = format!("sip:4000@{}", ua.addr);
    let to = format!("<sip:4001@{DOMAIN}>");
    let first =
        ua.request("REGISTER", &format!("sip:{DOMAIN}"), &to, "reg-other", 1, &[("Contact", format!("<{contact}>"))]);
    let challenge = ua.transact(&first).await;
    assert_eq!(challenge.status(), Some(StatusCode::UNAUTHORIZED));
    let credentials =
        ua.answer(&challenge, HeaderName::WwwAuthenticate, Algorithm::Sha256, "REGISTER", &format!("sip:{DOMAIN}"));
    let second = ua.request(
        "REGISTER",
        &format!("sip:{DOMAIN}"),
        &to,
        "reg-other",
        2,
        &[("Contact", format!("<{contact}>")), ("Authorization", credentials)],
    );
    let refused = ua.transact(&second).await;
    assert_eq!(refused.status(), Some(StatusCode::FORBIDDEN), "{refused:?}");
    assert!(campus.stored_contacts("4001").await.is_empty());

    // An address in another domain is not ours: 404 without a challenge (RFC 3261 §10.3 step 5).
    let elsewhere = ua.request(
        "REGISTER",
        &format!("sip:{DOMAIN}"),
        "<sip:4000@elsewhere.test>",
        "reg-else",
        1,
        &[("Contact", format!("<{contact}>"))],
    );
    let not_found = ua.transact(&elsewhere).await;
    assert_eq!(not_found.status(), Some(StatusCode::NOT_FOUND), "{not_found:?}");
    service.stop().await;
}

/// Credentials are served from memory while the proxy listens for changed lines; a secret rotated in the database
/// (by the CLI, the portal or SQL) is announced and the old one stops working at once, the new one works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_line_secret_replaces_the_cached_one_at_once() {
    let campus = Campus::new().await;
    let service = Running::start(config(&campus)).await;
    let old_password = campus.password("4000");
    let mut ua = Ua::new(service.udp, "4000", &old_password).await;
    let contact = format!("sip:4000@{}", ua.addr);
    for _ in 0..2 {
        let ok = ua.register(&contact, 600, Algorithm::Md5).await;
        assert_eq!(ok.status(), Some(StatusCode::OK), "the provisioned secret works: {ok:?}");
    }

    let new_password = "rotated-secret-4000";
    sqlx::query(
        "UPDATE lines SET ha1_md5 = md5(username || ':' || $2 || ':' || $1),
                          ha1_sha256 = encode(sha256(convert_to(username || ':' || $2 || ':' || $1, 'UTF8')), 'hex'),
                          ha1_sha512_256 = NULL
         WHERE username = '4000'",
    )
    .bind(new_password)
    .bind(DOMAIN)
    .execute(&campus.pool)
    .await
    .expect("rotate the secret");

    // The announcement travels through PostgreSQL to the proxy: allow it a moment, no more.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let answer = ua.register(&contact, 600, Algorithm::Md5).await;
        if answer.status() != Some(StatusCode::OK) {
            break;
        }
        assert!(std::time::Instant::now() < until, "the old secret still works 5 s after the rotation");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mut rotated = Ua::new(service.udp, "4000", new_password).await;
    let contact = format!("sip:4000@{}", rotated.addr);
    let ok = rotated.register(&contact, 600, Algorithm::Md5).await;
    assert_eq!(ok.status(), Some(StatusCode::OK), "the new secret works: {ok:?}");
    let again = ua.register(&format!("sip:4000@{}", ua.addr), 600, Algorithm::Md5).await;
    assert_ne!(again.status(), Some(StatusCode::OK), "the old secret stays refused: {again:?}");
    service.stop().await;
}
