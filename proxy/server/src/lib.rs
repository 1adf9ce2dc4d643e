//! Carillon's SIP proxy/registrar service: the driver that puts the sans-IO crates on the network.
//!
//! This crate is the only place in the proxy that uses tokio, sockets, clocks, randomness and the database.
//! Everything it decides is decided elsewhere and only called here:
//!
//! - `carillon-sip`: messages, validation, digest authentication, the transaction state machines;
//! - `carillon-sip-transport`: the UDP/TCP/TLS sockets and RFC 3263 DNS;
//! - `carillon-registrar`: REGISTER decisions and the in-memory bindings;
//! - `carillon-proxy-core`: the RFC 3261 §16 stateful proxy;
//! - `carillon-db`: credentials, the dial plan, registrations, nodes and call records in PostgreSQL.
//!
//! # Shape
//!
//! [`Server::start`] connects to PostgreSQL, refuses a schema this build does not know, loads the unexpired
//! registrations (warm start), binds the listeners and records the node. [`Server::run`] runs the engine: one
//! task owning every state machine, fed by the transport's events, the completions of the database and DNS work
//! it spawned, and the earliest deadline of the proxy core and the transactions. Sends go through sender tasks,
//! database writes through one bounded queue drained by one task (bindings are served from memory; an outage of
//! the database delays the writes, never a registration). [`run`] is both, for `main` and for tests that run
//! the service in-process.
//!
//! # Requests
//!
//! - REGISTER for the served domain: digest challenge (401, SHA-256 and MD5, qop=auth, stateless nonces), the
//!   line's credentials looked up by (username, realm); a line may register only `sip:<line username>@<domain>`;
//!   then `Registrar::register`, whose binding changes are written through.
//! - Everything else goes to the proxy core. Requests from the served domain that start a dialog (INVITE, and
//!   MESSAGE, SUBSCRIBE, REFER outside a dialog) are challenged with 407 first, except emergency calls from the
//!   address of a registered phone. Where a request goes is decided in `routing` (sans-IO) from what the
//!   engine looks up per call: emergency numbers go to their gateway; an extension or name alias reaches the
//!   registered contacts of the user's lines, with the user's forwarding (unconditional, do-not-disturb, busy,
//!   no answer, sequential ringing); an outside number goes through the trunks of its route by least cost with
//!   failover; the caller's class must allow the call (403 with a reason otherwise). Unknown users get 404, known
//!   users without contacts 480. Other domains are reached by RFC 3263, or answered 302 when configured for
//!   redirection. A request neither from nor to the served domain is refused (403, no open relay).
//! - OPTIONS to the proxy (no user part) is answered 200 by the core: the health check.
//! - Each INVITE leaves a call record: at once when unanswered, at the BYE when answered.
//!
//! See `docs/proxy.md` for the operator's view.

mod config;
mod engine;
mod error;
mod records;
mod routing;
mod service;
mod store;
mod tls;

pub use config::{
    AuthConfig, Config, DatabaseConfig, DnsConfig, ListenAddress, LogConfig, NodeConfig, NumberPlanConfig,
    RegistrarConfig, RoutingConfig, SYSTEM_CA_BUNDLE, ShutdownConfig, SipConfig, TlsConfig,
};
pub use error::Error;
pub use service::{Server, run};
pub use tls::TlsFiles;
