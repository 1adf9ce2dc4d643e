//! Helpers shared by the database tests: one private PostgreSQL per test binary, one fresh database per test.
#![allow(dead_code)] // Each test crate uses its own subset.

use std::sync::OnceLock;

use carillon_testkit::PostgresServer;
use sqlx::PgPool;

/// The test binary's server, started on first use and stopped by the harness's watchdog when the binary exits.
pub(crate) fn server() -> &'static PostgresServer {
    static SERVER: OnceLock<PostgresServer> = OnceLock::new();
    SERVER.get_or_init(|| PostgresServer::start().expect("start a private PostgreSQL"))
}

/// A pool on a new, empty database of the shared server.
pub(crate) async fn empty_database() -> PgPool {
    let url = server().fresh_database().expect("create a database");
    carillon_db::connect(&url).await.expect("connect to the new database")
}

/// A pool on a new database with every migration applied.
pub(crate) async fn migrated_database() -> PgPool {
    let pool = empty_database().await;
    carillon_db::migrate(&pool).await.expect("migrate");
    pool
}

/// A domain with one class, one user (`alice`, extension 4711, alias `alice.cueba`), one device and one line.
pub(crate) struct Campus {
    pub(crate) domain_id: i64,
    pub(crate) class_id: i64,
    pub(crate) alice: i64,
    pub(crate) device_id: i64,
    pub(crate) line_id: i64,
}

pub(crate) const DOMAIN: &str = "campus.test";
pub(crate) const REALM: &str = "campus.test";
pub(crate) const ALICE_LINE: &str = "alice-desk";
pub(crate) const ALICE_PASSWORD: &str = "correct horse battery staple";

pub(crate) const STAFF: carillon_db::CallPermissions = carillon_db::CallPermissions {
    internal: true,
    campus: true,
    local: true,
    long_distance: true,
    international: false,
};

pub(crate) async fn campus(pool: &PgPool) -> Campus {
    let domain_id = carillon_db::add_domain(pool, DOMAIN, REALM).await.expect("add domain");
    let class_id = carillon_db::add_user_class(pool, domain_id, "staff", STAFF).await.expect("add class");
    let alice = add_user(pool, domain_id, class_id, "alice").await;
    carillon_db::add_alias(pool, domain_id, alice, "4711").await.expect("add extension");
    carillon_db::add_alias(pool, domain_id, alice, "alice.cueba").await.expect("add name alias");
    let device_id =
        carillon_db::add_device(pool, domain_id, "Room 204 desk", Some("Yealink T54W")).await.expect("device");
    let line_id = carillon_db::add_line(
        pool,
        &carillon_db::NewLine { user_id: alice, device_id, username: ALICE_LINE, password: ALICE_PASSWORD },
    )
    .await
    .expect("add line");
    Campus { domain_id, class_id, alice, device_id, line_id }
}

pub(crate) async fn add_user(pool: &PgPool, domain_id: i64, class_id: i64, name: &str) -> i64 {
    carillon_db::add_user(
        pool,
        &carillon_db::NewUser {
            domain_id,
            name,
            display_name: name,
            email: None,
            department: None,
            user_class_id: class_id,
        },
    )
    .await
    .expect("add user")
}

/// A PSTN gateway without credentials.
pub(crate) fn gateway(name: &str) -> carillon_db::Trunk {
    carillon_db::Trunk {
        name: name.to_owned(),
        kind: carillon_db::TrunkKind::Gateway,
        host: "192.0.2.10".to_owned(),
        port: Some(5060),
        transport: Some(carillon_sip::target::Transport::Udp),
        auth_username: None,
        auth_realm: None,
        auth_ha1_md5: None,
        auth_ha1_sha256: None,
        auth_password_sealed: None,
    }
}

/// The constraint an error names, panicking with the error when it is not a constraint violation.
pub(crate) fn violated(
    result: Result<impl std::fmt::Debug, carillon_db::Error>,
) -> (carillon_db::ConstraintKind, String) {
    match result {
        Err(carillon_db::Error::Constraint { kind, constraint, .. }) => (kind, constraint),
        other => panic!("expected a constraint violation, got {other:?}"),
    }
}
