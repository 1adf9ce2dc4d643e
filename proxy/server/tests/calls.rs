//! Calls through the running service (RFC 3261 §16): a real SIPp user agent server as the callee, the test's own
//! user agent as the caller (with 407 digest), dial-plan answers, OPTIONS as the health check, and a warm restart.

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod common;

use std::time::{Duration, SystemTime};

use carillon_sip::auth::Algorithm;
use carillon_sip::{HeaderName, Message, StatusCode};
use carillon_testkit::sipp::{Sipp, SippProcess};
use common::{Campus, DOMAIN, Running, Ua, WAIT, config};

/// SIPp as the callee, returned once its port is open (an INVITE sent earlier would be refused).
fn start_sipp_uas(port: u16) -> SippProcess {
    Sipp::scenario_file(common::data("uas.xml"), None)
        .local_port(port)
        .calls(1)
        .timeout(Duration::from_secs(20))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start sipp (Debian package sip-tester): {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_to_a_registered_sipp_callee_is_answered_and_recorded_rfc3261_16() {
    let campus = Campus::new().await;
    let service = Running::start(config(&campus)).await;
    let sipp_port = common::free_udp_port();
    let mut sipp = start_sipp_uas(sipp_port);

    // The callee's binding, registered on its behalf: Contact at SIPp's port.
    let mut registrar_client = Ua::new(service.udp, "4001", &campus.password("4001")).await;
    let ok = registrar_client.register(&format!("sip:4001@127.0.0.1:{sipp_port}"), 600, Algorithm::Md5).await;
    assert_eq!(ok.status(), Some(StatusCode::OK), "{ok:?}");

    let mut caller = Ua::new(service.udp, "4000", &campus.password("4000")).await;
    let call_id = format!("call-{}", caller.unique());
    common::authenticated_invite(&mut caller, "4001", &call_id).await;
    let mut ringing = false;
    let ok = loop {
        let (message, _) = caller.recv().await;
        match message.status().map(|s| s.as_u16()) {
            Some(180) => ringing = true,
            Some(100..=199) => {}
            Some(_) => break message,
            None => panic!("a request reached the caller: {message:?}"),
        }
    };
    assert!(ringing, "SIPp's 180 was forwarded");
    assert_eq!(ok.status(), Some(StatusCode::OK), "the callee answered: {ok:?}");
    assert!(ok.header(HeaderName::RecordRoute).is_some(), "the proxy record-routed the dialog: {ok:?}");

    let ack = common::in_dialog(&mut caller, "ACK", &ok, &call_id, 2);
    caller.send(&ack).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let bye = common::in_dialog(&mut caller, "BYE", &ok, &call_id, 3);
    let bye_ok = caller.transact(&bye).await;
    assert_eq!(bye_ok.status(), Some(StatusCode::OK), "the BYE reached SIPp through the proxy: {bye_ok:?}");

    let outcome = tokio::task::block_in_place(|| sipp.wait(WAIT)).expect("sipp ran");
    assert_eq!(
        (outcome.exit_code, outcome.successful_calls),
        (Some(0), 1),
        "SIPp saw a complete call (INVITE, ACK, BYE): {}",
        outcome.stderr_tail
    );
    assert_eq!(campus.wait_for_call_records(&call_id).await, ["ANSWERED"], "one record; the 407 is no call");
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_extension_gets_404_and_unregistered_one_480_rfc3261_16_5() {
    let campus = Campus::new().await;
    let service = Running::start(config(&campus)).await;
    let mut caller = Ua::new(service.udp, "4000", &campus.password("4000")).await;
    let unknown = common::call(&mut caller, "4999").await;
    assert_eq!(unknown.status(), Some(StatusCode::NOT_FOUND), "{unknown:?}");
    let unregistered = common::call(&mut caller, "4002").await;
    assert_eq!(unregistered.status(), Some(StatusCode::TEMPORARILY_UNAVAILABLE), "{unregistered:?}");
    // The name alias reaches the same user as the extension.
    let alias = campus.lines.iter().find(|l| l.extension == "4002").expect("4002").alias.clone();
    let by_name = common::call(&mut caller, &alias).await;
    assert_eq!(by_name.status(), Some(StatusCode::TEMPORARILY_UNAVAILABLE), "{by_name:?}");
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_to_the_proxy_is_answered_200_as_health_check_rfc3261_11() {
    let campus = Campus::new().await;
    let service = Running::start(config(&campus)).await;
    let mut probe = Ua::new(service.udp, "monitor", "").await;
    for uri in [format!("sip:{DOMAIN}"), format!("sip:{}", service.udp)] {
        let call_id = format!("ping-{}", probe.unique());
        let options = probe.request("OPTIONS", &uri, &format!("<{uri}>"), &call_id, 1, &[]);
        let answer = probe.transact(&options).await;
        assert_eq!(answer.status(), Some(StatusCode::OK), "OPTIONS {uri}: {answer:?}");
        assert!(answer.header(HeaderName::Allow).is_some_and(|a| a.contains("INVITE")), "{answer:?}");
    }
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bindings_survive_a_restart_on_the_same_database_warm_start() {
    let campus = Campus::new().await;
    let first = Running::start(config(&campus)).await;
    let callee = Ua::new(first.udp, "4001", &campus.password("4001")).await;
    let mut registering = Ua::new(first.udp, "4001", &campus.password("4001")).await;
    let contact = format!("sip:4001@{}", callee.addr);
    let ok = registering.register(&contact, 600, Algorithm::Sha256).await;
    assert_eq!(ok.status(), Some(StatusCode::OK));
    campus.wait_for_contacts("4001", |c| c == [contact.clone()]).await;
    first.stop().await;
    let aor = format!("sip:4001@{DOMAIN}");
    let stored = carillon_db::registrations_for_aor(&campus.pool, &aor, SystemTime::now()).await.expect("stored");
    let [stored] = stored.as_slice() else { panic!("one stored binding: {stored:?}") };

    // Wait so a registration time taken at load would differ from the stored one.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let restarted = carillon_proxy::Server::start(config(&campus)).await.expect("the service starts again");
    let aor = carillon_registrar::Aor::parse(&aor).expect("AOR");
    let loaded = restarted.bindings().get(&aor);
    let [loaded] = loaded else { panic!("one loaded binding: {loaded:?}") };
    assert_eq!(loaded.id.0, stored.binding_id, "the registrar's id survives the restart");
    assert_eq!(
        SystemTime::UNIX_EPOCH + loaded.registered_at,
        stored.registered_at,
        "the registration time survives the restart"
    );
    assert!(stored.registered_at < SystemTime::now() - Duration::from_secs(1), "registered before the restart");
    let second = Running::serve(restarted);
    let mut caller = Ua::new(second.udp, "4000", &campus.password("4000")).await;
    let call_id = format!("call-{}", caller.unique());
    let invite = common::authenticated_invite(&mut caller, "4001", &call_id).await;
    // The callee gets the INVITE without having registered with this process.
    let (forwarded, from) = loop {
        let (message, from) = callee.recv().await;
        if message.method().is_some() {
            break (message, from);
        }
    };
    assert_eq!(forwarded.request_uri(), Some(contact.as_str()), "{forwarded:?}");
    assert_eq!(from, second.udp, "forwarded by the restarted service");
    let busy = Message::response_to(&forwarded, StatusCode::BUSY_HERE).to_tag("callee").build().expect("486");
    callee.socket.send_to(&busy.to_bytes(), from).await.expect("answer");
    let answer = caller.final_response().await;
    assert_eq!(answer.status(), Some(StatusCode::BUSY_HERE), "{answer:?}");
    caller.send(&common::ack_for(&invite, &answer)).await;
    assert_eq!(campus.wait_for_call_records(&call_id).await, ["BUSY"]);
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_cancel_reaches_the_ringing_callee_and_the_call_is_recorded_cancel_rfc3261_16_10() {
    let campus = Campus::new().await;
    let service = Running::start(config(&campus)).await;
    let callee = Ua::new(service.udp, "4001", &campus.password("4001")).await;
    let mut registering = Ua::new(service.udp, "4001", &campus.password("4001")).await;
    let contact = format!("sip:4001@{}", callee.addr);
    assert_eq!(registering.register(&contact, 600, Algorithm::Sha256).await.status(), Some(StatusCode::OK));

    let mut caller = Ua::new(service.udp, "4000", &campus.password("4000")).await;
    let call_id = format!("call-{}", caller.unique());
    let invite = common::authenticated_invite(&mut caller, "4001", &call_id).await;
    let (forwarded, proxy) = loop {
        let (message, from) = callee.recv().await;
        if message.method().is_some() {
            break (message, from);
        }
    };
    let ringing = Message::response_to(&forwarded, StatusCode::RINGING).to_tag("callee").build().expect("180");
    callee.socket.send_to(&ringing.to_bytes(), proxy).await.expect("180");
    loop {
        let (message, _) = caller.recv().await;
        if message.status() == Some(StatusCode::RINGING) {
            break;
        }
    }

    let cancel = carillon_sip::transaction::build_cancel(&invite).expect("a CANCEL");
    caller.send(&cancel).await;
    // The proxy cancels the branch (RFC 3261 §16.10): the callee answers the CANCEL and the INVITE with 487.
    let downstream_cancel = loop {
        let (message, _) = callee.recv().await;
        if message.method() == Some(&carillon_sip::Method::Cancel) {
            break message;
        }
    };
    let cancel_ok = Message::response_to(&downstream_cancel, StatusCode::OK).to_tag("callee").build().expect("200");
    callee.socket.send_to(&cancel_ok.to_bytes(), proxy).await.expect("200");
    let terminated =
        Message::response_to(&forwarded, StatusCode::REQUEST_TERMINATED).to_tag("callee").build().expect("487");
    callee.socket.send_to(&terminated.to_bytes(), proxy).await.expect("487");

    let mut cancel_answered = false;
    let final_answer = loop {
        let (message, _) = caller.recv().await;
        match message.cseq().map(|c| c.method_text.to_owned()).as_deref() {
            Ok("CANCEL") => cancel_answered |= message.status() == Some(StatusCode::OK),
            Ok("INVITE") if message.status().is_some_and(|s| s.as_u16() >= 200) => break message,
            _ => {}
        }
    };
    assert!(cancel_answered, "the caller's CANCEL was answered 200");
    assert_eq!(final_answer.status(), Some(StatusCode::REQUEST_TERMINATED), "{final_answer:?}");
    caller.send(&common::ack_for(&invite, &final_answer)).await;
    assert_eq!(campus.wait_for_call_records(&call_id).await, ["CANCEL"]);
    service.stop().await;
}
