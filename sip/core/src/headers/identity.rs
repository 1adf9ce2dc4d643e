//! Address headers beyond From/To/Contact, as thin layers over [`NameAddr`]: P-Asserted-Identity and
//! P-Preferred-Identity (RFC 3325 §9.1, §9.2), Refer-To (RFC 3515 §2.1) with its embedded Replaces
//! (RFC 3891 §6.1), Referred-By (RFC 3892 §3) and Reply-To (RFC 3261 §20.31).

use std::borrow::Cow;

use super::NameAddr;
use crate::error::Error;
use crate::message::{HeaderName, Message};
use crate::text::{Params, trim_lws, unquote};

/// The identities of a P-Asserted-Identity or P-Preferred-Identity header: one or two values, at most one
/// `sip:`/`sips:` URI and at most one `tel:` URI (RFC 3325 §9.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identities<'a> {
    /// The `sip:` or `sips:` identity.
    pub sip: Option<NameAddr<'a>>,
    /// The `tel:` identity.
    pub tel: Option<NameAddr<'a>>,
}

impl<'a> Identities<'a> {
    /// The identities in `header` (P-Asserted-Identity or P-Preferred-Identity) of `message`, across all its
    /// lines; `None` when the header is absent.
    pub fn from_message(message: &'a Message, header: HeaderName) -> Result<Option<Identities<'a>>, Error> {
        let bad = |reason| Error::BadHeaderValue { name: header, reason };
        let mut found: Option<Identities<'a>> = None;
        for v in message.header_values(header) {
            let address = parse_identity(v, header)?;
            let identities = found.get_or_insert(Identities { sip: None, tel: None });
            let slot = match uri_scheme(address.uri) {
                s if s.eq_ignore_ascii_case("sip") || s.eq_ignore_ascii_case("sips") => &mut identities.sip,
                s if s.eq_ignore_ascii_case("tel") => &mut identities.tel,
                _ => return Err(bad("identity is neither a sip, sips nor tel URI")),
            };
            if slot.replace(address).is_some() {
                return Err(bad("two identities of the same kind"));
            }
        }
        Ok(found)
    }
}

/// Parses one P-Asserted-Identity or P-Preferred-Identity value (`name-addr / addr-spec`, errors naming
/// `header`). The grammar gives these headers no parameters, so in the addr-spec form everything after the
/// scheme, `;user=phone` included, belongs to the URI, and a name-addr may not be followed by parameters.
pub fn parse_identity(v: &str, header: HeaderName) -> Result<NameAddr<'_>, Error> {
    let bad = |reason| Error::BadHeaderValue { name: header, reason };
    let v = trim_lws(v);
    // A URI never holds an unescaped `<`, so without one (and without a quoted display name) this is an addr-spec.
    if v.starts_with('"') || v.contains('<') {
        let address = NameAddr::parse_as(v, header)?;
        if !address.params.as_str().is_empty() {
            return Err(bad("parameters after an identity"));
        }
        return Ok(address);
    }
    let before_params = v.split(';').next().unwrap_or(v);
    NameAddr::parse_as(before_params, header)?;
    if v.bytes().any(|b| b <= b' ' || b == 0x7f || b == b',' || b == b'?') {
        return Err(bad("whitespace, ',' or '?' in an addr-spec"));
    }
    Ok(NameAddr { display_name: None, uri: v, angle_brackets: false, params: Params::new("") })
}

/// The scheme of a URI as written (text before the first colon).
fn uri_scheme(uri: &str) -> &str {
    uri.split(':').next().unwrap_or("")
}

/// A Refer-To value: the target of a REFER, possibly carrying headers for the triggered request in its URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReferTo<'a> {
    /// The address and its refer-params.
    pub address: NameAddr<'a>,
}

impl<'a> ReferTo<'a> {
    /// Parses a Refer-To value.
    pub fn parse(v: &'a str) -> Result<ReferTo<'a>, Error> {
        NameAddr::parse_as(v, HeaderName::ReferTo).map(|address| ReferTo { address })
    }

    /// The Replaces header embedded in the URI (`<sip:b@h?Replaces=id%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>`),
    /// unescaped, ready for [`super::Replaces::parse`]. The header name compares case-insensitively; the first
    /// Replaces wins.
    pub fn replaces(&self) -> Result<Option<Cow<'a, str>>, Error> {
        let bad = |reason| Error::BadHeaderValue { name: HeaderName::ReferTo, reason };
        let Some((_, headers)) = self.address.uri.split_once('?') else {
            return Ok(None);
        };
        for header in headers.split('&') {
            let (name, value) = header.split_once('=').unwrap_or((header, ""));
            let name = percent_decode(name).ok_or(bad("malformed escape in a URI header name"))?;
            if name.eq_ignore_ascii_case("Replaces") {
                return percent_decode(value).map(Some).ok_or(bad("malformed escape in the embedded Replaces"));
            }
        }
        Ok(None)
    }
}

/// A Referred-By value: who sent the REFER.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReferredBy<'a> {
    /// The referrer's address and parameters.
    pub address: NameAddr<'a>,
}

impl<'a> ReferredBy<'a> {
    /// Parses a Referred-By value.
    pub fn parse(v: &'a str) -> Result<ReferredBy<'a>, Error> {
        let address = NameAddr::parse_as(v, HeaderName::ReferredBy)?;
        // referredby-id-param = "cid" EQUAL sip-clean-msg-id, which is a quoted string.
        if address.params.get("cid").is_some_and(|cid| cid.is_none_or(|c| unquote(c).is_none())) {
            return Err(Error::BadHeaderValue { name: HeaderName::ReferredBy, reason: "cid is not quoted" });
        }
        Ok(ReferredBy { address })
    }

    /// The Content-ID of the Referred-By token in the body, without quotes.
    pub fn cid(&self) -> Option<&'a str> {
        let raw = self.address.params.get("cid")??;
        unquote(raw)
    }
}

/// Parses a Reply-To value (RFC 3261 §20.31: name-addr or addr-spec with generic parameters).
pub fn parse_reply_to(v: &str) -> Result<NameAddr<'_>, Error> {
    NameAddr::parse_as(v, HeaderName::ReplyTo)
}

/// Resolves `%XX` escapes (RFC 3261 §19.1.2); `None` for a malformed escape or a result that is not UTF-8.
fn percent_decode(s: &str) -> Option<Cow<'_, str>> {
    if !s.contains('%') {
        return Some(Cow::Borrowed(s));
    }
    let hex = |b: Option<&u8>| b.and_then(|&b| (b as char).to_digit(16)).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            out.push((hex(bytes.get(i + 1))? << 4) | hex(bytes.get(i + 2))?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::headers::Replaces;

    fn request(headers: &str) -> Message {
        let text = format!(
            "INVITE sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:a@example.com>\r\n\
             From: <sip:b@example.com>;tag=1\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n{headers}\
             Content-Length: 0\r\n\r\n"
        );
        Message::parse(Bytes::from(text)).expect("test message parses")
    }

    /// RFC 3325 §9.1 example: one sip and one tel identity, over one or two lines.
    #[test]
    fn rfc3325_two_identities() {
        let m = request(
            "P-Asserted-Identity: \"Cullen Jennings\" <sip:fluffy@cisco.com>\r\nP-Asserted-Identity: tel:+14085264000\r\n",
        );
        let ids = Identities::from_message(&m, HeaderName::PAssertedIdentity).expect("valid").expect("present");
        assert_eq!(ids.sip.map(|a| a.uri), Some("sip:fluffy@cisco.com"));
        assert_eq!(ids.tel.map(|a| a.uri), Some("tel:+14085264000"));
        let m = request("P-Preferred-Identity: <SIPS:x@example.com>, <tel:+1555;phone-context=example.com>\r\n");
        let ids = Identities::from_message(&m, HeaderName::PPreferredIdentity).expect("valid").expect("present");
        assert!(ids.sip.is_some() && ids.tel.is_some());
        assert_eq!(Identities::from_message(&request(""), HeaderName::PAssertedIdentity), Ok(None));
    }

    /// RFC 3325 §9.1: no two of a kind, no other schemes, no header parameters.
    #[test]
    fn rfc3325_malformed_identities() {
        for h in [
            "P-Asserted-Identity: <sip:a@x>, <sips:b@x>\r\n",
            "P-Asserted-Identity: tel:+1\r\nP-Asserted-Identity: tel:+2\r\n",
            "P-Asserted-Identity: <mailto:a@x>\r\n",
            "P-Asserted-Identity: <sip:a@x>;tag=1\r\n",
            "P-Asserted-Identity: \r\n",
            "P-Asserted-Identity: <sip:a@x>,\r\n",
        ] {
            assert!(Identities::from_message(&request(h), HeaderName::PAssertedIdentity).is_err(), "{h:?}");
        }
    }

    /// In an addr-spec identity the parameters are the URI's: RFC 3325 §9.1 gives the header none.
    #[test]
    fn rfc3325_addr_spec_keeps_uri_parameters() {
        let a = parse_identity(" sip:+15551234@example.com;user=phone ", HeaderName::PAssertedIdentity).expect("ok");
        assert_eq!((a.uri, a.params.as_str()), ("sip:+15551234@example.com;user=phone", ""));
        assert!(parse_identity("sip:a@x ;user=phone", HeaderName::PAssertedIdentity).is_err());
        assert!(parse_identity("sip:a@x;user=phone?x=y", HeaderName::PAssertedIdentity).is_err());
    }

    /// RFC 3515 §2.1, with the Replaces example of RFC 3891 §7 (escaped in the URI).
    #[test]
    fn rfc3891_replaces_embedded_in_refer_to() {
        let r = ReferTo::parse(
            "<sips:bob@bob.example.com?Replaces=12345%40192.168.118.3%3Bto-tag%3D12345%3Bfrom-tag%3D5FFE-3994>",
        )
        .expect("valid");
        let embedded = r.replaces().expect("escapes are valid").expect("present");
        assert_eq!(embedded, "12345@192.168.118.3;to-tag=12345;from-tag=5FFE-3994");
        let replaces = Replaces::parse(&embedded).expect("valid Replaces");
        assert_eq!(
            (replaces.call_id, replaces.to_tag, replaces.from_tag),
            ("12345@192.168.118.3", "12345", "5FFE-3994")
        );

        let r = ReferTo::parse("<sip:b@h?Subject=hi&rEpLaCeS=a%40b%3bto-tag%3d1%3Bfrom-tag%3D2>;method=INVITE")
            .expect("valid");
        assert_eq!(r.replaces().expect("valid").as_deref(), Some("a@b;to-tag=1;from-tag=2"));
        assert_eq!(r.address.params.get("method"), Some(Some("INVITE")));
        assert_eq!(ReferTo::parse("sip:b@h").expect("valid").replaces(), Ok(None));
        assert!(ReferTo::parse("<sip:b@h?Replaces=a%4>").expect("valid").replaces().is_err());
        assert!(ReferTo::parse("<sip:b@h?Replaces=a%ff>").expect("valid").replaces().is_err(), "not UTF-8");
        assert!(ReferTo::parse("sip:b@h?Replaces=x").is_err(), "headers need <>");
    }

    /// RFC 3892 §3: referrer-uri *( SEMI (referredby-id-param / generic-param) ).
    #[test]
    fn rfc3892_referred_by() {
        let r =
            ReferredBy::parse("<sip:referrer@referrer.example>\r\n ;cid=\"20398823.2UWQFN309shb3@referrer.example\"")
                .expect("valid");
        assert_eq!(r.address.uri, "sip:referrer@referrer.example");
        assert_eq!(r.cid(), Some("20398823.2UWQFN309shb3@referrer.example"));
        assert!(ReferredBy::parse("<sip:r@x>;cid=bare").is_err());
        assert!(ReferredBy::parse("<sip:r@x>;cid").is_err());
    }

    #[test]
    fn rfc3261_20_31_reply_to() {
        let a = parse_reply_to("\"Bob\" <sip:bob@biloxi.com>").expect("valid");
        assert_eq!(a.uri, "sip:bob@biloxi.com");
        assert!(parse_reply_to("").is_err());
    }
}
