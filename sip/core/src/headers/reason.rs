//! Reason (RFC 3326 §2): why a request (a CANCEL, a BYE) was sent, or why a call ended.
//!
//! ```text
//! reason-value  = protocol *(SEMI reason-params)
//! protocol      = "SIP" / "Q.850" / token
//! reason-params = protocol-cause / reason-text / reason-extension
//! protocol-cause = "cause" EQUAL cause        ; cause = 1*DIGIT
//! reason-text   = "text" EQUAL quoted-string
//! ```

use std::borrow::Cow;

use super::lexical::split_params;
use crate::error::Error;
use crate::message::HeaderName;
use crate::text::{Params, is_token, unescape_quoted, unquote};

/// The protocol whose cause a Reason value carries. `SIP` and `Q.850` compare case-insensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasonProtocol<'a> {
    /// `SIP`: the cause is a SIP status code.
    Sip,
    /// `Q.850`: the cause is an ISDN cause value (1 to 127).
    Q850,
    /// Any other protocol token, as written.
    Other(&'a str),
}

/// One Reason value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reason<'a> {
    /// The protocol.
    pub protocol: ReasonProtocol<'a>,
    /// The parameters; cause has been checked by [`Reason::parse`].
    pub params: Params<'a>,
}

impl<'a> Reason<'a> {
    /// Parses one Reason value. A text parameter written as a bare token instead of a quoted string is
    /// accepted: it carries the same information and is only ever displayed.
    pub fn parse(v: &'a str) -> Result<Reason<'a>, Error> {
        let bad = |reason| Error::BadHeaderValue { name: HeaderName::Reason, reason };
        let (protocol, params) = split_params(v).ok_or(bad("malformed parameter"))?;
        if !is_token(protocol) {
            return Err(bad("protocol is not a token"));
        }
        let protocol = match protocol {
            p if p.eq_ignore_ascii_case("SIP") => ReasonProtocol::Sip,
            p if p.eq_ignore_ascii_case("Q.850") => ReasonProtocol::Q850,
            p => ReasonProtocol::Other(p),
        };
        if let Some(cause) = params.get("cause") {
            parse_cause(cause).ok_or(bad("cause is not a number below 65536"))?;
        }
        if params.get("text") == Some(None) {
            return Err(bad("text without a value"));
        }
        Ok(Reason { protocol, params })
    }

    /// The cause parameter: a status code for SIP, a cause value for Q.850.
    pub fn cause(&self) -> Option<u16> {
        parse_cause(self.params.get("cause")?)
    }

    /// The text parameter without quotes, quoted-pairs resolved.
    pub fn text(&self) -> Option<Cow<'a, str>> {
        let raw = self.params.get("text")??;
        Some(unescape_quoted(unquote(raw).unwrap_or(raw)))
    }
}

/// cause = 1*DIGIT, leading zeros allowed, bounded to 16 bits.
fn parse_cause(raw: Option<&str>) -> Option<u16> {
    let raw = raw?;
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let significant = raw.trim_start_matches('0');
    if significant.len() > 5 {
        return None;
    }
    if significant.is_empty() { Some(0) } else { significant.parse().ok() }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3326 §2 examples.
    #[test]
    fn rfc3326_examples() {
        let r = Reason::parse("SIP ;cause=200 ;text=\"Call completed elsewhere\"").expect("valid");
        assert_eq!((r.protocol, r.cause()), (ReasonProtocol::Sip, Some(200)));
        assert_eq!(r.text().as_deref(), Some("Call completed elsewhere"));
        let r = Reason::parse("Q.850 ;cause=16 ;text=\"Terminated\"").expect("valid");
        assert_eq!((r.protocol, r.cause()), (ReasonProtocol::Q850, Some(16)));
        let r = Reason::parse("SIP ;cause=600 ;text=\"Busy Everywhere\"").expect("valid");
        assert_eq!(r.cause(), Some(600));
    }

    #[test]
    fn case_folds_escapes_and_extensions() {
        let r = Reason::parse("q.850\r\n ;\r\n CAUSE = 0016; text=\"say \\\"hi\\\"\";location=LN").expect("valid");
        assert_eq!((r.protocol, r.cause()), (ReasonProtocol::Q850, Some(16)));
        assert_eq!(r.text().as_deref(), Some("say \"hi\""));
        assert_eq!(r.params.get("location"), Some(Some("LN")));
        let r = Reason::parse("preemption;cause=1;text=UA-preemption").expect("token text tolerated");
        assert_eq!((r.protocol, r.text().as_deref()), (ReasonProtocol::Other("preemption"), Some("UA-preemption")));
        let r = Reason::parse("SIP").expect("no parameters");
        assert_eq!((r.cause(), r.text()), (None, None));
    }

    #[test]
    fn rfc3326_malformed() {
        for v in [
            "",
            ";cause=200",
            "SIP;cause=",
            "SIP;cause",
            "SIP;cause=2x",
            "SIP;cause=\"200\"",
            "SIP;cause=65536",
            "SIP;cause=123456789012345678901234567890",
            "SIP;text",
            "SIP;text=\"open",
            "SIP cause=200",
            "SIP;",
        ] {
            assert!(Reason::parse(v).is_err(), "{v:?}");
        }
        assert_eq!(Reason::parse("SIP;cause=000065535").expect("leading zeros").cause(), Some(65535));
    }
}
