//! URIs: `sip:` and `sips:` (RFC 3261 §19.1), `tel:` (RFC 3966), and any other absolute URI kept as text.
//!
//! Parsing borrows from the input; nothing is unescaped until asked for. Comparison follows RFC 3261 §19.1.4
//! (sip/sips) and RFC 3966 §4 (tel). IPv6 references follow RFC 5118.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::Error;
use crate::text::Params;

/// A parsed URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uri<'a> {
    /// `sip:` or `sips:`.
    Sip(SipUri<'a>),
    /// `tel:`.
    Tel(TelUri<'a>),
    /// Any other well-formed absolute URI (`scheme:rest`), kept as written.
    Absolute {
        /// The scheme, as written.
        scheme: &'a str,
        /// Everything after the colon.
        rest: &'a str,
    },
}

/// `sip` or `sips`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SipScheme {
    /// `sip:`
    Sip,
    /// `sips:` (TLS on every hop).
    Sips,
}

/// The host part of a SIP URI or Via.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Host<'a> {
    /// A domain name as written (compare case-insensitively).
    Domain(&'a str),
    /// An IPv4 address.
    V4(Ipv4Addr),
    /// An IPv6 address (written in brackets in URIs).
    V6(Ipv6Addr),
}

/// A `sip:` or `sips:` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri<'a> {
    /// `sip` or `sips`.
    pub scheme: SipScheme,
    /// The user part as written (still %-escaped), if any.
    pub user: Option<&'a str>,
    /// The password as written, if any (deprecated, kept for round trips).
    pub password: Option<&'a str>,
    /// The host.
    pub host: Host<'a>,
    /// The port, if given.
    pub port: Option<u16>,
    /// The URI parameters (`;transport=tcp;lr`).
    pub params: Params<'a>,
    /// The headers part after `?`, as written, if any.
    pub headers: Option<&'a str>,
}

/// A `tel:` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelUri<'a> {
    /// The number as written, including a leading `+` for global numbers and any visual separators.
    pub number: &'a str,
    /// The parameters (`;phone-context=...;ext=...`).
    pub params: Params<'a>,
}

impl<'a> Uri<'a> {
    /// Parses a URI.
    pub fn parse(s: &'a str) -> Result<Uri<'a>, Error> {
        let _ = s;
        Err(Error::BadUri("not implemented"))
    }

    /// The scheme in lower case for sip/sips/tel, as written otherwise.
    pub fn scheme(&self) -> &str {
        match self {
            Uri::Sip(u) => match u.scheme {
                SipScheme::Sip => "sip",
                SipScheme::Sips => "sips",
            },
            Uri::Tel(_) => "tel",
            Uri::Absolute { scheme, .. } => scheme,
        }
    }

    /// The SIP URI, if this is one.
    pub fn as_sip(&self) -> Option<&SipUri<'a>> {
        match self {
            Uri::Sip(u) => Some(u),
            _ => None,
        }
    }
}

impl<'a> Host<'a> {
    /// Parses a host: a domain name, an IPv4 address, or an IPv6 reference in brackets. The RFC 3261 ABNF bug
    /// of RFC 5118 §4.10 (`[2001:db8:::192.0.2.1]`, three colons) is tolerated as RFC 5118 requires.
    pub fn parse(s: &'a str) -> Result<Host<'a>, Error> {
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner.strip_suffix(']').ok_or(Error::BadUri("unterminated IPv6 reference"))?;
            return parse_ipv6(inner).map(Host::V6);
        }
        Host::parse_unbracketed(s)
    }

    /// Like [`Host::parse`], but also accepts a bare IPv6 address (the `received` parameter of RFC 5118 §4.5).
    pub fn parse_lenient(s: &'a str) -> Result<Host<'a>, Error> {
        if s.contains(':') && !s.starts_with('[') {
            return parse_ipv6(s).map(Host::V6);
        }
        Host::parse(s)
    }

    fn parse_unbracketed(s: &'a str) -> Result<Host<'a>, Error> {
        if s.is_empty() {
            return Err(Error::BadUri("empty host"));
        }
        if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return s.parse::<Ipv4Addr>().map(Host::V4).map_err(|_| Error::BadUri("malformed IPv4 address"));
        }
        let valid = s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
            && !s.starts_with(['-', '.'])
            && !s.contains("..");
        if valid { Ok(Host::Domain(s)) } else { Err(Error::BadUri("malformed host name")) }
    }

    /// Whether two hosts are the same (domains compare case-insensitively).
    pub fn same_as(&self, other: &Host<'_>) -> bool {
        match (self, other) {
            (Host::Domain(a), Host::Domain(b)) => a.eq_ignore_ascii_case(b),
            (Host::V4(a), Host::V4(b)) => a == b,
            (Host::V6(a), Host::V6(b)) => a == b,
            _ => false,
        }
    }
}

impl std::fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

fn parse_ipv6(s: &str) -> Result<Ipv6Addr, Error> {
    match s.parse::<Ipv6Addr>() {
        Ok(a) => Ok(a),
        Err(_) if s.contains(":::") => {
            s.replacen(":::", "::", 1).parse().map_err(|_| Error::BadUri("malformed IPv6 address"))
        }
        Err(_) => Err(Error::BadUri("malformed IPv6 address")),
    }
}

/// Splits `host[:port]` (host possibly an IPv6 reference) and parses both.
pub fn parse_host_port(s: &str) -> Result<(Host<'_>, Option<u16>), Error> {
    let (host, port) = if s.starts_with('[') {
        let close = s.find(']').ok_or(Error::BadUri("unterminated IPv6 reference"))?;
        match &s[close + 1..] {
            "" => (&s[..=close], None),
            rest => (&s[..=close], Some(rest.strip_prefix(':').ok_or(Error::BadUri("junk after IPv6 reference"))?)),
        }
    } else {
        match s.rfind(':') {
            Some(c) => (&s[..c], Some(&s[c + 1..])),
            None => (s, None),
        }
    };
    let port = port.map(parse_port).transpose()?;
    Ok((Host::parse(host)?, port))
}

/// port = 1*DIGIT, within 0..=65535.
pub fn parse_port(p: &str) -> Result<u16, Error> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::BadUri("malformed port"));
    }
    p.parse::<u16>().map_err(|_| Error::BadUri("port out of range"))
}
