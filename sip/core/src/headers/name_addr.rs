//! name-addr / addr-spec values with parameters: From, To, Contact, Route, Record-Route, Path, Refer-To,
//! Referred-By, Reply-To, P-Asserted-Identity (RFC 3261 §20, §25.1).

use std::borrow::Cow;

use crate::error::Error;
use crate::message::HeaderName;
use crate::text::{Params, find_top_level, is_lws, is_token_char, skip_quoted, trim_lws, unescape_quoted};
use crate::uri::Uri;

/// `[display-name] <URI> *(;param)` or `URI *(;param)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// The display name as written: a quoted string (quotes kept) or tokens separated by LWS.
    pub display_name: Option<&'a str>,
    /// The URI as written, without angle brackets.
    pub uri: &'a str,
    /// Whether the URI was enclosed in `<>` (a name-addr rather than an addr-spec).
    pub angle_brackets: bool,
    /// The header parameters after the address (`tag`, `expires`, `q`...).
    pub params: Params<'a>,
}

impl<'a> NameAddr<'a> {
    /// Parses a value; errors name `header`.
    pub fn parse_as(v: &'a str, header: HeaderName) -> Result<NameAddr<'a>, Error> {
        let bad = |reason| Error::BadHeaderValue { name: header, reason };
        let v = trim_lws(v);
        let bytes = v.as_bytes();
        let (display_name, after_display) = if bytes.first() == Some(&b'"') {
            let end = skip_quoted(bytes, 0).ok_or(bad("unterminated quoted display name"))?;
            (Some(&v[..end]), end)
        } else {
            // An unquoted display name is tokens and LWS, so the first `<` starts the address.
            match v.find('<') {
                Some(lt) => {
                    let name = trim_lws(&v[..lt]);
                    let tokens_ok = name.bytes().all(|b| is_token_char(b) || is_lws(b) || b >= 0x80);
                    if !tokens_ok {
                        return Err(bad("display name is neither tokens nor a quoted string"));
                    }
                    ((!name.is_empty()).then_some(name), lt)
                }
                None => (None, 0),
            }
        };
        let rest = trim_lws(&v[after_display..]);
        if let Some(inner) = rest.strip_prefix('<') {
            let gt = inner.find('>').ok_or(bad("no closing '>'"))?;
            let uri = &inner[..gt];
            check_uri_text(uri).map_err(bad)?;
            let after = trim_lws(&inner[gt + 1..]);
            let params = match after {
                "" => Params::new(""),
                p => Params::new(p.strip_prefix(';').ok_or(bad("junk after '>'"))?),
            };
            if !params.validate() {
                return Err(bad("malformed parameter"));
            }
            return Ok(NameAddr { display_name, uri, angle_brackets: true, params });
        }
        if display_name.is_some() {
            return Err(bad("display name without <URI>"));
        }
        // addr-spec: parameters after the URI belong to the header (RFC 3261 §20.10), and the URI itself may
        // contain no comma, semicolon or question mark.
        let (uri, params) = match find_top_level(rest, b';') {
            Some(i) => (trim_lws(&rest[..i]), Params::new(&rest[i + 1..])),
            None => (rest, Params::new("")),
        };
        check_uri_text(uri).map_err(bad)?;
        if uri.contains(['?', ',']) {
            return Err(bad("URI with '?' or ',' must be enclosed in <>"));
        }
        if !params.validate() {
            return Err(bad("malformed parameter"));
        }
        Ok(NameAddr { display_name, uri, angle_brackets: false, params })
    }

    /// The tag parameter (From, To).
    pub fn tag(&self) -> Option<&'a str> {
        self.params.get("tag").flatten()
    }

    /// The URI, parsed.
    pub fn parsed_uri(&self) -> Result<Uri<'a>, Error> {
        Uri::parse(self.uri)
    }

    /// The display name without quotes and escapes.
    pub fn display_name_text(&self) -> Option<Cow<'a, str>> {
        let d = self.display_name?;
        Some(match crate::text::unquote(d) {
            Some(inner) => unescape_quoted(inner),
            None => Cow::Borrowed(d),
        })
    }
}

/// A URI inside a header must have a scheme and no whitespace (RFC 4475 §3.1.2.14: spaces within addr-spec).
fn check_uri_text(uri: &str) -> Result<(), &'static str> {
    if uri.is_empty() {
        return Err("empty URI");
    }
    if uri.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err("whitespace inside URI");
    }
    let colon = uri.find(':').ok_or("URI without scheme")?;
    let scheme = &uri[..colon];
    let scheme_ok = scheme.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if scheme_ok { Ok(()) } else { Err("malformed URI scheme") }
}

/// One Contact value: `*` or an address with its registration parameters (RFC 3261 §20.10, RFC 5626).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contact<'a> {
    /// `Contact: *` (only in a REGISTER with Expires: 0).
    Wildcard,
    /// An address.
    Address(NameAddr<'a>),
}

impl<'a> Contact<'a> {
    /// Parses one Contact value.
    pub fn parse(v: &'a str) -> Result<Contact<'a>, Error> {
        if trim_lws(v) == "*" {
            return Ok(Contact::Wildcard);
        }
        NameAddr::parse_as(v, HeaderName::Contact).map(Contact::Address)
    }

    /// The address, unless this is the wildcard.
    pub fn address(&self) -> Option<&NameAddr<'a>> {
        match self {
            Contact::Wildcard => None,
            Contact::Address(a) => Some(a),
        }
    }

    /// The expires parameter in seconds (`None` when absent or not a number).
    pub fn expires(&self) -> Option<u32> {
        let raw = self.address()?.params.get("expires")??;
        super::parse_delta_seconds(raw, HeaderName::Contact).ok()
    }

    /// The q parameter in thousandths (q=0.5 is 500); `None` when absent or malformed.
    pub fn q(&self) -> Option<u16> {
        let raw = self.address()?.params.get("q")??;
        super::media::parse_qvalue(raw)
    }

    /// The +sip.instance parameter without its quotes and angle brackets (RFC 5626 §4.1).
    pub fn instance(&self) -> Option<&'a str> {
        let raw = self.address()?.params.get("+sip.instance")??;
        let raw = crate::text::unquote(raw).unwrap_or(raw);
        Some(raw.strip_prefix('<').and_then(|r| r.strip_suffix('>')).unwrap_or(raw))
    }

    /// The reg-id parameter (RFC 5626 §4.2).
    pub fn reg_id(&self) -> Option<u32> {
        self.address()?.params.get("reg-id")??.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn na(v: &str) -> Result<NameAddr<'_>, Error> {
        NameAddr::parse_as(v, HeaderName::To)
    }

    #[test]
    fn forms() {
        let a = na(r#""Bob \"B\"" <sip:bob@biloxi.com>;tag=a6c85cf"#).expect("ok");
        assert_eq!(a.display_name_text().as_deref(), Some(r#"Bob "B""#));
        assert_eq!((a.uri, a.tag()), ("sip:bob@biloxi.com", Some("a6c85cf")));
        let a = na("sip:caller@example.net;tag=134161461246").expect("ok");
        assert_eq!((a.uri, a.tag(), a.angle_brackets), ("sip:caller@example.net", Some("134161461246"), false));
        let a = na("Bob Smith<sip:bob@x>").expect("ok");
        assert_eq!(a.display_name, Some("Bob Smith"));
        let a = na("<sip:x@y;lr>").expect("ok");
        assert_eq!((a.uri, a.display_name), ("sip:x@y;lr", None));
    }

    #[test]
    fn tortuous() {
        let a = na(" sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n").expect("ok");
        assert_eq!(a.tag(), Some("1918181833n"));
        let a = na("\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8").expect("ok");
        assert_eq!(a.tag(), Some("98asjd8"));
    }

    #[test]
    fn malformed() {
        assert!(na(r#""Mr. J. User <sip:j.user@example.com>"#).is_err(), "unterminated quote");
        assert!(na(r#""Watson, Thomas" < sip:t.watson@example.org >"#).is_err(), "spaces in addr-spec");
        assert!(na("Bell, Alexander <sip:a.g.bell@example.com>;tag=43").is_err(), "comma in unquoted name");
        assert!(na("sip:user@example.com?Route=%3Csip:sip.example.com%3E").is_err(), "? in addr-spec");
        assert!(na("<sip:x@y>;;").is_err());
        assert!(na("").is_err());
    }

    #[test]
    fn contact_parameters() {
        let c = Contact::parse(r#"<sip:a@192.0.2.1>;expires=600;q=0.7;+sip.instance="<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>";reg-id=1"#)
            .expect("ok");
        assert_eq!(c.expires(), Some(600));
        assert_eq!(c.q(), Some(700));
        assert_eq!(c.instance(), Some("urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF"));
        assert_eq!(c.reg_id(), Some(1));
        assert_eq!(Contact::parse(" * ").expect("ok"), Contact::Wildcard);
    }
}
