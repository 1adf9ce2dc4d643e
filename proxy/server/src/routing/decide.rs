//! The routing decision for one request: from what was dialled, who calls, and what the database and the
//! registrar know, to the target sets of the call or the answer it gets. Pure: the driver fetches the inputs
//! ([`Directory`], contacts, the caller's class) and carries out the [`Decision`].
//!
//! # Order
//!
//! For an INVITE to a user part of the served domain:
//!
//! 1. an emergency number goes to its gateway (no permission can deny it; a caller from outside the domain is
//!    refused, so the campus does not relay emergency calls for strangers);
//! 2. an alias reaches its user (the caller's class must allow internal calls), whose forwarding applies:
//!    unconditional forward; do-not-disturb (486 Busy Here, or the busy target); the sequential ring steps, or
//!    all registered contacts at once (for `no_answer_delay` when a no-answer target is set); then the busy
//!    target when every phone was busy, the no-answer target otherwise. A user with nothing to ring goes to the
//!    no-answer target at once, or gets 480;
//! 3. a line username that is no alias reaches that line's registered contacts;
//! 4. an outside number (see [`super::NumberPlan`]) goes through the trunks of its route, one set per trunk by
//!    priority then cost, each tried when the one before failed over; the caller's class must allow both the
//!    number plan's category and the route's;
//! 5. anything else is 404.
//!
//! Forward targets resolve the same way, without the target user's own forwarding (no chains), and with the
//! forwarding user's class, since that user chose the target. A target that is not allowed or leads nowhere is
//! left out. Requests other than INVITE reach the dialled user's registered contacts; features are for calls.
//!
//! An INVITE to another domain needs the caller's class to allow campus calls, unless the domain is configured
//! for redirection (302).

use std::collections::HashMap;

use carillon_db::{CallCategory, CallPermissions, Callee, OutboundRoute};
use carillon_proxy_core::{Reply, Target};
use carillon_sip::StatusCode;
use tracing::debug;

use super::plan::{OutsideNumber, category_name};
use super::sets::{Gate, PlannedTarget, RoutePlan};
use super::trunk::target_uri;
use super::{Destination, EmergencyTable, Policy};

/// Who places the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Caller {
    /// Not an authenticated user of the served domain (a call from another domain or a trunk): may reach the
    /// users of the domain, nothing else.
    Visitor,
    /// An authenticated user of the served domain with the permissions of the user's class; `None` when the
    /// class could not be read (the database is down): internal calls only.
    User(Option<CallPermissions>),
}

impl Caller {
    /// Whether this caller may make a call of `category`: `Err` with the answer when not.
    pub(crate) fn check(&self, category: CallCategory) -> Result<(), Reply> {
        match (self, category) {
            (_, CallCategory::Emergency) | (Caller::Visitor | Caller::User(None), CallCategory::Internal) => Ok(()),
            (Caller::User(Some(permissions)), category) if permissions.allows(category) => Ok(()),
            (Caller::User(None), _) => Err(Reply::new(StatusCode::SERVICE_UNAVAILABLE).with_header("Retry-After", "5")),
            (_, category) => Err(Reply::new(StatusCode::FORBIDDEN)
                .with_reason(format!("Forbidden: {} calls not permitted", category_name(category)))),
        }
    }
}

/// What the database said about the strings a call needs (the dialled user part, the forward targets).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Directory {
    /// The users reached, by the string that was looked up.
    pub(crate) users: HashMap<String, Callee>,
    /// The routes of outside numbers, by [`OutsideNumber::number`]; a number without a route has no entry.
    pub(crate) routes: HashMap<String, OutboundRoute>,
}

/// What is known of the dialled user part.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Found<'a> {
    /// The database answered.
    Directory(&'a Directory),
    /// The database could not be asked: the dialled string is tried as a line username; `known_line` when it is
    /// a line that registered with this proxy.
    Unavailable {
        /// Whether the dialled string is a line seen registering.
        known_line: bool,
    },
}

/// The request being routed.
#[derive(Debug, Clone)]
pub(crate) struct Call<'a> {
    /// An INVITE (features and trunks are for calls).
    pub(crate) invite: bool,
    /// Where it goes: a user part of the served domain, or another domain's URI.
    pub(crate) destination: &'a Destination,
    /// Who calls.
    pub(crate) caller: Caller,
}

/// What becomes of the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Forward it to these target sets.
    Route(RoutePlan),
    /// Answer it.
    Respond(Reply),
    /// Forward it as addressed (another domain, by RFC 3263).
    FollowRoute,
}

/// Decides the request; `contacts` gives the registered contacts of a line (by username).
pub(crate) fn decide(
    policy: &Policy,
    emergency: &EmergencyTable,
    call: &Call<'_>,
    found: Found<'_>,
    contacts: &dyn Fn(&str) -> Vec<Target>,
) -> Decision {
    let dialled = match call.destination {
        Destination::Remote(uri) => {
            if let Some(reply) = policy.redirect(uri) {
                return Decision::Respond(reply);
            }
            if call.invite
                && let Err(reply) = call.caller.check(CallCategory::Campus)
            {
                return Decision::Respond(reply);
            }
            return Decision::FollowRoute;
        }
        Destination::Local(dialled) => dialled.as_str(),
    };
    if call.invite
        && let Some(chain) = emergency.chain(dialled)
    {
        if call.caller == Caller::Visitor {
            return Decision::Respond(
                Reply::new(StatusCode::FORBIDDEN)
                    .with_reason("Forbidden: emergency calls only from phones of this domain"),
            );
        }
        return route(chain, Gate::Always);
    }
    let directory = match found {
        Found::Directory(directory) => directory,
        Found::Unavailable { known_line } => {
            let targets = contacts(dialled);
            return if !targets.is_empty() {
                route(vec![direct(targets)], Gate::Always)
            } else if known_line {
                Decision::Respond(Reply::new(StatusCode::TEMPORARILY_UNAVAILABLE))
            } else {
                Decision::Respond(Reply::new(StatusCode::SERVICE_UNAVAILABLE).with_header("Retry-After", "5"))
            };
        }
    };
    let resolver = Resolver { policy, emergency, directory, contacts };
    if let Some(callee) = directory.users.get(dialled) {
        let own = resolver.own_contacts(callee);
        if !call.invite {
            return if own.is_empty() {
                Decision::Respond(Reply::new(StatusCode::TEMPORARILY_UNAVAILABLE))
            } else {
                route(vec![direct(own)], Gate::Always)
            };
        }
        if let Err(reply) = call.caller.check(CallCategory::Internal) {
            return Decision::Respond(reply);
        }
        return resolver.user_plan(callee, own);
    }
    // A line username that is no alias still reaches the line's registered phones.
    let line = contacts(dialled);
    if !line.is_empty() {
        if call.invite
            && let Err(reply) = call.caller.check(CallCategory::Internal)
        {
            return Decision::Respond(reply);
        }
        return route(vec![direct(line)], Gate::Always);
    }
    if call.invite
        && let Some(number) = policy.plan.outside_number(dialled)
    {
        return match resolver.outside(&number, &call.caller) {
            Ok(chain) => route(chain, Gate::Always),
            Err(reply) => Decision::Respond(reply),
        };
    }
    Decision::Respond(Reply::new(StatusCode::NOT_FOUND))
}

fn direct(targets: Vec<Target>) -> Vec<PlannedTarget> {
    targets.into_iter().map(PlannedTarget::direct).collect()
}

fn route(chain: Vec<Vec<PlannedTarget>>, gate: Gate) -> Decision {
    let mut plan = RoutePlan::default();
    match plan.push_chain(chain, gate, None) {
        Some(_) => Decision::Route(plan),
        None => Decision::Respond(Reply::new(StatusCode::TEMPORARILY_UNAVAILABLE)),
    }
}

/// Where a forward target leads.
#[derive(Debug)]
enum Resolved {
    /// Answer 302 with this Contact (a redirect domain; only an unconditional forward can).
    Redirect(String),
    /// These sets, each after a failover of the one before.
    Chain(Vec<Vec<PlannedTarget>>),
    /// Nowhere, for this reason.
    Nowhere(String),
}

struct Resolver<'a> {
    policy: &'a Policy,
    emergency: &'a EmergencyTable,
    directory: &'a Directory,
    contacts: &'a dyn Fn(&str) -> Vec<Target>,
}

impl Resolver<'_> {
    fn own_contacts(&self, callee: &Callee) -> Vec<Target> {
        callee.user.lines.iter().flat_map(|line| (self.contacts)(&line.username)).collect()
    }

    /// Step 2 of the module documentation, for `callee` whose registered contacts are `own`.
    fn user_plan(&self, callee: &Callee, own: Vec<Target>) -> Decision {
        let settings = &callee.forwarding;
        let forwarder = Caller::User(Some(callee.permissions));
        let user = &callee.user.user.name;
        if let Some(target) = &settings.unconditional_target {
            match self.resolve(target, &forwarder) {
                Resolved::Redirect(uri) => return Decision::Respond(redirect_to(&uri)),
                Resolved::Chain(chain) => return route(chain, Gate::Always),
                Resolved::Nowhere(why) => debug!(%user, %target, %why, "unconditional forward ignored"),
            }
        }
        let forward = |target: &Option<String>, kind: &str| -> Option<Vec<Vec<PlannedTarget>>> {
            let target = target.as_deref()?;
            match self.resolve(target, &forwarder) {
                Resolved::Chain(chain) => Some(chain),
                Resolved::Redirect(uri) => Some(vec![vec![PlannedTarget::direct(Target::new(uri))]]),
                Resolved::Nowhere(why) => {
                    debug!(%user, %target, %why, "{kind} forward ignored");
                    None
                }
            }
        };
        let busy = forward(&settings.busy_target, "busy");
        let no_answer = forward(&settings.no_answer_target, "no-answer");
        if settings.do_not_disturb {
            return match busy {
                Some(chain) => route(chain, Gate::Always),
                None => Decision::Respond(Reply::new(StatusCode::BUSY_HERE)),
            };
        }
        let mut plan = RoutePlan::default();
        if settings.sequential_ring.is_empty() {
            let timeout = no_answer.is_some().then_some(settings.no_answer_delay);
            plan.push_chain(vec![direct(own)], Gate::Always, timeout);
        } else {
            for step in &settings.sequential_ring {
                let chain = match &step.target {
                    carillon_db::RingTarget::OwnLines => vec![direct(own.clone())],
                    carillon_db::RingTarget::Forward(target) => match self.resolve(target, &forwarder) {
                        Resolved::Chain(chain) => chain,
                        Resolved::Redirect(uri) => vec![vec![PlannedTarget::direct(Target::new(uri))]],
                        Resolved::Nowhere(why) => {
                            debug!(%user, %target, %why, "sequential ring step left out");
                            continue;
                        }
                    },
                };
                plan.push_chain(chain, Gate::Always, Some(step.ring_for));
            }
        }
        let Some(rung) = plan.last() else {
            // Nothing to ring: the user is unavailable, which is what a no-answer forward is for.
            return match no_answer {
                Some(chain) => route(chain, Gate::Always),
                None => Decision::Respond(Reply::new(StatusCode::TEMPORARILY_UNAVAILABLE)),
            };
        };
        match (busy, no_answer) {
            (Some(busy), Some(no_answer)) if busy == no_answer => {
                plan.push_chain(busy, Gate::Unanswered { of: rung }, None);
            }
            (busy, no_answer) => {
                if let Some(chain) = busy {
                    plan.push_chain(chain, Gate::Busy { of: rung }, None);
                }
                if let Some(chain) = no_answer {
                    plan.push_chain(chain, Gate::NoAnswer { of: rung }, None);
                }
            }
        }
        Decision::Route(plan)
    }

    /// Where forward target `text` leads for a user whose class gives `forwarder`.
    fn resolve(&self, text: &str, forwarder: &Caller) -> Resolved {
        let nowhere = |why: &str| Resolved::Nowhere(why.to_owned());
        match self.policy.destination(text) {
            None => nowhere("neither a SIP URI nor a dialled string"),
            Some(Destination::Remote(uri)) => {
                if self.policy.redirect(&uri).is_some() {
                    return Resolved::Redirect(uri);
                }
                match forwarder.check(CallCategory::Campus) {
                    Ok(()) => Resolved::Chain(vec![vec![PlannedTarget::direct(Target::new(uri))]]),
                    Err(reply) => nowhere(reply.reason.as_deref().unwrap_or("not permitted")),
                }
            }
            Some(Destination::Local(user)) => {
                if let Some(chain) = self.emergency.chain(&user) {
                    return Resolved::Chain(chain);
                }
                if let Some(target_user) = self.directory.users.get(&user) {
                    if let Err(reply) = forwarder.check(CallCategory::Internal) {
                        return nowhere(reply.reason.as_deref().unwrap_or("not permitted"));
                    }
                    let contacts = self.own_contacts(target_user);
                    return if contacts.is_empty() {
                        nowhere("the user has no registered phone")
                    } else {
                        Resolved::Chain(vec![direct(contacts)])
                    };
                }
                let Some(number) = self.policy.plan.outside_number(&user) else {
                    return nowhere("no such alias");
                };
                match self.outside(&number, forwarder) {
                    Ok(chain) => Resolved::Chain(chain),
                    Err(reply) => Resolved::Nowhere(format!("{} {}", reply.status, reply.reason.unwrap_or_default())),
                }
            }
        }
    }

    /// Step 3 of the module documentation: the trunk sets of `number`, or the answer when the caller may not
    /// call it or it cannot be routed.
    fn outside(&self, number: &OutsideNumber, caller: &Caller) -> Result<Vec<Vec<PlannedTarget>>, Reply> {
        let Some(category) = number.category else {
            return Err(Reply::new(StatusCode::NOT_FOUND).with_reason("Not Found: not in the number plan"));
        };
        caller.check(category)?;
        let Some(route) = self.directory.routes.get(&number.number) else {
            return Err(Reply::new(StatusCode::NOT_FOUND).with_reason("Not Found: no route"));
        };
        caller.check(route.category)?;
        let mut trunks: Vec<_> = route.trunks.iter().collect();
        // Least-cost routing: the longest prefix chose the route; within it priority, then cost.
        trunks.sort_by_key(|t| (t.priority, t.cost));
        if trunks.is_empty() {
            return Err(Reply::new(StatusCode::SERVICE_UNAVAILABLE).with_reason("No Trunk Available"));
        }
        Ok(trunks
            .into_iter()
            .map(|t| {
                let uri = target_uri(&t.trunk, &t.number_for(&number.number));
                vec![PlannedTarget { target: Target::new(uri), trunk: Some(self.policy.trunk_account(&t.trunk)) }]
            })
            .collect())
    }
}

/// 302 Moved Temporarily to `uri` (RFC 3261 §21.3.3).
pub(crate) fn redirect_to(uri: &str) -> Reply {
    Reply::new(StatusCode::MOVED_TEMPORARILY).with_header("Contact", format!("<{uri}>"))
}

#[cfg(test)]
mod tests;
