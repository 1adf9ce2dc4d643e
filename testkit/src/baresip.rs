//! baresip 1.0 (Debian packages `baresip` and `baresip-core`) as a headless phone, driven over its `ctrl_tcp`
//! socket.
//!
//! [`Baresip::builder`] writes a private profile and starts baresip with it:
//!
//! - SIP on 127.0.0.1 only (`sip_listen`, `net_interface 127.0.0.1`: with `lo` baresip fails, without it baresip
//!   puts the machine's external address in Contact and SDP), on a free port `p` such that `p + 1` is free too:
//!   baresip also binds TLS on `p + 1`;
//! - no sound card: the audio source is a WAV file played by `aufile` (8 kHz mono 16-bit; a tone, silence or the
//!   test's own file, [`AudioSource`]), the player is `aubridge`'s null device, and the `sndfile` filter records
//!   each call into the phone's recordings directory ([`Baresip::received_recordings`],
//!   [`Baresip::sent_recordings`]), files complete once the call has ended;
//! - RTP on a range of 40 ports below the ephemeral range, at a random place;
//! - `ctrl_tcp` on a free loopback port, through which [`Baresip`] sends commands and receives events;
//! - a DNS server that does not exist ([`BaresipBuilder::dns_server`] changes it), so the phone never asks the
//!   system resolver: tests use IP addresses;
//! - SIP over TLS when asked: [`Account::tls`] registers and sends everything over TLS (`;transport=tls` on the
//!   address of record and the outbound proxy), [`BaresipBuilder::ca_file`] gives the CAs it trusts
//!   (`sip_cafile`), [`BaresipBuilder::certificate`] the certificate its own TLS listener on `p + 1` presents
//!   (`sip_certificate`; without it, that listener cannot complete a handshake). baresip 1.0 with libre 1.1 was
//!   seen to complete handshakes with servers whose certificate does not chain to `sip_cafile`: it does not
//!   verify servers, so a test cannot rely on it to refuse one;
//! - `-t` with the phone's lifetime ([`DEFAULT_LIFETIME`] unless set), so a phone orphaned by a crashed test still
//!   quits. The generated audio source lasts as long: `aufile` ends a call at the end of its file.
//!
//! The [`Account`] is either direct (no registrar: others call it at [`Baresip::direct_uri`]) or registered
//! (registrar, password, registration interval). Both answer calls automatically or not ([`AnswerMode`]).
//!
//! Commands ([`Baresip::dial`], [`Baresip::hangup`], [`Baresip::answer`], [`Baresip::send_dtmf`],
//! [`Baresip::transfer`], ...) wait for baresip's response. Events (`CALL_ESTABLISHED`, `CALL_CLOSED`, ...) arrive
//! on the same socket whenever they happen, often before the response of the command that caused them; they are
//! kept in order until a [`Baresip::wait_event`] takes them. baresip 1.0 offers blind transfer only (`transfer`,
//! a REFER); attended transfer commands came in later versions.
//!
//! Dropping a [`Baresip`] stops the process (SIGTERM, a second SIGTERM half a second later if it is still
//! unregistering, SIGKILL two seconds after that) and removes its directory; [`Baresip::quit`] is the polite way,
//! waiting for the unregistration.
//!
//! ```no_run
//! use std::time::Duration;
//! use carillon_testkit::baresip::{Account, AudioSource, Baresip, EventKind};
//!
//! let timeout = Duration::from_secs(20);
//! let start = |user: &str, hz: f64| Baresip::builder(Account::direct(user)).source(AudioSource::Tone(hz)).start();
//! let mut bob = start("bob", 440.0).expect("start bob");
//! let mut alice = start("alice", 1000.0).expect("start alice");
//! alice.dial(&bob.direct_uri()).expect("dial");
//! alice.wait_event(EventKind::CallEstablished, timeout).expect("alice in call");
//! bob.wait_event(EventKind::CallEstablished, timeout).expect("bob in call");
//! alice.hangup().expect("hang up");
//! bob.wait_event(EventKind::CallClosed, timeout).expect("bob's call ended");
//! ```

use std::collections::VecDeque;
use std::fmt::{self, Write as _};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::Error;
pub use crate::audio::AudioSource;
use crate::ports::{Protocol, free_port_pair, free_tcp_port, port_is_bound, rtp_port_range};
use crate::process::{file_tail, find_program, signal, stop_child, wait_bounded};
use crate::scratch::ScratchDir;

/// How long a phone lives at most unless [`BaresipBuilder::lifetime`] says otherwise.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(180);

/// How long baresip may take from spawn to answering on its control socket.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a command may take to be answered.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// How long baresip may take to exit after `quit` (it unregisters first, and waits for the registrar's answer)
/// before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// How long a dropped phone may take to unregister after SIGTERM: a live registrar on loopback answers within
/// milliseconds, and one already gone would keep baresip waiting. A second SIGTERM then makes baresip exit at once.
const UNREGISTER_GRACE: Duration = Duration::from_millis(500);

/// How long a phone may take to exit after its second SIGTERM before it is killed.
const DROP_GRACE: Duration = Duration::from_secs(2);

/// How many times a start is tried again when a port chosen for it was taken in the meantime.
const PORT_ATTEMPTS: u32 = 3;

/// How many RTP ports each phone gets.
const RTP_PORTS: u16 = 40;

/// Where baresip's DNS client is pointed by default: nothing listens on the discard port, so a lookup fails at
/// once instead of reaching the system resolver.
const NO_DNS_SERVER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 9);

const MODULE_PATH: &str = "/usr/lib/baresip/modules";
const MISSING_HINT: &str = "install the Debian packages baresip and baresip-core, or set CARILLON_BARESIP";
const LOG_FILE: &str = "baresip.log";

/// Whether a phone answers incoming calls by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerMode {
    /// Answer at once (`answermode=auto`).
    Auto,
    /// Ring until [`Baresip::answer`] (`answermode=manual`).
    Manual,
}

/// The SIP account of a phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    user: String,
    registrar: Option<String>,
    display_name: Option<String>,
    auth_user: Option<String>,
    password: Option<String>,
    regint: u32,
    outbound_proxy: Option<SocketAddr>,
    tls: bool,
    answer_mode: AnswerMode,
    codecs: Vec<String>,
}

impl Account {
    /// An account without registrar: its address of record is `sip:<user>@127.0.0.1:<SIP port>`, where others
    /// call it directly. Answers automatically, offers PCMU and PCMA.
    pub fn direct(user: &str) -> Account {
        Account {
            user: user.to_owned(),
            registrar: None,
            display_name: None,
            auth_user: None,
            password: None,
            regint: 0,
            outbound_proxy: None,
            tls: false,
            answer_mode: AnswerMode::Auto,
            codecs: vec!["PCMU".to_owned(), "PCMA".to_owned()],
        }
    }

    /// An account registered at `registrar` (`host[:port]`, an IP address: the phone resolves no names): address
    /// of record `sip:<user>@<registrar>`, re-registering every 600 s. Answers automatically, offers PCMU and
    /// PCMA.
    pub fn registered(user: &str, registrar: &str) -> Account {
        Account { registrar: Some(registrar.to_owned()), regint: 600, ..Account::direct(user) }
    }

    /// The digest password (`auth_pass`).
    pub fn password(mut self, password: &str) -> Account {
        self.password = Some(password.to_owned());
        self
    }

    /// The digest user name when it differs from the user part of the address of record (`auth_user`).
    pub fn auth_user(mut self, auth_user: &str) -> Account {
        self.auth_user = Some(auth_user.to_owned());
        self
    }

    /// The display name in From and Contact.
    pub fn display_name(mut self, name: &str) -> Account {
        self.display_name = Some(name.to_owned());
        self
    }

    /// The registration interval in seconds (`regint`; 0 means never register).
    pub fn regint(mut self, seconds: u32) -> Account {
        self.regint = seconds;
        self
    }

    /// Sends every request through this proxy (`outbound`), whatever the Request-URI.
    pub fn outbound_proxy(mut self, proxy: SocketAddr) -> Account {
        self.outbound_proxy = Some(proxy);
        self
    }

    /// Signalling over TLS: the address of record and the outbound proxy get `;transport=tls`, so the REGISTER and
    /// every request go over a TLS connection to the registrar's (or proxy's) address, which must then be its TLS
    /// listener. The contact registered is the phone's TLS address ([`Baresip::tls_addr`]).
    pub fn tls(mut self) -> Account {
        self.tls = true;
        self
    }

    /// How incoming calls are answered.
    pub fn answer_mode(mut self, mode: AnswerMode) -> Account {
        self.answer_mode = mode;
        self
    }

    /// The audio codecs offered, in order of preference (`PCMU`, `PCMA`, ...; only G.711 is loaded).
    pub fn codecs(mut self, codecs: &[&str]) -> Account {
        self.codecs = codecs.iter().map(|&c| c.to_owned()).collect();
        self
    }

    /// The user part of the address of record.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The line of baresip's `accounts` file.
    fn accounts_line(&self, sip_port: u16) -> Result<String, Error> {
        for (what, value) in [
            ("user", Some(&self.user)),
            ("registrar", self.registrar.as_ref()),
            ("auth user", self.auth_user.as_ref()),
            ("password", self.password.as_ref()),
        ] {
            if let Some(value) = value {
                let unsafe_char = |c: char| c.is_whitespace() || matches!(c, ';' | '<' | '>' | '"' | ',' | '@');
                if value.is_empty() || value.contains(unsafe_char) {
                    return Err(Error::InvalidArgument(format!("{what} {value:?} does not fit a baresip account")));
                }
            }
        }
        let mut line = String::new();
        if let Some(name) = &self.display_name {
            if name.contains(['"', '\\', '\n']) {
                return Err(Error::InvalidArgument(format!("display name {name:?} does not fit a baresip account")));
            }
            let _ = write!(line, "\"{name}\" ");
        }
        match &self.registrar {
            Some(registrar) => {
                let transport = if self.tls { ";transport=tls" } else { "" };
                let _ = write!(line, "<sip:{}@{registrar}{transport}>", self.user);
            }
            None => {
                let _ = write!(line, "<sip:{}@127.0.0.1:{sip_port}>", self.user);
            }
        }
        if let Some(auth_user) = &self.auth_user {
            let _ = write!(line, ";auth_user={auth_user}");
        }
        if let Some(password) = &self.password {
            let _ = write!(line, ";auth_pass={password}");
        }
        if let Some(proxy) = self.outbound_proxy {
            let transport = if self.tls { ";transport=tls" } else { "" };
            let _ = write!(line, ";outbound=\"sip:{proxy}{transport};lr\"");
        }
        let regint = if self.registrar.is_some() { self.regint } else { 0 };
        let answer_mode = match self.answer_mode {
            AnswerMode::Auto => "auto",
            AnswerMode::Manual => "manual",
        };
        let _ = write!(line, ";regint={regint};answermode={answer_mode};audio_codecs={}", self.codecs.join(","));
        Ok(line)
    }
}

/// A phone's settings before it starts; see [`Baresip::builder`].
#[derive(Debug, Clone)]
pub struct BaresipBuilder {
    account: Account,
    source: AudioSource,
    lifetime: Duration,
    sip_port: Option<u16>,
    sip_trace: bool,
    dns_server: SocketAddr,
    ca_file: Option<PathBuf>,
    certificate: Option<PathBuf>,
}

impl BaresipBuilder {
    /// What the phone sends into calls; silence by default.
    pub fn source(mut self, source: AudioSource) -> BaresipBuilder {
        self.source = source;
        self
    }

    /// How long the phone runs at most (baresip's `-t`); [`DEFAULT_LIFETIME`] by default.
    pub fn lifetime(mut self, lifetime: Duration) -> BaresipBuilder {
        self.lifetime = lifetime;
        self
    }

    /// The SIP port (`p + 1` must be free too); a free one by default.
    pub fn sip_port(mut self, port: u16) -> BaresipBuilder {
        self.sip_port = Some(port);
        self
    }

    /// Writes every SIP message to the phone's log (`-s`), for [`Baresip::log_tail`].
    pub fn sip_trace(mut self) -> BaresipBuilder {
        self.sip_trace = true;
        self
    }

    /// The DNS server baresip asks; by default one that does not exist.
    pub fn dns_server(mut self, server: SocketAddr) -> BaresipBuilder {
        self.dns_server = server;
        self
    }

    /// The PEM file of CA certificates the phone trusts for TLS (`sip_cafile`).
    pub fn ca_file(mut self, path: &Path) -> BaresipBuilder {
        self.ca_file = Some(path.to_owned());
        self
    }

    /// The PEM file holding the certificate chain and private key the phone's TLS listener presents
    /// (`sip_certificate`).
    pub fn certificate(mut self, path: &Path) -> BaresipBuilder {
        self.certificate = Some(path.to_owned());
        self
    }

    /// Writes the profile, starts baresip and waits until it answers on its control socket. With chosen-free
    /// ports, a port taken by someone else in the meantime is retried with another.
    pub fn start(self) -> Result<Baresip, Error> {
        let program = find_program("baresip", "CARILLON_BARESIP", MISSING_HINT)?;
        if !Path::new(MODULE_PATH).join("ctrl_tcp.so").is_file() {
            return Err(Error::MissingProgram { path: Path::new(MODULE_PATH).join("ctrl_tcp.so"), hint: MISSING_HINT });
        }
        let dir = ScratchDir::new(&format!("baresip-{}", sanitized(&self.account.user)))?;
        let source = self.source.materialize(&dir, self.lifetime)?;
        let recordings = dir.subdir("recordings")?;
        let mut attempt = 1;
        let mut dir = Some(dir);
        loop {
            let Some(current_dir) = dir.take() else {
                return Err(Error::io("baresip profile", io::ErrorKind::NotFound.into()));
            };
            let ports = Ports {
                sip: match self.sip_port {
                    Some(port) => port,
                    None => free_port_pair()?,
                },
                ctrl: free_tcp_port()?,
                rtp: rtp_port_range(RTP_PORTS)?,
            };
            match self.start_once(&program, current_dir, &source, &recordings, ports) {
                Ok(phone) => return Ok(phone),
                Err((error, returned_dir)) => {
                    let port_lost = file_tail(&returned_dir.join(LOG_FILE), 50).contains("in use");
                    if !port_lost || attempt >= PORT_ATTEMPTS {
                        return Err(error);
                    }
                    attempt += 1;
                    dir = Some(returned_dir);
                }
            }
        }
    }

    fn start_once(
        &self,
        program: &Path,
        dir: ScratchDir,
        source: &Path,
        recordings: &Path,
        ports: Ports,
    ) -> Result<Baresip, (Error, ScratchDir)> {
        let written = self.account.accounts_line(ports.sip).and_then(|accounts| {
            let config = self.config(source, recordings, ports);
            fs::write(dir.join("config"), config)
                .and_then(|()| fs::write(dir.join("accounts"), format!("{accounts}\n")))
                .and_then(|()| fs::write(dir.join("contacts"), ""))
                .map_err(|e| Error::io(format!("write the baresip profile in {}", dir.path().display()), e))
        });
        if let Err(error) = written {
            return Err((error, dir));
        }
        let log_path = dir.join(LOG_FILE);
        let log = match File::create(&log_path).and_then(|log| Ok((log.try_clone()?, log))) {
            Ok(log) => log,
            Err(e) => return Err((Error::io(format!("create {}", log_path.display()), e), dir)),
        };
        let lifetime = self.lifetime.as_secs().max(1);
        let mut command = Command::new(program);
        command.arg("-f").arg(dir.path()).arg("-t").arg(lifetime.to_string());
        if self.sip_trace {
            command.arg("-s");
        }
        command.current_dir(dir.path()).stdin(Stdio::null()).stdout(log.0).stderr(log.1);
        let child = match command.spawn() {
            Ok(child) => child,
            Err(e) => return Err((Error::io("start baresip", e), dir)),
        };
        let mut child = child;
        match connect(&mut child, &log_path, ports) {
            Ok(control) => Ok(Baresip {
                child,
                dir,
                account: self.account.clone(),
                sip_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, ports.sip)),
                recordings: recordings.to_owned(),
                control,
            }),
            Err(error) => {
                stop_child(&mut child, DROP_GRACE);
                Err((error, dir))
            }
        }
    }

    fn config(&self, source: &Path, recordings: &Path, ports: Ports) -> String {
        let (rtp_low, rtp_high) = ports.rtp;
        let mut tls = String::new();
        if let Some(ca_file) = &self.ca_file {
            let _ = writeln!(tls, "sip_cafile\t{}", ca_file.display());
        }
        if let Some(certificate) = &self.certificate {
            let _ = writeln!(tls, "sip_certificate\t{}", certificate.display());
        }
        format!(
            "poll_method\tepoll\n\
             sip_listen\t127.0.0.1:{sip}\n\
             net_interface\t127.0.0.1\n\
             dns_server\t{dns}\n\
             call_local_timeout\t120\n\
             call_max_calls\t4\n\
             audio_player\taubridge,null\n\
             audio_source\taufile,{source}\n\
             audio_alert\taubridge,null\n\
             audio_level\tno\n\
             ausrc_format\ts16\n\
             auplay_format\ts16\n\
             auenc_format\ts16\n\
             audec_format\ts16\n\
             audio_buffer\t20-160\n\
             rtp_ports\t{rtp_low}-{rtp_high}\n\
             rtp_timeout\t0\n\
             jitter_buffer_delay\t5-10\n\
             module_path\t{MODULE_PATH}\n\
             module\tg711.so\n\
             module\taufile.so\n\
             module\taubridge.so\n\
             module\tsndfile.so\n\
             module\tctrl_tcp.so\n\
             module_tmp\tuuid.so\n\
             module_tmp\taccount.so\n\
             module_app\tmenu.so\n\
             statmode_default\toff\n\
             ctrl_tcp_listen\t127.0.0.1:{ctrl}\n\
             snd_path\t{recordings}\n\
             {tls}",
            sip = ports.sip,
            dns = self.dns_server,
            source = source.display(),
            ctrl = ports.ctrl,
            recordings = recordings.display(),
        )
    }
}

#[derive(Debug, Clone, Copy)]
struct Ports {
    sip: u16,
    ctrl: u16,
    rtp: (u16, u16),
}

/// Waits until the starting `child` answers a command on its control socket and its SIP socket is bound.
fn connect(child: &mut Child, log_path: &Path, ports: Ports) -> Result<Control, Error> {
    let startup_error = |reason: String| Error::Startup { reason, log_tail: file_tail(log_path, 40) };
    let ctrl_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, ports.ctrl));
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let stream = loop {
        match child.try_wait() {
            Ok(Some(status)) => return Err(startup_error(format!("baresip exited while starting ({status})"))),
            Ok(None) => {}
            Err(e) => return Err(Error::io("wait for baresip", e)),
        }
        if let Ok(stream) = TcpStream::connect_timeout(&ctrl_addr, Duration::from_millis(200)) {
            break stream;
        }
        if Instant::now() >= deadline {
            return Err(startup_error(format!("baresip did not open {ctrl_addr} within {STARTUP_TIMEOUT:?}")));
        }
        thread::sleep(Duration::from_millis(20));
    };
    let mut control = Control::new(stream, log_path.to_owned())?;
    // A first command proves that baresip, not a stranger that took the port, is listening.
    control.command("reginfo", None, STARTUP_TIMEOUT)?;
    // ctrl_tcp loads after the SIP stack binds, so this holds at once; it guards against a changed order.
    while !port_is_bound(ports.sip, Protocol::Udp) {
        if Instant::now() >= deadline {
            return Err(startup_error(format!("baresip did not bind 127.0.0.1:{} in time", ports.sip)));
        }
        thread::sleep(Duration::from_millis(20));
    }
    Ok(control)
}

/// A running baresip phone; see the [module documentation](self).
#[derive(Debug)]
pub struct Baresip {
    child: Child,
    dir: ScratchDir,
    account: Account,
    sip_addr: SocketAddr,
    recordings: PathBuf,
    control: Control,
}

impl Baresip {
    /// Settings for a phone with this account: silent audio source, [`DEFAULT_LIFETIME`], free ports.
    pub fn builder(account: Account) -> BaresipBuilder {
        BaresipBuilder {
            account,
            source: AudioSource::Silence,
            lifetime: DEFAULT_LIFETIME,
            sip_port: None,
            sip_trace: false,
            dns_server: NO_DNS_SERVER,
            ca_file: None,
            certificate: None,
        }
    }

    /// The account.
    pub fn account(&self) -> &Account {
        &self.account
    }

    /// Where the phone's SIP socket listens (UDP and TCP).
    pub fn sip_addr(&self) -> SocketAddr {
        self.sip_addr
    }

    /// Where the phone's TLS listener is: the port after [`sip_addr`](Self::sip_addr)'s.
    pub fn tls_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.sip_addr.port().wrapping_add(1)))
    }

    /// The URI that reaches this phone without a registrar: `sip:<user>@127.0.0.1:<SIP port>`.
    pub fn direct_uri(&self) -> String {
        format!("sip:{}@{}", self.account.user, self.sip_addr)
    }

    /// The address of record: `sip:<user>@<registrar>`, or the [`direct_uri`](Self::direct_uri) without one.
    pub fn aor(&self) -> String {
        match &self.account.registrar {
            Some(registrar) => format!("sip:{}@{registrar}", self.account.user),
            None => self.direct_uri(),
        }
    }

    /// baresip's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The phone's private directory (profile, log, recordings).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last `lines` lines of baresip's output (with SIP messages when started with
    /// [`BaresipBuilder::sip_trace`]).
    pub fn log_tail(&self, lines: usize) -> String {
        file_tail(&self.dir.join(LOG_FILE), lines)
    }

    /// Calls `uri` (`dial`). The call's progress comes as events: `CALL_RINGING`, `CALL_ESTABLISHED`,
    /// `CALL_CLOSED`.
    pub fn dial(&mut self, uri: &str) -> Result<(), Error> {
        self.command("dial", Some(uri)).map(drop)
    }

    /// Ends the current call (`hangup`); with no call, does nothing.
    pub fn hangup(&mut self) -> Result<(), Error> {
        self.command("hangup", None).map(drop)
    }

    /// Answers the ringing incoming call (`accept`), for [`AnswerMode::Manual`].
    pub fn answer(&mut self) -> Result<(), Error> {
        self.command("accept", None).map(drop)
    }

    /// Sends DTMF digits (`0`-`9`, `*`, `#`, `A`-`D`) in the current call as RFC 4733 telephone events
    /// (`sndcode`). The far phone reports each as `CALL_DTMF_START` with the digit as parameter.
    pub fn send_dtmf(&mut self, digits: &str) -> Result<(), Error> {
        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D')) {
            return Err(Error::InvalidArgument(format!("{digits:?} are not DTMF digits")));
        }
        self.command("sndcode", Some(digits)).map(drop)
    }

    /// Blind transfer of the current call to `uri` (`transfer`: a REFER to the far end, RFC 3515). The outcome
    /// comes as `TRANSFER_FAILED` or the call's `CALL_CLOSED`.
    pub fn transfer(&mut self, uri: &str) -> Result<(), Error> {
        self.command("transfer", Some(uri)).map(drop)
    }

    /// Puts the current call on hold (`hold`: a re-INVITE with `a=sendonly`).
    pub fn hold(&mut self) -> Result<(), Error> {
        self.command("hold", None).map(drop)
    }

    /// Takes the current call off hold (`resume`).
    pub fn resume(&mut self) -> Result<(), Error> {
        self.command("resume", None).map(drop)
    }

    /// Any baresip command (as typed after `/` in its console), with its parameters; returns the response text.
    /// An `ok: false` response is an [`Error::Refused`].
    pub fn command(&mut self, command: &str, params: Option<&str>) -> Result<String, Error> {
        self.control.command(command, params, COMMAND_TIMEOUT)
    }

    /// The registration state of the account, from `reginfo`.
    pub fn registration_state(&mut self) -> Result<RegistrationState, Error> {
        let info = self.command("reginfo", None)?;
        Ok(parse_reginfo(&info))
    }

    /// Waits until the account is registered (a 200 to its REGISTER). Fails at once when the registrar refused
    /// it, and after `timeout` when no answer came.
    pub fn wait_registered(&mut self, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.registration_state()? {
                RegistrationState::Registered => return Ok(()),
                RegistrationState::Failed => {
                    return Err(Error::Refused {
                        what: format!("registration of {}", self.aor()),
                        answer: format!("reginfo says ERR\n{}", self.log_tail(20)),
                    });
                }
                RegistrationState::Pending | RegistrationState::NotRegistering => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Timeout {
                    what: format!("registration of {}", self.aor()),
                    waited: timeout,
                    context: self.log_tail(20),
                });
            }
            let slice = (deadline - now).min(Duration::from_millis(250));
            // REGISTER_OK or REGISTER_FAIL cuts the wait short; the next reginfo says which.
            let _ = self.wait_event_where(
                "a registration event",
                |e| matches!(e.kind, EventKind::RegisterOk | EventKind::RegisterFail),
                slice,
            );
        }
    }

    /// Waits for the next event of `kind` and takes it; earlier events of other kinds stay for later waits. An
    /// event of `kind` that arrived before the call is returned at once.
    pub fn wait_event(&mut self, kind: EventKind, timeout: Duration) -> Result<Event, Error> {
        let description = kind.name().to_owned();
        self.wait_event_where(&description, |event| event.kind == kind, timeout)
    }

    /// Waits for the next event that `matches`, and takes it; see [`wait_event`](Self::wait_event).
    pub fn wait_event_where(
        &mut self,
        description: &str,
        matches: impl Fn(&Event) -> bool,
        timeout: Duration,
    ) -> Result<Event, Error> {
        self.control.wait_event(description, matches, timeout)
    }

    /// Every event received so far, taken by a wait or not, oldest first.
    pub fn events(&self) -> &[Event] {
        &self.control.history
    }

    /// Reads the events that have arrived without waiting, so [`events`](Self::events) is current.
    pub fn poll_events(&mut self) {
        self.control.drain();
    }

    /// The recordings of what the phone received in its calls (`*-dec.wav`), oldest first. A recording is
    /// complete once its call has ended. baresip names them by the second the call started.
    pub fn received_recordings(&self) -> Result<Vec<PathBuf>, Error> {
        self.recordings_ending_with("-dec.wav")
    }

    /// The recordings of what the phone sent in its calls (`*-enc.wav`), oldest first.
    pub fn sent_recordings(&self) -> Result<Vec<PathBuf>, Error> {
        self.recordings_ending_with("-enc.wav")
    }

    fn recordings_ending_with(&self, suffix: &str) -> Result<Vec<PathBuf>, Error> {
        let entries =
            fs::read_dir(&self.recordings).map_err(|e| Error::io(format!("list {}", self.recordings.display()), e))?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(suffix)))
            .collect();
        paths.sort();
        Ok(paths)
    }

    /// Quits baresip (`quit`: it ends calls and unregisters) and waits for it to exit; kills it when it does not
    /// within ten seconds.
    pub fn quit(mut self) -> Result<(), Error> {
        // baresip may close the socket before its response arrives: only the exit matters.
        let _ = self.control.command("quit", None, COMMAND_TIMEOUT);
        match wait_bounded(&mut self.child, STOP_GRACE).map_err(|e| Error::io("wait for baresip", e))? {
            Some(_) => Ok(()),
            None => {
                let log = self.log_tail(20);
                stop_child(&mut self.child, STOP_GRACE);
                Err(Error::Timeout { what: "baresip exit after quit".to_owned(), waited: STOP_GRACE, context: log })
            }
        }
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = signal(self.child.id(), "TERM");
            if let Ok(Some(_)) = wait_bounded(&mut self.child, UNREGISTER_GRACE) {
                return;
            }
        }
        stop_child(&mut self.child, DROP_GRACE);
    }
}

/// Where an account stands with its registrar, from baresip's `reginfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationState {
    /// The last REGISTER was answered 200.
    Registered,
    /// The last REGISTER failed (a final error response, or no answer).
    Failed,
    /// A REGISTER is under way, not answered yet.
    Pending,
    /// The account does not register (no registrar, or `regint=0`).
    NotRegistering,
}

fn parse_reginfo(info: &str) -> RegistrationState {
    let plain = strip_ansi(info);
    // One line per user agent, "> " marking the current one: "> sip:1001@127.0.0.1:5060   OK   Expires 600s".
    let status = plain.lines().find(|line| line.trim_start().starts_with("> ") || line.contains("sip:"));
    let words: Vec<&str> = status.map(|line| line.split_whitespace().collect()).unwrap_or_default();
    if words.contains(&"OK") {
        RegistrationState::Registered
    } else if words.contains(&"ERR") {
        RegistrationState::Failed
    } else if words.contains(&"zzz") {
        RegistrationState::Pending
    } else {
        RegistrationState::NotRegistering
    }
}

/// Removes ANSI colour sequences (`ESC [ ... letter`), which baresip puts around registration states.
fn strip_ansi(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

fn sanitized(label: &str) -> String {
    label.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).take(32).collect()
}

/// What happened, as baresip reports it on its control socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// `REGISTER_OK`: a REGISTER was answered 200.
    RegisterOk,
    /// `REGISTER_FAIL`: a REGISTER failed.
    RegisterFail,
    /// `UNREGISTERING`: the account is removing its binding.
    Unregistering,
    /// `MWI_NOTIFY`: a message-waiting NOTIFY arrived.
    MwiNotify,
    /// `CALL_INCOMING`: an INVITE arrived and rings. baresip 1.0 reports none when it answers by itself
    /// ([`AnswerMode::Auto`]): wait for `CALL_ESTABLISHED` then.
    CallIncoming,
    /// `CALL_RINGING`: the far end rings (180).
    CallRinging,
    /// `CALL_PROGRESS`: early media (183).
    CallProgress,
    /// `CALL_ESTABLISHED`: the call is answered.
    CallEstablished,
    /// `CALL_CLOSED`: the call ended; the parameter says why.
    CallClosed,
    /// `CALL_RTPESTAB`: RTP arrives.
    CallRtpEstablished,
    /// `CALL_RTCP`: an RTCP report arrived.
    CallRtcp,
    /// `CALL_DTMF_START`: a DTMF digit began; the parameter is the digit.
    CallDtmfStart,
    /// `CALL_DTMF_END`: the DTMF digit ended.
    CallDtmfEnd,
    /// `CALL_LOCAL_SDP`: an offer or answer was sent.
    CallLocalSdp,
    /// `CALL_REMOTE_SDP`: an offer or answer was received.
    CallRemoteSdp,
    /// `TRANSFER`: the far end asked this phone to call someone else (REFER).
    Transfer,
    /// `TRANSFER_FAILED`: a transfer this phone asked for failed.
    TransferFailed,
    /// `AUDIO_ERROR`: the audio source or player failed (the source file ended, say).
    AudioError,
    /// `SHUTDOWN`: baresip is quitting.
    Shutdown,
    /// `EXIT`: baresip is about to exit.
    Exit,
    /// Any other event type, by its name.
    Other(String),
}

const EVENT_NAMES: [(EventKind, &str); 20] = [
    (EventKind::RegisterOk, "REGISTER_OK"),
    (EventKind::RegisterFail, "REGISTER_FAIL"),
    (EventKind::Unregistering, "UNREGISTERING"),
    (EventKind::MwiNotify, "MWI_NOTIFY"),
    (EventKind::CallIncoming, "CALL_INCOMING"),
    (EventKind::CallRinging, "CALL_RINGING"),
    (EventKind::CallProgress, "CALL_PROGRESS"),
    (EventKind::CallEstablished, "CALL_ESTABLISHED"),
    (EventKind::CallClosed, "CALL_CLOSED"),
    (EventKind::CallRtpEstablished, "CALL_RTPESTAB"),
    (EventKind::CallRtcp, "CALL_RTCP"),
    (EventKind::CallDtmfStart, "CALL_DTMF_START"),
    (EventKind::CallDtmfEnd, "CALL_DTMF_END"),
    (EventKind::CallLocalSdp, "CALL_LOCAL_SDP"),
    (EventKind::CallRemoteSdp, "CALL_REMOTE_SDP"),
    (EventKind::Transfer, "TRANSFER"),
    (EventKind::TransferFailed, "TRANSFER_FAILED"),
    (EventKind::AudioError, "AUDIO_ERROR"),
    (EventKind::Shutdown, "SHUTDOWN"),
    (EventKind::Exit, "EXIT"),
];

impl EventKind {
    /// The kind baresip names `name`.
    pub fn from_name(name: &str) -> EventKind {
        EVENT_NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map_or_else(|| EventKind::Other(name.to_owned()), |(kind, _)| kind.clone())
    }

    /// baresip's name for the kind.
    pub fn name(&self) -> &str {
        match self {
            EventKind::Other(name) => name,
            known => EVENT_NAMES.iter().find(|(k, _)| k == known).map_or("", |(_, name)| name),
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One event from baresip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// baresip's class: `call`, `register`, `application`, `other`, ...
    pub class: String,
    /// The account's address of record.
    pub account_aor: Option<String>,
    /// `incoming` or `outgoing`, for call events.
    pub direction: Option<String>,
    /// The far end's URI, for call events.
    pub peer_uri: Option<String>,
    /// baresip's id of the call.
    pub call_id: Option<String>,
    /// The event's parameter: the DTMF digit, the reason a call closed, the peer URI, ...
    pub param: Option<String>,
    /// The event as received (JSON).
    pub json: String,
}

impl Event {
    fn from_json(value: &serde_json::Value, json: String) -> Event {
        let text = |name: &str| value.get(name).and_then(serde_json::Value::as_str).map(str::to_owned);
        Event {
            kind: EventKind::from_name(&text("type").unwrap_or_default()),
            class: text("class").unwrap_or_default(),
            account_aor: text("accountaor"),
            direction: text("direction"),
            peer_uri: text("peeruri"),
            call_id: text("id"),
            param: text("param"),
            json,
        }
    }
}

/// What the reader thread passes on from the control socket.
#[derive(Debug)]
enum Frame {
    Response {
        token: Option<String>,
        ok: bool,
        data: String,
    },
    Event(Event),
    /// The socket closed or carried something that is not a netstring of JSON; the reason.
    Closed(String),
}

/// The client end of baresip's `ctrl_tcp` socket: netstrings (`<length>:<JSON>,`) both ways, commands with a
/// token and their responses, events in between.
#[derive(Debug)]
struct Control {
    stream: TcpStream,
    frames: Receiver<Frame>,
    reader: Option<JoinHandle<()>>,
    next_token: u64,
    /// Events received and not yet taken by a wait, oldest first.
    pending: VecDeque<Event>,
    history: Vec<Event>,
    closed: Option<String>,
    log_path: PathBuf,
}

impl Control {
    fn new(stream: TcpStream, log_path: PathBuf) -> Result<Control, Error> {
        let reading = stream.try_clone().map_err(|e| Error::io("clone the control socket", e))?;
        let (sender, frames) = mpsc::channel();
        let reader = thread::Builder::new()
            .name("baresip-ctrl".to_owned())
            .spawn(move || read_frames(reading, &sender))
            .map_err(|e| Error::io("start the control reader thread", e))?;
        Ok(Control {
            stream,
            frames,
            reader: Some(reader),
            next_token: 1,
            pending: VecDeque::new(),
            history: Vec::new(),
            closed: None,
            log_path,
        })
    }

    fn command(&mut self, command: &str, params: Option<&str>, timeout: Duration) -> Result<String, Error> {
        let token = self.next_token.to_string();
        self.next_token += 1;
        let what = match params {
            Some(params) => format!("baresip command {command} {params}"),
            None => format!("baresip command {command}"),
        };
        let body = serde_json::json!({ "command": command, "params": params, "token": token }).to_string();
        let netstring = format!("{}:{body},", body.len());
        self.stream.write_all(netstring.as_bytes()).map_err(|e| Error::io(format!("send {what}"), e))?;
        let deadline = Instant::now() + timeout;
        loop {
            let frame = self.next_frame(deadline).map_err(|reason| self.failure(&what, timeout, reason))?;
            match frame {
                Frame::Response { token: Some(t), ok, data } if t == token => {
                    return if ok { Ok(data) } else { Err(Error::Refused { what, answer: data }) };
                }
                Frame::Response { .. } => {}
                Frame::Event(event) => self.record(event),
                Frame::Closed(reason) => {
                    self.closed = Some(reason.clone());
                    return Err(self.failure(&what, timeout, reason));
                }
            }
        }
    }

    fn wait_event(
        &mut self,
        description: &str,
        matches: impl Fn(&Event) -> bool,
        timeout: Duration,
    ) -> Result<Event, Error> {
        if let Some(event) = self.pending.iter().position(&matches).and_then(|index| self.pending.remove(index)) {
            return Ok(event);
        }
        let what = format!("baresip event {description}");
        let deadline = Instant::now() + timeout;
        loop {
            let frame = self.next_frame(deadline).map_err(|reason| self.failure(&what, timeout, reason))?;
            match frame {
                Frame::Event(event) if matches(&event) => {
                    self.history.push(event.clone());
                    return Ok(event);
                }
                Frame::Event(event) => self.record(event),
                Frame::Response { .. } => {}
                Frame::Closed(reason) => {
                    self.closed = Some(reason.clone());
                    return Err(self.failure(&what, timeout, reason));
                }
            }
        }
    }

    /// Takes the frames that have already arrived.
    fn drain(&mut self) {
        while let Ok(frame) = self.frames.try_recv() {
            match frame {
                Frame::Event(event) => self.record(event),
                Frame::Response { .. } => {}
                Frame::Closed(reason) => self.closed = Some(reason),
            }
        }
    }

    fn record(&mut self, event: Event) {
        self.history.push(event.clone());
        self.pending.push_back(event);
    }

    /// The next frame before `deadline`; the error says why there is none.
    fn next_frame(&mut self, deadline: Instant) -> Result<Frame, String> {
        if let Some(reason) = &self.closed {
            return Err(reason.clone());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match self.frames.recv_timeout(left) {
            Ok(frame) => Ok(frame),
            Err(RecvTimeoutError::Timeout) => Err("timed out".to_owned()),
            Err(RecvTimeoutError::Disconnected) => Err("the control reader stopped".to_owned()),
        }
    }

    fn failure(&self, what: &str, waited: Duration, reason: String) -> Error {
        let pending: Vec<&str> = self.pending.iter().map(|e| e.kind.name()).collect();
        Error::Timeout {
            what: what.to_owned(),
            waited,
            context: format!(
                "{reason}; events not taken: {pending:?}\n--- baresip log (tail) ---\n{}",
                file_tail(&self.log_path, 30)
            ),
        }
    }
}

impl Drop for Control {
    fn drop(&mut self) {
        // Unblocks the reader thread's read.
        let _ = self.stream.shutdown(Shutdown::Both);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// The reader thread: splits the stream into netstrings and passes each on as a frame, until the socket closes
/// or the receiver is gone.
fn read_frames(mut stream: TcpStream, frames: &mpsc::Sender<Frame>) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        loop {
            match take_netstring(&mut buffer) {
                Ok(Some(payload)) => {
                    if frames.send(parse_frame(&payload)).is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(reason) => {
                    let _ = frames.send(Frame::Closed(reason));
                    return;
                }
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => {
                let _ = frames.send(Frame::Closed("baresip closed its control socket".to_owned()));
                return;
            }
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                let _ = frames.send(Frame::Closed(format!("reading the control socket: {e}")));
                return;
            }
        }
    }
}

/// Takes one netstring (`<length>:<payload>,`) off the front of `buffer`: `None` while incomplete.
fn take_netstring(buffer: &mut Vec<u8>) -> Result<Option<Vec<u8>>, String> {
    let Some(colon) = buffer.iter().position(|&b| b == b':') else {
        if buffer.len() > 20 || !buffer.iter().all(u8::is_ascii_digit) {
            return Err(format!("not a netstring: {:?}", String::from_utf8_lossy(buffer)));
        }
        return Ok(None);
    };
    let length: usize = std::str::from_utf8(&buffer[..colon])
        .ok()
        .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|digits| digits.parse().ok())
        .ok_or_else(|| format!("bad netstring length {:?}", String::from_utf8_lossy(&buffer[..colon])))?;
    let end = colon + 1 + length;
    if buffer.len() <= end {
        return Ok(None);
    }
    if buffer[end] != b',' {
        return Err("netstring without its closing comma".to_owned());
    }
    let payload = buffer[colon + 1..end].to_vec();
    buffer.drain(..=end);
    Ok(Some(payload))
}

fn parse_frame(payload: &[u8]) -> Frame {
    let json = String::from_utf8_lossy(payload).into_owned();
    let value: serde_json::Value = match serde_json::from_str(&json) {
        Ok(value) => value,
        Err(e) => return Frame::Closed(format!("not JSON ({e}): {json}")),
    };
    let flag = |name: &str| value.get(name).and_then(serde_json::Value::as_bool).unwrap_or(false);
    if flag("event") {
        Frame::Event(Event::from_json(&value, json))
    } else if flag("response") {
        let text = |name: &str| value.get(name).and_then(serde_json::Value::as_str).map(str::to_owned);
        Frame::Response { token: text("token"), ok: flag("ok"), data: text("data").unwrap_or_default() }
    } else {
        Frame::Closed(format!("neither event nor response: {json}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netstrings_are_taken_whole_and_in_order() {
        let mut buffer = b"5:hello,3:abc,2:x".to_vec();
        assert_eq!(take_netstring(&mut buffer), Ok(Some(b"hello".to_vec())));
        assert_eq!(take_netstring(&mut buffer), Ok(Some(b"abc".to_vec())));
        assert_eq!(take_netstring(&mut buffer), Ok(None), "incomplete");
        buffer.extend_from_slice(b"y,");
        assert_eq!(take_netstring(&mut buffer), Ok(Some(b"xy".to_vec())));
        assert!(buffer.is_empty());
        assert!(take_netstring(&mut b"3:abc;".to_vec()).is_err());
        assert!(take_netstring(&mut b"x:abc,".to_vec()).is_err());
    }

    #[test]
    fn events_and_responses_are_told_apart() {
        let event = concat!(
            r#"{"event":true,"type":"CALL_DTMF_START","class":"call","accountaor":"sip:b@127.0.0.1:5072","#,
            r#""direction":"incoming","peeruri":"sip:a@127.0.0.1:5074","id":"03d8","param":"5"}"#
        );
        match parse_frame(event.as_bytes()) {
            Frame::Event(e) => {
                assert_eq!(e.kind, EventKind::CallDtmfStart);
                assert_eq!(e.param.as_deref(), Some("5"));
                assert_eq!(e.call_id.as_deref(), Some("03d8"));
                assert_eq!(e.direction.as_deref(), Some("incoming"));
            }
            other => panic!("{other:?}"),
        }
        match parse_frame(br#"{"response":true,"ok":false,"data":"command not found (bogus)\n","token":"5"}"#) {
            Frame::Response { token, ok, data } => {
                assert_eq!(token.as_deref(), Some("5"));
                assert!(!ok);
                assert!(data.starts_with("command not found"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn event_kinds_round_trip_through_their_names() {
        for (kind, name) in EVENT_NAMES {
            assert_eq!(EventKind::from_name(name), kind);
            assert_eq!(kind.name(), name);
        }
        assert_eq!(EventKind::from_name("VU_TX_REPORT"), EventKind::Other("VU_TX_REPORT".to_owned()));
        assert_eq!(EventKind::Other("VU_TX_REPORT".to_owned()).name(), "VU_TX_REPORT");
    }

    #[test]
    fn reginfo_states_are_read_through_the_colour_codes() {
        let ok =
            "\n--- User Agents (1) ---\n> sip:1001@127.0.0.1:25100        \u{1b}[32mOK \u{1b}[;m  Expires 600s\n\n";
        assert_eq!(parse_reginfo(ok), RegistrationState::Registered);
        let err = "\n--- User Agents (1) ---\n> sip:1001@127.0.0.1:25100                   \u{1b}[31mERR\u{1b}[;m\n\n";
        assert_eq!(parse_reginfo(err), RegistrationState::Failed);
        let pending =
            "\n--- User Agents (1) ---\n> sip:1001@127.0.0.1:25100                   \u{1b}[33mzzz\u{1b}[;m\n\n";
        assert_eq!(parse_reginfo(pending), RegistrationState::Pending);
        let direct = "\n--- User Agents (1) ---\n> sip:alice@127.0.0.1:25074                 \n\n";
        assert_eq!(parse_reginfo(direct), RegistrationState::NotRegistering);
    }

    #[test]
    fn account_lines_carry_the_settings_and_refuse_what_would_break_them() {
        let direct = Account::direct("alice").accounts_line(5074).expect("direct");
        assert_eq!(direct, "<sip:alice@127.0.0.1:5074>;regint=0;answermode=auto;audio_codecs=PCMU,PCMA");
        let registered = Account::registered("1001", "127.0.0.1:5060")
            .password("pw1001")
            .display_name("Ext 1001")
            .answer_mode(AnswerMode::Manual)
            .codecs(&["PCMA"])
            .regint(60)
            .accounts_line(5074)
            .expect("registered");
        assert_eq!(
            registered,
            "\"Ext 1001\" <sip:1001@127.0.0.1:5060>;auth_pass=pw1001;regint=60;answermode=manual;audio_codecs=PCMA"
        );
        let tls = Account::registered("1001", "127.0.0.1:5061")
            .outbound_proxy("127.0.0.1:5061".parse().expect("address"))
            .tls()
            .accounts_line(5074)
            .expect("over TLS");
        assert_eq!(
            tls,
            "<sip:1001@127.0.0.1:5061;transport=tls>;outbound=\"sip:127.0.0.1:5061;transport=tls;lr\";regint=600;\
             answermode=auto;audio_codecs=PCMU,PCMA"
        );
        assert!(Account::direct("alice").password("a;b").accounts_line(5074).is_err());
        assert!(Account::direct("al ice").accounts_line(5074).is_err());
    }
}
