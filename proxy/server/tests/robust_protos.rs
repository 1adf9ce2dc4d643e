//! PROTOS c07-sip (University of Oulu): the 4527 INVITEs sent to the running service in batches. After each batch
//! the service still answers OPTIONS with 200; at the end the valid case 0 gets the answer it got first (the
//! suite's `-validcase` mode) and the service shuts down cleanly. What came back is tallied and printed with the
//! time taken.
//!
//! Each case goes over UDP from a socket of its own, the port of its Via (`127.0.0.1:5099` as rendered; some
//! cases mutate the host) rewritten to name that socket, so that answers come back to it (cases that mutate the
//! port itself are answered elsewhere on loopback and count as unanswered here); the cases larger than a UDP datagram can carry go over a TCP
//! connection of their own instead. Cases run a few at a time; each waits for a final response for at most
//! [`CASE_WAIT`] (many malformed cases are dropped unanswered by design), and non-2xx final responses are
//! acknowledged so that the service stops retransmitting them.
//!
//! The suite is GPL-2 test data and is not part of this repository: it is read from `../shared/corpus/protos`
//! beside the project root, or from the folder named by `CARILLON_PROTOS_DIR`. When neither exists the test says
//! so loudly and, under CI (`CI` set), fails.

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use carillon_sip::framing::Limits;
use carillon_sip::target::Transport;
use carillon_sip::{HeaderName, Message, StatusCode};
use common::{Campus, DOMAIN, Running, Ua, config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Cases sent before the service is asked whether it is still there.
const BATCH: usize = 500;
/// Cases in flight at once.
const IN_FLIGHT: usize = 32;
/// Octets in flight at once, in KiB: the service's UDP socket has the default receive buffer (about 208 KiB of
/// kernel memory, roughly half of it payload), and datagrams beyond it would be dropped by the kernel, which
/// tests nothing but makes the tallies vary.
const IN_FLIGHT_KIB: u32 = 64;
/// The bound on the whole run (about 20 s in a debug build on two loaded cores).
const SUITE_LIMIT: Duration = Duration::from_secs(240);
/// How long one case waits for a final response.
const CASE_WAIT: Duration = Duration::from_secs(2);
/// The largest UDP payload over IPv4.
const MAX_DATAGRAM: usize = 65_507;
/// The port the rendered cases name in their Via (`127.0.0.1:5099`, or a mutated host with that port).
const RENDERED_PORT: &[u8] = b":5099";

fn protos_dir() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("CARILLON_PROTOS_DIR").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/protos/invite")),
    ];
    candidates.into_iter().flatten().find(|p| p.join("0000000.sip").is_file())
}

/// What one case got back.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// A final response with this status.
    Answered(u16),
    /// A final response with this status that does not parse: a stateless answer copies the request's Via, From,
    /// To, Call-ID and CSeq lines (RFC 3261 §8.2.6.2) with whatever the case put there (lines over the limits,
    /// octets that are not UTF-8, a stray CR before a header name).
    Unparsable(u16, String),
    /// No final response within [`CASE_WAIT`].
    Unanswered,
}

/// `data` with every `from` replaced by `to`.
fn replace_all(data: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 16);
    let mut rest = data;
    while let Some(at) = rest.windows(from.len()).position(|w| w == from) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(to);
        rest = &rest[at + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// An ACK for a non-2xx final `response` to an INVITE, made from the response alone (RFC 3261 §17.1.1.3: the
/// INVITE's top Via, which the response echoes, From, Call-ID and CSeq number, and the response's To). The
/// INVITE itself may not parse, which is the point of the suite. `None` when the response lacks what is needed.
fn ack_from_response(response: &Message) -> Option<Bytes> {
    let status = response.status()?;
    if status.as_u16() < 300 || response.cseq().ok()?.method_text != "INVITE" {
        return None;
    }
    let via = response.header(HeaderName::Via)?.split(',').next()?;
    let from = response.header(HeaderName::From)?;
    let to = response.header(HeaderName::To)?;
    let call_id = response.header(HeaderName::CallId)?;
    let number = response.cseq().ok()?.seq;
    let text = format!(
        "ACK sip:service@127.0.0.1 SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\n\
         Call-ID: {call_id}\r\nCSeq: {number} ACK\r\nContent-Length: 0\r\n\r\n"
    );
    Some(Bytes::from(text))
}

fn final_status(message: &Message) -> Option<u16> {
    message.status().map(|s| s.as_u16()).filter(|s| *s >= 200)
}

/// The verdict on an answer that does not parse, read from its status line (`SIP/2.0 NNN ...`); `None` for a
/// provisional one.
fn unparsable(data: &[u8], error: &carillon_sip::Error) -> Option<Verdict> {
    let code = data.strip_prefix(b"SIP/2.0 ").and_then(|rest| rest.get(..3)).expect("a status line");
    let status: u16 = std::str::from_utf8(code).ok().and_then(|c| c.parse().ok()).expect("a status code");
    (status >= 200).then(|| Verdict::Unparsable(status, format!("{error:?}")))
}

/// The service's listeners.
#[derive(Debug, Clone, Copy)]
struct Listeners {
    udp: SocketAddr,
    tcp: SocketAddr,
}

/// Sends one case over UDP from a socket of its own, named in its Via, or over TCP when it does not fit in a
/// datagram; the verdict and the transport used.
async fn send_case(service: Listeners, case: &[u8]) -> (Verdict, Transport) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind a UDP socket");
    let port = socket.local_addr().expect("local address").port();
    let data = replace_all(case, RENDERED_PORT, format!(":{port}").as_bytes());
    if data.len() > MAX_DATAGRAM {
        return (over_tcp(service.tcp, case).await, Transport::Tcp);
    }
    (over_udp(socket, service.udp, &data).await, Transport::Udp)
}

/// Sends `data` from `socket` and waits for its final response.
async fn over_udp(socket: UdpSocket, service: SocketAddr, data: &[u8]) -> Verdict {
    socket.send_to(data, service).await.expect("send the case");
    let mut buf = vec![0u8; 65_535];
    let until = tokio::time::Instant::now() + CASE_WAIT;
    while let Ok(received) = tokio::time::timeout_at(until, socket.recv_from(&mut buf)).await {
        let (n, _) = received.expect("receive");
        let message = match Message::parse(Bytes::copy_from_slice(&buf[..n])) {
            Ok(message) => message,
            Err(error) => match unparsable(&buf[..n], &error) {
                Some(verdict) => return verdict,
                None => continue,
            },
        };
        if let Some(status) = final_status(&message) {
            if let Some(ack) = ack_from_response(&message) {
                socket.send_to(&ack, service).await.expect("send the ACK");
            }
            return Verdict::Answered(status);
        }
    }
    Verdict::Unanswered
}

/// Sends one case over a TCP connection of its own (the answer comes back on it).
async fn over_tcp(service: SocketAddr, case: &[u8]) -> Verdict {
    let mut stream = TcpStream::connect(service).await.expect("connect over TCP");
    if stream.write_all(case).await.is_err() {
        // The service may close a connection whose stream it cannot frame before the whole case is written.
        return Verdict::Unanswered;
    }
    let mut buf = BytesMut::new();
    let until = tokio::time::Instant::now() + CASE_WAIT;
    loop {
        loop {
            let message = match Message::parse_stream(&mut buf, &Limits::default()) {
                Ok(Some(message)) => message,
                Ok(None) => break,
                // Nothing after the answer can be framed; the connection is of no further use.
                Err(error) => return unparsable(&buf, &error).unwrap_or(Verdict::Unanswered),
            };
            if let Some(status) = final_status(&message) {
                if let Some(ack) = ack_from_response(&message) {
                    let _ = stream.write_all(&ack).await;
                }
                return Verdict::Answered(status);
            }
        }
        match tokio::time::timeout_at(until, stream.read_buf(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return Verdict::Unanswered,
        }
    }
}

fn read_case(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// OPTIONS to the service itself: 200 (RFC 3261 §11), the health check.
async fn assert_alive(service: &Running, after: &str) {
    let mut probe = Ua::new(service.udp, "monitor", "").await;
    let uri = format!("sip:{DOMAIN}");
    let call_id = format!("protos-alive-{}", probe.unique());
    let options = probe.request("OPTIONS", &uri, &format!("<{uri}>"), &call_id, 1, &[]);
    let answer = probe.transact(&options).await;
    assert_eq!(answer.status(), Some(StatusCode::OK), "OPTIONS after {after}: {answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_4527_protos_invites_leave_the_service_answering_options_after_each_batch() {
    let Some(dir) = protos_dir() else {
        let msg = "PROTOS c07-sip corpus NOT FOUND (../shared/corpus/protos/invite or CARILLON_PROTOS_DIR): \
                   4527 robustness cases were NOT sent to the service";
        eprintln!("\n!!!!!!!! {msg} !!!!!!!!\n");
        assert!(std::env::var_os("CI").is_none(), "{msg}");
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("readable corpus folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sip"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 4527, "the suite has 4527 INVITEs");

    let campus = Campus::new().await;
    let service = Running::start(config(&campus)).await;
    let listeners = Listeners { udp: service.udp, tcp: service.tcp };
    let valid = read_case(&files[0]);
    let (first, _) = send_case(listeners, &valid).await;
    assert!(matches!(first, Verdict::Answered(_)), "the valid case 0 is answered: {first:?}");

    let started = Instant::now();
    let limit = Arc::new(Semaphore::new(IN_FLIGHT));
    let octets = Arc::new(Semaphore::new(IN_FLIGHT_KIB as usize));
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    let mut over_tcp_count = 0;
    for (number, batch) in files.chunks(BATCH).enumerate() {
        let batch_started = Instant::now();
        let mut cases = JoinSet::new();
        for path in batch {
            let case = read_case(path);
            let permit = limit.clone().acquire_owned().await.expect("the semaphore is never closed");
            let kib = u32::try_from(case.len().div_ceil(1024)).unwrap_or(u32::MAX).clamp(1, IN_FLIGHT_KIB);
            let octets_permit = octets.clone().acquire_many_owned(kib).await.expect("the semaphore is never closed");
            cases.spawn(async move {
                let sent = send_case(listeners, &case).await;
                drop((permit, octets_permit));
                sent
            });
        }
        while let Some(sent) = cases.join_next().await {
            let (verdict, transport) = sent.expect("a case task");
            over_tcp_count += usize::from(transport == Transport::Tcp);
            let key = match verdict {
                Verdict::Answered(status) => status.to_string(),
                Verdict::Unparsable(status, why) => format!("{status} unparsable: {why}"),
                Verdict::Unanswered => "unanswered".to_owned(),
            };
            *tally.entry(key).or_default() += 1;
        }
        let after = format!("batch {} ({} cases, {:?})", number + 1, batch.len(), batch_started.elapsed());
        assert_alive(&service, &after).await;
        eprintln!("PROTOS {after}: OPTIONS answered 200");
    }
    let elapsed = started.elapsed();

    let (again, _) = send_case(listeners, &valid).await;
    assert_eq!(again, first, "the valid case 0 is answered as before the suite");
    assert!(elapsed < SUITE_LIMIT, "the suite took {elapsed:?}");
    service.stop().await;
    eprintln!(
        "PROTOS c07-sip: {} INVITEs ({over_tcp_count} too large for UDP, over TCP) in {elapsed:?}; final answers \
         by status: {tally:?}; valid case 0: {first:?} before and after",
        files.len()
    );
}
