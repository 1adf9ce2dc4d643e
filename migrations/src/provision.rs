//! Provisioning: adding domains, classes, users, aliases, devices, lines, trunks and routes. Used by the demo
//! seed, the tests and the administration tools. Each returns the new row's id.

use carillon_sip::auth::{Ha1, HashFunction};
use sqlx::{Acquire, PgExecutor, Postgres};

use crate::routes::{CallCategory, CallPermissions, Trunk};
use crate::{Error, Result};

/// Adds a SIP domain with its digest realm.
pub async fn add_domain(executor: impl PgExecutor<'_>, name: &str, realm: &str) -> Result<i64> {
    let id = sqlx::query_scalar!("INSERT INTO domains (name, realm) VALUES ($1, $2) RETURNING id", name, realm)
        .fetch_one(executor)
        .await?;
    Ok(id)
}

/// Adds a user class to a domain.
pub async fn add_user_class(
    executor: impl PgExecutor<'_>,
    domain_id: i64,
    name: &str,
    permissions: CallPermissions,
) -> Result<i64> {
    let id = sqlx::query_scalar!(
        "INSERT INTO user_classes (domain_id, name, may_call_internal, may_call_campus, may_call_local,
                                   may_call_long_distance, may_call_international)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        domain_id,
        name,
        permissions.internal,
        permissions.campus,
        permissions.local,
        permissions.long_distance,
        permissions.international,
    )
    .fetch_one(executor)
    .await?;
    Ok(id)
}

/// A user to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser<'a> {
    /// The user's domain.
    pub domain_id: i64,
    /// Login name, unique per domain ignoring case.
    pub name: &'a str,
    /// Name shown to callees.
    pub display_name: &'a str,
    /// E-mail address.
    pub email: Option<&'a str>,
    /// Organisational unit.
    pub department: Option<&'a str>,
    /// A class of the same domain.
    pub user_class_id: i64,
}

/// Adds a user.
pub async fn add_user(executor: impl PgExecutor<'_>, user: &NewUser<'_>) -> Result<i64> {
    let id = sqlx::query_scalar!(
        "INSERT INTO users (domain_id, name, display_name, email, department, user_class_id)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        user.domain_id,
        user.name,
        user.display_name,
        user.email,
        user.department,
        user.user_class_id,
    )
    .fetch_one(executor)
    .await?;
    Ok(id)
}

/// Adds an alias (an extension such as `4711` or a name such as `alice.cueba`) reaching a user of the same
/// domain. Refused when the domain has it already (ignoring case) or when it is an emergency number.
pub async fn add_alias(executor: impl PgExecutor<'_>, domain_id: i64, user_id: i64, alias: &str) -> Result<i64> {
    let id = sqlx::query_scalar!(
        "INSERT INTO aliases (domain_id, user_id, alias) VALUES ($1, $2, $3) RETURNING id",
        domain_id,
        user_id,
        alias,
    )
    .fetch_one(executor)
    .await?;
    Ok(id)
}

/// Adds a device to a domain.
pub async fn add_device(
    executor: impl PgExecutor<'_>,
    domain_id: i64,
    label: &str,
    model: Option<&str>,
) -> Result<i64> {
    let id = sqlx::query_scalar!(
        "INSERT INTO devices (domain_id, label, model) VALUES ($1, $2, $3) RETURNING id",
        domain_id,
        label,
        model,
    )
    .fetch_one(executor)
    .await?;
    Ok(id)
}

/// A line to add. The password is used only to compute the HA1 values and is not kept.
#[derive(Clone, PartialEq, Eq)]
pub struct NewLine<'a> {
    /// The line's user.
    pub user_id: i64,
    /// The device it is provisioned on, in the user's domain.
    pub device_id: i64,
    /// Digest username, unique per domain ignoring case.
    pub username: &'a str,
    /// The secret the phone is configured with.
    pub password: &'a str,
}

impl std::fmt::Debug for NewLine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewLine")
            .field("user_id", &self.user_id)
            .field("device_id", &self.device_id)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Adds a line, storing H(username:realm:password) for MD5, SHA-256 and SHA-512/256 with the realm of the
/// user's domain; the password itself goes nowhere.
pub async fn add_line<'a>(conn: impl Acquire<'a, Database = Postgres>, line: &NewLine<'_>) -> Result<i64> {
    let mut conn = conn.acquire().await?;
    let user = sqlx::query!(
        "SELECT u.domain_id, d.realm FROM users u JOIN domains d ON d.id = u.domain_id WHERE u.id = $1",
        line.user_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::InvalidInput { what: "user_id", reason: format!("no user {}", line.user_id) })?;
    let [md5, sha256, sha512_256] = [HashFunction::Md5, HashFunction::Sha256, HashFunction::Sha512_256]
        .map(|hash| Ha1::compute(hash, line.username, &user.realm, line.password));
    let id = sqlx::query_scalar!(
        "INSERT INTO lines (domain_id, user_id, device_id, username, ha1_md5, ha1_sha256, ha1_sha512_256)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        user.domain_id,
        line.user_id,
        line.device_id,
        line.username,
        md5.as_hex(),
        sha256.as_hex(),
        sha512_256.as_hex(),
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

/// Adds a trunk.
pub async fn add_trunk(executor: impl PgExecutor<'_>, trunk: &Trunk) -> Result<i64> {
    let transport = trunk.transport.map(|t| t.as_str().to_ascii_lowercase());
    let id = sqlx::query_scalar!(
        "INSERT INTO trunks (name, kind, host, port, transport, auth_username, auth_realm, auth_ha1_md5,
                             auth_ha1_sha256, auth_password_sealed)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        trunk.name,
        trunk.kind.as_str(),
        trunk.host,
        trunk.port.map(i32::from),
        transport,
        trunk.auth_username,
        trunk.auth_realm,
        trunk.auth_ha1_md5.as_ref().map(Ha1::as_hex),
        trunk.auth_ha1_sha256.as_ref().map(Ha1::as_hex),
        trunk.auth_password_sealed,
    )
    .fetch_one(executor)
    .await?;
    Ok(id)
}

/// Stores the sealed password `sealed` ([`crate::seal::SealKey::seal`]) for the trunk named `trunk` (ignoring
/// case), with `username` as its digest username when given (a trunk without one needs it). The trunk's HA1
/// values and realm are removed: they were computed from the password this one replaces. Returns the trunk's
/// digest username, or `None` when no trunk has that name.
pub async fn set_trunk_sealed_password(
    executor: impl PgExecutor<'_>,
    trunk: &str,
    username: Option<&str>,
    sealed: &[u8],
) -> Result<Option<String>> {
    // Runtime-checked query, so the offline query data needs no refresh.
    let username: Option<(Option<String>,)> = sqlx::query_as(
        "UPDATE trunks SET auth_username = coalesce($2, auth_username), auth_password_sealed = $3,
                auth_realm = NULL, auth_ha1_md5 = NULL, auth_ha1_sha256 = NULL
          WHERE lower(name) = lower($1)
      RETURNING auth_username",
    )
    .bind(trunk)
    .bind(username)
    .bind(sealed)
    .fetch_optional(executor)
    .await?;
    Ok(username.map(|(u,)| u.unwrap_or_default()))
}

/// Adds an outbound route for numbers starting with `prefix` (after the outside-line prefix).
pub async fn add_outbound_route(
    executor: impl PgExecutor<'_>,
    prefix: &str,
    category: CallCategory,
    description: &str,
) -> Result<i64> {
    let id = sqlx::query_scalar!(
        "INSERT INTO outbound_routes (prefix, category, description) VALUES ($1, $2, $3) RETURNING id",
        prefix,
        category.as_str(),
        description,
    )
    .fetch_one(executor)
    .await?;
    Ok(id)
}

/// Adds a trunk to a route, with its order and digit manipulation.
pub async fn add_route_trunk(
    executor: impl PgExecutor<'_>,
    route_id: i64,
    trunk_id: i64,
    priority: i16,
    cost: i32,
    strip_digits: u8,
    prepend: &str,
) -> Result<()> {
    sqlx::query!(
        "INSERT INTO outbound_route_trunks (route_id, trunk_id, priority, cost, strip_digits, prepend)
         VALUES ($1, $2, $3, $4, $5, $6)",
        route_id,
        trunk_id,
        priority,
        cost,
        i16::from(strip_digits),
        prepend,
    )
    .execute(executor)
    .await?;
    Ok(())
}

/// Routes the emergency number `number` to the gateway `trunk_id`, sending `dial_as`. Refused when an alias of
/// any domain is `number`.
pub async fn add_emergency_number(
    executor: impl PgExecutor<'_>,
    number: &str,
    trunk_id: i64,
    dial_as: &str,
    description: &str,
) -> Result<()> {
    sqlx::query!(
        "INSERT INTO emergency_numbers (number, trunk_id, dial_as, description) VALUES ($1, $2, $3, $4)",
        number,
        trunk_id,
        dial_as,
        description,
    )
    .execute(executor)
    .await?;
    Ok(())
}
