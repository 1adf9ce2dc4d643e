//! Date (RFC 3261 §20.17): an RFC 1123 date, always in GMT.
//!
//! ```text
//! SIP-date     = rfc1123-date
//! rfc1123-date = wkday "," SP date1 SP time SP "GMT"
//! date1        = 2DIGIT SP month SP 4DIGIT
//! time         = 2DIGIT ":" 2DIGIT ":" 2DIGIT
//! ```
//!
//! Only GMT is allowed; RFC 4475 §3.1.2.15 (baddate) uses `EST`, which is an error here. A Date header is
//! informative, so callers are free to ignore the error.

use std::time::SystemTime;

use crate::error::Error;
use crate::message::HeaderName;
use crate::text::is_lws;

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
/// Length of `Sun, 06 Nov 1994 08:49:37 GMT`.
const CANONICAL_LEN: usize = 29;

/// A Date value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SipDate<'a> {
    /// The value as written.
    pub raw: &'a str,
    /// The instant it names.
    pub time: SystemTime,
}

impl<'a> SipDate<'a> {
    /// Parses a Date value. Names of days and months and the zone compare case-insensitively (they are ABNF
    /// literals), a run of LWS stands for each SP, and the weekday must agree with the date.
    pub fn parse(v: &'a str) -> Result<SipDate<'a>, Error> {
        let bad = |reason| Error::BadHeaderValue { name: HeaderName::Date, reason };
        let mut words = v.split(|c: char| c.is_ascii() && is_lws(c as u8)).filter(|w| !w.is_empty());
        let mut next = || words.next().ok_or(bad("not wkday, DD Mon YYYY HH:MM:SS GMT"));
        let (weekday, day, month, year, time, zone) = (next()?, next()?, next()?, next()?, next()?, next()?);
        if next().is_ok() {
            return Err(bad("junk after the date"));
        }
        if !zone.eq_ignore_ascii_case("GMT") {
            return Err(bad("time zone is not GMT"));
        }
        let weekday = weekday.strip_suffix(',').and_then(|w| canonical(&WEEKDAYS, w)).ok_or(bad("bad weekday"))?;
        let month = canonical(&MONTHS, month).ok_or(bad("bad month"))?;
        let digits = |s: &str, n| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(day, 2) || !digits(year, 4) {
            return Err(bad("day is not 2 digits or year not 4"));
        }
        let time_ok = time.len() == 8
            && time.bytes().enumerate().all(|(i, b)| if i == 2 || i == 5 { b == b':' } else { b.is_ascii_digit() });
        if !time_ok {
            return Err(bad("time is not HH:MM:SS"));
        }
        // The one form httpdate parses as rfc1123, rebuilt on the stack with single spaces and canonical case.
        let mut canonical_text = [0u8; CANONICAL_LEN];
        let parts: [&[u8]; 11] = [
            weekday.as_bytes(),
            b", ",
            day.as_bytes(),
            b" ",
            month.as_bytes(),
            b" ",
            year.as_bytes(),
            b" ",
            time.as_bytes(),
            b" ",
            b"GMT",
        ];
        let mut at = 0;
        for part in parts {
            let end = at + part.len();
            canonical_text.get_mut(at..end).ok_or(bad("malformed date"))?.copy_from_slice(part);
            at = end;
        }
        let text = std::str::from_utf8(&canonical_text).map_err(|_| bad("malformed date"))?;
        let time = httpdate::parse_http_date(text).map_err(|_| bad("no such date, or weekday does not match"))?;
        Ok(SipDate { raw: v, time })
    }
}

/// The canonical spelling of `word` in `table`, compared case-insensitively.
fn canonical(table: &[&'static str], word: &str) -> Option<&'static str> {
    table.iter().find(|name| name.eq_ignore_ascii_case(word)).copied()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// 2010-11-13T23:29:00Z as seconds since the Unix epoch.
    const NOV_13_2010: u64 = 1_289_690_940;

    /// RFC 3261 §20.17 / RFC 4475 §3.1.1.1.
    #[test]
    fn rfc3261_20_17_gmt() {
        let d = SipDate::parse("Sat, 13 Nov 2010 23:29:00 GMT").expect("valid");
        assert_eq!(d.time, SystemTime::UNIX_EPOCH + Duration::from_secs(NOV_13_2010));
        let d = SipDate::parse("sAT,\r\n 13  nov 2010\t23:29:00 gmt").expect("case and folds");
        assert_eq!(d.time, SystemTime::UNIX_EPOCH + Duration::from_secs(NOV_13_2010));
    }

    /// RFC 4475 §3.1.2.15: baddate uses a zone other than GMT.
    #[test]
    fn rfc4475_baddate_est_is_an_error() {
        let e = SipDate::parse("Fri, 01 Jan 2010 16:00:00 EST").expect_err("EST");
        assert_eq!(e, Error::BadHeaderValue { name: HeaderName::Date, reason: "time zone is not GMT" });
    }

    #[test]
    fn rfc3261_20_17_malformed() {
        for v in [
            "",
            "Sat, 13 Nov 2010 23:29:00",
            "Sat, 13 Nov 2010 23:29:00 GMT extra",
            "Sat 13 Nov 2010 23:29:00 GMT",
            "Sat, 3 Nov 2010 23:29:00 GMT",
            "Sat, 13 Nov 10 23:29:00 GMT",
            "Sat, 13 November 2010 23:29:00 GMT",
            "Sat, 13 Nov 2010 23:29 GMT",
            "Sat, 13 Nov 2010 23-29-00 GMT",
            "Sat, 13 Nov 2010 24:00:00 GMT",
            "Sat, 31 Nov 2010 23:29:00 GMT",
            "Sun, 13 Nov 2010 23:29:00 GMT",
            "Thu, 01 Jan 1960 00:00:00 GMT",
            "Sat, 13 Nov 2010 23:29:00 +0000",
            "Sat, 13 Nov 02010 23:29:00 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sât, 13 Nov 2010 23:29:00 GMT",
        ] {
            assert!(SipDate::parse(v).is_err(), "{v:?}");
        }
    }
}
