//! [`Proxy`]: the entry point. It checks and preprocesses every received request (RFC 3261 §16.3, §16.4),
//! answers what needs no state (refusals, loops, OPTIONS to itself, CANCEL), forwards ACKs for 2xx statelessly,
//! and keeps a response context for every other request, multiplexing their inputs and actions by id.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Instant;

use carillon_sip::transaction::{Event, TransactionKey};
use carillon_sip::uri::{SipUri, Uri};
use carillon_sip::validate::{Policy, Role};
use carillon_sip::{Error, HeaderName, Message, Method, StatusCode};

use crate::action::{Action, BranchId, ContextId, Handled};
use crate::config::{Identity, ListenerId, ProxyConfig};
use crate::context::{Context, Env, NewContext, Out};
use crate::forward::{self, CopySpec, Side};
use crate::route::{self, Preprocessed};
use crate::targets::{Flow, Targets};

/// Request-URI schemes the proxy forwards (416 for others, RFC 3261 §16.3 step 2).
const URI_SCHEMES: &[&str] = &["sip", "sips", "tel"];

/// The body type advertised in the answer to OPTIONS: the proxy forwards SDP offers.
const ACCEPT: &str = "application/sdp";

/// A stateful SIP proxy's decisions, sans-IO. See the crate documentation for the model.
#[derive(Debug)]
pub struct Proxy {
    config: ProxyConfig,
    identity: Identity,
    contexts: HashMap<ContextId, Context>,
    /// Contexts of INVITEs by the key of their server transaction, for CANCEL (§16.10).
    invites: HashMap<TransactionKey, ContextId>,
    /// Every context's next deadline.
    deadlines: BTreeSet<(Instant, ContextId)>,
    actions: VecDeque<(ContextId, Action)>,
    next_id: u64,
}

impl Proxy {
    /// A proxy with this configuration. Fails when it has no listener, or a listener host, alias or domain is
    /// not a host.
    pub fn new(config: ProxyConfig) -> Result<Proxy, Error> {
        let identity = Identity::new(&config)?;
        Ok(Proxy {
            config,
            identity,
            contexts: HashMap::new(),
            invites: HashMap::new(),
            deadlines: BTreeSet::new(),
            actions: VecDeque::new(),
            next_id: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ProxyConfig {
        &self.config
    }

    /// How many response contexts are alive.
    pub fn len(&self) -> usize {
        self.contexts.len()
    }

    /// Whether no response context is alive.
    pub fn is_empty(&self) -> bool {
        self.contexts.is_empty()
    }

    /// A request received over `source` (the listener it arrived on, the sender's address, the connection),
    /// after its server transaction (if any) passed it up; `random` is fresh randomness for its branch
    /// identifiers and To tag.
    ///
    /// In order: §16.3 validation (answered with the status of the fault; an OPTIONS with Max-Forwards 0 is
    /// answered 200 instead of 483), §16.4 preprocessing, then by kind:
    /// - CANCEL: 200 and every branch of the matching INVITE's context cancelled, 481 when nothing matches;
    /// - ACK: forwarded statelessly when it named this proxy in its route (a 2xx's ACK in a dialog this proxy
    ///   record-routed or fronts as outbound proxy) and has somewhere to go; dropped otherwise;
    /// - a loop (§16.3 step 4): 482;
    /// - OPTIONS addressed to the proxy itself (or one of its domains, without a user part): 200;
    /// - an in-dialog request (To tag) that named this proxy in its route: forwarded by its Route set;
    /// - anything else: a response context asking the caller for targets ([`Action::NeedTargets`]).
    ///
    /// A request forwarded by its Route set (or an ACK) goes over the flow in the route token of the last of this
    /// proxy's Record-Route entries it named, when that token is one of this proxy's and its flow is not the one
    /// the request came over (RFC 5626 §5.3); [`NextHop::tag`](crate::NextHop::tag) is the token's tag. Copies
    /// of requests that came over a flow the sender must be reached on (see `forward::sender_flow`) carry a
    /// token of it in the Record-Route entry facing the sender.
    pub fn handle_request(&mut self, now: Instant, request: Message, source: Flow, random: u64) -> Handled {
        let to_tag = forward::to_tag(random);
        let inbound = source.listener;
        let Some(method) = request.method().cloned() else { return Handled::Drop };
        let Some(listener) = self.identity.listener(inbound) else {
            // The driver's mistake; answered 500 like any internal fault, except that an ACK is never answered.
            if method == Method::Ack {
                return Handled::Drop;
            }
            return refuse(&request, &Error::NotApplicable("request from an unknown listener"), &to_tag);
        };
        if let Err(e) = self.check(&request) {
            return match (&method, &e) {
                (Method::Ack, _) => Handled::Drop,
                // §16.3 step 3: "If the request is an OPTIONS request, the element MAY act as the final recipient".
                (Method::Options, Error::TooManyHops) => self.options_answer(&request, &to_tag),
                _ => refuse(&request, &e, &to_tag),
            };
        }
        // The server transaction's key comes from the request as received, before preprocessing changes it.
        let key = match method {
            Method::Invite => TransactionKey::for_request(&request).ok(),
            Method::Cancel => TransactionKey::cancelled_invite(&request).ok(),
            _ => None,
        };
        let transport = listener.transport;
        let mut request = request;
        let preprocessed = route::preprocess(&mut request, &self.identity, listener);
        let token_hop =
            forward::token_hop(&self.config.secret, &self.identity, preprocessed.last_user.as_deref(), &source);
        match method {
            Method::Cancel => return self.handle_cancel(now, &request, key, &to_tag),
            Method::Ack => return self.forward_ack(&request, inbound, &preprocessed, token_hop),
            _ => {}
        }
        let loop_hash = forward::loop_hash(&self.config.secret, &request);
        if forward::has_looped(&request, &self.identity, &loop_hash) {
            return refuse(&request, &Error::LoopDetected, &to_tag);
        }
        if method == Method::Options && self.addressed_to_us(&request) {
            return self.options_answer(&request, &to_tag);
        }
        let follow_route = self.follows_route(&request, &preprocessed);
        let sender = forward::sender_flow(&request, &source, transport).and_then(|ob| {
            forward::route_token(&self.config.secret, &self.identity, Some(source), None).map(|token| (token, ob))
        });
        let id = ContextId(self.next_id);
        self.next_id += 1;
        let env = Env { identity: &self.identity, config: &self.config };
        let new = NewContext { request, inbound, random, loop_hash, invite_key: key.clone(), sender, token_hop };
        let mut context = Context::new(now, new, env);
        let mut out = Out { id, queue: &mut self.actions };
        if follow_route {
            // A context waiting for targets always takes them.
            let _ = context.provide_targets(now, Targets::FollowRoute, env, &mut out);
        } else {
            out.push(Action::NeedTargets { request: context.request().clone() });
        }
        self.contexts.insert(id, context);
        if let Some(key) = key {
            self.invites.entry(key).or_insert(id);
        }
        self.settle(id);
        Handled::Context(id)
    }

    /// The caller's answer to [`Action::NeedTargets`] for context `id`. Fails when the context is gone or was
    /// not waiting for targets (it was cancelled, or the lookup timed out).
    pub fn provide_targets(&mut self, now: Instant, id: ContextId, targets: Targets) -> Result<(), Error> {
        let context = self.contexts.get_mut(&id).ok_or(Error::NotApplicable("no such response context"))?;
        let env = Env { identity: &self.identity, config: &self.config };
        let result = context.provide_targets(now, targets, env, &mut Out { id, queue: &mut self.actions });
        self.settle(id);
        result
    }

    /// An event of the client transaction of `branch` in context `id` (a response, a timeout, a transport
    /// error). Events for contexts that are gone are ignored.
    pub fn handle_branch_event(&mut self, now: Instant, id: ContextId, branch: BranchId, event: Event) {
        let Some(context) = self.contexts.get_mut(&id) else { return };
        let env = Env { identity: &self.identity, config: &self.config };
        context.handle_branch_event(now, branch, event, env, &mut Out { id, queue: &mut self.actions });
        self.settle(id);
    }

    /// The driver is about to send the request of `branch` in context `id` again on a new client transaction
    /// ([`crate::rebranch`]): to the next RFC 3263 target of its next hop after a failure (RFC 3263 §4.3), or with
    /// credentials after the next hop's challenge (RFC 3261 §22.2). Returns whether it may: only while the branch
    /// runs and nothing wants it cancelled (a CANCEL from the caller, a 2xx or 6xx on another branch, the target's
    /// timeout). The branch then counts as just sent: its events are the new transaction's, and a CANCEL waits for
    /// a provisional response of it (§9.1).
    pub fn resend_branch(&mut self, id: ContextId, branch: BranchId) -> bool {
        self.contexts.get_mut(&id).is_some_and(|context| context.resend_branch(branch))
    }

    /// The flow `branch` of context `id` was sent over ([`NextHop::flow`](crate::NextHop::flow)) is gone: its
    /// connection closed, or its address is unreachable. The branch ends as if answered 430 Flow Failed when it
    /// followed a route token (RFC 5626 §5.3: the caller learns the flow failed), and 480 Temporarily Unavailable
    /// when it went to a registered contact's flow (RFC 5626 §7: the contact is not reachable now).
    pub fn handle_flow_failure(&mut self, now: Instant, id: ContextId, branch: BranchId) {
        let Some(context) = self.contexts.get_mut(&id) else { return };
        let env = Env { identity: &self.identity, config: &self.config };
        context.handle_flow_failure(now, branch, env, &mut Out { id, queue: &mut self.actions });
        self.settle(id);
    }

    /// Applies every deadline due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<ContextId> = self.deadlines.iter().take_while(|(at, _)| *at <= now).map(|(_, id)| *id).collect();
        for id in due {
            if let Some(context) = self.contexts.get_mut(&id) {
                let env = Env { identity: &self.identity, config: &self.config };
                context.handle_timeout(now, env, &mut Out { id, queue: &mut self.actions });
            }
            self.settle(id);
        }
    }

    /// When [`Proxy::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first().map(|(at, _)| *at)
    }

    /// The next action, with the context it belongs to.
    pub fn poll_action(&mut self) -> Option<(ContextId, Action)> {
        self.actions.pop_front()
    }

    /// §16.3 steps 1, 2, 3 and 5 (step 4, loops, needs the preprocessed request).
    fn check(&self, request: &Message) -> Result<(), Error> {
        let supported: Vec<&str> = self.config.supported.iter().map(String::as_str).collect();
        let policy = Policy {
            role: Role::Proxy,
            uri_schemes: URI_SCHEMES,
            supported: &supported,
            methods: &[],
            body_types: &[],
        };
        policy.check(request)
    }

    /// §16.10. RFC 3261 has a proxy forward a CANCEL it cannot match statelessly, in case it forwarded the
    /// INVITE statelessly; this proxy never does, so an unmatched CANCEL cannot concern anything it sent and is
    /// answered 481 at once, as a user agent would (§9.2).
    fn handle_cancel(&mut self, now: Instant, cancel: &Message, key: Option<TransactionKey>, to_tag: &str) -> Handled {
        let id = key.and_then(|k| self.invites.get(&k).copied());
        let Some((id, context)) = id.and_then(|id| self.contexts.get_mut(&id).map(|c| (id, c))) else {
            return respond(cancel, StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST, &[], to_tag);
        };
        // §9.2: the answer to the CANCEL carries the To tag of the INVITE's answer, where the proxy generates one.
        let tag = context.to_tag();
        let env = Env { identity: &self.identity, config: &self.config };
        context.cancel(now, env, &mut Out { id, queue: &mut self.actions });
        self.settle(id);
        respond(cancel, StatusCode::OK, &[], &tag)
    }

    /// An ACK reaching the proxy core belongs to a 2xx (the INVITE server transaction absorbs the others): it is
    /// forwarded statelessly (§16.11) along its route, if it named this proxy there, over the flow of its route
    /// token if it has one.
    fn forward_ack(
        &self,
        ack: &Message,
        inbound: ListenerId,
        preprocessed: &Preprocessed,
        (flow, tag): (Option<Flow>, Option<String>),
    ) -> Handled {
        if !preprocessed.named_us || !self.has_next_hop(ack) {
            return Handled::Drop;
        }
        let branch = forward::stateless_branch(&self.config.secret, ack);
        let spec = CopySpec {
            uri: None,
            route: &[],
            flow,
            tag: tag.as_deref(),
            branch: &branch,
            inbound,
            record_route: false,
            sender: Side::default(),
            target: Side::default(),
        };
        match forward::make_copy(ack, spec, &self.identity) {
            Ok((message, target)) => Handled::Forward { message, target },
            Err(_) => Handled::Drop,
        }
    }

    /// Whether an in-dialog request is forwarded without a target lookup: it has a To tag, named this proxy in
    /// its route (so this proxy record-routed the dialog, or fronts the sender as outbound proxy), and has a next
    /// hop beyond this proxy. Anything else goes to the caller, so the proxy relays nothing on a request's word
    /// alone.
    fn follows_route(&self, request: &Message, preprocessed: &Preprocessed) -> bool {
        let in_dialog = request.to().ok().and_then(|to| to.tag()).is_some();
        in_dialog && preprocessed.named_us && self.has_next_hop(request)
    }

    /// Whether a request has somewhere to go without a target lookup: a Route value left, or a Request-URI in a
    /// domain this proxy is not responsible for.
    fn has_next_hop(&self, request: &Message) -> bool {
        if request.header(HeaderName::Route).is_some() {
            return true;
        }
        match request.request_uri().map(Uri::parse) {
            Some(Ok(Uri::Sip(uri))) => !self.identity.is_responsible_for(&uri),
            _ => false,
        }
    }

    /// Whether an OPTIONS is for the proxy itself: no Route left and a Request-URI without a user part naming the
    /// proxy or one of its domains (health checks and keepalives use `OPTIONS sip:proxy`).
    fn addressed_to_us(&self, request: &Message) -> bool {
        if request.header(HeaderName::Route).is_some() {
            return false;
        }
        let uri = request.request_uri().and_then(|u| SipUri::parse(u).ok());
        uri.is_some_and(|uri| uri.user.is_none() && self.identity.is_responsible_for(&uri))
    }

    /// 200 to an OPTIONS, with what this proxy allows, supports and accepts (RFC 3261 §11.2).
    fn options_answer(&self, request: &Message, to_tag: &str) -> Handled {
        let allow = self.config.allow.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
        let supported = self.config.supported.join(", ");
        let headers = [("Allow", allow), ("Supported", supported), ("Accept", ACCEPT.to_owned())];
        respond(request, StatusCode::OK, &headers, to_tag)
    }

    /// After any input to context `id`: drops it when it is finished, otherwise files its next deadline.
    fn settle(&mut self, id: ContextId) {
        let Some(context) = self.contexts.get_mut(&id) else { return };
        if let Some(at) = context.scheduled.take() {
            self.deadlines.remove(&(at, id));
        }
        if context.is_finished() {
            if let Some(context) = self.contexts.remove(&id)
                && let Some(key) = context.invite_key
                && self.invites.get(&key) == Some(&id)
            {
                self.invites.remove(&key);
            }
            return;
        }
        if let Some(at) = context.next_deadline() {
            self.deadlines.insert((at, id));
            context.scheduled = Some(at);
        }
    }
}

/// The answer to a request refused for `error` (§16.3): its status and reason phrase, with Unsupported for 420.
fn refuse(request: &Message, error: &Error, to_tag: &str) -> Handled {
    let mut builder = Message::response_with_reason(request, error.status_code(), error.reason_phrase()).to_tag(to_tag);
    if let Error::BadExtension(tags) = error {
        builder = builder.header("Unsupported", tags.join(", "));
    }
    builder.build().map_or(Handled::Drop, Handled::Respond)
}

/// A response generated by the proxy to `request`, with extra header lines.
fn respond(request: &Message, status: StatusCode, headers: &[(&str, String)], to_tag: &str) -> Handled {
    let mut builder = Message::response_to(request, status).to_tag(to_tag);
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    builder.build().map_or(Handled::Drop, Handled::Respond)
}
