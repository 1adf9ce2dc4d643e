//! The demo campus: deterministic, complete, and its passwords only in the credentials it returns.
#![allow(clippy::expect_used, clippy::panic)] // Tests fail loudly, with the reason in the message.

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;

use carillon_db::{AliasKind, CallCategory, DEMO_DOMAIN, MAX_DEMO_USERS};
use carillon_sip::auth::{Ha1, HashFunction};

#[tokio::test]
async fn the_demo_campus_registers_and_dials_with_the_credentials_it_returns() {
    let pool = common::migrated_database().await;
    let campus = carillon_db::seed_demo(&pool, MAX_DEMO_USERS, 7).await.expect("seed");
    assert_eq!(campus.lines.len(), 300);
    let extensions: Vec<String> = campus.lines.iter().map(|l| l.extension.clone()).collect();
    let expected: Vec<String> = (4000..4300).map(|n: u32| n.to_string()).collect();
    assert_eq!(extensions, expected);
    let aliases: BTreeSet<&str> = campus.lines.iter().map(|l| l.alias.as_str()).collect();
    assert_eq!(aliases.len(), 300, "name aliases are unique");
    let passwords: BTreeSet<&str> = campus.lines.iter().map(|l| l.password.as_str()).collect();
    assert_eq!(passwords.len(), 300, "every line has its own password");

    for line in &campus.lines {
        assert!(line.alias.contains('.'), "{}", line.alias);
        assert_eq!(line.password.len(), 16);
        let found = carillon_db::line_credentials(&pool, &line.extension, DEMO_DOMAIN)
            .await
            .expect("lookup")
            .unwrap_or_else(|| panic!("no line {}", line.extension));
        for hash in [HashFunction::Md5, HashFunction::Sha256, HashFunction::Sha512_256] {
            assert_eq!(
                found.ha1(hash),
                Some(&Ha1::compute(hash, &line.extension, DEMO_DOMAIN, &line.password)),
                "{} {hash:?}",
                line.extension
            );
        }
    }

    let first = &campus.lines[0];
    let by_name = carillon_db::resolve_dialled(&pool, DEMO_DOMAIN, &first.alias).await.expect("resolve").expect("user");
    assert_eq!(by_name.matched, AliasKind::Name);
    assert_eq!(by_name.user.display_name, first.display_name);
    assert_eq!(by_name.lines.iter().map(|l| l.username.as_str()).collect::<Vec<_>>(), ["4000"]);
    let by_extension = carillon_db::resolve_dialled(&pool, DEMO_DOMAIN, "4000").await.expect("resolve").expect("user");
    assert_eq!(by_extension.user, by_name.user);

    // The demo gateway carries outside calls; the emergency numbers reach it.
    let route = carillon_db::outbound_route(&pool, "011441234").await.expect("route").expect("international");
    assert_eq!(route.category, CallCategory::International);
    for number in ["911", "9911", "933"] {
        let emergency = carillon_db::emergency_route(&pool, number).await.expect("lookup").expect(number);
        assert_eq!(emergency.trunk.name, "demo-gateway");
    }

    // The passwords are nowhere in the database.
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' AND tablename <> '_sqlx_migrations'",
    )
    .fetch_all(&pool)
    .await
    .expect("tables");
    let mut everything = String::new();
    for table in tables {
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT t::text FROM {table} t")))
            .fetch_all(&pool)
            .await
            .expect("dump table");
        everything.extend(rows);
    }
    assert!(everything.contains(&first.alias), "the dump holds the seeded data");
    for password in passwords {
        assert!(!everything.contains(password), "a password is stored in the database");
    }
}

#[tokio::test]
async fn the_same_seed_gives_the_same_campus_and_another_seed_other_passwords() {
    let a = carillon_db::seed_demo(&common::migrated_database().await, 40, 1).await.expect("seed a");
    let b = carillon_db::seed_demo(&common::migrated_database().await, 40, 1).await.expect("seed b");
    let c = carillon_db::seed_demo(&common::migrated_database().await, 40, 2).await.expect("seed c");
    assert_eq!(a.lines, b.lines);
    assert_eq!(a.credentials_csv(), b.credentials_csv());
    let shared: Vec<_> = a.lines.iter().zip(&c.lines).filter(|(x, y)| x.password == y.password).collect();
    assert!(shared.is_empty(), "another seed shares passwords: {shared:?}");
}

#[tokio::test]
async fn the_credentials_file_is_csv_readable_by_its_owner_only() {
    let pool = common::migrated_database().await;
    let campus = carillon_db::seed_demo(&pool, 3, 9).await.expect("seed");
    let csv = campus.credentials_csv();
    let mut rows = csv.lines();
    assert_eq!(rows.next(), Some("username,password,extension,alias,display_name,domain,realm"));
    for (row, line) in rows.zip(&campus.lines) {
        let fields: Vec<&str> = row.split(',').collect();
        assert_eq!(
            fields,
            [
                line.extension.as_str(),
                &line.password,
                &line.extension,
                &line.alias,
                &line.display_name,
                DEMO_DOMAIN,
                DEMO_DOMAIN
            ]
        );
    }

    let path = std::env::temp_dir().join(format!("carillon-demo-credentials-{}.csv", std::process::id()));
    std::fs::write(&path, "stale").expect("pre-existing file");
    campus.write_credentials(&path).expect("write");
    let written = std::fs::read_to_string(&path).expect("read back");
    let mode = std::fs::metadata(&path).expect("metadata").permissions().mode() & 0o777;
    std::fs::remove_file(&path).expect("clean up");
    assert_eq!(written, csv);
    assert_eq!(mode, 0o600);
}

#[tokio::test]
async fn more_users_than_extensions_is_refused_and_leaves_nothing() {
    let pool = common::migrated_database().await;
    let refused = carillon_db::seed_demo(&pool, MAX_DEMO_USERS + 1, 1).await;
    assert!(matches!(refused, Err(carillon_db::Error::InvalidInput { what: "n_users", .. })), "{refused:?}");
    let domains: i64 = sqlx::query_scalar("SELECT count(*) FROM domains").fetch_one(&pool).await.expect("count");
    assert_eq!(domains, 0);
    // Seeding twice collides on the domain and rolls back whole.
    carillon_db::seed_demo(&pool, 2, 1).await.expect("first seed");
    let again = carillon_db::seed_demo(&pool, 2, 1).await;
    assert_eq!(common::violated(again).1, "domains_name_key");
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(&pool).await.expect("count");
    assert_eq!(users, 2);
}
