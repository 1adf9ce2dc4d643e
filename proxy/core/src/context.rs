//! One response context (RFC 3261 §16.2): the state of one request proxied statefully, from the target lookup
//! through its branches to the final response and the late 2xx responses after it.
//!
//! The context moves through [`Phase`]s: waiting for targets, forwarding (one target set at a time), responded
//! (the final response went upstream; branches still running are cancelled and their 2xx still forwarded),
//! finished. Each branch has its own [`BranchState`], following what its client transaction reported.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use carillon_sip::transaction::{Event, Timer, TransactionKey, build_cancel};
use carillon_sip::uri::Uri;
use carillon_sip::validate::{check_response, check_upstream_via};
use carillon_sip::{Error, HeaderName, Message, Method, StatusCode};

use crate::action::{Action, BranchId, CallDisposition, CallRecord, ContextId};
use crate::config::{Identity, ListenerId, ProxyConfig};
use crate::forward::{self, CopySpec, Side};
use crate::route::normalize_route;
use crate::select::{self, Final};
use crate::targets::{Flow, Reply, Targets};

/// What a context reads from the proxy it belongs to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Env<'a> {
    pub(crate) identity: &'a Identity,
    pub(crate) config: &'a ProxyConfig,
}

/// Where a context's actions go, tagged with its id.
#[derive(Debug)]
pub(crate) struct Out<'a> {
    pub(crate) id: ContextId,
    pub(crate) queue: &'a mut VecDeque<(ContextId, Action)>,
}

impl Out<'_> {
    pub(crate) fn push(&mut self, action: Action) {
        self.queue.push_back((self.id, action));
    }
}

/// One target as the context plans it.
#[derive(Debug, Clone)]
struct Planned {
    /// `None` keeps the request's Request-URI ([`Targets::FollowRoute`]).
    uri: Option<String>,
    route: Vec<String>,
    flow: Option<Flow>,
    outbound: bool,
    tag: Option<String>,
    timeout: Option<Duration>,
    label: Option<String>,
}

#[derive(Debug)]
enum Phase {
    /// [`Action::NeedTargets`] was emitted; 504 at `deadline`.
    AwaitingTargets { deadline: Instant },
    /// Branches of the current target set are out; `next_sets` wait their turn.
    Forwarding { next_sets: VecDeque<Vec<Planned>> },
    /// The final response went upstream. Running branches are being cancelled; 2xx responses are still
    /// forwarded until `until`, or until every branch has ended without one.
    Responded { until: Instant },
    /// Nothing more to do; the proxy drops the context.
    Finished,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BranchState {
    /// Sent; no response yet.
    Calling,
    /// A provisional response arrived.
    Proceeding,
    /// A 2xx arrived; later 2xx responses on this branch are forwarded too (RFC 6026).
    Accepted,
    /// A non-2xx final response arrived, or the client transaction timed out or failed: nothing more comes.
    Completed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cancel {
    NotWanted,
    /// Wanted, but RFC 3261 §9.1 forbids sending it before a provisional response: sent when one arrives.
    AtFirstProvisional,
    Sent,
}

#[derive(Debug)]
struct Branch {
    /// Who the target is ([`crate::Target::label`], else its URI), for the call record if this branch answers.
    label: String,
    /// The INVITE as forwarded, to build its CANCEL from; `None` for other methods, which cannot be cancelled.
    invite: Option<Message>,
    state: BranchState,
    /// When this branch is given up ([`crate::Target::timeout`]).
    deadline: Option<Instant>,
    cancel: Cancel,
    /// Whether its outcome is in the response context: its final response, or a stand-in (408 when it timed
    /// out or was given up, 503 when it could not be sent). A target set is done when all its branches are.
    counted: bool,
}

impl Branch {
    fn is_running(&self) -> bool {
        matches!(self.state, BranchState::Calling | BranchState::Proceeding)
    }
}

/// A target already in the target set (RFC 3261 §16.5: never added twice): its Request-URI, route and flow.
#[derive(Debug)]
struct Tried {
    uri: String,
    route: Vec<String>,
    flow: Option<Flow>,
}

impl Tried {
    fn same_as(&self, other: &Tried) -> bool {
        let same_uri = match (Uri::parse(&self.uri), Uri::parse(&other.uri)) {
            (Ok(a), Ok(b)) => a.equivalent(&b),
            _ => self.uri == other.uri,
        };
        same_uri && self.route == other.route && self.flow == other.flow
    }
}

/// One response context. See the module documentation.
#[derive(Debug)]
pub(crate) struct Context {
    /// The request after §16.4 preprocessing; every copy starts from it, and generated responses are built on it.
    request: Message,
    method: Method,
    inbound: ListenerId,
    started: Instant,
    /// The randomness passed in with the request: branch identifiers and the To tag are drawn from it.
    random: u64,
    loop_hash: String,
    /// The key of the INVITE server transaction, under which the proxy finds this context for a CANCEL.
    pub(crate) invite_key: Option<TransactionKey>,
    /// The route token of the flow the request came over and whether `ob` goes with it, when the sender is
    /// reached over that flow: for the Record-Route entry facing the sender.
    sender: Option<(String, bool)>,
    /// The flow and tag of the route token the request named, for [`Targets::FollowRoute`].
    token_hop: (Option<Flow>, Option<String>),
    /// The request is forwarded by its route ([`Targets::FollowRoute`]) rather than to targets the caller chose.
    follows_route: bool,
    /// The deadline the proxy filed this context under.
    pub(crate) scheduled: Option<Instant>,
    phase: Phase,
    branches: Vec<Branch>,
    /// The final outcomes of the branches (§16.7 step 4), in arrival order.
    finals: Vec<Final>,
    tried: Vec<Tried>,
    /// The caller sent a CANCEL (§16.10): no new branches, and 487 when no branch gives a response.
    cancelled: bool,
    /// A 6xx arrived (§16.7 step 5): no new branches.
    global_failure: bool,
    answered: Option<Instant>,
    /// The label of the branch whose 2xx went upstream first.
    answered_by: Option<String>,
}

/// What a new context is created with.
#[derive(Debug)]
pub(crate) struct NewContext {
    pub(crate) request: Message,
    pub(crate) inbound: ListenerId,
    pub(crate) random: u64,
    pub(crate) loop_hash: String,
    pub(crate) invite_key: Option<TransactionKey>,
    pub(crate) sender: Option<(String, bool)>,
    pub(crate) token_hop: (Option<Flow>, Option<String>),
}

impl Context {
    /// A context waiting for its targets.
    pub(crate) fn new(now: Instant, new: NewContext, env: Env<'_>) -> Context {
        let method = new.request.method().cloned().unwrap_or(Method::Invite);
        Context {
            request: new.request,
            method,
            inbound: new.inbound,
            started: now,
            random: new.random,
            loop_hash: new.loop_hash,
            invite_key: new.invite_key,
            sender: new.sender,
            token_hop: new.token_hop,
            follows_route: false,
            scheduled: None,
            phase: Phase::AwaitingTargets { deadline: now + env.config.timers.target_lookup },
            branches: Vec::new(),
            finals: Vec::new(),
            tried: Vec::new(),
            cancelled: false,
            global_failure: false,
            answered: None,
            answered_by: None,
        }
    }

    /// The request, for [`Action::NeedTargets`].
    pub(crate) fn request(&self) -> &Message {
        &self.request
    }

    /// The To tag of responses this context generates.
    pub(crate) fn to_tag(&self) -> String {
        forward::to_tag(self.random)
    }

    pub(crate) fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Finished)
    }

    /// When [`Context::handle_timeout`] must next be called.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        match &self.phase {
            Phase::AwaitingTargets { deadline } => Some(*deadline),
            Phase::Forwarding { .. } => {
                self.branches.iter().filter(|b| b.is_running()).filter_map(|b| b.deadline).min()
            }
            Phase::Responded { until } => Some(*until),
            Phase::Finished => None,
        }
    }

    /// The caller's answer to [`Action::NeedTargets`].
    pub(crate) fn provide_targets(
        &mut self,
        now: Instant,
        targets: Targets,
        env: Env<'_>,
        out: &mut Out<'_>,
    ) -> Result<(), Error> {
        if !matches!(self.phase, Phase::AwaitingTargets { .. }) {
            return Err(Error::NotApplicable("targets are given once, in answer to NeedTargets"));
        }
        match targets {
            Targets::Respond(reply) => {
                if reply.status.is_provisional() {
                    return Err(Error::NotApplicable("a reply must be a final response"));
                }
                let status = reply.status;
                let message = self.reply(&reply);
                self.send_final(now, message, status, env, out);
            }
            Targets::FollowRoute => {
                let (flow, tag) = self.token_hop.clone();
                let planned =
                    Planned { uri: None, route: Vec::new(), flow, outbound: false, tag, timeout: None, label: None };
                self.follows_route = true;
                self.phase = Phase::Forwarding { next_sets: VecDeque::from([vec![planned]]) };
            }
            Targets::Fork(sets) => {
                let next_sets = sets
                    .into_iter()
                    .map(|set| {
                        set.targets
                            .into_iter()
                            .map(|t| Planned {
                                uri: Some(t.uri),
                                route: t.route,
                                flow: t.flow,
                                outbound: t.outbound,
                                tag: t.tag,
                                timeout: t.timeout,
                                label: t.label,
                            })
                            .collect()
                    })
                    .collect();
                self.phase = Phase::Forwarding { next_sets };
            }
        }
        self.advance(now, env, out);
        Ok(())
    }

    /// What a branch's client transaction reported.
    pub(crate) fn handle_branch_event(
        &mut self,
        now: Instant,
        branch: BranchId,
        event: Event,
        env: Env<'_>,
        out: &mut Out<'_>,
    ) {
        let index = branch.0 as usize;
        if index >= self.branches.len() {
            return;
        }
        match event {
            Event::Response(response) => self.on_response(now, index, response, env, out),
            // §16.8: after a provisional response, Timer C means CANCEL; before one, it is a 408. The CANCEL's
            // 487 would tell the caller it cancelled, so the branch counts as the timeout it is.
            Event::Timeout(Timer::C) if self.branches[index].state == BranchState::Proceeding => {
                self.give_up(index, out);
            }
            Event::Timeout(_) => self.end_branch(index, StatusCode::REQUEST_TIMEOUT),
            // §16.9: a request that could not be sent is answered as if by a 503.
            Event::TransportError => self.end_branch(index, StatusCode::SERVICE_UNAVAILABLE),
            Event::Terminated | Event::Request(_) | Event::Ack(_) => {}
        }
        self.advance(now, env, out);
    }

    /// The flow of `branch` is gone; see [`crate::Proxy::handle_flow_failure`].
    pub(crate) fn handle_flow_failure(&mut self, now: Instant, branch: BranchId, env: Env<'_>, out: &mut Out<'_>) {
        let index = branch.0 as usize;
        if index >= self.branches.len() {
            return;
        }
        let status = if self.follows_route { StatusCode::FLOW_FAILED } else { StatusCode::TEMPORARILY_UNAVAILABLE };
        self.end_branch(index, status);
        self.advance(now, env, out);
    }

    /// The driver sends `branch`'s request again on a new client transaction; see [`crate::Proxy::resend_branch`].
    pub(crate) fn resend_branch(&mut self, branch: BranchId) -> bool {
        let forwarding = matches!(self.phase, Phase::Forwarding { .. });
        let Some(branch) = self.branches.get_mut(branch.0 as usize) else { return false };
        if !forwarding || !branch.is_running() || branch.cancel != Cancel::NotWanted {
            return false;
        }
        branch.state = BranchState::Calling;
        true
    }

    /// A CANCEL for this context's INVITE arrived (§16.10): cancel every running branch and start no more. A
    /// context still waiting for targets answers 487 at once.
    pub(crate) fn cancel(&mut self, now: Instant, env: Env<'_>, out: &mut Out<'_>) {
        match self.phase {
            Phase::AwaitingTargets { .. } => {
                self.cancelled = true;
                let message = self.generate(StatusCode::REQUEST_TERMINATED);
                self.send_final(now, message, StatusCode::REQUEST_TERMINATED, env, out);
            }
            Phase::Forwarding { .. } => {
                self.cancelled = true;
                self.cancel_running(out);
            }
            Phase::Responded { .. } | Phase::Finished => {}
        }
        self.advance(now, env, out);
    }

    /// Applies every deadline due at `now`: the target lookup (504), branches given up after their target's
    /// timeout, the end of the wait for late 2xx responses.
    pub(crate) fn handle_timeout(&mut self, now: Instant, env: Env<'_>, out: &mut Out<'_>) {
        match self.phase {
            Phase::AwaitingTargets { deadline } if deadline <= now => {
                let message = self.generate(StatusCode::SERVER_TIMEOUT);
                self.send_final(now, message, StatusCode::SERVER_TIMEOUT, env, out);
            }
            Phase::Forwarding { .. } => {
                for index in 0..self.branches.len() {
                    let branch = &self.branches[index];
                    if branch.is_running() && branch.deadline.is_some_and(|d| d <= now) {
                        self.give_up(index, out);
                    }
                }
            }
            Phase::Responded { until } if until <= now => self.phase = Phase::Finished,
            _ => {}
        }
        self.advance(now, env, out);
    }

    /// RFC 3261 §16.7 for one response received on branch `index`.
    fn on_response(&mut self, now: Instant, index: usize, mut response: Message, env: Env<'_>, out: &mut Out<'_>) {
        let Some(status) = response.status() else { return };
        // Step 1 is the client transaction's matching. A malformed response, or one whose next Via upstream could
        // not be used (RFC 4475 §3.3.10), is dropped.
        if check_response(&response).is_err() || check_upstream_via(&response).is_err() {
            return;
        }
        // Step 3: our Via off; with none left, the response was for this proxy and goes nowhere.
        response.remove_first_value(HeaderName::Via);
        if response.header(HeaderName::Via).is_none() {
            return;
        }
        let forwarding = matches!(self.phase, Phase::Forwarding { .. });
        let branch = &mut self.branches[index];
        if status.is_provisional() {
            if branch.state == BranchState::Calling {
                branch.state = BranchState::Proceeding;
                if branch.cancel == Cancel::AtFirstProvisional {
                    self.cancel_branch(index, out);
                }
            }
            // Step 5: provisional responses other than 100 go upstream at once, unless this branch is no
            // longer wanted or the final response has already gone.
            let branch = &self.branches[index];
            if forwarding && status != StatusCode::TRYING && branch.cancel == Cancel::NotWanted && branch.is_running() {
                out.push(Action::Respond { message: response });
            }
            return;
        }
        match branch.state {
            // RFC 6026: every 2xx the client transaction passes up is forwarded, retransmissions and other forks
            // included.
            BranchState::Accepted if status.is_success() => out.push(Action::Respond { message: response }),
            BranchState::Accepted | BranchState::Completed => {}
            BranchState::Calling | BranchState::Proceeding if status.is_success() => {
                // Only an INVITE client transaction passes later 2xx responses up (RFC 6026).
                branch.state = if branch.invite.is_some() { BranchState::Accepted } else { BranchState::Completed };
                branch.counted = true;
                branch.deadline = None;
                // Step 5: a 2xx goes upstream at once, even after a final response (§16.7: "after a final
                // response has been sent ... any 2xx response to an INVITE MUST be forwarded immediately").
                out.push(Action::Respond { message: response });
                if forwarding {
                    self.answered_by = Some(branch.label.clone());
                    self.finish(now, status, env, out);
                    // Step 10: every other branch is cancelled.
                    self.cancel_running(out);
                }
            }
            BranchState::Calling | BranchState::Proceeding => {
                branch.state = BranchState::Completed;
                branch.deadline = None;
                if !branch.counted {
                    branch.counted = true;
                    // Step 5: a 6xx is not forwarded at once, but ends the search: pending branches are
                    // cancelled and no new ones are created.
                    if status.class() == 6 && forwarding {
                        self.global_failure = true;
                        self.finals.push(Final::Received(response));
                        self.cancel_running(out);
                    } else {
                        self.finals.push(Final::Received(response));
                    }
                }
            }
        }
    }

    /// Stops waiting for branch `index` (its target's timeout, or Timer C): it counts as a 408 and is cancelled;
    /// a 2xx it may still send is forwarded all the same.
    fn give_up(&mut self, index: usize, out: &mut Out<'_>) {
        let branch = &mut self.branches[index];
        branch.deadline = None;
        if !branch.counted {
            branch.counted = true;
            self.finals.push(Final::StandIn(StatusCode::REQUEST_TIMEOUT));
        }
        self.cancel_branch(index, out);
    }

    /// A branch's client transaction ended without a final response: `status` stands in for one.
    fn end_branch(&mut self, index: usize, status: StatusCode) {
        let branch = &mut self.branches[index];
        if !branch.is_running() {
            return;
        }
        branch.state = BranchState::Completed;
        branch.deadline = None;
        if !branch.counted {
            branch.counted = true;
            self.finals.push(Final::StandIn(status));
        }
    }

    /// Cancels every branch still running (INVITE only; other requests cannot be cancelled, §9).
    fn cancel_running(&mut self, out: &mut Out<'_>) {
        for index in 0..self.branches.len() {
            if self.branches[index].is_running() {
                self.cancel_branch(index, out);
            }
        }
    }

    /// Sends the CANCEL of branch `index` now if it had a provisional response, or as soon as it has one (§9.1).
    fn cancel_branch(&mut self, index: usize, out: &mut Out<'_>) {
        let branch = &mut self.branches[index];
        let Some(invite) = &branch.invite else { return };
        match (branch.state, branch.cancel) {
            (BranchState::Calling, Cancel::NotWanted) => branch.cancel = Cancel::AtFirstProvisional,
            (BranchState::Proceeding, Cancel::NotWanted | Cancel::AtFirstProvisional) => {
                // The forwarded INVITE was built by this proxy and parses, so this only fails on a mistake here;
                // the branch then runs to its own end (Timer C or B).
                if let Ok(message) = build_cancel(invite) {
                    out.push(Action::Cancel { branch: BranchId(index as u32), message });
                }
                branch.cancel = Cancel::Sent;
            }
            _ => {}
        }
    }

    /// Moves on when the current target set is done: the next set, or the best response (§16.7 step 6); and ends
    /// the context once it has nothing left to forward.
    fn advance(&mut self, now: Instant, env: Env<'_>, out: &mut Out<'_>) {
        // Each pass starts a set (there are finitely many) or sends the final response (which leaves
        // Forwarding), so this ends.
        loop {
            match &mut self.phase {
                Phase::Forwarding { next_sets } => {
                    if self.branches.iter().any(|b| !b.counted) {
                        return;
                    }
                    let next = if self.cancelled || self.global_failure { None } else { next_sets.pop_front() };
                    match next {
                        Some(set) => self.start_set(now, set, env, out),
                        None => self.respond_best(now, env, out),
                    }
                }
                Phase::Responded { until } => {
                    let nothing_more = self.branches.iter().all(|b| b.state == BranchState::Completed);
                    if nothing_more || *until <= now {
                        self.phase = Phase::Finished;
                    }
                    return;
                }
                Phase::AwaitingTargets { .. } | Phase::Finished => return,
            }
        }
    }

    /// Forwards the request to every target of `set` not tried before (§16.5, §16.6).
    fn start_set(&mut self, now: Instant, set: Vec<Planned>, env: Env<'_>, out: &mut Out<'_>) {
        for planned in set {
            let route: Result<Vec<String>, Error> = planned.route.iter().map(|r| normalize_route(r)).collect();
            let uri = planned.uri.clone().unwrap_or_else(|| self.request.request_uri().unwrap_or("").to_owned());
            let Ok(route) = route else {
                self.finals.push(Final::StandIn(StatusCode::SERVICE_UNAVAILABLE));
                continue;
            };
            let tried = Tried { uri, route, flow: planned.flow };
            if self.tried.iter().any(|t| t.same_as(&tried)) {
                continue;
            }
            // A target the proxy cannot forward to is a request that could not be sent (§16.9).
            if Uri::parse(&tried.uri).is_err() {
                self.tried.push(tried);
                self.finals.push(Final::StandIn(StatusCode::SERVICE_UNAVAILABLE));
                continue;
            }
            let index = u32::try_from(self.branches.len()).unwrap_or(u32::MAX);
            let branch = forward::branch(&self.loop_hash, self.random, index);
            let record_route = env.config.record_route && forward::records_route(&self.method);
            let target_token = if record_route {
                forward::route_token(&env.config.secret, env.identity, tried.flow, planned.tag.as_deref())
            } else {
                None
            };
            let spec = CopySpec {
                uri: planned.uri.as_deref(),
                route: &tried.route,
                flow: tried.flow,
                tag: planned.tag.as_deref(),
                branch: &branch,
                inbound: self.inbound,
                record_route,
                sender: self
                    .sender
                    .as_ref()
                    .map(|(token, ob)| Side { token: Some(token), ob: *ob })
                    .unwrap_or_default(),
                target: Side { token: target_token.as_deref(), ob: planned.outbound && tried.flow.is_some() },
            };
            match forward::make_copy(&self.request, spec, env.identity) {
                Ok((message, target)) => {
                    let invite = (self.method == Method::Invite).then(|| message.clone());
                    self.branches.push(Branch {
                        label: planned.label.clone().unwrap_or_else(|| tried.uri.clone()),
                        invite,
                        state: BranchState::Calling,
                        deadline: planned.timeout.map(|t| now + t),
                        cancel: Cancel::NotWanted,
                        counted: false,
                    });
                    out.push(Action::Forward { branch: BranchId(index), message, target });
                }
                Err(_) => self.finals.push(Final::StandIn(StatusCode::SERVICE_UNAVAILABLE)),
            }
            self.tried.push(tried);
        }
    }

    /// §16.7 step 6 and 7: every branch is done and no set is left; the best response goes upstream.
    fn respond_best(&mut self, now: Instant, env: Env<'_>, out: &mut Out<'_>) {
        let chosen = select::best(&self.finals);
        let (message, status) = match chosen.map(|i| (i, &self.finals[i])) {
            // §16.5: an empty target set is answered 480.
            None if self.cancelled => (self.generate(StatusCode::REQUEST_TERMINATED), StatusCode::REQUEST_TERMINATED),
            None => (self.generate(StatusCode::TEMPORARILY_UNAVAILABLE), StatusCode::TEMPORARILY_UNAVAILABLE),
            Some((_, f)) if f.status() == StatusCode::SERVICE_UNAVAILABLE => {
                let status =
                    if self.cancelled { StatusCode::REQUEST_TERMINATED } else { StatusCode::SERVER_INTERNAL_ERROR };
                (self.generate(status), status)
            }
            Some((_, Final::StandIn(status))) => {
                let status = if self.cancelled { StatusCode::REQUEST_TERMINATED } else { *status };
                (self.generate(status), status)
            }
            Some((i, Final::Received(response))) => {
                let mut response = response.clone();
                let status = response.status().unwrap_or(StatusCode::SERVER_INTERNAL_ERROR);
                if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::PROXY_AUTHENTICATION_REQUIRED) {
                    select::aggregate_challenges(&mut response, &self.finals, i);
                }
                (Some(response), status)
            }
        };
        self.send_final(now, message, status, env, out);
    }

    /// Sends the final response upstream and the call record, and starts the wait for late 2xx responses.
    fn send_final(
        &mut self,
        now: Instant,
        message: Option<Message>,
        status: StatusCode,
        env: Env<'_>,
        out: &mut Out<'_>,
    ) {
        if let Some(message) = message {
            out.push(Action::Respond { message });
        }
        self.finish(now, status, env, out);
    }

    /// Records the final outcome: the call record, and the wait for late 2xx responses.
    fn finish(&mut self, now: Instant, status: StatusCode, env: Env<'_>, out: &mut Out<'_>) {
        if status.is_success() && self.answered.is_none() {
            self.answered = Some(now);
        }
        out.push(Action::Done(CallRecord {
            method: self.method.clone(),
            call_id: self.request.call_id().unwrap_or("").to_owned(),
            from: self.request.header(HeaderName::From).unwrap_or("").to_owned(),
            request_uri: self.request.request_uri().unwrap_or("").to_owned(),
            started: self.started,
            answered: self.answered,
            answered_by: self.answered_by.clone(),
            ended: now,
            status,
            disposition: CallDisposition::from_final(status, self.cancelled),
        }));
        self.phase = Phase::Responded { until: now + env.config.timers.linger };
    }

    /// A response generated by this proxy (with its To tag). `None` only if the request cannot be answered at
    /// all, which validation rules out.
    fn generate(&self, status: StatusCode) -> Option<Message> {
        Message::response_to(&self.request, status).to_tag(&self.to_tag()).build().ok()
    }

    /// The caller's [`Reply`], built on the request.
    fn reply(&self, reply: &Reply) -> Option<Message> {
        let reason = reply.reason.as_deref().unwrap_or(reply.status.canonical_reason());
        let mut builder = Message::response_with_reason(&self.request, reply.status, reason).to_tag(&self.to_tag());
        for (name, value) in &reply.headers {
            builder = builder.header(name, value);
        }
        builder.build().ok()
    }
}
