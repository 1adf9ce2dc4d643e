//! What the service tests share: one private PostgreSQL per test binary with a demo campus per test, the service
//! running in-process on 127.0.0.1 with ephemeral ports, and a tiny UDP user agent built on carillon-sip messages.
//! Every wait is bounded.

#![allow(dead_code)] // each test file uses its own part of the helpers
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)] // test code: a failed expectation fails the test

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use carillon_proxy::Config;
use carillon_sip::auth::{Account, Algorithm, Challenge, Secret, answer};
use carillon_sip::target::Transport;
use carillon_sip::{HeaderName, Message, StatusCode};
use carillon_testkit::PostgresServer;
use sqlx::PgPool;
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The demo domain and realm.
pub(crate) const DOMAIN: &str = "campus.test";
/// How long any single wait of a test may take.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// The test binary's PostgreSQL, stopped by the harness's watchdog when the binary exits.
pub(crate) fn postgres() -> &'static PostgresServer {
    static SERVER: OnceLock<PostgresServer> = OnceLock::new();
    SERVER.get_or_init(|| PostgresServer::start().expect("start a private PostgreSQL"))
}

/// A migrated database with a demo campus of three users: extensions 4000, 4001 and 4002, each with one line
/// whose digest username is the extension.
pub(crate) struct Campus {
    pub(crate) url: String,
    pub(crate) pool: PgPool,
    pub(crate) lines: Vec<carillon_db::DemoLine>,
}

impl Campus {
    pub(crate) async fn new() -> Campus {
        Campus::on(postgres()).await
    }

    /// The campus on a database of `server`.
    pub(crate) async fn on(server: &PostgresServer) -> Campus {
        let url = server.fresh_database().expect("create a database");
        let pool = carillon_db::connect(&url).await.expect("connect");
        carillon_db::migrate(&pool).await.expect("migrate");
        let campus = carillon_db::seed_demo(&pool, 3, 7).await.expect("seed the demo campus");
        Campus { url, pool, lines: campus.lines }
    }

    /// The password of the line of `extension`.
    pub(crate) fn password(&self, extension: &str) -> String {
        self.lines.iter().find(|l| l.extension == extension).expect("a demo extension").password.clone()
    }

    /// The contact URIs stored for `extension`'s AOR.
    pub(crate) async fn stored_contacts(&self, extension: &str) -> Vec<String> {
        let aor = format!("sip:{extension}@{DOMAIN}");
        carillon_db::registrations_for_aor(&self.pool, &aor, SystemTime::now())
            .await
            .expect("query registrations")
            .into_iter()
            .map(|r| r.contact_uri)
            .collect()
    }

    /// Waits until the stored contacts of `extension` satisfy `want`.
    pub(crate) async fn wait_for_contacts(&self, extension: &str, want: impl Fn(&[String]) -> bool) -> Vec<String> {
        let until = Instant::now() + WAIT;
        loop {
            let contacts = self.stored_contacts(extension).await;
            if want(&contacts) {
                return contacts;
            }
            assert!(Instant::now() < until, "stored contacts of {extension} never became right: {contacts:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The dispositions of the call records of `call_id`, waiting until there is at least one.
    pub(crate) async fn wait_for_call_records(&self, call_id: &str) -> Vec<String> {
        let until = Instant::now() + WAIT;
        loop {
            let rows: Vec<(String,)> =
                sqlx::query_as("SELECT disposition FROM call_records WHERE call_id = $1 ORDER BY id")
                    .bind(call_id)
                    .fetch_all(&self.pool)
                    .await
                    .expect("query call records");
            if !rows.is_empty() {
                return rows.into_iter().map(|(d,)| d).collect();
            }
            assert!(Instant::now() < until, "no call record for {call_id}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A configuration for `campus`: UDP and TCP on 127.0.0.1 with ephemeral ports, a nonce secret in a private
/// directory, a name server on loopback that nothing asks (tests never use the system resolver), a short drain.
pub(crate) fn config(campus: &Campus) -> Config {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "carillon-proxy-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let text = format!(
        r#"
[node]
id = "test-node"
[sip]
domain = "{DOMAIN}"
listen = ["udp:127.0.0.1:0", "tcp:127.0.0.1:0"]
[database]
url = "{}"
[auth]
nonce_secret_file = "{}"
[dns]
name_server = "127.0.0.1:9"
[log]
level = "debug"
[shutdown]
drain_seconds = 3
"#,
        campus.url,
        dir.join("nonce-secret").display()
    );
    Config::from_toml(&text).expect("valid test configuration")
}

/// Logs of the service under test, shown for failing tests (`RUST_LOG` to choose).
pub(crate) fn init_logs() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("carillon_proxy=debug,carillon_sip_transport=info"));
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    });
}

/// The service running in-process.
pub(crate) struct Running {
    pub(crate) udp: SocketAddr,
    pub(crate) tcp: SocketAddr,
    /// The TLS listener, when the configuration has one.
    pub(crate) tls: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), carillon_proxy::Error>>,
}

impl Running {
    pub(crate) async fn start(config: Config) -> Running {
        init_logs();
        Running::serve(carillon_proxy::Server::start(config).await.expect("the service starts"))
    }

    /// Serves with a service already started.
    pub(crate) fn serve(server: carillon_proxy::Server) -> Running {
        let udp = server.local_addr(Transport::Udp).expect("UDP listener");
        let tcp = server.local_addr(Transport::Tcp).expect("TCP listener");
        let tls = server.local_addr(Transport::Tls);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        Running { udp, tcp, tls, stop: Some(stop), task }
    }

    /// Tells the service to stop, without waiting.
    pub(crate) fn request_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Stops the service gracefully; it must exit cleanly within the drain time and a margin.
    pub(crate) async fn stop(mut self) {
        self.request_stop();
        let result = tokio::time::timeout(WAIT, &mut self.task).await.expect("the service stops in time");
        result.expect("the service task").expect("a clean shutdown");
    }
}

/// A SIP user agent on a UDP socket of its own, talking to the proxy.
pub(crate) struct Ua {
    pub(crate) socket: UdpSocket,
    pub(crate) addr: SocketAddr,
    pub(crate) proxy: SocketAddr,
    pub(crate) user: String,
    pub(crate) password: String,
    tag: String,
    next: u64,
}

impl Ua {
    pub(crate) async fn new(proxy: SocketAddr, user: &str, password: &str) -> Ua {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind a UDP socket");
        let addr = socket.local_addr().expect("local address");
        Ua {
            socket,
            addr,
            proxy,
            user: user.to_owned(),
            password: password.to_owned(),
            tag: format!("t{}", addr.port()),
            next: 0,
        }
    }

    /// A new branch or Call-ID suffix.
    pub(crate) fn unique(&mut self) -> String {
        self.next += 1;
        format!("{}x{}", self.addr.port(), self.next)
    }

    /// Our address of record.
    pub(crate) fn aor(&self) -> String {
        format!("sip:{}@{DOMAIN}", self.user)
    }

    /// A request from us: a fresh branch, our From tag, the given To, Call-ID, CSeq and extra headers.
    pub(crate) fn request(
        &mut self,
        method: &str,
        uri: &str,
        to: &str,
        call_id: &str,
        cseq: u32,
        extra: &[(&str, String)],
    ) -> Message {
        let branch = format!("z9hG4bK{}", self.unique());
        let mut text = format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch={branch};rport\r\nMax-Forwards: 70\r\n\
             From: <{}>;tag={}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n",
            self.addr,
            self.aor(),
            self.tag
        );
        for (name, value) in extra {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        Message::parse(Bytes::from(text)).expect("a valid request")
    }

    pub(crate) async fn send(&self, message: &Message) {
        self.socket.send_to(&message.to_bytes(), self.proxy).await.expect("send to the proxy");
    }

    /// The next message received, within [`WAIT`].
    pub(crate) async fn recv(&self) -> (Message, SocketAddr) {
        let mut buf = vec![0u8; 65_535];
        let (n, from) = tokio::time::timeout(WAIT, self.socket.recv_from(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("{} received nothing within {WAIT:?}", self.user))
            .expect("receive");
        buf.truncate(n);
        (Message::parse(Bytes::from(buf)).expect("a valid message from the proxy"), from)
    }

    /// The next final response (provisional ones are skipped).
    pub(crate) async fn final_response(&self) -> Message {
        loop {
            let (message, _) = self.recv().await;
            if message.status().is_some_and(|s| s.as_u16() >= 200) {
                return message;
            }
        }
    }

    /// Sends `request` and returns its final response.
    pub(crate) async fn transact(&self, request: &Message) -> Message {
        self.send(request).await;
        self.final_response().await
    }

    /// A REGISTER for our AOR binding `contact` (none: a query) for `expires` seconds, with `credentials`.
    pub(crate) fn register_request(
        &mut self,
        call_id: &str,
        cseq: u32,
        contact: Option<&str>,
        expires: u32,
        credentials: Option<String>,
    ) -> Message {
        let mut extra = vec![("Expires", expires.to_string())];
        if let Some(contact) = contact {
            extra.push(("Contact", format!("<{contact}>")));
        }
        if let Some(credentials) = credentials {
            extra.push(("Authorization", credentials));
        }
        let aor = self.aor();
        self.request("REGISTER", &format!("sip:{DOMAIN}"), &format!("<{aor}>"), call_id, cseq, &extra)
    }

    /// Registers `contact` for `expires` seconds, answering the challenge with `algorithm`: the final response.
    pub(crate) async fn register(&mut self, contact: &str, expires: u32, algorithm: Algorithm) -> Message {
        let call_id = format!("reg-{}", self.unique());
        let first = self.register_request(&call_id, 1, Some(contact), expires, None);
        let challenge = self.transact(&first).await;
        assert_eq!(challenge.status(), Some(StatusCode::UNAUTHORIZED), "REGISTER without credentials is challenged");
        let credentials =
            self.answer(&challenge, HeaderName::WwwAuthenticate, algorithm, "REGISTER", &format!("sip:{DOMAIN}"));
        let second = self.register_request(&call_id, 2, Some(contact), expires, Some(credentials));
        self.transact(&second).await
    }

    /// The credentials answering the `algorithm` challenge of `response` for a request `method uri`.
    pub(crate) fn answer(
        &self,
        response: &Message,
        header: HeaderName,
        algorithm: Algorithm,
        method: &str,
        uri: &str,
    ) -> String {
        let challenges: Vec<Challenge<'_>> =
            response.header_values(header).map(|v| Challenge::parse(v, header).expect("a challenge")).collect();
        let challenge = challenges
            .iter()
            .filter_map(Challenge::as_digest)
            .find(|c| c.effective_algorithm() == Some(algorithm))
            .unwrap_or_else(|| panic!("no {algorithm} challenge in {response:?}"));
        let account = Account { username: &self.user, secret: Secret::Password(&self.password) };
        answer(challenge, &account, method, uri, b"0123456789abcdef", 1).expect("an answerable challenge").to_string()
    }
}

/// An ACK for a non-2xx final `response` to `invite` (RFC 3261 §17.1.1.3): same branch, To of the response.
pub(crate) fn ack_for(invite: &Message, response: &Message) -> Message {
    carillon_sip::transaction::build_ack(invite, response).expect("an ACK")
}

/// A free UDP port on 127.0.0.1 (bound and released: a peer process binds it next).
pub(crate) fn free_udp_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.local_addr().expect("local address").port()
}

/// The path of a test data file.
pub(crate) fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

/// An INVITE from `caller` to `extension`, authenticated after the 407 (which is acknowledged): the INVITE sent
/// with credentials.
pub(crate) async fn authenticated_invite(caller: &mut Ua, extension: &str, call_id: &str) -> Message {
    let uri = format!("sip:{extension}@{DOMAIN}");
    let contact = format!("<sip:{}@{}>", caller.user, caller.addr);
    let invite = caller.request("INVITE", &uri, &format!("<{uri}>"), call_id, 1, &[("Contact", contact.clone())]);
    let challenge = caller.transact(&invite).await;
    assert_eq!(challenge.status(), Some(StatusCode::PROXY_AUTHENTICATION_REQUIRED), "{challenge:?}");
    caller.send(&ack_for(&invite, &challenge)).await;
    let credentials = caller.answer(&challenge, HeaderName::ProxyAuthenticate, Algorithm::Sha256, "INVITE", &uri);
    let invite = caller.request(
        "INVITE",
        &uri,
        &format!("<{uri}>"),
        call_id,
        2,
        &[("Contact", contact), ("Proxy-Authorization", credentials)],
    );
    caller.send(&invite).await;
    invite
}

/// An authenticated INVITE from `caller` to `extension`: its final response (acknowledged when not a 2xx).
pub(crate) async fn call(caller: &mut Ua, extension: &str) -> Message {
    let call_id = format!("call-{}", caller.unique());
    let invite = authenticated_invite(caller, extension, &call_id).await;
    let answer = caller.final_response().await;
    if answer.status().is_some_and(|s| !s.is_success()) {
        caller.send(&ack_for(&invite, &answer)).await;
    }
    answer
}

/// The 2xx's ACK or an in-dialog request from the caller (RFC 3261 §12.2.1.1, §13.2.2.4): Request-URI the remote
/// target, the route set from the Record-Route of the 2xx in reverse, the To with the callee's tag.
pub(crate) fn in_dialog(caller: &mut Ua, method: &str, ok: &Message, call_id: &str, cseq: u32) -> Message {
    let contact = ok.header_values(HeaderName::Contact).next().expect("the 2xx has a Contact");
    let target =
        carillon_sip::headers::NameAddr::parse_as(contact, HeaderName::Contact).expect("a contact").uri.to_owned();
    let mut routes: Vec<(&str, String)> =
        ok.header_values(HeaderName::RecordRoute).map(|r| ("Route", r.to_owned())).collect();
    routes.reverse();
    let to = ok.header(HeaderName::To).expect("a To").to_owned();
    caller.request(method, &target, &to, call_id, cseq, &routes)
}
