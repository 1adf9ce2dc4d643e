//! Timestamp (RFC 3261 §20.38): when a request was sent, echoed by the UAS for round-trip estimates.
//!
//! ```text
//! Timestamp = "Timestamp" HCOLON 1*(DIGIT) [ "." *(DIGIT) ] [ LWS delay ]
//! delay     = *(DIGIT) [ "." *(DIGIT) ]
//! ```

use std::time::Duration;

use super::lexical::{is_decimal, leading_digits};
use crate::error::Error;
use crate::message::HeaderName;
use crate::text::{is_lws, trim_lws};

/// A Timestamp value, kept as text: a UAS echoes [`Timestamp::value`] unchanged (RFC 3261 §8.2.6.1), whatever
/// its precision or size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp<'a> {
    /// The timestamp as written by the sender of the request.
    pub value: &'a str,
    /// The delay added by the UAS that echoed it, as written.
    pub delay: Option<&'a str>,
}

impl<'a> Timestamp<'a> {
    /// Parses a Timestamp value. Numbers of any length are accepted: they are echoed, not computed with.
    pub fn parse(v: &'a str) -> Result<Timestamp<'a>, Error> {
        let bad = |reason| Error::BadHeaderValue { name: HeaderName::Timestamp, reason };
        let v = trim_lws(v);
        if leading_digits(v) == 0 {
            return Err(bad("does not start with a digit"));
        }
        let value_end = v.find(|c: char| c.is_ascii() && is_lws(c as u8)).unwrap_or(v.len());
        let (value, rest) = v.split_at(value_end);
        if !is_decimal(value) {
            return Err(bad("timestamp is not 1*DIGIT [\".\" *DIGIT]"));
        }
        let delay = trim_lws(rest);
        if !is_decimal(delay) {
            return Err(bad("delay is not *DIGIT [\".\" *DIGIT]"));
        }
        Ok(Timestamp { value, delay: (!delay.is_empty()).then_some(delay) })
    }

    /// The timestamp as a duration (seconds since whatever origin its sender chose); `None` beyond 2**64
    /// seconds. Digits past nanoseconds are dropped.
    pub fn value_duration(&self) -> Option<Duration> {
        decimal_duration(self.value)
    }

    /// The delay as a duration; `None` when absent or beyond 2**64 seconds.
    pub fn delay_duration(&self) -> Option<Duration> {
        decimal_duration(self.delay?)
    }

    /// The value a UAS puts in its response: the request's timestamp followed by the time the request waited
    /// before being answered, in seconds with millisecond precision (RFC 3261 §8.2.6.1).
    pub fn echo_with_delay(&self, delay: Duration) -> String {
        format!("{} {}.{:03}", self.value, delay.as_secs(), delay.subsec_millis())
    }
}

/// `*DIGIT ["." *DIGIT]` as a duration.
fn decimal_duration(s: &str) -> Option<Duration> {
    if !is_decimal(s) {
        return None;
    }
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let int = int.trim_start_matches('0');
    let secs = if int.is_empty() { 0 } else { int.parse::<u64>().ok()? };
    let nanos = frac.bytes().chain(std::iter::repeat(b'0')).take(9).fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    Some(Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3261 §20.38 example and the forms of its grammar.
    #[test]
    fn rfc3261_20_38_forms() {
        let t = Timestamp::parse("54").expect("valid");
        assert_eq!((t.value, t.delay), ("54", None));
        let t = Timestamp::parse("54.123 \r\n 0.5").expect("valid");
        assert_eq!((t.value, t.delay), ("54.123", Some("0.5")));
        assert_eq!(t.value_duration(), Some(Duration::from_millis(54_123)));
        assert_eq!(t.delay_duration(), Some(Duration::from_millis(500)));
        let t = Timestamp::parse("54. .5").expect("empty fractions are allowed");
        assert_eq!((t.value, t.delay), ("54.", Some(".5")));
        assert_eq!(t.value_duration(), Some(Duration::from_secs(54)));
    }

    /// Overlong numbers are kept for echoing; only their durations are out of range.
    #[test]
    fn overlong_numbers_are_echoed() {
        let v = "123456789012345678901234567890.1234567890123";
        let t = Timestamp::parse(v).expect("valid");
        assert_eq!(t.value, v);
        assert_eq!(t.value_duration(), None);
        let t = Timestamp::parse("18446744073709551615.9999999999").expect("valid");
        assert_eq!(t.value_duration(), Some(Duration::new(u64::MAX, 999_999_999)));
        assert_eq!(t.echo_with_delay(Duration::from_millis(2_050)), "18446744073709551615.9999999999 2.050");
    }

    #[test]
    fn rfc3261_20_38_malformed() {
        for v in ["", ".5", "abc", "5 x", "5 1 2", "5,1", "5.1.2", "5 1.2.3", "-5", "5;x=1"] {
            assert!(Timestamp::parse(v).is_err(), "{v:?}");
        }
    }
}
