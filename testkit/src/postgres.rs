//! A private PostgreSQL server for one test binary or one test.

use std::fmt;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::Error;
use crate::process::{Identity, run_bounded, running_as_root, signal, system_user, wait_bounded};

/// How long a server may take from spawn to accepting connections.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a fast shutdown may take before the server is killed.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long `initdb` may take (it writes a few megabytes of catalog).
const INITDB_TIMEOUT: Duration = Duration::from_secs(60);

/// How long one `psql` command may take.
const PSQL_TIMEOUT: Duration = Duration::from_secs(30);

/// How many ports to try when another process takes the free port between finding it and the server binding it.
const PORT_ATTEMPTS: u32 = 5;

/// The superuser role and the database created in every server.
const SUPERUSER: &str = "carillon";
const DATABASE: &str = "carillon";

const DEFAULT_BINDIR: &str = "/usr/lib/postgresql/15/bin";

/// Stops the server when the test process exits without dropping it (a `static`, a panic that aborts, a kill):
/// stdin is a pipe from the test process, so `read` ends with end-of-file when that process is gone. A line
/// `pid N` names the server to stop, `pid ` clears it, `done` means the owner cleaned up itself.
const WATCHDOG_SCRIPT: &str = r#"
dir=$1
pid=
while IFS= read -r line; do
    case $line in
        done) exit 0 ;;
        "pid "*) pid=${line#pid } ;;
    esac
done
# Running unless gone or a zombie (an orphan's new parent may never reap it). The postmaster's name has no spaces,
# so the state is the third field.
running() { state=$(cut -d ' ' -f 3 "/proc/$1/stat" 2>/dev/null) && [ -n "$state" ] && [ "$state" != Z ]; }
if [ -n "$pid" ] && running "$pid"; then
    kill -s INT "$pid" 2>/dev/null
    i=0
    while running "$pid" && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    running "$pid" && kill -s KILL "$pid" 2>/dev/null
fi
rm -rf -- "$dir"
"#;

static SERVER_COUNTER: AtomicU64 = AtomicU64::new(0);
static DATABASE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A PostgreSQL server private to a test; see the [crate documentation](crate) for how it is set up.
pub struct PostgresServer {
    bindir: PathBuf,
    /// The private directory holding the data directory, the socket, the log and the password file.
    root: PathBuf,
    port: u16,
    password: String,
    /// Whom the server runs as; `None` runs it as the current user.
    run_as: Option<Identity>,
    postmaster: Option<Child>,
    watchdog: Option<Watchdog>,
}

struct Watchdog {
    child: Child,
    stdin: ChildStdin,
}

impl fmt::Debug for PostgresServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresServer")
            .field("root", &self.root)
            .field("port", &self.port)
            .field("pid", &self.pid())
            .finish_non_exhaustive()
    }
}

impl PostgresServer {
    /// Initialises a fresh cluster in a new temporary directory, starts it and creates the `carillon` database.
    pub fn start() -> Result<PostgresServer, Error> {
        let bindir =
            std::env::var_os("CARILLON_PG_BINDIR").map_or_else(|| PathBuf::from(DEFAULT_BINDIR), PathBuf::from);
        for program in ["initdb", "postgres", "psql"] {
            let path = bindir.join(program);
            if !path.is_file() {
                return Err(Error::MissingProgram {
                    path,
                    hint: "install the Debian packages postgresql-15 and postgresql-client-15, or set CARILLON_PG_BINDIR",
                });
            }
        }
        let run_as = if running_as_root()? { Some(system_user("postgres")?) } else { None };
        let root = create_private_dir(run_as)?;
        let mut server = PostgresServer {
            bindir,
            root,
            port: 0,
            password: random_password()?,
            run_as,
            postmaster: None,
            watchdog: None,
        };
        // From here on, dropping `server` removes the directory on every error path.
        server.watchdog = Some(spawn_watchdog(&server.root)?);
        server.initdb()?;
        server.start_on_free_port()?;
        server.psql("postgres", &format!("CREATE DATABASE {DATABASE}"))?;
        Ok(server)
    }

    /// The connection string of the `carillon` database, as the superuser.
    pub fn url(&self) -> String {
        self.url_for(DATABASE)
    }

    /// The connection string of another database of this server.
    pub fn url_for(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}:{}@127.0.0.1:{}/{database}?sslmode=disable", self.password, self.port)
    }

    /// Creates a database named `name` (lower-case letters, digits and `_`, starting with a letter) and returns its
    /// connection string.
    pub fn create_database(&self, name: &str) -> Result<String, Error> {
        let valid = name.len() <= 63
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err(Error::InvalidArgument(format!("database name {name:?} is not a plain lower-case identifier")));
        }
        self.psql("postgres", &format!("CREATE DATABASE {name}"))?;
        Ok(self.url_for(name))
    }

    /// Creates a database with a name no other call in this process has used, and returns its connection string:
    /// the way tests sharing one server stay out of each other's way.
    pub fn fresh_database(&self) -> Result<String, Error> {
        let n = DATABASE_COUNTER.fetch_add(1, Ordering::Relaxed);
        self.create_database(&format!("test_{n}"))
    }

    /// Runs SQL with `psql` in `database` and returns what it printed (unaligned, tuples only: one row per line,
    /// columns separated by `|`).
    pub fn psql(&self, database: &str, sql: &str) -> Result<String, Error> {
        let mut psql = Command::new(self.bindir.join("psql"));
        psql.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", SUPERUSER])
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-d")
            .arg(database)
            .arg("-c")
            .arg(sql)
            .env("PGPASSWORD", &self.password)
            .env("PGCONNECT_TIMEOUT", "5")
            .env("PGSSLMODE", "disable");
        let output = run_bounded(psql, &format!("psql {sql:?}"), PSQL_TIMEOUT)?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// The TCP port the server listens on (on 127.0.0.1); it stays the same across [`stop`](Self::stop) and
    /// [`start_again`](Self::start_again).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// The PID of the running postmaster, `None` while stopped.
    pub fn pid(&self) -> Option<u32> {
        self.postmaster.as_ref().map(Child::id)
    }

    /// The last `lines` lines of the server log.
    pub fn log_tail(&self, lines: usize) -> String {
        let mut log = Vec::new();
        // An unreadable log only makes an error message poorer.
        let _ = File::open(self.log_path()).and_then(|mut f| f.read_to_end(&mut log));
        let log = String::from_utf8_lossy(&log);
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Stops the server (fast shutdown: open sessions are disconnected), keeping its data and port for
    /// [`start_again`](Self::start_again). Stopping a stopped server does nothing.
    pub fn stop(&mut self) -> Result<(), Error> {
        let Some(mut postmaster) = self.postmaster.take() else { return Ok(()) };
        self.tell_watchdog("pid ");
        let pid = postmaster.id();
        // SIGINT is PostgreSQL's fast shutdown; SIGTERM (smart shutdown) would wait for every client, and a
        // test's connection pool may still be open.
        let interrupted = signal(pid, "INT");
        let exited = wait_bounded(&mut postmaster, SHUTDOWN_TIMEOUT).map_err(|e| Error::io("wait for postgres", e))?;
        if exited.is_none() {
            postmaster.kill().map_err(|e| Error::io(format!("kill postgres {pid}"), e))?;
            wait_bounded(&mut postmaster, SHUTDOWN_TIMEOUT).map_err(|e| Error::io("wait for postgres", e))?;
            return Err(Error::Startup {
                reason: format!("postgres {pid} ignored fast shutdown for {SHUTDOWN_TIMEOUT:?} and was killed"),
                log_tail: self.log_tail(20),
            });
        }
        interrupted
    }

    /// Starts the stopped server again on the same port and data directory, so [`url`](Self::url) stays valid.
    /// Starting a running server does nothing.
    pub fn start_again(&mut self) -> Result<(), Error> {
        if self.postmaster.is_some() {
            return Ok(());
        }
        self.spawn_postmaster().map_err(|(error, _)| error)
    }

    fn log_path(&self) -> PathBuf {
        self.root.join("server.log")
    }

    fn initdb(&self) -> Result<(), Error> {
        let password_file = self.root.join("password");
        write_owned(&password_file, self.password.as_bytes(), self.run_as)?;
        let mut initdb = self.server_command("initdb");
        initdb
            .arg("-D")
            .arg(self.data_dir())
            .args(["-U", SUPERUSER, "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8"])
            .args(["--no-locale", "--no-sync", "--no-instructions"])
            .arg(format!("--pwfile={}", password_file.display()));
        run_bounded(initdb, "initdb", INITDB_TIMEOUT)?;
        fs::remove_file(&password_file).map_err(|e| Error::io("remove the password file", e))
    }

    fn start_on_free_port(&mut self) -> Result<(), Error> {
        let mut attempt = 1;
        loop {
            self.port = free_port()?;
            match self.spawn_postmaster() {
                Ok(()) => return Ok(()),
                Err((error, PortLost::Yes)) if attempt < PORT_ATTEMPTS => {
                    attempt += 1;
                    drop(error);
                }
                Err((error, _)) => return Err(error),
            }
        }
    }

    /// Spawns the postmaster and waits until it accepts connections. On failure, also says whether the port
    /// was taken by someone else (worth another try on another port).
    fn spawn_postmaster(&mut self) -> Result<(), (Error, PortLost)> {
        let log_path = self.log_path();
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .and_then(|log| Ok((log.try_clone()?, log)))
            .map_err(|e| (Error::io(format!("open {}", log_path.display()), e), PortLost::No))?;
        let log_start = fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
        let mut postgres = self.server_command("postgres");
        postgres
            .arg("-D")
            .arg(self.data_dir())
            .args(["-c", "listen_addresses=127.0.0.1", "-c"])
            .arg(format!("port={}", self.port))
            .arg("-c")
            .arg(format!("unix_socket_directories={}", self.root.display()))
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
            .args(["-c", "logging_collector=off", "-c", "max_connections=200"])
            .stdin(Stdio::null())
            .stdout(log.0)
            .stderr(log.1);
        let child = postgres.spawn().map_err(|e| (Error::io("start postgres", e), PortLost::No))?;
        let pid = child.id();
        self.postmaster = Some(child);
        self.tell_watchdog(&format!("pid {pid}"));

        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let failure = loop {
            let Some(postmaster) = self.postmaster.as_mut() else {
                break "postgres vanished".to_owned();
            };
            match postmaster.try_wait() {
                Ok(Some(status)) => break format!("postgres exited while starting ({status})"),
                Ok(None) => {}
                Err(e) => break format!("waiting for postgres: {e}"),
            }
            if self.ready() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                break format!("postgres was not ready within {STARTUP_TIMEOUT:?}");
            }
            thread::sleep(Duration::from_millis(20));
        };
        // Best effort: the startup error is what the caller needs.
        let _ = self.stop();
        let log_since_start =
            fs::read(&log_path).ok().and_then(|log| log.get(log_start as usize..).map(<[u8]>::to_vec));
        let port_lost = match log_since_start {
            Some(log) if String::from_utf8_lossy(&log).contains("Address already in use") => PortLost::Yes,
            _ => PortLost::No,
        };
        Err((Error::Startup { reason: failure, log_tail: self.log_tail(30) }, port_lost))
    }

    /// Whether the postmaster reports itself ready: since PostgreSQL 10 the eighth line of `postmaster.pid` is
    /// the postmaster's status, `ready` once it accepts connections.
    fn ready(&self) -> bool {
        fs::read_to_string(self.data_dir().join("postmaster.pid"))
            .is_ok_and(|pid_file| pid_file.lines().nth(7).is_some_and(|status| status.trim() == "ready"))
    }

    /// A command for a server program, run as the server's user, in the private directory, with messages in
    /// English so the log can be read by [`spawn_postmaster`](Self::spawn_postmaster).
    fn server_command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bindir.join(program));
        command.current_dir(&self.root).env("LC_ALL", "C").env_remove("PGDATA");
        if let Some(identity) = self.run_as {
            // std drops the supplementary groups before switching, since this process is root.
            command.uid(identity.uid).gid(identity.gid);
        }
        command
    }

    fn tell_watchdog(&mut self, line: &str) {
        if let Some(watchdog) = self.watchdog.as_mut() {
            // If the watchdog is gone there is nothing better to do than stop the server ourselves, which Drop
            // does anyway.
            let _ = writeln!(watchdog.stdin, "{line}");
        }
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        // Nothing can be reported from drop; the watchdog removes the directory if this fails half-way.
        let _ = self.stop();
        if fs::remove_dir_all(&self.root).is_ok() {
            self.tell_watchdog("done");
        }
        if let Some(mut watchdog) = self.watchdog.take() {
            drop(watchdog.stdin);
            let _ = wait_bounded(&mut watchdog.child, SHUTDOWN_TIMEOUT);
            let _ = watchdog.child.kill();
            let _ = watchdog.child.wait();
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortLost {
    Yes,
    No,
}

fn spawn_watchdog(root: &Path) -> Result<Watchdog, Error> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(WATCHDOG_SCRIPT)
        .arg("carillon-pg-watchdog")
        .arg(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::io("start the watchdog shell", e))?;
    let stdin = child.stdin.take().ok_or_else(|| Error::io("watchdog stdin", std::io::ErrorKind::BrokenPipe.into()))?;
    Ok(Watchdog { child, stdin })
}

/// Creates a new directory under the temp directory, private to the server's user.
fn create_private_dir(owner: Option<Identity>) -> Result<PathBuf, Error> {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or_default();
    let n = SERVER_COUNTER.fetch_add(1, Ordering::Relaxed);
    let root = std::env::temp_dir().join(format!("carillon-pg-{}-{n}-{nanos:09}", std::process::id()));
    fs::create_dir(&root).map_err(|e| Error::io(format!("create {}", root.display()), e))?;
    let result = fs::set_permissions(&root, fs::Permissions::from_mode(0o700))
        .and_then(|()| owner.map_or(Ok(()), |o| std::os::unix::fs::chown(&root, Some(o.uid), Some(o.gid))));
    if let Err(e) = result {
        let _ = fs::remove_dir_all(&root);
        return Err(Error::io(format!("make {} private to the server user", root.display()), e));
    }
    Ok(root)
}

fn write_owned(path: &Path, contents: &[u8], owner: Option<Identity>) -> Result<(), Error> {
    fs::write(path, contents)
        .and_then(|()| fs::set_permissions(path, fs::Permissions::from_mode(0o600)))
        .and_then(|()| owner.map_or(Ok(()), |o| std::os::unix::fs::chown(path, Some(o.uid), Some(o.gid))))
        .map_err(|e| Error::io(format!("write {}", path.display()), e))
}

/// A port that was free a moment ago: bind port 0 and let it go. Another process may take it before the server
/// binds it; [`PostgresServer::start_on_free_port`] retries then.
fn free_port() -> Result<u16, Error> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| Error::io("bind 127.0.0.1:0", e))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| Error::io("read the bound port", e))
}

/// 24 random bytes from the kernel, hex-encoded: the superuser's password, so other local users cannot log in
/// to a test's server over loopback.
fn random_password() -> Result<String, Error> {
    let mut bytes = [0u8; 24];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| Error::io("read /dev/urandom", e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
