//! A datagram through the whole receive path: parse, the element checks, then serialisation, which must read
//! back as the same message both untouched (written back as received) and after a proxy-style edit (a Via
//! prepended, so every line is rewritten from its spans).

#![no_main]

use bytes::Bytes;
use carillon_sip::validate::{check_request, check_response};
use carillon_sip::{HeaderName, Limits, Message};
use carillon_sip_fuzz::Shape;
use libfuzzer_sys::fuzz_target;

const PROXY_VIA: &str = "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKfuzz";

fuzz_target!(|data: &[u8]| {
    let msg = match Message::parse(Bytes::copy_from_slice(data)) {
        Ok(msg) => msg,
        Err(e) => {
            let _ = e.disposition(data);
            return;
        }
    };
    let verdict = if msg.is_request() { check_request(&msg) } else { check_response(&msg) };
    if let Err(e) = &verdict {
        let _ = e.disposition(data);
    }
    let shape = Shape::of(&msg);

    // Untouched: the octets as received (trailing datagram octets dropped), which parse to the same message.
    let wire = msg.to_bytes();
    assert!(data.starts_with(&wire), "an untouched message is a prefix of its datagram");
    let again = Message::parse(wire).expect("an untouched message re-parses");
    assert_eq!(Shape::of(&again), shape);

    // Edited: one more line must still fit the limits the original was parsed with.
    let limits = Limits::default();
    if msg.header_count() + 1 > limits.max_headers || data.len() + PROXY_VIA.len() + 64 > limits.max_header_bytes {
        return;
    }
    let mut edited = msg.clone();
    edited.prepend_header(HeaderName::Via, PROXY_VIA);
    let edited_shape = Shape::of(&edited);
    assert_eq!(edited_shape.headers.len(), shape.headers.len() + 1);
    let again = Message::parse(edited.to_bytes()).expect("an edited message re-parses");
    assert_eq!(Shape::of(&again), edited_shape);
    let top = again.top_via().expect("the prepended Via is the top one");
    assert_eq!(top.branch(), Some("z9hG4bKfuzz"));
});
