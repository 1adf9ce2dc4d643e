//! The proxy driven through whole exchanges on a virtual clock, one RFC 3261 §16 rule per test.

#![allow(clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use std::time::Duration;

use carillon_proxy_core::{Action, BranchId, CallDisposition, Flow, Handled, Reply, Target, TargetSet, Targets};
use carillon_sip::target::Transport;
use carillon_sip::transaction::{Event, Timer};
use carillon_sip::{HeaderName, Message, Method, StatusCode};
use common::{Harness, TCP, UDP, answer, invite, parse, request, responded};

const DESK: &str = "sip:bob@192.0.2.20:5060";
const MOBILE: &str = "sip:bob@192.0.2.21:5060";
const SOFTPHONE: &str = "sip:bob@192.0.2.22:5060";

fn vias(m: &Message) -> Vec<String> {
    m.header_values(HeaderName::Via).map(str::to_owned).collect()
}

fn values(m: &Message, name: HeaderName) -> Vec<String> {
    m.header_values(name).map(str::to_owned).collect()
}

/// Opens an INVITE context and forks it to `targets` in parallel.
fn forked(targets: &[&str]) -> (Harness, carillon_proxy_core::ContextId) {
    let mut h = Harness::new();
    let id = h.open(invite(""));
    h.targets(id, Targets::parallel(targets.iter().map(|t| Target::new(*t)).collect()));
    assert_eq!(h.forward_count(), targets.len());
    (h, id)
}

// ----- §16.3 request validation -----

#[test]
fn max_forwards_zero_is_answered_483_rfc3261_16_3_step_3() {
    let mut h = Harness::new();
    let r = responded(h.receive(invite("").to_string_with_max_forwards(0), UDP));
    assert_eq!(r.status(), Some(StatusCode::TOO_MANY_HOPS));
    assert!(r.to().expect("To").tag().is_some(), "a generated final response carries a To tag");
    assert!(h.actions.is_empty() && h.proxy.is_empty());
}

#[test]
fn options_with_max_forwards_zero_is_answered_200_rfc3261_16_3_step_3() {
    let mut h = Harness::new();
    let options = request("OPTIONS", "sip:bob@elsewhere.example", "").to_string_with_max_forwards(0);
    let r = responded(h.receive(options, UDP));
    assert_eq!(r.status(), Some(StatusCode::OK));
    assert!(r.header(HeaderName::Allow).is_some_and(|a| a.contains("INVITE")));
    assert_eq!(r.header(HeaderName::Accept), Some("application/sdp"));
    assert!(r.header(HeaderName::Supported).is_some());
}

#[test]
fn unsupported_uri_scheme_is_answered_416_rfc3261_16_3_step_2() {
    let mut h = Harness::new();
    let r = responded(h.receive(request("INVITE", "mailto:bob@campus.example", ""), UDP));
    assert_eq!(r.status(), Some(StatusCode::UNSUPPORTED_URI_SCHEME));
}

#[test]
fn unknown_proxy_require_is_answered_420_with_unsupported_rfc3261_16_3_step_5() {
    let mut h = Harness::new();
    let r = responded(h.receive(invite("Proxy-Require: teleportation\n"), UDP));
    assert_eq!(r.status(), Some(StatusCode::BAD_EXTENSION));
    assert_eq!(r.header(HeaderName::Unsupported), Some("teleportation"));
    let mut config = common::config();
    config.supported = vec!["teleportation".into()];
    let mut h = Harness::with(carillon_proxy_core::Proxy::new(config).expect("valid"));
    assert!(matches!(h.receive(invite("Proxy-Require: teleportation\n"), UDP), Handled::Context(_)));
}

#[test]
fn malformed_request_is_answered_400_and_a_malformed_ack_dropped_rfc3261_16_3_step_1() {
    let mut h = Harness::new();
    let bad = parse(
        "INVITE sip:bob@campus.example SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx
To: <sip:bob@campus.example>
From: <sip:alice@campus.example>;tag=1
Call-ID: c
CSeq: 1 BYE
Content-Length: 0

",
    );
    assert_eq!(responded(h.receive(bad, UDP)).status(), Some(StatusCode::BAD_REQUEST));
    let ack = request("ACK", "sip:bob@192.0.2.20", "Route: <sip:192.0.2.10;lr>\n").to_string_with_max_forwards(0);
    assert_eq!(h.receive(ack, UDP), Handled::Drop, "ACKs are never answered");
}

#[test]
fn request_from_an_unknown_listener_is_answered_500_but_an_ack_dropped() {
    let mut h = Harness::new();
    let r = responded(h.receive(invite(""), carillon_proxy_core::ListenerId(9)));
    assert_eq!(r.status(), Some(StatusCode::SERVER_INTERNAL_ERROR));
    let ack = with_to_tag(request("ACK", DESK, "Route: <sip:192.0.2.10;lr>\n"));
    assert_eq!(h.receive(ack, carillon_proxy_core::ListenerId(9)), Handled::Drop);
}

// ----- §16.3 step 4 loops -----

#[test]
fn request_coming_back_unchanged_is_a_loop_482_rfc3261_16_3_step_4() {
    let mut h = Harness::new();
    let id = h.open(invite(""));
    // The caller sends it on to another proxy without retargeting; that proxy routes it straight back.
    h.targets(
        id,
        Targets::parallel(vec![
            Target::new("sip:bob@campus.example").with_route(vec!["<sip:other.example;lr>".into()]),
        ]),
    );
    let mut back = h.forwarded(0);
    back.remove_first_value(HeaderName::Route);
    back.prepend_header(HeaderName::Via, "SIP/2.0/UDP other.example;branch=z9hG4bKother1");
    let r = responded(h.receive(back, UDP));
    assert_eq!(r.status(), Some(StatusCode::LOOP_DETECTED));
}

#[test]
fn retargeted_request_coming_back_is_a_spiral_not_a_loop_rfc3261_16_3_step_4() {
    let mut h = Harness::new();
    let id = h.open(request("INVITE", "sip:4711@campus.example", ""));
    // An extension resolved to a user's address of record, which this proxy serves again.
    h.targets(id, Targets::parallel(vec![Target::new("sip:bob@campus.example")]));
    let mut back = h.forwarded(0);
    back.prepend_header(HeaderName::Via, "SIP/2.0/UDP dns-peer.example;branch=z9hG4bKdns1");
    assert!(matches!(h.receive(back, UDP), Handled::Context(_)), "spirals are processed again");
    assert_eq!(h.need_targets().len(), 2);
}

// ----- §16.4 route information preprocessing -----

#[test]
fn strict_router_request_uri_is_restored_rfc3261_16_4() {
    let mut h = Harness::new();
    // A strict router upstream put our Record-Route URI into the Request-URI and the remote target last.
    let bye = request("BYE", "sip:192.0.2.10:5060;transport=udp;lr", "Route: <sip:bob@192.0.2.20:5060>\n");
    let bye = with_to_tag(bye);
    assert!(matches!(h.receive(bye, UDP), Handled::Context(_)));
    assert!(h.need_targets().is_empty(), "an in-dialog request through our route is routed by it");
    let (copy, hop) = h.forward(0);
    assert_eq!(copy.request_uri(), Some("sip:bob@192.0.2.20:5060"));
    assert_eq!(copy.header(HeaderName::Route), None);
    assert_eq!(hop.uri, "sip:bob@192.0.2.20:5060");
}

#[test]
fn our_route_values_are_removed_and_loose_routing_follows_the_rest_rfc3261_16_4() {
    let mut h = Harness::new();
    let bye = with_to_tag(request(
        "BYE",
        "sip:bob@192.0.2.20:5060",
        "Route: <sip:192.0.2.10:5060;transport=udp;lr>, <sip:next.example;lr>\n",
    ));
    assert!(matches!(h.receive(bye, UDP), Handled::Context(_)));
    let (copy, hop) = h.forward(0);
    assert_eq!(values(&copy, HeaderName::Route), ["<sip:next.example;lr>"]);
    assert_eq!(copy.request_uri(), Some("sip:bob@192.0.2.20:5060"));
    assert_eq!(hop.uri, "sip:next.example;lr");
}

#[test]
fn in_dialog_request_not_through_our_route_needs_targets_rfc3261_16_4() {
    let mut h = Harness::new();
    let bye = with_to_tag(request("BYE", "sip:bob@192.0.2.20:5060", ""));
    assert!(matches!(h.receive(bye, UDP), Handled::Context(_)));
    assert_eq!(h.need_targets().len(), 1, "no relaying on a request's word alone");
    assert_eq!(h.forward_count(), 0);
}

// ----- OPTIONS to the proxy itself -----

#[test]
fn options_to_the_proxy_or_its_domain_is_answered_200_rfc3261_11_2() {
    let mut h = Harness::new();
    for uri in ["sip:192.0.2.10", "sip:proxy.campus.example", "sip:campus.example"] {
        let r = responded(h.receive(request("OPTIONS", uri, ""), UDP));
        assert_eq!(r.status(), Some(StatusCode::OK), "{uri}");
        assert_eq!(r.header(HeaderName::Accept), Some("application/sdp"));
        assert!(r.header(HeaderName::Allow).is_some_and(|a| a.contains("OPTIONS")));
    }
    // Addressed to a user: target determination, like any request.
    assert!(matches!(h.receive(request("OPTIONS", "sip:bob@campus.example", ""), UDP), Handled::Context(_)));
    assert_eq!(h.need_targets().len(), 1);
}

// ----- §16.5 target determination -----

#[test]
fn caller_answers_instead_of_forwarding_rfc3261_16_5() {
    let mut h = Harness::new();
    let id = h.open(invite(""));
    h.targets(id, Targets::Respond(Reply::new(StatusCode::FORBIDDEN).with_reason("International Calls Not Allowed")));
    let r = h.last_response();
    assert_eq!(r.status(), Some(StatusCode::FORBIDDEN));
    assert_eq!(r.reason(), Some("International Calls Not Allowed"));
    assert!(r.to().expect("To").tag().is_some());
    let record = &h.records()[0];
    assert_eq!((record.disposition, record.answered, record.ended), (CallDisposition::Failed, None, h.now));
    assert!(h.proxy.is_empty(), "nothing left to wait for");

    let id = h.open(invite(""));
    let redirect = Reply::new(StatusCode::MOVED_TEMPORARILY).with_header("Contact", "<sip:bob@offsite.example>");
    h.targets(id, Targets::Respond(redirect));
    let r = h.last_response();
    assert_eq!(r.status(), Some(StatusCode::MOVED_TEMPORARILY));
    assert_eq!(r.header(HeaderName::Contact), Some("<sip:bob@offsite.example>"));
}

#[test]
fn empty_target_set_is_answered_480_and_duplicates_are_not_forked_twice_rfc3261_16_5() {
    let mut h = Harness::new();
    let id = h.open(invite(""));
    h.targets(id, Targets::Fork(Vec::new()));
    assert_eq!(h.upstream(), [480]);

    let mut h = Harness::new();
    let id = h.open(invite(""));
    h.targets(id, Targets::parallel(vec![Target::new(DESK), Target::new("sip:bob@192.0.2.20:5060;foo=bar")]));
    assert_eq!(h.forward_count(), 1, "equivalent URIs (RFC 3261 §19.1.4) are one target");
}

#[test]
fn target_lookup_that_never_answers_ends_in_504() {
    let mut h = Harness::new();
    let id = h.open(invite(""));
    h.advance(Duration::from_secs(9));
    assert!(h.upstream().is_empty());
    h.advance(Duration::from_secs(2));
    assert_eq!(h.upstream(), [504]);
    assert!(h.proxy.provide_targets(h.now, id, Targets::FollowRoute).is_err(), "too late");
}

// ----- §16.6 forwarding -----

#[test]
fn forwarded_copy_carries_record_route_via_and_max_forwards_rfc3261_16_6() {
    let (h, _) = forked(&[DESK]);
    let (copy, hop) = h.forward(0);
    assert_eq!(copy.request_uri(), Some(DESK));
    assert_eq!(copy.max_forwards().expect("valid"), Some(69));
    assert_eq!(values(&copy, HeaderName::RecordRoute), ["<sip:192.0.2.10:5060;transport=udp;lr>"]);
    let via = vias(&copy);
    assert_eq!(via.len(), 2);
    assert!(via[0].starts_with("SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK"), "{}", via[0]);
    assert_eq!(via[1], "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKalice1;rport");
    assert_eq!((hop.uri.as_str(), hop.transport, hop.listener), (DESK, Transport::Udp, UDP));
}

#[test]
fn record_route_is_doubled_when_the_transport_changes_rfc5658() {
    let mut h = Harness::new();
    let id = h.open(invite(""));
    h.targets(id, Targets::parallel(vec![Target::new("sip:bob@192.0.2.20:5060;transport=tcp")]));
    let (copy, hop) = h.forward(0);
    assert_eq!((hop.transport, hop.listener), (Transport::Tcp, TCP));
    assert_eq!(
        values(&copy, HeaderName::RecordRoute),
        ["<sip:192.0.2.10:5060;transport=tcp;lr>", "<sip:192.0.2.10:5060;transport=udp;lr>"],
        "the callee's side on top, the caller's below"
    );
    assert!(copy.top_via().expect("Via").transport.eq_ignore_ascii_case("TCP"));
    // The dialog's later requests carry both values as Route; both are removed (RFC 5658 §3.3).
    let bye = with_to_tag(request(
        "BYE",
        "sip:alice@192.0.2.1:5060",
        "Route: <sip:192.0.2.10:5060;transport=tcp;lr>, <sip:192.0.2.10:5060;transport=udp;lr>\n",
    ));
    assert!(matches!(h.receive(bye, TCP), Handled::Context(_)));
    let (bye, hop) = h.forward(0);
    assert_eq!(bye.method(), Some(&Method::Bye));
    assert_eq!(bye.header(HeaderName::Route), None);
    assert_eq!((hop.transport, hop.listener), (Transport::Udp, UDP));
}

#[test]
fn record_route_can_be_switched_off_and_is_never_added_to_register_rfc3261_16_6_step_4() {
    let mut config = common::config();
    config.record_route = false;
    let mut h = Harness::with(carillon_proxy_core::Proxy::new(config).expect("valid"));
    let id = h.open(invite(""));
    h.targets(id, Targets::parallel(vec![Target::new(DESK)]));
    assert_eq!(h.forwarded(0).header(HeaderName::RecordRoute), None);

    let mut h = Harness::new();
    let id = h.open(request("REGISTER", "sip:upstream-registrar.example", ""));
    h.targets(id, Targets::FollowRoute);
    assert_eq!(h.forwarded(0).header(HeaderName::RecordRoute), None);
}

#[test]
fn path_of_a_registered_contact_becomes_route_and_flow_is_kept_rfc3327_5_4() {
    let mut h = Harness::new();
    let id = h.open(invite(""));
    let flow = Flow { listener: TCP, remote: "198.51.100.9:40000".parse().expect("address"), connection: Some(7) };
    let path = vec!["<sip:edge.campus.example;lr>".to_owned(), "sip:edge2.campus.example;lr".to_owned()];
    h.targets(id, Targets::parallel(vec![Target::new(DESK).with_route(path)]));
    let (copy, hop) = h.forward(0);
    assert_eq!(values(&copy, HeaderName::Route), ["<sip:edge.campus.example;lr>", "<sip:edge2.campus.example;lr>"]);
    assert_eq!(copy.request_uri(), Some(DESK));
    assert_eq!(hop.uri, "sip:edge.campus.example;lr");

    let id = h.open(invite(""));
    h.targets(id, Targets::parallel(vec![Target::new(DESK).with_flow(flow)]));
    let (copy, hop) = h.forward(0);
    assert_eq!(hop.flow, Some(flow));
    assert_eq!((hop.transport, hop.listener), (Transport::Tcp, TCP), "sent from the flow's listener");
    assert!(copy.top_via().expect("Via").transport.eq_ignore_ascii_case("TCP"));
}

// ----- §16.7 response processing -----

#[test]
fn provisional_responses_other_than_100_go_upstream_without_our_via_rfc3261_16_7_step_5() {
    let (mut h, id) = forked(&[DESK]);
    h.reply(id, 0, 100);
    assert!(h.upstream().is_empty(), "100 Trying is absorbed");
    h.reply(id, 0, 180);
    assert_eq!(h.upstream(), [180]);
    assert_eq!(vias(&h.last_response()), ["SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKalice1;rport"]);
}

#[test]
fn fork_first_486_then_200_forwards_the_200_without_cancel_rfc3261_16_7() {
    let (mut h, id) = forked(&[DESK, MOBILE]);
    h.reply(id, 0, 486);
    assert!(h.upstream().is_empty(), "a failure waits for the other branch");
    h.reply(id, 1, 200);
    assert_eq!(h.upstream(), [200]);
    assert!(h.cancelled().is_empty(), "no branch left to cancel");
    let record = &h.records()[0];
    assert_eq!(record.disposition, CallDisposition::Answered);
    assert_eq!(record.answered, Some(h.now));
    assert_eq!(record.status, StatusCode::OK);
    assert_eq!(record.method, Method::Invite);
    assert_eq!(record.call_id, "call-1@192.0.2.1");
    assert_eq!(record.from, "\"Alice\" <sip:alice@campus.example>;tag=alicetag");
    assert_eq!(record.request_uri, "sip:bob@campus.example");
    assert_eq!(record.answered_by.as_deref(), Some(MOBILE), "an unlabelled target is named by its URI");
    assert_eq!(vias(&h.last_response()).len(), 1, "our Via removed");
}

#[test]
fn ringing_branch_is_cancelled_when_another_answers_rfc3261_16_7_step_10() {
    let (mut h, id) = forked(&[DESK, MOBILE]);
    h.reply(id, 0, 180);
    h.reply(id, 1, 180);
    h.reply(id, 1, 200);
    assert_eq!(h.upstream(), [180, 180, 200]);
    assert_eq!(h.cancelled(), [0]);
    let cancel = h.actions.iter().find_map(|(_, a)| match a {
        Action::Cancel { message, .. } => Some(message.clone()),
        _ => None,
    });
    let cancel = cancel.expect("a CANCEL");
    let desk = h.forwarded(0);
    assert_eq!(cancel.method(), Some(&Method::Cancel));
    assert_eq!(cancel.request_uri(), desk.request_uri());
    assert_eq!(cancel.top_via().expect("Via").branch(), desk.top_via().expect("Via").branch(), "§9.1: same branch");
    // The cancelled branch ends with 487, which is not forwarded: the final response has gone.
    h.reply(id, 0, 487);
    assert_eq!(h.upstream(), [180, 180, 200]);
}

#[test]
fn branch_without_provisional_is_cancelled_at_its_first_provisional_rfc3261_9_1() {
    let (mut h, id) = forked(&[DESK, MOBILE]);
    h.reply(id, 1, 200);
    assert!(h.cancelled().is_empty(), "a CANCEL may not precede a provisional response");
    h.reply(id, 0, 100);
    assert_eq!(h.cancelled(), [0]);
    assert_eq!(h.upstream(), [200], "nothing from the cancelled branch goes upstream");
}

#[test]
fn all_branches_fail_486_404_503_best_is_486_rfc3261_16_7_step_6() {
    let (mut h, id) = forked(&[DESK, MOBILE, SOFTPHONE]);
    h.reply(id, 0, 404);
    h.reply(id, 1, 486);
    assert!(h.upstream().is_empty());
    h.reply(id, 2, 503);
    assert_eq!(h.upstream(), [486]);
    assert_eq!(h.records()[0].disposition, CallDisposition::Busy);
    assert!(h.proxy.is_empty(), "every branch ended without a 2xx: the context is gone");
}

#[test]
fn only_503_is_forwarded_as_500_rfc3261_16_7_step_6() {
    let (mut h, id) = forked(&[DESK]);
    h.event(id, 0, Event::Response(answer(&h.forwarded(0), 503, &[("Retry-After", "60")])));
    assert_eq!(h.upstream(), [500]);
    assert_eq!(h.last_response().header(HeaderName::RetryAfter), None, "generated, not the 503 relabelled");
    assert_eq!(h.records()[0].disposition, CallDisposition::Failed);
}

#[test]
fn challenges_of_401_and_407_are_aggregated_rfc3261_16_7_step_7() {
    let (mut h, id) = forked(&[DESK, MOBILE]);
    let www = "Digest realm=\"desk\", nonce=\"abc\", algorithm=MD5";
    let proxy_auth = "Digest realm=\"gateway\", nonce=\"def\", algorithm=MD5";
    h.event(id, 0, Event::Response(answer(&h.forwarded(0), 401, &[("WWW-Authenticate", www)])));
    h.event(id, 1, Event::Response(answer(&h.forwarded(1), 407, &[("Proxy-Authenticate", proxy_auth)])));
    assert_eq!(h.upstream(), [407]);
    let r = h.last_response();
    assert_eq!(r.header(HeaderName::ProxyAuthenticate), Some(proxy_auth));
    assert_eq!(r.header(HeaderName::WwwAuthenticate), Some(www));
}

#[test]
fn a_branch_sent_again_cancels_only_after_a_provisional_of_its_new_transaction_rfc3261_9_1() {
    let (mut h, id) = forked(&[DESK, MOBILE]);
    h.reply(id, 0, 180);
    // The desk's first server failed over to the next one: the branch runs anew, without a provisional yet.
    assert!(h.proxy.resend_branch(id, BranchId(0)));
    h.reply(id, 1, 200);
    assert!(h.cancelled().is_empty(), "no CANCEL before the new transaction's provisional response");
    h.reply(id, 0, 180);
    assert_eq!(h.cancelled(), [0]);
    assert!(!h.proxy.resend_branch(id, BranchId(0)), "a branch being cancelled is not sent again");
    assert!(!h.proxy.resend_branch(id, BranchId(7)), "no such branch");
}

#[test]
fn a_copy_sent_again_keeps_its_loop_hash_under_a_new_branch() {
    let (h, _) = forked(&[DESK]);
    let copy = h.forwarded(0);
    let resent = carillon_proxy_core::rebranch(&copy, 0xabc).expect("our branch");
    let branch = |m: &Message| m.top_via().expect("Via").branch().expect("branch").to_owned();
    let (old, new) = (branch(&copy), branch(&resent));
    assert_ne!(old, new);
    assert_eq!(old.split_once('.').map(|(s, _)| s), new.split_once('.').map(|(s, _)| s), "same loop hash");
    assert!(new.ends_with(".0000000000000abc"), "{new}");
    assert_eq!(vias(&resent).len(), vias(&copy).len());
    let foreign = invite("");
    assert!(carillon_proxy_core::rebranch(&foreign, 1).is_err(), "not a branch of ours");
}

#[test]
fn global_failure_6xx_cancels_the_rest_and_is_chosen_rfc3261_16_7_step_5() {
    let mut h = Harness::new();
    let id = h.open(invite(""));
    h.targets(
        id,
        Targets::Fork(vec![
            TargetSet::new(vec![Target::new(DESK), Target::new(MOBILE)]),
            TargetSet::new(vec![Target::new(SOFTPHONE)]),
        ]),
    );
    h.reply(id, 1, 180);
    h.reply(id, 0, 603);
    assert_eq!(h.upstream(), [180], "a 6xx is not forwarded at once");
    assert_eq!(h.cancelled(), [1]);
    h.reply(id, 1, 487);
    assert_eq!(h.upstream(), [180, 603]);
    assert_eq!(h.forward_count(), 2, "no new branch after a 6xx");
}

#[test]
fn timeouts_and_transport_errors_stand_in_as_408_and_503_rfc3261_16_8_16_9() {
    let (mut h, id) = forked(&[DESK, MOBILE]);
    h.event(id, 0, Event::Timeout(Timer::B));
    h.event(id, 1, Event::TransportError);
    assert_eq!(h.upstream(), [408]);
    assert_eq!(h.records()[0].disposition, CallDisposition::NoAnswer);

    let (mut h, id) = forked(&[DESK]);
    h.event(id, 0, Event::TransportError);
    assert_eq!(h.upstream(), [500], "a lone 503 stand-in becomes 500 too");
}

#[test]
fn timer_c_cancels_a_ringing_branch_and_times_out_a_silent_one_rfc3261_16_8() {
    let (mut h, id) = forked(&[DESK, MOBILE]);
    h.reply(id, 0, 180);
    h.event(id, 0, Event::Timeout(Timer::C));
    assert_eq!(h.cancelled(), [0]);
    assert_eq!(h.upstream(), [180], "the silent branch is still awaited");
    h.event(id, 1, Event::Timeout(Timer::C));
    assert_eq!(h.upstream(), [180, 408], "a branch cancelled for Timer C counts as a timeout, not as 487");
    h.reply(id, 0, 487);
    assert_eq!(h.upstream(), [180, 408], "its 487 changes nothing");
    assert_eq!(h.records()[0].disposition, CallDisposition::NoAnswer);
}

#[test]
fn sequential_sets_ring_the_desk_then_the_mobile_after_a_timeout() {
    let mut h = Harness::new();
    let id = h.open(invite(""));
    h.targets(
        id,
        Targets::sequential(vec![
            Target::new(DESK).with_timeout(Duration::from_secs(20)).with_label("4711"),
            Target::new(MOBILE).with_label("itsp"),
        ]),
    );
    assert_eq!(h.forward_count(), 1, "the mobile waits its turn");
    h.reply(id, 0, 180);
    h.advance(Duration::from_secs(19));
    assert_eq!(h.forward_count(), 1);
    h.advance(Duration::from_secs(1));
    assert_eq!(h.cancelled(), [0], "the desk phone is given up");
    assert_eq!(h.forward_count(), 2, "and the mobile rings");
    assert_eq!(h.forwarded(1).request_uri(), Some(MOBILE));
    h.reply(id, 0, 487);
    h.reply(id, 1, 180);
    h.reply(id, 1, 200);
    assert_eq!(h.upstream(), [180, 180, 200]);
    assert_eq!(h.records()[0].disposition, CallDisposition::Answered);
    assert_eq!(h.records()[0].answered_by.as_deref(), Some("itsp"), "the label of the branch that answered");
}

#[test]
fn sequential_sets_move_on_after_a_failure_but_not_after_a_success() {
    let mut h = Harness::new();
    let id = h.open(invite(""));
    h.targets(id, Targets::sequential(vec![Target::new(DESK), Target::new(MOBILE), Target::new(SOFTPHONE)]));
    h.reply(id, 0, 480);
    assert_eq!(h.forward_count(), 2);
    h.reply(id, 1, 200);
    assert_eq!(h.forward_count(), 2, "answered: the softphone never rings");
    assert_eq!(h.upstream(), [200]);

    let mut h = Harness::new();
    let id = h.open(invite(""));
    h.targets(
        id,
        Targets::sequential(vec![
            Target::new(DESK).with_timeout(Duration::from_secs(5)),
            Target::new(MOBILE).with_timeout(Duration::from_secs(5)),
        ]),
    );
    h.advance(Duration::from_secs(5));
    h.advance(Duration::from_secs(5));
    assert_eq!(h.upstream(), [408], "nobody answered in time");
    assert_eq!(h.records()[0].disposition, CallDisposition::NoAnswer);
    // Neither branch had a provisional response: their CANCELs wait for one (§9.1).
    h.reply(id, 0, 180);
    assert_eq!(h.cancelled(), [0]);
}

// ----- §16.10 CANCEL -----

fn cancel_for(invite: &Message) -> Message {
    let text = String::from_utf8(invite.to_bytes().to_vec()).expect("UTF-8");
    parse(&text.replacen("INVITE sip:", "CANCEL sip:", 1).replace(" INVITE\r\n", " CANCEL\r\n").replace("\r\n", "\n"))
}

#[test]
fn cancel_from_upstream_is_answered_200_and_cancels_every_branch_rfc3261_16_10() {
    let (mut h, id) = forked(&[DESK, MOBILE]);
    h.reply(id, 0, 180);
    let r = responded(h.receive(cancel_for(&invite("")), UDP));
    assert_eq!(r.status(), Some(StatusCode::OK));
    assert_eq!(r.cseq().expect("CSeq").method_text, "CANCEL");
    assert_eq!(h.cancelled(), [0], "the ringing branch now, the silent one at its first provisional");
    h.reply(id, 1, 183);
    assert_eq!(h.cancelled(), [0, 1]);
    assert_eq!(h.upstream(), [180], "nothing more is forwarded from cancelled branches but the final");
    h.reply(id, 0, 487);
    h.reply(id, 1, 487);
    assert_eq!(h.upstream(), [180, 487]);
    assert_eq!(h.records()[0].disposition, CallDisposition::Cancel);
}

#[test]
fn cancel_before_any_target_is_answered_487_by_the_proxy_rfc3261_16_10() {
    let mut h = Harness::new();
    let id = h.open(invite(""));
    assert_eq!(responded(h.receive(cancel_for(&invite("")), UDP)).status(), Some(StatusCode::OK));
    assert_eq!(h.upstream(), [487]);
    assert_eq!(h.records()[0].disposition, CallDisposition::Cancel);
    assert!(h.proxy.provide_targets(h.now, id, Targets::parallel(vec![Target::new(DESK)])).is_err());
    assert_eq!(h.forward_count(), 0);
}

#[test]
fn cancel_whose_branches_never_answer_ends_in_487_rfc3261_16_10() {
    let (mut h, id) = forked(&[DESK]);
    responded(h.receive(cancel_for(&invite("")), UDP));
    h.event(id, 0, Event::Timeout(Timer::B));
    assert_eq!(h.upstream(), [487]);
}

#[test]
fn cancel_matching_nothing_is_answered_481_rfc3261_16_10() {
    let mut h = Harness::new();
    let r = responded(h.receive(cancel_for(&invite("")), UDP));
    assert_eq!(r.status(), Some(StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST));
    let (mut h, _) = forked(&[DESK]);
    let other = cancel_for(&invite("")).to_string_replacing("z9hG4bKalice1", "z9hG4bKalice2");
    assert_eq!(responded(h.receive(other, UDP)).status(), Some(StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST));
}

// ----- §16.11 ACK for a 2xx, in-dialog requests -----

#[test]
fn ack_for_2xx_is_forwarded_statelessly_by_its_route_rfc3261_16_11() {
    let mut h = Harness::new();
    let ack = with_to_tag(request("ACK", DESK, "Route: <sip:192.0.2.10:5060;transport=udp;lr>\n"));
    let first = h.receive(ack.clone(), UDP);
    let Handled::Forward { message, target } = first.clone() else {
        panic!("expected a stateless forward, got {first:?}")
    };
    assert_eq!(target.uri, DESK);
    assert_eq!(message.header(HeaderName::Route), None);
    assert_eq!(message.header(HeaderName::RecordRoute), None);
    assert_eq!(message.max_forwards().expect("valid"), Some(69));
    assert_eq!(h.receive(ack, UDP), first, "a retransmission is forwarded with the same branch");
    assert!(h.proxy.is_empty(), "no state kept");
    let stray = with_to_tag(request("ACK", DESK, ""));
    assert_eq!(h.receive(stray, UDP), Handled::Drop, "an ACK that did not route through us");
}

#[test]
fn in_dialog_request_through_our_route_is_forwarded_without_lookup_rfc3261_16_12() {
    let mut h = Harness::new();
    let bye = with_to_tag(request("BYE", DESK, "Route: <sip:192.0.2.10;lr>\n"));
    let Handled::Context(id) = h.receive(bye, UDP) else { panic!("expected a context") };
    assert!(h.need_targets().is_empty());
    assert_eq!(h.forward_count(), 1);
    h.reply(id, 0, 200);
    assert_eq!(h.upstream(), [200]);
    assert!(h.proxy.is_empty(), "a non-INVITE 2xx ends the context");
}

// ----- RFC 6026 -----

#[test]
fn late_2xx_after_the_final_response_is_still_forwarded_rfc6026() {
    let (mut h, id) = forked(&[DESK, MOBILE]);
    h.reply(id, 0, 180);
    h.reply(id, 1, 180);
    h.reply(id, 1, 200);
    // The desk's user picked up as the CANCEL crossed: its 2xx goes upstream too (the caller sends BYE).
    h.reply(id, 0, 200);
    assert_eq!(h.upstream(), [180, 180, 200, 200]);
    // A retransmitted 2xx of an accepted branch as well.
    h.reply(id, 1, 200);
    assert_eq!(h.upstream(), [180, 180, 200, 200, 200]);
    assert_eq!(h.records().len(), 1);
    assert!(!h.proxy.is_empty(), "waits for late 2xx");
    h.advance(Duration::from_secs(32));
    assert!(h.proxy.is_empty());
    h.reply(id, 1, 200);
    assert_eq!(h.upstream().len(), 5, "the context is gone; the driver forwards what matches nothing");
}

// ----- helpers -----

fn with_to_tag(m: Message) -> Message {
    m.to_string_replacing("To: <sip:bob@campus.example>", "To: <sip:bob@campus.example>;tag=bobtag")
}

trait Rewrite {
    fn to_string_replacing(&self, from: &str, to: &str) -> Message;
    fn to_string_with_max_forwards(&self, n: u8) -> Message;
}

impl Rewrite for Message {
    fn to_string_replacing(&self, from: &str, to: &str) -> Message {
        let text = String::from_utf8(self.to_bytes().to_vec()).expect("UTF-8");
        assert!(text.contains(from), "{from:?} not in the message");
        parse(&text.replace(from, to).replace("\r\n", "\n"))
    }

    fn to_string_with_max_forwards(&self, n: u8) -> Message {
        self.to_string_replacing("Max-Forwards: 70", &format!("Max-Forwards: {n}"))
    }
}
