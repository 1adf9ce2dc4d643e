//! Warning (RFC 3261 §20.43): extra information about the status of a response.
//!
//! ```text
//! warning-value = warn-code SP warn-agent SP warn-text
//! warn-code     = 3DIGIT
//! warn-agent    = hostport / pseudonym
//! warn-text     = quoted-string
//! pseudonym     = token
//! ```

use std::borrow::Cow;

use crate::error::Error;
use crate::message::HeaderName;
use crate::text::{is_lws, is_token, trim_lws, trim_lws_start, unescape_quoted, unquote};
use crate::uri::parse_host_port;

/// One Warning value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Warning<'a> {
    /// The three-digit warn-code (RFC 3261 §20.43 lists the 3xx codes).
    pub code: u16,
    /// The `host[:port]` or pseudonym of the element that added the warning.
    pub agent: &'a str,
    /// The warn-text without its quotes, escapes kept.
    pub text: &'a str,
}

impl<'a> Warning<'a> {
    /// Parses one Warning value. Any run of LWS (folds included) stands for each SP of the grammar.
    pub fn parse(v: &'a str) -> Result<Warning<'a>, Error> {
        let bad = |reason| Error::BadHeaderValue { name: HeaderName::Warning, reason };
        let v = trim_lws(v);
        let code_end = v.find(|c: char| c.is_ascii() && is_lws(c as u8)).ok_or(bad("no warn-agent"))?;
        let code = &v[..code_end];
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("warn-code is not three digits"));
        }
        let rest = trim_lws_start(&v[code_end..]);
        let agent_end = rest.find(|c: char| c.is_ascii() && is_lws(c as u8)).ok_or(bad("no warn-text"))?;
        let agent = &rest[..agent_end];
        if !is_token(agent) && parse_host_port(agent).is_err() {
            return Err(bad("warn-agent is neither hostport nor a token"));
        }
        let text = unquote(trim_lws_start(&rest[agent_end..])).ok_or(bad("warn-text is not one quoted string"))?;
        Ok(Warning { code: code.parse().map_err(|_| bad("warn-code is not three digits"))?, agent, text })
    }

    /// The warn-text with its quoted-pairs resolved.
    pub fn text_unescaped(&self) -> Cow<'a, str> {
        unescape_quoted(self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3261 §20.43 examples.
    #[test]
    fn rfc3261_20_43_examples() {
        let w = Warning::parse(r#"307 isi.edu "Session parameter 'foo' not understood""#).expect("valid");
        assert_eq!((w.code, w.agent, w.text), (307, "isi.edu", "Session parameter 'foo' not understood"));
        let w = Warning::parse(r#"301 isi.edu "Incompatible network address type 'E.164'""#).expect("valid");
        assert_eq!(w.code, 301);
    }

    #[test]
    fn hostport_pseudonym_and_escapes() {
        let w = Warning::parse("399 [2001:db8::1]:5060 \"a \\\"quoted\\\" word, and a comma\"").expect("valid");
        assert_eq!(w.agent, "[2001:db8::1]:5060");
        assert_eq!(w.text_unescaped(), "a \"quoted\" word, and a comma");
        let w = Warning::parse(" 370\r\n  proxy-7:5070 \t \"\" ").expect("folds and empty text");
        assert_eq!((w.code, w.agent, w.text), (370, "proxy-7:5070", ""));
        let w = Warning::parse("380 carillon~edge \"x\"").expect("pseudonym");
        assert_eq!(w.agent, "carillon~edge");
    }

    #[test]
    fn rfc3261_20_43_malformed() {
        for v in [
            "",
            "307",
            "307 isi.edu",
            "307 isi.edu unquoted",
            "307 isi.edu \"unterminated",
            "307 isi.edu \"a\" \"b\"",
            "3070 isi.edu \"x\"",
            "30 isi.edu \"x\"",
            "3a7 isi.edu \"x\"",
            "307 isi.edu:99999 \"x\"",
            "307 is/i \"x\"",
            "307 \"x\"",
        ] {
            assert!(Warning::parse(v).is_err(), "{v:?}");
        }
    }
}
