//! Every query function against a real PostgreSQL: what is written reads back the same, and lookups find what
//! the proxy and registrar will ask for.
#![allow(clippy::expect_used, clippy::panic)] // Tests fail loudly, with the reason in the message.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use carillon_db::{
    AliasKind, CallCategory, CallRecord, Disposition, Forwarding, Node, Registration, RingStep, RingTarget,
    UpsertOutcome,
};
use carillon_sip::auth::{Algorithm, Ha1, HashFunction, QopAuth, ResponseInput};
use carillon_sip::target::Transport;
use common::{ALICE_LINE, ALICE_PASSWORD, DOMAIN, REALM, campus};

/// A time the database stores exactly (whole microseconds).
fn at(seconds: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + seconds)
}

#[tokio::test]
async fn line_credentials_hold_the_ha1_of_username_realm_password() {
    let pool = common::migrated_database().await;
    let c = campus(&pool).await;

    let found = carillon_db::line_credentials(&pool, ALICE_LINE, REALM).await.expect("lookup").expect("line exists");
    assert_eq!((found.line_id, found.user_id, found.domain_id), (c.line_id, c.alice, c.domain_id));
    assert_eq!((found.username.as_str(), found.realm.as_str()), (ALICE_LINE, REALM));
    // RFC 7616 §3.4.2: A1 = username:realm:password, hashed with the algorithm's hash function.
    for hash in [HashFunction::Md5, HashFunction::Sha256, HashFunction::Sha512_256] {
        assert_eq!(found.ha1(hash), Some(&Ha1::compute(hash, ALICE_LINE, REALM, ALICE_PASSWORD)), "{hash:?}");
    }

    // The stored HA1 answers a challenge the way the phone, knowing the password, computes it (RFC 7616 §3.4.1).
    let input = ResponseInput {
        algorithm: Algorithm::Sha256,
        nonce: "abc123",
        qop: Some(QopAuth { nonce_count: 1, cnonce: "0a4f113b" }),
        method: "REGISTER",
        uri: "sip:campus.test",
    };
    let phone = Ha1::compute(HashFunction::Sha256, ALICE_LINE, REALM, ALICE_PASSWORD);
    assert_eq!(input.response(found.ha1(HashFunction::Sha256).expect("sha-256")), input.response(&phone));

    // Username lookups ignore case; a wrong realm or name finds nothing.
    let shouting = carillon_db::line_credentials(&pool, "ALICE-DESK", REALM).await.expect("lookup");
    assert_eq!(shouting.map(|l| l.line_id), Some(c.line_id));
    assert_eq!(carillon_db::line_credentials(&pool, ALICE_LINE, "other.test").await.expect("lookup"), None);
    assert_eq!(carillon_db::line_credentials(&pool, "bob", REALM).await.expect("lookup"), None);
}

async fn next_change(changes: &mut carillon_db::LineChanges) -> carillon_db::LineChange {
    tokio::time::timeout(Duration::from_secs(10), changes.next())
        .await
        .expect("an announcement in time")
        .expect("listening")
        .expect("connected")
}

/// Migration 0009: a changed, created or deleted line is announced by its lower-case username, a changed realm as
/// every line, so a proxy serving credentials from memory can drop them.
#[tokio::test]
async fn line_changes_are_announced_by_username_and_a_realm_change_as_every_line() {
    let pool = common::migrated_database().await;
    let c = campus(&pool).await;
    let mut changes = carillon_db::listen_line_changes(&pool).await.expect("listen");
    sqlx::query("UPDATE lines SET ha1_md5 = md5('rotated') WHERE id = $1")
        .bind(c.line_id)
        .execute(&pool)
        .await
        .expect("rotate the secret");
    assert_eq!(next_change(&mut changes).await, carillon_db::LineChange::Line(ALICE_LINE.to_lowercase()));
    sqlx::query("UPDATE domains SET realm = 'other.realm' WHERE id = $1")
        .bind(c.domain_id)
        .execute(&pool)
        .await
        .expect("change the realm");
    assert_eq!(next_change(&mut changes).await, carillon_db::LineChange::All);
    sqlx::query("DELETE FROM lines WHERE id = $1").bind(c.line_id).execute(&pool).await.expect("delete the line");
    assert_eq!(next_change(&mut changes).await, carillon_db::LineChange::Line(ALICE_LINE.to_lowercase()));
}

#[tokio::test]
async fn a_dialled_extension_or_name_resolves_to_the_user_and_lines() {
    let pool = common::migrated_database().await;
    let c = campus(&pool).await;
    let softphone = carillon_db::add_device(&pool, c.domain_id, "Alice's laptop", None).await.expect("device");
    let second_line = carillon_db::add_line(
        &pool,
        &carillon_db::NewLine { user_id: c.alice, device_id: softphone, username: "alice-soft", password: "x" },
    )
    .await
    .expect("second line");

    let by_extension = carillon_db::resolve_dialled(&pool, DOMAIN, "4711").await.expect("resolve").expect("found");
    assert_eq!(by_extension.matched, AliasKind::Extension);
    assert_eq!(by_extension.user.id, c.alice);
    assert_eq!(by_extension.user.name, "alice");
    assert_eq!(by_extension.user.user_class_id, c.class_id);
    let lines: Vec<(i64, &str, i64)> =
        by_extension.lines.iter().map(|l| (l.id, l.username.as_str(), l.device_id)).collect();
    assert_eq!(lines, [(c.line_id, ALICE_LINE, c.device_id), (second_line, "alice-soft", softphone)]);

    let by_name = carillon_db::resolve_dialled(&pool, "Campus.Test", "Alice.Cueba").await.expect("resolve");
    let by_name = by_name.expect("names and domains ignore case");
    assert_eq!(by_name.matched, AliasKind::Name);
    assert_eq!(by_name.user, by_extension.user);
    assert_eq!(by_name.lines, by_extension.lines);

    assert_eq!(carillon_db::resolve_dialled(&pool, DOMAIN, "4712").await.expect("resolve"), None);
    assert_eq!(carillon_db::resolve_dialled(&pool, "other.test", "4711").await.expect("resolve"), None);
    // The login name alone is not dialable: only aliases are.
    assert_eq!(carillon_db::resolve_dialled(&pool, DOMAIN, "alice").await.expect("resolve"), None);

    // A user without lines still resolves (the proxy then forwards or answers 480).
    let bob = common::add_user(&pool, c.domain_id, c.class_id, "bob").await;
    carillon_db::add_alias(&pool, c.domain_id, bob, "4712").await.expect("alias");
    let bob_found = carillon_db::resolve_dialled(&pool, DOMAIN, "4712").await.expect("resolve").expect("bob");
    assert_eq!((bob_found.user.id, bob_found.lines.len()), (bob, 0));
}

#[tokio::test]
async fn forwarding_round_trips_and_defaults_to_none() {
    let pool = common::migrated_database().await;
    let c = campus(&pool).await;
    assert_eq!(carillon_db::forwarding(&pool, c.alice).await.expect("read"), Forwarding::default());

    let desk_then_mobile = Forwarding {
        do_not_disturb: false,
        unconditional_target: None,
        busy_target: Some("alice.voicemail".into()),
        no_answer_target: Some("4000".into()),
        no_answer_delay: Duration::from_secs(25),
        sequential_ring: vec![
            RingStep { target: RingTarget::OwnLines, ring_for: Duration::from_secs(15) },
            RingStep { target: RingTarget::Forward("915551234567".into()), ring_for: Duration::from_secs(20) },
        ],
    };
    carillon_db::set_forwarding(&pool, c.alice, &desk_then_mobile).await.expect("write");
    assert_eq!(carillon_db::forwarding(&pool, c.alice).await.expect("read"), desk_then_mobile);

    // Writing again replaces, steps included.
    let dnd = Forwarding { do_not_disturb: true, unconditional_target: Some("4712".into()), ..Forwarding::default() };
    carillon_db::set_forwarding(&pool, c.alice, &dnd).await.expect("rewrite");
    assert_eq!(carillon_db::forwarding(&pool, c.alice).await.expect("read"), dnd);

    let fractional = Forwarding { no_answer_delay: Duration::from_millis(1500), ..Forwarding::default() };
    assert!(matches!(
        carillon_db::set_forwarding(&pool, c.alice, &fractional).await,
        Err(carillon_db::Error::InvalidInput { what: "no_answer_delay", .. })
    ));
    let too_long = Forwarding { no_answer_delay: Duration::from_secs(3600), ..Forwarding::default() };
    let refused = carillon_db::set_forwarding(&pool, c.alice, &too_long).await;
    assert_eq!(common::violated(refused).1, "forwarding_no_answer_delay_range");
    assert_eq!(carillon_db::forwarding(&pool, c.alice).await.expect("read"), dnd, "a refused write changes nothing");
}

fn binding(line_id: i64, contact: &str, call_id: &str, cseq: u32) -> Registration {
    // One id per contact, as distinct as the registrar's random ones.
    let binding_id =
        contact.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    Registration {
        binding_id,
        line_id,
        aor: "sip:alice-desk@campus.test".into(),
        contact_uri: contact.into(),
        q_thousandths: Some(500),
        received: SocketAddr::from(([198, 51, 100, 7], 40123)),
        transport: Transport::Tcp,
        local: "[2001:db8::1]:5060".parse().expect("local address"),
        path: vec!["<sip:edge.campus.test;lr>".into()],
        instance_id: None,
        reg_id: None,
        call_id: call_id.into(),
        cseq,
        registered_at: at(0),
        expires_at: at(3600),
        user_agent: Some("Yealink SIP-T54W".into()),
        node_id: None,
    }
}

/// RFC 3261 §10.3 step 7 and RFC 5626 §6: refresh, reorder protection, flow replacement, removal.
#[tokio::test]
async fn registrations_upsert_list_and_delete_like_a_registrar() {
    let pool = common::migrated_database().await;
    let c = campus(&pool).await;
    carillon_db::upsert_node(
        &pool,
        &Node {
            id: "proxy-1".into(),
            version: "0.1.0".into(),
            schema_version: carillon_db::latest_schema_version(),
            address: "sip:127.0.0.1:5060;transport=tcp".into(),
            started_at: at(0),
            heartbeat_at: at(0),
        },
    )
    .await
    .expect("node");

    let mut desk = binding(c.line_id, "sip:alice@198.51.100.7:40123;transport=tcp", "reg-1", 1);
    desk.node_id = Some("proxy-1".into());
    assert_eq!(carillon_db::upsert_registration(&pool, &desk).await.expect("add"), UpsertOutcome::Written);
    let listed = carillon_db::registrations_for_aor(&pool, &desk.aor, at(0)).await.expect("list");
    assert_eq!(listed, [desk.clone()]);

    // Same Call-ID: only a higher CSeq refreshes.
    let replay = Registration { expires_at: at(7200), ..desk.clone() };
    assert_eq!(carillon_db::upsert_registration(&pool, &replay).await.expect("replay"), UpsertOutcome::Stale);
    let older = Registration { cseq: 0, ..replay.clone() };
    assert_eq!(carillon_db::upsert_registration(&pool, &older).await.expect("older"), UpsertOutcome::Stale);
    let refresh = Registration { cseq: 2, ..replay.clone() };
    assert_eq!(carillon_db::upsert_registration(&pool, &refresh).await.expect("refresh"), UpsertOutcome::Written);
    assert_eq!(
        carillon_db::registrations_for_aor(&pool, &desk.aor, at(0)).await.expect("list"),
        std::slice::from_ref(&refresh)
    );
    // Another Call-ID (the phone rebooted) replaces whatever its CSeq.
    let rebooted = Registration { call_id: "reg-2".into(), cseq: 1, ..refresh.clone() };
    assert_eq!(carillon_db::upsert_registration(&pool, &rebooted).await.expect("reboot"), UpsertOutcome::Written);

    // An outbound flow (RFC 5626): a new contact of the same instance and reg-id replaces the old binding.
    let instance = "<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>";
    let flow = Registration {
        instance_id: Some(instance.into()),
        reg_id: Some(1),
        q_thousandths: None,
        path: Vec::new(),
        user_agent: None,
        ..binding(c.line_id, "sip:alice@192.0.2.50:5060", "flow-1", 1)
    };
    carillon_db::upsert_registration(&pool, &flow).await.expect("flow");
    let moved = Registration { contact_uri: "sip:alice@192.0.2.51:6000".into(), cseq: 2, ..flow.clone() };
    carillon_db::upsert_registration(&pool, &moved).await.expect("moved flow");
    let listed = carillon_db::registrations_for_aor(&pool, &desk.aor, at(0)).await.expect("list");
    assert_eq!(listed, [moved.clone(), rebooted.clone()], "sorted by contact; the old flow contact is gone");

    // Expiry: listings skip lapsed bindings; warm start sees every unexpired binding of every AOR.
    let short = Registration { expires_at: at(60), ..binding(c.line_id, "sip:alice@203.0.113.9", "short", 1) };
    carillon_db::upsert_registration(&pool, &short).await.expect("short");
    assert_eq!(carillon_db::registrations_for_aor(&pool, &desk.aor, at(0)).await.expect("list").len(), 3);
    assert_eq!(carillon_db::registrations_for_aor(&pool, &desk.aor, at(60)).await.expect("list").len(), 2);
    let other_aor = Registration { aor: "sip:4711@campus.test".into(), ..rebooted.clone() };
    carillon_db::upsert_registration(&pool, &other_aor).await.expect("other aor");
    let warm = carillon_db::unexpired_registrations(&pool, at(61)).await.expect("warm start");
    assert_eq!(warm, [other_aor.clone(), moved.clone(), rebooted.clone()], "sorted by AOR, then contact");
    assert_eq!(carillon_db::delete_expired_registrations(&pool, at(61)).await.expect("purge"), 1);

    // Removal of one contact, then of all (Contact: *).
    assert!(carillon_db::delete_registration(&pool, &desk.aor, &moved.contact_uri).await.expect("delete"));
    assert!(!carillon_db::delete_registration(&pool, &desk.aor, &moved.contact_uri).await.expect("again"));
    assert_eq!(carillon_db::delete_registrations_for_aor(&pool, &desk.aor).await.expect("star"), 1);
    assert_eq!(carillon_db::registrations_for_aor(&pool, &desk.aor, at(0)).await.expect("list"), []);
    assert_eq!(carillon_db::unexpired_registrations(&pool, at(0)).await.expect("all"), [other_aor]);

    // Input the schema cannot hold is refused before it is sent.
    let bad_q = Registration { q_thousandths: Some(1001), ..desk.clone() };
    assert!(matches!(
        carillon_db::upsert_registration(&pool, &bad_q).await,
        Err(carillon_db::Error::InvalidInput { what: "q_thousandths", .. })
    ));
    let reg_id_alone = Registration { reg_id: Some(1), instance_id: None, ..desk };
    assert!(matches!(
        carillon_db::upsert_registration(&pool, &reg_id_alone).await,
        Err(carillon_db::Error::InvalidInput { what: "reg_id", .. })
    ));
}

/// The registrar's binding id (all 64 bits) and registration time read back as written, unique per AOR: a write
/// under an id the AOR already holds replaces that binding, whatever its contact.
#[tokio::test]
async fn registrations_keep_the_binding_id_and_registration_time() {
    let pool = common::migrated_database().await;
    let c = campus(&pool).await;
    let high = Registration {
        binding_id: u64::MAX,
        registered_at: at(17),
        ..binding(c.line_id, "sip:alice@198.51.100.7:40123", "reg-1", 1)
    };
    let sign_bit = Registration {
        binding_id: 1 << 63,
        registered_at: at(42),
        ..binding(c.line_id, "sip:alice@198.51.100.8:40123", "reg-2", 1)
    };
    let elsewhere = Registration { aor: "sip:4711@campus.test".into(), ..high.clone() };
    for r in [&high, &sign_bit, &elsewhere] {
        assert_eq!(carillon_db::upsert_registration(&pool, r).await.expect("write"), UpsertOutcome::Written);
    }
    let warm = carillon_db::unexpired_registrations(&pool, at(0)).await.expect("warm start");
    assert_eq!(warm, [elsewhere.clone(), high.clone(), sign_bit.clone()], "the same id in another AOR is its own");

    let renumbered = Registration { contact_uri: "sip:alice@198.51.100.9:40123".into(), cseq: 2, ..sign_bit.clone() };
    assert_eq!(carillon_db::upsert_registration(&pool, &renumbered).await.expect("same id"), UpsertOutcome::Written);
    let listed = carillon_db::registrations_for_aor(&pool, &high.aor, at(0)).await.expect("list");
    assert_eq!(listed, [high, renumbered], "the binding with the id was replaced, not doubled");
}

#[tokio::test]
async fn concurrent_writes_of_one_aor_leave_one_binding_per_contact() {
    let pool = common::migrated_database().await;
    let c = campus(&pool).await;
    let mut writers = Vec::new();
    for cseq in 1..=20u32 {
        let pool = pool.clone();
        let registration = binding(c.line_id, "sip:alice@198.51.100.7:40123", "same-call", cseq);
        writers.push(tokio::spawn(async move { carillon_db::upsert_registration(&pool, &registration).await }));
    }
    for writer in writers {
        writer.await.expect("writer task").expect("no writer fails on a race");
    }
    let listed = carillon_db::registrations_for_aor(&pool, "sip:alice-desk@campus.test", at(0)).await.expect("list");
    assert_eq!(listed.len(), 1);
}

#[tokio::test]
async fn call_records_round_trip_with_derived_durations_and_idempotent_insert() {
    let pool = common::migrated_database().await;
    let start = at(0) + Duration::from_micros(250_000);
    let answered = CallRecord {
        accountcode: "physics".into(),
        src: "4711".into(),
        dst: "4712".into(),
        dcontext: "campus.test".into(),
        clid: "\"Alice Cueba\" <4711>".into(),
        channel: "alice-desk".into(),
        dstchannel: "bob-desk".into(),
        start,
        answer: Some(start + Duration::from_millis(4_600)),
        end: start + Duration::from_millis(65_300),
        disposition: Disposition::Answered,
        amaflags: carillon_db::AmaFlags::Billing,
        userfield: "lab call".into(),
        uniqueid: "proxy-1.1".into(),
        linkedid: "proxy-1.1".into(),
        peeraccount: "history".into(),
        call_id: "a84b4c76e66710@198.51.100.7".into(),
        node_id: Some("proxy-1".into()),
    };
    assert!(carillon_db::insert_call_record(&pool, &answered).await.expect("insert"));
    let stored = carillon_db::call_record(&pool, "proxy-1.1").await.expect("read").expect("stored");
    assert_eq!(stored.record, answered);
    // Asterisk rounds: 65.3 s of call, 60.7 s billed.
    assert_eq!((stored.duration, stored.billsec), (65, 61));

    // A retried write of the same call changes nothing.
    let retried = CallRecord { dst: "9999".into(), ..answered.clone() };
    assert!(!carillon_db::insert_call_record(&pool, &retried).await.expect("retry"));
    assert_eq!(carillon_db::call_record(&pool, "proxy-1.1").await.expect("read").expect("stored").record, answered);

    for (n, disposition) in
        [Disposition::NoAnswer, Disposition::Busy, Disposition::Failed, Disposition::Cancel].into_iter().enumerate()
    {
        let uniqueid = format!("proxy-1.{}", n + 2);
        let record = CallRecord {
            answer: None,
            disposition,
            dstchannel: String::new(),
            uniqueid: uniqueid.clone(),
            linkedid: "proxy-1.1".into(),
            amaflags: carillon_db::AmaFlags::default(),
            node_id: None,
            ..answered.clone()
        };
        assert!(carillon_db::insert_call_record(&pool, &record).await.expect("insert"));
        let stored = carillon_db::call_record(&pool, &uniqueid).await.expect("read").expect("stored");
        assert_eq!(stored.record, record);
        assert_eq!((stored.duration, stored.billsec), (65, 0), "{disposition:?}");
    }
    assert_eq!(carillon_db::call_record(&pool, "missing").await.expect("read"), None);
}

#[tokio::test]
async fn outbound_routes_pick_the_longest_prefix_then_priority_then_cost() {
    let pool = common::migrated_database().await;
    let c = campus(&pool).await;
    let cheap = carillon_db::add_trunk(&pool, &common::gateway("cheap-gw")).await.expect("trunk");
    let dear = carillon_db::add_trunk(&pool, &common::gateway("dear-gw")).await.expect("trunk");
    let itsp_trunk = carillon_db::Trunk {
        name: "itsp".into(),
        kind: carillon_db::TrunkKind::Provider,
        host: "sip.example.net".into(),
        port: None,
        transport: None,
        auth_username: Some("campus-account".into()),
        auth_realm: Some("sip.example.net".into()),
        auth_ha1_md5: Some(Ha1::compute(HashFunction::Md5, "campus-account", "sip.example.net", "s3cret")),
        auth_ha1_sha256: None,
        auth_password_sealed: None,
    };
    let itsp = carillon_db::add_trunk(&pool, &itsp_trunk).await.expect("provider trunk");
    let local = carillon_db::add_outbound_route(&pool, "", CallCategory::Local, "everything else").await.expect("r");
    let international =
        carillon_db::add_outbound_route(&pool, "011", CallCategory::International, "abroad").await.expect("route");
    carillon_db::add_route_trunk(&pool, local, dear, 0, 10, 0, "").await.expect("link");
    carillon_db::add_route_trunk(&pool, local, cheap, 0, 5, 0, "").await.expect("link");
    carillon_db::add_route_trunk(&pool, international, itsp, 0, 0, 3, "+").await.expect("link");
    carillon_db::add_route_trunk(&pool, international, dear, 1, 0, 0, "").await.expect("link");

    let route = carillon_db::outbound_route(&pool, "01149301234").await.expect("route").expect("matches");
    assert_eq!((route.id, route.prefix.as_str(), route.category), (international, "011", CallCategory::International));
    let order: Vec<&str> = route.trunks.iter().map(|t| t.trunk.name.as_str()).collect();
    assert_eq!(order, ["itsp", "dear-gw"], "priority first");
    assert_eq!(route.trunks[0].trunk, itsp_trunk, "a provider trunk reads back with its credentials");
    assert_eq!(route.trunks[0].trunk_id, itsp);
    assert_eq!(route.trunks[0].number_for("01149301234"), "+49301234");

    let route = carillon_db::outbound_route(&pool, "5551234").await.expect("route").expect("catch-all");
    assert_eq!(route.category, CallCategory::Local);
    let order: Vec<&str> = route.trunks.iter().map(|t| t.trunk.name.as_str()).collect();
    assert_eq!(order, ["cheap-gw", "dear-gw"], "equal priority: cheaper first");

    // A disabled trunk drops out of routing.
    sqlx::query("UPDATE trunks SET enabled = false WHERE id = $1").bind(cheap).execute(&pool).await.expect("disable");
    let route = carillon_db::outbound_route(&pool, "5551234").await.expect("route").expect("catch-all");
    assert_eq!(route.trunks.iter().map(|t| t.trunk_id).collect::<Vec<_>>(), [dear]);

    // Whether the caller may use it is the class's decision; emergency is always allowed.
    let permissions = carillon_db::calling_permissions(&pool, c.alice).await.expect("read").expect("alice");
    assert_eq!(permissions, common::STAFF);
    assert!(permissions.allows(CallCategory::Local));
    assert!(!permissions.allows(CallCategory::International));
    let nothing = carillon_db::CallPermissions {
        internal: false,
        campus: false,
        local: false,
        long_distance: false,
        international: false,
    };
    assert!(nothing.allows(CallCategory::Emergency));
    assert_eq!(carillon_db::calling_permissions(&pool, c.alice + 1000).await.expect("read"), None);
}

#[tokio::test]
async fn a_trunk_is_found_by_its_name_ignoring_case_even_when_disabled() {
    let pool = common::migrated_database().await;
    let itsp = carillon_db::Trunk {
        name: "ITSP-by-name".into(),
        kind: carillon_db::TrunkKind::Provider,
        host: "[2001:db8::5]".into(),
        port: Some(5080),
        transport: Some(Transport::Tcp),
        auth_username: Some("campus-account".into()),
        auth_realm: Some("sip.example.net".into()),
        auth_ha1_md5: Some(Ha1::compute(HashFunction::Md5, "campus-account", "sip.example.net", "s3cret")),
        auth_ha1_sha256: Some(Ha1::compute(HashFunction::Sha256, "campus-account", "sip.example.net", "s3cret")),
        auth_password_sealed: Some(vec![1; 40]),
    };
    carillon_db::add_trunk(&pool, &itsp).await.expect("trunk");
    carillon_db::add_trunk(&pool, &common::gateway("other-gw")).await.expect("trunk");
    sqlx::query("UPDATE trunks SET enabled = false").execute(&pool).await.expect("disable");
    let found = carillon_db::trunk_by_name(&pool, "itsp-BY-name").await.expect("lookup");
    assert_eq!(found, Some(itsp), "every column reads back");
    assert_eq!(carillon_db::trunk_by_name(&pool, "nobody").await.expect("lookup"), None);
}

#[tokio::test]
async fn emergency_numbers_route_to_their_gateway_even_when_it_is_disabled() {
    let pool = common::migrated_database().await;
    let gateway = carillon_db::add_trunk(&pool, &common::gateway("e911")).await.expect("gateway");
    carillon_db::add_emergency_number(&pool, "911", gateway, "911", "emergency").await.expect("911");
    carillon_db::add_emergency_number(&pool, "9911", gateway, "911", "after the outside prefix").await.expect("9911");
    sqlx::query("UPDATE trunks SET enabled = false").execute(&pool).await.expect("disable");

    let route = carillon_db::emergency_route(&pool, "9911").await.expect("lookup").expect("emergency");
    assert_eq!((route.number.as_str(), route.dial_as.as_str(), route.trunk_id), ("9911", "911", gateway));
    assert_eq!(route.trunk, common::gateway("e911"));
    assert_eq!(carillon_db::emergency_route(&pool, "4711").await.expect("lookup"), None);
}

#[tokio::test]
async fn nodes_announce_themselves_and_heartbeat() {
    let pool = common::migrated_database().await;
    let node = Node {
        id: "proxy-1".into(),
        version: "0.1.0".into(),
        schema_version: carillon_db::latest_schema_version(),
        address: "sip:10.0.0.5:5060;transport=tcp".into(),
        started_at: at(0),
        heartbeat_at: at(0),
    };
    carillon_db::upsert_node(&pool, &node).await.expect("announce");
    assert!(carillon_db::node_heartbeat(&pool, "proxy-1", at(30)).await.expect("heartbeat"));
    assert!(!carillon_db::node_heartbeat(&pool, "proxy-2", at(30)).await.expect("unknown node"));
    let restarted = Node { version: "0.2.0".into(), started_at: at(100), heartbeat_at: at(100), ..node.clone() };
    carillon_db::upsert_node(&pool, &restarted).await.expect("restart");
    assert_eq!(carillon_db::nodes(&pool).await.expect("list"), [restarted]);
}

#[tokio::test]
async fn schema_version_tracks_the_migrations() {
    let pool = common::empty_database().await;
    assert_eq!(carillon_db::schema_version(&pool).await.expect("empty"), None);
    carillon_db::migrate(&pool).await.expect("migrate");
    assert_eq!(carillon_db::schema_version(&pool).await.expect("migrated"), Some(carillon_db::latest_schema_version()));
    assert!(carillon_db::latest_schema_version() >= 7);
}

#[tokio::test]
async fn connect_reports_a_refused_login() {
    let url = common::server().url();
    let (user_and_password, rest) = url.split_once('@').expect("url has credentials");
    let (user, _) = user_and_password.rsplit_once(':').expect("url has a password");
    let result = carillon_db::connect(&format!("{user}:wrong-password@{rest}")).await;
    assert!(matches!(result, Err(carillon_db::Error::Connect(_))), "{result:?}");
}
