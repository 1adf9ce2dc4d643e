//! SIPp (Debian package `sip-tester`) as a scripted SIP peer: a built-in scenario (`uac`, `uas`, ...) or a
//! scenario file, pinned to 127.0.0.1, run to completion or in the background.
//!
//! Every SIPp started here
//!
//! - binds its SIP socket, its media sockets and its control socket to 127.0.0.1 only, its SIP socket on a port
//!   the test chose or on a free ephemeral one;
//! - runs with `-nostdin` in its own scratch directory, so its trace and statistics files never collide with
//!   another SIPp's;
//! - has a global timeout (`-timeout` with `-timeout_error`: [`Sipp::timeout`], [`DEFAULT_LIFETIME`] unless set),
//!   so a SIPp orphaned by a crashed test still ends;
//! - dumps its statistics to a file every second and at exit, from which [`SippOutcome`] reads the successful
//!   and failed call counts.
//!
//! [`Sipp::run_to_completion`] runs a scenario and reports how it went; [`Sipp::spawn`] starts one in the
//! background (a UAS the test then calls, say) and returns a [`SippProcess`] that stops it by PID when dropped.
//!
//! The bundled scenarios live in `testkit/scenarios/` ([`scenario_path`]): `register.xml` registers one binding,
//! answering a digest challenge ([`Sipp::register`]); `registrar-digest.xml` is a one-binding registrar that
//! challenges and verifies credentials ([`Sipp::digest_registrar`]), for testing REGISTER clients without a
//! real registrar.
//!
//! ```no_run
//! use std::time::Duration;
//! use carillon_testkit::sipp::Sipp;
//!
//! let uas = Sipp::uas().spawn().expect("start the UAS");
//! let outcome = Sipp::uac(uas.local_addr()).run_to_completion(Duration::from_secs(20)).expect("run the UAC");
//! assert!(outcome.all_calls_succeeded(), "{outcome:#?}");
//! ```

use std::ffi::OsString;
use std::fs::{self, File};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::Error;
use crate::ports::{Protocol, free_tcp_port, free_udp_port, port_is_bound};
use crate::process::{file_tail, find_program, stop_child, wait_bounded};
use crate::scratch::ScratchDir;

/// How long a SIPp runs at most when the test sets no [`Sipp::timeout`].
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

/// How long a background SIPp may take to bind its SIP socket.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a SIPp may take to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// How many ports a background SIPp with an ephemeral port tries when another process takes the chosen one.
const PORT_ATTEMPTS: u32 = 5;

/// SIPp's exit status when it could not bind its socket.
const EXIT_BIND_FAILED: i32 = 254;

const MISSING_HINT: &str = "install the Debian package sip-tester, or set CARILLON_SIPP to the sipp binary";

/// The path of a scenario file bundled with the harness (`testkit/scenarios/<name>`).
pub fn scenario_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(name)
}

/// What SIPp plays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scenario {
    /// A scenario built into SIPp (`-sn`): `uac`, `uas`, `uac_pcap`, `regexp`, `branchc`, `branchs`, ...
    BuiltIn(String),
    /// A scenario file (`-sf`).
    File(PathBuf),
}

/// The transport SIPp uses (`-t`): one socket for all calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SippTransport {
    /// `-t u1`.
    Udp,
    /// `-t t1`.
    Tcp,
}

/// A SIPp command line being put together; see the [module documentation](self).
#[derive(Debug, Clone)]
pub struct Sipp {
    scenario: Scenario,
    remote: Option<SocketAddr>,
    local_port: Option<u16>,
    transport: SippTransport,
    calls: Option<u32>,
    service: Option<String>,
    auth: Option<(String, String)>,
    timeout: Option<Duration>,
    call_duration: Option<Duration>,
    keys: Vec<(String, String)>,
    trace_messages: bool,
    extra_args: Vec<OsString>,
}

impl Sipp {
    /// A SIPp playing `scenario`; `remote` is where a client scenario sends its first request.
    pub fn new(scenario: Scenario, remote: Option<SocketAddr>) -> Sipp {
        Sipp {
            scenario,
            remote,
            local_port: None,
            transport: SippTransport::Udp,
            calls: Some(1),
            service: None,
            auth: None,
            timeout: None,
            call_duration: None,
            keys: Vec::new(),
            trace_messages: false,
            extra_args: Vec::new(),
        }
    }

    /// The built-in UAC (`-sn uac`): INVITE with SDP, ACK, pause ([`call_duration`](Self::call_duration)), BYE,
    /// to `remote`.
    pub fn uac(remote: SocketAddr) -> Sipp {
        Sipp::new(Scenario::BuiltIn("uac".to_owned()), Some(remote))
    }

    /// The built-in UAS (`-sn uas`): answers an INVITE with 180 and 200, waits for ACK and BYE, answers the BYE.
    /// It lingers four seconds after the BYE (its scenario ends with a time-wait) before counting the call.
    pub fn uas() -> Sipp {
        Sipp::new(Scenario::BuiltIn("uas".to_owned()), None)
    }

    /// A scenario file.
    pub fn scenario_file(path: impl Into<PathBuf>, remote: Option<SocketAddr>) -> Sipp {
        Sipp::new(Scenario::File(path.into()), remote)
    }

    /// The bundled `register.xml`: one REGISTER of `user` (as `-s`) to `registrar` for the domain `registrar`
    /// (`ip:port`), answering a 401 with the digest credentials `user`/`password` (RFC 3261 section 22.2), expires
    /// 300 s. Change the domain with [`domain`](Self::domain), the expiry with [`expires`](Self::expires).
    ///
    /// SIPp's default "send a BYE on an unexpected message" is turned off: a REGISTER dialog has nothing to end.
    pub fn register(registrar: SocketAddr, user: &str, password: &str) -> Sipp {
        Sipp::scenario_file(scenario_path("register.xml"), Some(registrar))
            .service(user)
            .auth(user, password)
            .key("domain", &registrar.to_string())
            .expires(300)
            .arg("-default_behaviors")
            .arg("all,-bye")
    }

    /// The bundled `registrar-digest.xml`: a registrar for one REGISTER call that challenges with 401 (qop=auth)
    /// and answers 200 when the credentials of `user`/`password` verify, 403 (and counts the call failed) when
    /// they do not.
    pub fn digest_registrar(user: &str, password: &str) -> Sipp {
        Sipp::scenario_file(scenario_path("registrar-digest.xml"), None).key("user", user).key("password", password)
    }

    /// The domain a [`register`](Self::register) scenario registers in: the Request-URI `sip:<domain>` and the
    /// host of the address of record. The digest-uri follows it (`-auth_uri`).
    pub fn domain(self, domain: &str) -> Sipp {
        self.key("domain", domain).arg("-auth_uri").arg(domain)
    }

    /// The Expires of a [`register`](Self::register) scenario; 0 removes the binding.
    pub fn expires(self, seconds: u32) -> Sipp {
        self.key("expires", &seconds.to_string())
    }

    /// The local SIP port (`-p`); by default a free ephemeral port.
    pub fn local_port(mut self, port: u16) -> Sipp {
        self.local_port = Some(port);
        self
    }

    /// The transport (`-t u1` or `-t t1`); UDP by default.
    pub fn transport(mut self, transport: SippTransport) -> Sipp {
        self.transport = transport;
        self
    }

    /// How many calls to run before exiting (`-m`); 1 by default.
    pub fn calls(mut self, calls: u32) -> Sipp {
        self.calls = Some(calls);
        self
    }

    /// No call limit: SIPp runs until stopped or its [`timeout`](Self::timeout).
    pub fn unlimited_calls(mut self) -> Sipp {
        self.calls = None;
        self
    }

    /// The user part of the Request-URI (`-s`, `[service]` in scenarios).
    pub fn service(mut self, user: &str) -> Sipp {
        self.service = Some(user.to_owned());
        self
    }

    /// Credentials for digest challenges (`-au`, `-ap`).
    pub fn auth(mut self, user: &str, password: &str) -> Sipp {
        self.auth = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// A global timeout (`-timeout`, whole seconds, rounded up, with `-timeout_error`): when it runs out SIPp
    /// exits with status 255, counting unfinished calls neither successful nor failed. [`DEFAULT_LIFETIME`]
    /// unless set.
    pub fn timeout(mut self, timeout: Duration) -> Sipp {
        self.timeout = Some(timeout);
        self
    }

    /// How long the built-in UAC holds the call before its BYE (`-d`).
    pub fn call_duration(mut self, duration: Duration) -> Sipp {
        self.call_duration = Some(duration);
        self
    }

    /// A scenario keyword (`-key name value`, `[name]` in the scenario).
    pub fn key(mut self, name: &str, value: &str) -> Sipp {
        self.keys.retain(|(n, _)| n != name);
        self.keys.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Records every message sent and received; [`SippOutcome::messages`] then holds them.
    pub fn trace_messages(mut self) -> Sipp {
        self.trace_messages = true;
        self
    }

    /// Any other SIPp argument, appended as is.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Sipp {
        self.extra_args.push(arg.into());
        self
    }

    /// Runs the scenario and waits for SIPp to exit, at most `limit`: then it is killed and the outcome says
    /// [`killed_after_limit`](SippOutcome::killed_after_limit). An error means SIPp could not be started at all.
    /// With an ephemeral port, a port taken by someone else in the meantime is retried with another.
    pub fn run_to_completion(self, limit: Duration) -> Result<SippOutcome, Error> {
        let mut attempt = 1;
        loop {
            let port = match self.local_port {
                Some(port) => port,
                None => self.free_port()?,
            };
            let outcome = self.start(port)?.wait(limit)?;
            if outcome.exit_code != Some(EXIT_BIND_FAILED) || self.local_port.is_some() || attempt >= PORT_ATTEMPTS {
                return Ok(outcome);
            }
            attempt += 1;
        }
    }

    /// Starts SIPp in the background and returns once its SIP socket is bound (a UAS is then ready for calls).
    /// With an ephemeral port, a port taken by someone else in the meantime is retried with another.
    pub fn spawn(self) -> Result<SippProcess, Error> {
        let mut attempt = 1;
        loop {
            let port = match self.local_port {
                Some(port) => port,
                None => self.free_port()?,
            };
            let mut process = self.start(port)?;
            match process.wait_until_bound() {
                Ok(()) => return Ok(process),
                Err(_) if self.local_port.is_none() && attempt < PORT_ATTEMPTS && process.bind_failed() => {
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    fn free_port(&self) -> Result<u16, Error> {
        match self.transport {
            SippTransport::Udp => free_udp_port(),
            SippTransport::Tcp => free_tcp_port(),
        }
    }

    fn start(&self, port: u16) -> Result<SippProcess, Error> {
        let program = find_program("sipp", "CARILLON_SIPP", MISSING_HINT)?;
        let dir = ScratchDir::new("sipp")?;
        let mut command = Command::new(program);
        command.current_dir(dir.path());
        match &self.scenario {
            Scenario::BuiltIn(name) => {
                command.arg("-sn").arg(name);
                if name.contains("pcap") {
                    // The pcap scenarios name their audio as ./pcap/<file>.
                    let _ = std::os::unix::fs::symlink("/usr/share/sip-tester", dir.join("pcap"));
                }
            }
            Scenario::File(path) => {
                if !path.is_file() {
                    return Err(Error::InvalidArgument(format!("no SIPp scenario at {}", path.display())));
                }
                command.arg("-sf").arg(path);
            }
        }
        command
            .args(["-i", "127.0.0.1", "-ci", "127.0.0.1", "-nostdin"])
            .arg("-p")
            .arg(port.to_string())
            .arg("-t")
            .arg(match self.transport {
                SippTransport::Udp => "u1",
                SippTransport::Tcp => "t1",
            });
        if let Some(calls) = self.calls {
            command.arg("-m").arg(calls.to_string());
        }
        if let Some(service) = &self.service {
            command.arg("-s").arg(service);
        }
        if let Some((user, password)) = &self.auth {
            command.arg("-au").arg(user).arg("-ap").arg(password);
        }
        let timeout = self.timeout.unwrap_or(DEFAULT_LIFETIME);
        let seconds = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
        command.arg("-timeout").arg(format!("{}s", seconds.max(1))).arg("-timeout_error");
        if let Some(duration) = self.call_duration {
            command.arg("-d").arg(duration.as_millis().to_string());
        }
        for (name, value) in &self.keys {
            command.arg("-key").arg(name).arg(value);
        }
        command.arg("-trace_stat").arg("-stf").arg(dir.join(STATS_FILE)).args(["-fd", "1"]);
        if self.trace_messages {
            command.arg("-trace_msg").arg("-message_file").arg(dir.join(MESSAGES_FILE));
        }
        command.args(&self.extra_args);
        if let Some(remote) = self.remote {
            command.arg(remote.to_string());
        }
        let stdout = File::create(dir.join(SCREEN_FILE)).map_err(|e| Error::io("create the SIPp screen file", e))?;
        let stderr = File::create(dir.join(STDERR_FILE)).map_err(|e| Error::io("create the SIPp stderr file", e))?;
        command.stdin(Stdio::null()).stdout(stdout).stderr(stderr);
        let child = command.spawn().map_err(|e| Error::io("start sipp", e))?;
        Ok(SippProcess {
            child,
            dir,
            local_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            transport: self.transport,
            expected_calls: self.calls,
        })
    }
}

const STATS_FILE: &str = "stats.csv";
const MESSAGES_FILE: &str = "messages.log";
const SCREEN_FILE: &str = "screen.log";
const STDERR_FILE: &str = "stderr.log";

/// A SIPp running in the background; dropping it stops it (SIGTERM, then SIGKILL) and removes its directory.
#[derive(Debug)]
pub struct SippProcess {
    child: Child,
    dir: ScratchDir,
    local_addr: SocketAddr,
    transport: SippTransport,
    expected_calls: Option<u32>,
}

impl SippProcess {
    /// Where SIPp's SIP socket is bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// SIPp's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether SIPp is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for SIPp to exit by itself, at most `limit`, then kills it.
    pub fn wait(&mut self, limit: Duration) -> Result<SippOutcome, Error> {
        let status = wait_bounded(&mut self.child, limit).map_err(|e| Error::io("wait for sipp", e))?;
        let killed_after_limit = status.is_none();
        let status = match status {
            Some(status) => Some(status),
            None => stop_child(&mut self.child, STOP_GRACE),
        };
        Ok(self.outcome(status, killed_after_limit))
    }

    /// Stops SIPp now (SIGTERM: it exits after writing its statistics) and reports how far it got.
    pub fn stop(&mut self) -> SippOutcome {
        let status = stop_child(&mut self.child, STOP_GRACE);
        self.outcome(status, false)
    }

    /// The last `lines` lines SIPp wrote on standard error.
    pub fn stderr_tail(&self, lines: usize) -> String {
        file_tail(&self.dir.join(STDERR_FILE), lines)
    }

    fn outcome(&self, status: Option<ExitStatus>, killed_after_limit: bool) -> SippOutcome {
        let exit_code = status.and_then(|s| s.code());
        let (successful_calls, failed_calls) = read_call_counts(&self.dir.join(STATS_FILE)).unwrap_or_else(|| {
            // SIPp wrote no statistics (it failed before its first dump): its exit status is all there is.
            let expected = u64::from(self.expected_calls.unwrap_or(0));
            match exit_code {
                Some(0) => (expected, 0),
                Some(1) => (0, expected),
                _ => (0, 0),
            }
        });
        SippOutcome {
            exit_code,
            successful_calls,
            failed_calls,
            killed_after_limit,
            stderr_tail: file_tail(&self.dir.join(STDERR_FILE), 30),
            messages: fs::read_to_string(self.dir.join(MESSAGES_FILE)).ok(),
        }
    }

    fn wait_until_bound(&mut self) -> Result<(), Error> {
        let protocol = match self.transport {
            SippTransport::Udp => Protocol::Udp,
            SippTransport::Tcp => Protocol::Tcp,
        };
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    return Err(Error::Startup {
                        reason: format!("sipp exited while starting ({status})"),
                        log_tail: self.stderr_tail(30),
                    });
                }
                Ok(None) => {}
                Err(e) => return Err(Error::io("wait for sipp", e)),
            }
            if port_is_bound(self.local_addr.port(), protocol) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::Startup {
                    reason: format!("sipp did not bind {} within {STARTUP_TIMEOUT:?}", self.local_addr),
                    log_tail: self.stderr_tail(30),
                });
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn bind_failed(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(status)) if status.code() == Some(EXIT_BIND_FAILED))
    }
}

impl Drop for SippProcess {
    fn drop(&mut self) {
        stop_child(&mut self.child, STOP_GRACE);
    }
}

/// How a SIPp run went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SippOutcome {
    /// SIPp's exit status: 0 when every call succeeded, 1 when at least one failed, 97 when stopped by an
    /// internal command, 99 when it ended without processing a call, 255 on its global timeout or a fatal
    /// error, 254 when it could not bind its socket; `None` when it was killed by a signal.
    pub exit_code: Option<i32>,
    /// Calls that reached the end of the scenario (the cumulative `SuccessfulCall` statistic).
    pub successful_calls: u64,
    /// Calls that failed: unexpected message, retransmission timeout, ... (the cumulative `FailedCall`).
    pub failed_calls: u64,
    /// Whether SIPp outlived the harness's limit and was killed.
    pub killed_after_limit: bool,
    /// The last lines SIPp wrote on standard error: why calls failed.
    pub stderr_tail: String,
    /// Every message sent and received, when [`Sipp::trace_messages`] asked for it.
    pub messages: Option<String>,
}

impl SippOutcome {
    /// Whether SIPp exited with 0 after at least one successful call and no failed one.
    pub fn all_calls_succeeded(&self) -> bool {
        self.exit_code == Some(0) && self.successful_calls > 0 && self.failed_calls == 0
    }
}

/// The cumulative successful and failed call counts from the last line of a SIPp statistics file
/// (`;`-separated, a header line naming the columns).
fn read_call_counts(path: &Path) -> Option<(u64, u64)> {
    let contents = fs::read_to_string(path).ok()?;
    let mut lines = contents.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next()?.split(';').collect();
    let last: Vec<&str> = lines.next_back()?.split(';').collect();
    let column = |name: &str| -> Option<u64> {
        let index = header.iter().position(|h| h.trim() == name)?;
        last.get(index)?.trim().parse().ok()
    };
    Some((column("SuccessfulCall(C)")?, column("FailedCall(C)")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_counts_come_from_the_cumulative_columns_of_the_last_line() {
        let dir = ScratchDir::new("sipp-stats").expect("scratch dir");
        let path = dir.join("stats.csv");
        fs::write(
            &path,
            "StartTime;SuccessfulCall(P);SuccessfulCall(C);FailedCall(P);FailedCall(C);\n\
             t0;0;0;0;0;\n\
             t1;1;3;0;2;\n",
        )
        .expect("write");
        assert_eq!(read_call_counts(&path), Some((3, 2)));
        fs::write(&path, "StartTime;SuccessfulCall(C)\n").expect("write");
        assert_eq!(read_call_counts(&path), None);
    }
}
