//! linphonec through the running service, on loopback: it registers with digest and `+sip.instance` (RFC 5626
//! §4.1) and is handed no GRUU (RFC 5627: the registrar does not offer them, so linphone keeps its own Contact), then
//! calls a baresip phone; audio flows both ways and the far end's BYE reaches linphone (RFC 3261 §16.12).

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod common;
#[path = "common/phones.rs"]
mod phones;

use carillon_testkit::baresip::{AnswerMode, EventKind};
use carillon_testkit::linphone::RegistrationState;
use common::DOMAIN;
use phones::{CALLEE_HZ, CALLER_HZ, MIN_TONE_FRACTION, STEP, Site, TALK, assert_heard, expect_event, talk};

#[test]
fn linphone_registers_without_a_gruu_and_calls_a_baresip_phone_which_hangs_up_rfc5627() {
    let site = Site::start();
    let mut callee = site.registered_baresip("4001", CALLEE_HZ, AnswerMode::Auto);
    let mut linphone = site.linphone("4002", CALLER_HZ);
    // The identity in the campus domain, the proxy as the server to register at and send through, as a phone is
    // provisioned. (With the proxy's address as identity linphone would drop its port in From and To, naming
    // 127.0.0.1:5060, which is not this proxy.)
    let (registrar, password) = (site.registrar(), site.password("4002"));
    linphone.command(&format!("register sip:4002@{DOMAIN} sip:{registrar} {password}")).expect("register");
    linphone.wait_registered(STEP).expect("linphone registered with digest");
    assert_eq!(linphone.registration_state().expect("status register"), RegistrationState::Registered);
    let contact = site.wait_for_binding("4002", linphone.sip_addr().port());
    assert!(!contact.contains("gr="), "the binding is linphone's own contact: {contact}");
    let log = std::fs::read_to_string(linphone.dir().join("liblinphone.log")).unwrap_or_default();
    assert!(log.contains("+sip.instance"), "liblinphone registered an instance id");
    assert!(!log.contains("pub-gruu"), "no GRUU was handed out");

    // linphone sends a call for another domain to that domain: dialled at the proxy's address, the call goes
    // through the proxy without asking DNS for campus.test.
    linphone.call(&format!("sip:4001@{registrar}")).expect("call");
    let answered = expect_event(&mut callee, EventKind::CallEstablished, "baresip answers linphone's call");
    assert_eq!(answered.direction.as_deref(), Some("incoming"));
    linphone.wait_call_connected(STEP).expect("linphone's call connected");
    linphone.wait_media_established(STEP).expect("linphone's media");
    expect_event(&mut callee, EventKind::CallRtpEstablished, "baresip receives linphone's RTP");
    talk(&mut callee, TALK);

    // The BYE from baresip is routed to linphone's Contact through the proxy; with a GRUU as Contact it would
    // loop back to the proxy and the call would stay up at linphone.
    callee.hangup().expect("baresip hangs up");
    expect_event(&mut callee, EventKind::CallClosed, "baresip's call closes");
    let ended = linphone.wait_call_ended(STEP).expect("the BYE reaches linphone");
    assert!(ended.contains("ended"), "{ended}");

    assert_heard(&callee, 0, CALLER_HZ, CALLEE_HZ);
    let heard_by_linphone =
        carillon_testkit::audio::assert_tone(linphone.recording_path(), CALLEE_HZ, MIN_TONE_FRACTION);
    assert!(heard_by_linphone.duration >= std::time::Duration::from_secs(2), "{heard_by_linphone}");

    let records = site.wait_for_call_records(1);
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!((records[0].src.as_str(), records[0].dst.as_str()), ("4002", "4001"), "{records:#?}");
    assert_eq!(records[0].disposition, "ANSWERED", "{records:#?}");
    assert!(records[0].billsec >= 2, "{records:#?}");
    linphone.quit().expect("linphone quits");
    site.stop();
}

/// With the default challenges (SHA-256, then MD5), linphone answers the strongest (RFC 8760 §2.4).
#[test]
fn linphone_registers_with_sha256_digest_when_the_service_offers_it_rfc8760() {
    let site = Site::start_with(|_| {});
    let mut linphone = site.linphone("4002", CALLER_HZ);
    let (registrar, password) = (site.registrar(), site.password("4002"));
    linphone.command(&format!("register sip:4002@{DOMAIN} sip:{registrar} {password}")).expect("register");
    linphone.wait_registered(STEP).expect("linphone registered with digest");
    site.wait_for_binding("4002", linphone.sip_addr().port());
    let log = std::fs::read_to_string(linphone.dir().join("liblinphone.log")).unwrap_or_default();
    let answer = log.lines().find(|l| l.starts_with("Authorization:")).unwrap_or_else(|| panic!("no Authorization"));
    assert!(answer.contains("algorithm=SHA-256"), "{answer}");
    linphone.quit().expect("linphone quits");
    site.stop();
}
