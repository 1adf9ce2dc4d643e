//! Trunks and other domains that fail in the ways a campus meets: a trunk that never answers is given up after
//! `[routing] trunk_response_timeout_seconds` instead of the 32 s transaction timeout, and the call goes on to the
//! next trunk; a server of a trunk's (or another domain's) DNS name that answers 503 or is not there is followed
//! by the next server of its SRV records (RFC 3263 §4.3); a provider that challenges with a realm nobody stored an
//! HA1 for is answered from the trunk's sealed password. The call record names the trunk that took the call.
//! The answering servers are SIPp user agent servers, DNS is a dnsmasq of the test; a silent trunk is a UDP socket
//! of the test that reads and never answers.

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod common;
mod routing_support;

use std::time::{Duration, Instant};

use carillon_db::{CallCategory, Trunk, TrunkKind};
use carillon_sip::auth::Algorithm;
use carillon_sip::target::Transport;
use carillon_sip::{HeaderName, Message, Method, StatusCode};
use carillon_testkit::dnsmasq::Dnsmasq;
use carillon_testkit::sipp::{Sipp, SippProcess};
use common::{Campus, Running, Ua, WAIT, config};
use routing_support::{call, gateway, next_request, no_request_within, set_class};

/// A trunk on loopback at `host:port` over UDP, without credentials.
fn trunk(name: &str, host: &str, port: Option<u16>) -> Trunk {
    Trunk {
        name: name.into(),
        kind: TrunkKind::Provider,
        host: host.into(),
        port,
        transport: port.map(|_| Transport::Udp),
        auth_username: None,
        auth_realm: None,
        auth_ha1_md5: None,
        auth_ha1_sha256: None,
        auth_password_sealed: None,
    }
}

/// Adds the long-distance route `prefix` through `trunks`, tried in the order given.
async fn add_route(campus: &Campus, prefix: &str, trunks: &[Trunk]) {
    let route = carillon_db::add_outbound_route(&campus.pool, prefix, CallCategory::LongDistance, "test")
        .await
        .expect("route added");
    for (priority, trunk) in trunks.iter().enumerate() {
        let id = carillon_db::add_trunk(&campus.pool, trunk).await.expect("trunk added");
        let priority = i16::try_from(priority).expect("a few trunks");
        carillon_db::add_route_trunk(&campus.pool, route, id, priority, 0, 0, "").await.expect("trunk in route");
    }
}

/// SIPp answering one call (180, 200, then the BYE) on `port` of 127.0.0.1.
fn sipp_trunk(port: u16) -> SippProcess {
    sipp_playing("uas.xml", port)
}

/// SIPp playing the test scenario `scenario` for one call on `port` of 127.0.0.1.
fn sipp_playing(scenario: &str, port: u16) -> SippProcess {
    Sipp::scenario_file(common::data(scenario), None)
        .local_port(port)
        .calls(1)
        .timeout(Duration::from_secs(40))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start sipp (Debian package sip-tester): {e}"))
}

/// Ends an answered call: the ACK, then the BYE, which must reach the callee and be answered 200; then SIPp must
/// count one complete call.
async fn hang_up(caller: &mut Ua, ok: &Message, call_id: &str, sipp: &mut SippProcess) {
    let ack = common::in_dialog(caller, "ACK", ok, call_id, 2);
    caller.send(&ack).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let bye = common::in_dialog(caller, "BYE", ok, call_id, 3);
    let bye_ok = caller.transact(&bye).await;
    assert_eq!(bye_ok.status(), Some(StatusCode::OK), "the BYE reached the trunk: {bye_ok:?}");
    let outcome = tokio::task::block_in_place(|| sipp.wait(WAIT)).expect("sipp ran");
    assert_eq!((outcome.exit_code, outcome.successful_calls), (Some(0), 1), "{}", outcome.stderr_tail);
}

/// The caller's final response to its INVITE, provisional responses skipped.
async fn final_response(caller: &Ua) -> Message {
    loop {
        let (message, _) = caller.recv().await;
        if message.status().is_some_and(|s| s.as_u16() >= 200) {
            return message;
        }
    }
}

/// The disposition and dstchannel of the call record of `call_id`, once written.
async fn call_record(campus: &Campus, call_id: &str) -> (String, String) {
    campus.wait_for_call_records(call_id).await;
    sqlx::query_as("SELECT disposition, dstchannel FROM call_records WHERE call_id = $1")
        .bind(call_id)
        .fetch_one(&campus.pool)
        .await
        .expect("the call record")
}

/// Counts the INVITEs queued on `ua`'s socket without waiting.
fn queued_invites(ua: &Ua) -> usize {
    let mut buf = vec![0u8; 65_535];
    let mut invites = 0;
    while let Ok((n, _)) = ua.socket.try_recv_from(&mut buf) {
        let message = Message::parse(bytes::Bytes::copy_from_slice(&buf[..n])).expect("a SIP message");
        invites += usize::from(message.method() == Some(&Method::Invite));
    }
    invites
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_trunk_is_given_up_after_the_response_timeout_and_the_next_trunk_takes_the_call() {
    let campus = Campus::new().await;
    set_class(&campus.pool, "4000", "faculty").await;
    let service = Running::start(config(&campus)).await;
    let silent = gateway(service.udp).await;
    let sipp_port = common::free_udp_port();
    let mut sipp = sipp_trunk(sipp_port);
    add_route(
        &campus,
        "1414",
        &[trunk("silent", "127.0.0.1", Some(silent.addr.port())), trunk("backup", "127.0.0.1", Some(sipp_port))],
    )
    .await;
    let mut caller = Ua::new(service.udp, "4000", &campus.password("4000")).await;

    let sent = Instant::now();
    let invite = call(&mut caller, "914145551234").await;
    let call_id = invite.call_id().expect("Call-ID").to_owned();
    let (first, _) = next_request(&silent, Method::Invite).await;
    assert_eq!(first.call_id().ok(), Some(call_id.as_str()));
    let ok = final_response(&caller).await;
    let waited = sent.elapsed();
    assert_eq!(ok.status(), Some(StatusCode::OK), "the backup trunk answered: {ok:?}");
    // The default timeout is 4 s; without it the silent trunk would hold the call for Timer B, 32 s.
    assert!(waited >= Duration::from_secs(4), "the silent trunk had its 4 s: {waited:?}");
    assert!(waited < Duration::from_secs(8), "the backup trunk rang within the timeout and a margin: {waited:?}");

    // The silent trunk's transaction ended: its INVITE is no longer retransmitted.
    let retransmitted = queued_invites(&silent);
    assert!(retransmitted <= 3, "Timer A at 0.5, 1.5 and 3.5 s only: {retransmitted}");
    no_request_within(&silent, Duration::from_millis(1500), "the given-up trunk is left alone").await;

    hang_up(&mut caller, &ok, &call_id, &mut sipp).await;
    let (disposition, dstchannel) = call_record(&campus, &call_id).await;
    assert_eq!((disposition.as_str(), dstchannel.as_str()), ("ANSWERED", "backup"), "the record names the trunk");
    service.stop().await;
}

/// A name server for `itsp.test` and `partner.test`: `_sip._udp` SRV records of each pointing at `first` (priority
/// 10) and `second` (priority 20), ports of 127.0.0.1.
fn dns_with_two_servers(first: u16, second: u16) -> Dnsmasq {
    let mut records = Vec::new();
    for zone in ["itsp.test", "partner.test"] {
        records.push(format!("local=/{zone}/"));
        records.push(format!("host-record=sip1.{zone},127.0.0.1"));
        records.push(format!("host-record=sip2.{zone},127.0.0.1"));
        records.push(format!("srv-host=_sip._udp.{zone},sip1.{zone},{first},10,0"));
        records.push(format!("srv-host=_sip._udp.{zone},sip2.{zone},{second},20,0"));
    }
    let records: Vec<&str> = records.iter().map(String::as_str).collect();
    Dnsmasq::start(&records).unwrap_or_else(|e| panic!("cannot start dnsmasq (Debian package dnsmasq-base): {e}"))
}

/// Waits for a SIPp that plays one call to end, and asserts the call completed its scenario.
fn completed(sipp: &mut SippProcess, what: &str) {
    let outcome = tokio::task::block_in_place(|| sipp.wait(WAIT)).expect("sipp ran");
    assert_eq!((outcome.exit_code, outcome.successful_calls), (Some(0), 1), "{what}: {}", outcome.stderr_tail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trunk_given_by_its_srv_domain_fails_over_to_the_next_server_after_a_503_rfc3263_4_3() {
    let campus = Campus::new().await;
    set_class(&campus.pool, "4000", "faculty").await;
    let (first, second) = (common::free_udp_port(), common::free_udp_port());
    let mut unavailable = sipp_playing("uas-503.xml", first);
    let mut available = sipp_trunk(second);
    let dns = dns_with_two_servers(first, second);
    let mut config = config(&campus);
    config.dns.name_server = Some(dns.addr().to_string());
    let service = Running::start(config).await;
    add_route(&campus, "1515", &[trunk("itsp", "itsp.test", None)]).await;
    let mut caller = Ua::new(service.udp, "4000", &campus.password("4000")).await;

    let invite = call(&mut caller, "915155551234").await;
    let call_id = invite.call_id().expect("Call-ID").to_owned();
    let ok = final_response(&caller).await;
    assert_eq!(ok.status(), Some(StatusCode::OK), "the second server of itsp.test answered: {ok:?}");
    completed(&mut unavailable, "the first server saw the INVITE, answered 503 and got its ACK");
    hang_up(&mut caller, &ok, &call_id, &mut available).await;
    let (disposition, dstchannel) = call_record(&campus, &call_id).await;
    assert_eq!((disposition.as_str(), dstchannel.as_str()), ("ANSWERED", "itsp"));
    assert!(dns.log().contains("_sip._udp.itsp.test"), "the trunk was located by SRV: {}", dns.log());
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_to_another_domain_fails_over_to_the_next_srv_target_when_the_first_is_not_there_rfc3263_4_3() {
    let campus = Campus::new().await;
    set_class(&campus.pool, "4000", "faculty").await;
    // Nothing listens on the first port: the INVITE draws an ICMP port unreachable.
    let (first, second) = (common::free_udp_port(), common::free_udp_port());
    let mut available = sipp_trunk(second);
    let dns = dns_with_two_servers(first, second);
    let mut config = config(&campus);
    config.dns.name_server = Some(dns.addr().to_string());
    let service = Running::start(config).await;
    let mut caller = Ua::new(service.udp, "4000", &campus.password("4000")).await;

    let uri = "sip:bob@partner.test";
    let call_id = format!("call-{}", caller.unique());
    let contact = format!("<sip:4000@{}>", caller.addr);
    let invite = caller.request("INVITE", uri, &format!("<{uri}>"), &call_id, 1, &[("Contact", contact.clone())]);
    let challenge = caller.transact(&invite).await;
    assert_eq!(challenge.status(), Some(StatusCode::PROXY_AUTHENTICATION_REQUIRED), "{challenge:?}");
    caller.send(&common::ack_for(&invite, &challenge)).await;
    let credentials = caller.answer(&challenge, HeaderName::ProxyAuthenticate, Algorithm::Sha256, "INVITE", uri);
    let extra = [("Contact", contact), ("Proxy-Authorization", credentials)];
    let invite = caller.request("INVITE", uri, &format!("<{uri}>"), &call_id, 2, &extra);
    let sent = Instant::now();
    caller.send(&invite).await;
    let ok = final_response(&caller).await;
    assert_eq!(ok.status(), Some(StatusCode::OK), "the second server of partner.test answered: {ok:?}");
    assert!(sent.elapsed() < Duration::from_secs(3), "no wait for a timeout: {:?}", sent.elapsed());
    hang_up(&mut caller, &ok, &call_id, &mut available).await;
    assert_eq!(campus.wait_for_call_records(&call_id).await, ["ANSWERED"]);
    service.stop().await;
}

/// A key file of its own for this test, holding a new random key.
fn new_seal_key() -> (std::path::PathBuf, carillon_db::seal::SealKey) {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("carillon-seal-test-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("trunk-seal-key");
    let loaded = carillon_db::seal::SealKey::load_or_create(&path).expect("a new key file");
    assert!(loaded.created);
    (path, loaded.key)
}

/// A provider's trunk at `port` whose only secret is `password` sealed with `key` (no realm, no HA1).
fn sealed_trunk(name: &str, port: u16, key: &carillon_db::seal::SealKey, password: &str) -> Trunk {
    let mut t = trunk(name, "127.0.0.1", Some(port));
    t.auth_username = Some("acct-17".into());
    t.auth_password_sealed = Some(key.seal(password).expect("sealed"));
    t
}

/// SIPp as a provider that challenges with 401 of `realm` and verifies `acct-17`/`password` (MD5).
fn challenging_trunk(port: u16, realm: &str, password: &str) -> SippProcess {
    Sipp::scenario_file(common::data("uas-digest.xml"), None)
        .local_port(port)
        .calls(1)
        .key("user", "acct-17")
        .key("password", password)
        .key("realm", realm)
        .timeout(Duration::from_secs(40))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start sipp (Debian package sip-tester): {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_challenge_of_an_unknown_realm_is_answered_from_the_sealed_password_rfc3261_22_2() {
    let campus = Campus::new().await;
    set_class(&campus.pool, "4000", "faculty").await;
    let (key_file, key) = new_seal_key();
    let mut config = config(&campus);
    config.trunks.seal_key_file = Some(key_file);
    let service = Running::start(config).await;
    let port = common::free_udp_port();
    let mut provider = challenging_trunk(port, "voip.provider.invalid", "trunk-secret-17");
    add_route(&campus, "1616", &[sealed_trunk("itsp", port, &key, "trunk-secret-17")]).await;
    let mut caller = Ua::new(service.udp, "4000", &campus.password("4000")).await;

    let invite = call(&mut caller, "916165551234").await;
    let call_id = invite.call_id().expect("Call-ID").to_owned();
    let ok = final_response(&caller).await;
    assert_eq!(ok.status(), Some(StatusCode::OK), "SIPp verified the credentials and answered: {ok:?}");
    hang_up(&mut caller, &ok, &call_id, &mut provider).await;
    let (disposition, dstchannel) = call_record(&campus, &call_id).await;
    assert_eq!((disposition.as_str(), dstchannel.as_str()), ("ANSWERED", "itsp"));
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_sealed_with_another_key_fails_over_to_the_next_trunk() {
    let campus = Campus::new().await;
    set_class(&campus.pool, "4000", "faculty").await;
    let (_, other_key) = new_seal_key();
    let (key_file, _) = new_seal_key();
    let mut config = config(&campus);
    config.trunks.seal_key_file = Some(key_file);
    let service = Running::start(config).await;
    let (itsp_port, backup_port) = (common::free_udp_port(), common::free_udp_port());
    let _provider = challenging_trunk(itsp_port, "voip.provider.invalid", "trunk-secret-17");
    let mut backup = sipp_trunk(backup_port);
    add_route(
        &campus,
        "1717",
        &[
            sealed_trunk("itsp", itsp_port, &other_key, "trunk-secret-17"),
            trunk("backup", "127.0.0.1", Some(backup_port)),
        ],
    )
    .await;
    let mut caller = Ua::new(service.udp, "4000", &campus.password("4000")).await;

    let invite = call(&mut caller, "917175551234").await;
    let call_id = invite.call_id().expect("Call-ID").to_owned();
    let ok = final_response(&caller).await;
    assert_eq!(ok.status(), Some(StatusCode::OK), "the backup trunk took the call: {ok:?}");
    hang_up(&mut caller, &ok, &call_id, &mut backup).await;
    let (disposition, dstchannel) = call_record(&campus, &call_id).await;
    assert_eq!((disposition.as_str(), dstchannel.as_str()), ("ANSWERED", "backup"));
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sha256_challenge_is_answered_from_the_sealed_password_rfc8760() {
    use carillon_sip::auth::{
        AuthRequest, Challenger, Credentials, DigestServer, Ha1, HashFunction, NonceCountWindow, NonceIssuer,
        StoredUser,
    };
    let campus = Campus::new().await;
    set_class(&campus.pool, "4000", "faculty").await;
    let (key_file, key) = new_seal_key();
    let mut config = config(&campus);
    config.trunks.seal_key_file = Some(key_file);
    let service = Running::start(config).await;
    let itsp = gateway(service.udp).await;
    add_route(&campus, "1818", &[sealed_trunk("itsp", itsp.addr.port(), &key, "s3cret-256")]).await;
    let realm = "sha.provider.invalid";
    let provider = DigestServer::new(realm.to_owned(), NonceIssuer::new(rand::random(), Duration::from_secs(60)))
        .with_algorithms(&[Algorithm::Sha256]);
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970");
    let mut caller = Ua::new(service.udp, "4000", &campus.password("4000")).await;

    let invite = call(&mut caller, "918185551234").await;
    let (first, from) = next_request(&itsp, Method::Invite).await;
    let uri = first.request_uri().expect("a Request-URI");
    let auth = AuthRequest { method: "INVITE", request_uri: uri, now: now(), binding: &[] };
    let mut challenge = Message::response_to(&first, StatusCode::PROXY_AUTHENTICATION_REQUIRED).to_tag("itsp");
    for c in provider.challenges(&auth, rand::random(), false) {
        challenge = challenge.header(Challenger::Proxy.challenge_header().as_str(), c.to_string());
    }
    itsp.socket.send_to(&challenge.build().expect("a 407").to_bytes(), from).await.expect("407");
    next_request(&itsp, Method::Ack).await;
    let (second, from) = next_request(&itsp, Method::Invite).await;
    let value = second.header(HeaderName::ProxyAuthorization).expect("credentials");
    let credentials = Credentials::parse(value, HeaderName::ProxyAuthorization).expect("credentials");
    let digest = credentials.as_digest().expect("digest");
    assert_eq!((digest.username.as_ref(), digest.realm.as_ref()), ("acct-17", realm));
    let ha1 = Ha1::compute(HashFunction::Sha256, "acct-17", realm, "s3cret-256");
    let auth =
        AuthRequest { method: "INVITE", request_uri: second.request_uri().expect("uri"), now: now(), binding: &[] };
    let user = Some(StoredUser { username: "acct-17", ha1: &ha1 });
    let verdict = provider.verify(&mut NonceCountWindow::new(16), &auth, digest, user);
    assert!(verdict.is_authenticated(), "SHA-256 credentials from the unsealed password: {verdict:?}");
    routing_support::answer(&itsp, &second, StatusCode::BUSY_HERE, from).await;
    assert_eq!(routing_support::final_answer(&caller, &invite).await.status(), Some(StatusCode::BUSY_HERE));
    service.stop().await;
}

/// A provider's trunk at `port` with the MD5 HA1 of `acct-17`/`password` for `realm`.
fn ha1_trunk(name: &str, port: u16, realm: &str, password: &str) -> Trunk {
    let mut t = trunk(name, "127.0.0.1", Some(port));
    t.auth_username = Some("acct-17".into());
    t.auth_realm = Some(realm.into());
    t.auth_ha1_md5 =
        Some(carillon_sip::auth::Ha1::compute(carillon_sip::auth::HashFunction::Md5, "acct-17", realm, password));
    t
}

/// SIPp as a provider that challenges the INVITE and the requests of its dialog, checking every CSeq
/// (`uas-digest-in-dialog.xml`).
fn trunk_challenging_in_dialog(port: u16, realm: &str, password: &str) -> SippProcess {
    Sipp::scenario_file(common::data("uas-digest-in-dialog.xml"), None)
        .local_port(port)
        .calls(1)
        .key("user", "acct-17")
        .key("password", password)
        .key("realm", realm)
        .timeout(Duration::from_secs(40))
        .trace_messages()
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start sipp (Debian package sip-tester): {e}"))
}

/// The provider's outcome: one complete call, every CSeq as expected; and the BYE it challenged with a 407 sent
/// again with Proxy-Authorization credentials that verify against `acct-17`/`password` of `realm` for the nonce
/// it issued (SIPp 3.6 verifies only Authorization itself).
fn provider_completed(provider: &mut SippProcess, realm: &str, password: &str) {
    use carillon_sip::auth::{Credentials, Ha1, HashFunction, QopAuth, ResponseInput};
    let outcome = tokio::task::block_in_place(|| provider.wait(WAIT)).expect("sipp ran");
    let trace = outcome.messages.as_deref().unwrap_or("");
    assert_eq!((outcome.exit_code, outcome.successful_calls), (Some(0), 1), "{}\n{trace}", outcome.stderr_tail);
    let ha1 = Ha1::compute(HashFunction::Md5, "acct-17", realm, password);
    let byes: Vec<&str> =
        trace.split("\n\n").filter(|m| m.starts_with("BYE ") && m.contains("\nProxy-Authorization:")).collect();
    assert_eq!(byes.len(), 1, "one BYE with credentials:\n{trace}");
    let value = byes[0].lines().find_map(|l| l.strip_prefix("Proxy-Authorization:")).expect("the credentials").trim();
    let credentials = Credentials::parse(value, HeaderName::ProxyAuthorization).expect("parsed credentials");
    let digest = credentials.as_digest().expect("Digest credentials");
    assert_eq!((digest.username.as_ref(), digest.realm.as_ref()), ("acct-17", realm));
    assert!(digest.nonce.contains("bye"), "the nonce of the BYE's 407: {value}");
    let input = ResponseInput {
        algorithm: Algorithm::Md5,
        nonce: &digest.nonce,
        qop: Some(QopAuth {
            nonce_count: digest.nonce_count.expect("nc"),
            cnonce: digest.cnonce.as_deref().expect("cnonce"),
        }),
        method: "BYE",
        uri: &digest.uri,
    };
    let expected = input.response(&ha1).expect("an MD5 response");
    assert_eq!(digest.response.as_ref(), expected.as_str(), "the digest response verifies: {value}");
}

/// The realm of the trunk that challenges requests inside a call.
const REALM: &str = "voip.provider.invalid";

/// A call from 4000 to an outside number through the SIPp trunk "itsp", which challenges the requests inside the
/// call: answered and acknowledged.
struct TrunkCall {
    provider: SippProcess,
    caller: Ua,
    call_id: String,
    ok: Message,
}

async fn answered_call_through_a_challenging_trunk(campus: &Campus, service: &Running) -> TrunkCall {
    let port = common::free_udp_port();
    let provider = trunk_challenging_in_dialog(port, REALM, "trunk-secret-17");
    add_route(campus, "1616", &[ha1_trunk("itsp", port, REALM, "trunk-secret-17")]).await;
    let mut caller = Ua::new(service.udp, "4000", &campus.password("4000")).await;
    let invite = call(&mut caller, "916165551234").await;
    let call_id = invite.call_id().expect("Call-ID").to_owned();
    let ok = final_response(&caller).await;
    assert_eq!(ok.status(), Some(StatusCode::OK), "{ok:?}");
    let ack = common::in_dialog(&mut caller, "ACK", &ok, &call_id, 2);
    caller.send(&ack).await;
    TrunkCall { provider, caller, call_id, ok }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trunk_s_challenge_of_the_bye_is_answered_with_the_next_cseq_and_the_call_ends_rfc3261_22_2() {
    let campus = Campus::new().await;
    set_class(&campus.pool, "4000", "faculty").await;
    let service = Running::start(config(&campus)).await;
    let TrunkCall { mut provider, mut caller, call_id, ok } =
        answered_call_through_a_challenging_trunk(&campus, &service).await;
    let bye = common::in_dialog(&mut caller, "BYE", &ok, &call_id, 3);
    let answer = caller.transact(&bye).await;
    assert_eq!(answer.status(), Some(StatusCode::OK), "the trunk accepted the BYE with credentials: {answer:?}");
    assert_eq!(answer.header(HeaderName::CSeq), Some("3 BYE"), "the caller's own CSeq in the answer");
    provider_completed(&mut provider, REALM, "trunk-secret-17");
    let (disposition, dstchannel) = call_record(&campus, &call_id).await;
    assert_eq!((disposition.as_str(), dstchannel.as_str()), ("ANSWERED", "itsp"));
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trunk_s_challenge_of_a_re_invite_shifts_the_dialog_s_cseq_for_its_ack_and_the_bye_rfc3261_22_2() {
    let campus = Campus::new().await;
    set_class(&campus.pool, "4000", "faculty").await;
    let service = Running::start(config(&campus)).await;
    let TrunkCall { mut provider, mut caller, call_id, ok } =
        answered_call_through_a_challenging_trunk(&campus, &service).await;
    // Hold: a re-INVITE (without an offer: the trunk offers in its 200, the caller answers in the ACK).
    let reinvite = common::in_dialog(&mut caller, "INVITE", &ok, &call_id, 3);
    caller.send(&reinvite).await;
    let answer = final_response(&caller).await;
    assert_eq!(answer.status(), Some(StatusCode::OK), "the trunk accepted the re-INVITE with credentials: {answer:?}");
    assert_eq!(answer.header(HeaderName::CSeq), Some("3 INVITE"), "the caller's own CSeq in the answer");
    let ack = common::in_dialog(&mut caller, "ACK", &ok, &call_id, 3);
    caller.send(&ack).await;
    let bye = common::in_dialog(&mut caller, "BYE", &ok, &call_id, 4);
    let answer = caller.transact(&bye).await;
    assert_eq!(answer.status(), Some(StatusCode::OK), "{answer:?}");
    assert_eq!(answer.header(HeaderName::CSeq), Some("4 BYE"));
    provider_completed(&mut provider, REALM, "trunk-secret-17");
    let (disposition, dstchannel) = call_record(&campus, &call_id).await;
    assert_eq!((disposition.as_str(), dstchannel.as_str()), ("ANSWERED", "itsp"), "one call, hold included");
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_the_bye_of_a_call_through_a_trunk_still_reaches_it_and_its_challenge_is_answered() {
    let campus = Campus::new().await;
    set_class(&campus.pool, "4000", "faculty").await;
    // Fixed ports and the same nonce secret file for both runs: the route set of the call names the first run.
    let mut config = config(&campus);
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free TCP port");
    config.sip.listen = vec![format!("udp:127.0.0.1:{}", common::free_udp_port()), format!("tcp:{tcp}")];
    let service = Running::start(config.clone()).await;
    let TrunkCall { mut provider, mut caller, call_id, ok } =
        answered_call_through_a_challenging_trunk(&campus, &service).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    service.stop().await;

    // The new run knows nothing of the call or the trunk: the route token of the trunk's Record-Route entry names
    // it, and its account is read from the database when it challenges.
    let service = Running::start(config).await;
    let bye = common::in_dialog(&mut caller, "BYE", &ok, &call_id, 3);
    let answer = caller.transact(&bye).await;
    assert_eq!(answer.status(), Some(StatusCode::OK), "{answer:?}");
    assert_eq!(answer.header(HeaderName::CSeq), Some("3 BYE"));
    provider_completed(&mut provider, REALM, "trunk-secret-17");
    service.stop().await;
}
