//! Carillon's stateful SIP proxy core (RFC 3261 §16), sans-IO.
//!
//! # Model
//!
//! A [`Proxy`] makes every decision of a stateful proxy and performs none of the I/O. In the manner of
//! quinn-proto, inputs carry the current time and outputs are polled:
//!
//! - [`Proxy::handle_request`] takes a request that a server transaction passed up (or an ACK or CANCEL the
//!   driver received) and answers at once with a [`Handled`]: a response to send, an ACK to forward statelessly,
//!   nothing, or the [`ContextId`] of a new *response context* (§16.2), one per request proxied statefully.
//! - Each context produces [`Action`]s, polled with [`Proxy::poll_action`]: [`Action::NeedTargets`] (the caller
//!   decides where the request goes and answers with [`Proxy::provide_targets`]), [`Action::Forward`] (send a
//!   copy on a new client transaction: a *branch*, numbered from 0 within its context), [`Action::Cancel`],
//!   [`Action::Respond`] (a response upstream) and [`Action::Done`] (the call record).
//! - The events of each branch's client transaction go back in with [`Proxy::handle_branch_event`]; the
//!   proxy's own deadlines (target lookup, per-target "no answer" timeouts, the wait for late 2xx) with
//!   [`Proxy::handle_timeout`] at [`Proxy::poll_timeout`]; a flow found gone with
//!   [`Proxy::handle_flow_failure`].
//!
//! # Flows (RFC 5626)
//!
//! Each request comes with the [`Flow`] it arrived over (listener, remote address and port, connection). When
//! one side of a dialog must be reached over a flow (a sender on a connection, behind NAT or with `ob` in its
//! Contact; a target the caller gave a flow), the Record-Route entry facing that side carries a [`RouteToken`]
//! of the flow in its user part, and the proxy record-routes twice, so that the last of its entries an in-dialog
//! request names is the one facing the request's recipient. An in-dialog request whose last entry of ours holds
//! a token of ours, for a flow other than the one it came over, is forwarded over that flow
//! ([`NextHop::flow`]); a target's [`Target::tag`] travels the same way to [`NextHop::tag`].
//!
//! The driver owns the transactions (`carillon_sip::transaction`), the sockets, DNS and the database; it maps
//! `(ContextId, BranchId)` to client transactions and each context to its server transaction. Nothing here reads
//! a clock or draws randomness: each request comes with a random `u64`, from which its branch identifiers and the
//! To tag of responses the proxy generates are derived.
//!
//! REGISTER requests for the proxy's own domains belong to the registrar (`carillon-registrar`); the driver hands
//! them there. Anything handed here is proxied.
//!
//! Target determination (§16.5) is delegated: location service, aliases, forwarding rules, permissions and
//! authentication are the caller's, who answers [`Targets::Fork`] (target sets tried one after another, the
//! targets of a set in parallel, each target with its own route, flow and timeout), [`Targets::Respond`] (404,
//! 403, 3xx, 407...) or [`Targets::FollowRoute`] (loose routing by the request's own Route).
//!
//! # Where each step of RFC 3261 §16 lives
//!
//! | Step | What | Where |
//! |---|---|---|
//! | §16.3 steps 1, 2, 3, 5 | syntax, URI scheme (416), Max-Forwards (483), Proxy-Require (420) | `Proxy::handle_request` via `carillon_sip::validate::Policy` with `Role::Proxy` |
//! | §16.3 step 3 | OPTIONS with Max-Forwards 0 answered 200 | `Proxy::handle_request` |
//! | §16.3 step 4 | loop detection (482) | `forward::has_looped`, with the hash of `forward::loop_hash` |
//! | §16.4 | strict-router fix, own `maddr`, own Route values removed | `route::preprocess` |
//! | §16.5 | target determination | the caller ([`Action::NeedTargets`]); no duplicate targets; 480 when empty |
//! | §16.6 steps 1-9 | the copy: Request-URI, Max-Forwards, Record-Route (twice across listeners, RFC 5658), Route, strict next hop, Via, Content-Length | `forward::make_copy`, `route::push_routes`, `route::next_hop` |
//! | §16.6 step 8 | branch with loop-detection hash | `forward::branch` |
//! | §16.6 step 11, §16.8 | Timer C | the client transaction (`TimerConfig::timer_c`); its timeout cancels or counts as 408 |
//! | §16.7 steps 3, 5 | our Via removed; 1xx (not 100) and 2xx forwarded at once, 6xx stops the search | `context::Context::on_response` |
//! | §16.7 steps 6, 7 | best response, 503 made 500, 401/407 challenges aggregated | `select` |
//! | §16.7 step 10, §16.10 | CANCEL of pending branches after a 2xx or 6xx, or on the caller's CANCEL | `context::Context::cancel_branch` |
//! | §16.9 | a branch that cannot be sent counts as 503 | `context::Context::handle_branch_event` |
//! | §16.10 | CANCEL: 200 and branches cancelled; 481 when nothing matches | `Proxy::handle_request` |
//! | §16.11 | ACK for a 2xx forwarded statelessly | `Proxy::handle_request`, `forward::stateless_branch` |
//! | RFC 5626 §5.2, §5.3 | route tokens in Record-Route; in-dialog requests over their flow; 430 when it is gone | `token`, `forward::sender_flow`, `forward::token_hop`, `Proxy::handle_flow_failure` |
//!
//! RFC 6026 is followed throughout: every 2xx a branch passes up is forwarded, also after the final response,
//! and a context stays [`ProxyTimers::linger`] after its final response for them.
//!
//! # Deviations and choices
//!
//! - Loop detection (§16.3 step 4) runs after route preprocessing (§16.4): the loop hash covers the request as it
//!   will be routed, without this proxy's own Route values, so the same request seen again hashes the same.
//! - An unmatched CANCEL is answered 481 instead of being forwarded statelessly (§16.10 forwards it in case the
//!   INVITE was forwarded statelessly; this proxy never forwards an INVITE statelessly).
//! - An in-dialog request is forwarded without a target lookup only when it named this proxy in its route; any
//!   other goes to the caller, so the proxy relays nothing on a request's word alone. An ACK that did not name
//!   this proxy is dropped.
//! - A route token that fails its MAC check is ignored (the request is routed by its Request-URI, as if the
//!   Route value had no user part) instead of answered 403 as RFC 5626 §5.3 suggests: it is never followed, and a
//!   Route value naming this proxy is removed whatever its user part.
//! - Within the 4xx class, 486 Busy Here is preferred after the responses RFC 3261 asks to prefer (see
//!   `select`), and a target's timeout counts as 408, the least preferred 4xx.

mod action;
mod config;
mod context;
mod forward;
mod proxy;
mod route;
mod select;
mod targets;
mod token;

pub use action::{Action, BranchId, CallDisposition, CallRecord, ContextId, Handled};
pub use config::{Listener, ListenerId, ProxyConfig, ProxyTimers};
pub use forward::rebranch;
pub use proxy::Proxy;
pub use targets::{Flow, NextHop, Reply, Target, TargetSet, Targets};
pub use token::RouteToken;
