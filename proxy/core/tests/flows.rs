//! RFC 5626 flows through dialogs on a virtual clock: route tokens in Record-Route for senders and targets that
//! are reached over a flow, in-dialog requests sent back over those flows, tokens that are not ours, flows that
//! are gone, and the driver's tag.

#![allow(clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use carillon_proxy_core::{Flow, Handled, ListenerId, NextHop, RouteToken, Target, Targets};
use carillon_sip::target::Transport;
use carillon_sip::{HeaderName, Message, Method, StatusCode};
use common::{Harness, TCP, UDP, parse};

/// The secret of the test proxy (`common::config`).
const SECRET: &[u8] = b"test secret";
const BOB_CONTACT: &str = "sip:bob@192.0.2.20:5060";

fn flow(listener: ListenerId, remote: &str, connection: Option<u64>) -> Flow {
    Flow { listener, remote: remote.parse().expect("address"), connection }
}

/// Alice's phone behind NAT: its Contact names its private address, its requests come from the NAT's.
fn alice_nat() -> Flow {
    flow(UDP, "198.51.100.7:40000", None)
}

/// Bob's desk phone, reachable where its Contact says.
fn bob() -> Flow {
    flow(UDP, "192.0.2.20:5060", None)
}

/// A dialog-creating INVITE from Alice with this Contact.
fn invite_with_contact(contact: &str) -> Message {
    parse(&format!(
        "INVITE sip:bob@campus.example SIP/2.0
Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKalice1;rport=40000;received=198.51.100.7
Max-Forwards: 70
To: <sip:bob@campus.example>
From: <sip:alice@campus.example>;tag=alicetag
Call-ID: nat-call
CSeq: 1 INVITE
Contact: <{contact}>
Content-Length: 0

"
    ))
}

/// An in-dialog request of the dialog: from Bob to Alice's `target` (`from_bob`), or from Alice to Bob's, with
/// this Route set.
fn in_dialog(method: &str, from_bob: bool, target: &str, route: &[String]) -> Message {
    let (via, from, to) = if from_bob {
        ("192.0.2.20:5060", "<sip:bob@campus.example>;tag=bobtag", "<sip:alice@campus.example>;tag=alicetag")
    } else {
        ("10.0.0.5:5060", "<sip:alice@campus.example>;tag=alicetag", "<sip:bob@campus.example>;tag=bobtag")
    };
    let route = if route.is_empty() { String::new() } else { format!("Route: {}\n", route.join(", ")) };
    parse(&format!(
        "{method} {target} SIP/2.0
Via: SIP/2.0/UDP {via};branch=z9hG4bK{method}{from_bob}
Max-Forwards: 70
{route}From: {from}
To: {to}
Call-ID: nat-call
CSeq: 2 {method}
Content-Length: 0

"
    ))
}

fn record_route(m: &Message) -> Vec<String> {
    m.header_values(HeaderName::RecordRoute).map(str::to_owned).collect()
}

/// The route set of the callee (the Record-Route as received) and of the caller (reversed), RFC 3261 §12.1.
fn route_sets(copy: &Message) -> (Vec<String>, Vec<String>) {
    let callee = record_route(copy);
    let caller = callee.iter().rev().cloned().collect();
    (callee, caller)
}

/// The user part of a Record-Route value.
fn user_of(value: &str) -> Option<&str> {
    value.strip_prefix("<sip:")?.split_once('@').map(|(user, _)| user)
}

/// Sends `request` over `source` and returns the copy forwarded and where it went.
fn forward_over(h: &mut Harness, request: Message, source: Flow) -> (Message, NextHop) {
    match h.receive_over(request, source) {
        Handled::Context(id) => h.forward_of(id, 0),
        Handled::Forward { message, target } => (message, target),
        other => panic!("expected a forward, got {other:?}"),
    }
}

#[test]
fn the_callee_s_bye_reaches_a_caller_behind_nat_over_its_flow_rfc5626_5_3() {
    let mut h = Harness::new();
    let id = match h.receive_over(invite_with_contact("sip:alice@10.0.0.5:5060"), alice_nat()) {
        Handled::Context(id) => id,
        other => panic!("expected a context, got {other:?}"),
    };
    h.targets(id, Targets::parallel(vec![Target::new(BOB_CONTACT)]));
    let (copy, _) = h.forward_of(id, 0);
    let rr = record_route(&copy);
    assert_eq!(rr.len(), 2, "one entry for each side: {rr:?}");
    assert_eq!(rr[0], "<sip:192.0.2.10:5060;transport=udp;lr>", "Bob's side: reachable, no token");
    let token = user_of(&rr[1]).expect("Alice's side carries a token");
    let decoded = RouteToken::decode(SECRET, token).expect("a token of ours");
    assert_eq!(decoded.flow, Some((Transport::Udp, alice_nat())), "the flow the INVITE came over");
    assert!(rr[1].ends_with("@192.0.2.10:5060;transport=udp;lr>"), "{}", rr[1]);

    let (bob_routes, alice_routes) = route_sets(&copy);
    // Bob hangs up: his BYE goes to Alice's Contact, which no one can reach; the token sends it over her flow.
    let bye = in_dialog("BYE", true, "sip:alice@10.0.0.5:5060", &bob_routes);
    let (forwarded, hop) = forward_over(&mut h, bye, bob());
    assert_eq!(hop.flow, Some(alice_nat()));
    assert_eq!(forwarded.request_uri(), Some("sip:alice@10.0.0.5:5060"), "the Request-URI is left alone");
    assert_eq!(forwarded.header(HeaderName::Route), None, "both of our entries removed");
    // Alice's own requests name her token first and go to Bob as addressed (an outgoing request).
    let bye = in_dialog("BYE", false, BOB_CONTACT, &alice_routes);
    let (_, hop) = forward_over(&mut h, bye, alice_nat());
    assert_eq!((hop.flow, hop.uri.as_str()), (None, BOB_CONTACT));
    let ack = in_dialog("ACK", false, BOB_CONTACT, &alice_routes);
    let (_, hop) = forward_over(&mut h, ack, alice_nat());
    assert_eq!(hop.flow, None);
}

#[test]
fn the_caller_s_requests_reach_a_callee_behind_nat_over_its_flow_ack_included_rfc5626_5_3() {
    let mut h = Harness::new();
    let id = h.open(common::invite(""));
    let bob_nat = flow(UDP, "203.0.113.5:61000", None);
    h.targets(id, Targets::parallel(vec![Target::new("sip:bob@10.1.1.1:5060").with_flow(bob_nat)]));
    let (copy, hop) = h.forward_of(id, 0);
    assert_eq!(hop.flow, Some(bob_nat), "the INVITE itself goes over the registered flow");
    let rr = record_route(&copy);
    assert_eq!(rr.len(), 2, "{rr:?}");
    let token = user_of(&rr[0]).expect("Bob's side on top carries his flow");
    assert_eq!(RouteToken::decode(SECRET, token).and_then(|t| t.flow), Some((Transport::Udp, bob_nat)));
    assert_eq!(rr[1], "<sip:192.0.2.10:5060;transport=udp;lr>", "Alice is where her Contact says");

    let (bob_routes, alice_routes) = route_sets(&copy);
    for method in ["ACK", "INVITE", "BYE"] {
        let request = in_dialog(method, false, "sip:bob@10.1.1.1:5060", &alice_routes);
        let (forwarded, hop) = forward_over(&mut h, request, common::alice(UDP));
        assert_eq!(hop.flow, Some(bob_nat), "{method}");
        assert_eq!(forwarded.method().map(Method::as_str), Some(method));
    }
    // Bob's BYE goes to Alice's Contact.
    let bye = in_dialog("BYE", true, "sip:alice@192.0.2.1:5060", &bob_routes);
    let (_, hop) = forward_over(&mut h, bye, bob_nat);
    assert_eq!((hop.flow, hop.uri.as_str()), (None, "sip:alice@192.0.2.1:5060"));
}

#[test]
fn two_phones_behind_nat_each_get_their_own_token() {
    let mut h = Harness::new();
    let id = match h.receive_over(invite_with_contact("sip:alice@10.0.0.5:5060"), alice_nat()) {
        Handled::Context(id) => id,
        other => panic!("expected a context, got {other:?}"),
    };
    let bob_nat = flow(UDP, "203.0.113.5:61000", None);
    h.targets(id, Targets::parallel(vec![Target::new("sip:bob@10.1.1.1:5060").with_flow(bob_nat)]));
    let (copy, _) = h.forward_of(id, 0);
    let (bob_routes, alice_routes) = route_sets(&copy);
    let bye = in_dialog("BYE", true, "sip:alice@10.0.0.5:5060", &bob_routes);
    assert_eq!(forward_over(&mut h, bye, bob_nat).1.flow, Some(alice_nat()));
    let bye = in_dialog("BYE", false, "sip:bob@10.1.1.1:5060", &alice_routes);
    assert_eq!(forward_over(&mut h, bye, alice_nat()).1.flow, Some(bob_nat));
}

#[test]
fn a_changed_or_foreign_token_is_never_followed_rfc5626_5_2() {
    let mut h = Harness::new();
    let real = RouteToken { flow: Some((Transport::Udp, alice_nat())), tag: None }.encode(SECRET).expect("token");
    let mut changed = real.clone().into_bytes();
    changed[6] = if changed[6] == b'A' { b'B' } else { b'A' };
    let changed = String::from_utf8(changed).expect("ASCII");
    let forged = RouteToken { flow: Some((Transport::Udp, alice_nat())), tag: None }.encode(b"guess").expect("token");
    for token in [changed.as_str(), forged.as_str(), "alice"] {
        let route = [format!("<sip:{token}@192.0.2.10:5060;transport=udp;lr>")];
        let bye = in_dialog("BYE", true, "sip:alice@10.0.0.5:5060", &route);
        let (forwarded, hop) = forward_over(&mut h, bye, bob());
        assert_eq!(hop.flow, None, "{token}: routed as an ordinary Route of ours, by its Request-URI");
        assert_eq!(hop.uri, "sip:alice@10.0.0.5:5060");
        assert_eq!(forwarded.header(HeaderName::Route), None, "still our Route value, removed");
    }
    let route = [format!("<sip:{real}@192.0.2.10:5060;transport=udp;lr>")];
    let bye = in_dialog("BYE", true, "sip:alice@10.0.0.5:5060", &route);
    assert_eq!(forward_over(&mut h, bye, bob()).1.flow, Some(alice_nat()), "the real one is");
}

#[test]
fn a_flow_that_is_gone_answers_430_in_a_dialog_and_480_for_a_registered_contact_rfc5626_5_3_7() {
    let mut h = Harness::new();
    let token = RouteToken { flow: Some((Transport::Tcp, flow(TCP, "198.51.100.7:40000", Some(3)))), tag: None }
        .encode(SECRET)
        .expect("token");
    let route = [format!("<sip:{token}@192.0.2.10:5060;transport=tcp;lr>")];
    let bye = in_dialog("BYE", true, "sip:alice@10.0.0.5:5060;transport=tcp", &route);
    let Handled::Context(id) = h.receive_over(bye, bob()) else { panic!("expected a context") };
    let (_, hop) = h.forward_of(id, 0);
    assert_eq!(hop.flow.and_then(|f| f.connection), Some(3));
    assert_eq!((hop.listener, hop.transport), (TCP, Transport::Tcp));
    h.proxy.handle_flow_failure(h.now, id, carillon_proxy_core::BranchId(0));
    h.poll();
    assert_eq!(h.upstream(), [430]);
    assert_eq!(h.last_response().reason(), Some("Flow Failed"));

    let mut h = Harness::new();
    let id = h.open(common::invite(""));
    h.targets(id, Targets::parallel(vec![Target::new("sip:bob@10.1.1.1:5060").with_flow(bob())]));
    h.proxy.handle_flow_failure(h.now, id, carillon_proxy_core::BranchId(0));
    h.poll();
    assert_eq!(h.last_response().status(), Some(StatusCode::TEMPORARILY_UNAVAILABLE));
}

#[test]
fn connections_and_ob_are_carried_rfc5626_5_3_2() {
    let mut h = Harness::new();
    // Over TCP, a sender is reached over its connection whatever its Contact says; `ob` in its Contact is kept.
    let tcp_alice = flow(TCP, "198.51.100.7:40000", Some(42));
    let id = match h.receive_over(invite_with_contact("sip:alice@198.51.100.7:40000;transport=tcp;ob"), tcp_alice) {
        Handled::Context(id) => id,
        other => panic!("expected a context, got {other:?}"),
    };
    let outbound_bob = flow(UDP, "203.0.113.5:61000", None);
    h.targets(id, Targets::parallel(vec![Target::new("sip:bob@10.1.1.1:5060").with_outbound_flow(outbound_bob)]));
    let (copy, _) = h.forward_of(id, 0);
    let rr = record_route(&copy);
    assert_eq!(rr.len(), 2);
    assert!(rr[0].ends_with("@192.0.2.10:5060;transport=udp;lr;ob>"), "Bob's outbound flow: {}", rr[0]);
    assert!(rr[1].ends_with("@192.0.2.10:5060;transport=tcp;lr;ob>"), "Alice's Contact had ob: {}", rr[1]);
    let alice = RouteToken::decode(SECRET, user_of(&rr[1]).expect("token")).expect("ours");
    assert_eq!(alice.flow, Some((Transport::Tcp, tcp_alice)), "the connection is in the token");
}

#[test]
fn a_sender_reachable_at_its_contact_gets_no_token() {
    let (h, _) = {
        let mut h = Harness::new();
        let id = h.open(common::invite(""));
        h.targets(id, Targets::parallel(vec![Target::new(BOB_CONTACT)]));
        (h, id)
    };
    assert_eq!(record_route(&h.forwarded(0)), ["<sip:192.0.2.10:5060;transport=udp;lr>"]);
}

#[test]
fn the_tag_of_a_target_comes_back_with_requests_going_its_way() {
    let mut h = Harness::new();
    let id = h.open(common::invite(""));
    let trunk = "sip:16175551234@192.0.2.50:5070";
    h.targets(id, Targets::parallel(vec![Target::new(trunk).with_tag("itsp")]));
    let (copy, hop) = h.forward_of(id, 0);
    assert_eq!(hop.tag.as_deref(), Some("itsp"));
    let (trunk_routes, alice_routes) = route_sets(&copy);
    let token = user_of(&trunk_routes[0]).expect("the trunk's side carries the tag");
    assert_eq!(RouteToken::decode(SECRET, token).map(|t| (t.flow, t.tag)), Some((None, Some("itsp".into()))));
    let bye = in_dialog("BYE", false, "sip:gw@192.0.2.50:5070", &alice_routes);
    let (_, hop) = forward_over(&mut h, bye, common::alice(UDP));
    assert_eq!((hop.tag.as_deref(), hop.flow), (Some("itsp"), None), "towards the trunk");
    let bye = in_dialog("BYE", true, "sip:alice@192.0.2.1:5060", &trunk_routes);
    let (_, hop) = forward_over(&mut h, bye, flow(UDP, "192.0.2.50:5070", None));
    assert_eq!(hop.tag, None, "from the trunk");
    // A tag too long for a token is left out rather than refusing the target.
    let id = h.open(common::invite(""));
    h.targets(id, Targets::parallel(vec![Target::new(trunk).with_tag("x".repeat(65))]));
    assert_eq!(record_route(&h.forward_of(id, 0).0), ["<sip:192.0.2.10:5060;transport=udp;lr>"]);
}
