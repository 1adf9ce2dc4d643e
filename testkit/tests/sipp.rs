//! SIPp through the harness, against SIPp: calls and digest REGISTERs on loopback, no Carillon server involved.
#![allow(clippy::expect_used, clippy::panic)] // Tests fail loudly, with the reason in the message.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use carillon_testkit::sipp::{Sipp, SippTransport};

/// Generous for a loaded two-core machine; a healthy run takes a fraction of it.
const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn a_uac_call_to_a_uas_succeeds_on_both_sides() {
    let mut uas = Sipp::uas().spawn().expect("start the UAS");
    assert_eq!(uas.local_addr().ip(), Ipv4Addr::LOCALHOST);
    let uac = Sipp::uac(uas.local_addr())
        .service("bob")
        .call_duration(Duration::from_millis(200))
        .timeout(LIMIT)
        .trace_messages()
        .run_to_completion(LIMIT)
        .expect("run the UAC");
    assert!(uac.all_calls_succeeded(), "{uac:#?}");
    assert_eq!((uac.successful_calls, uac.failed_calls), (1, 0));
    let messages = uac.messages.expect("traced messages");
    assert!(messages.contains("INVITE sip:bob@127.0.0.1:"), "{messages}");
    assert!(messages.contains("SIP/2.0 200 OK"), "{messages}");

    let uas = uas.wait(LIMIT).expect("wait for the UAS");
    assert!(uas.all_calls_succeeded(), "{uas:#?}");
    assert!(!uas.killed_after_limit);
}

#[test]
fn a_call_over_tcp_succeeds() {
    let uas = Sipp::uas().transport(SippTransport::Tcp).spawn().expect("start the UAS");
    let uac = Sipp::uac(uas.local_addr())
        .transport(SippTransport::Tcp)
        .timeout(LIMIT)
        .run_to_completion(LIMIT)
        .expect("run the UAC");
    assert!(uac.all_calls_succeeded(), "{uac:#?}");
}

/// RFC 3261 section 22.2: the registrar challenges with 401, the REGISTER is repeated with credentials.
#[test]
fn register_answers_the_digest_challenge_with_the_right_password() {
    let registrar = Sipp::digest_registrar("1001", "pw1001").spawn().expect("start the registrar");
    let outcome = Sipp::register(registrar.local_addr(), "1001", "pw1001")
        .timeout(LIMIT)
        .trace_messages()
        .run_to_completion(LIMIT)
        .expect("run REGISTER");
    assert!(outcome.all_calls_succeeded(), "{outcome:#?}");
    let messages = outcome.messages.expect("traced messages");
    let registrar_addr = registrar.local_addr();
    assert!(messages.contains(&format!("REGISTER sip:{registrar_addr} SIP/2.0")), "{messages}");
    assert!(messages.contains("SIP/2.0 401 Unauthorized"), "{messages}");
    assert!(messages.contains("Authorization: Digest username=\"1001\""), "{messages}");
    assert!(messages.contains("qop=auth"), "{messages}");
    assert!(messages.contains("Expires: 300"), "{messages}");
}

#[test]
fn register_with_a_wrong_password_fails_without_a_stray_bye() {
    let mut registrar = Sipp::digest_registrar("1001", "pw1001").spawn().expect("start the registrar");
    let outcome = Sipp::register(registrar.local_addr(), "1001", "WRONG")
        .timeout(LIMIT)
        .trace_messages()
        .run_to_completion(LIMIT)
        .expect("run REGISTER");
    assert_eq!(outcome.exit_code, Some(1), "{outcome:#?}");
    assert_eq!((outcome.successful_calls, outcome.failed_calls), (0, 1), "{outcome:#?}");
    let messages = outcome.messages.expect("traced messages");
    assert!(messages.contains("SIP/2.0 403 Forbidden"), "{messages}");
    assert!(!messages.contains("BYE sip:"), "a REGISTER failure must not send BYE:\n{messages}");

    let registrar = registrar.wait(LIMIT).expect("wait for the registrar");
    assert_eq!(registrar.failed_calls, 1, "the registrar saw the wrong credentials: {registrar:#?}");
}

#[test]
fn register_can_name_its_domain_and_remove_its_binding() {
    let registrar = Sipp::digest_registrar("1001", "pw1001").spawn().expect("start the registrar");
    let outcome = Sipp::register(registrar.local_addr(), "1001", "pw1001")
        .domain("campus.test")
        .expires(0)
        .timeout(LIMIT)
        .trace_messages()
        .run_to_completion(LIMIT)
        .expect("run REGISTER");
    assert!(outcome.all_calls_succeeded(), "{outcome:#?}");
    let messages = outcome.messages.expect("traced messages");
    assert!(messages.contains("REGISTER sip:campus.test SIP/2.0"), "{messages}");
    assert!(messages.contains("To: <sip:1001@campus.test>"), "{messages}");
    assert!(messages.contains("uri=\"sip:campus.test\""), "the digest-uri follows the Request-URI:\n{messages}");
    assert!(messages.contains("Expires: 0"), "{messages}");
}

#[test]
fn a_call_nobody_answers_ends_at_the_sipp_timeout() {
    // A bound socket that never answers: the INVITE goes nowhere.
    let silent = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a silent socket");
    let target: SocketAddr = silent.local_addr().expect("address");
    let started = Instant::now();
    let outcome = Sipp::uac(target).timeout(Duration::from_secs(2)).run_to_completion(LIMIT).expect("run the UAC");
    assert_eq!(outcome.exit_code, Some(255), "{outcome:#?}");
    assert_eq!(outcome.successful_calls, 0);
    assert!(!outcome.killed_after_limit);
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
}

#[test]
fn the_harness_limit_kills_a_sipp_that_runs_too_long() {
    let mut uas = Sipp::uas().unlimited_calls().spawn().expect("start the UAS");
    let pid = uas.pid();
    let started = Instant::now();
    let outcome = uas.wait(Duration::from_millis(500)).expect("wait");
    assert!(outcome.killed_after_limit, "{outcome:#?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(!uas.is_running(), "sipp {pid} survived the limit");
}

#[test]
fn dropping_a_background_sipp_stops_it_and_frees_its_port() {
    let uas = Sipp::uas().unlimited_calls().spawn().expect("start the UAS");
    let addr = uas.local_addr();
    assert!(UdpSocket::bind(addr).is_err(), "the UAS holds {addr}");
    drop(uas);
    assert!(UdpSocket::bind(addr).is_ok(), "{addr} still taken after drop");
}
