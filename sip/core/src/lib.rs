//! Carillon's SIP protocol library.
//!
//! Everything here is sans-IO: functions take bytes and time in and hand messages, decisions and timer requests
//! out. Nothing in this crate opens a socket, reads a clock or spawns a task; the transport crate
//! (`carillon-sip-transport`) and each service's driver do that. This keeps every protocol rule unit-testable with a
//! virtual clock.
//!
//! Map of the crate:
//! - [`message`]: a parsed request or response over one `Bytes` buffer, headers kept as ranges; editing and
//!   serialisation (untouched parts are written back byte for byte).
//! - [`headers`]: typed views of header values, parsed on demand and borrowing from the message.
//! - [`uri`]: `sip:`, `sips:` and `tel:` URIs, escaping and RFC 3261 §19.1.4 comparison.
//! - [`framing`]: where one message ends in a UDP datagram or a TCP/TLS byte stream, and the size limits.
//! - [`error`]: the one error type of the crate and its map to the response an element must send.
//! - [`validate`]: the checks a UAS, proxy or registrar applies to a parsed request before acting on it.
//! - [`auth`]: digest authentication (RFC 2617, RFC 7616, RFC 8760), server and client side.
//! - [`transaction`]: the four RFC 3261 §17 transaction state machines (with RFC 6026) and their matching rules.
//! - [`target`]: RFC 3263 server location decisions (NAPTR/SRV/A ordering and failover), fed by a resolver elsewhere.

pub mod auth;
pub mod error;
pub mod framing;
pub mod headers;
pub mod message;
pub mod target;
pub mod text;
pub mod transaction;
pub mod uri;
pub mod validate;

pub use error::{Disposition, Error};
pub use framing::Limits;
pub use message::{HeaderName, Message, Method, StatusCode};
pub use uri::Uri;
