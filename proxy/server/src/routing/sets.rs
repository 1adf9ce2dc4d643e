//! Target sets that start only on a condition, on top of the proxy core's sequential sets.
//!
//! The proxy core tries target sets one after another and starts the next set after every failure of the
//! current one (anything but a 2xx or a 6xx). Call features need more: a busy forward starts only when the
//! user's phones were busy, a no-answer forward only when they were not, and the next trunk only when the
//! previous one failed in a way another trunk may not (5xx, 408, no answer at all, a transport error, a
//! challenge that could not be answered), not when the called number was busy or does not exist.
//!
//! A [`RoutePlan`] gives each set a [`Gate`]; the core gets the plain sets ([`RoutePlan::targets`]). A
//! [`CallRoute`] follows the call: it learns every branch the core forwards ([`CallRoute::on_forward`]) and every
//! branch's outcome ([`CallRoute::on_outcome`]), and when the first branch of a set is forwarded it decides the
//! set's gate from the outcomes of the set the gate names. The branches of a closed set are not sent: the driver
//! reports them to the core as unreachable at once, so the core moves on to the next set. Such a branch stands
//! in as a 503 among the final responses, which ranks below every 4xx and is never forwarded as such (RFC 3261
//! §16.7 step 6), so the caller still hears the outcome of the sets that ran.
//!
//! A branch of the named set that has no outcome when the next set starts was given up by the core (its target's
//! timeout): it counts as unanswered.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use carillon_proxy_core::{BranchId, Target, TargetSet, Targets};

use super::trunk::TrunkAccount;

/// When a target set starts. `of` is the index of an earlier set of the same plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    /// Whenever the core gets to it.
    Always,
    /// When every branch of set `of` answered 486 Busy Here or 600 Busy Everywhere.
    Busy { of: usize },
    /// When set `of` ran and was not busy (see [`Gate::Busy`]): nobody answered in time, or the phones could not
    /// be reached.
    NoAnswer { of: usize },
    /// When set `of` ran, whatever its failure.
    Unanswered { of: usize },
    /// When every branch of set `of` failed in a way another trunk may not: a 5xx, 408, a challenge that was not
    /// answered (401, 407), no final response in time, or a transport error.
    Failover { of: usize },
}

/// One target of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlannedTarget {
    /// The target as the core takes it.
    pub(crate) target: Target,
    /// The trunk the target goes through, if any: the proxy's own credentials are not sent to it, and its
    /// challenges are answered with its credentials.
    pub(crate) trunk: Option<Arc<TrunkAccount>>,
}

impl PlannedTarget {
    /// A target that is no trunk.
    pub(crate) fn direct(target: Target) -> PlannedTarget {
        PlannedTarget { target, trunk: None }
    }

    /// The target as the core takes it; one through a trunk is named by the trunk in call records, and tagged
    /// with the trunk's name, so the dialog's requests towards the trunk come back with it (`NextHop::tag`) and its
    /// challenges of them can be answered.
    fn for_core(&self) -> Target {
        match &self.trunk {
            Some(trunk) => {
                let target = self.target.clone().with_tag(trunk.name.clone());
                if target.label.is_none() { target.with_label(trunk.name.clone()) } else { target }
            }
            None => self.target.clone(),
        }
    }
}

/// One set of a plan: targets rung in parallel, started when its gate opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlannedSet {
    /// The targets; never empty.
    pub(crate) targets: Vec<PlannedTarget>,
    /// When the set starts.
    pub(crate) gate: Gate,
}

/// The sets of a call, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct RoutePlan {
    /// The sets.
    pub(crate) sets: Vec<PlannedSet>,
}

impl RoutePlan {
    /// Appends `chain` (sets in order, each after a failover of the one before, like the trunks of a route), the
    /// first set with `gate`, every target given up after `timeout`. Empty sets are left out. Returns the index of
    /// the first set added, `None` when nothing was.
    pub(crate) fn push_chain(
        &mut self,
        chain: Vec<Vec<PlannedTarget>>,
        gate: Gate,
        timeout: Option<Duration>,
    ) -> Option<usize> {
        let mut first = None;
        for mut targets in chain.into_iter().filter(|set| !set.is_empty()) {
            if let Some(timeout) = timeout {
                for t in &mut targets {
                    t.target.timeout = Some(timeout);
                }
            }
            let gate = match first {
                None => gate,
                Some(_) => Gate::Failover { of: self.sets.len() - 1 },
            };
            first.get_or_insert(self.sets.len());
            self.sets.push(PlannedSet { targets, gate });
        }
        first
    }

    /// The index of the last set.
    pub(crate) fn last(&self) -> Option<usize> {
        self.sets.len().checked_sub(1)
    }

    /// The sets as the proxy core takes them.
    pub(crate) fn targets(&self) -> Targets {
        Targets::Fork(
            self.sets
                .iter()
                .map(|set| TargetSet::new(set.targets.iter().map(PlannedTarget::for_core).collect()))
                .collect(),
        )
    }

    /// Whether any set waits for a condition or goes to a trunk: only then must the call be followed.
    pub(crate) fn needs_following(&self) -> bool {
        self.sets.iter().any(|s| s.gate != Gate::Always || s.targets.iter().any(|t| t.trunk.is_some()))
    }
}

/// How a branch ended, as far as the gates care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A final response with this status code.
    Status(u16),
    /// The client transaction timed out (408), or the core gave the branch up.
    TimedOut,
    /// The request could not be sent.
    Unreachable,
}

impl Outcome {
    fn is_busy(self) -> bool {
        matches!(self, Outcome::Status(486 | 600))
    }

    fn allows_failover(self) -> bool {
        match self {
            Outcome::Status(code) => matches!(code, 401 | 407 | 408 | 500..=599),
            Outcome::TimedOut | Outcome::Unreachable => true,
        }
    }
}

/// What to do with a branch the core forwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Dispatch {
    /// Send it; through this trunk, if any.
    Send(Option<Arc<TrunkAccount>>),
    /// Its set's gate is closed: report it unreachable without sending it.
    Skip,
}

#[derive(Debug)]
struct SetTrack {
    uris: Vec<String>,
    trunks: Vec<Option<Arc<TrunkAccount>>>,
    gate: Gate,
    /// Decided when the set's first branch is forwarded.
    open: Option<bool>,
    /// The branches sent for this set.
    sent: Vec<BranchId>,
}

#[derive(Debug)]
struct BranchTrack {
    trunk: Option<Arc<TrunkAccount>>,
    outcome: Option<Outcome>,
    /// The trunk's challenge was answered: the branch now runs on another client transaction.
    retried: bool,
}

/// One call following its [`RoutePlan`]. See the module documentation.
#[derive(Debug)]
pub(crate) struct CallRoute {
    sets: Vec<SetTrack>,
    /// The set of the latest branch forwarded; the core forwards sets in order.
    current: usize,
    branches: HashMap<BranchId, BranchTrack>,
}

impl CallRoute {
    /// Follows `plan`.
    pub(crate) fn new(plan: &RoutePlan) -> CallRoute {
        let sets = plan
            .sets
            .iter()
            .map(|set| SetTrack {
                uris: set.targets.iter().map(|t| t.target.uri.clone()).collect(),
                trunks: set.targets.iter().map(|t| t.trunk.clone()).collect(),
                gate: set.gate,
                open: None,
                sent: Vec::new(),
            })
            .collect();
        CallRoute { sets, current: 0, branches: HashMap::new() }
    }

    /// The core forwards `branch` with Request-URI `uri`: send it, or skip it when its set's gate is closed.
    pub(crate) fn on_forward(&mut self, branch: BranchId, uri: &str) -> Dispatch {
        // The core forwards each set's targets in order and skips only targets already tried, so the first set
        // from the current one on that lists the URI is the branch's set.
        let found = self.sets.iter().enumerate().skip(self.current).find_map(|(index, set)| {
            set.uris.iter().position(|u| u == uri).map(|slot| (index, set.trunks.get(slot).cloned().flatten()))
        });
        let Some((index, trunk)) = found else { return Dispatch::Send(None) };
        self.current = index;
        let open = match self.sets[index].open {
            Some(open) => open,
            None => {
                let open = self.evaluate(self.sets[index].gate);
                self.sets[index].open = Some(open);
                open
            }
        };
        if !open {
            return Dispatch::Skip;
        }
        self.sets[index].sent.push(branch);
        self.branches.insert(branch, BranchTrack { trunk: trunk.clone(), outcome: None, retried: false });
        Dispatch::Send(trunk)
    }

    /// `branch` ended with `outcome`; only the first outcome of a branch counts.
    pub(crate) fn on_outcome(&mut self, branch: BranchId, outcome: Outcome) {
        if let Some(track) = self.branches.get_mut(&branch) {
            track.outcome.get_or_insert(outcome);
        }
    }

    /// Whether `branch` was sent to a trunk.
    pub(crate) fn is_trunk(&self, branch: BranchId) -> bool {
        self.trunk_of(branch).is_some()
    }

    /// The trunk `branch` was sent to, if any.
    pub(crate) fn trunk_of(&self, branch: BranchId) -> Option<&Arc<TrunkAccount>> {
        self.branches.get(&branch).and_then(|t| t.trunk.as_ref())
    }

    /// How long the next hop of `branch` has to answer at all: its trunk's response timeout; `None` for a
    /// branch to anything but a trunk (a phone may take its time, Timer B applies).
    pub(crate) fn response_timeout(&self, branch: BranchId) -> Option<Duration> {
        self.trunk_of(branch).and_then(|t| t.response_timeout)
    }

    /// The trunk `branch` was sent to, with credentials, when its challenge has not been answered yet.
    pub(crate) fn trunk_to_answer(&self, branch: BranchId) -> Option<Arc<TrunkAccount>> {
        let track = self.branches.get(&branch)?;
        if track.retried {
            return None;
        }
        track.trunk.clone().filter(|t| t.has_credentials())
    }

    /// The trunk's challenge on `branch` was answered with a new request.
    pub(crate) fn mark_retried(&mut self, branch: BranchId) {
        if let Some(track) = self.branches.get_mut(&branch) {
            track.retried = true;
        }
    }

    /// The request of `branch` went to the next server of its trunk's DNS name, which may challenge anew.
    pub(crate) fn moved_to_next_target(&mut self, branch: BranchId) {
        if let Some(track) = self.branches.get_mut(&branch) {
            track.retried = false;
        }
    }

    fn evaluate(&self, gate: Gate) -> bool {
        // The outcome of a chain of failover sets is that of its last set that ran.
        let outcomes = |mut of: usize| -> Option<Vec<Outcome>> {
            let mut set = self.sets.get(of)?;
            while set.sent.is_empty() {
                let Gate::Failover { of: before } = set.gate else { return None };
                if before >= of {
                    return None;
                }
                of = before;
                set = self.sets.get(of)?;
            }
            Some(
                set.sent
                    .iter()
                    .map(|b| self.branches.get(b).and_then(|t| t.outcome).unwrap_or(Outcome::TimedOut))
                    .collect(),
            )
        };
        match gate {
            Gate::Always => true,
            Gate::Busy { of } => outcomes(of).is_some_and(|o| o.iter().all(|o| o.is_busy())),
            Gate::NoAnswer { of } => outcomes(of).is_some_and(|o| !o.iter().all(|o| o.is_busy())),
            Gate::Unanswered { of } => outcomes(of).is_some(),
            Gate::Failover { of } => outcomes(of).is_some_and(|o| o.iter().all(|o| o.allows_failover())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(uris: &[&str]) -> Vec<PlannedTarget> {
        uris.iter().map(|u| PlannedTarget::direct(Target::new(*u))).collect()
    }

    /// Own phones (a, b) with a 20 s timeout, then a busy forward (c), then a no-answer forward (d).
    fn forwarding_plan() -> RoutePlan {
        let mut plan = RoutePlan::default();
        let own = plan.push_chain(vec![set(&["sip:a", "sip:b"])], Gate::Always, Some(Duration::from_secs(20)));
        let own = own.expect("a set");
        plan.push_chain(vec![set(&["sip:c"])], Gate::Busy { of: own }, None);
        plan.push_chain(vec![set(&["sip:d"])], Gate::NoAnswer { of: own }, None);
        plan
    }

    #[test]
    fn the_core_gets_the_sets_in_order_with_their_timeouts() {
        let plan = forwarding_plan();
        let Targets::Fork(sets) = plan.targets() else { panic!("a fork") };
        assert_eq!(sets.len(), 3);
        assert_eq!(sets[0].targets[0].timeout, Some(Duration::from_secs(20)));
        assert_eq!(sets[1].targets[0].timeout, None);
        assert!(plan.needs_following());
    }

    #[test]
    fn busy_phones_open_the_busy_forward_and_not_the_no_answer_forward() {
        let mut route = CallRoute::new(&forwarding_plan());
        assert_eq!(route.on_forward(BranchId(0), "sip:a"), Dispatch::Send(None));
        assert_eq!(route.on_forward(BranchId(1), "sip:b"), Dispatch::Send(None));
        route.on_outcome(BranchId(0), Outcome::Status(486));
        route.on_outcome(BranchId(1), Outcome::Status(600));
        assert_eq!(route.on_forward(BranchId(2), "sip:c"), Dispatch::Send(None));
        route.on_outcome(BranchId(2), Outcome::Status(480));
        assert_eq!(route.on_forward(BranchId(3), "sip:d"), Dispatch::Skip);
    }

    #[test]
    fn phones_that_ring_out_skip_the_busy_forward_and_open_the_no_answer_forward() {
        let mut route = CallRoute::new(&forwarding_plan());
        route.on_forward(BranchId(0), "sip:a");
        route.on_forward(BranchId(1), "sip:b");
        // Branch 0 busy, branch 1 given up by the core at its timeout (no outcome reported).
        route.on_outcome(BranchId(0), Outcome::Status(486));
        assert_eq!(route.on_forward(BranchId(2), "sip:c"), Dispatch::Skip, "not every phone was busy");
        assert_eq!(route.on_forward(BranchId(3), "sip:d"), Dispatch::Send(None));
    }

    #[test]
    fn only_the_first_outcome_of_a_branch_counts() {
        let mut route = CallRoute::new(&forwarding_plan());
        route.on_forward(BranchId(0), "sip:a");
        route.on_forward(BranchId(1), "sip:b");
        route.on_outcome(BranchId(0), Outcome::Status(486));
        route.on_outcome(BranchId(1), Outcome::Status(486));
        route.on_outcome(BranchId(1), Outcome::Status(487));
        assert_eq!(route.on_forward(BranchId(2), "sip:c"), Dispatch::Send(None));
    }

    fn trunk(name: &str) -> Arc<TrunkAccount> {
        Arc::new(TrunkAccount::of(&carillon_db::Trunk {
            name: name.into(),
            kind: carillon_db::TrunkKind::Gateway,
            host: "192.0.2.9".into(),
            port: None,
            transport: None,
            auth_username: None,
            auth_realm: None,
            auth_ha1_md5: None,
            auth_ha1_sha256: None,
            auth_password_sealed: None,
        }))
    }

    fn trunk_chain() -> RoutePlan {
        let chain = ["sip:1@t1", "sip:1@t2", "sip:1@t3"]
            .iter()
            .map(|u| vec![PlannedTarget { target: Target::new(*u), trunk: Some(trunk(u)) }])
            .collect();
        let mut plan = RoutePlan::default();
        plan.push_chain(chain, Gate::Always, None);
        plan
    }

    #[test]
    fn targets_through_a_trunk_are_named_and_tagged_by_the_trunk() {
        let Targets::Fork(sets) = trunk_chain().targets() else { panic!("a fork") };
        let first = &sets[0].targets[0];
        assert_eq!((first.label.as_deref(), first.tag.as_deref()), (Some("sip:1@t1"), Some("sip:1@t1")));
        let Targets::Fork(sets) = forwarding_plan().targets() else { panic!("a fork") };
        assert_eq!((sets[0].targets[0].label.as_deref(), sets[0].targets[0].tag.as_deref()), (None, None));
    }

    #[test]
    fn trunks_fail_over_on_5xx_timeout_and_transport_errors_only() {
        let plan = trunk_chain();
        assert_eq!(plan.sets[1].gate, Gate::Failover { of: 0 });
        assert_eq!(plan.sets[2].gate, Gate::Failover { of: 1 });
        for (first, second, next_sent) in [
            (Outcome::Status(503), Outcome::Status(500), true),
            (Outcome::Status(408), Outcome::TimedOut, true),
            (Outcome::Unreachable, Outcome::Status(407), true),
            (Outcome::Status(503), Outcome::Status(486), false),
            (Outcome::Status(503), Outcome::Status(404), false),
        ] {
            let mut route = CallRoute::new(&plan);
            assert!(matches!(route.on_forward(BranchId(0), "sip:1@t1"), Dispatch::Send(Some(_))));
            route.on_outcome(BranchId(0), first);
            assert!(matches!(route.on_forward(BranchId(1), "sip:1@t2"), Dispatch::Send(Some(_))), "{first:?}");
            route.on_outcome(BranchId(1), second);
            let third = route.on_forward(BranchId(2), "sip:1@t3");
            assert_eq!(matches!(third, Dispatch::Send(Some(_))), next_sent, "{first:?} then {second:?}");
        }
    }

    #[test]
    fn a_skipped_set_opens_no_failover_after_it() {
        let mut plan = RoutePlan::default();
        let own = plan.push_chain(vec![set(&["sip:a"])], Gate::Always, None).expect("a set");
        let chain = vec![set(&["sip:1@t1"]), set(&["sip:1@t2"])];
        plan.push_chain(chain, Gate::Busy { of: own }, None);
        let mut route = CallRoute::new(&plan);
        route.on_forward(BranchId(0), "sip:a");
        route.on_outcome(BranchId(0), Outcome::Status(480));
        assert_eq!(route.on_forward(BranchId(1), "sip:1@t1"), Dispatch::Skip);
        assert_eq!(route.on_forward(BranchId(2), "sip:1@t2"), Dispatch::Skip);
    }

    #[test]
    fn a_condition_on_a_trunk_chain_reads_its_last_trunk_that_ran() {
        let mut plan = trunk_chain();
        plan.push_chain(vec![set(&["sip:voicemail"])], Gate::NoAnswer { of: 2 }, None);
        let mut route = CallRoute::new(&plan);
        route.on_forward(BranchId(0), "sip:1@t1");
        route.on_outcome(BranchId(0), Outcome::Status(503));
        route.on_forward(BranchId(1), "sip:1@t2");
        route.on_outcome(BranchId(1), Outcome::Status(480));
        assert_eq!(route.on_forward(BranchId(2), "sip:1@t3"), Dispatch::Skip, "480 is no reason to fail over");
        assert_eq!(route.on_forward(BranchId(3), "sip:voicemail"), Dispatch::Send(None), "t2 was not answered");
    }

    #[test]
    fn a_challenge_is_answered_once_per_branch() {
        let mut plan = RoutePlan::default();
        let mut account = carillon_db::Trunk {
            name: "itsp".into(),
            kind: carillon_db::TrunkKind::Provider,
            host: "192.0.2.9".into(),
            port: None,
            transport: None,
            auth_username: Some("acct".into()),
            auth_realm: Some("itsp".into()),
            auth_ha1_md5: None,
            auth_ha1_sha256: None,
            auth_password_sealed: None,
        };
        account.auth_ha1_md5 =
            Some(carillon_sip::auth::Ha1::compute(carillon_sip::auth::HashFunction::Md5, "acct", "itsp", "pw"));
        let target =
            PlannedTarget { target: Target::new("sip:1@itsp"), trunk: Some(Arc::new(TrunkAccount::of(&account))) };
        plan.push_chain(vec![vec![target]], Gate::Always, None);
        let mut route = CallRoute::new(&plan);
        route.on_forward(BranchId(0), "sip:1@itsp");
        assert!(route.is_trunk(BranchId(0)));
        assert!(route.trunk_to_answer(BranchId(0)).is_some());
        route.mark_retried(BranchId(0));
        assert!(route.trunk_to_answer(BranchId(0)).is_none(), "a second challenge goes to the core");
        route.moved_to_next_target(BranchId(0));
        assert!(route.trunk_to_answer(BranchId(0)).is_some(), "the trunk's next server may challenge anew");
    }

    #[test]
    fn a_branch_outside_the_plan_is_sent() {
        let mut route = CallRoute::new(&forwarding_plan());
        assert_eq!(route.on_forward(BranchId(0), "sip:unplanned"), Dispatch::Send(None));
    }
}
