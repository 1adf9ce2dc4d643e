//! What call routing reads per call: the dialled user with the user's class, lines and forwarding settings in one
//! round trip, and the emergency numbers the proxy keeps in memory.

use std::time::Duration;

use sqlx::{Acquire, PgExecutor, Postgres};

use crate::dial_plan::{AliasKind, DialledUser, LineSummary, User};
use crate::forwarding::{Forwarding, RingStep, RingTarget};
use crate::routes::{CallPermissions, EmergencyRoute, emergency_route};
use crate::{Error, Result};

/// The user a dialled string reaches, with everything routing needs to decide where the call rings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callee {
    /// The user, the kind of alias that matched, and the user's lines (oldest first).
    pub user: DialledUser,
    /// What the user's class may call: forward targets outside the domain are checked against it, since the
    /// user chose them.
    pub permissions: CallPermissions,
    /// The user's forwarding, do-not-disturb and sequential ringing settings ([`Forwarding::default`] when the
    /// user has none).
    pub forwarding: Forwarding,
}

/// Resolves `dialled` (an extension or a name alias, ignoring case) in the domain named `domain` to the user
/// with class permissions, lines, forwarding settings and sequential ring steps, in one query; `None` when no
/// alias matches. Read per call, so a change of the settings applies to the next call.
pub async fn callee(executor: impl PgExecutor<'_>, domain: &str, dialled: &str) -> Result<Option<Callee>> {
    // A ring step's NULL target (the user's own lines) travels as '' in the array: the column refuses ''.
    let row = sqlx::query!(
        r#"SELECT u.id, u.domain_id, u.name, u.display_name, u.email, u.department, u.user_class_id, a.kind,
                  c.may_call_internal, c.may_call_campus, c.may_call_local, c.may_call_long_distance,
                  c.may_call_international,
                  f.do_not_disturb AS "do_not_disturb?", f.unconditional_target AS "unconditional_target?",
                  f.busy_target AS "busy_target?", f.no_answer_target AS "no_answer_target?",
                  f.no_answer_delay_seconds AS "no_answer_delay_seconds?",
                  ARRAY(SELECT l.id FROM lines l WHERE l.user_id = u.id ORDER BY l.id) AS "line_ids!",
                  ARRAY(SELECT l.username FROM lines l WHERE l.user_id = u.id ORDER BY l.id) AS "line_usernames!",
                  ARRAY(SELECT l.device_id FROM lines l WHERE l.user_id = u.id ORDER BY l.id) AS "line_devices!",
                  ARRAY(SELECT coalesce(s.target, '') FROM sequential_ring_steps s WHERE s.user_id = u.id
                        ORDER BY s.step) AS "step_targets!",
                  ARRAY(SELECT s.ring_seconds FROM sequential_ring_steps s WHERE s.user_id = u.id
                        ORDER BY s.step) AS "step_seconds!"
           FROM aliases a
           JOIN domains d ON d.id = a.domain_id
           JOIN users u ON u.id = a.user_id
           JOIN user_classes c ON c.id = u.user_class_id
           LEFT JOIN forwarding f ON f.user_id = u.id
           WHERE d.name = lower($1) AND lower(a.alias) = lower($2)"#,
        domain,
        dialled,
    )
    .fetch_optional(executor)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let matched = match row.kind.as_str() {
        "extension" => AliasKind::Extension,
        "name" => AliasKind::Name,
        other => return Err(Error::CorruptRow { table: "aliases", reason: format!("unknown kind {other:?}") }),
    };
    let lines = row
        .line_ids
        .iter()
        .zip(&row.line_usernames)
        .zip(&row.line_devices)
        .map(|((&id, username), &device_id)| LineSummary { id, username: username.clone(), device_id })
        .collect();
    let mut forwarding = Forwarding::default();
    if let Some(do_not_disturb) = row.do_not_disturb {
        forwarding.do_not_disturb = do_not_disturb;
        forwarding.unconditional_target = row.unconditional_target;
        forwarding.busy_target = row.busy_target;
        forwarding.no_answer_target = row.no_answer_target;
        if let Some(seconds) = row.no_answer_delay_seconds {
            forwarding.no_answer_delay = seconds_from_db("forwarding", seconds)?;
        }
    }
    for (target, &seconds) in row.step_targets.into_iter().zip(&row.step_seconds) {
        forwarding.sequential_ring.push(RingStep {
            target: if target.is_empty() { RingTarget::OwnLines } else { RingTarget::Forward(target) },
            ring_for: seconds_from_db("sequential_ring_steps", seconds)?,
        });
    }
    Ok(Some(Callee {
        user: DialledUser {
            user: User {
                id: row.id,
                domain_id: row.domain_id,
                name: row.name,
                display_name: row.display_name,
                email: row.email,
                department: row.department,
                user_class_id: row.user_class_id,
            },
            matched,
            lines,
        },
        permissions: CallPermissions {
            internal: row.may_call_internal,
            campus: row.may_call_campus,
            local: row.may_call_local,
            long_distance: row.may_call_long_distance,
            international: row.may_call_international,
        },
        forwarding,
    }))
}

/// Every emergency number with its gateway, by number.
pub async fn emergency_routes<'a>(conn: impl Acquire<'a, Database = Postgres>) -> Result<Vec<EmergencyRoute>> {
    let mut conn = conn.acquire().await?;
    let numbers =
        sqlx::query_scalar!("SELECT number FROM emergency_numbers ORDER BY number").fetch_all(&mut *conn).await?;
    let mut routes = Vec::with_capacity(numbers.len());
    for number in numbers {
        // A number deleted between the two queries is simply left out.
        if let Some(route) = emergency_route(&mut *conn, &number).await? {
            routes.push(route);
        }
    }
    Ok(routes)
}

fn seconds_from_db(table: &'static str, seconds: i32) -> Result<Duration> {
    u64::try_from(seconds)
        .map(Duration::from_secs)
        .map_err(|_| Error::CorruptRow { table, reason: format!("negative duration {seconds}") })
}
