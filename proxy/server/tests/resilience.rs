//! The service under stress of its surroundings: a database outage does not stop registrations (bindings are
//! served from memory and written through once the database is back), and a graceful shutdown lets calls in
//! progress finish while new requests are turned away.

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod common;

use carillon_sip::auth::Algorithm;
use carillon_sip::{HeaderName, Message, StatusCode};
use carillon_testkit::PostgresServer;
use common::{Campus, DOMAIN, Running, Ua, WAIT, config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_continue_through_a_database_outage_and_are_written_after_it() {
    // A server of this test's own, since it is stopped and started again.
    let mut postgres = PostgresServer::start().expect("start a private PostgreSQL");
    let campus = Campus::on(&postgres).await;
    let service = Running::start(config(&campus)).await;
    let mut phone = Ua::new(service.udp, "4000", &campus.password("4000")).await;
    let before = format!("sip:4000@{}", phone.addr);
    let ok = phone.register(&before, 600, Algorithm::Sha256).await;
    assert_eq!(ok.status(), Some(StatusCode::OK));
    campus.wait_for_contacts("4000", |c| c == [before.clone()]).await;

    postgres.stop().expect("stop PostgreSQL");
    let during = "sip:4000@127.0.0.1:5999".to_owned();
    let ok = phone.register(&during, 600, Algorithm::Sha256).await;
    assert_eq!(ok.status(), Some(StatusCode::OK), "a known line registers while the database is down: {ok:?}");
    let listed: Vec<&str> = ok.header_values(HeaderName::Contact).collect();
    assert!(listed.iter().any(|c| c.contains(&during)) && listed.iter().any(|c| c.contains(&before)), "{listed:?}");

    postgres.start_again().expect("start PostgreSQL again");
    let stored = campus.wait_for_contacts("4000", |c| c.len() == 2).await;
    assert!(stored.contains(&during), "the change made during the outage reached the database: {stored:?}");
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_lets_a_call_in_progress_finish_and_refuses_new_requests() {
    let campus = Campus::new().await;
    let mut service = Running::start(config(&campus)).await;
    let callee = Ua::new(service.udp, "4001", &campus.password("4001")).await;
    let mut registering = Ua::new(service.udp, "4001", &campus.password("4001")).await;
    let contact = format!("sip:4001@{}", callee.addr);
    assert_eq!(registering.register(&contact, 600, Algorithm::Md5).await.status(), Some(StatusCode::OK));

    let mut caller = Ua::new(service.udp, "4000", &campus.password("4000")).await;
    let call_id = format!("call-{}", caller.unique());
    common::authenticated_invite(&mut caller, "4001", &call_id).await;
    let (invite, proxy) = loop {
        let (message, from) = callee.recv().await;
        if message.method().is_some() {
            break (message, from);
        }
    };

    service.request_stop();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut probe = Ua::new(service.udp, "monitor", "").await;
    let uri = format!("sip:{DOMAIN}");
    let options = probe.request("OPTIONS", &uri, &format!("<{uri}>"), "ping-during-shutdown", 1, &[]);
    let refused = probe.transact(&options).await;
    assert_eq!(refused.status(), Some(StatusCode::SERVICE_UNAVAILABLE), "new requests are refused: {refused:?}");

    let ok = Message::response_to(&invite, StatusCode::OK)
        .to_tag("callee")
        .record_route_from(&invite)
        .header("Contact", format!("<{contact}>"))
        .build()
        .expect("200");
    callee.socket.send_to(&ok.to_bytes(), proxy).await.expect("answer");
    let answer = tokio::time::timeout(WAIT, caller.final_response()).await.expect("in time");
    assert_eq!(answer.status(), Some(StatusCode::OK), "the call in progress was answered: {answer:?}");
    service.stop().await;
    // The call never saw its BYE: its record is written, with the shutdown as its end, before the service exits.
    assert_eq!(campus.wait_for_call_records(&call_id).await, ["ANSWERED"]);
}
