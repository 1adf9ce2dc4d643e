//! The four transaction state machines of RFC 3261 §17 (with the RFC 6026 changes) and transaction matching.
//!
//! # Model
//!
//! Each transaction is a sans-IO state machine in the manner of quinn-proto. Inputs carry the current time:
//! [`ClientInvite::handle_message`] (a response or request already matched to the transaction, see [`key`]),
//! `send_response` (server side, from the TU), `handle_timeout` and `transport_error`. Outputs are polled:
//! `poll_transmit` (octets to send or resend; the driver knows where to), `poll_timeout` (the next deadline,
//! to call `handle_timeout` at) and `poll_event` (what the TU must learn). No transaction reads a clock, so every
//! timer is testable with a virtual one. [`Transactions`] is an optional container that routes messages by key.
//!
//! # State machines
//!
//! Client INVITE (§17.1.1, RFC 6026): *Calling* sends the INVITE and, on unreliable transports, resends it
//! when Timer A fires (T1, doubling without a cap); Timer B (64*T1) or a transport error ends it with a
//! timeout/error to the TU. A provisional response moves it to *Proceeding* (retransmissions stop) and goes to
//! the TU. A 300-699 response goes to the TU, the transaction sends the ACK it builds itself and waits in
//! *Completed* for Timer D, resending that ACK for every retransmitted final response. A 2xx goes to the TU and
//! moves it to *Accepted*, where further 2xx (retransmissions, or other forks) also go to the TU until Timer M
//! (64*T1). *Terminated* is final. A proxy's INVITE client transaction also runs Timer C (reset by provisional
//! responses other than 100): fired in Calling it acts as a 408, fired in Proceeding it tells the TU to CANCEL.
//!
//! Client non-INVITE (§17.1.2): *Trying* sends the request and resends it on Timer E (T1 doubling up to T2);
//! a provisional response moves it to *Proceeding* (Timer E then fires every T2); Timer F (64*T1) ends both with
//! a timeout. A final response goes to the TU and moves it to *Completed*, which absorbs retransmitted responses
//! until Timer K (T4).
//!
//! Server INVITE (§17.2.1, RFC 6026): *Proceeding* passes the INVITE to the TU, sends 100 Trying if the TU
//! has not answered within 200 ms, sends the TU's provisional responses and resends the latest for every
//! retransmitted INVITE. A 300-699 from the TU moves it to *Completed*: the response is resent on Timer G (T1
//! doubling up to T2) and for every retransmitted INVITE, until the ACK arrives (*Confirmed*, absorbing ACKs
//! until Timer I, T4) or Timer H (64*T1) gives up with a timeout. A 2xx from the TU moves it to *Accepted*: the
//! transaction absorbs retransmitted INVITEs, sends every 2xx the TU passes (the TU retransmits its 2xx), hands
//! ACKs to the TU, and ends on Timer L (64*T1).
//!
//! Server non-INVITE (§17.2.2): *Trying* passes the request to the TU and absorbs retransmissions; a provisional
//! from the TU moves it to *Proceeding* (retransmitted requests get the latest provisional again); a final
//! response moves it to *Completed*, which resends that response for each retransmitted request until Timer J
//! (64*T1).
//!
//! On reliable transports ([`Reliability::Reliable`]) Timers A, E and G never run and Timers D, I, J and K are
//! zero: the transaction ends as soon as it enters the state they guard.
//!
//! # RFC 6026
//!
//! RFC 3261 destroyed the INVITE transactions as soon as a 2xx passed through them, so a retransmitted INVITE
//! looked like a new request and a retransmitted 2xx at a proxy had no transaction to match. RFC 6026 adds the
//! *Accepted* state on both sides (Timers L and M), keeps the 2xx retransmissions the TU's business, passes ACKs
//! received in the server's Accepted state to the TU, and keeps the INVITE server transaction in Proceeding and
//! Accepted when a send fails (the TU is told; it may still answer over another connection). Its other change, that
//! a stateful proxy no longer forwards responses matching no transaction, belongs to the proxy, not here.
//!
//! # Why the client INVITE transaction builds the non-2xx ACK
//!
//! An ACK for a 300-699 response acknowledges one hop's final response (§17.1.1.3): it carries the INVITE's
//! branch and only its top Via, it goes where the INVITE went, and it must be resent each time that final
//! response is retransmitted during Timer D, possibly long after the TU has moved on. Only the transaction has the
//! INVITE and the timer, and no TU decision is involved, so building it here keeps every TU (UAC, proxy, B2BUA)
//! from repeating the same rules. An ACK for a 2xx is different: it is end-to-end, belongs to the dialog, and is
//! built by the TU (§13.2.2.4).

mod client;
pub mod key;
mod machine;
mod merge;
mod server;
mod table;
mod timer;

use bytes::Bytes;

use crate::message::Message;

pub use client::{ClientInvite, ClientNonInvite, build_ack, build_cancel};
pub use key::TransactionKey;
pub use merge::MergeDetector;
pub use server::{ServerInvite, ServerNonInvite};
pub use table::{Routed, Transaction, Transactions};
pub use timer::{Reliability, Timer, TimerConfig};

/// Octets a transaction asks the driver to send.
///
/// Client transactions send to the destination the driver chose for the request (the ACK for a non-2xx goes to
/// the same place, RFC 3261 §17.1.1.3); server transactions send responses per RFC 3261 §18.2.2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The message as written on the wire.
    pub contents: Bytes,
    /// Whether the transaction sent these octets before (a retransmission on a timer, or in answer to a
    /// retransmitted message).
    pub retransmission: bool,
}

/// What a transaction tells its TU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Server side: the request that created the transaction, for the TU to act on. Retransmissions are
    /// absorbed and never reported.
    Request(Message),
    /// Server INVITE side (RFC 6026): an ACK received in the Accepted state, which belongs to the TU (RFC 2543
    /// peers send the ACK for a 2xx with the INVITE's branch).
    Ack(Message),
    /// Client side: a response for the TU (provisional, the first final, and every 2xx in Accepted).
    Response(Message),
    /// A timer ran out: Timer B or F (treat as 408 Request Timeout), Timer H (the ACK never came), Timer C
    /// (proxy: CANCEL the branch if it had a provisional response, else act as on 408) or the CANCEL wait.
    Timeout(Timer),
    /// The driver reported that a message of this transaction could not be sent.
    TransportError,
    /// The transaction reached Terminated; always the last event.
    Terminated,
}

/// The state a transaction is in, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Client INVITE: the INVITE was sent, no response yet.
    Calling,
    /// Non-INVITE: the request was sent (client) or received (server), no response yet.
    Trying,
    /// A provisional response was received (client) or sent (server INVITE: no final response yet).
    Proceeding,
    /// A final non-2xx response (any final response, for non-INVITE) was received or sent.
    Completed,
    /// Server INVITE: the ACK for a non-2xx final response arrived.
    Confirmed,
    /// RFC 6026: a 2xx was received (client) or sent (server).
    Accepted,
    /// The transaction is over.
    Terminated,
}
