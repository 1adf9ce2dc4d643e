//! The engine: one task that owns every sans-IO state machine of the service (the transactions, the proxy core,
//! the registrar, the digest replay window) and feeds them the inputs the outside world produces.
//!
//! Inputs come from three places, all multiplexed in [`crate::service`]: the transport's events (messages
//! received, destinations unreachable), completions of the asynchronous work the engine started (database
//! lookups, DNS resolutions, failed sends), and time (the earliest deadline of the proxy core and of the
//! transactions). After each input, [`Engine::flush`] drains every output: transaction transmits go to the sender
//! tasks, transaction events to the proxy core or the registrar, proxy actions to new client transactions, server
//! transactions, lookups and call records. Nothing here blocks: database and DNS work is spawned and comes back as
//! a [`Completion`]; sends are queued to sender tasks, sharded by Call-ID so that the messages of one call leave in
//! order.
//!
//! Where requests go (forwarding, permissions, trunks, emergency numbers, redirection) is decided in
//! [`crate::routing`] and carried out by the child module [`features`].

mod features;

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use carillon_db::LineCredentials;
use carillon_proxy_core::{
    Action, BranchId, ContextId, Flow, Handled, ListenerId, NextHop, Proxy, Reply, Target as ProxyTarget, Targets,
};
use carillon_registrar::{Aor, Authorization, FlowId, NodeId, RegisterContext, Registrar};
use carillon_sip::auth::{
    AuthRequest, Challenger, DigestCredentials, DigestServer, NonceCountWindow, StoredUser, Verdict,
};
use carillon_sip::target::{Attempt, Resolution, Target, TargetList, Transport, UriParts};
use carillon_sip::transaction::{
    Event, Reliability, Routed, State, Timer, Transaction, TransactionKey, Transactions, build_cancel,
};
use carillon_sip::uri::{Host, SipUri, Uri};
use carillon_sip::validate::{Policy, Role};
use carillon_sip::{Error as SipError, HeaderName, Message, Method, StatusCode};
use carillon_sip_transport::{ConnectionId, Incoming, Outgoing, Resolver, TransportEvent, TransportLayer};
use sqlx::PgPool;
use tokio::sync::mpsc;
use tracing::{debug, info, trace, warn};

use crate::records::{Clock, OpenCalls, RecordContext};
use crate::routing::Caller;
use crate::store::{self, Write};

/// Sender tasks; each keeps the order of the messages of the calls hashed to it.
pub(crate) const SENDER_SHARDS: usize = 4;
/// Credentials kept for lines that authenticated, used when the database cannot be asked.
const CREDENTIAL_CACHE: usize = 100_000;
/// How long a request waits for a database lookup (credentials, dial plan).
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);
/// Nonces whose counts the replay window remembers.
const NONCE_WINDOW: usize = 65_536;
/// Bound on one [`Engine::flush`]: each round handles one event or action, and the queues only shrink unless new input
/// arrives; this
/// only guards against a mistake looping.
const MAX_FLUSH_ROUNDS: usize = 100_000;
/// How long the engine keeps what it knows of a response context after its call record, for late 2xx (a little
/// more than the proxy core's linger).
const CONTEXT_KEEP: Duration = Duration::from_secs(40);
/// What a refused relay is told.
const RELAY_DENIED: &str = "Relaying Denied";

/// A message for a sender task.
#[derive(Debug)]
pub(crate) enum SendJob {
    /// A request to a chosen target (over `hop.connection` only, when it names one); a failure is a transport
    /// error for transaction `key`.
    Request { message: Message, hop: Hop, key: Option<TransactionKey> },
    /// A response, over the connection of its request or by its Via.
    Response { message: Message, connection: Option<ConnectionId>, key: Option<TransactionKey> },
}

/// The outcome of work the engine started elsewhere.
#[derive(Debug)]
pub(crate) enum Completion {
    /// The credentials of the user a REGISTER's Authorization names, read when the credential cache was at
    /// `generation`.
    RegisterCredentials { server: TransactionKey, request: Message, lookup: Lookup<LineCredentials>, generation: u64 },
    /// News from the listener for changed lines.
    LineChanges(LineChangeNews),
    /// The lookups behind a proxied request's targets.
    Targets {
        context: ContextId,
        request: Message,
        caller: Option<features::CallerLookup>,
        callee: Option<features::DirectoryLookup>,
    },
    /// The emergency numbers, read again.
    EmergencyRoutes(Result<Vec<carillon_db::EmergencyRoute>, String>),
    /// The RFC 3263 targets of a branch's next hop.
    Resolved { context: ContextId, branch: BranchId, message: Message, targets: Option<TargetList> },
    /// The RFC 3263 targets of an ACK forwarded statelessly.
    ResolvedAck { message: Message, targets: Option<TargetList> },
    /// A send failed.
    SendFailed { key: TransactionKey },
    /// The trunk whose challenge of a dialog's request is held, read by its name.
    DialogTrunk { pending: Box<features::DialogChallenge>, lookup: Lookup<carillon_db::Trunk> },
}

/// A line's credentials as cached, with the listener connection they were read under.
#[derive(Debug)]
struct CachedLine {
    line: LineCredentials,
    epoch: u64,
}

/// What the listener for changed lines ([`line_change_loop`]) reports.
#[derive(Debug)]
pub(crate) enum LineChangeNews {
    /// Listening: from now on every change is announced.
    Listening,
    /// Not listening any more: changes may go unannounced.
    Lost,
    /// A line (or every line) changed.
    Changed(carillon_db::LineChange),
}

/// A database lookup's result: `Err` when the database could not answer.
pub(crate) type Lookup<T> = Result<Option<T>, String>;

/// What the engine is configured with.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) domain: String,
    pub(crate) node: NodeId,
    /// Host names and addresses that mean this proxy at any port (its domain aside): the public address.
    pub(crate) local_hosts: Vec<String>,
    /// The listeners in [`ListenerId`] order: transport and bound address.
    pub(crate) listeners: Vec<(Transport, SocketAddr)>,
    pub(crate) registrar: carillon_registrar::Config,
    pub(crate) digest: DigestServer,
    /// Nonces older than this are stale; their counts need not be remembered.
    pub(crate) nonce_lifetime: Duration,
    pub(crate) transports: Vec<Transport>,
    /// Where requests go.
    pub(crate) routing: std::sync::Arc<crate::routing::Policy>,
    /// How often the emergency numbers are read again.
    pub(crate) emergency_refresh: Duration,
}

/// What the engine drives.
#[derive(Debug)]
pub(crate) struct Io {
    pub(crate) resolver: Resolver,
    pub(crate) pool: PgPool,
    pub(crate) writes: mpsc::Sender<Write>,
    pub(crate) completions: mpsc::UnboundedSender<Completion>,
    pub(crate) senders: Vec<mpsc::UnboundedSender<SendJob>>,
    /// For keeping open the connections registrations were made over.
    pub(crate) transport: TransportLayer,
}

/// A server transaction's origin: where its request came from and how to answer.
#[derive(Debug, Clone)]
struct Origin {
    listener: ListenerId,
    source: SocketAddr,
    local: SocketAddr,
    transport: Transport,
    connection: Option<ConnectionId>,
}

impl Origin {
    /// The flow the request came over, as the proxy core takes it.
    fn flow(&self) -> Flow {
        Flow { listener: self.listener, remote: self.source, connection: self.connection.map(ConnectionId::as_u64) }
    }
}

#[derive(Debug)]
struct ServerEntry {
    origin: Origin,
    /// The sender shard of its Call-ID ([`shard_of`]), so that one call's messages leave in order.
    shard: usize,
}

#[derive(Debug, Clone, Copy)]
enum Purpose {
    Branch(ContextId, BranchId),
    Cancel,
}

/// Where a client transaction's messages (or a request forwarded statelessly) go.
#[derive(Debug, Clone)]
pub(crate) struct Hop {
    pub(crate) target: Target,
    /// For TLS: the name the server must prove.
    pub(crate) server_name: Option<String>,
    /// The connection to send over and no other: the flow of a phone on a stream transport (RFC 5626 §5.3).
    pub(crate) connection: Option<ConnectionId>,
    /// Whether the hop is a flow ([`carillon_proxy_core::NextHop::flow`]): when it fails, the flow is gone
    /// ([`Proxy::handle_flow_failure`]).
    pub(crate) flow: bool,
}

impl Hop {
    /// A hop located by RFC 3263.
    fn located(target: Target, server_name: Option<String>) -> Hop {
        Hop { target, server_name, connection: None, flow: false }
    }
}

#[derive(Debug)]
struct ClientEntry {
    purpose: Purpose,
    hop: Hop,
    /// The sender shard of its Call-ID ([`shard_of`]).
    shard: usize,
    /// The RFC 3263 targets of the same next hop not tried yet, in order (RFC 3263 §4.3).
    alternatives: TargetList,
}

#[derive(Debug)]
struct ContextEntry {
    server: TransactionKey,
    origin: Origin,
    /// Whether the request is an INVITE outside a dialog, which is a call and gets a call record (a re-INVITE,
    /// for hold or a codec change, is part of the call it belongs to).
    starts_call: bool,
    /// The line that authenticated the request, for the call record.
    caller_line: Option<String>,
    /// When the call record was emitted; the entry goes [`CONTEXT_KEEP`] later.
    done_at: Option<Instant>,
}

/// The engine's state. See the module documentation.
#[derive(Debug)]
pub(crate) struct Engine {
    settings: Settings,
    io: Io,
    proxy: Proxy,
    transactions: Transactions,
    registrar: Registrar,
    nonce_window: NonceCountWindow,
    /// The line of each AOR with bindings, for the rows written through.
    line_ids: HashMap<Aor, i64>,
    /// The last credentials read for each line (by lower-case username): served without asking the database
    /// while `credentials_current` holds, and when the database cannot answer. Boxed: a table slot is then a
    /// pointer, not the whole record, and a campus has a slot per phone.
    credentials: HashMap<Box<str>, Box<CachedLine>>,
    /// Whether the listener for changed lines is connected: a cached line read since it connected (in
    /// `listener_epoch`) is current, since a change would have removed it.
    credentials_current: bool,
    /// Counts the listener's connections.
    listener_epoch: u64,
    /// Counts the cache's invalidations: a lookup read before one must not put what it read into the cache.
    credentials_generation: u64,
    servers: HashMap<TransactionKey, ServerEntry>,
    clients: HashMap<TransactionKey, ClientEntry>,
    contexts: HashMap<ContextId, ContextEntry>,
    /// INVITE branches' client transactions, for CANCEL: the latest of each branch.
    branches: HashMap<(ContextId, BranchId), TransactionKey>,
    /// Client transactions of branches whose request was sent again on a new transaction (to the next RFC 3263
    /// target, or with a trunk's credentials): their remaining events are not the branch's.
    superseded: HashSet<TransactionKey>,
    open_calls: OpenCalls,
    clock: Clock,
    draining: bool,
    features: features::Features,
}

impl Engine {
    pub(crate) fn new(
        settings: Settings,
        io: Io,
        proxy: Proxy,
        transactions: Transactions,
        registrar: Registrar,
    ) -> Self {
        let features = features::Features::new(settings.routing.clone(), settings.emergency_refresh);
        Engine {
            settings,
            io,
            proxy,
            transactions,
            registrar,
            nonce_window: NonceCountWindow::new(NONCE_WINDOW),
            line_ids: HashMap::new(),
            credentials: HashMap::new(),
            credentials_current: false,
            listener_epoch: 0,
            credentials_generation: 0,
            servers: HashMap::new(),
            clients: HashMap::new(),
            contexts: HashMap::new(),
            branches: HashMap::new(),
            superseded: HashSet::new(),
            open_calls: OpenCalls::default(),
            clock: Clock::new(),
            draining: false,
            features,
        }
    }

    /// Remembers the line of an AOR loaded at warm start.
    pub(crate) fn know_line(&mut self, aor: Aor, line_id: i64) {
        self.line_ids.insert(aor, line_id);
    }

    /// The earliest deadline of the proxy core and the transactions.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        match (self.proxy.poll_timeout(), self.transactions.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fires every deadline due at `now`.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        self.proxy.handle_timeout(now);
        self.transactions.handle_timeout(now);
        self.flush(now);
    }

    /// Stops taking new requests: from now on they are answered 503.
    pub(crate) fn start_draining(&mut self) {
        self.draining = true;
    }

    /// Whether nothing is in progress: every transaction only absorbs retransmissions (or is gone), so stopping
    /// now loses no answer.
    pub(crate) fn is_quiescent(&self) -> bool {
        let busy = |key: &TransactionKey| {
            self.transactions
                .get(key)
                .is_some_and(|t| matches!(t.state(), State::Calling | State::Trying | State::Proceeding))
        };
        !self.servers.keys().any(busy) && !self.clients.keys().any(busy)
    }

    /// The periodic housekeeping: expired bindings out of memory and the database, old nonce counts, old context
    /// entries, answered calls whose BYE never came.
    pub(crate) fn housekeeping(&mut self, now: Instant) {
        let epoch = store::since_epoch(SystemTime::now());
        for change in self.registrar.expire(epoch) {
            let b = change.binding();
            debug!(aor = %b.aor, contact = %b.contact, "binding expired");
            self.write(Write::Delete { aor: b.aor.as_str().to_owned(), contact: b.contact.to_string() });
        }
        self.nonce_window.forget_issued_before(epoch.saturating_sub(self.settings.nonce_lifetime));
        self.contexts.retain(|_, c| c.done_at.is_none_or(|at| now.saturating_duration_since(at) < CONTEXT_KEEP));
        for row in self.open_calls.sweep(now, &self.clock) {
            self.write(Write::CallRecord(Box::new(row)));
        }
        self.features_housekeeping(now);
    }

    /// Writes the records of calls still open (the service is stopping).
    pub(crate) fn close_calls(&mut self) {
        for row in self.open_calls.close_all(SystemTime::now(), &self.clock) {
            self.write(Write::CallRecord(Box::new(row)));
        }
    }

    /// How many bindings are held.
    pub(crate) fn binding_count(&self) -> usize {
        self.registrar.bindings().len()
    }

    /// The registrar's bindings.
    pub(crate) fn bindings(&self) -> &carillon_registrar::Bindings {
        self.registrar.bindings()
    }

    /// Loads bindings at warm start; removals go to the database.
    pub(crate) fn load_bindings(&mut self, bindings: Vec<carillon_registrar::Binding>) {
        let epoch = store::since_epoch(SystemTime::now());
        for change in self.registrar.load(epoch, bindings) {
            let b = change.binding();
            self.write(Write::Delete { aor: b.aor.as_str().to_owned(), contact: b.contact.to_string() });
        }
    }

    pub(crate) fn handle_transport_event(&mut self, now: Instant, event: TransportEvent) {
        match event {
            TransportEvent::Incoming(incoming) => self.handle_incoming(now, incoming),
            TransportEvent::Unreachable { transport, remote, error } => {
                debug!(%transport, %remote, %error, "destination unreachable");
                let failed: Vec<TransactionKey> = self
                    .clients
                    .iter()
                    .filter(|(_, c)| c.hop.target.addr == remote && c.hop.target.transport == transport)
                    .map(|(k, _)| k.clone())
                    .collect();
                for key in failed {
                    self.transactions.transport_error(now, &key);
                }
            }
        }
        self.flush(now);
    }

    pub(crate) fn handle_completion(&mut self, now: Instant, completion: Completion) {
        match completion {
            Completion::RegisterCredentials { server, request, lookup, generation } => {
                self.finish_register(now, &server, &request, lookup, generation);
            }
            Completion::LineChanges(news) => self.line_changes(news),
            Completion::Targets { context, request, caller, callee } => {
                self.finish_targets(now, context, &request, caller, callee);
            }
            completion @ (Completion::Resolved { .. } | Completion::ResolvedAck { .. }) => {
                self.handle_completion_inline(now, completion);
            }
            Completion::EmergencyRoutes(routes) => self.emergency_routes_read(now, routes),
            Completion::SendFailed { key } => self.transactions.transport_error(now, &key),
            Completion::DialogTrunk { pending, lookup } => self.dialog_trunk_read(now, *pending, lookup),
        }
        self.flush(now);
    }

    fn handle_incoming(&mut self, now: Instant, incoming: Incoming) {
        let Incoming { message, source, local, transport, connection } = incoming;
        trace!(%source, %transport, start = %message.start_line_text(), "received");
        if !message.is_request() {
            if let Routed::Unmatched(response) = self.transactions.handle_message(now, message) {
                // RFC 6026 §7.3: a stateful proxy drops a response that matches no transaction.
                trace!(status = ?response.status(), %source, "response matching no transaction dropped");
            }
            return;
        }
        let Some(listener) = self.listener_for(transport) else { return };
        let origin = Origin { listener, source, local, transport, connection };
        let method = message.method().cloned();
        let message = match self.transactions.handle_message(now, message) {
            Routed::Matched(key) => {
                trace!(?key, "matched a transaction");
                return;
            }
            Routed::Unmatched(message) => message,
        };
        if method == Some(Method::Ack) {
            // An ACK for a 2xx: end-to-end, no transaction (RFC 3261 §16.11).
            self.proxy_ack(now, message, origin.flow());
            return;
        }
        // While draining, a CANCEL still reaches the INVITE it cancels; anything else new is turned away.
        if self.draining && method != Some(Method::Cancel) {
            let answer = Message::response_to(&message, StatusCode::SERVICE_UNAVAILABLE)
                .to_tag(&format!("{:016x}", rand::random::<u64>()))
                .header("Retry-After", "5")
                .build();
            if let Ok(answer) = answer {
                self.send(&message, SendJob::Response { message: answer, connection, key: None });
            }
            return;
        }
        let shard = shard_of(message.call_id().unwrap_or_default());
        let reliability = Reliability::of_transport(transport.as_str());
        match self.transactions.start_server(now, message, reliability) {
            Ok(key) => {
                self.servers.insert(key, ServerEntry { origin, shard });
            }
            Err(e) => debug!(error = %e, %source, "request without a transaction key dropped"),
        }
    }

    /// Drains every output until none is left. Transmits go first, and again after every event and action:
    /// on reliable transports a transaction terminates as soon as it sends its final message, and its entry
    /// (where the message goes) is dropped with its `Terminated` event.
    pub(crate) fn flush(&mut self, now: Instant) {
        for _ in 0..MAX_FLUSH_ROUNDS {
            while let Some((key, transmit)) = self.transactions.poll_transmit() {
                self.transmit(&key, transmit.contents);
            }
            if let Some((key, event)) = self.transactions.poll_event() {
                self.transaction_event(now, key, event);
            } else if let Some((context, action)) = self.proxy.poll_action() {
                self.action(now, context, action);
            } else {
                return;
            }
        }
        warn!("output still pending after {MAX_FLUSH_ROUNDS} rounds");
    }

    fn transmit(&mut self, key: &TransactionKey, contents: bytes::Bytes) {
        let Ok(message) = Message::parse(contents) else { return };
        if key.is_client() {
            let Some(client) = self.clients.get(key) else { return };
            let job = SendJob::Request { message, hop: client.hop.clone(), key: Some(key.clone()) };
            let shard = client.shard;
            self.send_to_shard(shard, job);
        } else {
            let Some(server) = self.servers.get(key) else { return };
            let shard = server.shard;
            let job = SendJob::Response { message, connection: server.origin.connection, key: Some(key.clone()) };
            self.send_to_shard(shard, job);
        }
    }

    fn transaction_event(&mut self, now: Instant, key: TransactionKey, event: Event) {
        if key.is_client() {
            let Some(client) = self.clients.get(&key) else { return };
            let purpose = client.purpose;
            let terminated = event == Event::Terminated;
            if self.superseded.contains(&key) {
                if terminated {
                    self.superseded.remove(&key);
                    self.clients.remove(&key);
                }
                return;
            }
            if let Purpose::Branch(context, branch) = purpose {
                let over_flow = client.hop.flow;
                if !self.fail_over(now, &key, context, branch, &event)
                    && let Some(event) = self.branch_event(now, &key, context, branch, event)
                {
                    if over_flow && event == Event::TransportError {
                        debug!(%context, %branch, "the flow of a branch is gone");
                        self.proxy.handle_flow_failure(now, context, branch);
                    } else {
                        self.proxy.handle_branch_event(now, context, branch, event);
                    }
                }
                // A branch whose request was sent again runs on a newer transaction by now.
                if terminated && self.branches.get(&(context, branch)) == Some(&key) {
                    self.branches.remove(&(context, branch));
                }
            }
            if terminated {
                self.clients.remove(&key);
            }
            return;
        }
        match event {
            Event::Request(request) => self.dispatch(now, key, request),
            Event::Ack(ack) => {
                if let Some(server) = self.servers.get(&key) {
                    let source = server.origin.flow();
                    self.proxy_ack(now, ack, source);
                }
            }
            Event::Terminated => {
                self.servers.remove(&key);
            }
            Event::TransportError => debug!(?key, "a response could not be sent"),
            Event::Timeout(timer) => debug!(?key, ?timer, "server transaction timed out"),
            Event::Response(_) => {}
        }
    }

    /// A new request, passed up by its server transaction: REGISTER for us goes to the registrar, the rest to the
    /// proxy core.
    fn dispatch(&mut self, now: Instant, key: TransactionKey, request: Message) {
        trace!(?key, "new request");
        let Some(server) = self.servers.get(&key) else { return };
        let origin = server.origin.clone();
        let method = request.method().cloned();
        if method == Some(Method::Register) && self.is_for_us(&request) {
            self.register(now, key, request);
            return;
        }
        if method == Some(Method::Bye)
            && let Ok(call_id) = request.call_id()
            && let Some(row) = self.open_calls.close(call_id, SystemTime::now(), &self.clock)
        {
            self.write(Write::CallRecord(Box::new(row)));
        }
        let starts_call = method == Some(Method::Invite) && request.to().ok().and_then(|to| to.tag()).is_none();
        match self.proxy.handle_request(now, request, origin.flow(), rand::random()) {
            Handled::Context(id) => {
                let entry = ContextEntry { server: key, origin, starts_call, caller_line: None, done_at: None };
                self.contexts.insert(id, entry);
            }
            Handled::Respond(response) => {
                self.respond(now, &key, response);
            }
            // Only ACKs are forwarded statelessly or dropped, and they have no server transaction.
            Handled::Forward { .. } | Handled::Drop => {}
        }
    }

    fn proxy_ack(&mut self, now: Instant, ack: Message, source: Flow) {
        match self.proxy.handle_request(now, ack, source, rand::random()) {
            Handled::Forward { mut message, target } => {
                self.shift_ack(&mut message, &target);
                self.forward_stateless(message, target);
            }
            Handled::Respond(_) | Handled::Context(_) | Handled::Drop => {}
        }
    }

    fn action(&mut self, now: Instant, context: ContextId, action: Action) {
        match action {
            Action::NeedTargets { request } => self.need_targets(now, context, request),
            Action::Forward { branch, message, target } => {
                if let Some(message) = self.gate_forward(now, context, branch, message, &target) {
                    self.forward(now, context, branch, message, target);
                }
            }
            Action::Cancel { branch, message } => {
                let Some(key) = self.branches.get(&(context, branch)).cloned() else { return };
                let Some(client) = self.clients.get(&key) else { return };
                let hop = client.hop.clone();
                // The branch may run on a request sent again (next RFC 3263 target, trunk credentials): the
                // CANCEL must match that request (RFC 3261 §9.1), not the core's first copy.
                let own = self.transactions.get(&key).and_then(Transaction::request).map(build_cancel);
                let message = match own {
                    Some(Ok(own)) => own,
                    _ => message,
                };
                if let Some(Transaction::ClientInvite(invite)) = self.transactions.get_mut(&key) {
                    invite.cancel_sent(now);
                }
                self.transactions.touch(&key);
                self.start_client(now, Purpose::Cancel, message, hop, TargetList::default());
            }
            Action::Respond { message } => {
                let Some(entry) = self.contexts.get(&context) else { return };
                let (server, connection) = (entry.server.clone(), entry.origin.connection);
                let is_success = message.status().is_some_and(|s| s.is_success());
                if !self.transactions.send_response(now, &server, message.clone()) && is_success {
                    // A 2xx after the server transaction ended (RFC 6026): sent as is.
                    self.send(&message, SendJob::Response { message: message.clone(), connection, key: None });
                }
            }
            Action::Done(record) => {
                let Some(entry) = self.contexts.get_mut(&context) else { return };
                entry.done_at = Some(now);
                debug!(%context, call_id = %record.call_id, status = %record.status, disposition = %record.disposition, "request done");
                // A challenge is not a call: the caller answers it with a new INVITE, which is the call.
                let challenged = matches!(record.status.as_u16(), 401 | 407);
                if !entry.starts_call || challenged {
                    return;
                }
                let caller_line = entry.caller_line.clone();
                let record_context = RecordContext {
                    node: self.settings.node.as_str().to_owned(),
                    domain: self.settings.domain.clone(),
                    caller_line,
                    random: rand::random(),
                };
                if record.answered.is_some() {
                    if let Some(row) = self.open_calls.open(record, record_context, &self.clock) {
                        self.write(Write::CallRecord(Box::new(row)));
                    }
                } else {
                    let end = self.clock.system_time(record.ended);
                    let row = crate::records::row(&record, &record_context, &self.clock, end);
                    self.write(Write::CallRecord(Box::new(row)));
                }
            }
        }
    }

    // ----- REGISTER (RFC 3261 §10.3) -----

    fn register(&mut self, now: Instant, key: TransactionKey, request: Message) {
        let supported = self.settings.registrar.option_tags();
        let policy = Policy {
            role: Role::Registrar,
            uri_schemes: &["sip", "sips"],
            supported,
            methods: &[Method::Register],
            body_types: &[],
        };
        if let Err(e) = policy.check(&request) {
            self.refuse(now, &key, &request, &e);
            return;
        }
        // §10.3 step 5 before step 3: an address in another domain is not ours to challenge for.
        if !request.to().ok().and_then(|to| to.parsed_uri().ok()).is_some_and(|uri| self.is_local_uri(&uri)) {
            self.decide_register(now, &key, &request, Authorization::UnknownAor);
            return;
        }
        match self
            .settings
            .digest
            .find_credentials(request.header_values(HeaderName::Authorization), HeaderName::Authorization)
        {
            Err(e) => self.refuse(now, &key, &request, &e),
            Ok(None) => self.challenge(now, &key, &request, Challenger::UserAgent, false),
            Ok(Some(credentials)) => {
                if let Some(line) = self.current_credentials(&credentials.username) {
                    self.register_against(now, &key, &request, &credentials, Some(line));
                    return;
                }
                let username = credentials.username.to_string();
                let generation = self.credentials_generation;
                let (pool, completions, realm) =
                    (self.io.pool.clone(), self.io.completions.clone(), self.settings.digest.realm().to_owned());
                tokio::spawn(async move {
                    let lookup = bounded(carillon_db::line_credentials(&pool, &username, &realm)).await;
                    let _ =
                        completions.send(Completion::RegisterCredentials { server: key, request, lookup, generation });
                });
            }
        }
    }

    fn finish_register(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        request: &Message,
        lookup: Lookup<LineCredentials>,
        generation: u64,
    ) {
        let Ok(Some(credentials)) = self
            .settings
            .digest
            .find_credentials(request.header_values(HeaderName::Authorization), HeaderName::Authorization)
        else {
            return;
        };
        let line = self.line_from(lookup, &credentials, generation);
        self.register_against(now, key, request, &credentials, line);
    }

    /// Verifies a REGISTER's `credentials` against `line` (§22.4) and, when they hold, lets the registrar decide.
    fn register_against(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        request: &Message,
        credentials: &DigestCredentials<'_>,
        line: Option<LineCredentials>,
    ) {
        let verdict = self.verify(request, credentials, line.as_ref());
        if let Some(stale) = verdict.rechallenge() {
            debug!(username = %credentials.username, ?verdict, "REGISTER not authenticated");
            self.challenge(now, key, request, Challenger::UserAgent, stale);
            return;
        }
        let Some(line) = line else { return };
        // §10.3 step 4: a line may change only its own address of record.
        let own = format!("sip:{}@{}", line.username, self.settings.domain);
        let Ok(own_aor) = Aor::parse(&own) else { return };
        let to_user = request.to().ok().and_then(|to| match to.parsed_uri() {
            Ok(Uri::Sip(uri)) => uri.user_unescaped().map(|u| u.into_owned()),
            _ => None,
        });
        let authorization = if to_user.is_some_and(|user| user.eq_ignore_ascii_case(&line.username)) {
            self.line_ids.insert(own_aor.clone(), line.line_id);
            Authorization::Granted(own_aor)
        } else {
            Authorization::Forbidden
        };
        self.decide_register(now, key, request, authorization);
    }

    fn decide_register(&mut self, now: Instant, key: &TransactionKey, request: &Message, authorization: Authorization) {
        let Some(server) = self.servers.get(key) else { return };
        let origin = &server.origin;
        let connection = origin.connection;
        let flow = carillon_registrar::Flow {
            transport: origin.transport,
            source: origin.source,
            local: origin.local,
            id: connection.map(|c| FlowId(c.as_u64())),
        };
        let context = RegisterContext {
            authorization,
            flow,
            node: self.settings.node.clone(),
            config: &self.settings.registrar,
            random: rand::random(),
        };
        let epoch = store::since_epoch(SystemTime::now());
        let outcome = self.registrar.register(epoch, request, &context);
        if let Some(rejection) = &outcome.rejection {
            debug!(?rejection, "REGISTER refused");
        }
        for change in &outcome.changes {
            let binding = change.binding();
            match change {
                carillon_registrar::BindingChange::Remove(_) => {
                    info!(aor = %binding.aor, contact = %binding.contact, "binding removed");
                    self.write(Write::Delete {
                        aor: binding.aor.as_str().to_owned(),
                        contact: binding.contact.to_string(),
                    });
                }
                carillon_registrar::BindingChange::Insert(_) | carillon_registrar::BindingChange::Refresh(_) => {
                    info!(aor = %binding.aor, contact = %binding.contact, source = %binding.flow.source, "binding stored");
                    // The phone is reached over this connection (see `needs_flow`): the idle timeout must not
                    // close it while the binding lasts.
                    if let Some(connection) = connection
                        && binding.flow.transport.is_reliable()
                    {
                        self.io.transport.keep_open(connection, binding.expires_at.saturating_sub(epoch));
                    }
                    match self.line_ids.get(&binding.aor) {
                        Some(&line_id) => self.write(Write::Upsert(Box::new(store::registration(binding, line_id)))),
                        None => {
                            warn!(aor = %binding.aor, "binding of an AOR without a known line is not written through")
                        }
                    }
                }
            }
        }
        match outcome.response {
            Ok(response) => {
                self.respond(now, key, response);
            }
            Err(e) => debug!(error = %e, "REGISTER answer could not be built; request dropped"),
        }
    }

    // ----- authentication (RFC 3261 §22) -----

    /// The cached credentials of `username`, when they are known to be current (see `credentials_current`).
    fn current_credentials(&self, username: &str) -> Option<LineCredentials> {
        if !self.credentials_current {
            return None;
        }
        let cached = self.credentials.get(username.to_ascii_lowercase().as_str())?;
        (cached.epoch == self.listener_epoch).then(|| cached.line.clone())
    }

    /// Keeps the credential cache true to the database: what changed goes; while the listener is away nothing is
    /// served from the cache without asking the database, and when it is back what was read before is not served
    /// as current until read again (it stays for when the database cannot answer).
    fn line_changes(&mut self, news: LineChangeNews) {
        self.credentials_generation += 1;
        match news {
            LineChangeNews::Listening => {
                // What is cached stays for when the database is down, but is not served as current before it is
                // read again: it may have changed while nobody listened.
                info!("listening for changed lines: credentials are served from memory");
                self.listener_epoch += 1;
                self.credentials_current = true;
            }
            LineChangeNews::Lost => {
                warn!("not listening for changed lines: credentials are read from the database for each request");
                self.credentials_current = false;
            }
            LineChangeNews::Changed(carillon_db::LineChange::Line(username)) => {
                debug!(%username, "line changed: cached credentials dropped");
                self.credentials.remove(username.as_str());
            }
            LineChangeNews::Changed(carillon_db::LineChange::All) => {
                debug!("every line may have changed: cached credentials dropped");
                self.credentials.clear();
            }
        }
    }

    /// The line to verify against: the database's answer, or the cached credentials when the database could not
    /// answer. Successful lookups refresh the cache, unless it was invalidated since they were read (`generation`):
    /// what they read may be the line as it was before the change.
    fn line_from(
        &mut self,
        lookup: Lookup<LineCredentials>,
        credentials: &DigestCredentials<'_>,
        generation: u64,
    ) -> Option<LineCredentials> {
        let cache_key = credentials.username.to_ascii_lowercase();
        match lookup {
            Ok(Some(line)) => {
                if generation == self.credentials_generation {
                    if self.credentials.len() >= CREDENTIAL_CACHE && !self.credentials.contains_key(cache_key.as_str())
                    {
                        self.credentials.clear();
                    }
                    let cached = CachedLine { line: line.clone(), epoch: self.listener_epoch };
                    self.credentials.insert(cache_key.into_boxed_str(), Box::new(cached));
                }
                Some(line)
            }
            Ok(None) => {
                self.credentials.remove(cache_key.as_str());
                None
            }
            Err(e) => {
                warn!(error = %e, username = %credentials.username, "credential lookup failed; using cached credentials");
                self.credentials.get(cache_key.as_str()).map(|cached| cached.line.clone())
            }
        }
    }

    fn verify(
        &mut self,
        request: &Message,
        credentials: &DigestCredentials<'_>,
        line: Option<&LineCredentials>,
    ) -> Verdict {
        let (Some(method), Some(uri)) = (request.method(), request.request_uri()) else {
            return Verdict::Malformed("no request line");
        };
        let auth = AuthRequest {
            method: method.as_str(),
            request_uri: uri,
            now: store::since_epoch(SystemTime::now()),
            binding: &[],
        };
        let hash = credentials.effective_algorithm().map(|a| a.hash());
        let user = match (line, hash) {
            (Some(line), Some(hash)) => match line.ha1(hash) {
                Some(ha1) => Some(StoredUser { username: &line.username, ha1 }),
                None => return Verdict::Invalid(carillon_sip::auth::Rejection::Algorithm),
            },
            _ => None,
        };
        self.settings.digest.verify(&mut self.nonce_window, &auth, credentials, user)
    }

    /// Answers 401 (registrar) or 407 (proxy) with one challenge per algorithm.
    fn challenge(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        request: &Message,
        challenger: Challenger,
        stale: bool,
    ) {
        let Some(reply) = self.challenge_reply(request, challenger, stale) else { return };
        let mut builder =
            Message::response_to(request, reply.status).to_tag(&format!("{:016x}", rand::random::<u64>()));
        for (name, value) in &reply.headers {
            builder = builder.header(name, value);
        }
        let Ok(response) = builder.build() else { return };
        if request.method() == Some(&Method::Invite) {
            // The INVITE transaction stays: it absorbs the ACK of the challenge.
            self.respond(now, key, response);
        } else if !self.transactions.send_final_response_and_end(now, key, response) {
            // RFC 3261 §8.2.7: every copy of the request gets the same challenge, so none is kept for Timer J
            // (32 s on UDP, for each of the thousands of REGISTERs a second a campus reboot brings).
            debug!(?key, "challenge not taken by its server transaction");
        }
    }

    fn challenge_reply(&self, request: &Message, challenger: Challenger, stale: bool) -> Option<Reply> {
        let (Some(method), Some(uri)) = (request.method(), request.request_uri()) else { return None };
        let auth = AuthRequest {
            method: method.as_str(),
            request_uri: uri,
            now: store::since_epoch(SystemTime::now()),
            binding: &[],
        };
        let header = challenger.challenge_header();
        let mut reply = Reply::new(challenger.status());
        for challenge in self.settings.digest.challenges(&auth, rand::random(), stale) {
            reply = reply.with_header(header.as_str(), challenge.to_string());
        }
        Some(reply)
    }

    fn refuse(&mut self, now: Instant, key: &TransactionKey, request: &Message, error: &SipError) {
        let mut builder = Message::response_with_reason(request, error.status_code(), error.reason_phrase())
            .to_tag(&format!("{:016x}", rand::random::<u64>()));
        if let SipError::BadExtension(tags) = error {
            builder = builder.header("Unsupported", tags.join(", "));
        }
        if let Ok(response) = builder.build() {
            self.respond(now, key, response);
        }
    }

    // ----- target determination (RFC 3261 §16.5) -----

    fn need_targets(&mut self, now: Instant, context: ContextId, request: Message) {
        let from_local = request.from().ok().and_then(|f| f.parsed_uri().ok()).is_some_and(|u| self.is_local_uri(&u));
        let uri = request.request_uri().and_then(|u| Uri::parse(u).ok());
        let to_local = uri.as_ref().is_some_and(|u| self.is_local_uri(u));
        if !from_local && !to_local {
            let reply = Reply::new(StatusCode::FORBIDDEN).with_reason(RELAY_DENIED);
            self.provide(now, context, Targets::Respond(reply));
            return;
        }
        if self.route_at_once(now, context, &request, to_local) {
            return;
        }
        let mut caller = None;
        if from_local && starts_dialog(&request) {
            match self
                .settings
                .digest
                .find_credentials(request.header_values(HeaderName::ProxyAuthorization), HeaderName::ProxyAuthorization)
            {
                Err(_) => {
                    self.provide(now, context, Targets::Respond(Reply::new(StatusCode::BAD_REQUEST)));
                    return;
                }
                Ok(None) => {
                    let reply = self.challenge_reply(&request, Challenger::Proxy, false);
                    if let Some(reply) = reply {
                        self.provide(now, context, Targets::Respond(reply));
                    }
                    return;
                }
                Ok(Some(credentials)) => caller = Some(credentials.username.to_string()),
            }
        }
        let callee = if to_local {
            match uri.as_ref().and_then(Uri::as_sip).and_then(SipUri::user_unescaped) {
                Some(user) => Some(user.into_owned()),
                None => {
                    self.provide(now, context, Targets::Respond(Reply::new(StatusCode::NOT_FOUND)));
                    return;
                }
            }
        } else {
            None
        };
        if caller.is_none() && callee.is_none() {
            self.provide(now, context, Targets::FollowRoute);
            return;
        }
        self.spawn_lookups(context, request, caller, callee);
    }

    fn finish_targets(
        &mut self,
        now: Instant,
        context: ContextId,
        request: &Message,
        caller: Option<features::CallerLookup>,
        callee: Option<features::DirectoryLookup>,
    ) {
        let mut class = Caller::Visitor;
        if let Some(features::CallerLookup { line: lookup, permissions, generation }) = caller {
            let Ok(Some(credentials)) = self.settings.digest.find_credentials(
                request.header_values(HeaderName::ProxyAuthorization),
                HeaderName::ProxyAuthorization,
            ) else {
                return;
            };
            let line = self.line_from(lookup, &credentials, generation);
            let verdict = self.verify(request, &credentials, line.as_ref());
            if let Some(stale) = verdict.rechallenge() {
                debug!(username = %credentials.username, ?verdict, "request not authenticated");
                if let Some(reply) = self.challenge_reply(request, Challenger::Proxy, stale) {
                    self.provide(now, context, Targets::Respond(reply));
                }
                return;
            }
            let Some(line) = line else { return };
            // The From of an authenticated request must be the line's own address; an authenticated emergency
            // call goes through whatever its From says.
            let from_user = request.from().ok().and_then(|f| match f.parsed_uri() {
                Ok(Uri::Sip(uri)) => uri.user_unescaped().map(|u| u.into_owned()),
                _ => None,
            });
            if !from_user.is_some_and(|u| u.eq_ignore_ascii_case(&line.username)) && !self.is_emergency_call(request) {
                let reply = Reply::new(StatusCode::FORBIDDEN).with_reason("From Does Not Match Credentials");
                self.provide(now, context, Targets::Respond(reply));
                return;
            }
            if let Some(entry) = self.contexts.get_mut(&context) {
                entry.caller_line = Some(line.username.clone());
            }
            class = match permissions {
                Ok(permissions) => Caller::User(permissions),
                Err(e) => {
                    warn!(error = %e, line = %line.username, "class lookup failed; internal calls only");
                    Caller::User(None)
                }
            };
        }
        self.route(now, context, request, class, callee);
    }

    fn provide(&mut self, now: Instant, context: ContextId, targets: Targets) {
        if let Err(e) = self.proxy.provide_targets(now, context, targets) {
            debug!(%context, error = %e, "targets arrived too late");
        }
    }

    /// A proxy target for a registered contact: its contact as Request-URI, its Path as route, and the flow it
    /// registered on (with the connection, for stream transports) when the contact cannot be reached directly
    /// (see [`needs_flow`]).
    fn proxy_target(&self, binding: &carillon_registrar::Target) -> ProxyTarget {
        let route = binding.path.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        let target = ProxyTarget::new(binding.contact.to_string()).with_route(route);
        if binding.path.is_empty()
            && binding.node == self.settings.node
            && needs_flow(binding)
            && let Some(listener) = self.listener_for(binding.flow.transport)
        {
            let connection = binding.flow.id.map(|id| id.0).filter(|_| binding.flow.transport.is_reliable());
            let flow = Flow { listener, remote: binding.flow.source, connection };
            return if binding.reg_id.is_some() { target.with_outbound_flow(flow) } else { target.with_flow(flow) };
        }
        target
    }

    // ----- forwarding -----

    fn forward(&mut self, now: Instant, context: ContextId, branch: BranchId, message: Message, hop: NextHop) {
        if let Some(flow) = hop.flow {
            let purpose = Purpose::Branch(context, branch);
            match self.flow_hop(flow) {
                Some(hop) => self.start_client(now, purpose, message, hop, TargetList::default()),
                None => self.proxy.handle_flow_failure(now, context, branch),
            }
            return;
        }
        match self.resolve_now(&hop.uri) {
            Some(targets) => {
                let completion = Completion::Resolved { context, branch, message, targets };
                self.handle_completion_inline(now, completion);
            }
            None => {
                let (resolver, completions, uri) = (self.io.resolver.clone(), self.io.completions.clone(), hop.uri);
                tokio::spawn(async move {
                    let targets = resolve(&resolver, &uri).await;
                    let _ = completions.send(Completion::Resolved { context, branch, message, targets });
                });
            }
        }
    }

    fn forward_stateless(&mut self, message: Message, hop: NextHop) {
        if let Some(flow) = hop.flow {
            let Some(hop) = self.flow_hop(flow) else { return };
            self.send(&message, SendJob::Request { message: message.clone(), hop, key: None });
            return;
        }
        match self.resolve_now(&hop.uri) {
            Some(targets) => {
                self.handle_completion_inline(Instant::now(), Completion::ResolvedAck { message, targets })
            }
            None => {
                let (resolver, completions, uri) = (self.io.resolver.clone(), self.io.completions.clone(), hop.uri);
                tokio::spawn(async move {
                    let targets = resolve(&resolver, &uri).await;
                    let _ = completions.send(Completion::ResolvedAck { message, targets });
                });
            }
        }
    }

    fn handle_completion_inline(&mut self, now: Instant, completion: Completion) {
        // The same path as a completion from a task, without the round trip through the channel.
        match completion {
            Completion::Resolved { context, branch, message, targets } => {
                match targets.and_then(|mut t| {
                    let server_name = t.server_name().map(str::to_owned);
                    t.next().map(|target| (target, server_name, t))
                }) {
                    Some((target, server_name, alternatives)) => {
                        let purpose = Purpose::Branch(context, branch);
                        self.start_client(now, purpose, message, Hop::located(target, server_name), alternatives);
                    }
                    None => self.proxy.handle_branch_event(now, context, branch, Event::TransportError),
                }
            }
            Completion::ResolvedAck { message, targets: Some(mut targets) } => {
                let server_name = targets.server_name().map(str::to_owned);
                if let Some(target) = targets.next() {
                    let hop = Hop::located(target, server_name);
                    self.send(&message, SendJob::Request { message: message.clone(), hop, key: None });
                }
            }
            _ => {}
        }
    }

    /// The RFC 3263 targets of `uri` when no DNS lookup is needed (a numeric host): `Some(None)` when the URI
    /// cannot be located at all, `None` when DNS must be asked.
    fn resolve_now(&self, uri: &str) -> Option<Option<TargetList>> {
        let Ok(sip) = SipUri::parse(uri) else { return Some(None) };
        let Ok(parts) = UriParts::from_sip_uri(&sip) else { return Some(None) };
        let Ok(mut resolution) = Resolution::new(&parts, &self.settings.transports) else { return Some(None) };
        if resolution.next_query().is_some() {
            return None;
        }
        Some(resolution.targets())
    }

    /// Where a request sent over `flow` goes: the flow's remote address from its listener's socket, over its
    /// connection when it names one. `None` when the flow's listener is unknown.
    fn flow_hop(&self, flow: Flow) -> Option<Hop> {
        let &(transport, _) = self.settings.listeners.get(flow.listener.0)?;
        let target = Target { transport, addr: flow.remote };
        Some(Hop { target, server_name: None, connection: flow.connection.map(ConnectionId::from_u64), flow: true })
    }

    /// Sends `message` on a new client transaction to `hop`; `alternatives` are the RFC 3263 targets to fail over
    /// to.
    fn start_client(
        &mut self,
        now: Instant,
        purpose: Purpose,
        mut message: Message,
        hop: Hop,
        alternatives: TargetList,
    ) {
        let target = hop.target;
        if message.top_via().is_ok_and(|via| !via.transport.eq_ignore_ascii_case(target.transport.as_str()))
            && let Err(e) = carillon_sip_transport::wire::set_top_via_transport(&mut message, target.transport)
        {
            debug!(error = %e, "Via transport not rewritten");
        }
        let reliability = if target.transport.is_reliable() { Reliability::Reliable } else { Reliability::Unreliable };
        let is_invite = message.method() == Some(&Method::Invite);
        let shard = shard_of(message.call_id().unwrap_or_default());
        let response_timeout = match purpose {
            Purpose::Branch(context, branch) => self.response_timeout(context, branch),
            Purpose::Cancel => None,
        };
        match self.transactions.start_client_with_response_timeout(now, message, reliability, response_timeout) {
            Ok(key) => {
                if let (Purpose::Branch(context, branch), true) = (purpose, is_invite) {
                    self.branches.insert((context, branch), key.clone());
                }
                self.clients.insert(key, ClientEntry { purpose, hop, shard, alternatives });
            }
            Err(e) => {
                debug!(error = %e, "client transaction not started");
                if let Purpose::Branch(context, branch) = purpose {
                    self.proxy.handle_branch_event(now, context, branch, Event::TransportError);
                }
            }
        }
    }

    /// RFC 3263 §4.3: when the request of client transaction `key` (on `branch`) failed in a way another server
    /// of the same name may not (a 503, a timeout, a transport error), and such a server is left and the proxy core
    /// still wants the branch, sends the request again there on a new transaction ([`carillon_proxy_core::rebranch`])
    /// and returns true: the event is then not the branch's. The old transaction finishes on its own (it
    /// acknowledges a 503 itself).
    fn fail_over(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        context: ContextId,
        branch: BranchId,
        event: &Event,
    ) -> bool {
        let attempt = match event {
            Event::Response(response) => match response.status() {
                Some(status) if status.is_final() => Attempt::Answered(status),
                _ => return false,
            },
            Event::Timeout(Timer::B | Timer::F) => Attempt::TimedOut,
            Event::TransportError => Attempt::Unreachable,
            _ => return false,
        };
        let Some(client) = self.clients.get(key) else { return false };
        if !attempt.calls_for_next_target() || client.alternatives.is_empty() {
            return false;
        }
        let Some(sent) = self.transactions.get(key).and_then(Transaction::request) else { return false };
        let Ok(resent) = carillon_proxy_core::rebranch(sent, rand::random()) else { return false };
        if !self.proxy.resend_branch(context, branch) {
            return false;
        }
        let Some(client) = self.clients.get_mut(key) else { return false };
        let mut alternatives = std::mem::take(&mut client.alternatives);
        let Some(next) = alternatives.next() else { return false };
        let (failed, server_name) = (client.hop.target, client.hop.server_name.clone());
        debug!(%context, %branch, ?attempt, failed = %failed.addr, next = %next.addr, transport = %next.transport, "next RFC 3263 target");
        self.superseded.insert(key.clone());
        self.moved_to_next_target(context, branch);
        let hop = Hop::located(next, server_name);
        self.start_client(now, Purpose::Branch(context, branch), resent, hop, alternatives);
        true
    }

    // ----- helpers -----

    /// Sends a response on server transaction `key`.
    fn respond(&mut self, now: Instant, key: &TransactionKey, response: Message) {
        if !self.transactions.send_response(now, key, response) {
            debug!(?key, "response not taken by its server transaction");
        }
    }

    fn send(&self, message: &Message, job: SendJob) {
        let shard = shard_of(message.call_id().unwrap_or_default());
        self.send_to_shard(shard, job);
    }

    fn send_to_shard(&self, shard: usize, job: SendJob) {
        if let Some(sender) = self.io.senders.get(shard) {
            let _ = sender.send(job);
        }
    }

    fn write(&self, write: Write) {
        if let Err(e) = self.io.writes.try_send(write) {
            warn!(error = %e, "database write queue full; change dropped (served from memory, rewritten on refresh)");
        }
    }

    fn listener_for(&self, transport: Transport) -> Option<ListenerId> {
        self.settings.listeners.iter().position(|(t, _)| *t == transport).map(ListenerId)
    }

    /// Whether REGISTER's Request-URI names our domain or this proxy.
    fn is_for_us(&self, request: &Message) -> bool {
        request.request_uri().and_then(|u| Uri::parse(u).ok()).is_some_and(|u| self.is_local_uri(&u))
    }

    /// Whether a URI names our domain (any port), our public address (any port), or one of our listeners
    /// (address and port, the port defaulting to 5060, or 5061 for `sips:`).
    fn is_local_uri(&self, uri: &Uri<'_>) -> bool {
        let Some(sip) = uri.as_sip() else { return false };
        let ip = match &sip.host {
            Host::Domain(d) => {
                return d.eq_ignore_ascii_case(&self.settings.domain)
                    || self.settings.local_hosts.iter().any(|h| h.eq_ignore_ascii_case(d));
            }
            Host::V4(a) => IpAddr::V4(*a),
            Host::V6(a) => IpAddr::V6(*a),
        };
        let port = sip.port.unwrap_or(if sip.scheme == carillon_sip::uri::SipScheme::Sips { 5061 } else { 5060 });
        self.settings.local_hosts.iter().any(|h| h.trim_start_matches('[').trim_end_matches(']').parse() == Ok(ip))
            || self.settings.listeners.iter().any(|(_, addr)| addr.ip() == ip && addr.port() == port)
    }
}

/// Whether a request starts a dialog or stands alone, so that a local caller must authenticate it (RFC 3261
/// §22.3): INVITE, and MESSAGE, SUBSCRIBE and REFER outside a dialog. In-dialog requests follow the route set
/// the authenticated INVITE established.
fn starts_dialog(request: &Message) -> bool {
    let in_dialog = request.to().ok().and_then(|to| to.tag()).is_some();
    match request.method() {
        Some(Method::Invite) => !in_dialog,
        Some(Method::Message | Method::Subscribe | Method::Refer) => !in_dialog,
        _ => false,
    }
}

/// Whether a registered contact must be reached over the flow its REGISTER came on rather than at its contact
/// address: RFC 5626 outbound bindings, contacts on stream transports (the phone's connection is the way back
/// through its NAT), and contacts whose address is an IP other than the one the REGISTER came from (the phone is
/// behind NAT and wrote its private address, RFC 3581). A contact naming the source IP (another port of the same
/// host) or a host name is reached directly.
fn needs_flow(binding: &carillon_registrar::Target) -> bool {
    if binding.reg_id.is_some() || binding.flow.transport.is_reliable() {
        return true;
    }
    let Ok(Uri::Sip(contact)) = Uri::parse(&binding.contact) else { return true };
    let ip: Option<IpAddr> = match contact.host {
        Host::V4(a) => Some(IpAddr::V4(a)),
        Host::V6(a) => Some(IpAddr::V6(a)),
        Host::Domain(_) => None,
    };
    ip.is_some_and(|ip| ip != binding.flow.source.ip())
}

/// How long the listener for changed lines waits before connecting again, at most.
const LINE_LISTENER_MAX_PAUSE: Duration = Duration::from_secs(10);

/// Listens for changed lines (PostgreSQL LISTEN, migration 0009) and reports to the engine, reconnecting with a
/// growing pause while the database is away. Runs until aborted.
pub(crate) async fn line_change_loop(pool: PgPool, completions: mpsc::UnboundedSender<Completion>) {
    let mut pause = Duration::from_millis(100);
    loop {
        match carillon_db::listen_line_changes(&pool).await {
            Ok(mut changes) => {
                pause = Duration::from_millis(100);
                let _ = completions.send(Completion::LineChanges(LineChangeNews::Listening));
                loop {
                    match changes.next().await {
                        Ok(Some(change)) => {
                            let _ = completions.send(Completion::LineChanges(LineChangeNews::Changed(change)));
                        }
                        Ok(None) => break,
                        Err(e) => {
                            debug!(error = %e, "listening for changed lines failed");
                            break;
                        }
                    }
                }
                let _ = completions.send(Completion::LineChanges(LineChangeNews::Lost));
            }
            Err(e) => debug!(error = %e, retry_in = ?pause, "cannot listen for changed lines"),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(LINE_LISTENER_MAX_PAUSE);
    }
}

/// Which sender task sends for a Call-ID: one per call keeps its messages in order.
fn shard_of(call_id: &str) -> usize {
    let mut hasher = DefaultHasher::new();
    call_id.hash(&mut hasher);
    (hasher.finish() % SENDER_SHARDS as u64) as usize
}

/// A database lookup within [`LOOKUP_TIMEOUT`]: a database that does not answer in time counts as down, so a
/// request waits at most that long before the cached credentials (or an error answer) take over.
async fn bounded<T>(lookup: impl std::future::Future<Output = carillon_db::Result<Option<T>>>) -> Lookup<T> {
    match tokio::time::timeout(LOOKUP_TIMEOUT, lookup).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no answer within {LOOKUP_TIMEOUT:?}")),
    }
}

/// The RFC 3263 targets of `uri` by DNS; `None` when it is not a SIP URI.
async fn resolve(resolver: &Resolver, uri: &str) -> Option<TargetList> {
    let sip = SipUri::parse(uri).ok()?;
    let parts = UriParts::from_sip_uri(&sip).ok()?;
    match resolver.resolve(&parts).await {
        Ok(targets) => Some(targets),
        Err(e) => {
            debug!(error = %e, %uri, "RFC 3263 resolution failed");
            None
        }
    }
}

/// Sends the jobs of one shard in order; failures of transaction messages go back as [`Completion::SendFailed`].
pub(crate) async fn send_loop(
    transport: TransportLayer,
    mut jobs: mpsc::UnboundedReceiver<SendJob>,
    completions: mpsc::UnboundedSender<Completion>,
) {
    while let Some(job) = jobs.recv().await {
        trace!(?job, "sending");
        let (result, key) = match job {
            SendJob::Request { message, hop: Hop { connection: Some(id), .. }, key } => {
                (transport.send_on(id, message).await, key)
            }
            SendJob::Request { message, hop: Hop { target, server_name, .. }, key } => {
                (transport.send(Outgoing { message, target, server_name }).await, key)
            }
            SendJob::Response { message, connection, key } => (transport.send_response(message, connection).await, key),
        };
        if let Err(e) = result {
            debug!(error = %e, ?key, "send failed");
            if let Some(key) = key {
                let _ = completions.send(Completion::SendFailed { key });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn target(contact: &str, transport: Transport, source: &str, reg_id: Option<u32>) -> carillon_registrar::Target {
        carillon_registrar::Target {
            binding: carillon_registrar::BindingId(1),
            contact: contact.into(),
            path: Arc::from([]),
            flow: carillon_registrar::Flow {
                transport,
                source: source.parse().expect("address"),
                local: "127.0.0.1:5060".parse().expect("address"),
                id: None,
            },
            node: NodeId::new("sip1"),
            q: None,
            instance: None,
            reg_id,
            registered_at: Duration::ZERO,
        }
    }

    #[test]
    fn nated_contacts_are_reached_over_their_flow_rfc3581() {
        assert!(needs_flow(&target("sip:a@10.0.0.5:5060", Transport::Udp, "192.0.2.1:40000", None)), "private address");
        assert!(!needs_flow(&target("sip:a@192.0.2.1:5062", Transport::Udp, "192.0.2.1:40000", None)), "same host");
        assert!(!needs_flow(&target("sip:a@phone.campus.test", Transport::Udp, "192.0.2.1:40000", None)));
        assert!(needs_flow(&target("sip:a@192.0.2.1:5062", Transport::Tcp, "192.0.2.1:40000", None)), "connection");
        assert!(needs_flow(&target("sip:a@192.0.2.1:5062", Transport::Udp, "192.0.2.1:5062", Some(1))), "outbound");
    }

    #[test]
    fn dialog_starting_requests_are_authenticated_rfc3261_22_3() {
        let request = |method: &str, to_tag: &str| {
            let text = format!(
                "{method} sip:4001@campus.test SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
                 To: <sip:4001@campus.test>{to_tag}\r\nFrom: <sip:4000@campus.test>;tag=f\r\nCall-ID: c\r\n\
                 CSeq: 1 {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            );
            Message::parse(bytes::Bytes::from(text)).expect("valid request")
        };
        assert!(starts_dialog(&request("INVITE", "")));
        assert!(!starts_dialog(&request("INVITE", ";tag=t")), "re-INVITE");
        assert!(starts_dialog(&request("MESSAGE", "")));
        assert!(!starts_dialog(&request("BYE", ";tag=t")));
        assert!(!starts_dialog(&request("OPTIONS", "")));
    }
}
