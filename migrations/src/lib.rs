//! Carillon's PostgreSQL schema and the typed queries the services share.
//!
//! # Schema
//!
//! The schema lives in `sql/` as sqlx's reversible migrations (`NNNN_name.up.sql` and `NNNN_name.down.sql`),
//! embedded in this crate by [`MIGRATOR`] and applied by [`migrate`]. Each migration runs in one transaction, so it
//! applies whole or not at all, and each has a down migration that the tests run. Every table and column is
//! described in the database itself (`COMMENT ON`, shown by `\d+` in psql). In short:
//!
//! - `domains` (SIP domain and digest realm) and `user_classes` (what a group may call: internal, campus, local,
//!   long distance, international; emergency calls cannot be denied, there is no column for them);
//! - `users`, and `aliases`, the strings that reach a user: extensions (`4711`) and names (`alice.cueba`), unique
//!   per domain ignoring case, never equal to an emergency number;
//! - `devices` and `lines`: each line has its own digest username and stores its secret only as HA1 values
//!   (`ha1_md5`, `ha1_sha256`, optional `ha1_sha512_256`); no column can hold a plaintext secret;
//! - `registrations` (contact bindings, RFC 3261 §10, RFC 5626 flows) and `nodes` (running servers);
//! - `forwarding` and `sequential_ring_steps` per user;
//! - `trunks`, `outbound_routes` with `outbound_route_trunks` (least-cost routing and digit manipulation) and
//!   `emergency_numbers`; a trunk password is stored as HA1 values or sealed with a key kept outside the
//!   database ([`seal`]);
//! - `call_records` with Asterisk's CDR columns plus `call_id` and `node_id`.
//!
//! # Building without a database
//!
//! The queries are checked at compile time by sqlx's macros against the data in `.sqlx/`, committed with the
//! crate, so `cargo build` needs no database. The crate's `.env` sets `SQLX_OFFLINE=true`, so this holds even when
//! `DATABASE_URL` is set in the environment. After changing a query or a migration, refresh the data against a
//! migrated database (`cargo sqlx prepare` overrides the offline setting; `--check` verifies without writing):
//!
//! ```sh
//! cd migrations && DATABASE_URL=postgres://... cargo sqlx prepare
//! ```
//!
//! # Use
//!
//! [`connect`], then [`migrate`]. Query functions take any executor (`&PgPool`, a connection, a transaction);
//! those that run several statements take anything that can be acquired (`&PgPool` or `&mut PgConnection`).
//! Times cross this API as [`SystemTime`](std::time::SystemTime).

mod admin;
mod call_records;
mod callee;
mod dial_plan;
mod error;
mod forwarding;
mod lines;
mod nodes;
mod provision;
mod registrations;
mod routes;
pub mod seal;
mod seed;
mod time;

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};

pub use admin::{
    Domain, UserClass, UserListing, domain_by_name, domains, find_user, remove_user, set_line_password, user_classes,
    user_lines, user_listing,
};
pub use call_records::{AmaFlags, CallRecord, Disposition, StoredCallRecord, call_record, insert_call_record};
pub use callee::{Callee, callee, emergency_routes};
pub use dial_plan::{AliasKind, DialledUser, LineSummary, User, resolve_dialled};
pub use error::{ConstraintKind, Error};
pub use forwarding::{DEFAULT_NO_ANSWER_DELAY, Forwarding, RingStep, RingTarget, forwarding, set_forwarding};
pub use lines::{
    LINE_CHANGED_CHANNEL, LineChange, LineChanges, LineCredentials, line_credentials, listen_line_changes,
};
pub use nodes::{Node, node_heartbeat, nodes, upsert_node};
pub use provision::{
    NewLine, NewUser, add_alias, add_device, add_domain, add_emergency_number, add_line, add_outbound_route,
    add_route_trunk, add_trunk, add_user, add_user_class, set_trunk_sealed_password,
};
pub use registrations::{
    Registration, UpsertOutcome, delete_expired_registrations, delete_registration, delete_registrations_for_aor,
    registrations_for_aor, unexpired_registrations, upsert_registration,
};
pub use routes::{
    CallCategory, CallPermissions, EmergencyRoute, OutboundRoute, RouteTrunk, Trunk, TrunkKind, calling_permissions,
    emergency_route, outbound_route, trunk_by_name,
};
pub use seed::{DEMO_DOMAIN, DemoCampus, DemoLine, FIRST_EXTENSION, MAX_DEMO_USERS, seed_demo};

/// The result of this crate's functions.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The schema's migrations, embedded from `sql/`.
pub static MIGRATOR: Migrator = sqlx::migrate!("./sql");

/// How long getting a connection may take, retries included, before [`connect`] fails with [`Error::Connect`]
/// or a query with [`Error::Query`].
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens a connection pool to the database at `url` (`postgres://user:password@host:port/database`), making one
/// connection at once so a wrong address or password shows here. A server that refuses connections is retried
/// for up to [`ACQUIRE_TIMEOUT`] (it may be starting).
pub async fn connect(url: &str) -> Result<PgPool> {
    PgPoolOptions::new().acquire_timeout(ACQUIRE_TIMEOUT).connect(url).await.map_err(Error::Connect)
}

/// Applies every migration not yet applied, each in its own transaction.
pub async fn migrate(pool: &PgPool) -> Result<()> {
    MIGRATOR.run(pool).await.map_err(Error::Migrate)
}

/// The version of the newest migration applied to the database, `None` when none is.
pub async fn schema_version(pool: &PgPool) -> Result<Option<i64>> {
    let migrated = sqlx::query_scalar!(r#"SELECT to_regclass('_sqlx_migrations') IS NOT NULL AS "migrated!""#)
        .fetch_one(pool)
        .await?;
    if !migrated {
        return Ok(None);
    }
    // Not a checked macro: the bookkeeping table is sqlx's, not part of the schema the offline data describes.
    let version: Option<i64> =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success").fetch_one(pool).await?;
    Ok(version)
}

/// The version of the newest migration this build knows, what [`schema_version`] returns after [`migrate`].
pub fn latest_schema_version() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}
