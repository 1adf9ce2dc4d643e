//! Via = sent-protocol LWS sent-by *( SEMI via-params ) (RFC 3261 §20.42), with RFC 3581 rport.

use crate::error::Error;
use crate::message::HeaderName;
use crate::text::{Params, find_top_level, is_lws, is_token_char, trim_lws};
use crate::uri::{Host, parse_host_port, parse_port};

/// One Via value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via<'a> {
    /// Protocol name, `SIP` in practice.
    pub protocol: &'a str,
    /// Protocol version, `2.0` in practice.
    pub version: &'a str,
    /// Transport as written (`UDP`, `TCP`, `TLS`, `SCTP`, `WS`, or an extension); compare case-insensitively.
    pub transport: &'a str,
    /// The host of sent-by.
    pub host: Host<'a>,
    /// The port of sent-by, if given.
    pub port: Option<u16>,
    /// The parameters.
    pub params: Params<'a>,
}

/// The RFC 3261 branch magic cookie.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

impl<'a> Via<'a> {
    /// Parses one Via value.
    pub fn parse(v: &'a str) -> Result<Via<'a>, Error> {
        let bad = |reason| Error::BadHeaderValue { name: HeaderName::Via, reason };
        let (head, params) = match find_top_level(v, b';') {
            Some(i) => (&v[..i], Params::new(&v[i + 1..])),
            None => (v, Params::new("")),
        };
        if !params.validate() {
            return Err(bad("malformed parameter"));
        }
        let mut cur = Cursor { s: head, i: 0 };
        cur.skip_lws();
        let protocol = cur.token().ok_or(bad("no protocol name"))?;
        cur.slash().ok_or(bad("no / after protocol name"))?;
        let version = cur.token().ok_or(bad("no protocol version"))?;
        cur.slash().ok_or(bad("no / after protocol version"))?;
        let transport = cur.token().ok_or(bad("no transport"))?;
        if !cur.skip_lws() {
            return Err(bad("no space before sent-by"));
        }
        let sent_by = trim_lws(&head[cur.i..]);
        let (host, port) = if sent_by.bytes().any(is_lws) {
            // COLON = SWS ":" SWS: legal, if rare; any other whitespace inside sent-by is not.
            let colon = sent_by.rfind(':').filter(|&c| !sent_by[c..].contains(']')).ok_or(bad("space in sent-by"))?;
            let (host, port) = (trim_lws(&sent_by[..colon]), trim_lws(&sent_by[colon + 1..]));
            if host.bytes().any(is_lws) || port.bytes().any(is_lws) {
                return Err(bad("space in sent-by"));
            }
            (
                Host::parse(host).map_err(|_| bad("malformed host"))?,
                Some(parse_port(port).map_err(|_| bad("malformed port"))?),
            )
        } else {
            parse_host_port(sent_by).map_err(|_| bad("malformed sent-by"))?
        };
        Ok(Via { protocol, version, transport, host, port, params })
    }

    /// The branch parameter.
    pub fn branch(&self) -> Option<&'a str> {
        self.params.get("branch").flatten()
    }

    /// Whether the branch starts with the RFC 3261 magic cookie and has something after it (RFC 4475 §3.2.1:
    /// a bare cookie is not a transaction identifier).
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch().is_some_and(|b| b.len() > MAGIC_COOKIE.len() && b.starts_with(MAGIC_COOKIE))
    }

    /// The received parameter (RFC 3261 §18.2.1), bracketed or not (RFC 5118 §4.5).
    pub fn received(&self) -> Option<Host<'a>> {
        self.params.get("received").flatten().and_then(|r| Host::parse_lenient(r).ok())
    }

    /// The rport parameter (RFC 3581): `None` if absent, `Some(None)` if requested, `Some(Some(port))` if filled.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params.get("rport").map(|v| v.and_then(|p| p.parse().ok()))
    }

    /// The maddr parameter.
    pub fn maddr(&self) -> Option<&'a str> {
        self.params.get("maddr").flatten()
    }

    /// The ttl parameter.
    pub fn ttl(&self) -> Option<u8> {
        self.params.get("ttl").flatten().and_then(|t| t.parse().ok())
    }

    /// Whether the transport is reliable (anything but UDP).
    pub fn is_reliable(&self) -> bool {
        !self.transport.eq_ignore_ascii_case("UDP")
    }
}

struct Cursor<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Cursor<'a> {
    /// Skips LWS; returns whether any was skipped.
    fn skip_lws(&mut self) -> bool {
        let start = self.i;
        while self.i < self.s.len() && is_lws(self.s.as_bytes()[self.i]) {
            self.i += 1;
        }
        self.i > start
    }

    fn token(&mut self) -> Option<&'a str> {
        let start = self.i;
        while self.i < self.s.len() && is_token_char(self.s.as_bytes()[self.i]) {
            self.i += 1;
        }
        (self.i > start).then(|| &self.s[start..self.i])
    }

    /// SLASH = SWS "/" SWS
    fn slash(&mut self) -> Option<()> {
        self.skip_lws();
        if self.s.as_bytes().get(self.i) != Some(&b'/') {
            return None;
        }
        self.i += 1;
        self.skip_lws();
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain() {
        let v = Via::parse("SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds;rport").expect("valid");
        assert_eq!((v.protocol, v.version, v.transport), ("SIP", "2.0", "UDP"));
        assert_eq!(v.host, Host::Domain("pc33.atlanta.com"));
        assert_eq!(v.port, None);
        assert_eq!(v.branch(), Some("z9hG4bK776asdhds"));
        assert!(v.has_rfc3261_branch());
        assert_eq!(v.rport(), Some(None));
    }

    #[test]
    fn tortuous_whitespace() {
        let v = Via::parse("SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw").expect("valid");
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host, Host::V4([192, 0, 2, 2].into()));
        assert!(!v.has_rfc3261_branch());
        let v = Via::parse("SIP  /    2.0   / UDP  192.168.255.111   ; branch=\r\n z9hG4bK30239").expect("valid");
        assert_eq!(v.branch(), Some("z9hG4bK30239"));
    }

    #[test]
    fn ipv6_and_received() {
        let v = Via::parse("SIP/2.0/UDP [2001:db8::9:1]:5070;received=2001:db8::9:255;branch=z9hG4bKas3").expect("ok");
        assert_eq!(v.port, Some(5070));
        assert_eq!(v.received(), Some(Host::V6("2001:db8::9:255".parse().expect("addr"))));
        let v = Via::parse("SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255];branch=z9hG4bKas3").expect("ok");
        assert_eq!(v.received(), Some(Host::V6("2001:db8::9:255".parse().expect("addr"))));
    }

    #[test]
    fn spaces_around_the_port_colon() {
        let v = Via::parse("SIP/2.0/TCP host.example.com : 5061;branch=z9hG4bKx").expect("ok");
        assert_eq!(v.host, Host::Domain("host.example.com"));
        assert_eq!(v.port, Some(5061));
    }

    #[test]
    fn malformed() {
        assert!(Via::parse("SIP/2.0/UDP 192.0.2.15;;").is_err());
        assert!(Via::parse("SIP/2.0/UDP").is_err());
        assert!(Via::parse("SIP/2.0 host").is_err());
        assert!(Via::parse("SIP/2.0/UDP host:99999").is_err());
        assert!(Via::parse("").is_err());
    }

    #[test]
    fn bare_cookie_is_not_a_branch() {
        let v = Via::parse("SIP/2.0/UDP host;branch=z9hG4bK").expect("ok");
        assert!(!v.has_rfc3261_branch());
    }
}
