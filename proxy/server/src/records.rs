//! Call records: the proxy core's [`carillon_proxy_core::CallRecord`] turned into the CDR row, and the answered
//! calls waiting for their BYE.
//!
//! An unanswered call ends with its final response, so its record is written at once. An answered call ends with
//! the BYE of its dialog, which the proxy sees because it record-routes: the record waits here, by Call-ID, until
//! a BYE of that Call-ID arrives (or the service stops, or [`MAX_CALL_LENGTH`] passes), and is written with that
//! end time.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use carillon_proxy_core::{CallDisposition, CallRecord};
use carillon_sip::HeaderName;
use carillon_sip::headers::NameAddr;
use carillon_sip::uri::Uri;

/// An answered call whose BYE never came is closed after this long (the end time is then unknown: the sweep's).
pub(crate) const MAX_CALL_LENGTH: Duration = Duration::from_secs(12 * 60 * 60);
/// Most answered calls waiting for their BYE; beyond it the oldest-looking is written at once.
const MAX_OPEN_CALLS: usize = 100_000;

/// Maps the monotonic instants of the proxy core to wall-clock times for the records.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    instant: Instant,
    system: SystemTime,
}

impl Clock {
    pub(crate) fn new() -> Clock {
        Clock { instant: Instant::now(), system: SystemTime::now() }
    }

    /// The wall-clock time of `at`.
    pub(crate) fn system_time(&self, at: Instant) -> SystemTime {
        match at.checked_duration_since(self.instant) {
            Some(after) => self.system + after,
            None => self.system - self.instant.duration_since(at),
        }
    }
}

/// What the record of one call is written with besides the proxy core's record.
#[derive(Debug, Clone)]
pub(crate) struct RecordContext {
    /// The node id.
    pub(crate) node: String,
    /// The domain the call was placed in (the CDR's `dcontext`).
    pub(crate) domain: String,
    /// The line that authenticated the call, if it was authenticated (the CDR's `channel`).
    pub(crate) caller_line: Option<String>,
    /// The trunk whose answer took the call, if a trunk answered (the CDR's `dstchannel`).
    pub(crate) answering_trunk: Option<String>,
    /// Fresh randomness for the record's unique id.
    pub(crate) random: u64,
}

/// The CDR row of a call that ended at `end`.
pub(crate) fn row(
    record: &CallRecord,
    context: &RecordContext,
    clock: &Clock,
    end: SystemTime,
) -> carillon_db::CallRecord {
    let from = NameAddr::parse_as(&record.from, HeaderName::From).ok();
    let caller = from.as_ref().and_then(|f| user_of(f.uri)).unwrap_or_default();
    let display = from.as_ref().and_then(NameAddr::display_name_text).unwrap_or_default();
    let clid = if display.is_empty() { format!("<{caller}>") } else { format!("\"{display}\" <{caller}>") };
    let dialled = user_of(&record.request_uri).unwrap_or_else(|| record.request_uri.clone());
    let uniqueid = format!("{}-{:016x}", context.node, context.random);
    let answered = record.disposition == CallDisposition::Answered;
    carillon_db::CallRecord {
        accountcode: String::new(),
        src: caller.clone(),
        dst: dialled,
        dcontext: context.domain.clone(),
        clid,
        channel: context.caller_line.clone().unwrap_or(caller),
        dstchannel: context.answering_trunk.clone().unwrap_or_default(),
        start: clock.system_time(record.started),
        answer: if answered { record.answered.map(|at| clock.system_time(at)) } else { None },
        end,
        disposition: disposition(record.disposition),
        amaflags: carillon_db::AmaFlags::default(),
        userfield: String::new(),
        linkedid: uniqueid.clone(),
        uniqueid,
        peeraccount: String::new(),
        call_id: record.call_id.clone(),
        node_id: Some(context.node.clone()),
    }
}

fn disposition(d: CallDisposition) -> carillon_db::Disposition {
    match d {
        CallDisposition::Answered => carillon_db::Disposition::Answered,
        CallDisposition::NoAnswer => carillon_db::Disposition::NoAnswer,
        CallDisposition::Busy => carillon_db::Disposition::Busy,
        CallDisposition::Cancel => carillon_db::Disposition::Cancel,
        CallDisposition::Failed => carillon_db::Disposition::Failed,
    }
}

/// The user part of a SIP URI, or the number of a tel URI.
fn user_of(uri: &str) -> Option<String> {
    match Uri::parse(uri).ok()? {
        Uri::Sip(sip) => sip.user_unescaped().map(|u| u.into_owned()),
        Uri::Tel(tel) => Some(tel.number.to_owned()),
        _ => None,
    }
}

/// Answered calls waiting for their BYE, by Call-ID.
#[derive(Debug, Default)]
pub(crate) struct OpenCalls {
    calls: HashMap<String, (CallRecord, RecordContext)>,
}

impl OpenCalls {
    /// Keeps an answered call until its BYE. Returns a record to write at once when the table is full.
    pub(crate) fn open(
        &mut self,
        record: CallRecord,
        context: RecordContext,
        clock: &Clock,
    ) -> Option<carillon_db::CallRecord> {
        let mut evicted = None;
        if self.calls.len() >= MAX_OPEN_CALLS
            && let Some(oldest) = self.calls.iter().min_by_key(|(_, (r, _))| r.started).map(|(k, _)| k.clone())
            && let Some((r, c)) = self.calls.remove(&oldest)
        {
            evicted = Some(row(&r, &c, clock, SystemTime::now()));
        }
        self.calls.insert(record.call_id.clone(), (record, context));
        evicted
    }

    /// The call with this Call-ID ended at `end` (its BYE arrived): its row.
    pub(crate) fn close(&mut self, call_id: &str, end: SystemTime, clock: &Clock) -> Option<carillon_db::CallRecord> {
        self.calls.remove(call_id).map(|(r, c)| row(&r, &c, clock, end))
    }

    /// Rows of calls open longer than [`MAX_CALL_LENGTH`] at `now`.
    pub(crate) fn sweep(&mut self, now: Instant, clock: &Clock) -> Vec<carillon_db::CallRecord> {
        let stale: Vec<String> = self
            .calls
            .iter()
            .filter(|(_, (r, _))| now.saturating_duration_since(r.started) > MAX_CALL_LENGTH)
            .map(|(k, _)| k.clone())
            .collect();
        stale.iter().filter_map(|k| self.close(k, clock.system_time(now), clock)).collect()
    }

    /// Rows of every open call, ended at `end` (the service is stopping).
    pub(crate) fn close_all(&mut self, end: SystemTime, clock: &Clock) -> Vec<carillon_db::CallRecord> {
        self.calls.drain().map(|(_, (r, c))| row(&r, &c, clock, end)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carillon_sip::{Method, StatusCode};

    fn record(disposition: CallDisposition) -> CallRecord {
        let started = Instant::now();
        CallRecord {
            method: Method::Invite,
            call_id: "call-1".to_owned(),
            from: "\"Alice Cueba\" <sip:4000@campus.test>;tag=a".to_owned(),
            request_uri: "sip:4001@campus.test".to_owned(),
            started,
            answered: (disposition == CallDisposition::Answered).then_some(started + Duration::from_secs(2)),
            answered_by: None,
            ended: started + Duration::from_secs(2),
            status: StatusCode::OK,
            disposition,
        }
    }

    fn context() -> RecordContext {
        RecordContext {
            node: "sip1".into(),
            domain: "campus.test".into(),
            caller_line: None,
            answering_trunk: None,
            random: 1,
        }
    }

    #[test]
    fn the_row_names_caller_and_dialled_number() {
        let clock = Clock::new();
        let r = record(CallDisposition::Busy);
        let row = row(&r, &context(), &clock, clock.system_time(r.ended));
        assert_eq!(row.src, "4000");
        assert_eq!(row.dst, "4001");
        assert_eq!(row.clid, "\"Alice Cueba\" <4000>");
        assert_eq!(row.disposition, carillon_db::Disposition::Busy);
        assert_eq!(row.answer, None, "only answered calls have an answer time");
        assert_eq!(row.uniqueid, row.linkedid);
        assert_eq!(row.dstchannel, "", "no trunk answered");
        let through_trunk = RecordContext { answering_trunk: Some("itsp-b".into()), ..context() };
        assert_eq!(row_of(&r, &through_trunk, &clock).dstchannel, "itsp-b");
    }

    fn row_of(r: &CallRecord, context: &RecordContext, clock: &Clock) -> carillon_db::CallRecord {
        row(r, context, clock, clock.system_time(r.ended))
    }

    #[test]
    fn an_answered_call_is_written_when_its_bye_arrives() {
        let clock = Clock::new();
        let mut open = OpenCalls::default();
        assert!(open.open(record(CallDisposition::Answered), context(), &clock).is_none());
        assert!(open.close("other", SystemTime::now(), &clock).is_none());
        let end = SystemTime::now() + Duration::from_secs(60);
        let row = open.close("call-1", end, &clock).expect("the open call");
        assert_eq!(row.end, end);
        assert!(row.answer.is_some());
        assert!(open.close_all(end, &clock).is_empty());
    }
}
