//! Retry-After (RFC 3261 §20.33): when a refused request may be tried again.
//!
//! ```text
//! Retry-After = "Retry-After" HCOLON delta-seconds [ comment ] *( SEMI retry-param )
//! retry-param = ("duration" EQUAL delta-seconds) / generic-param
//! ```

use std::borrow::Cow;

use super::lexical::{leading_digits, skip_comment};
use super::parse_delta_seconds;
use crate::error::Error;
use crate::message::HeaderName;
use crate::text::{Params, trim_lws, trim_lws_start, unescape_quoted};

/// A Retry-After value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter<'a> {
    /// How many seconds to wait before trying again.
    pub seconds: u32,
    /// The comment without its outer parentheses, as written (nested comments and quoted-pairs kept).
    pub comment: Option<&'a str>,
    /// The parameters; a duration parameter has been checked by [`RetryAfter::parse`].
    pub params: Params<'a>,
}

impl<'a> RetryAfter<'a> {
    /// Parses a Retry-After value.
    pub fn parse(v: &'a str) -> Result<RetryAfter<'a>, Error> {
        let bad = |reason| Error::BadHeaderValue { name: HeaderName::RetryAfter, reason };
        let v = trim_lws(v);
        let digits = leading_digits(v);
        if digits == 0 {
            return Err(bad("no delta-seconds"));
        }
        let seconds = parse_delta_seconds(&v[..digits], HeaderName::RetryAfter)?;
        let after_number = &v[digits..];
        let mut rest = trim_lws_start(after_number);
        let mut comment = None;
        if rest.starts_with('(') {
            let end = skip_comment(rest.as_bytes(), 0).ok_or(bad("unterminated or malformed comment"))?;
            comment = Some(&rest[1..end - 1]);
            rest = trim_lws_start(&rest[end..]);
        } else if !rest.is_empty() && rest.len() == after_number.len() && !rest.starts_with(';') {
            return Err(bad("junk after delta-seconds"));
        }
        let params = match rest {
            "" => Params::new(""),
            _ => {
                let raw = rest.strip_prefix(';').ok_or(bad("junk after delta-seconds"))?;
                let params = Params::new(raw);
                if trim_lws(raw).is_empty() || !params.validate() {
                    return Err(bad("malformed parameter"));
                }
                params
            }
        };
        if let Some(duration) = params.get("duration") {
            duration
                .ok_or(())
                .and_then(|d| parse_delta_seconds(d, HeaderName::RetryAfter).map_err(drop))
                .map_err(|()| bad("duration is not delta-seconds"))?;
        }
        Ok(RetryAfter { seconds, comment, params })
    }

    /// The duration parameter in seconds: how long the callee will be reachable once available.
    pub fn duration(&self) -> Option<u32> {
        parse_delta_seconds(self.params.get("duration")??, HeaderName::RetryAfter).ok()
    }

    /// The comment with its quoted-pairs resolved (nested parentheses kept).
    pub fn comment_text(&self) -> Option<Cow<'a, str>> {
        self.comment.map(unescape_quoted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3261 §20.33 examples.
    #[test]
    fn rfc3261_20_33_examples() {
        let r = RetryAfter::parse("18000;duration=3600").expect("valid");
        assert_eq!((r.seconds, r.duration(), r.comment), (18000, Some(3600), None));
        let r = RetryAfter::parse("120 (I'm in a meeting)").expect("valid");
        assert_eq!((r.seconds, r.comment), (120, Some("I'm in a meeting")));
    }

    /// RFC 3261 §25.1: comments nest and hold quoted-pairs; `;` and `"` inside them are text.
    #[test]
    fn rfc3261_25_1_nested_comment() {
        let r =
            RetryAfter::parse("0120\r\n (back \\(maybe\\) at 3 (or \"4\"; or 5)) ;\r\n duration = 60 ;x").expect("ok");
        assert_eq!(r.seconds, 120);
        assert_eq!(r.comment, Some("back \\(maybe\\) at 3 (or \"4\"; or 5)"));
        assert_eq!(r.comment_text().as_deref(), Some("back (maybe) at 3 (or \"4\"; or 5)"));
        assert_eq!(r.duration(), Some(60));
        assert!(r.params.contains("x"));
        let r = RetryAfter::parse("5(no space)").expect("LPAREN allows no whitespace");
        assert_eq!(r.comment, Some("no space"));
    }

    #[test]
    fn rfc3261_20_33_malformed() {
        for v in [
            "",
            "soon",
            "-5",
            "4294967296",
            "99999999999999999999999",
            "120abc",
            "120 abc",
            "120 (unclosed",
            "120 (a) (b)",
            "120;",
            "120;duration",
            "120;duration=1.5",
            "120;duration=4294967296",
            "120 ;; x",
        ] {
            assert!(RetryAfter::parse(v).is_err(), "{v:?}");
        }
        assert_eq!(RetryAfter::parse("4294967295").expect("u32::MAX").seconds, u32::MAX);
    }
}
