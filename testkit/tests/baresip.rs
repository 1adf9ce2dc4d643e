//! baresip phones through the harness, calling each other directly on loopback and registering with a SIPp
//! registrar: no Carillon server involved.
#![allow(clippy::expect_used, clippy::panic)] // Tests fail loudly, with the reason in the message.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use carillon_testkit::audio;
use carillon_testkit::baresip::{Account, AnswerMode, AudioSource, Baresip, EventKind, RegistrationState};
use carillon_testkit::sipp::Sipp;

/// Generous for a loaded two-core machine; a healthy run takes a fraction of it.
const TIMEOUT: Duration = Duration::from_secs(20);

/// How long a call carries audio before it is checked: enough for a few seconds of recording after the jitter
/// buffer settles.
const TALK: Duration = Duration::from_secs(3);

fn phone(user: &str, tone_hz: f64) -> Baresip {
    Baresip::builder(Account::direct(user)).source(AudioSource::Tone(tone_hz)).start().expect("start baresip")
}

/// Lets audio flow for `duration` while watching for the call ending early.
fn talk(phone: &mut Baresip, duration: Duration) {
    if let Ok(closed) = phone.wait_event(EventKind::CallClosed, duration) {
        panic!("the call ended while talking: {closed:?}\n{}", phone.log_tail(30));
    }
}

#[test]
fn two_phones_call_each_other_directly_and_each_hears_the_other_s_tone() {
    let mut bob = phone("bob", 440.0);
    let mut alice = phone("alice", 1000.0);
    assert_ne!(alice.sip_addr().port().abs_diff(bob.sip_addr().port()), 1, "TLS binds the next port");

    alice.dial(&bob.direct_uri()).expect("dial");
    let established = alice.wait_event(EventKind::CallEstablished, TIMEOUT).expect("alice's call answered");
    assert_eq!(established.direction.as_deref(), Some("outgoing"));
    assert_eq!(established.peer_uri.as_deref(), Some(bob.direct_uri().as_str()));
    let answered = bob.wait_event(EventKind::CallEstablished, TIMEOUT).expect("bob answered by himself");
    assert_eq!(answered.direction.as_deref(), Some("incoming"));
    assert_eq!(answered.peer_uri.as_deref(), Some(alice.direct_uri().as_str()));
    alice.wait_event(EventKind::CallRtpEstablished, TIMEOUT).expect("alice receives RTP");
    bob.wait_event(EventKind::CallRtpEstablished, TIMEOUT).expect("bob receives RTP");

    // RFC 4733 telephone events, reported digit by digit by the receiving phone.
    alice.send_dtmf("12#").expect("send DTMF");
    let mut digits = String::new();
    for _ in 0..3 {
        let start = bob.wait_event(EventKind::CallDtmfStart, TIMEOUT).expect("bob receives a digit");
        digits.push_str(start.param.as_deref().unwrap_or("?"));
    }
    assert_eq!(digits, "12#");
    assert!(alice.send_dtmf("x").is_err(), "not a DTMF digit");

    talk(&mut alice, TALK);
    alice.hangup().expect("hang up");
    let closed = alice.wait_event(EventKind::CallClosed, TIMEOUT).expect("alice's call closed");
    assert_eq!(closed.call_id, established.call_id);
    bob.wait_event(EventKind::CallClosed, TIMEOUT).expect("bob's call closed by the BYE");

    // Recordings are complete once the call has ended.
    let heard_by_bob = bob.received_recordings().expect("bob's recordings");
    let heard_by_alice = alice.received_recordings().expect("alice's recordings");
    assert_eq!(heard_by_bob.len(), 1, "{heard_by_bob:?}");
    assert_eq!(heard_by_alice.len(), 1, "{heard_by_alice:?}");
    let bob_report = audio::assert_tone(&heard_by_bob[0], 1000.0, 0.8);
    let alice_report = audio::assert_tone(&heard_by_alice[0], 440.0, 0.8);
    assert!(bob_report.duration >= Duration::from_secs(2), "{bob_report}");
    assert!(alice_report.duration >= Duration::from_secs(2), "{alice_report}");
    // And not the other way round: no loop-back.
    assert!(audio::check_tone(&heard_by_bob[0], 440.0).expect("analyse").tone_fraction < 0.05);
    audio::assert_tone(&alice.sent_recordings().expect("alice's sent audio")[0], 1000.0, 0.8);

    alice.quit().expect("alice quits");
    bob.quit().expect("bob quits");
}

#[test]
fn a_manual_phone_rings_until_answered_and_the_caller_hears_ringing() {
    let mut carol = Baresip::builder(Account::direct("carol").answer_mode(AnswerMode::Manual))
        .source(AudioSource::Tone(440.0))
        .start()
        .expect("start carol");
    let mut dave = phone("dave", 1000.0);

    dave.dial(&carol.direct_uri()).expect("dial");
    let incoming = carol.wait_event(EventKind::CallIncoming, TIMEOUT).expect("carol rings");
    assert_eq!(incoming.peer_uri.as_deref(), Some(dave.direct_uri().as_str()));
    dave.wait_event(EventKind::CallRinging, TIMEOUT).expect("dave hears 180");
    // Still ringing a moment later: nobody answered.
    assert!(dave.wait_event(EventKind::CallEstablished, Duration::from_millis(500)).is_err());
    carol.answer().expect("answer");
    dave.wait_event(EventKind::CallEstablished, TIMEOUT).expect("dave's call answered");
    carol.wait_event(EventKind::CallEstablished, TIMEOUT).expect("carol in the call");

    carol.hangup().expect("carol hangs up");
    dave.wait_event(EventKind::CallClosed, TIMEOUT).expect("dave's call closed by the BYE");
    carol.wait_event(EventKind::CallClosed, TIMEOUT).expect("carol's call closed");
}

#[test]
fn a_refused_command_is_an_error_and_the_phone_keeps_working() {
    let mut erin = phone("erin", 1000.0);
    let error = erin.command("nonexistent", None).expect_err("unknown command");
    assert!(error.to_string().contains("command not found"), "{error}");
    assert_eq!(erin.registration_state().expect("reginfo"), RegistrationState::NotRegistering);
    // Hanging up with no call does nothing.
    erin.hangup().expect("idle hangup");
}

#[test]
fn a_phone_registers_with_digest_at_a_registrar() {
    let registrar = Sipp::digest_registrar("1001", "pw1001").trace_messages().spawn().expect("start the registrar");
    let registrar_addr = registrar.local_addr().to_string();
    let mut phone = Baresip::builder(Account::registered("1001", &registrar_addr).password("pw1001"))
        .start()
        .expect("start the phone");
    phone.wait_registered(TIMEOUT).expect("registered");
    assert_eq!(phone.registration_state().expect("reginfo"), RegistrationState::Registered);
    assert_eq!(phone.aor(), format!("sip:1001@{registrar_addr}"));
    let outcome = { registrar }.wait(TIMEOUT).expect("registrar done");
    assert!(outcome.all_calls_succeeded(), "{outcome:#?}");
    let messages = outcome.messages.expect("traced messages");
    assert!(messages.contains("Authorization: Digest username=\"1001\""), "{messages}");
}

#[test]
fn a_wrong_password_leaves_the_phone_unregistered() {
    let registrar = Sipp::digest_registrar("1001", "pw1001").spawn().expect("start the registrar");
    let registrar_addr = registrar.local_addr().to_string();
    let mut phone = Baresip::builder(Account::registered("1001", &registrar_addr).password("WRONG"))
        .start()
        .expect("start the phone");
    let error = phone.wait_registered(TIMEOUT).expect_err("403 refuses the registration");
    assert!(error.to_string().contains("ERR"), "{error}");
    assert_eq!(phone.registration_state().expect("reginfo"), RegistrationState::Failed);
}

#[test]
fn waiting_for_an_event_that_does_not_come_is_bounded_and_explains_itself() {
    let mut frank = phone("frank", 1000.0);
    let started = Instant::now();
    let error = frank.wait_event(EventKind::CallIncoming, Duration::from_millis(300)).expect_err("no call");
    assert!(started.elapsed() < Duration::from_secs(5));
    let text = error.to_string();
    assert!(text.contains("CALL_INCOMING"), "{text}");
    assert!(text.contains("baresip log"), "{text}");
}

#[test]
fn dropping_a_phone_stops_it_and_frees_its_sip_port() {
    let phone = phone("gina", 1000.0);
    let addr = phone.sip_addr();
    let dir = phone.dir().to_owned();
    assert!(UdpSocket::bind(addr).is_err(), "the phone holds {addr}");
    drop(phone);
    assert!(UdpSocket::bind(addr).is_ok(), "{addr} still taken after drop");
    assert!(!dir.exists() || std::env::var_os(carillon_testkit::KEEP_ENV).is_some());
}

/// RFC 3515 / RFC 5589 blind transfer: the transferee receives a REFER and calls the target itself.
#[test]
fn a_blind_transfer_makes_the_transferee_call_the_target() {
    let mut alice = phone("alice", 1000.0);
    let mut bob = phone("bob", 440.0);
    let mut carol = phone("carol", 440.0);

    alice.dial(&bob.direct_uri()).expect("dial");
    alice.wait_event(EventKind::CallEstablished, TIMEOUT).expect("alice's call answered");
    bob.wait_event(EventKind::CallEstablished, TIMEOUT).expect("bob in the call");

    bob.transfer(&carol.direct_uri()).expect("transfer");
    let transfer = alice.wait_event(EventKind::Transfer, TIMEOUT).expect("alice receives the REFER");
    assert!(transfer.param.as_deref().is_some_and(|p| p.contains(&carol.direct_uri())), "{transfer:?}");
    let with_carol = carol.wait_event(EventKind::CallEstablished, TIMEOUT).expect("carol answers alice");
    assert_eq!(with_carol.peer_uri.as_deref(), Some(alice.direct_uri().as_str()));
    let to_carol = alice
        .wait_event_where(
            "CALL_ESTABLISHED with carol",
            |e| e.kind == EventKind::CallEstablished && e.peer_uri.as_deref() == Some(carol.direct_uri().as_str()),
            TIMEOUT,
        )
        .expect("alice's new call to carol");
    assert_eq!(to_carol.direction.as_deref(), Some("outgoing"));
    // The NOTIFY reporting the new call's 200 ends the transferor's call (RFC 5589 section 6.1).
    bob.wait_event(EventKind::CallClosed, TIMEOUT).expect("bob's part ends");
}
