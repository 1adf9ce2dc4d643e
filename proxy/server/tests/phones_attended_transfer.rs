//! Attended transfer (RFC 5589 §7) through the running service, with linphonec phones on loopback: A calls B, B
//! holds A and calls C, then B transfers A to C with a REFER whose Refer-To carries Replaces (RFC 3515, RFC 3891).
//! A's INVITE with Replaces reaches C through the proxy, C swaps its call with B for the call with A, and B's
//! calls end. baresip 1.0 neither sends an INVITE with Replaces for a REFER nor honours one it receives, so all
//! three phones are linphonec.

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod common;
#[path = "common/phones.rs"]
mod phones;

use std::time::Duration;

use carillon_testkit::audio::{self, AudioSource};
use carillon_testkit::linphone::Linphone;
use common::DOMAIN;
use phones::{CALLEE_HZ, CALLER_HZ, MIN_TONE_FRACTION, STEP, Site, TALK};

/// How long a phone process lives at most: longer than the test, so an orphan still ends.
const PHONE_LIFETIME: Duration = Duration::from_secs(150);

/// A linphonec phone of `extension` answering by itself and sending `source`, registered at the service with its
/// digest password and sending every request through it.
fn registered_linphone(site: &Site, extension: &str, source: AudioSource) -> Linphone {
    let mut phone = Linphone::builder(extension)
        .source(source)
        .lifetime(PHONE_LIFETIME)
        .outbound_proxy(site.proxy())
        .auto_answer()
        .start()
        .unwrap_or_else(|e| panic!("start linphonec {extension}: {e}"));
    let (registrar, password) = (site.registrar(), site.password(extension));
    phone.command(&format!("register sip:{extension}@{DOMAIN} sip:{registrar} {password}")).expect("register");
    phone.wait_registered(STEP).unwrap_or_else(|e| panic!("{extension} registered: {e}"));
    site.wait_for_binding(extension, phone.sip_addr().port());
    phone
}

/// Waits for `Call <id> with <...> connected.` and returns the call's id as linphonec numbers it.
fn wait_connected(phone: &mut Linphone, what: &str) -> u32 {
    call_id(&phone.wait_call_connected(STEP).unwrap_or_else(|e| panic!("{what}: {e}")))
}

#[test]
fn attended_transfer_replaces_the_transferees_call_through_the_proxy_rfc5589() {
    let site = Site::start();
    // A is 4000, C is 4001, B is 4002; B sends silence so that A's and C's recordings hold only
    // each other's tone once they are connected.
    let mut transferee = registered_linphone(&site, "4000", AudioSource::Tone(CALLER_HZ));
    let mut target = registered_linphone(&site, "4001", AudioSource::Tone(CALLEE_HZ));
    let mut transferor = registered_linphone(&site, "4002", AudioSource::Silence);

    // A calls B.
    transferee.call(&format!("sip:4002@{DOMAIN}")).expect("A calls B");
    let a_to_b = wait_connected(&mut transferee, "A's call to B connected");
    let b_from_a = wait_connected(&mut transferor, "B answers A");

    // B holds A (a re-INVITE with a=sendonly, RFC 3264 §8.4), then calls C.
    transferor.command("pause").expect("B holds A");
    transferor
        .wait_line("B's call with A paused", |l| l.ends_with(" is now paused."), STEP)
        .unwrap_or_else(|e| panic!("{e}"));
    transferor.call(&format!("sip:4001@{DOMAIN}")).expect("B calls C");
    let b_to_c = wait_connected(&mut transferor, "B's call to C connected");
    assert_ne!(b_to_c, b_from_a);
    let c_from_b = wait_connected(&mut target, "C answers B");

    // B transfers A to C: a REFER to A whose Refer-To is C's address with the B-C dialog as Replaces.
    transferor.command(&format!("transfer {b_from_a} --to-call {b_to_c}")).expect("B transfers A to C");

    // A calls C with Replaces; C accepts it and ends its call with B (RFC 3891 §3).
    let a_to_c_line = transferee.wait_call_connected(STEP).unwrap_or_else(|e| panic!("A's call to C connected: {e}"));
    assert!(
        a_to_c_line.contains("sip:4001@campus.test?Replaces="),
        "A called C's address from the Refer-To: {a_to_c_line}"
    );
    let a_to_c = call_id(&a_to_c_line);
    assert_ne!(a_to_c, a_to_b);
    let c_from_a_line = target.wait_call_connected(STEP).unwrap_or_else(|e| panic!("C takes A's call: {e}"));
    assert!(c_from_a_line.contains("sip:4000@campus.test"), "{c_from_a_line}");
    let c_from_a = call_id(&c_from_a_line);
    assert_ne!(c_from_a, c_from_b);
    wait_ended(&mut target, c_from_b, "C's call with B replaced");

    // B's calls end: the one with C by C's BYE, the one with A once A reports the transfer done (NOTIFY 200,
    // RFC 3515 §2.4.5).
    wait_ended(&mut transferor, b_to_c, "B's call with C ended by C");
    transferor
        .wait_line("B told the transfer succeeded", |l| l.contains("has been transfered"), STEP)
        .unwrap_or_else(|e| panic!("{e}"));
    wait_ended(&mut transferor, b_from_a, "B's call with A ended");
    wait_ended(&mut transferee, a_to_b, "A's call with B ended");

    // A and C talk; neither call ends meanwhile.
    transferee.wait_media_established(STEP).expect("A's media with C");
    target.wait_media_established(STEP).expect("C's media with A");
    for (phone, id, name) in [(&mut transferee, a_to_c, "A"), (&mut target, c_from_a, "C")] {
        let early_end =
            phone.wait_line("an early end", |l| l.starts_with(&format!("Call {id} ")) && l.contains(" ended ("), TALK);
        assert!(early_end.is_err(), "{name}'s call ended while talking: {early_end:?}");
    }
    transferee.terminate().expect("A hangs up");
    wait_ended(&mut transferee, a_to_c, "A's call with C ended");
    wait_ended(&mut target, c_from_a, "A's BYE reaches C");

    // Each recording holds the last call only: the far end's tone, not its own (and nothing of B, who was silent).
    for (phone, heard_hz, own_hz) in [(&transferee, CALLEE_HZ, CALLER_HZ), (&target, CALLER_HZ, CALLEE_HZ)] {
        let heard = audio::assert_tone(phone.recording_path(), heard_hz, MIN_TONE_FRACTION);
        assert!(heard.duration >= Duration::from_secs(2), "{heard}");
        let own = audio::check_tone(phone.recording_path(), own_hz).expect("analyse the recording");
        assert!(own.tone_fraction < 0.05, "the phone's own tone came back: {own}");
    }

    // Three answered calls, each through the proxy: A-B, B-C, and A's replacing call to C.
    let records = site.wait_for_call_records(3);
    assert_eq!(records.len(), 3, "{records:#?}");
    for pair in [("4000", "4002"), ("4002", "4001"), ("4000", "4001")] {
        let record = records
            .iter()
            .find(|r| (r.src.as_str(), r.dst.as_str()) == pair)
            .unwrap_or_else(|| panic!("a record of {pair:?}: {records:#?}"));
        assert_eq!(record.disposition, "ANSWERED", "{record:?}");
    }
    // The INVITE that reached C named the B-C dialog in its Replaces header.
    let replaced = records.iter().find(|r| (r.src.as_str(), r.dst.as_str()) == ("4002", "4001")).expect("B-C");
    let c_log = std::fs::read_to_string(target.dir().join("liblinphone.log")).unwrap_or_default();
    assert!(
        c_log.lines().any(|l| l.starts_with("Replaces:") && l.contains(&replaced.call_id)),
        "C received Replaces: {}",
        replaced.call_id
    );

    for phone in [transferee, transferor, target] {
        phone.quit().expect("linphonec quits");
    }
    site.stop();
}

/// linphonec's number of the call in a `Call <id> ...` line.
fn call_id(line: &str) -> u32 {
    line.strip_prefix("Call ")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("no call id in {line:?}"))
}

/// Waits for `Call <id> with ... ended (...)` on `phone`.
fn wait_ended(phone: &mut Linphone, id: u32, what: &str) {
    phone
        .wait_line(what, |l| l.starts_with(&format!("Call {id} ")) && l.contains(" ended ("), STEP)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
}
