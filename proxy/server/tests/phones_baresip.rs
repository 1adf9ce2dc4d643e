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
        assert_eq!(record.dstchannel, "4001", "the line that answered: {record:?}");
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

/// RFC 3515 / RFC 5589 blind transfer through the proxy: B's REFER reaches A in the dialog the proxy
/// record-routed, A's new INVITE to C is authenticated by the proxy and answered, and A and C talk.
#[test]
fn blind_transfer_between_baresip_phones_connects_the_transferee_to_the_target_rfc5589() {
    let site = Site::start();
    let mut transferee = site.registered_baresip("4000", CALLER_HZ, AnswerMode::Auto);
    let mut transferor = site.registered_baresip("4001", CALLEE_HZ, AnswerMode::Auto);
    let mut target = site.registered_baresip("4002", CALLEE_HZ, AnswerMode::Auto);

    let transferor_uri = format!("sip:4001@{DOMAIN}");
    transferee.dial(&transferor_uri).expect("dial");
    let first = expect_event(&mut transferee, EventKind::CallEstablished, "A's call to B is answered");
    expect_event(&mut transferor, EventKind::CallEstablished, "B answers A");
    // baresip names recordings by the second a call starts: the call with C must start in another second.
    talk(&mut transferee, Duration::from_millis(1500));

    let target_uri = format!("sip:4002@{DOMAIN}");
    transferor.transfer(&target_uri).expect("B transfers A to C");
    let refer = expect_event(&mut transferee, EventKind::Transfer, "A receives B's REFER through the proxy");
    assert!(refer.param.as_deref().is_some_and(|p| p.contains(&target_uri)), "{refer:?}");
    let with_target = expect_event(&mut target, EventKind::CallEstablished, "C answers A's new call");
    assert_eq!(with_target.direction.as_deref(), Some("incoming"));
    let second = transferee
        .wait_event_where(
            "CALL_ESTABLISHED with C",
            |e| e.kind == EventKind::CallEstablished && e.peer_uri.as_deref() == Some(target_uri.as_str()),
            STEP,
        )
        .expect("A's call to C is answered");
    assert_ne!(second.call_id, first.call_id, "a new call");
    // The NOTIFY of the new call's 200 ends the transferor's part (RFC 5589 §6.1).
    expect_event(&mut transferor, EventKind::CallClosed, "B's call ends after the transfer");
    let first_closed = transferee
        .wait_event_where(
            "CALL_CLOSED of the call with B",
            |e| e.kind == EventKind::CallClosed && e.call_id == first.call_id,
            STEP,
        )
        .expect("A's call with B ends");
    assert_eq!(first_closed.call_id, first.call_id);

    expect_event(&mut target, EventKind::CallRtpEstablished, "C receives A's RTP");
    talk(&mut target, TALK);
    transferee.hangup().expect("A hangs up");
    let closed = transferee
        .wait_event_where("CALL_CLOSED of the call with C", |e| e.kind == EventKind::CallClosed, STEP)
        .expect("A's call with C closes");
    assert_eq!(closed.call_id, second.call_id);
    expect_event(&mut target, EventKind::CallClosed, "the BYE reaches C through the proxy");

    // A and C heard each other: the last recording of A is the call with C.
    assert_heard(&target, 0, CALLER_HZ, CALLEE_HZ);
    let heard_by_transferee = transferee.received_recordings().expect("A's recordings");
    assert_eq!(heard_by_transferee.len(), 2, "one per call: {heard_by_transferee:?}");
    assert_heard(&transferee, 1, CALLEE_HZ, CALLER_HZ);

    let records = site.wait_for_call_records(2);
    assert_eq!(records.len(), 2, "{records:#?}");
    let dialled: Vec<(&str, &str, &str)> =
        records.iter().map(|r| (r.src.as_str(), r.dst.as_str(), r.disposition.as_str())).collect();
    assert_eq!(dialled, [("4000", "4001", "ANSWERED"), ("4000", "4002", "ANSWERED")], "{records:#?}");
    assert!(records[1].billsec >= 2, "A and C talked: {records:#?}");
    site.stop();
}

/// A callee that rejects (486), a caller that gives up while it rings (CANCEL, 487), and a callee with no phone
/// registered (480): each call closes at the caller with that status and leaves its record (RFC 3261 §16.7,
/// §16.10).
#[test]
fn rejected_cancelled_and_unreachable_calls_close_at_the_caller_and_are_recorded_rfc3261_16_7() {
    let site = Site::start();
    let mut callee = site.registered_baresip("4001", CALLEE_HZ, AnswerMode::Manual);
    let mut caller = site.registered_baresip("4000", CALLER_HZ, AnswerMode::Auto);
    let callee_uri = format!("sip:4001@{DOMAIN}");

    // Busy: the ringing callee rejects.
    caller.dial(&callee_uri).expect("dial");
    expect_event(&mut callee, EventKind::CallIncoming, "the callee rings");
    expect_event(&mut caller, EventKind::CallRinging, "the caller hears the 180");
    callee.hangup().expect("the callee rejects the call");
    let closed = expect_event(&mut caller, EventKind::CallClosed, "the rejection reaches the caller");
    assert!(closed.param.as_deref().is_some_and(|p| p.contains("486")), "{closed:?}");
    expect_event(&mut callee, EventKind::CallClosed, "the callee's call is over");

    // Cancelled: the caller hangs up while the callee rings.
    caller.dial(&callee_uri).expect("dial");
    expect_event(&mut callee, EventKind::CallIncoming, "the callee rings again");
    expect_event(&mut caller, EventKind::CallRinging, "the caller hears the 180");
    caller.hangup().expect("the caller gives up");
    expect_event(&mut caller, EventKind::CallClosed, "the caller's call is over");
    expect_event(&mut callee, EventKind::CallClosed, "the CANCEL reaches the callee through the proxy");

    // Unreachable: 4002 exists but has no phone registered.
    caller.dial(&format!("sip:4002@{DOMAIN}")).expect("dial");
    let closed = expect_event(&mut caller, EventKind::CallClosed, "the 480 reaches the caller");
    assert!(closed.param.as_deref().is_some_and(|p| p.contains("480")), "{closed:?}");

    let records = site.wait_for_call_records(3);
    let summary: Vec<(&str, &str, &str, i32)> =
        records.iter().map(|r| (r.src.as_str(), r.dst.as_str(), r.disposition.as_str(), r.billsec)).collect();
    assert_eq!(
        summary,
        [("4000", "4001", "BUSY", 0), ("4000", "4001", "CANCEL", 0), ("4000", "4002", "NO ANSWER", 0)],
        "{records:#?}"
    );
    assert!(records.iter().all(|r| !r.answered), "{records:#?}");
    site.stop();
}

/// Two phones on one line: the call rings both (parallel forking, RFC 3261 §16.6), the one picked up talks with
/// the caller, and the proxy cancels the other branch on the 2xx (§16.7 step 10).
#[test]
fn a_call_rings_every_phone_of_the_line_and_the_others_are_cancelled_on_answer_rfc3261_16_7() {
    let site = Site::start();
    let mut desk = site.baresip("4001", CALLEE_HZ, AnswerMode::Manual);
    desk.wait_registered(STEP).expect("the desk phone registered");
    let mut softphone = site.baresip("4001", CALLEE_HZ, AnswerMode::Manual);
    softphone.wait_registered(STEP).expect("the softphone registered");
    let contacts = site.block_on(site.campus.wait_for_contacts("4001", |c| c.len() == 2));
    for phone in [&desk, &softphone] {
        let at = format!("@{}", phone.sip_addr());
        assert!(contacts.iter().any(|c| c.ends_with(&at)), "{at} bound: {contacts:?}");
    }
    let mut caller = site.registered_baresip("4000", CALLER_HZ, AnswerMode::Auto);

    caller.dial(&format!("sip:4001@{DOMAIN}")).expect("dial");
    expect_event(&mut desk, EventKind::CallIncoming, "the desk phone rings");
    expect_event(&mut softphone, EventKind::CallIncoming, "the softphone rings");
    softphone.answer().expect("the softphone picks up");
    expect_event(&mut caller, EventKind::CallEstablished, "the caller is connected");
    expect_event(&mut softphone, EventKind::CallEstablished, "the softphone is connected");
    let cancelled = expect_event(&mut desk, EventKind::CallClosed, "the desk phone stops ringing");
    assert!(desk.wait_event(EventKind::CallEstablished, Duration::from_millis(500)).is_err(), "{cancelled:?}");

    expect_event(&mut softphone, EventKind::CallRtpEstablished, "the softphone receives RTP");
    talk(&mut caller, TALK);
    caller.hangup().expect("hang up");
    expect_event(&mut softphone, EventKind::CallClosed, "the BYE reaches the phone that answered");
    assert_heard(&softphone, 0, CALLER_HZ, CALLEE_HZ);
    assert_heard(&caller, 0, CALLEE_HZ, CALLER_HZ);

    let records = site.wait_for_call_records(1);
    assert_eq!(records.len(), 1, "one call, whatever the branches: {records:#?}");
    assert_eq!(records[0].disposition, "ANSWERED", "{records:#?}");
    site.stop();
}

/// Hold and resume are re-INVITEs inside the dialog (RFC 3261 §14): they follow the route set through the proxy,
/// need no new authentication, and the call goes on.
#[test]
fn hold_and_resume_re_invites_pass_through_the_proxy_rfc3261_14() {
    let site = Site::start();
    let mut callee = site.registered_baresip("4001", CALLEE_HZ, AnswerMode::Auto);
    let mut caller = site.registered_baresip("4000", CALLER_HZ, AnswerMode::Auto);
    caller.dial(&format!("sip:4001@{DOMAIN}")).expect("dial");
    expect_event(&mut caller, EventKind::CallEstablished, "answered");
    expect_event(&mut callee, EventKind::CallEstablished, "answered");
    // The offer and answer of the call's setup are not the re-INVITEs'.
    for phone in [&mut caller, &mut callee] {
        while phone.wait_event(EventKind::CallRemoteSdp, Duration::from_millis(300)).is_ok() {}
    }

    for (step, action) in [("hold", Baresip::hold as fn(&mut Baresip) -> _), ("resume", Baresip::resume)] {
        action(&mut caller).unwrap_or_else(|e| panic!("{step}: {e}"));
        // The far end takes the new offer (and answers it) only when the re-INVITE reached it.
        let offer =
            expect_event(&mut callee, EventKind::CallRemoteSdp, &format!("the {step} offer reaches the callee"));
        assert_eq!(offer.param.as_deref(), Some("offer"), "{offer:?}");
        let answer = expect_event(&mut caller, EventKind::CallRemoteSdp, &format!("the {step} answer comes back"));
        assert_eq!(answer.param.as_deref(), Some("answer"), "{answer:?}");
    }
    talk(&mut caller, Duration::from_secs(1));
    caller.hangup().expect("hang up");
    expect_event(&mut callee, EventKind::CallClosed, "the BYE reaches the callee");
    let records = site.wait_for_call_records(1);
    assert_eq!(records.len(), 1, "re-INVITEs are no new calls: {records:#?}");
    assert_eq!(records[0].disposition, "ANSWERED", "{records:#?}");
    site.stop();
}
