//! The transport rules that act on message text, kept free of sockets so they can be tested on their own: Via
//! stamping on receipt (RFC 3261 §18.2.1, RFC 3581 §4), the response destination (RFC 3261 §18.2.2), the
//! transport switch of large requests (RFC 3261 §18.1.1), and the stateless answer to a request that could not
//! be parsed.

use std::net::{IpAddr, SocketAddr};

use bytes::{BufMut, Bytes, BytesMut};
use carillon_sip::headers::Via;
use carillon_sip::target::{Target, Transport};
use carillon_sip::text::{Param, find_top_level, split_semicolons, trim_lws};
use carillon_sip::uri::Host;
use carillon_sip::{HeaderName, Message, StatusCode};

use crate::error::Error;

/// The largest request sent over UDP (RFC 3261 §18.1.1: 200 octets under an Ethernet MTU of 1500, the path MTU
/// being unknown). Larger requests go over TCP.
pub const UDP_REQUEST_LIMIT: usize = 1300;

/// Adds `received` and fills `rport` in the top Via of a request that arrived from `source`.
///
/// RFC 3261 §18.2.1: `received` is added when the sent-by host is not the source address. RFC 3581 §4: when the
/// Via carries an empty `rport`, it is filled with the source port and `received` is added in every case. An
/// existing `received` is replaced. Other values on the same Via line are kept as written. Returns whether the
/// message was edited.
pub fn stamp_received(message: &mut Message, source: SocketAddr) -> Result<bool, carillon_sip::Error> {
    let (index, value) = top_via_line(message)?;
    let (first, rest) = split_first_value(&value);
    let via = Via::parse(first)?;
    let source_ip = source.ip().to_canonical();
    let host_is_source = match via.host {
        Host::V4(a) => IpAddr::V4(a) == source_ip,
        Host::V6(a) => IpAddr::V6(a).to_canonical() == source_ip,
        Host::Domain(_) => false,
    };
    let rport_requested = via.params.get("rport") == Some(None);
    if host_is_source && !rport_requested {
        return Ok(false);
    }
    let head = match find_top_level(first, b';') {
        Some(semi) => trim_lws(&first[..semi]),
        None => first,
    };
    let mut stamped = String::with_capacity(first.len() + 48);
    stamped.push_str(head);
    if !via.params.as_str().is_empty() {
        for raw in split_semicolons(via.params.as_str()) {
            let name = Param::parse(raw).map(|p| p.name).unwrap_or(raw);
            if name.eq_ignore_ascii_case("received") {
                continue;
            }
            stamped.push(';');
            if name.eq_ignore_ascii_case("rport") && rport_requested {
                stamped.push_str(&format!("rport={}", source.port()));
            } else {
                stamped.push_str(raw);
            }
        }
    }
    stamped.push_str(&format!(";received={source_ip}"));
    stamped.push_str(rest);
    message.set_header_value(index, &stamped);
    Ok(true)
}

/// Rewrites the transport of the top Via (RFC 3261 §18.1.1: when a large request moves from UDP to TCP, the Via
/// must say so).
pub fn set_top_via_transport(message: &mut Message, transport: Transport) -> Result<(), carillon_sip::Error> {
    let (index, value) = top_via_line(message)?;
    let (first, rest) = split_first_value(&value);
    let via = Via::parse(first)?;
    // `via.transport` borrows from `first`, so its position inside it is a pointer difference.
    let start = (via.transport.as_ptr() as usize).wrapping_sub(first.as_ptr() as usize);
    let end = start + via.transport.len();
    let (Some(before), Some(after)) = (first.get(..start), first.get(end..)) else {
        return Err(carillon_sip::Error::BadHeaderValue { name: HeaderName::Via, reason: "no transport" });
    };
    message.set_header_value(index, &format!("{before}{}{after}{rest}", transport.as_str()));
    Ok(())
}

/// Where a response goes when it cannot use the connection its request came on (RFC 3261 §18.2.2, RFC 3581 §4).
///
/// - reliable transports: the `received` address (else the sent-by host) and the sent-by port (else the default);
/// - unreliable, with `maddr`: that address, the sent-by port or 5060;
/// - unreliable: the `received` address (else the sent-by host) and the filled `rport` (else the sent-by port,
///   else 5060).
///
/// A sent-by host that is a domain name without `received` would need an RFC 3263 §5 lookup: that is left to the
/// caller ([`Error::Unroutable`]).
pub fn response_target(via: &Via<'_>) -> Result<Target, Error> {
    let transport = Transport::parse(via.transport).ok_or(Error::Unroutable("unknown transport in Via"))?;
    let sent_by_port = via.port.unwrap_or(transport.default_port());
    if !transport.is_reliable()
        && let Some(maddr) = via.maddr()
    {
        let ip = host_ip(Host::parse(maddr).ok()).ok_or(Error::Unroutable("maddr is not an IP address"))?;
        return Ok(Target { transport, addr: SocketAddr::new(ip, sent_by_port) });
    }
    let ip = host_ip(via.received())
        .or_else(|| host_ip(Some(via.host)))
        .ok_or(Error::Unroutable("sent-by is a domain name and there is no received parameter"))?;
    let port = match via.rport() {
        Some(Some(rport)) if !transport.is_reliable() => rport,
        _ => sent_by_port,
    };
    Ok(Target { transport, addr: SocketAddr::new(ip, port) })
}

/// A minimal response to a request that could not be parsed, built from its raw octets: the status line, the
/// Via, From, To, Call-ID and CSeq lines copied as they came (folded continuation lines included), a To tag when
/// To has none (RFC 3261 §8.2.6.2), and `Content-Length: 0`.
///
/// Best effort: `None` when the input has no Via line (there would be nobody to match the answer) or is an ACK
/// (never answered).
pub fn stateless_response(raw: &[u8], status: StatusCode, reason: &str, to_tag: &str) -> Option<Bytes> {
    let head_end = find(raw, b"\r\n\r\n").or_else(|| find(raw, b"\n\n")).unwrap_or(raw.len());
    let head = &raw[..head_end];
    let mut lines = head.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let request_line = lines.next()?;
    if request_line.starts_with(b"ACK ") {
        return None;
    }
    // Each kept header: its physical lines (first line and continuations) and whether it is To.
    let mut kept: Vec<(Vec<&[u8]>, bool)> = Vec::new();
    let mut keeping = false;
    let mut has_via = false;
    for line in lines {
        if line.is_empty() {
            break;
        }
        if line.starts_with(b" ") || line.starts_with(b"\t") {
            if keeping && let Some((physical, _)) = kept.last_mut() {
                physical.push(line);
            }
            continue;
        }
        // Only a token before the colon is a header name: a line such as `\rVia: ...` is not a Via line, and copying
        // it would make the answer itself malformed.
        let name = line
            .iter()
            .position(|&b| b == b':')
            .map(|colon| line[..colon].trim_ascii_end())
            .filter(|name| !name.is_empty() && name.iter().all(|&b| carillon_sip::text::is_token_char(b)));
        let Some(name) = name else {
            keeping = false;
            continue;
        };
        let is = |long: &str, short: &str| {
            name.eq_ignore_ascii_case(long.as_bytes()) || name.eq_ignore_ascii_case(short.as_bytes())
        };
        let is_via = is("Via", "v");
        keeping =
            is_via || is("From", "f") || is("To", "t") || is("Call-ID", "i") || name.eq_ignore_ascii_case(b"CSeq");
        if keeping {
            has_via |= is_via;
            kept.push((vec![line], is("To", "t")));
        }
    }
    if !has_via {
        return None;
    }
    let mut out = BytesMut::with_capacity(head.len() + 64);
    out.put_slice(format!("SIP/2.0 {} {}\r\n", status.as_u16(), reason).as_bytes());
    for (physical, is_to) in kept {
        let has_tag = physical.iter().any(|l| contains_ignore_case(l, b"tag="));
        let last = physical.len().saturating_sub(1);
        for (i, line) in physical.into_iter().enumerate() {
            out.put_slice(line);
            if is_to && !has_tag && i == last {
                out.put_slice(b";tag=");
                out.put_slice(to_tag.as_bytes());
            }
            out.put_slice(b"\r\n");
        }
    }
    out.put_slice(b"Content-Length: 0\r\n\r\n");
    Some(out.freeze())
}

/// Whether a datagram is a keepalive rather than a message: CRLF sequences (sent by many phones) or a STUN
/// message (RFC 5626 §4.4.2 keepalives; not answered here, so a peer relying on STUN keepalives sees its flow as
/// failed and re-registers).
pub fn is_datagram_keepalive(datagram: &[u8]) -> bool {
    let crlf = !datagram.is_empty() && datagram.iter().all(|&b| b == b'\r' || b == b'\n');
    // RFC 5389 §6: first two bits zero and the magic cookie at offset 4.
    let stun = datagram.len() >= 20 && datagram[0] & 0xC0 == 0 && datagram[4..8] == [0x21, 0x12, 0xA4, 0x42];
    crlf || stun
}

/// The index of the first Via header line and its value.
fn top_via_line(message: &Message) -> Result<(usize, String), carillon_sip::Error> {
    let index = message
        .headers()
        .position(|h| h.name == HeaderName::Via)
        .ok_or(carillon_sip::Error::MissingHeader(HeaderName::Via))?;
    let value = message.header_at(index).map(|h| h.value.to_owned()).unwrap_or_default();
    Ok((index, value))
}

/// The first value of a comma-separated header line and the rest of the line from its comma on.
fn split_first_value(value: &str) -> (&str, &str) {
    match find_top_level(value, b',') {
        Some(comma) => (trim_lws(&value[..comma]), &value[comma..]),
        None => (value, ""),
    }
}

fn host_ip(host: Option<Host<'_>>) -> Option<IpAddr> {
    match host? {
        Host::V4(a) => Some(IpAddr::V4(a)),
        Host::V6(a) => Some(IpAddr::V6(a)),
        Host::Domain(_) => None,
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
#[allow(clippy::expect_used)] // Test data that is known valid.
mod tests {
    use super::*;

    fn request(via: &str) -> Message {
        let text = format!(
            "OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\nVia: {via}\r\nFrom: <sip:alice@a.test>;tag=1\r\nTo: <sip:bob@b.test>\r\n\
             Call-ID: c1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        Message::parse(Bytes::from(text)).expect("valid request")
    }

    fn top_via(m: &Message) -> String {
        m.header(HeaderName::Via).expect("Via").to_owned()
    }

    const SOURCE: &str = "192.0.2.9:40000";

    #[test]
    fn rfc3261_18_2_1_received_added_when_sent_by_differs() {
        let mut m = request("SIP/2.0/UDP pc33.a.test:5066;branch=z9hG4bK1");
        assert!(stamp_received(&mut m, SOURCE.parse().expect("addr")).expect("stamped"));
        assert_eq!(top_via(&m), "SIP/2.0/UDP pc33.a.test:5066;branch=z9hG4bK1;received=192.0.2.9");
        let reparsed = Message::parse(m.to_bytes()).expect("still valid");
        assert_eq!(reparsed.top_via().expect("via").received(), Some(Host::V4([192, 0, 2, 9].into())));
    }

    #[test]
    fn rfc3261_18_2_1_untouched_when_sent_by_is_the_source() {
        let mut m = request("SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK1");
        assert!(!stamp_received(&mut m, SOURCE.parse().expect("addr")).expect("checked"));
        assert!(m.is_untouched());
    }

    #[test]
    fn rfc3581_4_rport_filled_and_received_always_added() {
        let mut m = request("SIP/2.0/UDP 192.0.2.9:5060;rport;branch=z9hG4bK1;received=10.0.0.1");
        stamp_received(&mut m, SOURCE.parse().expect("addr")).expect("stamped");
        assert_eq!(top_via(&m), "SIP/2.0/UDP 192.0.2.9:5060;rport=40000;branch=z9hG4bK1;received=192.0.2.9");
    }

    #[test]
    fn only_the_top_via_value_is_stamped() {
        let mut m = request("SIP/2.0/UDP h.a.test;branch=z9hG4bK1 , SIP/2.0/UDP p.test;branch=z9hG4bK0");
        stamp_received(&mut m, "[2001:db8::5]:5070".parse().expect("addr")).expect("stamped");
        assert_eq!(
            top_via(&m),
            "SIP/2.0/UDP h.a.test;branch=z9hG4bK1;received=2001:db8::5, SIP/2.0/UDP p.test;branch=z9hG4bK0"
        );
    }

    #[test]
    fn a_malformed_via_is_an_error_not_a_panic() {
        let mut m = request("SIP/2.0/UDP");
        assert!(stamp_received(&mut m, SOURCE.parse().expect("addr")).is_err());
    }

    #[test]
    fn rfc3261_18_1_1_transport_switch_rewrites_the_via() {
        let mut m = request("SIP/2.0/UDP h.a.test:5060;branch=z9hG4bK1");
        set_top_via_transport(&mut m, Transport::Tcp).expect("rewritten");
        assert_eq!(top_via(&m), "SIP/2.0/TCP h.a.test:5060;branch=z9hG4bK1");
    }

    fn via(text: &str) -> Via<'_> {
        Via::parse(text).expect("valid Via")
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    #[test]
    fn rfc3261_18_2_2_response_destinations() {
        let t = response_target(&via("SIP/2.0/UDP h.test:5066;received=192.0.2.9;branch=z9hG4bK1")).expect("ok");
        assert_eq!(t, Target { transport: Transport::Udp, addr: addr("192.0.2.9:5066") });
        let t = response_target(&via("SIP/2.0/UDP h.test;received=192.0.2.9;branch=z9hG4bK1")).expect("ok");
        assert_eq!(t.addr, addr("192.0.2.9:5060"));
        let t = response_target(&via("SIP/2.0/UDP h.test:5066;maddr=239.1.1.1;received=192.0.2.9")).expect("ok");
        assert_eq!(t.addr, addr("239.1.1.1:5066"));
        let t = response_target(&via("SIP/2.0/UDP 192.0.2.3:5070;branch=z9hG4bK1")).expect("ok");
        assert_eq!(t.addr, addr("192.0.2.3:5070"));
        let t = response_target(&via("SIP/2.0/TLS h.test;received=192.0.2.9;rport=999")).expect("ok");
        assert_eq!(t, Target { transport: Transport::Tls, addr: addr("192.0.2.9:5061") });
        assert!(matches!(response_target(&via("SIP/2.0/UDP h.test;branch=z9hG4bK1")), Err(Error::Unroutable(_))));
    }

    #[test]
    fn rfc3581_4_response_goes_to_rport() {
        let t = response_target(&via("SIP/2.0/UDP 10.0.0.1:5060;rport=40000;received=192.0.2.9")).expect("ok");
        assert_eq!(t.addr, addr("192.0.2.9:40000"));
    }

    #[test]
    fn stateless_response_skips_lines_whose_name_is_not_a_token() {
        let raw =
            b"INVITE sip:bob@b.test SIP/2.0\r\nVia: SIP/2.0/UDP h.a.test;branch=z9hG4bK1\r\n\rVia: SIP/2.0/UDP x\r\n\
                    From: <sip:a@a.test>;tag=9\r\nTo: <sip:bob@b.test>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n\r\n";
        let out = stateless_response(raw, StatusCode::BAD_REQUEST, "Bad Request", "t1").expect("answer");
        let parsed = carillon_sip::Message::parse(out).expect("the answer itself parses");
        assert_eq!(parsed.header_lines(carillon_sip::HeaderName::Via).count(), 1);
    }

    #[test]
    fn stateless_response_copies_the_transaction_headers() {
        let raw = b"INVITE sip:bob@b.test SIP/2.0\r\nVia: SIP/2.0/UDP h.a.test;branch=z9hG4bK1\r\n\
                    v: SIP/2.0/UDP p.test;branch=z9hG4bK0\r\nMax-Forwards: 70\r\nFrom: <sip:a@a.test>\r\n ;tag=9\r\n\
                    To: <sip:bob@b.test>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: -5\r\n\r\nbody";
        let out = stateless_response(raw, StatusCode::BAD_REQUEST, "Malformed Content-Length", "t1").expect("answer");
        assert_eq!(
            &out[..],
            &b"SIP/2.0 400 Malformed Content-Length\r\nVia: SIP/2.0/UDP h.a.test;branch=z9hG4bK1\r\n\
               v: SIP/2.0/UDP p.test;branch=z9hG4bK0\r\nFrom: <sip:a@a.test>\r\n ;tag=9\r\nTo: <sip:bob@b.test>;tag=t1\r\n\
               Call-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"[..]
        );
        let parsed = Message::parse(out).expect("the answer is a valid response");
        assert_eq!(parsed.status(), Some(StatusCode::BAD_REQUEST));
        assert_eq!(parsed.call_id().expect("Call-ID"), "c1");
    }

    #[test]
    fn stateless_response_keeps_an_existing_to_tag_and_needs_a_via() {
        let raw = b"BYE sip:b@b.test SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nTo: <sip:b@b.test>;tag=x\n\n";
        let out = stateless_response(raw, StatusCode::BAD_REQUEST, "Bad", "t1").expect("answer");
        assert!(contains_ignore_case(&out, b"To: <sip:b@b.test>;tag=x\r\n"));
        assert!(!contains_ignore_case(&out, b"tag=t1"));
        assert_eq!(
            stateless_response(b"OPTIONS sip:x SIP/2.0\r\nTo: <sip:x>\r\n\r\n", StatusCode::BAD_REQUEST, "B", "t"),
            None
        );
        assert_eq!(
            stateless_response(b"ACK sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n", StatusCode::BAD_REQUEST, "B", "t"),
            None
        );
        assert_eq!(stateless_response(b"", StatusCode::BAD_REQUEST, "B", "t"), None);
    }

    #[test]
    fn keepalive_datagrams() {
        assert!(is_datagram_keepalive(b"\r\n\r\n"));
        assert!(is_datagram_keepalive(b"\r\n"));
        let mut stun = [0u8; 20];
        stun[1] = 1;
        stun[4..8].copy_from_slice(&[0x21, 0x12, 0xA4, 0x42]);
        assert!(is_datagram_keepalive(&stun));
        assert!(!is_datagram_keepalive(b"OPTIONS sip:x SIP/2.0\r\n"));
        assert!(!is_datagram_keepalive(b""));
    }
}
