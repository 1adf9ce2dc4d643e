//! linphonec (Debian package `linphone-cli`, liblinphone 5.1) as a second, independent phone implementation,
//! driven through its standard input.
//!
//! [`Linphone::builder`] writes a private `linphonerc` and a private `HOME` (liblinphone never starts without
//! `$HOME/.local/share/linphone`), then starts linphonec with commands on a pipe and its console output read line
//! by line:
//!
//! - SIP on UDP 127.0.0.1 only, on a free port, no TCP or TLS; IPv6 off (liblinphone would otherwise advertise
//!   the machine's IPv6 address in SDP, and rewrites `use_ipv6` unless told its migration is done);
//! - RTP bound to, and advertised as, 127.0.0.1 (`[rtp] bind_address`), on a range below the ephemeral ports;
//! - no sound card (`soundcard use files`): what the phone sends is a WAV file ([`AudioSource`]), what it
//!   receives is recorded to [`Linphone::recording_path`];
//! - a lifetime enforced by coreutils `timeout`, since linphonec does not quit at the end of its input: an
//!   orphaned phone still ends.
//!
//! Commands are written as typed at the `linphonec>` prompt ([`Linphone::command`]); linphonec confirms nothing,
//! so progress is read from its console lines ([`Linphone::wait_line`] and the `wait_call_*` helpers), which are
//! kept in order until a wait takes them.
//!
//! Registering ([`Linphone::register`]) creates a proxy configuration: liblinphone then registers with
//! `+sip.instance` and, if the registrar hands out one, uses a GRUU as its Contact (RFC 5627), so the registrar
//! must route requests to its own GRUUs.
//!
//! Dropping a [`Linphone`] sends `quit`, then stops the processes by PID.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::Error;
pub use crate::audio::AudioSource;
pub use crate::baresip::RegistrationState;
use crate::ports::{Protocol, free_udp_port, port_is_bound, rtp_port_range};
use crate::process::{file_tail, find_program, signal, stop_child, wait_bounded};
use crate::scratch::ScratchDir;

/// How long a phone lives at most unless [`LinphoneBuilder::lifetime`] says otherwise.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(180);

/// How long linphonec may take from spawn to binding its SIP port and switching to files.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// How long linphonec may take to exit after `quit` (it unregisters first) before it is stopped by signal.
const QUIT_GRACE: Duration = Duration::from_secs(5);

/// How long linphonec may take to exit after SIGTERM before it is killed.
const TERM_GRACE: Duration = Duration::from_secs(3);

/// How many times a start is tried again when the SIP port chosen for it was taken in the meantime.
const PORT_ATTEMPTS: u32 = 3;

const MISSING_HINT: &str = "install the Debian package linphone-cli, or set CARILLON_LINPHONEC";
const CONSOLE_FILE: &str = "console.log";
const LOG_FILE: &str = "liblinphone.log";
const PROMPT: &str = "linphonec> ";

/// A linphonec phone's settings before it starts; see [`Linphone::builder`].
#[derive(Debug, Clone)]
pub struct LinphoneBuilder {
    user: String,
    display_name: Option<String>,
    auto_answer: bool,
    source: AudioSource,
    lifetime: Duration,
    sip_port: Option<u16>,
    outbound_proxy: Option<SocketAddr>,
}

impl LinphoneBuilder {
    /// The display name in From and Contact.
    pub fn display_name(mut self, name: &str) -> LinphoneBuilder {
        self.display_name = Some(name.to_owned());
        self
    }

    /// Answers incoming calls by itself (`-a`); by default calls ring until [`Linphone::answer`].
    pub fn auto_answer(mut self) -> LinphoneBuilder {
        self.auto_answer = true;
        self
    }

    /// What the phone sends into calls; silence by default.
    pub fn source(mut self, source: AudioSource) -> LinphoneBuilder {
        self.source = source;
        self
    }

    /// How long the phone runs at most; [`DEFAULT_LIFETIME`] by default.
    pub fn lifetime(mut self, lifetime: Duration) -> LinphoneBuilder {
        self.lifetime = lifetime;
        self
    }

    /// The SIP port; a free one by default.
    pub fn sip_port(mut self, port: u16) -> LinphoneBuilder {
        self.sip_port = Some(port);
        self
    }

    /// Sends every request of the proxy configuration that [`Linphone::register`] creates through `proxy` (a
    /// loose route, `[proxy_default_values] reg_route`), as a phone provisioned with an outbound proxy does: a call
    /// to `sip:<user>@<domain>`, or the target of a REFER, then reaches the proxy without a DNS lookup of the
    /// domain.
    pub fn outbound_proxy(mut self, proxy: SocketAddr) -> LinphoneBuilder {
        self.outbound_proxy = Some(proxy);
        self
    }

    /// Writes the configuration, starts linphonec, switches it to files, and waits until its SIP port is bound.
    pub fn start(self) -> Result<Linphone, Error> {
        let linphonec = find_program("linphonec", "CARILLON_LINPHONEC", MISSING_HINT)?;
        let timeout = find_program("timeout", "CARILLON_TIMEOUT", "install the Debian package coreutils")?;
        let unsafe_char = |c: char| c.is_whitespace() || matches!(c, '"' | '<' | '>' | '@' | ';' | ':');
        if self.user.is_empty() || self.user.contains(unsafe_char) {
            return Err(Error::InvalidArgument(format!("user {:?} does not fit a SIP URI", self.user)));
        }
        if self.display_name.as_ref().is_some_and(|name| name.contains(['"', '\\', '\n'])) {
            return Err(Error::InvalidArgument(format!("display name {:?} needs escaping", self.display_name)));
        }
        let mut attempt = 1;
        loop {
            let port = match self.sip_port {
                Some(port) => port,
                None => free_udp_port()?,
            };
            match self.start_once(&linphonec, &timeout, port) {
                Ok(phone) => return Ok(phone),
                Err((error, port_lost)) if port_lost && self.sip_port.is_none() && attempt < PORT_ATTEMPTS => {
                    attempt += 1;
                    drop(error);
                }
                Err((error, _)) => return Err(error),
            }
        }
    }

    /// One start on `port`; on failure, also whether the port was found taken (worth another try).
    fn start_once(&self, linphonec: &Path, timeout: &Path, port: u16) -> Result<Linphone, (Error, bool)> {
        let dir = ScratchDir::new(&format!("linphone-{}", self.user)).map_err(|e| (e, false))?;
        let prepared = (|| {
            fs::create_dir_all(dir.join("home/.local/share/linphone"))
                .map_err(|e| Error::io("create the linphone home", e))?;
            let source = self.source.materialize(&dir, self.lifetime)?;
            let rtp = rtp_port_range(20)?;
            fs::write(dir.join("linphonerc"), self.linphonerc(port, rtp))
                .map_err(|e| Error::io("write the linphonerc", e))?;
            Ok::<_, Error>(source)
        })();
        let source = prepared.map_err(|e| (e, false))?;
        if port_is_bound(port, Protocol::Udp) {
            return Err((Error::io(format!("bind 127.0.0.1:{port}"), std::io::ErrorKind::AddrInUse.into()), true));
        }

        let lifetime = self.lifetime.as_secs().max(1);
        let mut command = Command::new(timeout);
        command
            .args(["--kill-after=5", &format!("{lifetime}s")])
            .arg(linphonec)
            .arg("-c")
            .arg(dir.join("linphonerc"))
            .args(["-d", "4", "-l"])
            .arg(dir.join(LOG_FILE));
        if self.auto_answer {
            command.arg("-a");
        }
        let stderr = File::create(dir.join("stderr.log")).map_err(|e| (Error::io("create stderr.log", e), false))?;
        command
            .env("HOME", dir.join("home"))
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr);
        let mut child = command.spawn().map_err(|e| (Error::io("start linphonec", e), false))?;
        let (stdin, stdout) = match (child.stdin.take(), child.stdout.take()) {
            (Some(stdin), Some(stdout)) => (stdin, stdout),
            _ => {
                stop_child(&mut child, TERM_GRACE);
                return Err((Error::io("linphonec pipes", std::io::ErrorKind::BrokenPipe.into()), false));
            }
        };
        let console_path = dir.join(CONSOLE_FILE);
        let (sender, lines) = mpsc::channel();
        let reader = thread::Builder::new()
            .name("linphonec-console".to_owned())
            .spawn(move || read_console(stdout, &console_path, &sender))
            .map_err(|e| (Error::io("start the console reader thread", e), false))?;
        let mut phone = Linphone {
            child,
            stdin: Some(stdin),
            lines,
            reader: Some(reader),
            pending: VecDeque::new(),
            history: Vec::new(),
            closed: false,
            user: self.user.clone(),
            sip_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            recording: dir.join("received.wav"),
            dir,
        };
        match phone.prepare(&source) {
            Ok(()) => Ok(phone),
            Err(error) => {
                let port_lost = phone.log_tail(200).contains("in use");
                Err((error, port_lost))
            }
        }
    }

    fn linphonerc(&self, sip_port: u16, (rtp_low, rtp_high): (u16, u16)) -> String {
        let name = self.display_name.as_ref().map(|n| format!("\"{n}\" ")).unwrap_or_default();
        format!(
            "[sip]\n\
             sip_port={sip_port}\n\
             sip_tcp_port=0\n\
             sip_tls_port=0\n\
             bind_address=127.0.0.1\n\
             use_ipv6=0\n\
             prefer_ipv6=0\n\
             ipv6_migration_done=1\n\
             guess_hostname=0\n\
             contact={name}<sip:{user}@127.0.0.1:{sip_port}>\n\
             inc_timeout=60\n\
             [rtp]\n\
             bind_address=127.0.0.1\n\
             audio_rtp_port={rtp_low}-{rtp_high}\n\
             video_rtp_port=0\n\
             [sound]\n\
             echocancellation=0\n\
             [video]\n\
             capture=0\n\
             display=0\n\
             automatically_initiate=0\n\
             automatically_accept=0\n\
             {route}",
            user = self.user,
            route = self
                .outbound_proxy
                .map(|proxy| format!("[proxy_default_values]\nreg_route=sip:{proxy};lr\n"))
                .unwrap_or_default(),
        )
    }
}

/// A running linphonec phone; see the [module documentation](self).
#[derive(Debug)]
pub struct Linphone {
    /// coreutils `timeout`, whose child is linphonec.
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<ConsoleLine>,
    reader: Option<JoinHandle<()>>,
    /// Console lines not yet taken by a wait, oldest first.
    pending: VecDeque<String>,
    history: Vec<String>,
    closed: bool,
    user: String,
    sip_addr: SocketAddr,
    recording: PathBuf,
    dir: ScratchDir,
}

#[derive(Debug)]
enum ConsoleLine {
    Line(String),
    Closed,
}

impl Linphone {
    /// Settings for a phone of `user`: manual answer, silent audio source, [`DEFAULT_LIFETIME`], a free port.
    pub fn builder(user: &str) -> LinphoneBuilder {
        LinphoneBuilder {
            user: user.to_owned(),
            display_name: None,
            auto_answer: false,
            source: AudioSource::Silence,
            lifetime: DEFAULT_LIFETIME,
            sip_port: None,
            outbound_proxy: None,
        }
    }

    /// Where the phone's SIP socket listens (UDP).
    pub fn sip_addr(&self) -> SocketAddr {
        self.sip_addr
    }

    /// The URI that reaches this phone without a registrar: `sip:<user>@127.0.0.1:<SIP port>`.
    pub fn direct_uri(&self) -> String {
        format!("sip:{}@{}", self.user, self.sip_addr)
    }

    /// The PID of the `timeout` process that runs linphonec.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The phone's private directory (configuration, home, logs, recording).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Where what the phone receives in calls is recorded (linphonec's `record`). liblinphone writes a header
    /// whose data size is too large; [`crate::audio`] reads it anyway.
    pub fn recording_path(&self) -> &Path {
        &self.recording
    }

    /// The last `lines` lines of the console and of liblinphone's log.
    pub fn log_tail(&self, lines: usize) -> String {
        format!(
            "--- console ---\n{}\n--- liblinphone log ---\n{}\n--- stderr ---\n{}",
            file_tail(&self.dir.join(CONSOLE_FILE), lines),
            file_tail(&self.dir.join(LOG_FILE), lines),
            file_tail(&self.dir.join("stderr.log"), lines)
        )
    }

    /// Writes one command line, as typed at the `linphonec>` prompt.
    pub fn command(&mut self, line: &str) -> Result<(), Error> {
        if line.contains('\n') {
            return Err(Error::InvalidArgument(format!("{line:?} is more than one command")));
        }
        let stdin = self.stdin.as_mut().ok_or_else(|| Error::InvalidArgument("linphonec has quit".to_owned()))?;
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| stdin.flush())
            .map_err(|e| Error::io(format!("send {line:?} to linphonec"), e))
    }

    /// Registers `sip:<user>@<registrar>` at `registrar` (`host[:port]`, an IP address), with a digest password
    /// when given (`register`); see [`wait_registered`](Self::wait_registered).
    pub fn register(&mut self, registrar: &str, password: Option<&str>) -> Result<(), Error> {
        let mut line = format!("register sip:{}@{registrar} sip:{registrar}", self.user);
        if let Some(password) = password {
            if password.is_empty() || password.contains(char::is_whitespace) {
                return Err(Error::InvalidArgument(format!("password {password:?} does not fit linphonec")));
            }
            line.push(' ');
            line.push_str(password);
        }
        self.command(&line)
    }

    /// The registration state, from `status register`. linphonec 5.1 says `registered=0` alike for a failed
    /// registration, one under way, and none configured: all are [`RegistrationState::Pending`].
    pub fn registration_state(&mut self) -> Result<RegistrationState, Error> {
        self.command("status register")?;
        let line = self.wait_line("the answer to status register", |l| l.starts_with("registered"), STARTUP_TIMEOUT)?;
        Ok(if line.starts_with("registered,") {
            RegistrationState::Registered
        } else if line.starts_with("registered=-1") {
            RegistrationState::NotRegistering
        } else {
            RegistrationState::Pending
        })
    }

    /// Waits until the phone is registered, asking every quarter of a second.
    pub fn wait_registered(&mut self, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.registration_state()? == RegistrationState::Registered {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!("registration of linphonec {}", self.user),
                    waited: timeout,
                    context: self.log_tail(30),
                });
            }
            thread::sleep(Duration::from_millis(250));
        }
    }

    /// Calls `uri` (`call`).
    pub fn call(&mut self, uri: &str) -> Result<(), Error> {
        self.command(&format!("call {uri}"))
    }

    /// Answers the ringing call (`answer`).
    pub fn answer(&mut self) -> Result<(), Error> {
        self.command("answer")
    }

    /// Ends the current call (`terminate`).
    pub fn terminate(&mut self) -> Result<(), Error> {
        self.command("terminate")
    }

    /// Waits for `Receiving new incoming call from ...` and returns the line.
    pub fn wait_call_incoming(&mut self, timeout: Duration) -> Result<String, Error> {
        self.wait_line("an incoming call", |l| l.starts_with("Receiving new incoming call"), timeout)
    }

    /// Waits for `Call N with ... connected.` and returns the line.
    pub fn wait_call_connected(&mut self, timeout: Duration) -> Result<String, Error> {
        self.wait_line("a connected call", |l| l.starts_with("Call ") && l.ends_with(" connected."), timeout)
    }

    /// Waits for `Media streams established with ...` and returns the line.
    pub fn wait_media_established(&mut self, timeout: Duration) -> Result<String, Error> {
        self.wait_line("media streams", |l| l.starts_with("Media streams established"), timeout)
    }

    /// Waits for `Call N with ... ended (...)` or `... error.` and returns the line.
    pub fn wait_call_ended(&mut self, timeout: Duration) -> Result<String, Error> {
        self.wait_line(
            "the end of a call",
            |l| l.starts_with("Call ") && (l.contains(" ended (") || l.ends_with(" error.")),
            timeout,
        )
    }

    /// Waits for the next console line that `matches` and takes it; earlier lines stay for later waits.
    pub fn wait_line(
        &mut self,
        description: &str,
        matches: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> Result<String, Error> {
        if let Some(line) = self.pending.iter().position(|l| matches(l)).and_then(|i| self.pending.remove(i)) {
            return Ok(line);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let reason = if self.closed {
                "linphonec closed its output"
            } else {
                match self.lines.recv_timeout(left) {
                    Ok(ConsoleLine::Line(line)) => {
                        self.history.push(line.clone());
                        if matches(&line) {
                            return Ok(line);
                        }
                        self.pending.push_back(line);
                        continue;
                    }
                    Ok(ConsoleLine::Closed) | Err(RecvTimeoutError::Disconnected) => {
                        self.closed = true;
                        "linphonec closed its output"
                    }
                    Err(RecvTimeoutError::Timeout) => "timed out",
                }
            };
            return Err(Error::Timeout {
                what: format!("linphonec {}: {description}", self.user),
                waited: timeout,
                context: format!("{reason}\n{}", self.log_tail(30)),
            });
        }
    }

    /// Every console line received so far, taken by a wait or not, oldest first (prompts removed).
    pub fn lines(&self) -> &[String] {
        &self.history
    }

    /// Quits linphonec (`quit`: it ends calls and unregisters) and waits for it to exit; stops it by signal when
    /// it does not within five seconds.
    pub fn quit(mut self) -> Result<(), Error> {
        let _ = self.command("quit");
        self.stdin = None;
        match wait_bounded(&mut self.child, QUIT_GRACE).map_err(|e| Error::io("wait for linphonec", e))? {
            Some(_) => Ok(()),
            None => {
                let context = self.log_tail(20);
                self.stop();
                Err(Error::Timeout { what: "linphonec exit after quit".to_owned(), waited: QUIT_GRACE, context })
            }
        }
    }

    /// Switches to files, sets what to play and where to record, and waits until the SIP port is bound.
    fn prepare(&mut self, source: &Path) -> Result<(), Error> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        self.command("soundcard use files")?;
        self.wait_line("the switch to files", |l| l.starts_with("Using wav files"), STARTUP_TIMEOUT)?;
        self.command(&format!("play {}", source.display()))?;
        let recording = self.recording.display().to_string();
        self.command(&format!("record {recording}"))?;
        while !port_is_bound(self.sip_addr.port(), Protocol::Udp) {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Error::Startup {
                    reason: format!("linphonec exited while starting ({status})"),
                    log_tail: self.log_tail(30),
                });
            }
            if Instant::now() >= deadline {
                return Err(Error::Startup {
                    reason: format!("linphonec did not bind {} within {STARTUP_TIMEOUT:?}", self.sip_addr),
                    log_tail: self.log_tail(30),
                });
            }
            thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Stops linphonec and its `timeout` parent: SIGTERM to `timeout` (which passes it on), then SIGKILL to both.
    fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let children = child_pids(self.child.id());
        if stop_child(&mut self.child, TERM_GRACE).is_none() {
            for pid in &children {
                let _ = signal(*pid, "KILL");
            }
        }
        // `timeout` exits when linphonec does; if `timeout` was killed first, linphonec may be left over.
        for pid in children {
            if fs::metadata(format!("/proc/{pid}")).is_ok() {
                let _ = signal(pid, "KILL");
            }
        }
    }
}

impl Drop for Linphone {
    fn drop(&mut self) {
        if self.stdin.is_some() {
            let _ = self.command("quit");
            self.stdin = None;
            let _ = wait_bounded(&mut self.child, QUIT_GRACE);
        }
        self.stop();
        if let Some(reader) = self.reader.take() {
            // The reader ends at end of file, which the exit above brought.
            let _ = reader.join();
        }
    }
}

/// The PIDs of the direct children of `pid` (Linux: `/proc/PID/task/PID/children`).
fn child_pids(pid: u32) -> Vec<u32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .map(|text| text.split_whitespace().filter_map(|p| p.parse().ok()).collect())
        .unwrap_or_default()
}

/// The console reader thread: passes each line on without its prompts, and keeps a copy in `console_path`.
fn read_console(stdout: impl std::io::Read, console_path: &Path, lines: &mpsc::Sender<ConsoleLine>) {
    let mut console = File::create(console_path).ok();
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Some(console) = console.as_mut() {
            let _ = writeln!(console, "{line}");
        }
        let mut text = line.as_str();
        while let Some(rest) = text.strip_prefix(PROMPT) {
            text = rest;
        }
        let text = text.trim_end();
        if !text.is_empty() && lines.send(ConsoleLine::Line(text.to_owned())).is_err() {
            return;
        }
    }
    let _ = lines.send(ConsoleLine::Closed);
}
