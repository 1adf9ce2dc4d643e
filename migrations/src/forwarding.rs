//! A user's forwarding, do-not-disturb and sequential ringing settings.

use std::time::Duration;

use sqlx::{Acquire, Postgres};

use crate::{Error, Result};

/// The no-answer delay of a user without a `forwarding` row (the column's default).
pub const DEFAULT_NO_ANSWER_DELAY: Duration = Duration::from_secs(20);

/// How calls to a user are forwarded. The order the proxy applies them in is documented on the `forwarding`
/// table: unconditional, do-not-disturb, sequential ring steps (or all lines), then busy or no-answer.
///
/// A target is what a caller could dial (extension, alias, outside number with its prefix) or a SIP URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarding {
    /// Treat the user as busy without ringing.
    pub do_not_disturb: bool,
    /// Forward every call here without ringing.
    pub unconditional_target: Option<String>,
    /// Forward here when every line is busy, or on do-not-disturb.
    pub busy_target: Option<String>,
    /// Forward here when nobody answers in time.
    pub no_answer_target: Option<String>,
    /// How long the lines ring before the no-answer forward, when there are no sequential ring steps (whole
    /// seconds, 1 to 600).
    pub no_answer_delay: Duration,
    /// Where calls ring, one step after another; empty rings all the user's lines at once.
    pub sequential_ring: Vec<RingStep>,
}

impl Default for Forwarding {
    /// No forwarding: what a user without settings gets.
    fn default() -> Forwarding {
        Forwarding {
            do_not_disturb: false,
            unconditional_target: None,
            busy_target: None,
            no_answer_target: None,
            no_answer_delay: DEFAULT_NO_ANSWER_DELAY,
            sequential_ring: Vec::new(),
        }
    }
}

/// One step of sequential ringing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingStep {
    /// What rings.
    pub target: RingTarget,
    /// How long before the next step starts (whole seconds, 1 to 600).
    pub ring_for: Duration,
}

/// What a sequential ring step rings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RingTarget {
    /// Every registered contact of the user's own lines (the desk phone, the softphone).
    OwnLines,
    /// A forward target, e.g. a mobile number.
    Forward(String),
}

/// Reads the forwarding settings of user `user_id`; [`Forwarding::default`] when the user has none.
pub async fn forwarding<'a>(conn: impl Acquire<'a, Database = Postgres>, user_id: i64) -> Result<Forwarding> {
    let mut conn = conn.acquire().await?;
    let settings = sqlx::query!(
        "SELECT do_not_disturb, unconditional_target, busy_target, no_answer_target, no_answer_delay_seconds
         FROM forwarding WHERE user_id = $1",
        user_id,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let steps = sqlx::query!(
        "SELECT target, ring_seconds FROM sequential_ring_steps WHERE user_id = $1 ORDER BY step",
        user_id
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut forwarding = match settings {
        Some(row) => Forwarding {
            do_not_disturb: row.do_not_disturb,
            unconditional_target: row.unconditional_target,
            busy_target: row.busy_target,
            no_answer_target: row.no_answer_target,
            no_answer_delay: seconds_from_db("forwarding", row.no_answer_delay_seconds)?,
            sequential_ring: Vec::new(),
        },
        None => Forwarding::default(),
    };
    for step in steps {
        forwarding.sequential_ring.push(RingStep {
            target: step.target.map_or(RingTarget::OwnLines, RingTarget::Forward),
            ring_for: seconds_from_db("sequential_ring_steps", step.ring_seconds)?,
        });
    }
    Ok(forwarding)
}

/// Replaces the forwarding settings of user `user_id` (both tables, in one transaction).
pub async fn set_forwarding<'a>(
    conn: impl Acquire<'a, Database = Postgres>,
    user_id: i64,
    forwarding: &Forwarding,
) -> Result<()> {
    let delay = seconds_to_db("no_answer_delay", forwarding.no_answer_delay)?;
    let mut tx = conn.begin().await?;
    sqlx::query!(
        "INSERT INTO forwarding
             (user_id, do_not_disturb, unconditional_target, busy_target, no_answer_target, no_answer_delay_seconds)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (user_id) DO UPDATE SET
             do_not_disturb = EXCLUDED.do_not_disturb,
             unconditional_target = EXCLUDED.unconditional_target,
             busy_target = EXCLUDED.busy_target,
             no_answer_target = EXCLUDED.no_answer_target,
             no_answer_delay_seconds = EXCLUDED.no_answer_delay_seconds,
             updated_at = now()",
        user_id,
        forwarding.do_not_disturb,
        forwarding.unconditional_target,
        forwarding.busy_target,
        forwarding.no_answer_target,
        delay,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!("DELETE FROM sequential_ring_steps WHERE user_id = $1", user_id).execute(&mut *tx).await?;
    for (index, step) in forwarding.sequential_ring.iter().enumerate() {
        let position = i16::try_from(index + 1)
            .map_err(|_| Error::InvalidInput { what: "sequential_ring", reason: "too many steps".to_owned() })?;
        let target = match &step.target {
            RingTarget::OwnLines => None,
            RingTarget::Forward(target) => Some(target.as_str()),
        };
        sqlx::query!(
            "INSERT INTO sequential_ring_steps (user_id, step, target, ring_seconds) VALUES ($1, $2, $3, $4)",
            user_id,
            position,
            target,
            seconds_to_db("ring_for", step.ring_for)?,
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

fn seconds_from_db(table: &'static str, seconds: i32) -> Result<Duration> {
    u64::try_from(seconds)
        .map(Duration::from_secs)
        .map_err(|_| Error::CorruptRow { table, reason: format!("negative duration {seconds}") })
}

fn seconds_to_db(what: &'static str, duration: Duration) -> Result<i32> {
    if duration.subsec_nanos() != 0 {
        return Err(Error::InvalidInput { what, reason: format!("{duration:?} is not whole seconds") });
    }
    i32::try_from(duration.as_secs())
        .map_err(|_| Error::InvalidInput { what, reason: format!("{duration:?} too long") })
}
