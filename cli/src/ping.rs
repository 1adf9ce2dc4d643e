//! `carillon ping`: is a SIP server up? One OPTIONS request over UDP (RFC 3261 §11), retransmitted on the
//! non-INVITE schedule (§17.1.2.2: T1 doubling up to T2) until an answer or the deadline.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use bytes::Bytes;
use carillon_sip::uri::{Host, SipScheme, SipUri};
use carillon_sip::{Message, Method};
use rand::RngExt;
use serde_json::json;

use crate::failure::Failure;
use crate::output::Output;

const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);
const LONGEST_WAIT: f64 = 3600.0;

/// Sends OPTIONS to `uri` and waits up to `timeout_seconds` for a final answer. A 2xx answer is the command's
/// output; any other answer, silence or a refused port is a failure naming it.
pub(crate) fn ping(uri: &str, timeout_seconds: f64) -> Result<Output, Failure> {
    if !(timeout_seconds > 0.0 && timeout_seconds <= LONGEST_WAIT) {
        return Err(Failure::new(format!("--timeout must be more than 0 and at most {LONGEST_WAIT} seconds")));
    }
    let timeout = Duration::from_secs_f64(timeout_seconds);
    let target = resolve(uri)?;
    let unspecified =
        if target.is_ipv4() { IpAddr::V4(Ipv4Addr::UNSPECIFIED) } else { IpAddr::V6(Ipv6Addr::UNSPECIFIED) };
    let socket =
        UdpSocket::bind((unspecified, 0)).map_err(|e| Failure::new(format!("cannot open a UDP socket: {e}")))?;
    // Connecting picks the source address the Via must name, and makes the kernel report an unreachable port.
    socket.connect(target).map_err(|e| Failure::new(format!("cannot send to {target}: {e}")))?;
    let local = socket.local_addr().map_err(|e| Failure::new(format!("cannot open a UDP socket: {e}")))?;

    let mut rng = rand::rng();
    let branch = format!("z9hG4bK{}", token(&mut rng));
    let call_id = format!("{}@carillon-ping", token(&mut rng));
    let request = options_request(uri, local, &branch, &call_id, &token(&mut rng))?;

    let started = Instant::now();
    let deadline = started + timeout;
    let mut interval = T1;
    let mut buffer = vec![0u8; 65535];
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(Failure::new(format!("no answer from {target} within {timeout_seconds} s")));
        }
        match socket.send(&request) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => return Err(refused(target)),
            Err(e) => return Err(Failure::new(format!("cannot send to {target}: {e}"))),
        }
        let next_send = (now + interval).min(deadline);
        interval = (interval * 2).min(T2);
        while let Some(wait) = next_send.checked_duration_since(Instant::now()).filter(|w| !w.is_zero()) {
            socket.set_read_timeout(Some(wait)).map_err(|e| Failure::new(format!("UDP socket: {e}")))?;
            let received = match socket.recv(&mut buffer) {
                Ok(n) => &buffer[..n],
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => return Err(refused(target)),
                Err(e) => return Err(Failure::new(format!("cannot receive from {target}: {e}"))),
            };
            let Ok(response) = Message::parse(Bytes::copy_from_slice(received)) else { continue };
            if !answers(&response, &branch, &call_id) {
                continue;
            }
            let Some(status) = response.status() else { continue };
            if status.as_u16() < 200 {
                continue;
            }
            return answered(&response, target, started.elapsed());
        }
    }
}

fn refused(target: SocketAddr) -> Failure {
    Failure::new(format!("nothing listens on UDP {target} (port unreachable)"))
}

/// The socket address `uri` names: its host (an address, or a name looked up by the system resolver) and port
/// (5060 when absent). Only `sip:` over UDP: a `sips:` URI needs TLS.
fn resolve(uri: &str) -> Result<SocketAddr, Failure> {
    let sip = SipUri::parse(uri).map_err(|e| Failure::new(format!("{uri:?} is not a SIP URI: {e}")))?;
    if sip.scheme == SipScheme::Sips {
        return Err(Failure::new(format!("{uri} needs TLS; ping sends UDP: use a sip: URI")));
    }
    if sip.transport().is_some_and(|t| !t.eq_ignore_ascii_case("udp")) {
        return Err(Failure::new(format!("{uri} asks for another transport; ping sends UDP")));
    }
    let port = sip.port.unwrap_or(5060);
    match sip.host {
        Host::V4(ip) => Ok(SocketAddr::new(IpAddr::V4(ip), port)),
        Host::V6(ip) => Ok(SocketAddr::new(IpAddr::V6(ip), port)),
        Host::Domain(name) => (name, port)
            .to_socket_addrs()
            .map_err(|e| Failure::new(format!("cannot resolve {name}: {e}")))?
            .next()
            .ok_or_else(|| Failure::new(format!("{name} has no address"))),
    }
}

fn options_request(uri: &str, local: SocketAddr, branch: &str, call_id: &str, tag: &str) -> Result<Vec<u8>, Failure> {
    let message = Message::request(&Method::Options, uri)
        .header("Via", format!("SIP/2.0/UDP {local};branch={branch};rport"))
        .header("Max-Forwards", "70")
        .header("From", format!("<sip:ping@{}>;tag={tag}", host_text(local.ip())))
        .header("To", format!("<{uri}>"))
        .header("Call-ID", call_id)
        .header("CSeq", "1 OPTIONS")
        .header("Accept", "application/sdp")
        .header("User-Agent", concat!("carillon/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Failure::new(format!("cannot build OPTIONS for {uri}: {e}")))?;
    Ok(message.to_bytes().to_vec())
}

fn host_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    }
}

/// Whether `response` answers our request: same top Via branch and Call-ID (RFC 3261 §17.1.3).
fn answers(response: &Message, branch: &str, call_id: &str) -> bool {
    let same_branch = response.top_via().is_ok_and(|via| via.branch() == Some(branch));
    same_branch && response.call_id().is_ok_and(|id| id == call_id)
}

fn answered(response: &Message, target: SocketAddr, elapsed: Duration) -> Result<Output, Failure> {
    let status = response.status().map_or(0, |s| s.as_u16());
    let reason = response.reason().unwrap_or_default().to_owned();
    let server = response.header_named("Server").or_else(|| response.header_named("User-Agent")).map(str::to_owned);
    let millis = elapsed.as_millis();
    if !(200..300).contains(&status) {
        return Err(Failure::new(format!("{target} answered {status} {reason}")));
    }
    let by = server.as_deref().map(|s| format!(" ({s})")).unwrap_or_default();
    Ok(Output::new(
        format!("{status} {reason} from {target}{by} in {millis} ms"),
        json!({ "status": status, "reason": reason, "from": target.to_string(), "server": server, "elapsed_ms": millis }),
    ))
}

fn token(rng: &mut impl RngExt) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..16).map(|_| char::from(DIGITS[rng.random_range(0..DIGITS.len())])).collect()
}
