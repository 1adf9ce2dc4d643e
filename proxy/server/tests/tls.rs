//! SIP over TLS (RFC 3261 §26) through carillon-proxy, with a certificate authority made for each test: a
//! baresip phone registering with digest over TLS and calling a UDP phone and back (audio checked both ways,
//! Record-Route doubled across the transport change, RFC 5658), a TLS phone still reached over its connection after
//! the idle timeout, a TLS listener that survives plaintext and garbage, the certificate reloaded on SIGHUP, and a
//! trunk reached over TLS that is called when its CA is trusted and refused when it is not.
//!
//! Peers: baresip 1.0 speaks TLS (libre with OpenSSL). Debian's SIPp 3.6.1 is built without TLS (`sipp -t l1`
//! answers "To use a TLS transport you must compile SIPp with OpenSSL"), so it is not used here. The listener's
//! robustness and the certificate a handshake presents are checked with a tokio-rustls client, which can look at
//! the certificate; baresip 1.0 does not verify servers at all (see `carillon_testkit::baresip`), so it could not
//! tell an old certificate from a new one.

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod common;
#[path = "common/phones.rs"]
mod phones;
mod routing_support;

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use carillon_db::{CallCategory, Trunk, TrunkKind};
use carillon_sip::auth::Algorithm;
use carillon_sip::framing::Limits;
use carillon_sip::target::Transport;
use carillon_sip::{HeaderName, Message, StatusCode};
use carillon_testkit::baresip::{Account, AnswerMode, AudioSource, Baresip, EventKind};
use common::{Campus, DOMAIN, Running, Ua, WAIT, config};
use phones::{CALLEE_HZ, CALLER_HZ, STEP, Site, TALK, assert_heard, expect_event, talk};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The outside number the TLS trunk answers: dialled as `9` + this, routed by the long-distance route `1212`.
const TRUNK_NUMBER: &str = "12125551234";

// ----- certificates -----

/// A throwaway certificate authority in a private directory (removed on drop), issuing server certificates for
/// 127.0.0.1.
struct Pki {
    dir: PathBuf,
    ca: CertifiedIssuer<'static, KeyPair>,
}

/// One issued certificate: its files and its DER.
struct Issued {
    /// The certificate, PEM.
    cert: PathBuf,
    /// Its private key, PEM.
    key: PathBuf,
    /// Certificate and key in one file, as baresip's `sip_certificate` wants them.
    combined: PathBuf,
    der: CertificateDer<'static>,
}

impl Pki {
    fn new(name: &str) -> Pki {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "carillon-tls-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("a directory for the certificates");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.distinguished_name.push(DnType::CommonName, format!("Carillon test CA {name}"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("a CA key")).expect("a CA");
        std::fs::write(dir.join("ca.pem"), ca.pem()).expect("write the CA certificate");
        Pki { dir, ca }
    }

    /// The CA certificate, PEM: what a client that trusts this CA is given.
    fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A new key and a certificate for 127.0.0.1 signed by the CA, written to `<stem>.pem`, `<stem>.key` and
    /// `<stem>.combined.pem` (replacing what was there).
    fn issue(&self, stem: &str) -> Issued {
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("server parameters");
        params.distinguished_name.push(DnType::CommonName, "127.0.0.1");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().expect("a server key");
        let cert = params.signed_by(&key, &self.ca).expect("a server certificate");
        let issued = Issued {
            cert: self.dir.join(format!("{stem}.pem")),
            key: self.dir.join(format!("{stem}.key")),
            combined: self.dir.join(format!("{stem}.combined.pem")),
            der: cert.der().clone(),
        };
        std::fs::write(&issued.cert, cert.pem()).expect("write the certificate");
        std::fs::write(&issued.key, key.serialize_pem()).expect("write the key");
        std::fs::write(&issued.combined, format!("{}{}", cert.pem(), key.serialize_pem())).expect("write both");
        issued
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Adds a `tls:` listener on 127.0.0.1 presenting `server`, and `ca_file` as the trust store of outgoing TLS.
fn with_tls(config: &mut carillon_proxy::Config, server: &Issued, ca_file: &Path) {
    config.sip.listen.push("tls:127.0.0.1:0".to_owned());
    config.tls.certificate_file = Some(server.cert.clone());
    config.tls.key_file = Some(server.key.clone());
    config.tls.ca_file = Some(ca_file.to_owned());
}

/// A TLS client trusting `ca_file`, resuming no session: every handshake shows the certificate presented now.
fn tls_connector(ca_file: &Path) -> TlsConnector {
    let config = carillon_sip_transport::tls::client_config_from_pem(ca_file).expect("a client configuration");
    let mut config = Arc::unwrap_or_clone(config);
    config.resumption = rustls::client::Resumption::disabled();
    TlsConnector::from(Arc::new(config))
}

// ----- a SIP client on a TLS connection -----

/// A phone on a TLS connection to the proxy (the test's own client, for what baresip cannot show).
struct TlsPhone {
    stream: TlsStream<TcpStream>,
    local: SocketAddr,
    buf: BytesMut,
}

impl TlsPhone {
    /// Connects and completes the handshake, verifying the proxy's certificate for 127.0.0.1.
    async fn connect(proxy: SocketAddr, connector: &TlsConnector) -> TlsPhone {
        let tcp = TcpStream::connect(proxy).await.expect("connect to the TLS listener");
        let local = tcp.local_addr().expect("local address");
        let name = ServerName::IpAddress(proxy.ip().into());
        let stream = tokio::time::timeout(WAIT, connector.connect(name, tcp))
            .await
            .expect("a handshake in time")
            .expect("a handshake with a trusted certificate");
        TlsPhone { stream, local, buf: BytesMut::new() }
    }

    /// The certificate the proxy presented.
    fn presented(&self) -> CertificateDer<'static> {
        self.stream.get_ref().1.peer_certificates().and_then(|c| c.first()).expect("a server certificate").clone()
    }

    async fn send(&mut self, message: &Message) {
        self.stream.write_all(&message.to_bytes()).await.expect("write");
    }

    async fn final_response(&mut self) -> Message {
        let read = async {
            loop {
                if let Some(message) = Message::parse_stream(&mut self.buf, &Limits::default()).expect("framed") {
                    if message.status().is_some_and(|s| s.as_u16() >= 200) {
                        return message;
                    }
                    continue;
                }
                let n = self.stream.read_buf(&mut self.buf).await.expect("read");
                assert!(n > 0, "the proxy closed the connection");
            }
        };
        tokio::time::timeout(WAIT, read).await.expect("a final response within the wait")
    }

    /// A REGISTER of `extension` binding this connection's address, over TLS.
    fn register_request(&self, extension: &str, cseq: u32, credentials: Option<&str>) -> Message {
        let local = self.local;
        let mut text = format!(
            "REGISTER sip:{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/TLS {local};branch=z9hG4bKtls{cseq}{};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:{extension}@{DOMAIN}>;tag=tls{}\r\nTo: <sip:{extension}@{DOMAIN}>\r\n\
             Call-ID: tls-reg-{}\r\nCSeq: {cseq} REGISTER\r\n\
             Contact: <sip:{extension}@{local};transport=tls>\r\nExpires: 600\r\n",
            local.port(),
            local.port(),
            local.port()
        );
        if let Some(credentials) = credentials {
            text.push_str(&format!("Authorization: {credentials}\r\n"));
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        Message::parse(Bytes::from(text)).expect("a valid REGISTER")
    }

    /// Registers `extension` with digest (SHA-256): the final response.
    async fn register(&mut self, extension: &str, digest: &Ua) -> Message {
        self.send(&self.register_request(extension, 1, None)).await;
        let challenge = self.final_response().await;
        assert_eq!(challenge.status(), Some(StatusCode::UNAUTHORIZED), "{challenge:?}");
        let credentials = digest.answer(
            &challenge,
            HeaderName::WwwAuthenticate,
            Algorithm::Sha256,
            "REGISTER",
            &format!("sip:{DOMAIN}"),
        );
        self.send(&self.register_request(extension, 2, Some(&credentials))).await;
        self.final_response().await
    }
}

/// Reads until the peer closes (or resets) the connection, within [`WAIT`]: what it sent before closing.
async fn read_until_closed(stream: &mut (impl AsyncRead + Unpin)) -> Vec<u8> {
    let mut received = Vec::new();
    let read = async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(WAIT, read).await.expect("the proxy closes the connection");
    received
}

// ----- what the database and the phones saw -----

/// The stored bindings of `extension` (transport, contact), once there is one.
async fn stored_bindings(campus: &Campus, extension: &str) -> Vec<(Transport, String)> {
    let aor = format!("sip:{extension}@{DOMAIN}");
    let until = Instant::now() + WAIT;
    loop {
        let rows = carillon_db::registrations_for_aor(&campus.pool, &aor, std::time::SystemTime::now())
            .await
            .expect("query registrations");
        if !rows.is_empty() {
            return rows.into_iter().map(|r| (r.transport, r.contact_uri)).collect();
        }
        assert!(Instant::now() < until, "no binding stored for {extension}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The Record-Route values of each INVITE request in a baresip SIP trace (`-s`), in the order of the trace; those
/// without Record-Route (the INVITEs the phone sent) give empty lists.
fn invite_record_routes(trace: &str) -> Vec<Vec<String>> {
    let mut invites = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in trace.lines().map(strip_ansi) {
        let line = line.trim_end();
        if line.starts_with("INVITE sip:") {
            invites.extend(current.take());
            current = Some(Vec::new());
        } else if line.is_empty() {
            invites.extend(current.take());
        } else if let Some(routes) = current.as_mut()
            && let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("Record-Route")
        {
            routes.extend(value.split(',').map(|v| v.trim().to_owned()));
        }
    }
    invites.extend(current);
    invites
}

/// The line without the terminal colour escapes baresip writes.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ parameters final-letter
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The whole log of a phone started with a SIP trace.
fn trace_of(phone: &Baresip) -> String {
    std::fs::read_to_string(phone.dir().join("baresip.log")).expect("read the baresip log")
}

/// One answered call from `caller` to `dialled`, with audio checked in both directions (the `call`-th recording of
/// each phone, from 0), ended by the caller.
fn answered_call(
    caller: &mut Baresip,
    callee: &mut Baresip,
    dialled: &str,
    call: usize,
    caller_hz: f64,
    callee_hz: f64,
) {
    caller.dial(dialled).expect("dial");
    let outgoing = expect_event(caller, EventKind::CallEstablished, "the caller's call is answered");
    expect_event(callee, EventKind::CallEstablished, "the callee answers by itself");
    expect_event(caller, EventKind::CallRtpEstablished, "the caller receives RTP");
    expect_event(callee, EventKind::CallRtpEstablished, "the callee receives RTP");
    talk(caller, TALK);
    caller.hangup().expect("hang up");
    let closed = expect_event(caller, EventKind::CallClosed, "the caller's call closes");
    assert_eq!(closed.call_id, outgoing.call_id);
    expect_event(callee, EventKind::CallClosed, "the BYE reaches the callee through the proxy");
    assert_heard(callee, call, caller_hz, callee_hz);
    assert_heard(caller, call, callee_hz, caller_hz);
}

// ----- carillon-proxy as a process of its own -----

/// carillon-proxy started from its binary, so that a signal reaches it alone and its log can be read. Killed (by
/// its PID) on drop.
struct ProxyProcess {
    child: Child,
    log: PathBuf,
    udp: SocketAddr,
    tls: SocketAddr,
}

impl ProxyProcess {
    /// Starts the program for `campus` with UDP and TLS listeners on free ports, presenting `server`, trusting
    /// `ca_file` for outgoing TLS; returns once it has logged its start.
    fn start(campus: &Campus, dir: &Path, server: &Issued, ca_file: &Path) -> ProxyProcess {
        let udp: SocketAddr = format!("127.0.0.1:{}", common::free_udp_port()).parse().expect("address");
        let tls_port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a port").port();
        let tls: SocketAddr = format!("127.0.0.1:{tls_port}").parse().expect("address");
        let text = format!(
            "[node]\nid = \"tls-test\"\n[sip]\ndomain = \"{DOMAIN}\"\nlisten = [\"udp:{udp}\", \"tls:{tls}\"]\n\
             [database]\nurl = \"{}\"\n[auth]\nnonce_secret_file = \"{}\"\n[dns]\nname_server = \"127.0.0.1:9\"\n\
             [tls]\ncertificate_file = \"{}\"\nkey_file = \"{}\"\nca_file = \"{}\"\n[shutdown]\ndrain_seconds = 2\n",
            campus.url,
            dir.join("nonce-secret").display(),
            server.cert.display(),
            server.key.display(),
            ca_file.display()
        );
        let file = dir.join("carillon-proxy.toml");
        std::fs::write(&file, text).expect("write the configuration");
        let log = dir.join("carillon-proxy.log");
        let stderr = File::create(&log).expect("create the log file");
        let child = Command::new(env!("CARGO_BIN_EXE_carillon-proxy"))
            .arg("--config")
            .arg(&file)
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start carillon-proxy");
        let proxy = ProxyProcess { child, log, udp, tls };
        proxy.wait_for_log("carillon-proxy started", 1);
        proxy
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log holds `needle` at least `count` times; the log.
    fn wait_for_log(&self, needle: &str, count: usize) -> String {
        let until = Instant::now() + WAIT;
        loop {
            let log = self.log();
            if log.matches(needle).count() >= count {
                return log;
            }
            assert!(Instant::now() < until, "{needle:?} never logged {count} time(s); the log:\n{log}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends the process `signal` (`HUP`, `TERM`, ...).
    fn signal(&self, signal: &str) {
        let status =
            Command::new("kill").args([format!("-{signal}"), self.child.id().to_string()]).status().expect("run kill");
        assert!(status.success(), "kill -{signal}");
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A runtime for the parts of a test that are async (the database, the test's own user agents).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a tokio runtime")
}

/// Adds the long-distance route `1212` through one trunk at `trunk` over TLS, for [`TRUNK_NUMBER`].
async fn route_through_tls_trunk(campus: &Campus, trunk: SocketAddr) {
    let route = carillon_db::add_outbound_route(&campus.pool, "1212", CallCategory::LongDistance, "tls trunk")
        .await
        .expect("route added");
    let trunk = Trunk {
        name: "tls-trunk".into(),
        kind: TrunkKind::Gateway,
        host: trunk.ip().to_string(),
        port: Some(trunk.port()),
        transport: Some(Transport::Tls),
        auth_username: None,
        auth_realm: None,
        auth_ha1_md5: None,
        auth_ha1_sha256: None,
        auth_password_sealed: None,
    };
    let id = carillon_db::add_trunk(&campus.pool, &trunk).await.expect("trunk added");
    carillon_db::add_route_trunk(&campus.pool, route, id, 0, 0, 0, "").await.expect("trunk in route");
    routing_support::set_class(&campus.pool, "4000", "faculty").await;
}

/// A baresip standing for a carrier's trunk: it takes calls to [`TRUNK_NUMBER`], its TLS listener presenting
/// `certificate` (certificate and key in one file).
fn tls_trunk(certificate: &Path, answer: AnswerMode) -> Baresip {
    Baresip::builder(Account::direct(TRUNK_NUMBER).answer_mode(answer))
        .source(AudioSource::Tone(CALLEE_HZ))
        .certificate(certificate)
        .sip_trace()
        .lifetime(Duration::from_secs(150))
        .start()
        .unwrap_or_else(|e| panic!("start the TLS trunk: {e}"))
}

// ----- the tests -----

#[test]
fn a_phone_on_tls_registers_with_digest_and_calls_a_phone_on_udp_and_back_with_record_route_doubled_rfc3261_26() {
    let pki = Pki::new("phones");
    let server = pki.issue("proxy");
    let site = Site::start_with(|config| {
        config.auth.algorithms = vec!["MD5".to_owned()];
        with_tls(config, &server, &pki.ca_file());
    });
    let (udp, tls) = (site.proxy(), site.tls_proxy());

    // (a) Digest registration over TLS: the 200 (reginfo OK), and a binding that records TLS and the phone's TLS
    // address.
    let account = Account::registered("4000", &tls.to_string()).password(&site.password("4000")).outbound_proxy(tls);
    let mut tls_phone = Baresip::builder(account.tls())
        .source(AudioSource::Tone(CALLER_HZ))
        .ca_file(&pki.ca_file())
        .sip_trace()
        .lifetime(Duration::from_secs(150))
        .start()
        .unwrap_or_else(|e| panic!("start the TLS phone: {e}"));
    tls_phone.wait_registered(STEP).unwrap_or_else(|e| panic!("registered over TLS: {e}"));
    let bindings = site.block_on(stored_bindings(&site.campus, "4000"));
    assert_eq!(bindings.len(), 1, "{bindings:?}");
    let (transport, contact) = &bindings[0];
    assert_eq!(*transport, Transport::Tls, "the binding records the transport: {bindings:?}");
    assert!(contact.contains(&format!("@{};transport=tls", tls_phone.tls_addr())), "{contact}");

    let udp_phone_account = site.account("4001");
    let mut udp_phone = Baresip::builder(udp_phone_account)
        .source(AudioSource::Tone(CALLEE_HZ))
        .sip_trace()
        .lifetime(Duration::from_secs(150))
        .start()
        .unwrap_or_else(|e| panic!("start the UDP phone: {e}"));
    udp_phone.wait_registered(STEP).unwrap_or_else(|e| panic!("registered over UDP: {e}"));
    let bindings = site.block_on(stored_bindings(&site.campus, "4001"));
    assert_eq!(bindings[0].0, Transport::Udp, "{bindings:?}");

    // (b) TLS to UDP, then UDP to TLS, audio both ways each time.
    let rr_udp = format!("<sip:{udp};transport=udp;lr>");
    // The TLS side names the phone's connection in a route token (RFC 5626 §5.3): in-dialog requests reach the
    // phone over it.
    let is_tls_side_with_token = |value: &str| {
        value.strip_prefix("<sip:").and_then(|v| v.strip_suffix(&format!("@{tls};transport=tls;lr>"))).is_some_and(
            |token| !token.is_empty() && token.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
        )
    };
    answered_call(&mut tls_phone, &mut udp_phone, &format!("sip:4001@{DOMAIN}"), 0, CALLER_HZ, CALLEE_HZ);
    // The INVITE reached the UDP phone with two Record-Route entries: the proxy's UDP side on top (the side this
    // phone reaches), its TLS side below (the side the caller reaches), RFC 5658.
    let received = invite_record_routes(&trace_of(&udp_phone));
    let record_route = received.iter().rfind(|r| !r.is_empty()).unwrap_or_else(|| panic!("{received:?}"));
    assert_eq!(record_route.len(), 2, "doubled across UDP and TLS: {record_route:?}");
    assert_eq!(record_route[0], rr_udp);
    assert!(is_tls_side_with_token(&record_route[1]), "{record_route:?}");

    // baresip names recordings by the second a call starts: the next call must start in another second.
    talk(&mut tls_phone, Duration::from_millis(1100));
    answered_call(&mut udp_phone, &mut tls_phone, &format!("sip:4000@{DOMAIN}"), 1, CALLEE_HZ, CALLER_HZ);
    let received = invite_record_routes(&trace_of(&tls_phone));
    let record_route = received.iter().rfind(|r| !r.is_empty()).unwrap_or_else(|| panic!("{received:?}"));
    assert_eq!(record_route.len(), 2, "{record_route:?}");
    assert!(is_tls_side_with_token(&record_route[0]), "the TLS phone sees the TLS side on top: {record_route:?}");
    assert_eq!(record_route[1], rr_udp);

    let records = site.wait_for_call_records(2);
    assert!(records.iter().all(|r| r.disposition == "ANSWERED"), "{records:#?}");
    tls_phone.quit().expect("the TLS phone quits and unregisters");
    udp_phone.quit().expect("the UDP phone quits");
    site.stop();
}

#[test]
fn a_phone_on_tls_is_reached_over_its_connection_after_the_idle_timeout_while_its_registration_lasts() {
    let pki = Pki::new("idle");
    let server = pki.issue("proxy");
    let site = Site::start_with(|config| {
        config.auth.algorithms = vec!["MD5".to_owned()];
        config.sip.connection_idle_seconds = 1;
        with_tls(config, &server, &pki.ca_file());
    });
    let tls = site.tls_proxy();
    // A TLS connection that registers nothing is closed once idle.
    let mut unregistered = site.block_on(TlsPhone::connect(tls, &tls_connector(&pki.ca_file())));

    let account = Account::registered("4000", &tls.to_string())
        .password(&site.password("4000"))
        .outbound_proxy(tls)
        .answer_mode(AnswerMode::Manual);
    let mut tls_phone = Baresip::builder(account.tls())
        .ca_file(&pki.ca_file())
        .lifetime(Duration::from_secs(150))
        .start()
        .unwrap_or_else(|e| panic!("start the TLS phone: {e}"));
    tls_phone.wait_registered(STEP).unwrap_or_else(|e| panic!("registered over TLS: {e}"));
    let idle_started = Instant::now();
    site.block_on(read_until_closed(&mut unregistered.stream));
    let mut caller = site.registered_baresip("4001", CALLER_HZ, AnswerMode::Auto);

    // The phone has been silent for several idle timeouts (it refreshes its registration every 10 minutes).
    std::thread::sleep(Duration::from_secs(3).saturating_sub(idle_started.elapsed()));
    caller.dial(&format!("sip:4000@{DOMAIN}")).expect("dial");
    let ringing = expect_event(&mut tls_phone, EventKind::CallIncoming, "the INVITE reaches the TLS phone");
    assert_eq!(ringing.direction.as_deref(), Some("incoming"));
    caller.hangup().expect("the caller gives up");
    expect_event(&mut tls_phone, EventKind::CallClosed, "the CANCEL reaches the TLS phone");
    site.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_and_garbage_on_the_tls_port_are_dropped_and_the_listener_keeps_serving() {
    let pki = Pki::new("robust");
    let server = pki.issue("proxy");
    let campus = Campus::new().await;
    let mut cfg = config(&campus);
    with_tls(&mut cfg, &server, &pki.ca_file());
    let service = Running::start(cfg).await;
    let tls = service.tls.expect("a TLS listener");
    let connector = tls_connector(&pki.ca_file());

    // A connection that never starts a handshake is held open meanwhile: handshakes do not block the listener.
    let _silent = TcpStream::connect(tls).await.expect("connect");

    // A plaintext SIP request on the TLS port: no handshake, the connection is dropped, nothing SIP answers.
    let mut plain = TcpStream::connect(tls).await.expect("connect");
    let digest = Ua::new(service.udp, "4001", &campus.password("4001")).await;
    let local = plain.local_addr().expect("local address");
    let register = format!(
        "REGISTER sip:{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bKplain\r\nMax-Forwards: 70\r\n\
         From: <sip:4001@{DOMAIN}>;tag=p\r\nTo: <sip:4001@{DOMAIN}>\r\nCall-ID: plain\r\nCSeq: 1 REGISTER\r\n\
         Content-Length: 0\r\n\r\n"
    );
    plain.write_all(register.as_bytes()).await.expect("write");
    let answer = read_until_closed(&mut plain).await;
    assert!(!answer.windows(7).any(|w| w == b"SIP/2.0"), "{:?}", String::from_utf8_lossy(&answer));

    // Bytes that start like a TLS record and are not one.
    let mut garbage = TcpStream::connect(tls).await.expect("connect");
    garbage.write_all(b"\x16\x03\x01\x00\x10\xff\xfe\xfd\xfc garbage, not a ClientHello").await.expect("write");
    read_until_closed(&mut garbage).await;

    // A proper handshake, then something that is not SIP: the stream cannot be framed, so it is closed.
    let mut framed_garbage = TlsPhone::connect(tls, &connector).await;
    framed_garbage.stream.write_all(b"\x00\x01\x02\x03 not SIP at all\r\n\r\n").await.expect("write");
    read_until_closed(&mut framed_garbage.stream).await;

    // The listener still serves: a digest REGISTER over a new TLS connection succeeds and is bound as TLS.
    let mut phone = TlsPhone::connect(tls, &connector).await;
    let ok = phone.register("4001", &digest).await;
    assert_eq!(ok.status(), Some(StatusCode::OK), "{ok:?}");
    let bindings = stored_bindings(&campus, "4001").await;
    assert_eq!(bindings, [(Transport::Tls, format!("sip:4001@{};transport=tls", phone.local))]);
    service.stop().await;
}

#[test]
fn sighup_reloads_the_certificate_for_new_handshakes_and_keeps_connections_open() {
    let runtime = runtime();
    let pki = Pki::new("reload");
    let first = pki.issue("proxy");
    let campus = runtime.block_on(Campus::new());
    let proxy = ProxyProcess::start(&campus, &pki.dir, &first, &pki.ca_file());
    let connector = tls_connector(&pki.ca_file());

    let mut before = runtime.block_on(TlsPhone::connect(proxy.tls, &connector));
    assert_eq!(before.presented(), first.der, "the configured certificate");

    // The files are replaced (a renewal: same CA, new key), then SIGHUP. The transport's own check of the files
    // runs once a minute, so a change seen within the wait below is the signal's doing.
    let second = pki.issue("proxy");
    assert_ne!(second.der, first.der);
    proxy.signal("HUP");
    proxy.wait_for_log("SIGHUP: TLS files reloaded", 1);
    let after = runtime.block_on(TlsPhone::connect(proxy.tls, &connector));
    assert_eq!(after.presented(), second.der, "a new handshake sees the new certificate");

    // The connection opened before the reload still works: it registers.
    let digest = runtime.block_on(Ua::new(proxy.udp, "4002", &campus.password("4002")));
    let ok = runtime.block_on(before.register("4002", &digest));
    assert_eq!(ok.status(), Some(StatusCode::OK), "{ok:?}");

    // Unusable files are refused with a warning, the current certificate stays, the process keeps running.
    std::fs::write(&second.key, "not a key").expect("break the key file");
    proxy.signal("HUP");
    let log = proxy.wait_for_log("SIGHUP: TLS files not (all) reloaded", 1);
    assert!(log.contains("no private key in file"), "the warning names the problem:\n{log}");
    let still = runtime.block_on(TlsPhone::connect(proxy.tls, &connector));
    assert_eq!(still.presented(), second.der, "the last good certificate stays");
}

#[test]
fn a_trunk_reached_over_tls_carries_a_call_when_its_ca_is_trusted() {
    let pki = Pki::new("trunk");
    let server = pki.issue("proxy");
    let trunk_certificate = pki.issue("trunk");
    let site = Site::start_with(|config| {
        config.auth.algorithms = vec!["MD5".to_owned()];
        with_tls(config, &server, &pki.ca_file());
    });
    let mut trunk = tls_trunk(&trunk_certificate.combined, AnswerMode::Auto);
    site.block_on(route_through_tls_trunk(&site.campus, trunk.tls_addr()));
    let mut caller = site.registered_baresip("4000", CALLER_HZ, AnswerMode::Auto);

    answered_call(&mut caller, &mut trunk, &format!("sip:9{TRUNK_NUMBER}@{DOMAIN}"), 0, CALLER_HZ, CALLEE_HZ);
    // The trunk got the INVITE over the TLS connection the proxy opened, record-routed on both sides.
    let (udp, tls) = (site.proxy(), site.tls_proxy());
    let received = invite_record_routes(&trace_of(&trunk));
    let record_route = received.iter().rfind(|r| !r.is_empty()).unwrap_or_else(|| panic!("{received:?}"));
    assert_eq!(record_route.len(), 2, "{record_route:?}");
    // The trunk's side carries a route token naming the trunk, for the challenges of the call's later requests.
    let token =
        record_route[0].strip_prefix("<sip:").and_then(|v| v.strip_suffix(&format!("@{tls};transport=tls;lr>")));
    assert!(token.is_some_and(|t| !t.is_empty()), "the trunk sees the proxy's TLS side on top: {record_route:?}");
    assert_eq!(record_route[1], format!("<sip:{udp};transport=udp;lr>"));
    let records = site.wait_for_call_records(1);
    assert_eq!(records[0].disposition, "ANSWERED", "{records:#?}");
    site.stop();
}

#[test]
fn a_trunk_whose_certificate_is_not_trusted_is_refused_with_an_error_answer_and_a_log_line() {
    let runtime = runtime();
    let pki = Pki::new("trunk-ca");
    let elsewhere = Pki::new("other-ca");
    let trunk_certificate = pki.issue("trunk");
    let mut trunk = tls_trunk(&trunk_certificate.combined, AnswerMode::Manual);
    let campus = runtime.block_on(Campus::new());
    runtime.block_on(route_through_tls_trunk(&campus, trunk.tls_addr()));

    // The proxy trusts a CA that did not sign the trunk's certificate.
    let server = pki.issue("proxy");
    let ca_file = elsewhere.dir.join("trusted.pem");
    std::fs::copy(elsewhere.ca_file(), &ca_file).expect("the trust store");
    let proxy = ProxyProcess::start(&campus, &elsewhere.dir, &server, &ca_file);
    let mut caller = runtime.block_on(Ua::new(proxy.udp, "4000", &campus.password("4000")));

    let invite = runtime.block_on(routing_support::call(&mut caller, &format!("9{TRUNK_NUMBER}")));
    let refused = runtime.block_on(routing_support::final_answer(&caller, &invite));
    // The branch could not be sent (a 503 stand-in), which RFC 3261 §16.7 step 6 turns into a 500 upstream.
    assert_eq!(refused.status(), Some(StatusCode::SERVER_INTERNAL_ERROR), "{refused:?}");
    let log = proxy.wait_for_log("TLS handshake with a server failed", 1);
    let line = log.lines().find(|l| l.contains("TLS handshake with a server failed")).expect("the line");
    assert!(line.contains("invalid peer certificate: UnknownIssuer"), "names the problem: {line}");
    assert!(line.contains(&trunk.tls_addr().to_string()), "names the server: {line}");
    assert!(trunk.wait_event(EventKind::CallIncoming, Duration::from_millis(500)).is_err(), "no call at the trunk");

    // Trusting the trunk's CA (SIGHUP reads ca_file again) lets the next call through: it rings at the trunk,
    // and the caller gives up.
    std::fs::copy(pki.ca_file(), &ca_file).expect("trust the trunk's CA");
    proxy.signal("HUP");
    proxy.wait_for_log("SIGHUP: TLS files reloaded", 1);
    let invite = runtime.block_on(routing_support::call(&mut caller, &format!("9{TRUNK_NUMBER}")));
    expect_event(&mut trunk, EventKind::CallIncoming, "the call reaches the trunk over TLS");
    runtime.block_on(caller.send(&carillon_sip::transaction::build_cancel(&invite).expect("a CANCEL")));
    let terminated = runtime.block_on(async {
        loop {
            let answer = caller.final_response().await;
            if answer.cseq().is_ok_and(|c| c.method_text == "INVITE") {
                break answer;
            }
        }
    });
    assert_eq!(terminated.status(), Some(StatusCode::REQUEST_TERMINATED), "{terminated:?}");
    runtime.block_on(caller.send(&common::ack_for(&invite, &terminated)));
    expect_event(&mut trunk, EventKind::CallClosed, "the CANCEL reaches the trunk");
}
