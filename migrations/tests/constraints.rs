//! The rules the schema enforces by itself, whoever writes to it.
#![allow(clippy::expect_used, clippy::panic)] // Tests fail loudly, with the reason in the message.

mod common;

use std::time::{Duration, SystemTime};

use carillon_db::{CallRecord, ConstraintKind, Disposition, Error};
use common::{campus, gateway, violated};
use sqlx::{AssertSqlSafe, PgPool};

async fn raw(pool: &PgPool, sql: &str) -> Result<u64, Error> {
    sqlx::query(AssertSqlSafe(sql.to_owned())).execute(pool).await.map(|done| done.rows_affected()).map_err(Error::from)
}

#[tokio::test]
async fn an_extension_or_name_is_unique_per_domain_ignoring_case() {
    let pool = common::migrated_database().await;
    let c = campus(&pool).await;
    let bob = common::add_user(&pool, c.domain_id, c.class_id, "bob").await;

    let taken = carillon_db::add_alias(&pool, c.domain_id, bob, "4711").await;
    assert_eq!(violated(taken), (ConstraintKind::Unique, "aliases_domain_alias_key".to_owned()));
    let taken = carillon_db::add_alias(&pool, c.domain_id, bob, "Alice.Cueba").await;
    assert_eq!(violated(taken), (ConstraintKind::Unique, "aliases_domain_alias_key".to_owned()));
    let taken = common::violated(
        carillon_db::add_user(
            &pool,
            &carillon_db::NewUser {
                domain_id: c.domain_id,
                name: "ALICE",
                display_name: "",
                email: None,
                department: None,
                user_class_id: c.class_id,
            },
        )
        .await,
    );
    assert_eq!(taken, (ConstraintKind::Unique, "users_domain_name_key".to_owned()));

    // Another domain has its own dial plan.
    let other = carillon_db::add_domain(&pool, "law.campus.test", "law.campus.test").await.expect("second domain");
    let other_class = carillon_db::add_user_class(&pool, other, "staff", common::STAFF).await.expect("class");
    let carol = common::add_user(&pool, other, other_class, "carol").await;
    carillon_db::add_alias(&pool, other, carol, "4711").await.expect("4711 is free in another domain");
}

#[tokio::test]
async fn aliases_are_extensions_or_names_never_both_shapes() {
    let pool = common::migrated_database().await;
    let c = campus(&pool).await;
    for bad in ["", "47 11", "+4711", "1234567890123456", "alice@campus", "-", "..."] {
        let refused = carillon_db::add_alias(&pool, c.domain_id, c.alice, bad).await;
        assert_eq!(violated(refused), (ConstraintKind::Check, "aliases_alias_shape".to_owned()), "{bad:?}");
    }
    let kinds: Vec<(String, String)> =
        sqlx::query_as("SELECT alias, kind FROM aliases WHERE user_id = $1 ORDER BY alias")
            .bind(c.alice)
            .fetch_all(&pool)
            .await
            .expect("read kinds");
    assert_eq!(kinds, [("4711".into(), "extension".into()), ("alice.cueba".into(), "name".into())]);
}

#[tokio::test]
async fn an_alias_reaches_only_users_of_its_own_domain() {
    let pool = common::migrated_database().await;
    let c = campus(&pool).await;
    let other = carillon_db::add_domain(&pool, "law.campus.test", "law.campus.test").await.expect("second domain");
    let refused = carillon_db::add_alias(&pool, other, c.alice, "5000").await;
    assert_eq!(violated(refused).0, ConstraintKind::ForeignKey);
    // Nor can a user be put in another domain's class.
    let other_class = carillon_db::add_user_class(&pool, other, "staff", common::STAFF).await.expect("class");
    let refused = carillon_db::add_user(
        &pool,
        &carillon_db::NewUser {
            domain_id: c.domain_id,
            name: "mallory",
            display_name: "",
            email: None,
            department: None,
            user_class_id: other_class,
        },
    )
    .await;
    assert_eq!(violated(refused).0, ConstraintKind::ForeignKey);
}

/// Kari's law: dialling 911 must reach emergency services, so no extension may shadow an emergency number,
/// whichever is configured first.
#[tokio::test]
async fn an_emergency_number_is_never_an_alias() {
    let pool = common::migrated_database().await;
    let c = campus(&pool).await;
    let trunk = carillon_db::add_trunk(&pool, &gateway("e911-gateway")).await.expect("gateway");
    carillon_db::add_emergency_number(&pool, "911", trunk, "911", "").await.expect("911");
    let refused = carillon_db::add_alias(&pool, c.domain_id, c.alice, "911").await;
    assert_eq!(violated(refused), (ConstraintKind::Unique, "aliases_not_emergency_number".to_owned()));
    let refused = raw(&pool, "UPDATE aliases SET alias = '911' WHERE alias = '4711'").await;
    assert_eq!(violated(refused), (ConstraintKind::Unique, "aliases_not_emergency_number".to_owned()));

    let refused = carillon_db::add_emergency_number(&pool, "4711", trunk, "911", "").await;
    assert_eq!(violated(refused), (ConstraintKind::Unique, "emergency_numbers_not_alias".to_owned()));

    // The gateway an emergency number routes to cannot be deleted.
    let refused = raw(&pool, &format!("DELETE FROM trunks WHERE id = {trunk}")).await;
    assert_eq!(violated(refused).0, ConstraintKind::ForeignKey);
}

#[tokio::test]
async fn a_plaintext_secret_has_nowhere_to_go() {
    let pool = common::migrated_database().await;
    let c = campus(&pool).await;

    // No column is named for a password or secret, except the sealed trunk password.
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT table_name || '.' || column_name FROM information_schema.columns
         WHERE table_schema = 'public' AND column_name ~* '(pass|secret|pwd|plain)'",
    )
    .fetch_all(&pool)
    .await
    .expect("list columns");
    assert_eq!(columns, ["trunks.auth_password_sealed"]);

    // The HA1 columns take only lower-case hex of their hash's length.
    let insert = |column: &str, value: &str| {
        format!(
            "INSERT INTO lines (domain_id, user_id, device_id, username, ha1_md5, ha1_sha256)
             VALUES ({}, {}, {}, 'bob', {}, {})",
            c.domain_id,
            c.alice,
            c.device_id,
            if column == "ha1_md5" { format!("'{value}'") } else { format!("'{}'", "a".repeat(32)) },
            if column == "ha1_sha256" { format!("'{value}'") } else { format!("'{}'", "b".repeat(64)) },
        )
    };
    for (column, value, constraint) in [
        ("ha1_md5", "hunter2", "lines_ha1_md5_hex"),
        ("ha1_md5", "0123456789ABCDEF0123456789ABCDEF", "lines_ha1_md5_hex"),
        ("ha1_md5", &"a".repeat(64), "lines_ha1_md5_hex"),
        ("ha1_sha256", "correct horse battery staple", "lines_ha1_sha256_hex"),
        ("ha1_sha256", &"b".repeat(32), "lines_ha1_sha256_hex"),
    ] {
        let refused = raw(&pool, &insert(column, value)).await;
        assert_eq!(violated(refused), (ConstraintKind::Check, constraint.to_owned()), "{column} = {value:?}");
    }
    raw(&pool, &insert("none", "")).await.expect("well-formed HA1 values are accepted");

    // A trunk password must be a sealed envelope, not text.
    for (sealed, constraint) in [
        ("convert_to('password123', 'UTF8')", "trunks_auth_password_sealed_envelope"),
        ("convert_to(repeat('p', 40), 'UTF8')", "trunks_auth_password_sealed_envelope"),
        ("''::bytea", "trunks_auth_password_sealed_envelope"),
    ] {
        let refused = raw(
            &pool,
            &format!(
                "INSERT INTO trunks (name, kind, host, auth_username, auth_password_sealed)
                 VALUES ('itsp', 'provider', 'sip.example.net', 'acct', {sealed})"
            ),
        )
        .await;
        assert_eq!(violated(refused), (ConstraintKind::Check, constraint.to_owned()), "{sealed}");
    }
    raw(
        &pool,
        "INSERT INTO trunks (name, kind, host, auth_username, auth_password_sealed)
         VALUES ('itsp', 'provider', 'sip.example.net', 'acct', decode('01' || repeat('ab', 40), 'hex'))",
    )
    .await
    .expect("a sealed envelope is accepted");
    // Credentials come whole: a username needs something to answer with, an HA1 needs its realm.
    for values in [
        "'acct', NULL, NULL",
        &format!("'acct', NULL, '{}'", "c".repeat(32)),
        &format!("NULL, 'sip.example.net', '{}'", "c".repeat(32)),
    ] {
        let refused = raw(
            &pool,
            &format!(
                "INSERT INTO trunks (name, kind, host, auth_username, auth_realm, auth_ha1_md5)
                 VALUES ('other', 'provider', 'sip.example.net', {values})"
            ),
        )
        .await;
        assert_eq!(violated(refused), (ConstraintKind::Check, "trunks_credentials_complete".to_owned()), "{values}");
    }
}

fn record(uniqueid: &str, disposition: Disposition, answered_after: Option<u64>) -> CallRecord {
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    CallRecord {
        accountcode: String::new(),
        src: "4711".into(),
        dst: "4712".into(),
        dcontext: "campus.test".into(),
        clid: "\"Alice\" <4711>".into(),
        channel: "alice-desk".into(),
        dstchannel: String::new(),
        start,
        answer: answered_after.map(|s| start + Duration::from_secs(s)),
        end: start + Duration::from_secs(30),
        disposition,
        amaflags: carillon_db::AmaFlags::Documentation,
        userfield: String::new(),
        uniqueid: uniqueid.into(),
        linkedid: uniqueid.into(),
        peeraccount: String::new(),
        call_id: format!("{uniqueid}@campus.test"),
        node_id: None,
    }
}

#[tokio::test]
async fn call_record_disposition_and_times_must_agree() {
    let pool = common::migrated_database().await;
    let refused = raw(
        &pool,
        "INSERT INTO call_records (start, \"end\", disposition, uniqueid, linkedid, call_id)
         VALUES (now(), now(), 'CONGESTION', 'u1', 'u1', 'c1')",
    )
    .await;
    assert_eq!(violated(refused), (ConstraintKind::Check, "call_records_disposition_known".to_owned()));

    for disposition in ["ANSWERED", "NO ANSWER", "BUSY", "FAILED", "CANCEL"] {
        let answer = if disposition == "ANSWERED" { "now()" } else { "NULL" };
        raw(
            &pool,
            &format!(
                "INSERT INTO call_records (start, answer, \"end\", disposition, uniqueid, linkedid, call_id)
                 VALUES (now(), {answer}, now(), '{disposition}', '{disposition}', 'l', 'c')"
            ),
        )
        .await
        .unwrap_or_else(|e| panic!("{disposition} refused: {e}"));
    }

    let answered_without_answer =
        carillon_db::insert_call_record(&pool, &record("a", Disposition::Answered, None)).await;
    assert_eq!(violated(answered_without_answer).1, "call_records_answered_iff_answer");
    let busy_with_answer = carillon_db::insert_call_record(&pool, &record("b", Disposition::Busy, Some(5))).await;
    assert_eq!(violated(busy_with_answer).1, "call_records_answered_iff_answer");
    let answer_after_end = carillon_db::insert_call_record(&pool, &record("c", Disposition::Answered, Some(31))).await;
    assert_eq!(violated(answer_after_end).1, "call_records_answer_within_call");
}

#[tokio::test]
async fn registrations_need_an_instance_for_a_reg_id_and_a_real_line() {
    let pool = common::migrated_database().await;
    let c = campus(&pool).await;
    let insert = |line_id: i64, instance: &str, reg_id: &str| {
        format!(
            "INSERT INTO registrations (line_id, aor, contact_uri, received_ip, received_port, transport, local_ip,
                                        local_port, instance_id, reg_id, call_id, cseq, expires_at, binding_id)
             VALUES ({line_id}, 'sip:alice-desk@campus.test', 'sip:a@192.0.2.1', '192.0.2.1', 5060, 'udp',
                     '127.0.0.1', 5060, {instance}, {reg_id}, 'c', 1, now(), 1)"
        )
    };
    let refused = raw(&pool, &insert(c.line_id, "NULL", "1")).await;
    assert_eq!(violated(refused), (ConstraintKind::Check, "registrations_reg_id_needs_instance".to_owned()));
    let refused = raw(&pool, &insert(c.line_id + 1000, "NULL", "NULL")).await;
    assert_eq!(violated(refused).0, ConstraintKind::ForeignKey);
    raw(&pool, &insert(c.line_id, "'<urn:uuid:00000000-0000-0000-0000-000000000001>'", "1")).await.expect("valid");
    let refused = raw(
        &pool,
        &insert(c.line_id, "'<urn:uuid:00000000-0000-0000-0000-000000000001>'", "1")
            .replace("sip:a@192.0.2.1", "sip:b@192.0.2.1"),
    )
    .await;
    assert_eq!(violated(refused), (ConstraintKind::Unique, "registrations_aor_flow_key".to_owned()));
}

#[tokio::test]
async fn deleting_a_user_removes_lines_and_bindings_but_not_the_device_class_or_call_records() {
    let pool = common::migrated_database().await;
    let c = campus(&pool).await;
    raw(
        &pool,
        &format!(
            "INSERT INTO registrations (line_id, aor, contact_uri, received_ip, received_port, transport, local_ip,
                                        local_port, call_id, cseq, expires_at, binding_id)
             VALUES ({}, 'sip:alice-desk@campus.test', 'sip:a@192.0.2.1', '192.0.2.1', 5060, 'udp', '127.0.0.1',
                     5060, 'c', 1, now() + interval '1 hour', 1)",
            c.line_id
        ),
    )
    .await
    .expect("binding");
    carillon_db::insert_call_record(&pool, &record("kept", Disposition::Answered, Some(3))).await.expect("record");

    // A class still in use cannot go; nor a domain with users.
    let refused = raw(&pool, &format!("DELETE FROM user_classes WHERE id = {}", c.class_id)).await;
    assert_eq!(violated(refused).0, ConstraintKind::ForeignKey);
    let refused = raw(&pool, &format!("DELETE FROM domains WHERE id = {}", c.domain_id)).await;
    assert_eq!(violated(refused).0, ConstraintKind::ForeignKey);

    assert_eq!(raw(&pool, &format!("DELETE FROM users WHERE id = {}", c.alice)).await.expect("delete alice"), 1);
    let count = |table: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(&pool)
                .await
                .expect("count")
        }
    };
    assert_eq!(count("aliases").await, 0);
    assert_eq!(count("lines").await, 0);
    assert_eq!(count("registrations").await, 0);
    assert_eq!(count("devices").await, 1);
    assert_eq!(count("user_classes").await, 1);
    assert_eq!(count("call_records").await, 1);
}
