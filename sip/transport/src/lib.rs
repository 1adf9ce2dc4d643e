//! Carillon's SIP transport driver: the sockets, the timers and DNS that the sans-IO core leaves out.
//!
//! Three parts, each usable alone:
//!
//! - [`TransportLayer`] binds UDP, TCP and TLS (each optional) on tokio and hands every received message up as a
//!   [`TransportEvent`] on one channel. It applies the RFC 3261 §18 transport rules itself: `received`/`rport`
//!   stamping of requests (§18.2.1, RFC 3581), response routing by Via (§18.2.2), moving requests over 1300
//!   octets from UDP to TCP (§18.1.1), connection reuse with an idle timeout, RFC 5626 CRLF keepalive answers,
//!   and the stateless answer to input that cannot be parsed (`Error::disposition` of the core decides: a
//!   malformed request gets a minimal error response built from its raw Via/From/To/Call-ID/CSeq lines, a
//!   malformed response is dropped; an unframeable stream is answered if possible and closed). Nothing received
//!   can make it panic.
//! - [`Resolver`] performs the DNS lookups (NAPTR, SRV, A/AAAA) that [`carillon_sip::target::Resolution`]
//!   decides on, against an explicitly configured name server, and returns the ordered
//!   [`carillon_sip::target::TargetList`] for failover (RFC 3263 §4).
//! - [`tls`]: the server certificate, swappable while the server runs ([`TransportLayer::reload_certificate`],
//!   or polling the files' modification times), and client configurations for `sips:` targets.
//!
//! Failover works with the events: a TCP or TLS target that refuses fails [`TransportLayer::send`] at once; a
//! UDP target that answers with ICMP "port unreachable" is reported as [`TransportEvent::Unreachable`] (Linux,
//! where the socket is asked for its ICMP errors). Either is a transport error for the transaction, which takes
//! the next target of its list (RFC 3261 §8.1.3.1, RFC 3263 §4.3).
//!
//! Not done here: STUN keepalives on UDP (RFC 5626 §4.4.2) are recognised and ignored, not answered; the
//! RFC 3261 §18.1.2 check that a response's sent-by is one this element inserts is left to the transaction user,
//! which knows its sent-by values; SCTP and WebSocket are not driven.
//!
//! Logs go through `tracing`: connection and listener lifecycle at debug/info, per-message detail at trace.

mod error;
mod icmp;
mod layer;
mod resolver;
pub mod tls;
pub mod wire;

pub use error::Error;
pub use layer::{
    ConnectionId, Incoming, Outgoing, Sent, TlsListenConfig, TransportConfig, TransportEvent, TransportLayer,
};
pub use resolver::{NameServer, Resolver, ResolverConfig};
