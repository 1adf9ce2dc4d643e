//! The service's one error type: why it could not start or had to stop.

use std::fmt;

/// Why the service failed. [`Error::exit_code`] maps it to the process exit status.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is wrong; the message names the field.
    Config(String),
    /// A file the service needs (the nonce secret) could not be read or written.
    Io {
        /// What was being done.
        what: String,
        /// The failure.
        source: std::io::Error,
    },
    /// The database could not be reached or queried at start.
    Database(carillon_db::Error),
    /// The database schema is not the one this build knows.
    Schema {
        /// The newest migration applied to the database, `None` when it is empty.
        found: Option<i64>,
        /// The newest migration this build knows.
        expected: i64,
    },
    /// The listeners could not be bound or the resolver set up.
    Transport(carillon_sip_transport::Error),
    /// The SIP core refused the proxy's configuration.
    Sip(carillon_sip::Error),
}

impl Error {
    /// The exit status for this failure: 2 for a bad configuration, 1 for anything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) => 2,
            _ => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(message) => write!(f, "configuration: {message}"),
            Error::Io { what, source } => write!(f, "{what}: {source}"),
            Error::Database(e) => write!(f, "database: {e}"),
            Error::Schema { found: None, expected } => write!(
                f,
                "the database has no Carillon schema (this build needs version {expected}); run the migrations \
                 (`carillon-proxy --migrate`, or [database] migrate = true)"
            ),
            Error::Schema { found: Some(found), expected } if found < expected => write!(
                f,
                "the database schema is at version {found}, this build needs {expected}; run the migrations \
                 (`carillon-proxy --migrate`, or [database] migrate = true)"
            ),
            Error::Schema { found: Some(found), expected } => write!(
                f,
                "the database schema is at version {found}, newer than this build knows ({expected}); run a newer \
                 carillon-proxy"
            ),
            Error::Transport(e) => write!(f, "SIP transport: {e}"),
            Error::Sip(e) => write!(f, "SIP: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Database(e) => Some(e),
            Error::Transport(e) => Some(e),
            Error::Sip(e) => Some(e),
            Error::Config(_) | Error::Schema { .. } => None,
        }
    }
}

impl From<carillon_db::Error> for Error {
    fn from(e: carillon_db::Error) -> Self {
        Error::Database(e)
    }
}

impl From<carillon_sip_transport::Error> for Error {
    fn from(e: carillon_sip_transport::Error) -> Self {
        Error::Transport(e)
    }
}

impl From<carillon_sip::Error> for Error {
    fn from(e: carillon_sip::Error) -> Self {
        Error::Sip(e)
    }
}
