//! Property tests: random response sequences on random branch counts, target sets, timeouts and CANCELs never
//! make the proxy panic, and every request gets exactly one deciding final response upstream (RFC 3261 §16.7).

#![allow(clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

mod common;

use std::time::Duration;

use std::net::{IpAddr, SocketAddr};

use carillon_proxy_core::{
    Action, BranchId, CallDisposition, Flow, ListenerId, Reply, RouteToken, Target, TargetSet, Targets,
};
use carillon_sip::target::Transport;
use carillon_sip::transaction::{Event, Timer};
use carillon_sip::{Message, StatusCode};
use common::{Harness, UDP, answer, parse, request};
use proptest::prelude::*;

const CODES: [u16; 18] = [100, 180, 183, 200, 202, 302, 401, 404, 407, 408, 480, 486, 487, 500, 503, 600, 603, 604];

#[derive(Debug, Clone)]
enum Step {
    /// The user agent of a branch answers (branches that do not exist are skipped).
    Respond {
        branch: u32,
        code: u16,
    },
    /// A branch's client transaction times out.
    Timeout {
        branch: u32,
        timer: Timer,
    },
    TransportError {
        branch: u32,
    },
    /// The flow a branch went over is gone (the driver's report).
    FlowFailure {
        branch: u32,
    },
    Terminated {
        branch: u32,
    },
    /// The virtual clock moves on.
    Advance {
        millis: u64,
    },
    /// The caller cancels.
    Cancel,
}

#[derive(Debug, Clone)]
enum Plan {
    /// Target sets, each target with an optional timeout in seconds.
    Fork(Vec<Vec<Option<u64>>>),
    Reply(u16),
    FollowRoute,
    /// The caller never answers the lookup.
    Silence,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0u32..6, prop::sample::select(CODES.to_vec())).prop_map(|(branch, code)| Step::Respond { branch, code }),
        1 => (0u32..6, prop::sample::select(vec![Timer::B, Timer::C, Timer::CancelWait]))
            .prop_map(|(branch, timer)| Step::Timeout { branch, timer }),
        1 => (0u32..6).prop_map(|branch| Step::TransportError { branch }),
        1 => (0u32..6).prop_map(|branch| Step::FlowFailure { branch }),
        1 => (0u32..6).prop_map(|branch| Step::Terminated { branch }),
        2 => (0u64..25_000).prop_map(|millis| Step::Advance { millis }),
        1 => Just(Step::Cancel),
    ]
}

fn plan() -> impl Strategy<Value = Plan> {
    let set = prop::collection::vec(prop::option::of(1u64..30), 0..4);
    prop_oneof![
        8 => prop::collection::vec(set, 0..4).prop_map(Plan::Fork),
        1 => prop::sample::select(vec![302u16, 403, 404, 407, 480, 200]).prop_map(Plan::Reply),
        1 => Just(Plan::FollowRoute),
        1 => Just(Plan::Silence),
    ]
}

fn targets(plan: &Plan) -> Option<Targets> {
    let mut n = 0;
    Some(match plan {
        Plan::Fork(sets) => Targets::Fork(
            sets.iter()
                .map(|set| {
                    TargetSet::new(
                        set.iter()
                            .map(|timeout| {
                                n += 1;
                                let target = Target::new(format!("sip:bob@192.0.2.{}:5060", 20 + n));
                                match timeout {
                                    Some(s) => target.with_timeout(Duration::from_secs(*s)),
                                    None => target,
                                }
                            })
                            .collect(),
                    )
                })
                .collect(),
        ),
        Plan::Reply(code) => Targets::Respond(Reply::new(StatusCode::new(*code).expect("valid code"))),
        Plan::FollowRoute => Targets::FollowRoute,
        Plan::Silence => return None,
    })
}

fn cancel_for(method: &str) -> Message {
    let invite = request(method, "sip:bob@campus.example", "");
    let text = String::from_utf8(invite.to_bytes().to_vec()).expect("UTF-8");
    let text =
        text.replacen(&format!("{method} sip:"), "CANCEL sip:", 1).replace(&format!(" {method}\r\n"), " CANCEL\r\n");
    parse(&text.replace("\r\n", "\n"))
}

fn route_token() -> impl Strategy<Value = RouteToken> {
    let ip = prop_oneof![any::<[u8; 4]>().prop_map(IpAddr::from), any::<[u8; 16]>().prop_map(IpAddr::from)];
    let flow = (prop::sample::select(Transport::ALL.to_vec()), 0usize..256, ip, any::<u16>(), any::<Option<u64>>())
        .prop_map(|(transport, listener, ip, port, connection)| {
            (transport, Flow { listener: ListenerId(listener), remote: SocketAddr::new(ip, port), connection })
        });
    // Tags of any characters, cut to at most 64 octets on a character boundary.
    let tag = "\\PC{1,64}".prop_map(|t: String| {
        let mut end = t.len().min(RouteToken::MAX_TAG_LEN);
        while !t.is_char_boundary(end) {
            end -= 1;
        }
        t[..end].to_owned()
    });
    (prop::option::of(flow), prop::option::of(tag.prop_filter("not empty", |t| !t.is_empty())))
        .prop_filter("carries something", |(flow, tag)| flow.is_some() || tag.is_some())
        .prop_map(|(flow, tag)| RouteToken { flow, tag })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn a_route_token_decodes_to_what_was_encoded_rfc5626_5_2(token in route_token(), key in any::<[u8; 32]>()) {
        let text = token.encode(&key).expect("encodable");
        prop_assert!(text.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'), "{}", text);
        prop_assert_eq!(RouteToken::decode(&key, &text), Some(token));
    }

    #[test]
    fn any_change_to_a_route_token_is_refused_rfc5626_5_2(
        token in route_token(),
        key in any::<[u8; 32]>(),
        other_key in any::<[u8; 32]>(),
        position in any::<prop::sample::Index>(),
        replacement in prop::sample::select(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".to_vec()),
        cut in any::<prop::sample::Index>(),
    ) {
        let text = token.encode(&key).expect("encodable");
        let i = position.index(text.len());
        let mut changed = text.clone().into_bytes();
        prop_assume!(changed[i] != replacement);
        changed[i] = replacement;
        let changed = String::from_utf8(changed).expect("ASCII");
        prop_assert_eq!(RouteToken::decode(&key, &changed), None, "one character changed: {}", changed);
        let shortened = &text[..cut.index(text.len())];
        prop_assert_eq!(RouteToken::decode(&key, shortened), None, "cut short");
        prop_assert_eq!(RouteToken::decode(&key, &format!("{text}A")), None, "lengthened");
        if other_key != key {
            prop_assert_eq!(RouteToken::decode(&other_key, &text), None, "another proxy's key");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn one_deciding_final_response_whatever_the_branches_do_rfc3261_16_7(
        invite in any::<bool>(),
        plan in plan(),
        steps in prop::collection::vec(step(), 0..40),
    ) {
        let method = if invite { "INVITE" } else { "MESSAGE" };
        let uri = if matches!(plan, Plan::FollowRoute) { "sip:bob@elsewhere.example" } else { "sip:bob@campus.example" };
        let mut h = Harness::new();
        let id = h.open(request(method, uri, ""));
        if let Some(targets) = targets(&plan) {
            h.targets(id, targets);
        }
        for step in &steps {
            match step {
                Step::Respond { branch, code } => {
                    if (*branch as usize) < h.forward_count() {
                        let response = answer(&h.forward_of(id, *branch).0, *code, &[]);
                        h.event(id, *branch, Event::Response(response));
                    }
                }
                Step::Timeout { branch, timer } => h.event(id, *branch, Event::Timeout(*timer)),
                Step::TransportError { branch } => h.event(id, *branch, Event::TransportError),
                Step::FlowFailure { branch } => {
                    h.proxy.handle_flow_failure(h.now, id, BranchId(*branch));
                    h.poll();
                }
                Step::Terminated { branch } => h.event(id, *branch, Event::Terminated),
                Step::Advance { millis } => h.advance(Duration::from_millis(*millis)),
                Step::Cancel => {
                    let answered = common::responded(h.receive(cancel_for(method), UDP));
                    let code = answered.status().map(StatusCode::as_u16);
                    prop_assert!(code == Some(200) || code == Some(481), "CANCEL answered {code:?}");
                }
            }
        }
        // Every client transaction ends sooner or later (Timer B at the latest); then every wait runs out.
        // Ending a branch may start the next target set, so the count is read again each time.
        let mut branch = 0;
        while (branch as usize) < h.forward_count() {
            h.event(id, branch, Event::Timeout(Timer::B));
            branch += 1;
        }
        h.advance(Duration::from_secs(120));

        let upstream = h.upstream();
        let finals: Vec<u16> = upstream.iter().copied().filter(|c| *c >= 200).collect();
        prop_assert!(!finals.is_empty(), "no final response upstream: {upstream:?}");
        let failures = finals.iter().filter(|c| **c >= 300).count();
        prop_assert!(failures <= 1, "several non-2xx finals: {upstream:?}");
        if finals[0] < 300 {
            prop_assert_eq!(failures, 0, "a failure after a 2xx: {:?}", upstream);
        }
        let first_final = upstream.iter().position(|c| *c >= 200).expect("a final");
        prop_assert!(upstream[first_final..].iter().all(|c| *c >= 200), "a provisional after the final: {upstream:?}");
        prop_assert!(!upstream.contains(&100), "100 Trying forwarded");
        prop_assert!(!upstream.contains(&503), "503 forwarded");

        let records = h.records();
        prop_assert_eq!(records.len(), 1, "call records: {:?}", records);
        prop_assert_eq!(records[0].status.as_u16(), finals[0]);
        prop_assert_eq!(records[0].disposition == CallDisposition::Answered, finals[0] < 300);
        prop_assert_eq!(records[0].answered.is_some(), finals[0] < 300);

        let mut cancelled = h.cancelled();
        prop_assert!(invite || cancelled.is_empty(), "only INVITEs are cancelled");
        let count = cancelled.len();
        cancelled.dedup();
        cancelled.sort_unstable();
        cancelled.dedup();
        prop_assert_eq!(cancelled.len(), count, "a branch cancelled twice");

        let decided = h.actions.iter().position(|(_, a)| matches!(a, Action::Done(_))).expect("a record");
        prop_assert!(
            !h.actions[decided..].iter().any(|(_, a)| matches!(a, Action::Forward { .. } | Action::NeedTargets { .. })),
            "nothing is forwarded after the outcome is decided"
        );
        prop_assert!(h.proxy.is_empty(), "the context outlived every wait");
        prop_assert_eq!(h.proxy.poll_timeout(), None);
    }
}
