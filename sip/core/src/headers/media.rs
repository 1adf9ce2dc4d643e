//! Media types: the Content-Type value and the elements of Accept (RFC 3261 §20.15, §20.1).
//!
//! ```text
//! media-type   = m-type SLASH m-subtype *(SEMI m-parameter)
//! accept-range = media-range *(SEMI accept-param)
//! media-range  = ( "*/*" / ( m-type SLASH "*" ) / ( m-type SLASH m-subtype ) ) *( SEMI m-parameter )
//! accept-param = ("q" EQUAL qvalue) / generic-param
//! ```
//!
//! Types, subtypes and parameter names compare case-insensitively (RFC 2045 §5.1).

use std::borrow::Cow;

use super::lexical::split_params;
use crate::error::Error;
use crate::message::HeaderName;
use crate::text::{Params, is_token, trim_lws};

/// A media type, or an Accept media range (which may use `*` wildcards).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaType<'a> {
    /// The top-level type as written (`application`, or `*` in a range).
    pub top_level: &'a str,
    /// The subtype as written (`sdp`, or `*` in a range).
    pub subtype: &'a str,
    /// The parameters (`charset`, `boundary`, and for Accept `q`).
    pub params: Params<'a>,
    /// `type/subtype` as written, for a borrowed [`MediaType::essence`] when it is already canonical.
    written: &'a str,
}

impl<'a> MediaType<'a> {
    /// Parses a Content-Type value.
    pub fn parse(v: &'a str) -> Result<MediaType<'a>, Error> {
        MediaType::parse_as(v, HeaderName::ContentType)
    }

    /// Parses a value of `header`: Content-Type, or one element of Accept, whose q parameter is checked.
    pub fn parse_as(v: &'a str, header: HeaderName) -> Result<MediaType<'a>, Error> {
        let bad = |reason| Error::BadHeaderValue { name: header, reason };
        let (written, params) = split_params(v).ok_or(bad("malformed parameter"))?;
        // SLASH = SWS "/" SWS
        let (top_level, subtype) = written.split_once('/').ok_or(bad("no / between type and subtype"))?;
        let (top_level, subtype) = (trim_lws(top_level), trim_lws(subtype));
        if !is_token(top_level) || !is_token(subtype) {
            return Err(bad("type or subtype is not a token"));
        }
        if top_level == "*" && subtype != "*" {
            return Err(bad("wildcard type with a concrete subtype"));
        }
        if header == HeaderName::Accept && params.get("q").is_some_and(|q| q.and_then(parse_qvalue).is_none()) {
            return Err(bad("q is not a qvalue"));
        }
        Ok(MediaType { top_level, subtype, params, written })
    }

    /// Whether this is `top_level/subtype`, ignoring case (`is("application", "sdp")`).
    pub fn is(&self, top_level: &str, subtype: &str) -> bool {
        self.top_level.eq_ignore_ascii_case(top_level) && self.subtype.eq_ignore_ascii_case(subtype)
    }

    /// `type/subtype` in lower case without parameters; borrowed when written that way.
    pub fn essence(&self) -> Cow<'a, str> {
        let canonical = self.written.len() == self.top_level.len() + 1 + self.subtype.len()
            && !self.written.bytes().any(|b| b.is_ascii_uppercase());
        if canonical {
            Cow::Borrowed(self.written)
        } else {
            Cow::Owned(format!("{}/{}", self.top_level, self.subtype).to_ascii_lowercase())
        }
    }

    /// The q parameter in thousandths (q=0.5 is 500); `None` when absent or malformed.
    pub fn q(&self) -> Option<u16> {
        parse_qvalue(self.params.get("q")??)
    }

    /// Whether this Accept range admits `media`: `*/*` admits everything, `type/*` every subtype of its
    /// type, anything else the same type and subtype. A range with q=0 admits nothing (RFC 7231 §5.3.1).
    /// Media type parameters are not compared.
    pub fn accepts(&self, media: &MediaType<'_>) -> bool {
        if self.q() == Some(0) {
            return false;
        }
        let top_level_ok = self.top_level == "*" || self.top_level.eq_ignore_ascii_case(media.top_level);
        let subtype_ok = self.subtype == "*" || self.subtype.eq_ignore_ascii_case(media.subtype);
        top_level_ok && subtype_ok
    }
}

/// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) (RFC 3261 §25.1), in thousandths.
pub(crate) fn parse_qvalue(s: &str) -> Option<u16> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths =
        frac.bytes().chain(std::iter::repeat(b'0')).take(3).fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> MediaType<'_> {
        MediaType::parse_as(v, HeaderName::Accept).expect("valid Accept element")
    }

    /// RFC 3261 §20.15 example and RFC 2045 §5.1 case rules.
    #[test]
    fn rfc3261_20_15_content_type() {
        let m = MediaType::parse("application/sdp").expect("valid");
        assert!(m.is("APPLICATION", "SDP"));
        assert_eq!(m.essence(), Cow::Borrowed("application/sdp"));
        let m = MediaType::parse("text/html; charset=ISO-8859-4").expect("valid");
        assert_eq!((m.top_level, m.subtype, m.params.get("CHARSET")), ("text", "html", Some(Some("ISO-8859-4"))));
        let m = MediaType::parse(" Multipart \r\n / Mixed ;\r\n boundary=\"uniqu;e, \\\"b\\\"\"").expect("valid");
        assert_eq!(m.essence(), "multipart/mixed");
        assert!(matches!(m.essence(), Cow::Owned(_)));
        assert_eq!(m.params.get("boundary"), Some(Some("\"uniqu;e, \\\"b\\\"\"")));
    }

    #[test]
    fn rfc3261_20_15_malformed() {
        for v in [
            "",
            "application",
            "application/",
            "/sdp",
            "application/sdp/x",
            "appli cation/sdp",
            "application/sdp;",
            "application/sdp;charset=\"open",
            "*/sdp",
            "application/sdp charset=x",
            "text/plain;;a=b",
        ] {
            assert!(MediaType::parse(v).is_err(), "{v:?}");
        }
    }

    /// RFC 3261 §20.1: media ranges with wildcards and q.
    #[test]
    fn rfc3261_20_1_accept_ranges() {
        let sdp = MediaType::parse("application/sdp").expect("valid");
        let html = MediaType::parse("text/html").expect("valid");
        assert!(accept("*/*").accepts(&sdp));
        assert!(accept("application/*").accepts(&sdp));
        assert!(!accept("application/*").accepts(&html));
        assert!(accept("Application/SDP;level=1").accepts(&sdp));
        assert!(!accept("application/sdp;q=0").accepts(&sdp));
        assert!(!accept("application/sdp ; q = 0.000").accepts(&sdp));
        assert_eq!(accept("text/*;q=0.3").q(), Some(300));
        assert_eq!(accept("text/*;q=1.000").q(), Some(1000));
        assert_eq!(accept("text/*").q(), None);
        for v in ["text/*;q=1.5", "text/*;q=0.1234", "text/*;q", "text/*;q=.5", "text/*;q=\"1\""] {
            assert!(MediaType::parse_as(v, HeaderName::Accept).is_err(), "{v:?}");
        }
    }
}
