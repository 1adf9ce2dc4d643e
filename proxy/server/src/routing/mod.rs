//! Call routing and features, sans-IO: where a request goes, decided from its inputs, with no database,
//! socket or clock of its own.
//!
//! - [`plan`]: the number plan (outside-line prefix, local, long distance, international, campus numbers);
//! - [`decide`]: the decision for one request: emergency numbers, aliases with the callee's forwarding, outside
//!   numbers through trunks, calling permissions, redirection;
//! - [`sets`]: target sets that start on a condition (busy or no-answer forwards, trunk failover), followed per
//!   call;
//! - [`trunk`]: trunk Request-URIs and the answer to a trunk's digest challenge.
//!
//! The driver (`crate::engine`) fetches the inputs (the caller's class, the dialled user with forwarding
//! settings, routes, registered contacts) and carries out the decision with the proxy core.

pub(crate) mod decide;
pub(crate) mod plan;
pub(crate) mod sets;
pub(crate) mod trunk;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use carillon_db::EmergencyRoute;
use carillon_db::seal::SealKey;
use carillon_proxy_core::{Reply, Target};
use carillon_sip::uri::{Host, Uri};

pub(crate) use decide::{Call, Caller, Decision, Directory, Found, decide};
pub(crate) use plan::NumberPlan;
pub(crate) use sets::{CallRoute, Dispatch, Outcome, PlannedTarget, RoutePlan};
pub(crate) use trunk::TrunkAccount;

use crate::config::Config;

/// Where a dialled string or forward target points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Destination {
    /// A user part in the served domain: an emergency number, an alias, or an outside number.
    Local(String),
    /// A URI in another domain.
    Remote(String),
}

/// The routing configuration.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    domain: String,
    /// The number plan.
    pub(crate) plan: NumberPlan,
    redirect_domains: Vec<String>,
    trunk_response_timeout: Duration,
    seal_key: Option<Arc<SealKey>>,
}

impl Policy {
    /// The policy `config` describes.
    pub(crate) fn new(config: &Config) -> Policy {
        Policy {
            domain: config.sip.domain.clone(),
            plan: NumberPlan::new(&config.number_plan),
            redirect_domains: config.routing.redirect_domains.clone(),
            trunk_response_timeout: Duration::from_secs(config.routing.trunk_response_timeout_seconds),
            seal_key: None,
        }
    }

    /// The same policy unsealing trunk passwords with `key` (`[trunks] seal_key_file`).
    pub(crate) fn with_seal_key(mut self, key: SealKey) -> Policy {
        self.seal_key = Some(Arc::new(key));
        self
    }

    /// The key sealed trunk passwords are unsealed with, if one is configured.
    pub(crate) fn seal_key(&self) -> Option<&SealKey> {
        self.seal_key.as_deref()
    }

    /// The account of `trunk` as calls through it use it: its credentials, and how long it has to answer at all
    /// (`[routing] trunk_response_timeout_seconds`).
    pub(crate) fn trunk_account(&self, trunk: &carillon_db::Trunk) -> Arc<TrunkAccount> {
        Arc::new(TrunkAccount::of(trunk).with_response_timeout(self.trunk_response_timeout))
    }

    /// Redirect mode: 302 with `uri` as Contact when `uri` is in a configured redirect domain.
    pub(crate) fn redirect(&self, uri: &str) -> Option<Reply> {
        let Ok(Uri::Sip(sip)) = Uri::parse(uri) else { return None };
        let Host::Domain(host) = sip.host else { return None };
        self.redirect_domains.iter().any(|d| d.eq_ignore_ascii_case(host)).then(|| decide::redirect_to(uri))
    }

    /// Where `text` points: a SIP or SIPS URI (in the served domain: its user part), a tel URI (its number, visual
    /// separators removed), or a string as dialled (an extension, a name, a number). `None` for anything else.
    pub(crate) fn destination(&self, text: &str) -> Option<Destination> {
        let text = text.trim();
        match Uri::parse(text) {
            Ok(Uri::Sip(sip)) => match sip.host {
                Host::Domain(host) if host.eq_ignore_ascii_case(&self.domain) => {
                    sip.user_unescaped().map(|user| Destination::Local(user.into_owned()))
                }
                _ => Some(Destination::Remote(text.to_owned())),
            },
            Ok(Uri::Tel(tel)) => {
                let number: String =
                    tel.number.chars().filter(|c| c.is_ascii_digit() || *c == '+' || *c == '*' || *c == '#').collect();
                (!number.is_empty()).then_some(Destination::Local(number))
            }
            Ok(_) => None,
            Err(_) if !text.is_empty() && !text.contains([':', '@', ' ', ';']) => {
                Some(Destination::Local(text.to_owned()))
            }
            Err(_) => None,
        }
    }

    /// The strings a call to `dialled` may need looked up besides `dialled` itself: the user parts the callee's
    /// forward targets and ring steps point to.
    pub(crate) fn forward_lookups(&self, forwarding: &carillon_db::Forwarding) -> Vec<String> {
        let steps = forwarding.sequential_ring.iter().filter_map(|s| match &s.target {
            carillon_db::RingTarget::Forward(target) => Some(target),
            carillon_db::RingTarget::OwnLines => None,
        });
        let mut lookups: Vec<String> = Vec::new();
        for target in [&forwarding.unconditional_target, &forwarding.busy_target, &forwarding.no_answer_target]
            .into_iter()
            .flatten()
            .chain(steps)
        {
            if let Some(Destination::Local(user)) = self.destination(target)
                && !lookups.contains(&user)
            {
                lookups.push(user);
            }
        }
        lookups
    }
}

/// The emergency numbers and their gateways, kept in memory so that an emergency call waits for no database
/// (and still goes through while it is down).
#[derive(Debug, Clone, Default)]
pub(crate) struct EmergencyTable {
    routes: HashMap<String, Arc<PlannedTarget>>,
}

impl EmergencyTable {
    /// The table of `routes`, their gateways used as `policy` says.
    pub(crate) fn new(routes: &[EmergencyRoute], policy: &Policy) -> EmergencyTable {
        let routes = routes
            .iter()
            .map(|route| {
                let target = PlannedTarget {
                    target: Target::new(trunk::target_uri(&route.trunk, &route.dial_as)),
                    trunk: Some(policy.trunk_account(&route.trunk)),
                };
                (route.number.clone(), Arc::new(target))
            })
            .collect();
        EmergencyTable { routes }
    }

    /// Whether `dialled` is an emergency number.
    pub(crate) fn contains(&self, dialled: &str) -> bool {
        self.routes.contains_key(dialled)
    }

    /// How many emergency numbers there are.
    pub(crate) fn len(&self) -> usize {
        self.routes.len()
    }

    /// The one target set of a call to `dialled`, when it is an emergency number.
    pub(crate) fn chain(&self, dialled: &str) -> Option<Vec<Vec<PlannedTarget>>> {
        self.routes.get(dialled).map(|target| vec![vec![PlannedTarget::clone(target)]])
    }

    /// The plan of a call to `dialled`, when it is an emergency number.
    pub(crate) fn plan(&self, dialled: &str) -> Option<RoutePlan> {
        let mut plan = RoutePlan::default();
        plan.push_chain(self.chain(dialled)?, sets::Gate::Always, None)?;
        Some(plan)
    }
}
