//! The engine's side of call routing and features ([`crate::routing`]): fetching what a decision needs,
//! carrying the decision out with the proxy core, and following the calls whose target sets have conditions or
//! go through trunks.
//!
//! A child module of the engine, so that it works on the engine's state; the engine calls it where a request
//! needs targets ([`Engine::route_at_once`], [`Engine::spawn_lookups`], [`Engine::route`]), where a branch is
//! forwarded ([`Engine::gate_forward`]), where a branch's client transaction reports ([`Engine::branch_event`]),
//! and in its housekeeping (the emergency numbers).
//!
//! # Emergency calls
//!
//! The emergency numbers are read at start and again every `[routing] emergency_refresh_seconds`, and kept in
//! memory: an emergency call waits for no database and goes through while it is down. An INVITE to an
//! emergency number from the IP address of a phone with an unexpired registration is routed at once, without a
//! 407 challenge (the caller's line is taken from that registration for the call record). From any other
//! address it is challenged like every call of the domain, and routed once authenticated, whatever the line's
//! class and whatever its From says.
//!
//! # Trunks
//!
//! A request to a trunk leaves without the caller's Proxy-Authorization (those credentials were for this proxy).
//! When the trunk answers 401 or 407 and has credentials, the request is sent again with them on a new client
//! transaction of the same branch, once; the proxy core never sees that challenge. See
//! [`crate::routing::trunk`] for the CSeq and the sealed password. A challenge that cannot be answered (no
//! credentials, another realm and no sealed password, a password that cannot be unsealed, or a second challenge
//! after the answer) is a failure of the trunk: the core is told the branch could not be
//! sent (a 503 stand-in, so the next trunk is tried and the caller never gets the trunk's 407, which it could not
//! answer).
//!
//! # Requests of a dialog through a trunk
//!
//! A target through a trunk is tagged with the trunk's name ([`carillon_proxy_core::Target::tag`]); the proxy core
//! writes the tag into the route token of its Record-Route entry facing the trunk, so every later request of the
//! dialog from the caller's side comes back from the core with it ([`carillon_proxy_core::NextHop::tag`]): no state
//! is kept per call to know that a BYE or re-INVITE goes to a trunk, and a forged tag fails the token's MAC. A
//! challenge of such a request is answered with the trunk's credentials (the account is kept from the call's
//! routing, or read by name when this node has not routed through the trunk since it started), once, with the next
//! CSeq number; the dialog's shift is then applied to its later requests towards the trunk and taken off their
//! responses ([`crate::routing::trunk::CSeqOffsets`]). A challenge that cannot be answered is a failure of the
//! request (500 to the caller), as for the INVITE.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use carillon_db::{CallPermissions, EmergencyRoute, LineCredentials};
use carillon_proxy_core::{BranchId, ContextId, NextHop, Target as ProxyTarget, Targets};
use carillon_registrar::Aor;
use carillon_sip::auth::ClientNonceState;
use carillon_sip::target::TargetList;
use carillon_sip::transaction::{Event, Timer, Transaction, TransactionKey};
use carillon_sip::uri::{SipUri, Uri};
use carillon_sip::{HeaderName, Message, Method};
use sqlx::PgPool;
use tracing::{debug, info, warn};

use super::{Completion, Engine, Hop, LOOKUP_TIMEOUT, Lookup, Purpose, bounded};
use crate::routing::trunk::{Answering, CSeqOffsets, TrunkAccount, ends_dialog, is_challenge, shift_cseq};
use crate::routing::{
    Call, CallRoute, Caller, Decision, Destination, Directory, Dispatch, EmergencyTable, Found, Outcome, Policy, decide,
};
use crate::store;

/// The caller's line and class, looked up for an authenticated request.
#[derive(Debug)]
pub(crate) struct CallerLookup {
    /// The line's credentials.
    pub(crate) line: Lookup<LineCredentials>,
    /// The permissions of the class of the line's user.
    pub(crate) permissions: Lookup<CallPermissions>,
    /// The credential cache's generation when the lookup started.
    pub(crate) generation: u64,
}

/// What the database said about the destination of a request to the served domain.
pub(crate) type DirectoryLookup = Result<Directory, String>;

/// The routing state of the engine.
#[derive(Debug)]
pub(crate) struct Features {
    policy: Arc<Policy>,
    emergency: EmergencyTable,
    emergency_refresh: Duration,
    emergency_read_at: Option<Instant>,
    emergency_reading: bool,
    /// The calls being followed, by context.
    calls: HashMap<ContextId, CallRoute>,
    /// Nonce counts of the trunks' challenges.
    nonces: ClientNonceState,
    /// The accounts of the trunks calls were routed through, by lower-case name, for the challenges of their
    /// dialogs' requests. Bounded by the trunks provisioned.
    trunk_accounts: HashMap<Box<str>, Arc<TrunkAccount>>,
    /// The requests of dialogs going to a trunk, by context.
    dialogs: HashMap<ContextId, DialogRequest>,
    /// The CSeq shifts of dialogs through trunks.
    offsets: CSeqOffsets,
}

/// A request of a dialog the engine forwards towards a trunk.
#[derive(Debug)]
struct DialogRequest {
    /// The trunk's name, from the route token.
    trunk: String,
    /// How far its CSeq was moved from the caller's.
    shift: u32,
    /// Whether a challenge was answered already (a second one is not).
    answered: bool,
}

/// What answering a challenge of a dialog's request needs, carried through a lookup of the trunk's account.
#[derive(Debug)]
pub(crate) struct DialogChallenge {
    context: ContextId,
    branch: BranchId,
    /// The challenged request as sent, and where it went.
    sent: Message,
    hop: Hop,
    /// The client transaction that was challenged.
    key: TransactionKey,
    challenge: Message,
}

impl Features {
    /// Routing by `policy`, the emergency numbers read again every `emergency_refresh`.
    pub(crate) fn new(policy: Arc<Policy>, emergency_refresh: Duration) -> Features {
        Features {
            policy,
            emergency: EmergencyTable::default(),
            emergency_refresh,
            emergency_read_at: None,
            emergency_reading: false,
            calls: HashMap::new(),
            nonces: ClientNonceState::new(),
            trunk_accounts: HashMap::new(),
            dialogs: HashMap::new(),
            offsets: CSeqOffsets::default(),
        }
    }
}

impl Engine {
    /// Takes the emergency numbers read at `now`.
    pub(crate) fn set_emergency_routes(&mut self, now: Instant, routes: &[EmergencyRoute]) {
        let table = EmergencyTable::new(routes, &self.features.policy);
        if table.len() != self.features.emergency.len() {
            info!(numbers = table.len(), "emergency numbers loaded");
        }
        self.features.emergency = table;
        self.features.emergency_read_at = Some(now);
    }

    /// The emergency numbers were read again (or could not be).
    pub(super) fn emergency_routes_read(&mut self, now: Instant, routes: Result<Vec<EmergencyRoute>, String>) {
        self.features.emergency_reading = false;
        match routes {
            Ok(routes) => self.set_emergency_routes(now, &routes),
            Err(e) => {
                self.features.emergency_read_at = Some(now);
                warn!(error = %e, "emergency numbers could not be read; the copy in memory is used");
            }
        }
    }

    /// Housekeeping: forgets the calls whose context is gone, and reads the emergency numbers again when due.
    pub(super) fn features_housekeeping(&mut self, now: Instant) {
        let contexts = &self.contexts;
        self.features.calls.retain(|id, _| contexts.contains_key(id));
        self.features.dialogs.retain(|id, _| contexts.contains_key(id));
        self.features.offsets.expire(now, crate::records::MAX_CALL_LENGTH);
        let features = &self.features;
        let due =
            features.emergency_read_at.is_none_or(|at| now.saturating_duration_since(at) >= features.emergency_refresh);
        if !due || features.emergency_reading {
            return;
        }
        self.features.emergency_reading = true;
        let (pool, completions) = (self.io.pool.clone(), self.io.completions.clone());
        tokio::spawn(async move {
            let routes = match tokio::time::timeout(LOOKUP_TIMEOUT, carillon_db::emergency_routes(&pool)).await {
                Ok(result) => result.map_err(|e| e.to_string()),
                Err(_) => Err(format!("no answer within {LOOKUP_TIMEOUT:?}")),
            };
            let _ = completions.send(Completion::EmergencyRoutes(routes));
        });
    }

    /// Answers at once, before authentication and without the database, when it can: a request for a redirect
    /// domain (302 with its own URI as Contact), and an emergency INVITE from the address of a registered phone
    /// (to the emergency gateway). Returns whether it did.
    pub(super) fn route_at_once(
        &mut self,
        now: Instant,
        context: ContextId,
        request: &Message,
        to_local: bool,
    ) -> bool {
        if request.to().ok().and_then(|to| to.tag()).is_some() {
            return false;
        }
        let Some(uri) = request.request_uri() else { return false };
        if !to_local {
            let Some(reply) = self.features.policy.redirect(uri) else { return false };
            debug!(%context, %uri, "redirected");
            self.provide(now, context, Targets::Respond(reply));
            return true;
        }
        if request.method() != Some(&Method::Invite) {
            return false;
        }
        let dialled = dialled_user(request);
        let Some(plan) = self.features.emergency.plan(&dialled) else { return false };
        let Some(source) = self.contexts.get(&context).map(|c| c.origin.source) else { return false };
        let Some(line) = self.registered_line_at(source.ip()) else {
            debug!(%dialled, %source, "emergency call from an address without registration: authenticated first");
            return false;
        };
        info!(%dialled, %source, %line, "emergency call from a registered phone routed without a challenge");
        if let Some(entry) = self.contexts.get_mut(&context) {
            entry.caller_line = Some(line);
        }
        self.carry_out(now, context, Decision::Route(plan));
        true
    }

    /// Whether `request` is an INVITE to an emergency number of the served domain.
    pub(super) fn is_emergency_call(&self, request: &Message) -> bool {
        request.method() == Some(&Method::Invite)
            && request.request_uri().and_then(|u| Uri::parse(u).ok()).is_some_and(|u| self.is_local_uri(&u))
            && self.features.emergency.contains(&dialled_user(request))
    }

    /// The user part of the AOR of an unexpired registration whose REGISTER came from `ip`.
    fn registered_line_at(&self, ip: IpAddr) -> Option<String> {
        let epoch = store::since_epoch(SystemTime::now());
        let binding = self.registrar.bindings().iter().find(|b| b.flow.source.ip() == ip && b.is_alive(epoch))?;
        let user = SipUri::parse(binding.aor.as_str()).ok()?.user_unescaped()?.into_owned();
        Some(user)
    }

    /// Starts the lookups of a request's targets: the caller's line and class (`caller`, a digest username), and
    /// what the dialled user part `callee` of the served domain leads to. Their results come back as
    /// [`Completion::Targets`].
    pub(super) fn spawn_lookups(
        &self,
        context: ContextId,
        request: Message,
        caller: Option<String>,
        callee: Option<String>,
    ) {
        let (pool, completions) = (self.io.pool.clone(), self.io.completions.clone());
        let (realm, domain) = (self.settings.digest.realm().to_owned(), self.settings.domain.clone());
        let policy = Arc::clone(&self.features.policy);
        let generation = self.credentials_generation;
        tokio::spawn(async move {
            let caller = async {
                let username = caller?;
                let line = bounded(carillon_db::line_credentials(&pool, &username, &realm)).await;
                let permissions = match &line {
                    Ok(Some(line)) => bounded(carillon_db::calling_permissions(&pool, line.user_id)).await,
                    Ok(None) => Ok(None),
                    Err(e) => Err(e.clone()),
                };
                Some(CallerLookup { line, permissions, generation })
            };
            let callee = async {
                let dialled = callee?;
                Some(fetch(&pool, &policy, &domain, &dialled).await)
            };
            let (caller, callee) = tokio::join!(caller, callee);
            let _ = completions.send(Completion::Targets { context, request, caller, callee });
        });
    }

    /// Decides the targets of `request` for `caller` from what the lookups found (`callee`: `None` for a request
    /// to another domain) and gives them to the proxy core.
    pub(super) fn route(
        &mut self,
        now: Instant,
        context: ContextId,
        request: &Message,
        caller: Caller,
        callee: Option<DirectoryLookup>,
    ) {
        let destination = match &callee {
            Some(_) => Destination::Local(dialled_user(request)),
            None => Destination::Remote(request.request_uri().unwrap_or_default().to_owned()),
        };
        let empty = Directory::default();
        let found = match &callee {
            Some(Ok(directory)) => Found::Directory(directory),
            None => Found::Directory(&empty),
            Some(Err(e)) => {
                let dialled = dialled_user(request);
                // Without the database, a dialled line username still reaches its bindings in memory.
                warn!(error = %e, %dialled, "dial-plan lookup failed; trying the dialled string as a line");
                let known_line = self.aor_of(&dialled).is_some_and(|aor| self.line_ids.contains_key(&aor));
                Found::Unavailable { known_line }
            }
        };
        let invite = request.method() == Some(&Method::Invite);
        let call = Call { invite, destination: &destination, caller };
        let epoch = store::since_epoch(SystemTime::now());
        let contacts = |line: &str| -> Vec<ProxyTarget> {
            let Some(aor) = self.aor_of(line) else { return Vec::new() };
            let targets = self.registrar.targets(&aor, epoch);
            targets.iter().map(|binding| self.proxy_target(binding).with_label(line)).collect()
        };
        let decision = decide(&self.features.policy, &self.features.emergency, &call, found, &contacts);
        debug!(%context, ?destination, ?caller, ?decision, "routed");
        self.carry_out(now, context, decision);
    }

    fn aor_of(&self, user: &str) -> Option<Aor> {
        Aor::parse(&format!("sip:{user}@{}", self.settings.domain)).ok()
    }

    fn carry_out(&mut self, now: Instant, context: ContextId, decision: Decision) {
        let targets = match decision {
            Decision::Respond(reply) => Targets::Respond(reply),
            Decision::FollowRoute => Targets::FollowRoute,
            Decision::Route(plan) => {
                if plan.needs_following() {
                    self.features.calls.insert(context, CallRoute::new(&plan));
                }
                for trunk in plan.sets.iter().flat_map(|s| &s.targets).filter_map(|t| t.trunk.as_ref()) {
                    self.features.trunk_accounts.insert(trunk.name.to_lowercase().into(), Arc::clone(trunk));
                }
                plan.targets()
            }
        };
        self.provide(now, context, targets);
    }

    /// The core forwards `message` on `branch` to `hop`: the message to send, or `None` when its set's condition
    /// is not met (the branch is reported unreachable to the core at once, which moves on). A request of a dialog
    /// towards a trunk gets the dialog's CSeq shift.
    pub(super) fn gate_forward(
        &mut self,
        now: Instant,
        context: ContextId,
        branch: BranchId,
        mut message: Message,
        hop: &NextHop,
    ) -> Option<Message> {
        let Some(call) = self.features.calls.get_mut(&context) else {
            if let Some(trunk) = &hop.tag {
                // The caller's credentials, if its phone sends them in the dialog, were for this proxy.
                message.remove_header(HeaderName::ProxyAuthorization);
                let shift = self.features.offsets.of(&message);
                if shift > 0 && shift_cseq(&mut message, i64::from(shift)).is_none() {
                    warn!(%context, trunk = %trunk, "the CSeq of a request to a trunk could not be shifted");
                }
                debug!(%context, trunk = %trunk, shift, method = ?message.method(), "a request of a dialog to a trunk");
                let request = DialogRequest { trunk: trunk.clone(), shift, answered: false };
                self.features.dialogs.insert(context, request);
            }
            // A BYE from either side ends the dialog and its shift (the caller's was shifted just above).
            if ends_dialog(&message) {
                self.features.offsets.end(&message);
            }
            return Some(message);
        };
        match call.on_forward(branch, message.request_uri().unwrap_or_default()) {
            Dispatch::Skip => {
                debug!(%context, %branch, uri = ?message.request_uri(), "target set skipped: its condition is not met");
                self.proxy.handle_branch_event(now, context, branch, Event::TransportError);
                None
            }
            Dispatch::Send(Some(trunk)) => {
                debug!(%context, %branch, trunk = %trunk.name, "to a trunk");
                message.remove_header(HeaderName::ProxyAuthorization);
                Some(message)
            }
            Dispatch::Send(None) => Some(message),
        }
    }

    /// An event of the client transaction `key` of `branch`: the event for the proxy core, or `None` when it is
    /// not the core's (a trunk's challenge answered here, or the rest of a transaction that answer replaced).
    pub(super) fn branch_event(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        context: ContextId,
        branch: BranchId,
        event: Event,
    ) -> Option<Event> {
        if self.features.dialogs.contains_key(&context) {
            return self.dialog_event(now, key, context, branch, event);
        }
        let Some(call) = self.features.calls.get_mut(&context) else { return Some(event) };
        let outcome = match &event {
            Event::Response(response) => match response.status() {
                Some(status) if is_challenge(status) && call.is_trunk(branch) => {
                    if call.trunk_to_answer(branch).is_some()
                        && self.answer_trunk_challenge(now, key, context, branch, response)
                    {
                        return None;
                    }
                    // The trunk wants credentials the proxy does not have (or refused them): a failure of the
                    // trunk, not a challenge for the caller, who has no account there.
                    warn!(%context, %branch, %status, "trunk challenge not answered; the trunk counts as failed");
                    if let Some(call) = self.features.calls.get_mut(&context) {
                        call.on_outcome(branch, Outcome::Status(status.as_u16()));
                    }
                    return Some(Event::TransportError);
                }
                Some(status) if status.as_u16() >= 200 => Some(Outcome::Status(status.as_u16())),
                _ => None,
            },
            Event::Timeout(timer) => {
                if let (Timer::B | Timer::F, Some(trunk)) = (timer, call.trunk_of(branch)) {
                    warn!(%context, %branch, trunk = %trunk.name, "no response from the trunk in time; it counts as down");
                }
                Some(Outcome::TimedOut)
            }
            Event::TransportError => Some(Outcome::Unreachable),
            Event::Terminated | Event::Request(_) | Event::Ack(_) => None,
        };
        if let (Some(outcome), Some(call)) = (outcome, self.features.calls.get_mut(&context)) {
            call.on_outcome(branch, outcome);
        }
        Some(event)
    }

    /// Sends the request of client transaction `key` again with the credentials of its trunk answering
    /// `challenge`. Returns whether it did.
    fn answer_trunk_challenge(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        context: ContextId,
        branch: BranchId,
        challenge: &Message,
    ) -> bool {
        let Some(trunk) = self.features.calls.get(&context).and_then(|c| c.trunk_to_answer(branch)) else {
            return false;
        };
        let (Some(sent), Some(client)) =
            (self.transactions.get(key).and_then(Transaction::request), self.clients.get(key))
        else {
            return false;
        };
        let (hop, alternatives) = (client.hop.clone(), client.alternatives.clone());
        let cnonce: [u8; 16] = rand::random();
        let answering =
            Answering { nonces: &mut self.features.nonces, cnonce: &cnonce, seal_key: self.features.policy.seal_key() };
        match trunk.answer(sent, challenge, answering, rand::random()) {
            Ok(retry) => {
                if !self.proxy.resend_branch(context, branch) {
                    debug!(%context, %branch, trunk = %trunk.name, "trunk challenge not answered: the branch is ending");
                    return false;
                }
                debug!(%context, %branch, trunk = %trunk.name, "trunk challenge answered");
                if let Some(call) = self.features.calls.get_mut(&context) {
                    call.mark_retried(branch);
                }
                self.superseded.insert(key.clone());
                self.start_client(now, Purpose::Branch(context, branch), retry, hop, alternatives);
                true
            }
            Err(why) => {
                warn!(%context, trunk = %trunk.name, %why, "trunk challenge not answered");
                false
            }
        }
    }

    /// An event of the client transaction `key` of a dialog's request to a trunk: its challenge answered (`None`:
    /// the core never sees it), a challenge that cannot be answered as a transport error, responses with the
    /// caller's CSeq number again.
    fn dialog_event(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        context: ContextId,
        branch: BranchId,
        event: Event,
    ) -> Option<Event> {
        let Event::Response(mut response) = event else { return Some(event) };
        let Some(request) = self.features.dialogs.get(&context) else { return Some(Event::Response(response)) };
        let status = response.status();
        if status.is_some_and(is_challenge) {
            let trunk = request.trunk.clone();
            if request.answered {
                warn!(%context, %trunk, "a trunk challenged a request of a dialog again after its answer");
                return Some(Event::TransportError);
            }
            let (Some(sent), Some(client)) =
                (self.transactions.get(key).and_then(Transaction::request).cloned(), self.clients.get(key))
            else {
                return Some(Event::TransportError);
            };
            let pending = DialogChallenge {
                context,
                branch,
                sent,
                hop: client.hop.clone(),
                key: key.clone(),
                challenge: response,
            };
            match self.features.trunk_accounts.get(trunk.to_lowercase().as_str()).cloned() {
                Some(account) => {
                    if self.answer_dialog_challenge(now, pending, &account) {
                        return None;
                    }
                    return Some(Event::TransportError);
                }
                None => {
                    // Not routed through since this node started: its account is read, the challenge held.
                    let (pool, completions) = (self.io.pool.clone(), self.io.completions.clone());
                    tokio::spawn(async move {
                        let lookup = bounded(carillon_db::trunk_by_name(&pool, &trunk)).await;
                        let _ = completions.send(Completion::DialogTrunk { pending: Box::new(pending), lookup });
                    });
                    return None;
                }
            }
        }
        if request.shift > 0 && shift_cseq(&mut response, -i64::from(request.shift)).is_none() {
            debug!(%context, "the CSeq of a trunk's response could not be shifted back");
        }
        Some(Event::Response(response))
    }

    /// The account of the trunk of a held challenge was read: the challenge answered, or the request failed.
    pub(super) fn dialog_trunk_read(
        &mut self,
        now: Instant,
        pending: DialogChallenge,
        lookup: Lookup<carillon_db::Trunk>,
    ) {
        let (context, branch) = (pending.context, pending.branch);
        let account = match lookup {
            Ok(Some(trunk)) => {
                let account = self.features.policy.trunk_account(&trunk);
                self.features.trunk_accounts.insert(trunk.name.to_lowercase().into(), Arc::clone(&account));
                Some(account)
            }
            Ok(None) => {
                warn!(%context, "the trunk of a dialog's request is no longer provisioned: its challenge is not answered");
                None
            }
            Err(e) => {
                warn!(%context, error = %e, "the trunk of a dialog's request could not be read: its challenge is not answered");
                None
            }
        };
        if !account.is_some_and(|account| self.answer_dialog_challenge(now, pending, &account)) {
            self.proxy.handle_branch_event(now, context, branch, Event::TransportError);
        }
    }

    /// Sends the challenged request of a dialog again with `account`'s credentials and the next CSeq number, on a
    /// new client transaction of the same branch, and remembers the dialog's shift. Returns whether it did.
    fn answer_dialog_challenge(&mut self, now: Instant, pending: DialogChallenge, account: &TrunkAccount) -> bool {
        let DialogChallenge { context, branch, sent, hop, key, challenge } = pending;
        let cnonce: [u8; 16] = rand::random();
        let answering =
            Answering { nonces: &mut self.features.nonces, cnonce: &cnonce, seal_key: self.features.policy.seal_key() };
        let retry = match account.answer_in_dialog(&sent, &challenge, answering, rand::random()) {
            Ok(retry) => retry,
            Err(why) => {
                warn!(%context, trunk = %account.name, %why, "trunk challenge of a dialog's request not answered");
                return false;
            }
        };
        if !self.proxy.resend_branch(context, branch) {
            debug!(%context, %branch, "trunk challenge not answered: the request is no longer wanted");
            return false;
        }
        let Some(request) = self.features.dialogs.get_mut(&context) else { return false };
        request.shift += 1;
        request.answered = true;
        let shift = request.shift;
        if !ends_dialog(&retry) {
            self.features.offsets.set(&retry, shift, now);
        }
        debug!(%context, trunk = %account.name, shift, method = ?retry.method(), "trunk challenge of a dialog's request answered");
        let alternatives = match self.clients.get(&key) {
            Some(client) => {
                self.superseded.insert(key.clone());
                client.alternatives.clone()
            }
            None => TargetList::default(),
        };
        self.start_client(now, Purpose::Branch(context, branch), retry, hop, alternatives);
        true
    }

    /// The dialog's CSeq shift on an ACK for a 2xx going to a trunk (statelessly, RFC 3261 §16.11): the ACK carries
    /// the number of the INVITE it acknowledges, which the trunk saw shifted.
    pub(super) fn shift_ack(&self, ack: &mut Message, hop: &NextHop) {
        if hop.tag.is_none() {
            return;
        }
        let shift = self.features.offsets.of(ack);
        if shift > 0 && shift_cseq(ack, i64::from(shift)).is_none() {
            debug!("the CSeq of an ACK to a trunk could not be shifted");
        }
    }

    /// How long the next hop of `branch` has to answer at all (a trunk's response timeout), if it must.
    pub(super) fn response_timeout(&self, context: ContextId, branch: BranchId) -> Option<Duration> {
        self.features.calls.get(&context).and_then(|c| c.response_timeout(branch))
    }

    /// The request of `branch` went to the next RFC 3263 target of its trunk: that server's challenge may be
    /// answered anew.
    pub(super) fn moved_to_next_target(&mut self, context: ContextId, branch: BranchId) {
        if let Some(call) = self.features.calls.get_mut(&context) {
            call.moved_to_next_target(branch);
        }
    }
}

/// The user part of a request's Request-URI (empty when it has none).
fn dialled_user(request: &Message) -> String {
    request
        .request_uri()
        .and_then(|u| Uri::parse(u).ok())
        .and_then(|u| u.as_sip().and_then(SipUri::user_unescaped).map(|u| u.into_owned()))
        .unwrap_or_default()
}

/// What the database says about `dialled` and the targets its user's forwarding names, bounded in time.
async fn fetch(pool: &PgPool, policy: &Policy, domain: &str, dialled: &str) -> DirectoryLookup {
    match tokio::time::timeout(LOOKUP_TIMEOUT, fetch_unbounded(pool, policy, domain, dialled)).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no answer within {LOOKUP_TIMEOUT:?}")),
    }
}

async fn fetch_unbounded(
    pool: &PgPool,
    policy: &Policy,
    domain: &str,
    dialled: &str,
) -> carillon_db::Result<Directory> {
    let mut directory = Directory::default();
    look_up(pool, policy, domain, dialled, &mut directory).await?;
    let forwards = directory.users.get(dialled).map(|c| policy.forward_lookups(&c.forwarding)).unwrap_or_default();
    for user in forwards {
        if !directory.users.contains_key(&user) {
            look_up(pool, policy, domain, &user, &mut directory).await?;
        }
    }
    Ok(directory)
}

/// Looks `user` up as an alias, and when none matches, as an outside number's route.
async fn look_up(
    pool: &PgPool,
    policy: &Policy,
    domain: &str,
    user: &str,
    directory: &mut Directory,
) -> carillon_db::Result<()> {
    if let Some(callee) = carillon_db::callee(pool, domain, user).await? {
        directory.users.insert(user.to_owned(), callee);
        return Ok(());
    }
    if let Some(number) = policy.plan.outside_number(user)
        && !directory.routes.contains_key(&number.number)
        && let Some(route) = carillon_db::outbound_route(pool, &number.number).await?
    {
        directory.routes.insert(number.number, route);
    }
    Ok(())
}
