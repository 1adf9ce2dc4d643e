//! Resolving what a caller dialled (an extension or a name) to a user and the user's lines.

use sqlx::PgExecutor;

use crate::{Error, Result};

/// Whether an alias is an extension or a name; derived from the alias itself (all digits or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AliasKind {
    /// Digits, e.g. `4711`.
    Extension,
    /// Letters and more, e.g. `alice.cueba`.
    Name,
}

impl AliasKind {
    fn from_db(kind: &str) -> Result<AliasKind> {
        match kind {
            "extension" => Ok(AliasKind::Extension),
            "name" => Ok(AliasKind::Name),
            other => Err(Error::CorruptRow { table: "aliases", reason: format!("unknown kind {other:?}") }),
        }
    }
}

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Row id.
    pub id: i64,
    /// The user's domain.
    pub domain_id: i64,
    /// Login name, e.g. `alice`.
    pub name: String,
    /// Name shown to callees; empty when none.
    pub display_name: String,
    /// E-mail address, when known.
    pub email: Option<String>,
    /// Organisational unit, when known.
    pub department: Option<String>,
    /// The user's class (what the user may call).
    pub user_class_id: i64,
}

/// One of a user's lines: whose registrations to ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineSummary {
    /// Row id; registrations refer to it.
    pub id: i64,
    /// Digest username, also the user part of the line's address of record.
    pub username: String,
    /// The device the line is provisioned on.
    pub device_id: i64,
}

/// The user a dialled string reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialledUser {
    /// The user.
    pub user: User,
    /// Whether an extension or a name matched.
    pub matched: AliasKind,
    /// The user's lines, oldest first; empty when the user has none.
    pub lines: Vec<LineSummary>,
}

/// Resolves `dialled` (an extension or a name alias, ignoring case) in the domain named `domain` to a user and
/// the user's lines, in one round trip; `None` when no alias matches.
pub async fn resolve_dialled(
    executor: impl PgExecutor<'_>,
    domain: &str,
    dialled: &str,
) -> Result<Option<DialledUser>> {
    let rows = sqlx::query!(
        r#"SELECT u.id, u.domain_id, u.name, u.display_name, u.email, u.department, u.user_class_id, a.kind,
                  l.id AS "line_id?", l.username AS "line_username?", l.device_id AS "line_device_id?"
           FROM aliases a
           JOIN domains d ON d.id = a.domain_id
           JOIN users u ON u.id = a.user_id
           LEFT JOIN lines l ON l.user_id = u.id
           WHERE d.name = lower($1) AND lower(a.alias) = lower($2)
           ORDER BY l.id"#,
        domain,
        dialled,
    )
    .fetch_all(executor)
    .await?;
    let mut rows = rows.into_iter().peekable();
    let Some(first) = rows.peek() else { return Ok(None) };
    let mut dialled_user = DialledUser {
        user: User {
            id: first.id,
            domain_id: first.domain_id,
            name: first.name.clone(),
            display_name: first.display_name.clone(),
            email: first.email.clone(),
            department: first.department.clone(),
            user_class_id: first.user_class_id,
        },
        matched: AliasKind::from_db(&first.kind)?,
        lines: Vec::new(),
    };
    for row in rows {
        if let (Some(id), Some(username), Some(device_id)) = (row.line_id, row.line_username, row.line_device_id) {
            dialled_user.lines.push(LineSummary { id, username, device_id });
        }
    }
    Ok(Some(dialled_user))
}
