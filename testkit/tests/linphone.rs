//! linphonec through the harness, calling a baresip phone directly and registering with a SIPp registrar: no
//! Carillon server involved.
#![allow(clippy::expect_used, clippy::panic)] // Tests fail loudly, with the reason in the message.

use std::net::UdpSocket;
use std::time::Duration;

use carillon_testkit::audio;
use carillon_testkit::baresip::{Account, AnswerMode, Baresip, EventKind};
use carillon_testkit::linphone::{AudioSource, Linphone, RegistrationState};
use carillon_testkit::sipp::Sipp;

/// Generous for a loaded two-core machine; a healthy run takes a fraction of it.
const TIMEOUT: Duration = Duration::from_secs(20);

/// How long a call carries audio before it is checked.
const TALK: Duration = Duration::from_secs(3);

#[test]
fn linphone_calls_baresip_and_each_hears_the_other_s_tone() {
    let mut bob =
        Baresip::builder(Account::direct("bob")).source(AudioSource::Tone(440.0)).start().expect("start baresip");
    let mut carol = Linphone::builder("carol").source(AudioSource::Tone(1000.0)).start().expect("start linphonec");

    carol.call(&bob.direct_uri()).expect("call");
    let answered = bob.wait_event(EventKind::CallEstablished, TIMEOUT).expect("bob answers by himself");
    // liblinphone's From carries the identity without the port.
    assert_eq!(answered.peer_uri.as_deref(), Some("sip:carol@127.0.0.1"));
    carol.wait_call_connected(TIMEOUT).expect("carol's call connected");
    carol.wait_media_established(TIMEOUT).expect("carol's media");
    bob.wait_event(EventKind::CallRtpEstablished, TIMEOUT).expect("bob receives RTP from 127.0.0.1");

    if let Ok(closed) = bob.wait_event(EventKind::CallClosed, TALK) {
        panic!("the call ended while talking: {closed:?}\n{}", carol.log_tail(30));
    }
    carol.terminate().expect("terminate");
    carol.wait_call_ended(TIMEOUT).expect("carol's call ended");
    bob.wait_event(EventKind::CallClosed, TIMEOUT).expect("bob's call closed by the BYE");

    let heard_by_bob = bob.received_recordings().expect("bob's recordings");
    audio::assert_tone(&heard_by_bob[0], 1000.0, 0.8);
    // liblinphone's recorder leaves an oversized data size in the header: read anyway.
    audio::assert_tone(carol.recording_path(), 440.0, 0.8);
}

#[test]
fn baresip_calls_linphone_which_rings_until_answered() {
    let mut dave = Linphone::builder("dave").source(AudioSource::Tone(440.0)).start().expect("start linphonec");
    let mut erin = Baresip::builder(Account::direct("erin").answer_mode(AnswerMode::Manual))
        .source(AudioSource::Tone(1000.0))
        .start()
        .expect("start baresip");

    erin.dial(&dave.direct_uri()).expect("dial");
    let incoming = dave.wait_call_incoming(TIMEOUT).expect("dave rings");
    assert!(incoming.contains(&erin.direct_uri()), "{incoming}");
    erin.wait_event(EventKind::CallRinging, TIMEOUT).expect("erin hears ringing");
    dave.answer().expect("answer");
    dave.wait_call_connected(TIMEOUT).expect("dave's call connected");
    erin.wait_event(EventKind::CallEstablished, TIMEOUT).expect("erin's call answered");

    erin.hangup().expect("hang up");
    let ended = dave.wait_call_ended(TIMEOUT).expect("dave's call ended by the BYE");
    assert!(ended.contains("ended"), "{ended}");
    dave.quit().expect("quit");
}

/// RFC 3261 section 22.2 digest, as liblinphone answers it.
#[test]
fn linphone_registers_with_digest_at_a_registrar() {
    let registrar = Sipp::digest_registrar("1004", "pw1004").trace_messages().spawn().expect("start the registrar");
    let registrar_addr = registrar.local_addr().to_string();
    let mut phone = Linphone::builder("1004").start().expect("start linphonec");
    assert_ne!(phone.registration_state().expect("status"), RegistrationState::Registered);
    phone.register(&registrar_addr, Some("pw1004")).expect("register");
    phone.wait_registered(TIMEOUT).expect("registered");
    let outcome = { registrar }.wait(TIMEOUT).expect("registrar done");
    assert!(outcome.all_calls_succeeded(), "{outcome:#?}");
    let messages = outcome.messages.expect("traced messages");
    assert!(messages.contains("username=\"1004\""), "{messages}");
    assert!(messages.contains("+sip.instance"), "liblinphone registers an instance id:\n{messages}");
}

#[test]
fn dropping_a_linphone_stops_it_and_frees_its_port() {
    let phone = Linphone::builder("frank").start().expect("start linphonec");
    let addr = phone.sip_addr();
    assert!(UdpSocket::bind(addr).is_err(), "linphonec holds {addr}");
    drop(phone);
    assert!(UdpSocket::bind(addr).is_ok(), "{addr} still taken after drop");
}
