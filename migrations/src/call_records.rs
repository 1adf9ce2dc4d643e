//! Call records (CDRs) with Asterisk's field set.

use std::time::SystemTime;

use sqlx::PgExecutor;

use crate::time::{from_db, to_db};
use crate::{Error, Result};

/// How a call ended, as Asterisk's CDR `disposition` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Answered (a 2xx).
    Answered,
    /// Rang without an answer (timeout, 408, 480).
    NoAnswer,
    /// The callee was busy (486, 600).
    Busy,
    /// Failed for another reason (404, 5xx, no route, refused by class).
    Failed,
    /// The caller hung up before an answer (CANCEL).
    Cancel,
}

impl Disposition {
    /// The stored text: `ANSWERED`, `NO ANSWER`, `BUSY`, `FAILED` or `CANCEL`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Disposition::Answered => "ANSWERED",
            Disposition::NoAnswer => "NO ANSWER",
            Disposition::Busy => "BUSY",
            Disposition::Failed => "FAILED",
            Disposition::Cancel => "CANCEL",
        }
    }

    fn from_db(text: &str) -> Result<Disposition> {
        [Disposition::Answered, Disposition::NoAnswer, Disposition::Busy, Disposition::Failed, Disposition::Cancel]
            .into_iter()
            .find(|d| d.as_str() == text)
            .ok_or_else(|| Error::CorruptRow { table: "call_records", reason: format!("disposition {text:?}") })
    }
}

/// Asterisk's AMA (automated message accounting) flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AmaFlags {
    /// 1: leave out of billing.
    Omit,
    /// 2: bill.
    Billing,
    /// 3: record for documentation (Asterisk's default).
    #[default]
    Documentation,
}

impl AmaFlags {
    /// The stored number, as Asterisk numbers the flags.
    pub const fn as_number(self) -> i16 {
        match self {
            AmaFlags::Omit => 1,
            AmaFlags::Billing => 2,
            AmaFlags::Documentation => 3,
        }
    }

    fn from_db(number: i16) -> Result<AmaFlags> {
        match number {
            1 => Ok(AmaFlags::Omit),
            2 => Ok(AmaFlags::Billing),
            3 => Ok(AmaFlags::Documentation),
            _ => Err(Error::CorruptRow { table: "call_records", reason: format!("amaflags {number}") }),
        }
    }
}

/// One call, as the proxy records it. Field names are Asterisk's CDR columns; their meaning in Carillon is
/// documented on the `call_records` table. `duration` and `billsec` are derived by the database from the times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// Account code of the caller.
    pub accountcode: String,
    /// Caller's number.
    pub src: String,
    /// Dialled number or alias.
    pub dst: String,
    /// The domain the call was placed in.
    pub dcontext: String,
    /// Caller ID as presented: `"Display Name" <number>`.
    pub clid: String,
    /// The calling side: line username or trunk name.
    pub channel: String,
    /// The answering side; empty when unanswered.
    pub dstchannel: String,
    /// When the INVITE arrived.
    pub start: SystemTime,
    /// When it was answered; `Some` exactly when `disposition` is [`Disposition::Answered`].
    pub answer: Option<SystemTime>,
    /// When the call ended.
    pub end: SystemTime,
    /// How it ended.
    pub disposition: Disposition,
    /// Billing flag.
    pub amaflags: AmaFlags,
    /// Free text for site use.
    pub userfield: String,
    /// Unique id of this record.
    pub uniqueid: String,
    /// `uniqueid` of the first record of a chain of related calls; its own otherwise.
    pub linkedid: String,
    /// Account code of the called side.
    pub peeraccount: String,
    /// SIP Call-ID of the caller's leg.
    pub call_id: String,
    /// The node that handled the call.
    pub node_id: Option<String>,
}

/// A call record as stored, with what the database derived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCallRecord {
    /// Row id.
    pub id: i64,
    /// Whole seconds from start to end.
    pub duration: u32,
    /// Whole seconds from answer to end; 0 when unanswered.
    pub billsec: u32,
    /// The record. Times come back with the database's microsecond precision.
    pub record: CallRecord,
}

/// Stores a call record; `false` when a record with the same `uniqueid` exists already (a retried write), in
/// which case nothing changes.
pub async fn insert_call_record(executor: impl PgExecutor<'_>, record: &CallRecord) -> Result<bool> {
    let r = record;
    let done = sqlx::query!(
        r#"INSERT INTO call_records
               (accountcode, src, dst, dcontext, clid, channel, dstchannel, start, answer, "end", disposition,
                amaflags, userfield, uniqueid, linkedid, peeraccount, call_id, node_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
           ON CONFLICT (uniqueid) DO NOTHING"#,
        r.accountcode,
        r.src,
        r.dst,
        r.dcontext,
        r.clid,
        r.channel,
        r.dstchannel,
        to_db(r.start),
        r.answer.map(to_db),
        to_db(r.end),
        r.disposition.as_str(),
        r.amaflags.as_number(),
        r.userfield,
        r.uniqueid,
        r.linkedid,
        r.peeraccount,
        r.call_id,
        r.node_id,
    )
    .execute(executor)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The call record with `uniqueid`, if any.
pub async fn call_record(executor: impl PgExecutor<'_>, uniqueid: &str) -> Result<Option<StoredCallRecord>> {
    let row = sqlx::query!(
        r#"SELECT id, accountcode, src, dst, dcontext, clid, channel, dstchannel, start, answer, "end", duration,
                  billsec, disposition, amaflags, userfield, uniqueid, linkedid, peeraccount, call_id, node_id
           FROM call_records WHERE uniqueid = $1"#,
        uniqueid,
    )
    .fetch_optional(executor)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let seconds = |value: i32| {
        u32::try_from(value)
            .map_err(|_| Error::CorruptRow { table: "call_records", reason: format!("negative duration {value}") })
    };
    Ok(Some(StoredCallRecord {
        id: row.id,
        duration: seconds(row.duration)?,
        billsec: seconds(row.billsec)?,
        record: CallRecord {
            accountcode: row.accountcode,
            src: row.src,
            dst: row.dst,
            dcontext: row.dcontext,
            clid: row.clid,
            channel: row.channel,
            dstchannel: row.dstchannel,
            start: from_db(row.start),
            answer: row.answer.map(from_db),
            end: from_db(row.end),
            disposition: Disposition::from_db(&row.disposition)?,
            amaflags: AmaFlags::from_db(row.amaflags)?,
            userfield: row.userfield,
            uniqueid: row.uniqueid,
            linkedid: row.linkedid,
            peeraccount: row.peeraccount,
            call_id: row.call_id,
            node_id: row.node_id,
        },
    }))
}
