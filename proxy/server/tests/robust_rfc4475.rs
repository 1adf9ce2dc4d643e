//! The RFC 4475 torture messages (RFC 4475 §3) sent to the running service, one connection per message over TCP
//! and one datagram per message over UDP: each gets the answer the corpus manifest
//! (`sip/core/tests/corpus/rfc4475/manifest.tsv`) lists for a proxy, or for a registrar where it is a REGISTER for
//! the served domain, or nothing where it says drop; nothing the service sends leaves 127.0.0.0/8; and the
//! service answers OPTIONS afterwards.
//!
//! The service serves `example.com`, the domain most of the corpus is addressed to, so the messages reach every
//! part of it: the transport's stateless rejections, the proxy core's §16.3 checks, the registrar, digest
//! challenges, the dial plan (the corpus's users are unknown: 404), the relay refusal (neither from nor to the
//! domain: 403) and forwarding to other domains. Its name server is a stub on loopback that refuses every query,
//! so a request for `registrar.example.com` is forwarded nowhere and answered 500 (RFC 3261 §16.7 step 6: the
//! only "response" was the 503 a transport error stands for).
//!
//! Over UDP a request gains one leading `Via: SIP/2.0/UDP 127.0.0.1:<port>;rport;branch=…` line naming the test's
//! socket (every original octet kept), since the corpus's own Via values name example.com hosts; over TCP the
//! messages go unchanged and the answer comes back on the connection. Responses in the corpus go unchanged.
//!
//! The registrar is an authenticating one, so a REGISTER the manifest answers 200 is answered 401 first; the
//! second test sends the corpus REGISTERs again with credentials of provisioned lines and checks the 200 and the
//! bindings the manifest describes.

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use carillon_proxy::Config;
use carillon_sip::auth::{Account, Algorithm, Challenge, Secret, answer};
use carillon_sip::framing::Limits;
use carillon_sip::headers::Contact;
use carillon_sip::{HeaderName, Message, Method};
use common::{Campus, Running, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// The domain served: the corpus's.
const DOMAIN: &str = "example.com";
/// How long "no answer" is waited for.
const QUIET: Duration = Duration::from_secs(1);
/// How long the close of an unframeable stream is waited for after its answer: the transport keeps such a stream
/// open for 2 s, for the answers to requests framed on it before the fault.
const CLOSE_WAIT: Duration = Duration::from_secs(4);
/// Lines provisioned in the served domain for the corpus REGISTERs (To user = digest username).
const LINES: [(&str, &str); 3] = [("watson", "watson-secret"), ("j.user", "j-user-secret"), ("user", "user-secret")];

// ----- the corpus and what each message gets -----

/// What the service answers to one message over one transport.
#[derive(Debug, Clone, Copy)]
enum Answer {
    /// A final response with one of these status codes (provisional ones may come first).
    Final(&'static [u16]),
    /// Over TCP: a final response as for [`Answer::Final`], then the service closes the connection (the stream
    /// cannot be framed any further).
    FinalThenClose(&'static [u16]),
    /// Nothing within [`QUIET`] (over TCP the service may close the connection).
    Nothing,
    /// The message is not sent over this transport, for the reason given.
    NotSent(&'static str),
}

use Answer::{Final, FinalThenClose, NotSent, Nothing};

/// One corpus message: its file, the manifest row it stands for and that row's `expected` column verbatim (so that
/// a change of the manifest fails here until the expectation is looked at again), and its answers.
struct Case {
    file: &'static str,
    row: &'static str,
    manifest: &'static str,
    udp: Answer,
    tcp: Answer,
}

const fn case(file: &'static str, manifest: &'static str, udp: Answer, tcp: Answer) -> Case {
    Case { file, row: file, manifest, udp, tcp }
}

/// The whole corpus. Where the manifest names a role, the proxy's (or the registrar's for REGISTER to
/// example.com) applies; a "-" (well-formed, process normally) is what this service does with such a request:
/// 404 for an unknown user of example.com, 403 for a request neither from nor to it, 407 for a dialog-starting
/// request from it, 500 for one forwarded to a name that does not resolve.
const CASES: &[Case] = &[
    // §3.1.1.1: an in-dialog INVITE (To tag) whose Route names services.example.com: forwarded there, which does
    // not resolve.
    case("wsinv.dat", "-", Final(&[500]), Final(&[500])),
    // §3.1.1.2: the Request-URI's user is not in the dial plan.
    case("intmeth.dat", "UAS:501+Allow; proxy:forward (or 404 if URI unknown)", Final(&[404]), Final(&[404])),
    // §3.1.1.3: from and to example.net: not relayed.
    case("esc01.dat", "-", Final(&[403]), Final(&[403])),
    // §3.1.1.4: the AOR `null-%00-null` has no line (a line username cannot hold NUL), so no credentials can
    // answer the challenge; the parser accepted it and the registrar challenged.
    case("escnull.dat", "registrar:200 (two distinct contacts)", Final(&[401]), Final(&[401])),
    // §3.1.1.5: not REGISTER; from example.com to registrar.example.com: forwarded, which does not resolve.
    case("esc02.dat", "UAS:501; proxy:forward/reject per R-URI", Final(&[500]), Final(&[500])),
    case("lwsdisp.dat", "-", Final(&[404]), Final(&[404])),
    case("longreq.dat", "-", Final(&[404]), Final(&[404])),
    // §3.1.1.8: the REGISTER is challenged and the trailing INVITE octets are ignored. Over TCP the octets after
    // the REGISTER are a second request followed by unframeable bytes, which is another test.
    case(
        "dblreq.dat",
        "registrar:200 for the REGISTER; ignore trailing INVITE octets",
        Final(&[401]),
        NotSent("a datagram case: on a stream the trailing octets are a request and unframeable bytes"),
    ),
    case("semiuri.dat", "-", Final(&[404]), Final(&[404])),
    case("transports.dat", "-", Final(&[404]), Final(&[404])),
    // §3.1.1.11: a MESSAGE from example.com outside a dialog: challenged like any dialog-starting request.
    case("mpart01.dat", "-", Final(&[407]), Final(&[407])),
    case("unreason.dat", "-", Nothing, Nothing),
    case("noreason.dat", "-", Nothing, Nothing),
    case("badinv01.dat", "400", Final(&[400]), Final(&[400])),
    // §3.1.2.2: over TCP the service waits for the rest of the body.
    case("clerr.dat", "400 over UDP", Final(&[400]), Nothing),
    // §3.1.2.3, §3.3.9: the stream cannot be framed past a broken Content-Length: answered, then closed.
    case("ncl.dat", "error response (e.g. 400)", Final(&[400]), FinalThenClose(&[400])),
    case("scalar02.dat", "400 (CSeq > 2**32-1)", Final(&[400]), Final(&[400])),
    case("scalarlg.dat", "drop silently", Nothing, Nothing),
    case("quotbal.dat", "400", Final(&[400]), Final(&[400])),
    case("ltgtruri.dat", "400", Final(&[400]), Final(&[400])),
    case("lwsruri.dat", "400", Final(&[400]), Final(&[400])),
    case("lwsstart.dat", "400 (or tolerate)", Final(&[400]), Final(&[400])),
    case("trws.dat", "400 (or tolerate)", Final(&[400]), Final(&[400])),
    case("escruri.dat", "400 (or ignore escaped headers)", Final(&[400]), Final(&[400])),
    // §3.1.2.12: the Date does not matter to a proxy: ignored, and the unknown user gets 404.
    case("baddate.dat", "400 only if Date matters; else ignore Date", Final(&[404]), Final(&[404])),
    case("regbadct.dat", "400", Final(&[400]), Final(&[400])),
    case("badaspec.dat", "400", Final(&[400]), Final(&[400])),
    // §3.1.2.15: the archive's file never ends its header section: over TCP the service waits for the rest;
    // `derived/baddn_terminated.dat` below ends it.
    case("baddn.dat", "400", Final(&[400]), Nothing),
    Case {
        file: "derived/baddn_terminated.dat",
        row: "baddn.dat",
        manifest: "400",
        udp: Final(&[400]),
        tcp: Final(&[400]),
    },
    case("badvers.dat", "505", Final(&[505]), Final(&[505])),
    case("mismatch01.dat", "400", Final(&[400]), Final(&[400])),
    case("mismatch02.dat", "501 (400 acceptable)", Final(&[501]), Final(&[501])),
    case("bigcode.dat", "drop silently", Nothing, Nothing),
    // §3.2.1: over UDP the test's Via comes first, so only TCP shows the RFC 2543 fallback: processed (404).
    case(
        "badbranch.dat",
        "400 (preferably stateless) OR fall back to RFC 2543 transaction matching and process",
        Final(&[404]),
        Final(&[404]),
    ),
    case("insuf.dat", "400", Final(&[400]), Final(&[400])),
    case("unkscm.dat", "416", Final(&[416]), Final(&[416])),
    case("novelsc.dat", "416 (or 404 if the element accepts some soap.beep URIs)", Final(&[416]), Final(&[416])),
    case("unksm2.dat", "registrar:400; proxy:forward normally", Final(&[400]), Final(&[400])),
    // §3.3.5: the proxy lists the Proxy-Require tags (checked below).
    case(
        "bext01.dat",
        "420 + Unsupported (UAS lists Require tags; proxy lists Proxy-Require tags)",
        Final(&[420]),
        Final(&[420]),
    ),
    // §3.3.6: the body type is the endpoint's business; the proxy routes, and the user is unknown.
    case("invut.dat", "UAS:415 (+Accept); proxy:forward normally", Final(&[404]), Final(&[404])),
    // §3.3.7: an authenticating registrar challenges anew.
    case(
        "regaut01.dat",
        "registrar w/ auth:401 + new challenge; registrar w/o auth:200 ignoring header; non-registrar UAS:405; proxy:forward unmodified",
        Final(&[401]),
        Final(&[401]),
    ),
    case("multi01.dat", "400", Final(&[400]), Final(&[400])),
    case("mcl01.dat", "error response (e.g. 400)", Final(&[400]), FinalThenClose(&[400])),
    // §3.3.10: dropped, and above all not sent to 255.255.255.255 (the destination check below).
    case("bcast.dat", "drop (endpoint and proxy; proxy must not forward to 255.255.255.255)", Nothing, Nothing),
    // §3.3.11: not forwarded. RFC 3261 §16.3 step 3 lets a proxy answer an OPTIONS with Max-Forwards 0 itself,
    // which this one does (200); 483 is the manifest's proxy answer.
    case(
        "zeromf.dat",
        "proxy:483 and do not forward; UAS:process normally (OPTIONS -> 200)",
        Final(&[483, 200]),
        Final(&[483, 200]),
    ),
    case(
        "cparam01.dat",
        "registrar:200; 'unknownparam' is a contact-param, never a url-param in bindings",
        Final(&[401]),
        Final(&[401]),
    ),
    case(
        "cparam02.dat",
        "registrar:200; 'unknownparam' kept as url-param in the binding",
        Final(&[401]),
        Final(&[401]),
    ),
    case(
        "regescrt.dat",
        "registrar:200; binding keeps the escaped Route header in the contact URI",
        Final(&[401]),
        Final(&[401]),
    ),
    // §3.3.15: Accept is the endpoint's business (406); the proxy routes, and the user is unknown.
    case("sdp01.dat", "406 (+Warning 399) or 400", Final(&[404]), Final(&[404])),
    // §3.4.1: accepted (no branch, no Content-Length: the body is the rest of the datagram) and processed. A
    // stream needs Content-Length (RFC 3261 §18.3): rejected and the connection closed.
    case("inv2543.dat", "accept (backwards compatibility)", Final(&[404]), FinalThenClose(&[400])),
    // Not an RFC 4475 case: a request line without SIP version and no Via. Answered over UDP; over TCP there
    // is nowhere to answer (no Via) and the stream cannot be framed: closed.
    case("test.dat", "-", Final(&[400]), Nothing),
];

fn corpus_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../sip/core/tests/corpus/rfc4475").join(file)
}

fn read_corpus(file: &str) -> Vec<u8> {
    std::fs::read(corpus_path(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The manifest's `expected` column by file.
fn manifest_expectations() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(corpus_path("manifest.tsv")).expect("the manifest");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header row").split('\t').collect();
    let file = header.iter().position(|h| *h == "file").expect("a file column");
    let expected = header.iter().position(|h| *h == "expected").expect("an expected column");
    lines
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            (cols[file].to_owned(), cols[expected].to_owned())
        })
        .collect()
}

// ----- what leaves the service -----

/// Every destination the service sent to or connected to, as its tracing events report them: the targets of the
/// requests the engine hands to the transport (`sending` events), and the `remote` of every datagram sent and
/// connection made or accepted by the transport.
#[derive(Clone, Default)]
struct Destinations(Arc<Mutex<Vec<SocketAddr>>>);

impl Destinations {
    fn all(&self) -> Vec<SocketAddr> {
        self.0.lock().unwrap().clone()
    }
}

#[derive(Default)]
struct AddressVisitor(Vec<SocketAddr>);

impl Visit for AddressVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        match field.name() {
            "remote" => self.0.extend(text.parse::<SocketAddr>().ok()),
            // `SendJob::Request { .., target: Target { transport: Udp, addr: 192.0.2.1:5060 }, .. }`
            "job" => self.0.extend(send_targets(&text)),
            _ => {}
        }
    }
}

/// The addresses of the `target: Target { .., addr: .. }` values in the Debug text of a send job.
fn send_targets(job: &str) -> Vec<SocketAddr> {
    job.match_indices("target: Target {")
        .map(|(i, _)| {
            let rest = &job[i..];
            let addr = rest.find("addr: ").map(|a| &rest[a + 6..]).and_then(|a| a.split([' ', ',', '}']).next());
            addr.and_then(|a| a.parse().ok()).unwrap_or_else(|| panic!("a send target without an address: {job}"))
        })
        .collect()
}

#[test]
fn the_destination_capture_reads_the_target_of_a_send_job() {
    use carillon_sip::target::{Target, Transport};
    let target = Target { transport: Transport::Udp, addr: "192.0.2.1:5060".parse().expect("an address") };
    let job = format!("Request {{ message: Message {{ headers: 3 }}, target: {target:?}, server_name: None }}");
    assert_eq!(send_targets(&job), [target.addr]);
    assert!(send_targets("Response { message: Message { headers: 3 }, connection: None }").is_empty());
}

impl<S: tracing::Subscriber> Layer<S> for Destinations {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut visitor = AddressVisitor::default();
        event.record(&mut visitor);
        if !visitor.0.is_empty() {
            self.0.lock().unwrap().extend(visitor.0);
        }
    }
}

/// The process-wide capture of destinations (installed once, before any service starts), with the usual test
/// logs beside it.
fn destinations() -> Destinations {
    static CAPTURE: OnceLock<Destinations> = OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let capture = Destinations::default();
            let targets = tracing_subscriber::filter::Targets::new()
                .with_target("carillon_proxy::engine", LevelFilter::TRACE)
                .with_target("carillon_sip_transport", LevelFilter::TRACE);
            let logs = tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("carillon_proxy=info"));
            tracing_subscriber::registry()
                .with(capture.clone().with_filter(targets))
                .with(tracing_subscriber::fmt::layer().with_test_writer().with_filter(logs))
                .init();
            capture
        })
        .clone()
}

fn assert_nothing_left_loopback(destinations: &Destinations, ours: SocketAddr) {
    let all = destinations.all();
    let outside: BTreeSet<SocketAddr> = all.iter().filter(|a| !a.ip().is_loopback()).copied().collect();
    assert!(outside.is_empty(), "the service sent to addresses outside 127.0.0.0/8: {outside:?}");
    // The capture saw an answer to a test socket, so it is not blind.
    assert!(all.contains(&ours), "the capture never saw {ours}: {all:?}");
}

/// A name server on loopback that answers every query REFUSED (RFC 1035 §4.1.1 RCODE 5) and remembers the names
/// asked.
struct RefusingNameServer {
    addr: SocketAddr,
    asked: Arc<Mutex<Vec<String>>>,
}

impl RefusingNameServer {
    async fn start() -> RefusingNameServer {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind the name server");
        let addr = socket.local_addr().expect("its address");
        let asked = Arc::new(Mutex::new(Vec::new()));
        let names = asked.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                if let Some((name, answer)) = refuse(&buf[..n]) {
                    names.lock().unwrap().push(name);
                    let _ = socket.send_to(&answer, from).await;
                }
            }
        });
        RefusingNameServer { addr, asked }
    }

    fn asked(&self) -> BTreeSet<String> {
        self.asked.lock().unwrap().iter().cloned().collect()
    }
}

/// The queried name and a REFUSED answer to `query`: its header with QR set, RCODE 5 and no records, and its
/// question.
fn refuse(query: &[u8]) -> Option<(String, Vec<u8>)> {
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*query.get(at)?);
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(at + 1..at + 1 + len)?).into_owned());
        at += 1 + len;
    }
    let question_end = at + 5;
    let mut answer = query.get(..question_end)?.to_vec();
    answer[2] = 0x80 | (query[2] & 0x79); // QR, the query's opcode and RD
    answer[3] = 0x05; // REFUSED
    answer[6..12].fill(0); // no answer, authority or additional records
    Some((labels.join(".").to_ascii_lowercase(), answer))
}

// ----- the service and the senders -----

/// The campus plus the served domain example.com with the [`LINES`].
async fn campus_with_example_com() -> Campus {
    let campus = Campus::new().await;
    let pool = &campus.pool;
    let domain = carillon_db::add_domain(pool, DOMAIN, DOMAIN).await.expect("add example.com");
    let all = carillon_db::CallPermissions {
        internal: true,
        campus: true,
        local: true,
        long_distance: true,
        international: true,
    };
    let class = carillon_db::add_user_class(pool, domain, "staff", all).await.expect("a user class");
    for (username, password) in LINES {
        let user = carillon_db::NewUser {
            domain_id: domain,
            name: username,
            display_name: username,
            email: None,
            department: None,
            user_class_id: class,
        };
        let user_id = carillon_db::add_user(pool, &user).await.expect("a user");
        let device_id = carillon_db::add_device(pool, domain, username, None).await.expect("a device");
        let line = carillon_db::NewLine { user_id, device_id, username, password };
        carillon_db::add_line(pool, &line).await.expect("a line");
    }
    campus
}

fn config(campus: &Campus, name_server: SocketAddr) -> Config {
    let mut config = common::config(campus);
    config.sip.domain = DOMAIN.to_owned();
    config.dns.name_server = Some(name_server.to_string());
    config.check().expect("a valid configuration");
    config
}

/// What came back for one message.
#[derive(Debug, Default)]
struct Outcome {
    messages: Vec<Message>,
    /// The service closed the connection (TCP).
    closed: bool,
}

impl Outcome {
    fn final_response(&self) -> Option<&Message> {
        self.messages.iter().find(|m| m.status().is_some_and(|s| s.as_u16() >= 200))
    }

    fn status_lines(&self) -> Vec<String> {
        self.messages.iter().map(|m| m.start_line_text().into_owned()).collect()
    }
}

/// Whether `data` is a request (a response starts with the SIP version).
fn is_request(data: &[u8]) -> bool {
    !data.starts_with(b"SIP/")
}

/// The ACK for a non-2xx final answer to an INVITE as sent, when the INVITE parses (RFC 3261 §17.1.1.3).
fn ack_for(sent: &[u8], response: &Message) -> Option<Message> {
    let invite = Message::parse(Bytes::copy_from_slice(sent)).ok()?;
    let failed = response.status().is_some_and(|s| s.as_u16() >= 300);
    (invite.method() == Some(&Method::Invite) && failed)
        .then(|| carillon_sip::transaction::build_ack(&invite, response).ok())
        .flatten()
}

/// Sends `data` on a new connection and reads what `answer` needs: up to a final response (within [`WAIT`]), and
/// then up to the close for [`Answer::FinalThenClose`]; for [`QUIET`] when no answer is expected. A close ends
/// the reading.
async fn over_tcp(service: SocketAddr, data: &[u8], answer: Answer) -> Outcome {
    let mut stream = TcpStream::connect(service).await.expect("connect over TCP");
    stream.write_all(data).await.expect("write the message");
    let mut outcome = Outcome::default();
    let mut buf = BytesMut::new();
    let mut until = tokio::time::Instant::now() + if matches!(answer, Nothing) { QUIET } else { WAIT };
    let mut answered = false;
    loop {
        while let Some(message) = Message::parse_stream(&mut buf, &Limits::default()).expect("the service frames") {
            outcome.messages.push(message);
        }
        if !answered && outcome.final_response().is_some() {
            answered = true;
            match answer {
                Answer::FinalThenClose(_) => until = tokio::time::Instant::now() + CLOSE_WAIT,
                _ => break,
            }
        }
        match tokio::time::timeout_at(until, stream.read_buf(&mut buf)).await {
            Err(_) => break,
            Ok(Ok(0) | Err(_)) => {
                outcome.closed = true;
                break;
            }
            Ok(Ok(_)) => {}
        }
    }
    if let Some(ack) = outcome.final_response().and_then(|r| ack_for(data, r)) {
        let _ = stream.write_all(&ack.to_bytes()).await;
    }
    outcome
}

/// `data` with a Via naming `port` on 127.0.0.1 inserted after its start line (requests only).
fn with_leading_via(data: &[u8], port: u16, branch: &str) -> Vec<u8> {
    let mut data = data.to_vec();
    if is_request(&data) {
        let eol = data.windows(2).position(|w| w == b"\r\n").expect("a start line");
        let via = format!("Via: SIP/2.0/UDP 127.0.0.1:{port};rport;branch=z9hG4bK-{branch}\r\n");
        data.splice(eol + 2..eol + 2, via.into_bytes());
    }
    data
}

/// Sends `data` (given a leading Via) from a new socket and reads up to a final response (within [`WAIT`]), or
/// for [`QUIET`] when no answer is expected. Returns the bytes sent.
async fn over_udp(service: SocketAddr, data: &[u8], answer: Answer) -> (Outcome, Vec<u8>) {
    let expect_final = !matches!(answer, Nothing);
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind a UDP socket");
    let port = socket.local_addr().expect("local address").port();
    let sent = with_leading_via(data, port, &format!("robust-{port}"));
    socket.send_to(&sent, service).await.expect("send the datagram");
    let mut outcome = Outcome::default();
    let mut buf = vec![0u8; 65_535];
    let until = tokio::time::Instant::now() + if expect_final { WAIT } else { QUIET };
    while !(expect_final && outcome.final_response().is_some()) {
        match tokio::time::timeout_at(until, socket.recv_from(&mut buf)).await {
            Err(_) => break,
            Ok(received) => {
                let (n, _) = received.expect("receive");
                let message = Message::parse(Bytes::copy_from_slice(&buf[..n])).expect("the service's answer parses");
                outcome.messages.push(message);
            }
        }
    }
    if let Some(ack) = outcome.final_response().and_then(|r| ack_for(&sent, r)) {
        socket.send_to(&ack.to_bytes(), service).await.expect("send the ACK");
    }
    (outcome, sent)
}

/// Checks one outcome against its expected answer, plus what the manifest says about particular answers.
fn check(case: &Case, transport: &str, answer: Answer, outcome: &Outcome) -> Result<(), String> {
    let what = format!("{} over {transport}", case.file);
    match answer {
        NotSent(_) => Ok(()),
        Nothing if outcome.messages.is_empty() => Ok(()),
        Nothing => Err(format!("{what}: expected no answer, got {:?}", outcome.status_lines())),
        FinalThenClose(_) if !outcome.closed => {
            Err(format!("{what}: the connection stayed open after {:?}", outcome.status_lines()))
        }
        Final(codes) | FinalThenClose(codes) => {
            let Some(response) = outcome.final_response() else {
                return Err(format!("{what}: no final response (got {:?})", outcome.status_lines()));
            };
            let status = response.status().map(|s| s.as_u16()).unwrap_or_default();
            if !codes.contains(&status) {
                return Err(format!("{what}: expected {codes:?}, got {:?}", outcome.status_lines()));
            }
            let values = |name| response.header_values(name).collect::<Vec<_>>().join(", ");
            match status {
                401 if !values(HeaderName::WwwAuthenticate).contains(&format!("realm=\"{DOMAIN}\"")) => {
                    Err(format!("{what}: a 401 without a challenge for {DOMAIN}: {response:?}"))
                }
                407 if values(HeaderName::ProxyAuthenticate).is_empty() => {
                    Err(format!("{what}: a 407 without a challenge: {response:?}"))
                }
                // RFC 4475 §3.3.5: a proxy lists the Proxy-Require tags it does not support, not the Require ones.
                420 => {
                    let unsupported = values(HeaderName::Unsupported);
                    let listed: BTreeSet<&str> = unsupported.split(',').map(str::trim).collect();
                    let want = BTreeSet::from(["noProxiesSupportThis", "norDoAnyProxiesSupportThis"]);
                    if listed == want { Ok(()) } else { Err(format!("{what}: Unsupported: {unsupported:?}")) }
                }
                _ => Ok(()),
            }
        }
    }
}

/// OPTIONS to the service itself over UDP and over TCP: both answered 200 (RFC 3261 §11).
async fn assert_options_answered(service: &Running) {
    let options = |via: &str, branch: &str| {
        format!(
            "OPTIONS sip:{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/{via};branch=z9hG4bK{branch}\r\nMax-Forwards: 70\r\n\
             From: <sip:monitor@{DOMAIN}>;tag=m\r\nTo: <sip:{DOMAIN}>\r\nCall-ID: robust-options-{branch}\r\n\
             CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
    };
    let tcp = over_tcp(service.tcp, options("TCP 127.0.0.1", "tcpping").as_bytes(), Final(&[200])).await;
    let (udp, _) = over_udp(service.udp, options("UDP 127.0.0.1", "udpping").as_bytes(), Final(&[200])).await;
    for (transport, outcome) in [("TCP", tcp), ("UDP", udp)] {
        let status = outcome.final_response().and_then(Message::status).map(|s| s.as_u16());
        assert_eq!(status, Some(200), "OPTIONS over {transport} after the corpus: {:?}", outcome.status_lines());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rfc4475_message_gets_the_manifest_answer_over_tcp_and_udp_and_nothing_leaves_loopback() {
    let destinations = destinations();
    let manifest = manifest_expectations();
    for (file, expected) in &manifest {
        let case = CASES.iter().find(|c| c.file == file).unwrap_or_else(|| panic!("{file} has no case here"));
        assert_eq!(&case.manifest, expected, "{file}: the manifest changed; look at the expectation again");
    }
    for case in CASES {
        assert!(manifest.iter().any(|(file, _)| file == case.row), "{} stands for no manifest row", case.file);
    }

    let name_server = RefusingNameServer::start().await;
    let campus = campus_with_example_com().await;
    let service = Running::start(config(&campus, name_server.addr)).await;
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut ours = None;
    for case in CASES {
        let data = read_corpus(case.file);
        if !matches!(case.tcp, NotSent(_)) {
            let outcome = over_tcp(service.tcp, &data, case.tcp).await;
            failures.extend(check(case, "TCP", case.tcp, &outcome).err());
        }
        if !matches!(case.udp, NotSent(_)) {
            let (outcome, sent) = over_udp(service.udp, &data, case.udp).await;
            failures.extend(check(case, "UDP", case.udp, &outcome).err());
            if ours.is_none() && is_request(&sent) {
                // The port of the test's Via, to check that the capture saw the answers.
                let text = String::from_utf8_lossy(&sent);
                let port = text.split("127.0.0.1:").nth(1).and_then(|p| p.split(';').next()).expect("our Via");
                ours = Some(SocketAddr::from(([127, 0, 0, 1], port.parse().expect("a port"))));
            }
        }
    }
    eprintln!("RFC 4475: {} messages over TCP and UDP in {:?}", CASES.len(), started.elapsed());
    for case in CASES {
        for (transport, answer) in [("TCP", case.tcp), ("UDP", case.udp)] {
            if let NotSent(why) = answer {
                eprintln!("  {} not sent over {transport}: {why}", case.file);
            }
        }
    }
    assert!(failures.is_empty(), "answers differing from the manifest:\n{}", failures.join("\n"));

    assert_options_answered(&service).await;
    // The forwarded requests asked the stub for their next hops (esc02's Request-URI host, wsinv's Route host),
    // and for nothing else.
    let asked: BTreeSet<String> = name_server
        .asked()
        .into_iter()
        .map(|n| n.trim_start_matches("_sip._udp.").trim_start_matches("_sip._tcp.").to_owned())
        .collect();
    assert_eq!(asked, BTreeSet::from(["registrar.example.com".to_owned(), "services.example.com".to_owned()]));
    service.stop().await;
    assert_nothing_left_loopback(&destinations, ours.expect("a request went over UDP"));
}

/// Credentials answering the SHA-256 challenge of `challenge` (a 401) for REGISTER `sip:example.com`.
fn credentials(challenge: &Message, username: &str, password: &str) -> String {
    let challenges: Vec<Challenge<'_>> = challenge
        .header_values(HeaderName::WwwAuthenticate)
        .map(|v| Challenge::parse(v, HeaderName::WwwAuthenticate).expect("a challenge"))
        .collect();
    let digest = challenges
        .iter()
        .filter_map(Challenge::as_digest)
        .find(|c| c.effective_algorithm() == Some(Algorithm::Sha256))
        .expect("a SHA-256 challenge");
    let account = Account { username, secret: Secret::Password(password) };
    let uri = format!("sip:{DOMAIN}");
    answer(digest, &account, "REGISTER", &uri, b"robust-cnonce", 1).expect("an answerable challenge").to_string()
}

/// `data` with `header` inserted after its start line.
fn with_header(data: &[u8], header: &str) -> Vec<u8> {
    let mut data = data.to_vec();
    let eol = data.windows(2).position(|w| w == b"\r\n").expect("a start line");
    data.splice(eol + 2..eol + 2, format!("{header}\r\n").into_bytes());
    data
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_registers_succeed_once_authenticated_and_bind_the_contacts_the_manifest_describes() {
    let destinations = destinations();
    // (file, line, the contact URI bound): RFC 4475 §3.3.12 `unknownparam` after an addr-spec is a contact
    // parameter, §3.3.13 inside <> a URI parameter, §3.3.14 the escaped Route header stays in the URI, §3.1.1.8
    // the octets after Content-Length 0 are ignored.
    let registers = [
        ("cparam01.dat", "watson", "sip:+19725552222@gw1.example.net"),
        ("cparam02.dat", "watson", "sip:+19725552222@gw1.example.net;unknownparam"),
        ("regescrt.dat", "user", "sip:user@example.com?Route=%3Csip:sip.example.com%3E"),
        ("dblreq.dat", "j.user", "sip:j.user@host.example.com"),
    ];
    let mut ours = None;
    for (file, username, bound) in registers {
        // A service of its own for each: cparam01 and cparam02 bind URIs that RFC 3261 §19.1.4 compares equal.
        let name_server = RefusingNameServer::start().await;
        let campus = campus_with_example_com().await;
        let service = Running::start(config(&campus, name_server.addr)).await;
        let password = LINES.iter().find(|(u, _)| *u == username).map(|(_, p)| *p).expect("a provisioned line");
        let data = read_corpus(file);

        let (challenged, _) = over_udp(service.udp, &data, Final(&[401])).await;
        let challenge = challenged.final_response().expect("an answer");
        assert_eq!(challenge.status().map(|s| s.as_u16()), Some(401), "{file}: {challenge:?}");
        let authorization = format!("Authorization: {}", credentials(challenge, username, password));
        let (registered, sent) = over_udp(service.udp, &with_header(&data, &authorization), Final(&[200])).await;
        let ok = registered.final_response().expect("an answer");
        assert_eq!(ok.status().map(|s| s.as_u16()), Some(200), "{file}: {:?}", registered.status_lines());
        let listed: Vec<String> = ok
            .header_values(HeaderName::Contact)
            .map(|v| Contact::parse(v).expect("a Contact").address().expect("an address").uri.to_owned())
            .collect();
        assert_eq!(listed, [bound], "{file}: the 200 lists the binding");

        let aor = format!("sip:{username}@{DOMAIN}");
        let until = Instant::now() + WAIT;
        loop {
            let stored: Vec<String> =
                carillon_db::registrations_for_aor(&campus.pool, &aor, std::time::SystemTime::now())
                    .await
                    .expect("query the registrations")
                    .into_iter()
                    .map(|r| r.contact_uri)
                    .collect();
            if stored == [bound] {
                break;
            }
            assert!(Instant::now() < until, "{file}: stored {stored:?}, expected {bound:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(name_server.asked().is_empty(), "{file}: a REGISTER needs no DNS: {:?}", name_server.asked());
        service.stop().await;
        let text = String::from_utf8_lossy(&sent).into_owned();
        let port = text.split("127.0.0.1:").nth(1).and_then(|p| p.split(';').next()).expect("our Via");
        ours = Some(SocketAddr::from(([127, 0, 0, 1], port.parse().expect("a port"))));
    }
    assert_nothing_left_loopback(&destinations, ours.expect("a REGISTER was sent"));
}
