//! Helpers shared by the transport tests: messages, layers on 127.0.0.1, bounded waits.
#![allow(dead_code)] // Each test crate uses its own subset.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use carillon_sip::{HeaderName, Message};
use carillon_sip_transport::{Incoming, TransportConfig, TransportEvent, TransportLayer};
use tokio::sync::mpsc;

/// How long a test waits for something that should happen.
pub(crate) const WAIT: Duration = Duration::from_secs(3);
/// How long a test waits to be confident something does not happen.
pub(crate) const QUIET: Duration = Duration::from_millis(300);

pub(crate) fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().expect("loopback address")
}

/// An OPTIONS request with this Via and body.
pub(crate) fn options(via: &str, call_id: &str, body: &str) -> String {
    format!(
        "OPTIONS sip:pbx@127.0.0.1 SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\nFrom: <sip:alice@campus.test>;tag=a1\r\n\
         To: <sip:pbx@campus.test>\r\nCall-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

pub(crate) fn parse(text: &str) -> Message {
    Message::parse(Bytes::from(text.to_owned())).expect("test message is valid")
}

/// A 200 OK for `request`, with its Via lines (as stamped on receipt), From, To (tagged), Call-ID and CSeq.
pub(crate) fn ok_for(request: &Message) -> Message {
    let mut text = String::from("SIP/2.0 200 OK\r\n");
    for via in request.header_lines(HeaderName::Via) {
        text.push_str(&format!("Via: {via}\r\n"));
    }
    let header = |name| request.header(name).expect("request has the header");
    text.push_str(&format!("From: {}\r\n", header(HeaderName::From)));
    text.push_str(&format!("To: {};tag=pbx1\r\n", header(HeaderName::To)));
    text.push_str(&format!("Call-ID: {}\r\n", header(HeaderName::CallId)));
    text.push_str(&format!("CSeq: {}\r\nContent-Length: 0\r\n\r\n", header(HeaderName::CSeq)));
    parse(&text)
}

pub(crate) async fn bind(config: TransportConfig) -> (TransportLayer, mpsc::Receiver<TransportEvent>) {
    TransportLayer::bind(config).await.expect("binds on 127.0.0.1")
}

/// The next event, which must come within [`WAIT`].
pub(crate) async fn next_event(events: &mut mpsc::Receiver<TransportEvent>) -> TransportEvent {
    tokio::time::timeout(WAIT, events.recv()).await.expect("an event in time").expect("event channel open")
}

/// The next received message, which must come within [`WAIT`].
pub(crate) async fn next_incoming(events: &mut mpsc::Receiver<TransportEvent>) -> Incoming {
    match next_event(events).await {
        TransportEvent::Incoming(incoming) => incoming,
        other => panic!("expected a message, got {other:?}"),
    }
}

/// Asserts that no event comes within [`QUIET`].
pub(crate) async fn assert_no_event(events: &mut mpsc::Receiver<TransportEvent>) {
    if let Ok(Some(event)) = tokio::time::timeout(QUIET, events.recv()).await {
        panic!("expected no event, got {event:?}");
    }
}

pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
