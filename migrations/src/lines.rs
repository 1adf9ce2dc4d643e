//! Line credentials: what the registrar and the proxy need to verify a digest response.

use carillon_sip::auth::{Ha1, HashFunction};
use sqlx::postgres::PgListener;
use sqlx::{PgExecutor, PgPool};

use crate::{Error, Result};

/// A line's digest credentials, found by username and realm.
///
/// Holds HA1 values, which are as secret as the password (whoever has one can answer challenges for the realm);
/// their `Debug` output hides them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineCredentials {
    /// The line.
    pub line_id: i64,
    /// The user the line belongs to.
    pub user_id: i64,
    /// The line's domain.
    pub domain_id: i64,
    /// The username as provisioned (the lookup ignores case; the HA1 values were computed with this spelling).
    pub username: String,
    /// The realm.
    pub realm: String,
    /// H(username:realm:secret) with MD5.
    pub ha1_md5: Ha1,
    /// H(username:realm:secret) with SHA-256.
    pub ha1_sha256: Ha1,
    /// H(username:realm:secret) with SHA-512/256, when the line offers it.
    pub ha1_sha512_256: Option<Ha1>,
}

impl LineCredentials {
    /// The stored HA1 for `hash`, `None` when the line has none for it (challenge with other algorithms only).
    pub fn ha1(&self, hash: HashFunction) -> Option<&Ha1> {
        match hash {
            HashFunction::Md5 => Some(&self.ha1_md5),
            HashFunction::Sha256 => Some(&self.ha1_sha256),
            HashFunction::Sha512_256 => self.ha1_sha512_256.as_ref(),
        }
    }
}

/// Looks up the credentials of the line with digest `username` (ignoring case) in the domain whose realm is
/// `realm`; `None` when there is no such line.
pub async fn line_credentials(
    executor: impl PgExecutor<'_>,
    username: &str,
    realm: &str,
) -> Result<Option<LineCredentials>> {
    let row = sqlx::query!(
        r#"SELECT l.id, l.user_id, l.domain_id, l.username, d.realm, l.ha1_md5, l.ha1_sha256, l.ha1_sha512_256
           FROM lines l JOIN domains d ON d.id = l.domain_id
           WHERE d.realm = $1 AND lower(l.username) = lower($2)"#,
        realm,
        username,
    )
    .fetch_optional(executor)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(LineCredentials {
        line_id: row.id,
        user_id: row.user_id,
        domain_id: row.domain_id,
        ha1_md5: stored_ha1(HashFunction::Md5, &row.ha1_md5)?,
        ha1_sha256: stored_ha1(HashFunction::Sha256, &row.ha1_sha256)?,
        ha1_sha512_256: row
            .ha1_sha512_256
            .as_deref()
            .map(|hex| stored_ha1(HashFunction::Sha512_256, hex))
            .transpose()?,
        username: row.username,
        realm: row.realm,
    }))
}

fn stored_ha1(hash: HashFunction, hex: &str) -> Result<Ha1> {
    Ha1::from_hex(hash, hex).ok_or_else(|| Error::CorruptRow {
        table: "lines",
        reason: format!("{hash:?} HA1 is not {} hex digits", hash.hex_len()),
    })
}

/// The channel every change of a line is announced on (migration 0009): the payload is the line's lower-case
/// digest username, or `*` when every line of a domain may have changed (its realm did).
pub const LINE_CHANGED_CHANNEL: &str = "carillon_line_changed";

/// What a line-change announcement names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineChange {
    /// The line with this lower-case username was created, changed or deleted.
    Line(String),
    /// Any line may have changed.
    All,
}

/// Announcements of changed lines, on a connection of their own ([`listen_line_changes`]).
#[derive(Debug)]
pub struct LineChanges(PgListener);

/// Starts listening for line changes. What changed before this returns is not announced: a caller that keeps
/// credentials must drop them all once this succeeds.
pub async fn listen_line_changes(pool: &PgPool) -> Result<LineChanges> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(LINE_CHANGED_CHANNEL).await?;
    Ok(LineChanges(listener))
}

impl LineChanges {
    /// The next announcement. `Ok(None)`: the connection was lost, and with it whatever was announced meanwhile;
    /// start again with [`listen_line_changes`].
    pub async fn next(&mut self) -> Result<Option<LineChange>> {
        let Some(notification) = self.0.try_recv().await? else { return Ok(None) };
        Ok(Some(match notification.payload() {
            "*" => LineChange::All,
            username => LineChange::Line(username.to_owned()),
        }))
    }
}
