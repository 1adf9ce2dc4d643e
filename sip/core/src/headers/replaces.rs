//! Replaces (RFC 3891 §6.1): which dialog a new INVITE takes the place of.
//!
//! ```text
//! Replaces       = "Replaces" HCOLON callid *(SEMI replaces-param)
//! replaces-param = to-tag / from-tag / early-flag / generic-param
//! to-tag         = "to-tag" EQUAL token
//! from-tag       = "from-tag" EQUAL token
//! early-flag     = "early-only"
//! ```

use super::parse_call_id;
use crate::error::Error;
use crate::message::HeaderName;
use crate::text::{Params, is_token, trim_lws};

/// A Replaces value. Both tags are required: RFC 3891 §3 matches a dialog by Call-ID and both tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replaces<'a> {
    /// The Call-ID of the dialog to replace.
    pub call_id: &'a str,
    /// The to-tag: the tag of the recipient of the Replaces header, for whom it is the local tag.
    pub to_tag: &'a str,
    /// The from-tag: the other party's tag, the recipient's remote tag.
    pub from_tag: &'a str,
    /// Whether the early-only flag is present: replace only a dialog that is still early.
    pub early_only: bool,
    /// All the parameters, the tags and the flag included.
    pub params: Params<'a>,
}

impl<'a> Replaces<'a> {
    /// Parses a Replaces value. A value taken from a Refer-To URI must be unescaped first (see
    /// [`super::ReferTo::replaces`]).
    pub fn parse(v: &'a str) -> Result<Replaces<'a>, Error> {
        let bad = |reason| Error::BadHeaderValue { name: HeaderName::Replaces, reason };
        // A Call-ID word may hold quotes and angle brackets but never a semicolon, so the first `;` ends it
        // whatever the quoting rules of parameters would say.
        let (call_id, params) = match v.find(';') {
            Some(at) => (trim_lws(&v[..at]), Params::new(&v[at + 1..])),
            None => (trim_lws(v), Params::new("")),
        };
        let call_id = parse_call_id(call_id).map_err(|_| bad("Call-ID is not word[@word]"))?;
        if !params.validate() || (v.contains(';') && trim_lws(params.as_str()).is_empty()) {
            return Err(bad("malformed parameter"));
        }
        let (mut to_tag, mut from_tag, mut early_only) = (None, None, false);
        for p in params.iter() {
            let slot = if p.name.eq_ignore_ascii_case("to-tag") {
                &mut to_tag
            } else if p.name.eq_ignore_ascii_case("from-tag") {
                &mut from_tag
            } else {
                early_only |= p.name.eq_ignore_ascii_case("early-only");
                continue;
            };
            let tag = p.value.filter(|t| is_token(t)).ok_or(bad("tag is not a token"))?;
            // Two different tags of one kind would leave the dialog ambiguous.
            if slot.replace(tag).is_some() {
                return Err(bad("tag given twice"));
            }
        }
        Ok(Replaces {
            call_id,
            to_tag: to_tag.ok_or(bad("no to-tag"))?,
            from_tag: from_tag.ok_or(bad("no from-tag"))?,
            early_only,
            params,
        })
    }

    /// Whether this names the dialog with these identifiers as seen by the recipient of the Replaces header
    /// (RFC 3891 §3): the Call-ID and tags compare octet by octet, the to-tag with the local tag.
    pub fn identifies(&self, call_id: &str, local_tag: &str, remote_tag: &str) -> bool {
        self.call_id == call_id && self.to_tag == local_tag && self.from_tag == remote_tag
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3891 §6.1 and the example of §7.
    #[test]
    fn rfc3891_example() {
        let r = Replaces::parse("425928@bobster.example.org;to-tag=7743;from-tag=6472").expect("valid");
        assert_eq!(
            (r.call_id, r.to_tag, r.from_tag, r.early_only),
            ("425928@bobster.example.org", "7743", "6472", false)
        );
        assert!(r.identifies("425928@bobster.example.org", "7743", "6472"));
        assert!(!r.identifies("425928@bobster.example.org", "6472", "7743"), "tags are not interchangeable");
        assert!(!r.identifies("425928@BOBSTER.example.org", "7743", "6472"), "Call-ID is case-sensitive");
    }

    #[test]
    fn rfc3891_tortuous() {
        let r =
            Replaces::parse(" 98732@sip.example.com \r\n ; FROM-TAG = r33th4x0r ;early-only ; To-Tag=xyz ;x=\"a;b\"")
                .expect("valid");
        assert_eq!(
            (r.call_id, r.to_tag, r.from_tag, r.early_only),
            ("98732@sip.example.com", "xyz", "r33th4x0r", true)
        );
        assert_eq!(r.params.get("x"), Some(Some("\"a;b\"")));
        let r = Replaces::parse("<odd>\"id\"@host;to-tag=a;from-tag=b").expect("Call-ID words may hold < and \"");
        assert_eq!(r.call_id, "<odd>\"id\"@host");
    }

    /// RFC 3891 §3: a Replaces header without both tags cannot identify a dialog.
    #[test]
    fn rfc3891_malformed() {
        for v in [
            "",
            "abc",
            "abc;to-tag=1",
            "abc;from-tag=1",
            "abc;to-tag;from-tag=1",
            "abc;to-tag=\"1\";from-tag=2",
            "abc;to-tag=1;from-tag=2;to-tag=3",
            "abc;to-tag=1;from-tag=2;",
            "abc;to-tag=1;;from-tag=2",
            "a b;to-tag=1;from-tag=2",
            "@;to-tag=1;from-tag=2",
        ] {
            assert!(Replaces::parse(v).is_err(), "{v:?}");
        }
    }
}
