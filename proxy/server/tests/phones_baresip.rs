//! baresip phones through the running service, on loopback: digest registration (RFC 3261 §10, §22), calls by
//! extension and by name alias with audio verified both ways by tone detection, hangup, call records.

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod common;
#[path = "common/phones.rs"]
mod phones;

use std::time::Duration;

use carillon_testkit::baresip::{AnswerMode, Baresip, EventKind, RegistrationState};
use common::DOMAIN;
use phones::{CALLEE_HZ, CALLER_HZ, STEP, Site, TALK, assert_heard, expect_event, talk};

/// One answered call from `caller` to `dialled`, with audio checked in both directions (the `call`-th recording of
/// each phone, from 0), ended by the caller.
fn answered_call(caller: &mut Baresip, callee: &mut Baresip, dialled: &str, call: usize) {
    caller.dial(dialled).expect("dial");
    let outgoing = expect_event(caller, EventKind::CallEstablished, "the caller's call is answered");
    assert_eq!(outgoing.direction.as_deref(), Some("outgoing"));
    assert_eq!(outgoing.peer_uri.as_deref(), Some(dialled));
    let incoming = expect_event(callee, EventKind::CallEstablished, "the callee answers by itself");
    assert_eq!(incoming.direction.as_deref(), Some("incoming"));
    expect_event(caller, EventKind::CallRtpEstablished, "the caller receives RTP");
    expect_event(callee, EventKind::CallRtpEstablished, "the callee receives RTP");
    talk(caller, TALK);

    caller.hangup().expect("hang up");
    let closed = expect_event(caller, EventKind::CallClosed, "the caller's call closes");
    assert_eq!(closed.call_id, outgoing.call_id);
    expect_event(callee, EventKind::CallClosed, "the BYE reaches the callee through the proxy");

    // Each side heard the other's tone, not its own.
    assert_heard(callee, call, CALLER_HZ, CALLEE_HZ);
    assert_heard(caller, call, CALLEE_HZ, CALLER_HZ);
}

#[test]
fn two_baresip_phones_register_with_digest_and_call_by_extension_and_by_name_rfc3261_10_16() {
    let site = Site::start();
    let mut callee = site.registered_baresip("4001", CALLEE_HZ, AnswerMode::Auto);
    let mut caller = site.registered_baresip("4000", CALLER_HZ, AnswerMode::Auto);
    for phone in [&mut caller, &mut callee] {
        assert_eq!(phone.registration_state().expect("reginfo"), RegistrationState::Registered);
    }
    // Bound in the database, the contact where each phone listens.
    for (phone, extension) in [(&caller, "4000"), (&callee, "4001")] {
        let contacts = site.stored_contacts(extension);
        assert_eq!(contacts.len(), 1, "one binding for {extension}: {contacts:?}");
        let at_phone = format!("@{}", phone.sip_addr());
        assert!(
            contacts[0].starts_with(&format!("sip:{extension}")) && contacts[0].ends_with(&at_phone),
            "{contacts:?}"
        );
    }

    answered_call(&mut caller, &mut callee, &format!("sip:4001@{DOMAIN}"), 0);
    let alias = site.alias("4001");
    answered_call(&mut caller, &mut callee, &format!("sip:{alias}@{DOMAIN}"), 1);

    let records = site.wait_for_call_records(2);
    assert_eq!(records.len(), 2, "one record per call, none for the challenges: {records:#?}");
    for (record, dialled) in records.iter().zip(["4001", alias.as_str()]) {
        assert_eq!(record.disposition, "ANSWERED", "{record:?}");
        assert!(record.answered, "{record:?}");
        assert_eq!((record.src.as_str(), record.dst.as_str()), ("4000", dialled), "{record:?}");
        assert_eq!(record.channel, "4000", "the authenticated line: {record:?}");
        // The call talked for TALK (3 s) after the answer; a loaded machine adds a little.
        assert!((2..=15).contains(&record.billsec), "billsec {}: {record:?}", record.billsec);
        assert!(record.duration >= record.billsec, "{record:?}");
    }

    caller.quit().expect("the caller quits and unregisters");
    callee.quit().expect("the callee quits and unregisters");
    for extension in ["4000", "4001"] {
        let until = std::time::Instant::now() + STEP;
        while !site.stored_contacts(extension).is_empty() {
            assert!(std::time::Instant::now() < until, "{extension}'s binding removed by its unregistration");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    site.stop();
}
