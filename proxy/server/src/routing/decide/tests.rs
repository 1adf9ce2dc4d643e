//! The routing decisions, without a database: every input built here.

use std::time::Duration;

use carillon_db::{
    AliasKind, CallCategory, CallPermissions, Callee, DialledUser, EmergencyRoute, Forwarding, LineSummary,
    OutboundRoute, RingStep, RingTarget, RouteTrunk, Trunk, TrunkKind, User,
};
use carillon_proxy_core::{Target, Targets};
use carillon_sip::StatusCode;
use carillon_sip::target::Transport;

use super::*;
use crate::config::Config;
use crate::routing::sets::{Gate, RoutePlan};

const CONFIG: &str = r#"
[node]
id = "sip1"
[sip]
domain = "campus.test"
listen = ["udp:127.0.0.1:5060"]
[database]
url = "postgres://u:p@127.0.0.1:5433/carillon"
[auth]
nonce_secret_file = "/tmp/secret"
[number_plan]
local_area_codes = ["617"]
[routing]
redirect_domains = ["partner.example"]
"#;

const ALL: CallPermissions =
    CallPermissions { internal: true, campus: true, local: true, long_distance: true, international: true };
const STUDENT: CallPermissions = CallPermissions { long_distance: false, international: false, ..ALL };
const NOTHING: CallPermissions =
    CallPermissions { internal: false, campus: false, local: false, long_distance: false, international: false };

fn policy() -> Policy {
    Policy::new(&Config::from_toml(CONFIG).expect("valid configuration"))
}

fn trunk(name: &str, host: &str) -> Trunk {
    Trunk {
        name: name.into(),
        kind: TrunkKind::Gateway,
        host: host.into(),
        port: Some(5080),
        transport: Some(Transport::Udp),
        auth_username: None,
        auth_realm: None,
        auth_ha1_md5: None,
        auth_ha1_sha256: None,
        auth_password_sealed: None,
    }
}

fn emergency() -> EmergencyTable {
    let gateway = trunk("e911", "192.0.2.91");
    let route = |number: &str, dial_as: &str| EmergencyRoute {
        number: number.into(),
        dial_as: dial_as.into(),
        trunk_id: 1,
        trunk: gateway.clone(),
    };
    EmergencyTable::new(&[route("911", "911"), route("9911", "911"), route("933", "933")], &policy())
}

/// A user with one line named after `extension`.
fn callee(extension: &str, permissions: CallPermissions, forwarding: Forwarding) -> Callee {
    Callee {
        user: DialledUser {
            user: User {
                id: extension.parse().expect("digits"),
                domain_id: 1,
                name: format!("user{extension}"),
                display_name: String::new(),
                email: None,
                department: None,
                user_class_id: 1,
            },
            matched: AliasKind::Extension,
            lines: vec![LineSummary { id: 1, username: extension.into(), device_id: 1 }],
        },
        permissions,
        forwarding,
    }
}

fn route_trunk(name: &str, host: &str, priority: i16, cost: i32, strip: u8, prepend: &str) -> RouteTrunk {
    RouteTrunk { trunk_id: 1, trunk: trunk(name, host), priority, cost, strip_digits: strip, prepend: prepend.into() }
}

fn outbound(prefix: &str, category: CallCategory, trunks: Vec<RouteTrunk>) -> OutboundRoute {
    OutboundRoute { id: 1, prefix: prefix.into(), category, trunks }
}

/// The demo directory: 4000 to 4003, the routes of the NANP demo gateway for the numbers used below.
fn demo_directory(users: Vec<(&str, Callee)>) -> Directory {
    let gateway = || vec![route_trunk("gw", "192.0.2.80", 0, 0, 0, "")];
    let mut directory = Directory::default();
    for (name, callee) in users {
        directory.users.insert(name.into(), callee);
    }
    directory.routes.insert("5551234".into(), outbound("", CallCategory::Local, gateway()));
    directory.routes.insert("6175551234".into(), outbound("", CallCategory::Local, gateway()));
    directory.routes.insert("12125551234".into(), outbound("1", CallCategory::LongDistance, gateway()));
    directory.routes.insert("011442079460000".into(), outbound("011", CallCategory::International, gateway()));
    directory
}

/// Lines 4000 to 4002 and `desk-17` are registered at `sip:<line>@phone`; 4003 and everything else is not.
fn contacts(line: &str) -> Vec<Target> {
    match line {
        "4000" | "4001" | "4002" | "desk-17" => vec![Target::new(format!("sip:{line}@phone"))],
        _ => Vec::new(),
    }
}

fn decide_for(dialled: &str, caller: Caller, directory: &Directory) -> Decision {
    let destination = Destination::Local(dialled.into());
    let call = Call { invite: true, destination: &destination, caller };
    decide(&policy(), &emergency(), &call, Found::Directory(directory), &contacts)
}

fn plan_of(decision: Decision) -> RoutePlan {
    match decision {
        Decision::Route(plan) => plan,
        other => panic!("expected a route, got {other:?}"),
    }
}

fn reply_of(decision: Decision) -> (u16, String) {
    match decision {
        Decision::Respond(reply) => (reply.status.as_u16(), reply.reason.unwrap_or_default()),
        other => panic!("expected an answer, got {other:?}"),
    }
}

/// Each set's URIs, timeout of its first target, and gate.
fn shape(plan: &RoutePlan) -> Vec<(Vec<String>, Option<u64>, Gate)> {
    plan.sets
        .iter()
        .map(|set| {
            let uris = set.targets.iter().map(|t| t.target.uri.clone()).collect();
            (uris, set.targets[0].target.timeout.map(|t| t.as_secs()), set.gate)
        })
        .collect()
}

fn uris(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn forwarding(f: impl FnOnce(&mut Forwarding)) -> Forwarding {
    let mut forwarding = Forwarding::default();
    f(&mut forwarding);
    forwarding
}

#[test]
fn a_user_without_forwarding_rings_all_contacts_at_once_rfc3261_16_6() {
    let directory = demo_directory(vec![("4001", callee("4001", ALL, Forwarding::default()))]);
    let plan = plan_of(decide_for("4001", Caller::User(Some(ALL)), &directory));
    assert_eq!(shape(&plan), [(uris(&["sip:4001@phone"]), None, Gate::Always)]);
    assert!(!plan.needs_following(), "a plain call needs no following");
    assert_eq!(plan.targets(), Targets::parallel(vec![Target::new("sip:4001@phone")]));
}

#[test]
fn unconditional_forward_to_an_extension_rings_only_that_user() {
    let f = forwarding(|f| f.unconditional_target = Some("4002".into()));
    let directory =
        demo_directory(vec![("4001", callee("4001", ALL, f)), ("4002", callee("4002", ALL, Forwarding::default()))]);
    let plan = plan_of(decide_for("4001", Caller::User(Some(ALL)), &directory));
    assert_eq!(shape(&plan), [(uris(&["sip:4002@phone"]), None, Gate::Always)]);
}

#[test]
fn unconditional_forward_to_an_outside_number_goes_to_the_trunk_with_the_forwarding_users_class() {
    let f = forwarding(|f| f.unconditional_target = Some("96175551234".into()));
    let directory = demo_directory(vec![("4001", callee("4001", STUDENT, f))]);
    // A visitor (say a call from the PSTN) may not call out, but the forwarding user's class may call locally.
    let plan = plan_of(decide_for("4001", Caller::Visitor, &directory));
    assert_eq!(shape(&plan), [(uris(&["sip:6175551234@192.0.2.80:5080;transport=udp"]), None, Gate::Always)]);
    assert!(plan.sets[0].targets[0].trunk.is_some(), "a trunk target");

    let f = forwarding(|f| f.unconditional_target = Some("9011442079460000".into()));
    let directory = directory_with("4001", callee("4001", STUDENT, f));
    let plan = plan_of(decide_for("4001", Caller::Visitor, &directory));
    assert_eq!(shape(&plan), [(uris(&["sip:4001@phone"]), None, Gate::Always)], "a forbidden forward is ignored");
}

fn directory_with(name: &str, callee: Callee) -> Directory {
    demo_directory(vec![(name, callee)])
}

#[test]
fn unconditional_forward_to_a_redirect_domain_is_answered_302() {
    let f = forwarding(|f| f.unconditional_target = Some("sip:bob@partner.example".into()));
    let directory = directory_with("4001", callee("4001", ALL, f));
    let decision = decide_for("4001", Caller::User(Some(ALL)), &directory);
    let Decision::Respond(reply) = decision else { panic!("an answer") };
    assert_eq!(reply.status, StatusCode::MOVED_TEMPORARILY);
    assert_eq!(reply.headers, [("Contact".to_owned(), "<sip:bob@partner.example>".to_owned())]);
}

#[test]
fn do_not_disturb_is_busy_or_goes_to_the_busy_target() {
    let f = forwarding(|f| f.do_not_disturb = true);
    let directory = directory_with("4001", callee("4001", ALL, f));
    assert_eq!(reply_of(decide_for("4001", Caller::User(Some(ALL)), &directory)).0, 486);

    let f = forwarding(|f| {
        f.do_not_disturb = true;
        f.busy_target = Some("4002".into());
    });
    let directory =
        demo_directory(vec![("4001", callee("4001", ALL, f)), ("4002", callee("4002", ALL, Forwarding::default()))]);
    let plan = plan_of(decide_for("4001", Caller::User(Some(ALL)), &directory));
    assert_eq!(shape(&plan), [(uris(&["sip:4002@phone"]), None, Gate::Always)]);
}

#[test]
fn busy_forward_waits_for_every_phone_to_be_busy() {
    let f = forwarding(|f| f.busy_target = Some("4002".into()));
    let directory =
        demo_directory(vec![("4001", callee("4001", ALL, f)), ("4002", callee("4002", ALL, Forwarding::default()))]);
    let plan = plan_of(decide_for("4001", Caller::User(Some(ALL)), &directory));
    assert_eq!(
        shape(&plan),
        [(uris(&["sip:4001@phone"]), None, Gate::Always), (uris(&["sip:4002@phone"]), None, Gate::Busy { of: 0 })]
    );
}

#[test]
fn no_answer_forward_rings_the_user_for_the_delay_then_the_target() {
    let f = forwarding(|f| {
        f.no_answer_target = Some("alice.cueba".into());
        f.no_answer_delay = Duration::from_secs(7);
    });
    let directory = demo_directory(vec![
        ("4001", callee("4001", ALL, f)),
        ("alice.cueba", callee("4002", ALL, Forwarding::default())),
    ]);
    let plan = plan_of(decide_for("4001", Caller::User(Some(ALL)), &directory));
    assert_eq!(
        shape(&plan),
        [
            (uris(&["sip:4001@phone"]), Some(7), Gate::Always),
            (uris(&["sip:4002@phone"]), None, Gate::NoAnswer { of: 0 })
        ]
    );
}

#[test]
fn busy_and_no_answer_forwards_each_have_their_condition_and_the_same_target_any() {
    let f = forwarding(|f| {
        f.busy_target = Some("4002".into());
        f.no_answer_target = Some("96175551234".into());
    });
    let directory =
        demo_directory(vec![("4001", callee("4001", ALL, f)), ("4002", callee("4002", ALL, Forwarding::default()))]);
    let plan = plan_of(decide_for("4001", Caller::User(Some(ALL)), &directory));
    assert_eq!(
        shape(&plan),
        [
            (uris(&["sip:4001@phone"]), Some(20), Gate::Always),
            (uris(&["sip:4002@phone"]), None, Gate::Busy { of: 0 }),
            (uris(&["sip:6175551234@192.0.2.80:5080;transport=udp"]), None, Gate::NoAnswer { of: 0 }),
        ]
    );

    let f = forwarding(|f| {
        f.busy_target = Some("4002".into());
        f.no_answer_target = Some("sip:4002@campus.test".into());
    });
    let directory =
        demo_directory(vec![("4001", callee("4001", ALL, f)), ("4002", callee("4002", ALL, Forwarding::default()))]);
    let plan = plan_of(decide_for("4001", Caller::User(Some(ALL)), &directory));
    assert_eq!(
        shape(&plan),
        [
            (uris(&["sip:4001@phone"]), Some(20), Gate::Always),
            (uris(&["sip:4002@phone"]), None, Gate::Unanswered { of: 0 })
        ],
        "the same target twice is one set after any failure"
    );
}

#[test]
fn sequential_ring_rings_the_desk_then_the_mobile_each_for_its_time() {
    let f = forwarding(|f| {
        f.sequential_ring = vec![
            RingStep { target: RingTarget::OwnLines, ring_for: Duration::from_secs(15) },
            RingStep { target: RingTarget::Forward("96175551234".into()), ring_for: Duration::from_secs(20) },
        ];
        f.no_answer_target = Some("4002".into());
    });
    let mut directory =
        demo_directory(vec![("4001", callee("4001", ALL, f)), ("4002", callee("4002", ALL, Forwarding::default()))]);
    // The mobile's route has two trunks: failover between them stays within the step.
    directory.routes.insert(
        "6175551234".into(),
        outbound(
            "",
            CallCategory::Local,
            vec![route_trunk("a", "192.0.2.81", 0, 5, 0, ""), route_trunk("b", "192.0.2.82", 1, 0, 0, "")],
        ),
    );
    let plan = plan_of(decide_for("4001", Caller::User(Some(ALL)), &directory));
    assert_eq!(
        shape(&plan),
        [
            (uris(&["sip:4001@phone"]), Some(15), Gate::Always),
            (uris(&["sip:6175551234@192.0.2.81:5080;transport=udp"]), Some(20), Gate::Always),
            (uris(&["sip:6175551234@192.0.2.82:5080;transport=udp"]), Some(20), Gate::Failover { of: 1 }),
            (uris(&["sip:4002@phone"]), None, Gate::NoAnswer { of: 2 }),
        ]
    );
}

#[test]
fn a_user_with_nothing_registered_goes_to_the_no_answer_target_or_gets_480() {
    let directory = directory_with("4003", callee("4003", ALL, Forwarding::default()));
    assert_eq!(reply_of(decide_for("4003", Caller::User(Some(ALL)), &directory)).0, 480);

    let f = forwarding(|f| f.no_answer_target = Some("4002".into()));
    let directory =
        demo_directory(vec![("4003", callee("4003", ALL, f)), ("4002", callee("4002", ALL, Forwarding::default()))]);
    let plan = plan_of(decide_for("4003", Caller::User(Some(ALL)), &directory));
    assert_eq!(shape(&plan), [(uris(&["sip:4002@phone"]), None, Gate::Always)]);
}

#[test]
fn calling_permissions_are_enforced_before_any_outside_call_with_a_reason_naming_them() {
    let directory = demo_directory(Vec::new());
    let student = Caller::User(Some(STUDENT));
    assert!(matches!(decide_for("95551234", student, &directory), Decision::Route(_)), "local");
    assert!(matches!(decide_for("96175551234", student, &directory), Decision::Route(_)), "local area code");
    assert_eq!(
        reply_of(decide_for("912125551234", student, &directory)),
        (403, "Forbidden: long distance calls not permitted".to_owned())
    );
    assert_eq!(
        reply_of(decide_for("9011442079460000", student, &directory)),
        (403, "Forbidden: international calls not permitted".to_owned())
    );
    assert!(matches!(decide_for("9011442079460000", Caller::User(Some(ALL)), &directory), Decision::Route(_)));
    assert_eq!(
        reply_of(decide_for("95551234", Caller::Visitor, &directory)),
        (403, "Forbidden: local calls not permitted".to_owned()),
        "no outside call without an authenticated caller of the domain"
    );
}

#[test]
fn internal_calls_need_the_internal_permission() {
    let directory = directory_with("4001", callee("4001", ALL, Forwarding::default()));
    assert_eq!(
        reply_of(decide_for("4001", Caller::User(Some(NOTHING)), &directory)),
        (403, "Forbidden: internal calls not permitted".to_owned())
    );
    assert!(matches!(decide_for("4001", Caller::Visitor, &directory), Decision::Route(_)), "calls from outside");
    assert!(matches!(decide_for("4001", Caller::User(None), &directory), Decision::Route(_)), "class unknown");
}

#[test]
fn the_route_category_is_checked_too() {
    let mut directory = demo_directory(Vec::new());
    // A route that says international for a number the plan calls local: both must be allowed.
    directory.routes.insert(
        "5551234".into(),
        outbound("555", CallCategory::International, vec![route_trunk("gw", "192.0.2.80", 0, 0, 0, "")]),
    );
    assert_eq!(
        reply_of(decide_for("95551234", Caller::User(Some(STUDENT)), &directory)),
        (403, "Forbidden: international calls not permitted".to_owned())
    );
}

#[test]
fn emergency_numbers_are_always_allowed_and_go_to_their_gateway_without_prefix() {
    let directory = demo_directory(Vec::new());
    for (dialled, sent) in [("911", "911"), ("9911", "911"), ("933", "933")] {
        let plan = plan_of(decide_for(dialled, Caller::User(Some(NOTHING)), &directory));
        let expected = format!("sip:{sent}@192.0.2.91:5080;transport=udp");
        assert_eq!(shape(&plan), [(vec![expected], None, Gate::Always)], "{dialled}");
        assert!(plan.needs_following(), "a trunk target");
    }
    let plan = plan_of(decide_for("911", Caller::User(None), &directory));
    assert_eq!(plan.sets.len(), 1, "also with the class unknown");
    assert_eq!(
        reply_of(decide_for("911", Caller::Visitor, &directory)).0,
        403,
        "strangers are not relayed to the emergency gateway"
    );
}

#[test]
fn emergency_calls_need_no_database() {
    let destination = Destination::Local("911".into());
    let call = Call { invite: true, destination: &destination, caller: Caller::User(None) };
    let decision = decide(&policy(), &emergency(), &call, Found::Unavailable { known_line: false }, &contacts);
    assert!(matches!(decision, Decision::Route(_)), "{decision:?}");
}

#[test]
fn least_cost_routing_tries_each_trunk_by_priority_then_cost_with_its_digit_manipulation() {
    let mut directory = demo_directory(Vec::new());
    directory.routes.insert(
        "12125551234".into(),
        outbound(
            "1",
            CallCategory::LongDistance,
            vec![
                route_trunk("expensive", "192.0.2.83", 0, 9, 0, ""),
                route_trunk("backup", "192.0.2.84", 1, 0, 1, "+1"),
                route_trunk("cheap", "192.0.2.85", 0, 2, 1, "00"),
            ],
        ),
    );
    let plan = plan_of(decide_for("912125551234", Caller::User(Some(ALL)), &directory));
    assert_eq!(
        shape(&plan),
        [
            (uris(&["sip:002125551234@192.0.2.85:5080;transport=udp"]), None, Gate::Always),
            (uris(&["sip:12125551234@192.0.2.83:5080;transport=udp"]), None, Gate::Failover { of: 0 }),
            (uris(&["sip:+12125551234@192.0.2.84:5080;transport=udp"]), None, Gate::Failover { of: 1 }),
        ]
    );
    let names: Vec<_> = plan.sets.iter().map(|s| s.targets[0].trunk.as_ref().map(|t| t.name.clone())).collect();
    assert_eq!(names, [Some("cheap".into()), Some("expensive".into()), Some("backup".into())]);
}

#[test]
fn numbers_outside_the_plan_or_without_route_or_trunk_are_refused() {
    let mut directory = demo_directory(Vec::new());
    assert_eq!(
        reply_of(decide_for("912345", Caller::User(Some(ALL)), &directory)),
        (404, "Not Found: not in the number plan".into())
    );
    assert_eq!(
        reply_of(decide_for("92125559999", Caller::User(Some(ALL)), &directory)),
        (404, "Not Found: no route".into())
    );
    directory.routes.insert("5559999".into(), outbound("", CallCategory::Local, Vec::new()));
    assert_eq!(reply_of(decide_for("95559999", Caller::User(Some(ALL)), &directory)).0, 503);
    assert_eq!(reply_of(decide_for("95551234", Caller::User(None), &directory)).0, 503, "class unknown");
    assert_eq!(reply_of(decide_for("4999", Caller::User(Some(ALL)), &directory)).0, 404);
}

#[test]
fn an_alias_wins_over_an_outside_number_that_looks_the_same() {
    let directory = directory_with("95551234", callee("4001", ALL, Forwarding::default()));
    let plan = plan_of(decide_for("95551234", Caller::User(Some(STUDENT)), &directory));
    assert_eq!(shape(&plan), [(uris(&["sip:4001@phone"]), None, Gate::Always)]);
}

#[test]
fn requests_other_than_invite_reach_the_contacts_without_features() {
    let f = forwarding(|f| f.unconditional_target = Some("4002".into()));
    let directory = demo_directory(vec![
        ("4001", callee("4001", NOTHING, f)),
        ("4002", callee("4002", ALL, Forwarding::default())),
    ]);
    let destination = Destination::Local("4001".into());
    let call = Call { invite: false, destination: &destination, caller: Caller::User(Some(NOTHING)) };
    let plan = plan_of(decide(&policy(), &emergency(), &call, Found::Directory(&directory), &contacts));
    assert_eq!(shape(&plan), [(uris(&["sip:4001@phone"]), None, Gate::Always)]);
    let destination = Destination::Local("95551234".into());
    let call = Call { invite: false, destination: &destination, caller: Caller::User(Some(ALL)) };
    let decision = decide(&policy(), &emergency(), &call, Found::Directory(&directory), &contacts);
    assert_eq!(reply_of(decision).0, 404, "a MESSAGE does not go to the PSTN");
}

#[test]
fn without_the_database_a_dialled_line_still_rings() {
    let destination = Destination::Local("4001".into());
    let call = Call { invite: true, destination: &destination, caller: Caller::User(None) };
    let decide_with = |known_line, destination: &Destination| {
        let call = Call { destination, ..call.clone() };
        decide(&policy(), &emergency(), &call, Found::Unavailable { known_line }, &contacts)
    };
    assert!(matches!(decide_with(true, &destination), Decision::Route(_)));
    assert_eq!(reply_of(decide_with(true, &Destination::Local("4003".into()))).0, 480);
    assert_eq!(reply_of(decide_with(false, &Destination::Local("4003".into()))).0, 503);
}

#[test]
fn other_domains_need_the_campus_permission_unless_redirected() {
    let directory = demo_directory(Vec::new());
    let call_to = |uri: &str, caller| {
        let destination = Destination::Remote(uri.into());
        let call = Call { invite: true, destination: &destination, caller };
        decide(&policy(), &emergency(), &call, Found::Directory(&directory), &contacts)
    };
    assert_eq!(call_to("sip:bob@elsewhere.example", Caller::User(Some(ALL))), Decision::FollowRoute);
    assert_eq!(
        reply_of(call_to("sip:bob@elsewhere.example", Caller::User(Some(NOTHING)))),
        (403, "Forbidden: campus calls not permitted".to_owned())
    );
    assert_eq!(reply_of(call_to("sip:bob@Partner.Example", Caller::User(Some(NOTHING)))).0, 302);
}

#[test]
fn destinations_are_uris_or_dialled_strings() {
    let policy = policy();
    let local = |s: &str| Some(Destination::Local(s.to_owned()));
    assert_eq!(policy.destination("4002"), local("4002"));
    assert_eq!(policy.destination(" alice.cueba "), local("alice.cueba"));
    assert_eq!(policy.destination("sip:4002@Campus.Test"), local("4002"));
    assert_eq!(policy.destination("tel:+1-617-555-1234"), local("+16175551234"));
    assert_eq!(
        policy.destination("sip:bob@partner.example"),
        Some(Destination::Remote("sip:bob@partner.example".into()))
    );
    assert_eq!(policy.destination("mailto:bob@example.com"), None);
    assert_eq!(policy.destination("bob@example.com"), None);
    assert_eq!(policy.destination(""), None);
}

#[test]
fn forward_lookups_list_each_local_target_once() {
    let f = forwarding(|f| {
        f.unconditional_target = Some("4002".into());
        f.busy_target = Some("sip:4002@campus.test".into());
        f.no_answer_target = Some("sip:bob@partner.example".into());
        f.sequential_ring = vec![
            RingStep { target: RingTarget::OwnLines, ring_for: Duration::from_secs(5) },
            RingStep { target: RingTarget::Forward("96175551234".into()), ring_for: Duration::from_secs(5) },
        ];
    });
    assert_eq!(policy().forward_lookups(&f), ["4002", "96175551234"]);
}

#[test]
fn a_registered_line_username_that_is_no_alias_still_rings() {
    let directory = demo_directory(Vec::new());
    let plan = plan_of(decide_for("desk-17", Caller::User(Some(ALL)), &directory));
    assert_eq!(shape(&plan), [(uris(&["sip:desk-17@phone"]), None, Gate::Always)]);
    assert_eq!(
        reply_of(decide_for("desk-17", Caller::User(Some(NOTHING)), &directory)),
        (403, "Forbidden: internal calls not permitted".to_owned())
    );
    assert_eq!(reply_of(decide_for("4003", Caller::User(Some(ALL)), &directory)).0, 404, "not registered, no alias");
}
