//! Route tokens: what this proxy writes into the user part of its Record-Route URIs so that the in-dialog
//! requests that come back along the route set can be sent where no Contact says: over the flow a user agent
//! behind NAT or on a connection of its own can be reached on (RFC 5626 §5.2, §5.3 flow tokens), and to the trunk
//! a dialog went through (a tag of the driver's). A token is the RFC 5626 §5.2 construction: the flow (and tag)
//! encoded, and an HMAC over them keyed with [`crate::ProxyConfig::secret`], so that a token this proxy did not
//! write, or one changed in transit, is refused.
//!
//! # Format
//!
//! The token is base64url without padding (RFC 4648 §5: letters, digits, `-` and `_`, all unreserved in a SIP
//! user part) of
//!
//! ```text
//! version (1) | flags | [transport | listener | address (4 or 16) | port (2) | [connection (8)]] | [tag length | tag] | MAC (10)
//! ```
//!
//! `flags`: bit 0 a flow is present, bit 1 its address is IPv6, bit 2 it names a connection, bit 3 a tag is
//! present; no other bit may be set. `transport` is the transport's position in [`Transport::ALL`]; `listener` the
//! [`crate::ListenerId`]; numbers are big-endian. The tag is 1 to [`RouteToken::MAX_TAG_LEN`] octets of UTF-8. The MAC is
//! HMAC-SHA256 over a label and everything before it, cut to 80 bits as RFC 5626 §5.2 cuts HMAC-SHA1. An IPv4
//! UDP flow makes a 27-character token.
//!
//! Decoding accepts only what encoding produces: canonical base64url, the exact length, known flags and
//! transports, and the right MAC (checked in constant time before anything else is read).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use carillon_sip::Error;
use carillon_sip::target::Transport;
use hmac::digest::Key;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::config::ListenerId;
use crate::targets::Flow;

/// Octets of MAC at the end of a token (80 bits, RFC 5626 §5.2).
const MAC_LEN: usize = 10;
const VERSION: u8 = 1;
const HAS_FLOW: u8 = 1;
const IPV6: u8 = 1 << 1;
const HAS_CONNECTION: u8 = 1 << 2;
const HAS_TAG: u8 = 1 << 3;
/// Separates the MAC of tokens from the other HMACs keyed with the same secret (loop detection, stateless
/// branches).
const LABEL: &[u8] = b"carillon route token v1";

/// What a route token says: the flow to send over, the driver's tag, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteToken {
    /// The flow and the transport of its listener, which must still be the listener's transport when the token
    /// comes back (a token from before a configuration change is refused rather than sent the wrong way).
    pub flow: Option<(Transport, Flow)>,
    /// The driver's tag of the target ([`crate::Target::tag`]), at most [`RouteToken::MAX_TAG_LEN`] octets.
    pub tag: Option<String>,
}

impl RouteToken {
    /// The longest tag a token carries, in octets.
    pub const MAX_TAG_LEN: usize = 64;

    /// The token text: base64url of the encoding and its MAC under `secret`. Fails when there is nothing to
    /// encode, the tag is empty or longer than [`RouteToken::MAX_TAG_LEN`] octets, or the listener number exceeds 255.
    pub fn encode(&self, secret: &[u8]) -> Result<String, Error> {
        if self.flow.is_none() && self.tag.is_none() {
            return Err(Error::NotApplicable("a route token carries a flow or a tag"));
        }
        let mut bytes = Vec::with_capacity(48);
        bytes.push(VERSION);
        bytes.push(0);
        let mut flags = 0;
        if let Some((transport, flow)) = &self.flow {
            flags |= HAS_FLOW;
            let code = Transport::ALL.iter().position(|t| t == transport).unwrap_or(0);
            bytes.push(code as u8);
            bytes.push(u8::try_from(flow.listener.0).map_err(|_| Error::NotApplicable("listener number over 255"))?);
            match flow.remote.ip() {
                IpAddr::V4(a) => bytes.extend_from_slice(&a.octets()),
                IpAddr::V6(a) => {
                    flags |= IPV6;
                    bytes.extend_from_slice(&a.octets());
                }
            }
            bytes.extend_from_slice(&flow.remote.port().to_be_bytes());
            if let Some(connection) = flow.connection {
                flags |= HAS_CONNECTION;
                bytes.extend_from_slice(&connection.to_be_bytes());
            }
        }
        if let Some(tag) = &self.tag {
            if tag.is_empty() || tag.len() > RouteToken::MAX_TAG_LEN {
                return Err(Error::NotApplicable("a route token's tag is 1 to 64 octets"));
            }
            flags |= HAS_TAG;
            bytes.push(tag.len() as u8);
            bytes.extend_from_slice(tag.as_bytes());
        }
        bytes[1] = flags;
        let mac = mac(secret, &bytes).finalize().into_bytes();
        bytes.extend_from_slice(&mac[..MAC_LEN]);
        Ok(base64url_encode(&bytes))
    }

    /// The token `text` says, if this proxy wrote it with `secret`: `None` for anything else (not base64url, a
    /// wrong MAC, an unknown version, flag or transport, a length that does not add up).
    pub fn decode(secret: &[u8], text: &str) -> Option<RouteToken> {
        let bytes = base64url_decode(text)?;
        let split = bytes.len().checked_sub(MAC_LEN)?;
        let (body, tag) = bytes.split_at(split);
        mac(secret, body).verify_truncated_left(tag).ok()?;
        let mut reader = Reader(body);
        if reader.byte()? != VERSION {
            return None;
        }
        let flags = reader.byte()?;
        if flags & !(HAS_FLOW | IPV6 | HAS_CONNECTION | HAS_TAG) != 0 {
            return None;
        }
        let flow = if flags & HAS_FLOW != 0 {
            let transport = *Transport::ALL.get(usize::from(reader.byte()?))?;
            let listener = ListenerId(usize::from(reader.byte()?));
            let ip = if flags & IPV6 != 0 {
                IpAddr::V6(Ipv6Addr::from(reader.array::<16>()?))
            } else {
                IpAddr::V4(Ipv4Addr::from(reader.array::<4>()?))
            };
            let port = u16::from_be_bytes(reader.array::<2>()?);
            let connection =
                if flags & HAS_CONNECTION != 0 { Some(u64::from_be_bytes(reader.array::<8>()?)) } else { None };
            Some((transport, Flow { listener, remote: SocketAddr::new(ip, port), connection }))
        } else if flags & (IPV6 | HAS_CONNECTION) != 0 {
            return None;
        } else {
            None
        };
        let tag = if flags & HAS_TAG != 0 {
            let len = usize::from(reader.byte()?);
            if len == 0 || len > RouteToken::MAX_TAG_LEN {
                return None;
            }
            Some(std::str::from_utf8(reader.take(len)?).ok()?.to_owned())
        } else {
            None
        };
        if !reader.0.is_empty() || (flow.is_none() && tag.is_none()) {
            return None;
        }
        Some(RouteToken { flow, tag })
    }
}

/// The MAC state over `body`.
fn mac(secret: &[u8], body: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; the fallback (an empty key) is never taken.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Key::<Hmac<Sha256>>::default()));
    mac.update(&(LABEL.len() as u64).to_be_bytes());
    mac.update(LABEL);
    mac.update(body);
    mac
}

/// Reads a token's fields front to back.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// RFC 4648 §5 base64url, without padding.
fn base64url_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 0x3f) as usize]));
        }
    }
    out
}

/// The octets of unpadded base64url `text`; `None` unless it is exactly what [`base64url_encode`] writes (no
/// padding, no other characters, unused low bits zero), so that each token has one spelling.
fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let sextet = |c: u8| ALPHABET.iter().position(|a| *a == c).map(|p| p as u32);
    let text = text.as_bytes();
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= sextet(*c)? << (18 - 6 * i);
        }
        let octets = chunk.len() - 1;
        // The bits past the last whole octet must be zero.
        if n & (0x00ff_ffff >> (8 * octets)) != 0 {
            return None;
        }
        for i in 0..octets {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp_flow() -> RouteToken {
        let flow =
            Flow { listener: ListenerId(0), remote: "198.51.100.7:40312".parse().expect("address"), connection: None };
        RouteToken { flow: Some((Transport::Udp, flow)), tag: None }
    }

    #[test]
    fn base64url_round_trips_every_length() {
        for len in 0..40 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let text = base64url_encode(&bytes);
            assert!(text.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'), "{text}");
            assert_eq!(base64url_decode(&text), Some(bytes));
        }
        assert_eq!(base64url_encode(b"\xfb\xff"), "-_8");
        assert_eq!(base64url_decode("-_9"), None, "unused bits set: another spelling of the same octets");
        assert_eq!(base64url_decode("QQ=="), None, "padding");
        assert_eq!(base64url_decode("Q"), None);
        assert_eq!(base64url_decode("Q+/A"), None, "the other base64 alphabet");
    }

    #[test]
    fn an_ipv4_udp_flow_token_is_27_characters_rfc5626_5_2() {
        let text = udp_flow().encode(b"k").expect("encodable");
        assert_eq!(text.len(), 27);
        assert_eq!(RouteToken::decode(b"k", &text), Some(udp_flow()));
        assert_eq!(RouteToken::decode(b"another key", &text), None);
    }

    #[test]
    fn nothing_to_carry_or_an_oversized_tag_is_not_encoded() {
        assert!(RouteToken { flow: None, tag: None }.encode(b"k").is_err());
        assert!(RouteToken { flow: None, tag: Some(String::new()) }.encode(b"k").is_err());
        assert!(RouteToken { flow: None, tag: Some("x".repeat(65)) }.encode(b"k").is_err());
        let tagged = RouteToken { flow: None, tag: Some("x".repeat(64)) };
        assert_eq!(RouteToken::decode(b"k", &tagged.encode(b"k").expect("64 octets")), Some(tagged));
    }

    #[test]
    fn a_correct_mac_over_a_malformed_body_is_refused() {
        let sealed = |body: &[u8]| {
            let mut bytes = body.to_vec();
            bytes.extend_from_slice(&mac(b"k", body).finalize().into_bytes()[..MAC_LEN]);
            base64url_encode(&bytes)
        };
        assert!(RouteToken::decode(b"k", &sealed(&[VERSION, HAS_TAG, 1, b'a'])).is_some(), "the well-formed one");
        for body in [
            &[2, HAS_TAG, 1, b'a'][..],                   // another version
            &[VERSION, HAS_TAG | 0x10, 1, b'a'],          // an unknown flag
            &[VERSION, HAS_TAG, 2, b'a'],                 // a short tag
            &[VERSION, HAS_TAG, 1, b'a', 0],              // trailing octets
            &[VERSION, HAS_TAG, 1, 0xff],                 // not UTF-8
            &[VERSION, 0],                                // nothing carried
            &[VERSION, IPV6 | HAS_TAG, 1, b'a'],          // an address flag without a flow
            &[VERSION, HAS_FLOW, 9, 0, 1, 2, 3, 4, 0, 1], // an unknown transport
        ] {
            assert_eq!(RouteToken::decode(b"k", &sealed(body)), None, "{body:?}");
        }
    }
}
