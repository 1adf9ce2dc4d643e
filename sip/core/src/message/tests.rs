use bytes::{Bytes, BytesMut};

use super::*;
use crate::error::Error;

const INVITE: &[u8] = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\n";

fn parse(b: &[u8]) -> Result<Message, Error> {
    Message::parse(Bytes::copy_from_slice(b))
}

#[test]
fn request_parts() {
    let m = parse(INVITE).expect("valid");
    assert_eq!(m.method(), Some(&Method::Invite));
    assert_eq!(m.request_uri(), Some("sip:bob@biloxi.example.com"));
    assert_eq!(m.header_count(), 9);
    assert_eq!(m.call_id(), Ok("a84b4c76e66710@pc33.atlanta.example.com"));
    assert_eq!(m.cseq().map(|c| (c.seq, c.method_text)), Ok((314159, "INVITE")));
    assert_eq!(m.top_via().expect("via").branch(), Some("z9hG4bK776asdhds"));
    assert_eq!(m.from().expect("from").tag(), Some("1928301774"));
    assert_eq!(m.to().expect("to").tag(), None);
    assert_eq!(m.max_forwards(), Ok(Some(70)));
    assert_eq!(m.body(), b"v=0\n");
    assert_eq!(m.to_bytes(), INVITE);
}

#[test]
fn response_parts() {
    let m =
        parse(b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nContent-Length: 0\r\n\r\n").expect("ok");
    assert_eq!(m.status(), Some(StatusCode::RINGING));
    assert_eq!(m.reason(), Some("Ringing"));
    assert_eq!(m.kind(), Kind::Response);
    let m = parse(b"SIP/2.0 100\r\nContent-Length: 0\r\n\r\n").expect("reason phrase may be missing");
    assert_eq!(m.reason(), Some(""));
}

#[test]
fn start_line_faults() {
    assert_eq!(parse(b"INVITE sip:a@b SIP/3.0\r\n\r\n").err(), Some(Error::VersionNotSupported));
    assert_eq!(parse(b"INVITE sip:a@b HTTP/1.1\r\n\r\n").err(), Some(Error::BadStartLine));
    assert_eq!(parse(b"INVITE  sip:a@b SIP/2.0\r\n\r\n").err(), Some(Error::BadStartLine));
    assert_eq!(parse(b"INVITE sip:a@b SIP/2.0 \r\n\r\n").err(), Some(Error::BadStartLine));
    assert_eq!(parse(b"INVITE sip:a@b\r\n\r\n").err(), Some(Error::BadStartLine));
    assert_eq!(parse(b"INV<ITE sip:a@b SIP/2.0\r\n\r\n").err(), Some(Error::BadMethod));
    assert_eq!(parse(b"SIP/2.0 99 Low\r\n\r\n").err(), Some(Error::BadStatusCode));
    assert_eq!(parse(b"SIP/2.0 700 High\r\n\r\n").err(), Some(Error::BadStatusCode));
    assert_eq!(parse(b"SIP/2.0 2000 Long\r\n\r\n").err(), Some(Error::BadStatusCode));
    assert_eq!(parse(b"\r\n\r\n").err(), Some(Error::Empty));
    assert_eq!(parse(b"").err(), Some(Error::Empty));
}

#[test]
fn header_section_faults() {
    assert_eq!(parse(b"OPTIONS sip:a@b SIP/2.0\r\nNo colon here\r\n\r\n").err(), Some(Error::BadHeaderLine));
    assert_eq!(parse(b"OPTIONS sip:a@b SIP/2.0\r\n continuation first\r\n\r\n").err(), Some(Error::BadHeaderLine));
    assert_eq!(parse(b"OPTIONS sip:a@b SIP/2.0\r\nBad Name: x\r\n\r\n").err(), Some(Error::BadHeaderLine));
    assert_eq!(parse(b"OPTIONS sip:a@b SIP/2.0\r\nX: \xff\r\n\r\n").err(), Some(Error::InvalidUtf8));
    assert_eq!(parse(b"OPTIONS sip:a@b SIP/2.0\r\nX: y\r\n").err(), Some(Error::Truncated));
    assert_eq!(parse(b"OPTIONS sip:a@b SIP/2.0\r\nl: -1\r\n\r\n").err(), Some(Error::BadContentLength));
    assert_eq!(parse(b"OPTIONS sip:a@b SIP/2.0\r\nl: 99999999999\r\n\r\n").err(), Some(Error::BadContentLength));
    assert_eq!(parse(b"OPTIONS sip:a@b SIP/2.0\r\nl: 5\r\n\r\nabc").err(), Some(Error::BodyTruncated));
    assert_eq!(
        parse(b"OPTIONS sip:a@b SIP/2.0\r\nl: 1\r\nContent-Length: 2\r\n\r\nabc").err(),
        Some(Error::ConflictingContentLength)
    );
}

#[test]
fn datagram_framing() {
    // Trailing octets after Content-Length are ignored; without Content-Length the body is the rest.
    let m = parse(b"OPTIONS sip:a@b SIP/2.0\r\nl: 2\r\n\r\nabJUNK").expect("ok");
    assert_eq!(m.body(), b"ab");
    assert_eq!(m.to_bytes(), &b"OPTIONS sip:a@b SIP/2.0\r\nl: 2\r\n\r\nab"[..]);
    let m = parse(b"OPTIONS sip:a@b SIP/2.0\r\nX: y\r\n\r\nrest of it").expect("ok");
    assert_eq!(m.body(), b"rest of it");
}

#[test]
fn bare_lf_line_ends_are_tolerated() {
    let m = parse(b"OPTIONS sip:a@b SIP/2.0\nCall-ID: x\n\n").expect("ok");
    assert_eq!(m.call_id(), Ok("x"));
}

#[test]
fn folded_values_and_compact_names() {
    let m = parse(b"OPTIONS sip:a@b SIP/2.0\r\ni: one\r\n two\r\nv: SIP/2.0/UDP h\r\n\r\n").expect("ok");
    assert_eq!(m.header(HeaderName::CallId), Some("one\r\n two"));
    let h = m.header_at(1).expect("via");
    assert_eq!((h.name, h.written_name), (HeaderName::Via, "v"));
}

#[test]
fn list_values_split_across_lines_and_commas() {
    let m = parse(b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP a, SIP/2.0/UDP b\r\nVia: SIP/2.0/UDP c\r\nTo: \"x, y\" <sip:t@h>\r\n\r\n")
        .expect("ok");
    let hosts: Vec<_> = m.vias().map(|v| v.expect("via").host.to_string()).collect();
    assert_eq!(hosts, ["a", "b", "c"]);
    assert_eq!(m.header_values(HeaderName::To).count(), 1, "To is not a list header");
}

#[test]
fn limits_are_enforced() {
    let limits = Limits { max_headers: 2, ..Limits::default() };
    let r = Message::parse_datagram(
        Bytes::from_static(b"OPTIONS sip:a@b SIP/2.0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"),
        &limits,
    );
    assert_eq!(r.err(), Some(Error::TooManyHeaders));
    let limits = Limits { max_line_length: 10, ..Limits::default() };
    let r = Message::parse_datagram(Bytes::from_static(b"OPTIONS sip:a@b SIP/2.0\r\n\r\n"), &limits);
    assert_eq!(r.err(), Some(Error::LineTooLong));
}

#[test]
fn stream_needs_more_then_splits() {
    let mut buf = BytesMut::from(&INVITE[..INVITE.len() - 2]);
    assert_eq!(Message::parse_stream(&mut buf, &Limits::default()), Ok(None));
    buf.extend_from_slice(&INVITE[INVITE.len() - 2..]);
    buf.extend_from_slice(b"OPTIONS");
    let m = Message::parse_stream(&mut buf, &Limits::default()).expect("ok").expect("complete");
    assert_eq!(m.to_bytes(), INVITE);
    assert_eq!(&buf[..], b"OPTIONS");
}

#[test]
fn edits_keep_untouched_lines_byte_exact() {
    let wire = b"OPTIONS sip:a@b SIP/2.0\r\nvia :  SIP/2.0/UDP  h ;branch=z9hG4bK1\r\nX-Odd:  spaced\r\n folded\r\nl: 0\r\n\r\n";
    let mut m = parse(wire).expect("ok");
    m.prepend_header(HeaderName::Via, "SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp");
    m.set_request_uri("sip:a@192.0.2.1");
    let out = m.to_bytes();
    let expected = "OPTIONS sip:a@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp\r\n\
via :  SIP/2.0/UDP  h ;branch=z9hG4bK1\r\nX-Odd:  spaced\r\n folded\r\nl: 0\r\n\r\n";
    assert_eq!(std::str::from_utf8(&out).expect("utf8"), expected);
    let again = Message::parse(out).expect("reparses");
    assert_eq!(again.top_via().expect("via").branch(), Some("z9hG4bKp"));
    assert_eq!(m.request_uri(), Some("sip:a@192.0.2.1"));
}

#[test]
fn remove_first_value_of_a_list() {
    let mut m = parse(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP p;branch=z9hG4bK1, SIP/2.0/UDP c;branch=z9hG4bK2\r\n\r\n")
        .expect("ok");
    assert!(m.remove_first_value(HeaderName::Via));
    assert_eq!(m.top_via().expect("via").branch(), Some("z9hG4bK2"));
    assert!(m.remove_first_value(HeaderName::Via));
    assert_eq!(m.top_via().err(), Some(Error::MissingHeader(HeaderName::Via)));
    assert!(!m.remove_first_value(HeaderName::Via));
}

#[test]
fn set_body_updates_content_length() {
    let mut m = parse(INVITE).expect("ok");
    m.set_body(Bytes::from_static(b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n"));
    let re = Message::parse(m.to_bytes()).expect("reparses");
    assert_eq!(re.header(HeaderName::ContentLength), Some("31"));
    assert_eq!(re.body().len(), 31);
}

#[test]
fn response_to_copies_transaction_headers() {
    let req = parse(INVITE).expect("ok");
    let resp = Message::response_to(&req, StatusCode::RINGING).to_tag("abc").build().expect("builds");
    assert_eq!(resp.status(), Some(StatusCode::RINGING));
    assert_eq!(resp.to().expect("to").tag(), Some("abc"));
    assert_eq!(resp.header(HeaderName::Via), req.header(HeaderName::Via));
    assert_eq!(resp.call_id(), req.call_id());
    assert_eq!(resp.header(HeaderName::Contact), None);
    let again = Message::response_to(&resp, StatusCode::OK).to_tag("zzz").build().expect("builds");
    assert_eq!(again.to().expect("to").tag(), Some("abc"), "an existing tag is kept");
}

#[test]
fn request_builder_round_trips() {
    let m = Message::request(&Method::Options, "sip:carillon.example.edu")
        .header("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc;rport")
        .header("Max-Forwards", "70")
        .header("Call-ID", "xyz")
        .body("text/plain", &b"hello"[..])
        .build()
        .expect("builds");
    assert_eq!(m.method(), Some(&Method::Options));
    assert_eq!(m.body(), b"hello");
    assert_eq!(m.header(HeaderName::ContentType), Some("text/plain"));
}
