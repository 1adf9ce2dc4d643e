//! dnsmasq (Debian package `dnsmasq-base`) as the name server of a test: authoritative for the zone lines the
//! test gives (host, SRV, NAPTR records), on 127.0.0.1 and a free port, answering nothing else (no upstream, no
//! hosts file), so a resolver pointed at it never reaches the outside.
//!
//! ```no_run
//! use carillon_testkit::dnsmasq::Dnsmasq;
//!
//! let dns = Dnsmasq::start(&[
//!     "local=/itsp.test/",
//!     "host-record=sip1.itsp.test,127.0.0.2",
//!     "srv-host=_sip._udp.itsp.test,sip1.itsp.test,5060,10,0",
//! ])
//! .expect("start dnsmasq");
//! println!("ask {}", dns.addr());
//! ```

use std::fs::{self, File};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::Error;
use crate::ports::free_port_pair;
use crate::process::{file_tail, find_program, stop_child};
use crate::scratch::ScratchDir;

/// How long dnsmasq may take to answer on its port.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(5);

/// How many ports are tried when another process takes the chosen one first.
const PORT_ATTEMPTS: u32 = 3;

const MISSING_HINT: &str = "install the Debian package dnsmasq-base, or set CARILLON_DNSMASQ to the dnsmasq binary";

/// A dnsmasq serving a test's records; dropping it stops it by PID and removes its directory.
#[derive(Debug)]
pub struct Dnsmasq {
    child: Child,
    addr: SocketAddr,
    dir: ScratchDir,
}

impl Dnsmasq {
    /// Starts dnsmasq with `records`, lines of its configuration syntax (`local=/zone/`, `host-record=...`,
    /// `srv-host=...`, `naptr-record=...`), and returns once it answers on its port.
    pub fn start(records: &[&str]) -> Result<Dnsmasq, Error> {
        let program = dnsmasq_program()?;
        let dir = ScratchDir::new("dnsmasq")?;
        let log_path = dir.join("dnsmasq.log");
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port_pair()?;
            let mut conf = format!(
                "port={port}\nlisten-address=127.0.0.1\nbind-interfaces\nno-resolv\nno-hosts\nno-poll\n\
                 log-queries\n"
            );
            for line in records {
                conf.push_str(line);
                conf.push('\n');
            }
            let conf_path = dir.join("dnsmasq.conf");
            fs::write(&conf_path, conf).map_err(|e| Error::io("write the dnsmasq configuration", e))?;
            let log = File::create(&log_path).map_err(|e| Error::io("create the dnsmasq log", e))?;
            let mut child = Command::new(&program)
                .arg(format!("--conf-file={}", conf_path.display()))
                .arg("--keep-in-foreground")
                .arg(format!("--pid-file={}", dir.join("dnsmasq.pid").display()))
                .arg("--log-facility=-")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .map_err(|e| Error::io("start dnsmasq", e))?;
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            if wait_ready(&mut child, addr) {
                return Ok(Dnsmasq { child, addr, dir });
            }
            // A port taken between choosing and binding makes dnsmasq exit at once: choose again.
            stop_child(&mut child, Duration::from_secs(2));
        }
        Err(Error::Startup { reason: "dnsmasq did not start".to_owned(), log_tail: file_tail(&log_path, 30) })
    }

    /// Where it answers, UDP and TCP.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What dnsmasq logged so far (every query, with `log-queries`).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("dnsmasq.log")).unwrap_or_default()
    }
}

/// Whether dnsmasq accepts TCP at `addr` within [`STARTUP_TIMEOUT`] (it answers UDP from the same moment).
fn wait_ready(child: &mut Child, addr: SocketAddr) -> bool {
    let start = Instant::now();
    while start.elapsed() < STARTUP_TIMEOUT {
        if child.try_wait().ok().flatten().is_some() {
            return false;
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    false
}
impl Drop for Dnsmasq {
    fn drop(&mut self) {
        stop_child(&mut self.child, Duration::from_secs(2));
    }
}

/// The dnsmasq binary: `CARILLON_DNSMASQ`, `PATH`, or `/usr/sbin` (not on every user's `PATH`, and where Debian
/// puts it).
fn dnsmasq_program() -> Result<PathBuf, Error> {
    match find_program("dnsmasq", "CARILLON_DNSMASQ", MISSING_HINT) {
        Ok(path) => Ok(path),
        Err(error @ Error::MissingProgram { .. }) => {
            ["/usr/sbin/dnsmasq", "/sbin/dnsmasq"].into_iter().map(PathBuf::from).find(|p| p.is_file()).ok_or(error)
        }
        Err(other) => Err(other),
    }
}
