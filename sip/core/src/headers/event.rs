//! Event (RFC 6665 §8.2.1) and Subscription-State (RFC 6665 §8.2.3), with the grammar of RFC 6665 §8.4:
//!
//! ```text
//! Event              = ( "Event" / "o" ) HCOLON event-type *( SEMI event-param )
//! event-type         = event-package *( "." event-template )
//! event-param        = generic-param / ( "id" EQUAL token )
//! Subscription-State = "Subscription-State" HCOLON substate-value *( SEMI subexp-params )
//! substate-value     = "active" / "pending" / "terminated" / extension-substate
//! subexp-params      = ("reason" EQUAL event-reason-value) / ("expires" EQUAL delta-seconds)
//!                      / ("retry-after" EQUAL delta-seconds) / generic-param
//! ```

use super::lexical::split_params;
use super::parse_delta_seconds;
use crate::error::Error;
use crate::message::HeaderName;
use crate::text::{Params, is_token, is_token_char};

/// One Event value: the event type and its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    /// The event type as written: a package, then `.`-separated templates (`presence`, `presence.winfo`).
    pub event_type: &'a str,
    /// The parameters (`id`, package-specific ones).
    pub params: Params<'a>,
}

impl<'a> Event<'a> {
    /// Parses an Event value.
    pub fn parse(v: &'a str) -> Result<Event<'a>, Error> {
        let bad = |reason| Error::BadHeaderValue { name: HeaderName::Event, reason };
        let (event_type, params) = split_params(v).ok_or(bad("malformed parameter"))?;
        if !is_event_type(event_type) {
            return Err(bad("event type is not event-package *(\".\" event-template)"));
        }
        if params.get("id").is_some_and(|id| !id.is_some_and(is_token)) {
            return Err(bad("id is not a token"));
        }
        Ok(Event { event_type, params })
    }

    /// The event package: the event type up to its first `.`.
    pub fn package(&self) -> &'a str {
        self.event_type.split('.').next().unwrap_or(self.event_type)
    }

    /// The event templates after the package (`winfo` in `presence.winfo`), in order.
    pub fn templates(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.event_type.split('.').skip(1)
    }

    /// The id parameter, which tells apart several subscriptions of one dialog.
    pub fn id(&self) -> Option<&'a str> {
        self.params.get("id").flatten()
    }

    /// Whether `other` names the same event for matching a NOTIFY or a response to its SUBSCRIBE (RFC 6665
    /// §8.2.1): event types and ids compare octet by octet, a value with an id never matches one without, and
    /// no other parameter counts.
    pub fn matches(&self, other: &Event<'_>) -> bool {
        self.event_type == other.event_type && self.id() == other.id()
    }
}

/// Whether `s` is an event-type: `token-nodot *("." token-nodot)` (RFC 6665 §8.4). Allow-Events lists these.
pub fn is_event_type(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(|part| !part.is_empty() && part.bytes().all(is_token_char))
}

/// The state of a subscription (RFC 6665 §4.1.3). States compare case-insensitively, as ABNF literals do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Substate<'a> {
    /// The subscription has been accepted.
    Active,
    /// The subscription is waiting for authorisation.
    Pending,
    /// The subscription is over; see the reason and retry-after parameters.
    Terminated,
    /// An extension state, as written; RFC 6665 §4.1.3 has a subscriber treat it as pending.
    Extension(&'a str),
}

/// Why a subscription was terminated (RFC 6665 §4.2.2, the reason parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TerminationReason<'a> {
    /// `deactivated`: the subscriber may re-subscribe at once.
    Deactivated,
    /// `probation`: the subscriber may re-subscribe later (after retry-after, if given).
    Probation,
    /// `rejected`: authorisation was refused; do not re-subscribe.
    Rejected,
    /// `timeout`: the subscription was not refreshed in time.
    Timeout,
    /// `giveup`: authorisation was not granted in time; the subscriber may re-subscribe later.
    Giveup,
    /// `noresource`: the resource no longer exists.
    Noresource,
    /// `invariant`: the resource has no state that can change.
    Invariant,
    /// Any other reason token, as written.
    Extension(&'a str),
}

impl<'a> TerminationReason<'a> {
    fn from_token(t: &'a str) -> TerminationReason<'a> {
        const KNOWN: [(&str, TerminationReason<'static>); 7] = [
            ("deactivated", TerminationReason::Deactivated),
            ("probation", TerminationReason::Probation),
            ("rejected", TerminationReason::Rejected),
            ("timeout", TerminationReason::Timeout),
            ("giveup", TerminationReason::Giveup),
            ("noresource", TerminationReason::Noresource),
            ("invariant", TerminationReason::Invariant),
        ];
        KNOWN.iter().find(|(name, _)| name.eq_ignore_ascii_case(t)).map_or(TerminationReason::Extension(t), |k| k.1)
    }
}

/// A Subscription-State value. The expires, retry-after and reason parameters are checked by
/// [`SubscriptionState::parse`], so their accessors only report absence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionState<'a> {
    /// The state.
    pub state: Substate<'a>,
    /// The parameters.
    pub params: Params<'a>,
}

impl<'a> SubscriptionState<'a> {
    /// Parses a Subscription-State value.
    pub fn parse(v: &'a str) -> Result<SubscriptionState<'a>, Error> {
        let bad = |reason| Error::BadHeaderValue { name: HeaderName::SubscriptionState, reason };
        let (state, params) = split_params(v).ok_or(bad("malformed parameter"))?;
        if !is_token(state) {
            return Err(bad("state is not a token"));
        }
        let state = match state {
            s if s.eq_ignore_ascii_case("active") => Substate::Active,
            s if s.eq_ignore_ascii_case("pending") => Substate::Pending,
            s if s.eq_ignore_ascii_case("terminated") => Substate::Terminated,
            s => Substate::Extension(s),
        };
        for p in params.iter() {
            let delta = |why| match p.value {
                Some(v) => parse_delta_seconds(v, HeaderName::SubscriptionState).map(drop).map_err(|_| bad(why)),
                None => Err(bad(why)),
            };
            if p.name.eq_ignore_ascii_case("expires") {
                delta("expires is not delta-seconds")?;
            } else if p.name.eq_ignore_ascii_case("retry-after") {
                delta("retry-after is not delta-seconds")?;
            } else if p.name.eq_ignore_ascii_case("reason") && !p.value.is_some_and(is_token) {
                return Err(bad("reason is not a token"));
            }
        }
        Ok(SubscriptionState { state, params })
    }

    /// The expires parameter in seconds: how long an active or pending subscription lasts.
    pub fn expires(&self) -> Option<u32> {
        self.delta("expires")
    }

    /// The retry-after parameter in seconds: when a terminated subscriber may try again.
    pub fn retry_after(&self) -> Option<u32> {
        self.delta("retry-after")
    }

    /// The reason parameter (meaningful with [`Substate::Terminated`]).
    pub fn reason(&self) -> Option<TerminationReason<'a>> {
        self.params.get("reason").flatten().map(TerminationReason::from_token)
    }

    fn delta(&self, name: &str) -> Option<u32> {
        parse_delta_seconds(self.params.get(name)??, HeaderName::SubscriptionState).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6665 §8.4: event-type = event-package *( "." event-template ), event-param includes "id".
    #[test]
    fn rfc6665_event_type_and_id() {
        let e = Event::parse("presence.winfo;id=sub-1;foo=\"bar\"").expect("valid");
        assert_eq!(e.event_type, "presence.winfo");
        assert_eq!(e.package(), "presence");
        assert_eq!(e.templates().collect::<Vec<_>>(), ["winfo"]);
        assert_eq!(e.id(), Some("sub-1"));
        let e = Event::parse("  dialog \r\n ;\r\n  ID = 7 ").expect("folded");
        assert_eq!((e.event_type, e.id()), ("dialog", Some("7")));
        assert_eq!(Event::parse("refer").expect("valid").templates().count(), 0);
    }

    #[test]
    fn rfc6665_event_type_malformed() {
        for v in ["", "presence.", ".winfo", "presence..winfo", "pres ence", "presence;", "presence;id", "a;id=\"x\""] {
            assert!(Event::parse(v).is_err(), "{v:?}");
        }
    }

    /// RFC 6665 §8.2.1: type and id compare byte by byte; an id never matches its absence.
    #[test]
    fn rfc6665_8_2_1_matching() {
        let a = Event::parse("presence;id=1;x=y").expect("valid");
        assert!(a.matches(&Event::parse("presence ; id=1").expect("valid")));
        assert!(!a.matches(&Event::parse("Presence;id=1").expect("valid")));
        assert!(!a.matches(&Event::parse("presence;id=2").expect("valid")));
        assert!(!a.matches(&Event::parse("presence").expect("valid")));
    }

    /// RFC 6665 §8.4: substate-value with expires, reason and retry-after; extension states are kept.
    #[test]
    fn rfc6665_subscription_state() {
        let s = SubscriptionState::parse("active;expires=3600").expect("valid");
        assert_eq!((s.state, s.expires(), s.reason()), (Substate::Active, Some(3600), None));
        let s = SubscriptionState::parse("TERMINATED ;\r\n reason = Probation; retry-after=0120").expect("valid");
        assert_eq!(s.state, Substate::Terminated);
        assert_eq!(s.reason(), Some(TerminationReason::Probation));
        assert_eq!(s.retry_after(), Some(120));
        let s = SubscriptionState::parse("waiting;reason=lunch").expect("extension state");
        assert_eq!(
            (s.state, s.reason()),
            (Substate::Extension("waiting"), Some(TerminationReason::Extension("lunch")))
        );
        assert_eq!(SubscriptionState::parse("pending").expect("valid").state, Substate::Pending);
    }

    #[test]
    fn rfc6665_subscription_state_malformed() {
        for v in [
            "",
            "active;expires=",
            "active;expires",
            "active;expires=-1",
            "active;expires=4294967296",
            "active;expires=\"60\"",
            "terminated;reason=\"timeout\"",
            "terminated;retry-after=soon",
            "act ive",
            "active;;",
        ] {
            assert!(SubscriptionState::parse(v).is_err(), "{v:?}");
        }
    }
}
