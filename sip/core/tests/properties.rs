//! Property tests of the message parser: generated messages survive parse → serialise → parse unchanged, edits
//! keep every untouched line, and arbitrary bytes never panic the parser, the framer or the checks.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a failed expectation is the point

use bytes::Bytes;
use carillon_sip::framing::{Limits, StreamEvent, StreamFramer};
use carillon_sip::message::HeaderName;
use carillon_sip::validate::{check_request, check_response};
use carillon_sip::{Disposition, Message};
use proptest::prelude::*;

/// A message as the generator sees it: the start line, header lines (name, value) and body.
#[derive(Debug, Clone)]
struct Model {
    start: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Model {
    fn wire(&self) -> Vec<u8> {
        let mut w = format!("{}\r\n", self.start);
        for (n, v) in &self.headers {
            w.push_str(&format!("{n}: {v}\r\n"));
        }
        w.push_str(&format!("Content-Length: {}\r\n\r\n", self.body.len()));
        let mut w = w.into_bytes();
        w.extend_from_slice(&self.body);
        w
    }
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.!%*_+`'~-]{0,15}"
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9-]{0,10}){0,3}",
        (1u8..=254, 0u8..=255, 0u8..=255, 1u8..=254).prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        any::<[u16; 8]>().prop_map(|g| format!("[{}]", std::net::Ipv6Addr::from(g))),
    ]
}

fn sip_uri() -> impl Strategy<Value = String> {
    ("[a-z0-9]{1,8}", host(), proptest::option::of(1u16..)).prop_map(|(user, host, port)| match port {
        Some(p) => format!("sip:{user}@{host}:{p}"),
        None => format!("sip:{user}@{host}"),
    })
}

fn display_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[A-Za-z]{1,8}( [A-Za-z]{1,8}){0,2}".prop_map(|n| format!("{n} ")),
        "[ -!#-\\[\\]-~é]{0,12}".prop_map(|n| format!("\"{n}\" ")),
    ]
}

fn via() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("UDP"), Just("TCP"), Just("TLS")],
        host(),
        proptest::option::of(1u16..),
        "[a-zA-Z0-9]{1,12}",
        any::<bool>(),
    )
        .prop_map(|(t, h, p, b, rport)| {
            let port = p.map(|p| format!(":{p}")).unwrap_or_default();
            let rport = if rport { ";rport" } else { "" };
            format!("SIP/2.0/{t} {h}{port};branch=z9hG4bK{b}{rport}")
        })
}

/// Generic headers: any token name, a value of printable text (UTF-8 allowed) that is not empty.
fn extension_header() -> impl Strategy<Value = (String, String)> {
    ("X-[A-Za-z0-9-]{1,12}", "[!-~][ -~äöü€]{0,40}[!-~]").prop_map(|(n, v)| (n, v))
}

fn request() -> impl Strategy<Value = Model> {
    let method = prop_oneof![
        prop_oneof![Just("INVITE"), Just("REGISTER"), Just("OPTIONS"), Just("BYE"), Just("MESSAGE")]
            .prop_map(String::from),
        token(),
    ];
    (
        method,
        sip_uri(),
        proptest::collection::vec(via(), 1..4),
        (display_name(), sip_uri(), "[a-z0-9]{1,10}"),
        (display_name(), sip_uri()),
        "[a-zA-Z0-9]{1,20}(@[a-z0-9.]{1,12})?",
        0u32..(1 << 31),
        proptest::collection::vec(extension_header(), 0..6),
        proptest::collection::vec(any::<u8>(), 0..200),
    )
        .prop_map(|(method, ruri, vias, (fd, fu, tag), (td, tu), call_id, seq, extra, body)| {
            let mut headers: Vec<(String, String)> = vias.into_iter().map(|v| ("Via".to_owned(), v)).collect();
            headers.push(("Max-Forwards".into(), "70".into()));
            headers.push(("From".into(), format!("{fd}<{fu}>;tag={tag}")));
            headers.push(("To".into(), format!("{td}<{tu}>")));
            headers.push(("Call-ID".into(), call_id));
            headers.push(("CSeq".into(), format!("{seq} {method}")));
            headers.extend(extra);
            Model { start: format!("{method} {ruri} SIP/2.0"), headers, body }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// parse(serialise(m)) == m: every generated request parses, passes the structural checks, exposes exactly
    /// the generated lines and body, and writes itself back byte for byte.
    #[test]
    fn generated_requests_round_trip(model in request()) {
        let wire = model.wire();
        let m = Message::parse(Bytes::from(wire.clone())).expect("generated request parses");
        check_request(&m).expect("generated request is well-formed");
        let start = m.start_line_text();
        prop_assert_eq!(start.as_ref(), model.start.as_str());
        let headers: Vec<(String, String)> =
            m.headers().map(|h| (h.written_name.to_owned(), h.value.to_owned())).collect();
        prop_assert_eq!(&headers[..headers.len() - 1], &model.headers[..]);
        prop_assert_eq!(m.body(), &model.body[..]);
        prop_assert_eq!(&m.to_bytes()[..], &wire[..]);
    }

    /// Edits rewrite only what they touch: after prepending a Via and replacing the Request-URI, every other line
    /// is the same text and the body is unchanged.
    #[test]
    fn edits_leave_other_lines_alone(model in request(), top in via(), ruri in sip_uri()) {
        let mut m = Message::parse(Bytes::from(model.wire())).expect("parses");
        m.prepend_header(HeaderName::Via, &top);
        m.set_request_uri(&ruri);
        let again = Message::parse(m.to_bytes()).expect("edited message parses");
        prop_assert_eq!(again.request_uri(), Some(ruri.as_str()));
        prop_assert_eq!(again.header(HeaderName::Via), Some(top.as_str()));
        let before: Vec<String> = Message::parse(Bytes::from(model.wire())).expect("parses").headers()
            .map(|h| format!("{}: {}", h.written_name, h.value)).collect();
        let after: Vec<String> = again.headers().skip(1).map(|h| format!("{}: {}", h.written_name, h.value)).collect();
        prop_assert_eq!(before, after);
        prop_assert_eq!(again.body(), &model.body[..]);
    }

    /// A stream carrying generated messages in arbitrary chunks yields exactly those messages.
    #[test]
    fn stream_framing_is_independent_of_chunking(models in proptest::collection::vec(request(), 1..4), cuts in proptest::collection::vec(1usize..64, 1..40)) {
        let stream: Vec<u8> = models.iter().flat_map(Model::wire).collect();
        let mut framer = StreamFramer::new(Limits::default());
        let mut got = Vec::new();
        let mut pos = 0;
        let mut cut = cuts.iter().cycle();
        while pos < stream.len() {
            let end = (pos + cut.next().copied().unwrap_or(1)).min(stream.len());
            framer.extend(&stream[pos..end]);
            pos = end;
            while let Some(event) = framer.next_event().expect("frames") {
                if let StreamEvent::Message(m) = event { got.push(m.to_bytes()) }
            }
        }
        let expected: Vec<Vec<u8>> = models.iter().map(Model::wire).collect();
        prop_assert_eq!(got.len(), expected.len());
        for (g, e) in got.iter().zip(&expected) {
            prop_assert_eq!(&g[..], &e[..]);
        }
    }

    /// Arbitrary bytes never panic the datagram parser or the checks, and any error maps to an answer.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        exercise(&bytes);
    }

    /// Mutations of a valid message (the likeliest hostile input) never panic either.
    #[test]
    fn mutated_messages_never_panic(model in request(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let mut bytes = model.wire();
        for (at, b) in flips {
            let len = bytes.len();
            bytes[at % len] = b;
        }
        exercise(&bytes);
    }

    /// Arbitrary bytes fed to a stream framer in pieces never panic it, and it never holds more than the limits.
    #[test]
    fn arbitrary_streams_never_panic(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20)) {
        let limits = Limits { max_header_bytes: 1024, max_body_bytes: 1024, max_line_length: 256, max_headers: 32 };
        let mut framer = StreamFramer::new(limits);
        for chunk in chunks {
            framer.extend(&chunk);
            loop {
                match framer.next_event() {
                    Ok(Some(_)) => continue,
                    Ok(None) => break,
                    Err(_) => { framer = StreamFramer::new(Limits::default()); break; }
                }
            }
            prop_assert!(framer.buffered() <= 1024 + 1024 + 300 * 20);
        }
    }
}

fn exercise(bytes: &[u8]) {
    match Message::parse(Bytes::copy_from_slice(bytes)) {
        Ok(m) => {
            let checked = if m.is_request() { check_request(&m) } else { check_response(&m) };
            if let Err(e) = checked {
                let _ = e.disposition(bytes);
            }
            for h in m.headers() {
                let _ = (h.name, h.value);
            }
            let _ = (m.top_via(), m.from(), m.to(), m.cseq(), m.call_id(), m.max_forwards());
            let again = Message::parse(m.to_bytes()).expect("an accepted message re-parses");
            assert_eq!(again.to_bytes(), m.to_bytes());
        }
        Err(e) => {
            let d = e.disposition(bytes);
            if bytes.starts_with(b"SIP/2.0 ") {
                assert_eq!(d, Disposition::Drop, "bad responses are never answered");
            }
        }
    }
}
