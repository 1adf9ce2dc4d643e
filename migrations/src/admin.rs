//! Queries for administration tools: finding domains, classes, users and lines by the names administrators type,
//! listing users, removing a user and giving a line a new secret.

use carillon_sip::auth::{Ha1, HashFunction};
use sqlx::{Acquire, PgExecutor, Postgres};

use crate::dial_plan::{LineSummary, User};
use crate::routes::CallPermissions;
use crate::{Error, Result};

/// A SIP domain as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    /// Row id.
    pub id: i64,
    /// The domain as it appears in SIP URIs, e.g. `campus.test`.
    pub name: String,
    /// Its digest realm.
    pub realm: String,
}

/// A user class as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserClass {
    /// Row id.
    pub id: i64,
    /// The class's domain.
    pub domain_id: i64,
    /// Name shown to administrators, e.g. `staff`.
    pub name: String,
    /// What its users may call.
    pub permissions: CallPermissions,
}

/// A user with everything an administrator's listing shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserListing {
    /// The user.
    pub user: User,
    /// The name of the user's domain.
    pub domain: String,
    /// The name of the user's class.
    pub class: String,
    /// The user's extensions (all-digit aliases), in the order they were added.
    pub extensions: Vec<String>,
    /// The user's name aliases, in the order they were added.
    pub names: Vec<String>,
    /// The digest usernames of the user's lines, oldest first.
    pub lines: Vec<String>,
}

/// Every domain, by name.
pub async fn domains(executor: impl PgExecutor<'_>) -> Result<Vec<Domain>> {
    let domains =
        sqlx::query_as!(Domain, "SELECT id, name, realm FROM domains ORDER BY name").fetch_all(executor).await?;
    Ok(domains)
}

/// The domain named `name` (domains are stored in lower case; the lookup ignores case).
pub async fn domain_by_name(executor: impl PgExecutor<'_>, name: &str) -> Result<Option<Domain>> {
    let domain = sqlx::query_as!(Domain, "SELECT id, name, realm FROM domains WHERE name = lower($1)", name)
        .fetch_optional(executor)
        .await?;
    Ok(domain)
}

/// The classes of domain `domain_id`, by name.
pub async fn user_classes(executor: impl PgExecutor<'_>, domain_id: i64) -> Result<Vec<UserClass>> {
    let rows = sqlx::query!(
        "SELECT id, domain_id, name, may_call_internal, may_call_campus, may_call_local, may_call_long_distance,
                may_call_international
         FROM user_classes WHERE domain_id = $1 ORDER BY lower(name)",
        domain_id,
    )
    .fetch_all(executor)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| UserClass {
            id: row.id,
            domain_id: row.domain_id,
            name: row.name,
            permissions: CallPermissions {
                internal: row.may_call_internal,
                campus: row.may_call_campus,
                local: row.may_call_local,
                long_distance: row.may_call_long_distance,
                international: row.may_call_international,
            },
        })
        .collect())
}

/// The user of domain `domain_id` whose login name is `key`, or else the user reached by the alias `key`
/// (an extension or a name); both ignore case.
pub async fn find_user(executor: impl PgExecutor<'_>, domain_id: i64, key: &str) -> Result<Option<User>> {
    let user = sqlx::query_as!(
        User,
        "SELECT u.id, u.domain_id, u.name, u.display_name, u.email, u.department, u.user_class_id
         FROM users u
         WHERE u.domain_id = $1
           AND (lower(u.name) = lower($2)
                OR u.id IN (SELECT a.user_id FROM aliases a WHERE a.domain_id = $1 AND lower(a.alias) = lower($2)))
         ORDER BY lower(u.name) = lower($2) DESC
         LIMIT 1",
        domain_id,
        key,
    )
    .fetch_optional(executor)
    .await?;
    Ok(user)
}

/// The users of domain `domain_id` (every domain when `None`) whose login name, display name, e-mail,
/// department or any alias contains `search` ignoring case (every user when `None`), by domain and name.
pub async fn user_listing(
    executor: impl PgExecutor<'_>,
    domain_id: Option<i64>,
    search: Option<&str>,
) -> Result<Vec<UserListing>> {
    // LIKE wildcards typed by the administrator are taken literally.
    let pattern = search.map(|text| {
        let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        format!("%{escaped}%")
    });
    let rows = sqlx::query!(
        r#"SELECT u.id, u.domain_id, u.name, u.display_name, u.email, u.department, u.user_class_id,
                  d.name AS "domain!", c.name AS "class!",
                  array(SELECT a.alias FROM aliases a WHERE a.user_id = u.id AND a.kind = 'extension' ORDER BY a.id)
                      AS "extensions!",
                  array(SELECT a.alias FROM aliases a WHERE a.user_id = u.id AND a.kind = 'name' ORDER BY a.id)
                      AS "names!",
                  array(SELECT l.username FROM lines l WHERE l.user_id = u.id ORDER BY l.id) AS "lines!"
           FROM users u
           JOIN domains d ON d.id = u.domain_id
           JOIN user_classes c ON c.id = u.user_class_id
           WHERE ($1::bigint IS NULL OR u.domain_id = $1)
             AND ($2::text IS NULL
                  OR u.name ILIKE $2 OR u.display_name ILIKE $2 OR u.email ILIKE $2 OR u.department ILIKE $2
                  OR EXISTS (SELECT 1 FROM aliases a WHERE a.user_id = u.id AND a.alias ILIKE $2))
           ORDER BY d.name, lower(u.name)"#,
        domain_id,
        pattern,
    )
    .fetch_all(executor)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| UserListing {
            user: User {
                id: row.id,
                domain_id: row.domain_id,
                name: row.name,
                display_name: row.display_name,
                email: row.email,
                department: row.department,
                user_class_id: row.user_class_id,
            },
            domain: row.domain,
            class: row.class,
            extensions: row.extensions,
            names: row.names,
            lines: row.lines,
        })
        .collect())
}

/// The lines of user `user_id`, oldest first.
pub async fn user_lines(executor: impl PgExecutor<'_>, user_id: i64) -> Result<Vec<LineSummary>> {
    let lines = sqlx::query_as!(
        LineSummary,
        "SELECT id, username, device_id FROM lines WHERE user_id = $1 ORDER BY id",
        user_id
    )
    .fetch_all(executor)
    .await?;
    Ok(lines)
}

/// Removes user `user_id` with the user's aliases, lines (and so their registrations) and forwarding settings;
/// devices stay, as a phone on a desk outlives its user. Whether there was such a user.
pub async fn remove_user(executor: impl PgExecutor<'_>, user_id: i64) -> Result<bool> {
    let done = sqlx::query!("DELETE FROM users WHERE id = $1", user_id).execute(executor).await?;
    Ok(done.rows_affected() > 0)
}

/// Gives line `line_id` a new secret, replacing its HA1 values for MD5, SHA-256 and SHA-512/256 (computed as
/// [`add_line`](crate::add_line) does); the password itself goes nowhere. Registrations made with the old secret
/// stay until they lapse or are refreshed, when the phone must answer the challenge with the new one.
pub async fn set_line_password<'a>(
    conn: impl Acquire<'a, Database = Postgres>,
    line_id: i64,
    password: &str,
) -> Result<()> {
    let mut tx = conn.begin().await?;
    let line = sqlx::query!(
        "SELECT l.username, d.realm FROM lines l JOIN domains d ON d.id = l.domain_id WHERE l.id = $1 FOR UPDATE OF l",
        line_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| Error::InvalidInput { what: "line_id", reason: format!("no line {line_id}") })?;
    let [md5, sha256, sha512_256] = [HashFunction::Md5, HashFunction::Sha256, HashFunction::Sha512_256]
        .map(|hash| Ha1::compute(hash, &line.username, &line.realm, password));
    sqlx::query!(
        "UPDATE lines SET ha1_md5 = $2, ha1_sha256 = $3, ha1_sha512_256 = $4 WHERE id = $1",
        line_id,
        md5.as_hex(),
        sha256.as_hex(),
        sha512_256.as_hex(),
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
