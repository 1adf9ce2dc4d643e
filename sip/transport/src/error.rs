//! The crate's one error type.

use std::fmt;
use std::io;

use carillon_sip::target::Transport;

use crate::layer::ConnectionId;

/// Why a send, a bind, a lookup or a certificate load failed.
#[non_exhaustive]
#[derive(Debug)]
pub enum Error {
    /// A socket operation failed (connection refused, timed out, address in use, ...).
    Io(io::Error),
    /// The TLS handshake or configuration failed.
    Tls(rustls::Error),
    /// A certificate or private key file could not be used.
    Certificate(String),
    /// The message cannot be sent as it is (no Via to route a response by, a malformed header).
    Message(carillon_sip::Error),
    /// The message names a destination this layer cannot compute (a response whose Via names a host by domain
    /// and carries no `received`, a non-numeric `maddr`).
    Unroutable(&'static str),
    /// The transport is not one this layer drives, or it was not configured (no UDP socket bound, no TLS client
    /// configuration).
    TransportUnavailable(Transport),
    /// The DNS resolver could not be set up.
    Resolver(String),
    /// The stream connection a message had to go over is closed (or failed while the message was written).
    ConnectionClosed(ConnectionId),
    /// The layer has been shut down.
    ShutDown,
}

impl Error {
    /// Whether the failure is a transport error in the sense of RFC 3261 §8.1.3.1 / RFC 3263 §4.3: the request
    /// should be treated as having got a 503 and the next target tried.
    pub fn is_transport_failure(&self) -> bool {
        matches!(
            self,
            Error::Io(_)
                | Error::Tls(_)
                | Error::Unroutable(_)
                | Error::TransportUnavailable(_)
                | Error::ConnectionClosed(_)
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "transport I/O error: {e}"),
            Error::Tls(e) => write!(f, "TLS error: {e}"),
            Error::Certificate(reason) => write!(f, "unusable certificate: {reason}"),
            Error::Message(e) => write!(f, "message cannot be sent: {e}"),
            Error::Unroutable(reason) => write!(f, "no destination for message: {reason}"),
            Error::TransportUnavailable(t) => write!(f, "transport {t} is not available"),
            Error::Resolver(reason) => write!(f, "DNS resolver setup failed: {reason}"),
            Error::ConnectionClosed(id) => write!(f, "connection {id} is closed"),
            Error::ShutDown => f.write_str("transport layer is shut down"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Tls(e) => Some(e),
            Error::Message(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<rustls::Error> for Error {
    fn from(e: rustls::Error) -> Self {
        Error::Tls(e)
    }
}

impl From<carillon_sip::Error> for Error {
    fn from(e: carillon_sip::Error) -> Self {
        Error::Message(e)
    }
}
