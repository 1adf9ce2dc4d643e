//! Carillon's test harness: starts the real components a test talks to, privately and on loopback, and stops them
//! when the test is done.
//!
//! - [`PostgresServer`]: a private PostgreSQL server (below).
//! - [`sipp`]: SIPp running a built-in or bundled scenario (calls, REGISTER with digest, a challenging registrar).
//! - [`dnsmasq`]: a name server for the test's own zone (SRV, NAPTR, host records), for RFC 3263 lookups.
//! - [`baresip`]: headless baresip phones that register, call, answer, send DTMF, transfer and record, driven
//!   over their control socket.
//! - [`linphone`]: a linphonec phone driven through a FIFO, recording what it hears.
//! - [`audio`]: test tones as WAV files, and the analysis proving a recording carries them.
//!
//! Each peer runs in its own [`ScratchDir`], binds 127.0.0.1 only, on free ports, and is stopped by PID when
//! dropped; every wait is bounded. A missing program is an [`Error::MissingProgram`] naming the Debian package
//! (`scripts/install-test-deps` installs them all).
//!
//! # PostgreSQL
//!
//! [`PostgresServer::start`] gives a test its own PostgreSQL 15 server:
//!
//! - `initdb` into a fresh directory under the system temp directory, with a superuser role `carillon` whose
//!   random password is in the connection string, and a database `carillon`;
//! - listening only on `127.0.0.1`, on a free ephemeral port (found by binding port 0; a lost race for the port is
//!   retried with another), its unix socket inside the private directory, so it never collides with another server
//!   on the machine;
//! - `fsync`, `synchronous_commit` and `full_page_writes` off: a test server's data need not survive a crash, and
//!   commits are then as fast as memory;
//! - run as the `postgres` system user when the test runs as root (PostgreSQL refuses to run as root), otherwise as
//!   the current user.
//!
//! [`PostgresServer::url`] is the connection string. Dropping the server stops it by PID and removes its directory.
//! [`PostgresServer::stop`] and [`PostgresServer::start_again`] take the same server down and up again on the same
//! port and data, for tests of database outages.
//!
//! Every wait is bounded: the server must be ready within [`STARTUP_TIMEOUT`] (the error carries the tail of the
//! server log), a stop escalates from fast shutdown (SIGINT) to SIGKILL after [`SHUTDOWN_TIMEOUT`].
//!
//! One server per test binary is the cheap way to test (a start costs one to two seconds, most of it `initdb`):
//! keep it in a `static OnceLock` and give each test its own database with [`PostgresServer::fresh_database`]. A
//! static is never dropped, so each server also starts a small watchdog shell that holds a pipe from the test
//! process: when the test process exits, however it exits, the pipe closes and the watchdog stops the server and
//! removes its directory.
//!
//! The binaries come from `/usr/lib/postgresql/15/bin` (Debian package `postgresql-15`), or from the directory in
//! the environment variable `CARILLON_PG_BINDIR`.
//!
//! ```no_run
//! use std::sync::OnceLock;
//! use carillon_testkit::PostgresServer;
//!
//! fn server() -> &'static PostgresServer {
//!     static SERVER: OnceLock<PostgresServer> = OnceLock::new();
//!     SERVER.get_or_init(|| PostgresServer::start().expect("start PostgreSQL"))
//! }
//!
//! let url = server().fresh_database().expect("create a database");
//! // connect to `url` with any PostgreSQL client
//! ```

pub mod audio;
pub mod baresip;
pub mod dnsmasq;
mod error;
pub mod linphone;
mod ports;
mod postgres;
mod process;
mod scratch;
pub mod sipp;

pub use error::Error;
pub use postgres::{PostgresServer, SHUTDOWN_TIMEOUT, STARTUP_TIMEOUT};
pub use scratch::{KEEP_ENV, ScratchDir};
