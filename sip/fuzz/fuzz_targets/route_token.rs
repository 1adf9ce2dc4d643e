//! Route tokens of carillon-proxy-core (RFC 5626 §5.2 flow tokens in the user part of the proxy's Record-Route
//! URIs), which come back from the network in the Route of in-dialog requests. The choice octet's low two bits:
//!
//! - 0: the rest as token text. `RouteToken::decode` refuses it unless this proxy wrote it, and a token it accepts
//!   is written back to the same text.
//! - 1: the rest as a token's body, sealed here with the right MAC (so that the parsing behind the MAC check is
//!   reached): decoding must not panic, and a body it accepts is exactly what encoding writes (one spelling per
//!   token).
//! - 2 and 3: the rest as the user part of the proxy's URI in the Route of an in-dialog BYE handed to a proxy
//!   core: it must not panic, and the BYE goes over a flow only when the user part is a token sealed with the
//!   proxy's key, and then over the token's flow (the seeds hold such tokens; the fuzzer cannot make new ones).

#![no_main]

use carillon_proxy_core::{Flow, Handled, Listener, ListenerId, Proxy, ProxyConfig, RouteToken};
use carillon_sip::Message;
use carillon_sip::target::Transport;
use hmac::{Hmac, KeyInit, Mac};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;

const KEY: &[u8] = b"fuzz key";
/// The label `token.rs` puts before a token's body in its MAC (see the format in its module documentation).
const LABEL: &[u8] = b"carillon route token v1";

/// The token text of `body` with its MAC, as `RouteToken::encode` would write it.
fn seal(body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(KEY).expect("any key length");
    mac.update(&(LABEL.len() as u64).to_be_bytes());
    mac.update(LABEL);
    mac.update(body);
    let mut bytes = body.to_vec();
    bytes.extend_from_slice(&mac.finalize().into_bytes()[..10]);
    base64url(&bytes)
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 0x3f) as usize]));
        }
    }
    out
}

fn proxy() -> Proxy {
    let listeners =
        vec![Listener::new(Transport::Udp, "192.0.2.10", 5060), Listener::new(Transport::Tcp, "192.0.2.10", 5060)];
    Proxy::new(ProxyConfig::new(listeners, KEY)).expect("a valid configuration")
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else { return };
    match choice & 3 {
        0 => {
            let Ok(text) = std::str::from_utf8(rest) else { return };
            if let Some(token) = RouteToken::decode(KEY, text) {
                assert_eq!(token.encode(KEY).expect("a decoded token encodes"), text, "another spelling accepted");
            }
        }
        1 => {
            // The harness's MAC must be the proxy's, or nothing past the MAC check would ever be reached.
            assert!(RouteToken::decode(KEY, &seal(&[1, 8, 1, b'a'])).is_some(), "the harness seals differently");
            let sealed = seal(rest);
            if let Some(token) = RouteToken::decode(KEY, &sealed) {
                assert_eq!(token.encode(KEY).expect("a decoded token encodes"), sealed, "another encoding accepted");
            }
        }
        _ => {
            let Ok(user) = std::str::from_utf8(rest) else { return };
            let text = format!(
                "BYE sip:alice@10.0.0.5:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bKfuzz\r\n\
                 Max-Forwards: 70\r\nRoute: <sip:{user}@192.0.2.10:5060;transport=udp;lr>\r\n\
                 From: <sip:bob@campus.example>;tag=b\r\nTo: <sip:alice@campus.example>;tag=a\r\n\
                 Call-ID: fuzz\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
            );
            let Ok(bye) = Message::parse(bytes::Bytes::from(text)) else { return };
            let genuine = RouteToken::decode(KEY, user).and_then(|token| token.flow).map(|(_, flow)| flow);
            let mut proxy = proxy();
            let source = Flow {
                listener: ListenerId(0),
                remote: "192.0.2.20:5060".parse().expect("an address"),
                connection: None,
            };
            if let Handled::Context(_) = proxy.handle_request(std::time::Instant::now(), bye, source, 7) {
                while let Some((_, action)) = proxy.poll_action() {
                    if let carillon_proxy_core::Action::Forward { target, .. } = action {
                        if target.flow.is_some() {
                            assert_eq!(target.flow, genuine, "the BYE went over a flow no genuine token names");
                        }
                    }
                }
            }
        }
    }
});
