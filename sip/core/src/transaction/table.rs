//! [`Transaction`], one of the four machines behind one interface, and [`Transactions`], a small sans-IO
//! container that routes received messages to them by key.
//!
//! The container is for drivers that want nothing more: a user agent, a test, a registrar. It scans every
//! transaction for timers, which is fine for thousands of transactions; an element with more keeps its own
//! tables (and timer wheel) over [`Transaction`] values and [`TransactionKey`]s.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::client::{ClientInvite, ClientNonInvite};
use super::key::TransactionKey;
use super::server::{ServerInvite, ServerNonInvite};
use super::timer::{Reliability, TimerConfig};
use super::{Event, State, Transmit};
use crate::error::Error;
use crate::message::{Message, Method};

/// Any of the four transaction state machines. Each is boxed at its own size: the kinds differ a lot in size, and
/// an element keeps tens of thousands of the small ones (answered non-INVITE server transactions).
#[derive(Debug)]
pub enum Transaction {
    /// RFC 3261 §17.1.1.
    ClientInvite(Box<ClientInvite>),
    /// RFC 3261 §17.1.2.
    ClientNonInvite(Box<ClientNonInvite>),
    /// RFC 3261 §17.2.1.
    ServerInvite(Box<ServerInvite>),
    /// RFC 3261 §17.2.2.
    ServerNonInvite(Box<ServerNonInvite>),
}

macro_rules! each {
    ($self:expr, $t:ident => $body:expr) => {
        match $self {
            Transaction::ClientInvite($t) => $body,
            Transaction::ClientNonInvite($t) => $body,
            Transaction::ServerInvite($t) => $body,
            Transaction::ServerNonInvite($t) => $body,
        }
    };
}

impl Transaction {
    /// The client transaction for sending `request`: INVITE or non-INVITE by its method. An ACK has no
    /// transaction ([`Error::NotApplicable`]).
    pub fn client(
        now: Instant,
        request: Message,
        timers: &TimerConfig,
        reliability: Reliability,
    ) -> Result<Transaction, Error> {
        Transaction::client_with_response_timeout(now, request, timers, reliability, None)
    }

    /// [`Transaction::client`] for a next hop that must answer, at least provisionally, within
    /// `response_timeout` (see [`ClientInvite::with_response_timeout`], [`ClientNonInvite::with_response_timeout`]).
    pub fn client_with_response_timeout(
        now: Instant,
        request: Message,
        timers: &TimerConfig,
        reliability: Reliability,
        response_timeout: Option<Duration>,
    ) -> Result<Transaction, Error> {
        if request.method() == Some(&Method::Invite) {
            ClientInvite::with_response_timeout(now, request, timers, reliability, response_timeout)
                .map(|t| Transaction::ClientInvite(Box::new(t)))
        } else {
            ClientNonInvite::with_response_timeout(now, request, timers, reliability, response_timeout)
                .map(|t| Transaction::ClientNonInvite(Box::new(t)))
        }
    }

    /// The server transaction for a received `request`: INVITE or non-INVITE by its method. An ACK has no
    /// transaction ([`Error::NotApplicable`]).
    pub fn server(
        now: Instant,
        request: Message,
        timers: &TimerConfig,
        reliability: Reliability,
    ) -> Result<Transaction, Error> {
        if request.method() == Some(&Method::Invite) {
            ServerInvite::new(now, request, timers, reliability).map(|t| Transaction::ServerInvite(Box::new(t)))
        } else {
            ServerNonInvite::new(now, request, timers, reliability).map(|t| Transaction::ServerNonInvite(Box::new(t)))
        }
    }

    /// The key messages are matched with.
    pub fn key(&self) -> &TransactionKey {
        each!(self, t => t.key())
    }

    /// The request the transaction sends (client), or the request it was created for while it is unanswered
    /// (server).
    pub fn request(&self) -> Option<&Message> {
        match self {
            Transaction::ClientInvite(t) => Some(t.request()),
            Transaction::ClientNonInvite(t) => Some(t.request()),
            Transaction::ServerInvite(t) => t.request(),
            Transaction::ServerNonInvite(t) => t.request(),
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        each!(self, t => t.state())
    }

    /// Whether the transaction is over (its remaining output may still be polled).
    pub fn is_terminated(&self) -> bool {
        each!(self, t => t.is_terminated())
    }

    /// A message matched to this transaction.
    pub fn handle_message(&mut self, now: Instant, message: Message) {
        each!(self, t => t.handle_message(now, message))
    }

    /// A response from the TU; client transactions refuse it. Returns whether it was passed to the transport.
    pub fn send_response(&mut self, now: Instant, response: Message) -> bool {
        match self {
            Transaction::ServerInvite(t) => t.send_response(now, response),
            Transaction::ServerNonInvite(t) => t.send_response(now, response),
            Transaction::ClientInvite(_) | Transaction::ClientNonInvite(_) => false,
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        each!(self, t => t.handle_timeout(now))
    }

    /// The driver could not send a message of this transaction.
    pub fn transport_error(&mut self, now: Instant) {
        each!(self, t => t.transport_error(now))
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        each!(self, t => t.poll_transmit())
    }

    /// When `handle_timeout` must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        each!(self, t => t.poll_timeout())
    }

    /// The next event for the TU.
    pub fn poll_event(&mut self) -> Option<Event> {
        each!(self, t => t.poll_event())
    }

    fn has_output(&self) -> bool {
        each!(self, t => t.has_output())
    }
}

/// Where [`Transactions::handle_message`] put a received message.
#[derive(Debug)]
pub enum Routed {
    /// Handed to the transaction with this key.
    Matched(TransactionKey),
    /// No transaction matches; the message is given back. A new request wants a server transaction
    /// ([`Transactions::start_server`]) or a stateless answer; a response or an ACK for a 2xx belongs to the
    /// TU's dialogs (a stateful proxy drops a response that matches no transaction, RFC 6026).
    Unmatched(Message),
}

/// A set of transactions keyed by [`TransactionKey`], with the same poll interface as one transaction.
///
/// Inputs: [`Transactions::start_client`], [`Transactions::start_server`], [`Transactions::handle_message`],
/// [`Transactions::send_response`], [`Transactions::transport_error`], [`Transactions::handle_timeout`].
/// Outputs, each tagged with its transaction's key: [`Transactions::poll_transmit`],
/// [`Transactions::poll_event`], [`Transactions::poll_timeout`]. A transaction is dropped once it has
/// terminated and both its transmits and its events (the last is [`Event::Terminated`]) have been polled.
#[derive(Debug, Default)]
pub struct Transactions {
    timers: TimerConfig,
    entries: HashMap<TransactionKey, Transaction>,
    /// Transactions that may have transmits to poll, oldest first; keys may repeat or be stale.
    transmit_ready: VecDeque<TransactionKey>,
    /// Transactions that may have events to poll.
    event_ready: VecDeque<TransactionKey>,
    /// Every transaction's next deadline, ordered, so finding the earliest and the due ones does not walk the
    /// whole table: a UDP non-INVITE transaction lives 32 s after its answer, so a busy registrar holds tens of
    /// thousands of them and asks for the next deadline after every message.
    schedule: Schedule,
}

/// Deadlines ordered by time (ties by insertion), with each transaction's current slot.
#[derive(Debug, Default)]
struct Schedule {
    by_time: BTreeMap<(Instant, u64), TransactionKey>,
    slot_of: HashMap<TransactionKey, (Instant, u64)>,
    next_sequence: u64,
}

impl Schedule {
    /// Records `deadline` as the next one of `key` (none: it has no timer running).
    fn set(&mut self, key: &TransactionKey, deadline: Option<Instant>) {
        let current = self.slot_of.get(key).copied();
        if current.map(|(at, _)| at) == deadline {
            return;
        }
        if let Some(slot) = current {
            self.by_time.remove(&slot);
            self.slot_of.remove(key);
        }
        if let Some(at) = deadline {
            let slot = (at, self.next_sequence);
            self.next_sequence += 1;
            self.by_time.insert(slot, key.clone());
            self.slot_of.insert(key.clone(), slot);
        }
    }

    fn earliest(&self) -> Option<Instant> {
        self.by_time.keys().next().map(|&(at, _)| at)
    }

    /// The transactions whose deadline is at or before `now`, earliest first.
    fn due(&self, now: Instant) -> Vec<TransactionKey> {
        self.by_time.range(..=(now, u64::MAX)).map(|(_, key)| key.clone()).collect()
    }
}

impl Transactions {
    /// An empty set whose transactions use `timers`.
    pub fn new(timers: TimerConfig) -> Transactions {
        Transactions { timers, ..Transactions::default() }
    }

    /// Starts a client transaction sending `request`. Fails for an ACK, a request without an RFC 3261 branch,
    /// or a branch already in use by another client transaction.
    pub fn start_client(
        &mut self,
        now: Instant,
        request: Message,
        reliability: Reliability,
    ) -> Result<TransactionKey, Error> {
        self.start_client_with_response_timeout(now, request, reliability, None)
    }

    /// [`Transactions::start_client`] for a next hop that must answer, at least provisionally, within
    /// `response_timeout`: without any response by then the transaction times out (Timer B or F) instead of
    /// after 64*T1. See [`Transaction::client_with_response_timeout`].
    pub fn start_client_with_response_timeout(
        &mut self,
        now: Instant,
        request: Message,
        reliability: Reliability,
        response_timeout: Option<Duration>,
    ) -> Result<TransactionKey, Error> {
        let transaction =
            Transaction::client_with_response_timeout(now, request, &self.timers, reliability, response_timeout)?;
        let key = transaction.key().clone();
        if self.entries.contains_key(&key) {
            return Err(Error::DuplicateTransaction);
        }
        self.entries.insert(key.clone(), transaction);
        self.mark_ready(&key);
        Ok(key)
    }

    /// Starts a server transaction for a received `request` that [`Transactions::handle_message`] did not match.
    /// If a transaction with its key exists after all, the request is handed to it as a retransmission. Fails
    /// for an ACK or a request without the headers its key needs.
    pub fn start_server(
        &mut self,
        now: Instant,
        request: Message,
        reliability: Reliability,
    ) -> Result<TransactionKey, Error> {
        let key = TransactionKey::for_request(&request)?;
        if let Some(existing) = self.entries.get_mut(&key) {
            existing.handle_message(now, request);
        } else {
            let transaction = Transaction::server(now, request, &self.timers, reliability)?;
            self.entries.insert(key.clone(), transaction);
        }
        self.mark_ready(&key);
        Ok(key)
    }

    /// Routes a received message to its transaction: responses by [`TransactionKey::for_response`], requests
    /// (ACK included) by [`TransactionKey::for_request`].
    pub fn handle_message(&mut self, now: Instant, message: Message) -> Routed {
        let key = if message.is_request() {
            TransactionKey::for_request(&message)
        } else {
            TransactionKey::for_response(&message)
        };
        let Ok(key) = key else { return Routed::Unmatched(message) };
        let Some(transaction) = self.entries.get_mut(&key) else { return Routed::Unmatched(message) };
        transaction.handle_message(now, message);
        self.mark_ready(&key);
        Routed::Matched(key)
    }

    /// A response from the TU for the server transaction `key`. Returns whether it was passed to the transport
    /// (false also when there is no such transaction).
    pub fn send_response(&mut self, now: Instant, key: &TransactionKey, response: Message) -> bool {
        let Some(transaction) = self.entries.get_mut(key) else { return false };
        let sent = transaction.send_response(now, response);
        self.mark_ready(key);
        sent
    }

    /// A final response for the non-INVITE server transaction `key`, sent as a stateless UAS sends it
    /// ([`ServerNonInvite::send_final_response_and_end`]): the transaction ends without keeping the response, and
    /// retransmissions of the request start new transactions. Returns whether it was passed to the transport
    /// (false for an INVITE transaction, a provisional response, or no such transaction).
    pub fn send_final_response_and_end(&mut self, now: Instant, key: &TransactionKey, response: Message) -> bool {
        let Some(Transaction::ServerNonInvite(transaction)) = self.entries.get_mut(key) else { return false };
        let sent = transaction.send_final_response_and_end(now, response);
        self.mark_ready(key);
        sent
    }

    /// The driver could not send a message of transaction `key`.
    pub fn transport_error(&mut self, now: Instant, key: &TransactionKey) {
        if let Some(transaction) = self.entries.get_mut(key) {
            transaction.transport_error(now);
            self.mark_ready(key);
        }
    }

    /// Fires every timer due at `now`, in every transaction.
    pub fn handle_timeout(&mut self, now: Instant) {
        for key in self.schedule.due(now) {
            if let Some(transaction) = self.entries.get_mut(&key) {
                transaction.handle_timeout(now);
            }
            self.mark_ready(&key);
        }
    }

    /// The earliest deadline of any transaction.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.schedule.earliest()
    }

    /// The next message to send, and the transaction it belongs to.
    pub fn poll_transmit(&mut self) -> Option<(TransactionKey, Transmit)> {
        poll_ready(&mut self.entries, &mut self.schedule, &mut self.transmit_ready, Transaction::poll_transmit)
    }

    /// The next event for the TU, and the transaction it comes from.
    pub fn poll_event(&mut self) -> Option<(TransactionKey, Event)> {
        poll_ready(&mut self.entries, &mut self.schedule, &mut self.event_ready, Transaction::poll_event)
    }

    /// The transaction with this key.
    pub fn get(&self, key: &TransactionKey) -> Option<&Transaction> {
        self.entries.get(key)
    }

    /// The transaction with this key, for inputs the container has no method for (such as
    /// [`ClientInvite::cancel_sent`]). Poll its output through the container, which only looks at
    /// transactions it touched: after changing one here, call [`Transactions::touch`].
    pub fn get_mut(&mut self, key: &TransactionKey) -> Option<&mut Transaction> {
        self.entries.get_mut(key)
    }

    /// Tells the container that transaction `key` may have new output (after [`Transactions::get_mut`]).
    pub fn touch(&mut self, key: &TransactionKey) {
        if self.entries.contains_key(key) {
            self.mark_ready(key);
        }
    }

    /// Whether a transaction with this key exists (for CANCEL: [`TransactionKey::cancelled_invite`]).
    pub fn contains(&self, key: &TransactionKey) -> bool {
        self.entries.contains_key(key)
    }

    /// How many transactions are held, terminated ones with output still to poll included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no transaction is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every input to a transaction goes through here: its output is queued for polling and its next deadline
    /// is recorded.
    fn mark_ready(&mut self, key: &TransactionKey) {
        self.schedule.set(key, self.entries.get(key).and_then(Transaction::poll_timeout));
        if self.transmit_ready.back() != Some(key) {
            self.transmit_ready.push_back(key.clone());
        }
        if self.event_ready.back() != Some(key) {
            self.event_ready.push_back(key.clone());
        }
    }
}

/// The next output `poll` takes from the transactions queued in `ready`, with its transaction's key. A
/// transaction with nothing left for `poll` leaves the queue, and is dropped if it has terminated and has no
/// other output either.
fn poll_ready<T>(
    entries: &mut HashMap<TransactionKey, Transaction>,
    schedule: &mut Schedule,
    ready: &mut VecDeque<TransactionKey>,
    poll: fn(&mut Transaction) -> Option<T>,
) -> Option<(TransactionKey, T)> {
    while let Some(key) = ready.front() {
        if let Some(output) = entries.get_mut(key).and_then(poll) {
            return Some((key.clone(), output));
        }
        if let Some(key) = ready.pop_front()
            && entries.get(&key).is_some_and(|t| t.is_terminated() && !t.has_output())
        {
            entries.remove(&key);
            schedule.set(&key, None);
        }
    }
    None
}
