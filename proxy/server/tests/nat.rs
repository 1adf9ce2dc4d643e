//! Phones behind NAT (RFC 5626 §5.3 flows, RFC 3581): a phone whose Contact names an address it cannot be
//! reached at (its private address, here a loopback port where nothing listens) while its socket is elsewhere.
//! The proxy record-routes its calls with a route token of the flow the phone is reached over, and the dialog's
//! later requests from the other side (re-INVITE for hold, ACK, BYE) reach it over that flow: a SIPp caller
//! behind NAT hung up on by a baresip phone, and a SIPp callee behind NAT hung up on by a baresip caller.

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod common;
#[path = "common/phones.rs"]
mod phones;

use std::time::Duration;

use carillon_sip::StatusCode;
use carillon_sip::auth::Algorithm;
use carillon_testkit::baresip::{AnswerMode, Baresip, EventKind};
use carillon_testkit::sipp::{Sipp, SippOutcome};
use common::{DOMAIN, Ua};
use phones::{CALLEE_HZ, CALLER_HZ, STEP, Site, expect_event};

/// How long a SIPp run may take before it is killed.
const SIPP_LIMIT: Duration = Duration::from_secs(60);

/// An address a phone behind NAT may write in its Contact: a loopback port where nothing listens, as unreachable
/// from the proxy as a private address behind a home router (but never leaving the machine).
fn unreachable_contact() -> String {
    format!("127.0.0.2:{}", common::free_udp_port())
}

fn assert_succeeded(outcome: &SippOutcome, what: &str) {
    assert!(
        outcome.all_calls_succeeded(),
        "{what}: {outcome:#?}\n{}",
        outcome.messages.as_deref().unwrap_or("(no message trace)")
    );
}

/// Puts `phone`'s call on hold and waits until the far end's answer to the re-INVITE arrived: a remote SDP
/// answer after the ones already seen.
fn hold(phone: &mut Baresip) {
    phone.poll_events();
    let answers_before = remote_answers(phone);
    phone.hold().expect("hold");
    let deadline = std::time::Instant::now() + STEP;
    while remote_answers(phone) == answers_before {
        assert!(std::time::Instant::now() < deadline, "no answer to the hold's re-INVITE:\n{}", phone.log_tail(40));
        std::thread::sleep(Duration::from_millis(100));
        phone.poll_events();
    }
}

fn remote_answers(phone: &Baresip) -> usize {
    phone.events().iter().filter(|e| e.kind == EventKind::CallRemoteSdp && e.param.as_deref() == Some("answer")).count()
}

#[test]
fn the_callee_s_hold_and_bye_reach_a_caller_behind_nat_over_its_flow_rfc5626_5_3() {
    let site = Site::start();
    let mut callee = site.registered_baresip("4001", CALLEE_HZ, AnswerMode::Auto);
    let nat_contact = unreachable_contact();
    let caller = Sipp::scenario_file(common::data("uac-behind-nat.xml"), Some(site.proxy()))
        .service("4001")
        .auth("4000", &site.password("4000"))
        .arg("-auth_uri")
        .arg(format!("4001@{}", site.proxy()))
        .key("caller", "4000")
        .key("domain", DOMAIN)
        .key("nat_contact", &nat_contact)
        .timeout(SIPP_LIMIT)
        .trace_messages()
        .spawn()
        .expect("start the SIPp caller");

    expect_event(&mut callee, EventKind::CallEstablished, "the phone answers the caller behind NAT");
    // The callee's requests go to the caller's Contact, where nothing listens: only the flow leads to it.
    hold(&mut callee);
    callee.hangup().expect("the callee hangs up");
    expect_event(&mut callee, EventKind::CallClosed, "the callee's call ends");
    let outcome = { caller }.wait(SIPP_LIMIT).expect("the SIPp caller ends");
    assert_succeeded(&outcome, "the caller received the re-INVITE, the ACK and the BYE, and answered them");
    let messages = outcome.messages.as_deref().unwrap_or_default();
    assert!(messages.contains(&format!("Contact: <sip:4000@{nat_contact}>")), "{messages}");
    assert!(
        messages.lines().any(|l| l.starts_with("Record-Route:") && l.contains("@127.0.0.1:")),
        "a route token in the Record-Route:\n{messages}"
    );

    let records = site.wait_for_call_records(1);
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!((records[0].src.as_str(), records[0].dst.as_str()), ("4000", "4001"), "{records:#?}");
    assert_eq!(records[0].disposition, "ANSWERED", "{records:#?}");
    callee.quit().expect("the callee quits");
    site.stop();
}

#[test]
fn the_caller_s_hold_ack_and_bye_reach_a_callee_behind_nat_over_its_flow_rfc5626_5_3() {
    let site = Site::start();
    let nat_contact = unreachable_contact();
    // The callee registers from the socket SIPp then answers on, with its private address as Contact.
    let port = site.block_on(async {
        let mut ua = Ua::new(site.proxy(), "4001", &site.password("4001")).await;
        let ok = ua.register(&format!("sip:4001@{nat_contact}"), 600, Algorithm::Md5).await;
        assert_eq!(ok.status(), Some(StatusCode::OK), "{ok:?}");
        ua.addr.port()
    });
    let callee = Sipp::scenario_file(common::data("uas-behind-nat.xml"), None)
        .local_port(port)
        .key("nat_contact", &nat_contact)
        .timeout(SIPP_LIMIT)
        .trace_messages()
        .spawn()
        .expect("start the SIPp callee on the port it registered from");

    let mut caller = site.registered_baresip("4000", CALLER_HZ, AnswerMode::Auto);
    caller.dial(&format!("sip:4001@{DOMAIN}")).expect("dial");
    expect_event(&mut caller, EventKind::CallEstablished, "the callee behind NAT answers");
    hold(&mut caller);
    caller.hangup().expect("the caller hangs up");
    expect_event(&mut caller, EventKind::CallClosed, "the caller's call ends");
    let outcome = { callee }.wait(SIPP_LIMIT).expect("the SIPp callee ends");
    assert_succeeded(&outcome, "the callee received the INVITE, the ACK, the re-INVITE and the BYE");

    let records = site.wait_for_call_records(1);
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!((records[0].dst.as_str(), records[0].disposition.as_str()), ("4001", "ANSWERED"), "{records:#?}");
    caller.quit().expect("the caller quits");
    site.stop();
}
