//! Helpers shared by the transport tests: messages, layers on 127.0.0.1, bounded waits and reads, temporary
//! directories.
#![allow(dead_code)] // Each test crate uses its own subset.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use carillon_sip::{HeaderName, Message};
use carillon_sip_transport::{Incoming, TransportConfig, TransportEvent, TransportLayer};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::UdpSocket;
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

/// Reads from `stream` until `needle` has arrived (or the stream ends), within [`WAIT`].
pub(crate) async fn read_until<S: AsyncRead + Unpin>(stream: &mut S, needle: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    let reading = async {
        let mut buf = [0u8; 4096];
        while !contains(&got, needle) {
            let n = stream.read(&mut buf).await.expect("read");
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(WAIT, reading).await.expect("data in time");
    got
}

/// Whether the peer closes `stream` within [`WAIT`] (reading and discarding anything before the close).
pub(crate) async fn closed_by_peer<S: AsyncRead + Unpin>(stream: &mut S) -> bool {
    let closing = async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(WAIT, closing).await.unwrap_or(false)
}

/// The next datagram on `socket`, which must come within [`WAIT`].
pub(crate) async fn recv_datagram(socket: &UdpSocket) -> Vec<u8> {
    let mut buf = vec![0u8; 65_535];
    let (len, _) =
        tokio::time::timeout(WAIT, socket.recv_from(&mut buf)).await.expect("a datagram in time").expect("recv");
    buf.truncate(len);
    buf
}

/// Asserts that no datagram comes to `socket` within [`QUIET`].
pub(crate) async fn assert_no_datagram(socket: &UdpSocket) {
    let mut buf = vec![0u8; 65_535];
    if let Ok(Ok((len, from))) = tokio::time::timeout(QUIET, socket.recv_from(&mut buf)).await {
        panic!("expected silence, got {len} octets from {from}: {:?}", String::from_utf8_lossy(&buf[..len]));
    }
}

/// A fresh directory under the system's temporary directory, removed (with its contents) when dropped.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    /// A new empty directory whose name starts with `prefix` and is unique to this process and call.
    pub(crate) fn new(prefix: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!("{prefix}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).expect("temporary directory");
        TempDir(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
