//! What the caller decides for a request (its targets, or an answer) and where the proxy sends each copy.
//!
//! Target determination (RFC 3261 §16.5) is the caller's: location service, aliases, forwarding rules,
//! permissions, gateways. The proxy asks with [`crate::Action::NeedTargets`] and is answered with [`Targets`].

use std::net::SocketAddr;
use std::time::Duration;

use carillon_sip::StatusCode;
use carillon_sip::target::Transport;

use crate::config::ListenerId;

/// The caller's answer to [`crate::Action::NeedTargets`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Targets {
    /// Forward to these targets: the sets one after another, the targets of a set in parallel (RFC 3261 §16.6
    /// forking; "ring the desk phone, then the mobile" is two sets). The next set starts when every branch of the
    /// current one has a final response (or has been given up, see [`Target::timeout`]) and none was a 2xx or a
    /// 6xx. An empty list, or only targets already tried, is answered 480 (§16.5).
    Fork(Vec<TargetSet>),
    /// Answer the request without forwarding it (404, 403 with a reason, 3xx with Contacts, 407 with a
    /// challenge, 480...).
    Respond(Reply),
    /// Forward the request as addressed: its Request-URI unchanged, to the next hop its Route header names (loose
    /// routing, RFC 3261 §16.6 step 7), or to the Request-URI when no Route is left.
    FollowRoute,
}

impl Targets {
    /// One set of targets rung in parallel.
    pub fn parallel(targets: Vec<Target>) -> Targets {
        Targets::Fork(vec![TargetSet::new(targets)])
    }

    /// One target after another.
    pub fn sequential(targets: Vec<Target>) -> Targets {
        Targets::Fork(targets.into_iter().map(|t| TargetSet::new(vec![t])).collect())
    }
}

/// Targets tried at the same time.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TargetSet {
    /// The targets.
    pub targets: Vec<Target>,
}

impl TargetSet {
    /// A set of `targets`.
    pub fn new(targets: Vec<Target>) -> TargetSet {
        TargetSet { targets }
    }
}

/// One place to send a copy of the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The Request-URI of the copy (a registered contact, a gateway's URI, another domain's AOR).
    pub uri: String,
    /// Route values to visit first, in order, as name-addr (`<sip:edge.example;lr>`) or bare URIs: the Path of a
    /// registered contact (RFC 3327 §5.4), or an outbound proxy or gateway the caller's policy imposes (RFC 3261
    /// §16.6 step 6).
    pub route: Vec<String>,
    /// The flow to send over instead of locating the next hop by DNS: the connection or NAT binding a contact
    /// registered on (RFC 5626 §5.3, RFC 3581). The Record-Route entry facing the target then carries it in a
    /// route token, so that the dialog's later requests reach the target over it too.
    pub flow: Option<Flow>,
    /// Whether the flow is an RFC 5626 outbound one (the contact registered with `reg-id`): the Record-Route entry
    /// naming it carries `ob`, as the Path of an outbound registration would (RFC 5626 §5.1, §5.3.1).
    pub outbound: bool,
    /// The driver's tag for the target (a trunk's name, say; 1 to [`crate::RouteToken::MAX_TAG_LEN`] octets), carried in
    /// the route token of the Record-Route entry facing the target and handed back in [`NextHop::tag`] when a
    /// request of the dialog goes there. A longer one is left out.
    pub tag: Option<String>,
    /// Give the branch up when it has no final response this long after it was sent ("no answer after N
    /// seconds"): it counts as a 408, is cancelled, and the next set may start.
    pub timeout: Option<Duration>,
    /// Who the target is, for the call record of the branch that answers ([`crate::CallRecord::answered_by`]):
    /// the line a contact is registered for, a trunk's name. `None`: the record names the URI.
    pub label: Option<String>,
}

impl Target {
    /// A target with this Request-URI, no route, no flow, no timeout.
    pub fn new(uri: impl Into<String>) -> Target {
        Target {
            uri: uri.into(),
            route: Vec::new(),
            flow: None,
            outbound: false,
            tag: None,
            timeout: None,
            label: None,
        }
    }

    /// The same target reached through `route` (RFC 3327 Path or a policy route).
    pub fn with_route(mut self, route: Vec<String>) -> Target {
        self.route = route;
        self
    }

    /// The same target reached over `flow`.
    pub fn with_flow(mut self, flow: Flow) -> Target {
        self.flow = Some(flow);
        self
    }

    /// The same target reached over `flow`, an RFC 5626 outbound flow.
    pub fn with_outbound_flow(mut self, flow: Flow) -> Target {
        self.flow = Some(flow);
        self.outbound = true;
        self
    }

    /// The same target tagged `tag` (see [`Target::tag`]).
    pub fn with_tag(mut self, tag: impl Into<String>) -> Target {
        self.tag = Some(tag.into());
        self
    }

    /// The same target given up after `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Target {
        self.timeout = Some(timeout);
        self
    }

    /// The same target named `label` in call records.
    pub fn with_label(mut self, label: impl Into<String>) -> Target {
        self.label = Some(label.into());
        self
    }
}

/// A flow to or from a user agent (RFC 5626 §3.2): the listener, the remote address and port, and for stream
/// transports the connection. The driver says which flow each request arrived on and which flow a registered
/// contact is reached over; the proxy reads the listener (for Via and Record-Route), writes flows into route
/// tokens and finds them there again. Sending over a flow is the driver's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flow {
    /// The listener the flow arrived on, which the copy is sent from.
    pub listener: ListenerId,
    /// The user agent's address as seen by the proxy (received/rport).
    pub remote: SocketAddr,
    /// The driver's number for the connection, for stream transports: a request sent over the flow must go over
    /// that connection and no other (a new connection to the remote address would not pass the user agent's
    /// NAT).
    pub connection: Option<u64>,
}

/// An answer the caller wants sent instead of forwarding: the proxy builds it from the request (Via, From, To,
/// Call-ID, CSeq copied, a To tag of its own) and adds the headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The reason phrase, the canonical one when `None`.
    pub reason: Option<String>,
    /// Header lines to add, as `(name, value)`: Contact for 3xx, Proxy-Authenticate for 407, Warning...
    pub headers: Vec<(String, String)>,
}

impl Reply {
    /// An answer with this status and its canonical reason phrase.
    pub fn new(status: StatusCode) -> Reply {
        Reply { status, reason: None, headers: Vec::new() }
    }

    /// The same answer with `reason` as its reason phrase.
    pub fn with_reason(mut self, reason: impl Into<String>) -> Reply {
        self.reason = Some(reason.into());
        self
    }

    /// The same answer with one more header line.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// Where to send a forwarded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextHop {
    /// The URI to locate by RFC 3263 when there is no flow: the top Route after RFC 3261 §16.6 step 7, or the
    /// Request-URI when no Route is left.
    pub uri: String,
    /// The flow to send over instead: [`Target::flow`], or the flow in the route token of an in-dialog request.
    /// When it is gone (a closed connection, an unreachable address), the driver reports
    /// [`crate::Proxy::handle_flow_failure`].
    pub flow: Option<Flow>,
    /// The driver's tag of where the request goes: [`Target::tag`], or the tag in the route token of an in-dialog
    /// request going towards that target.
    pub tag: Option<String>,
    /// The transport the Via (and Record-Route) were written for: the flow's, the URI's `transport` parameter,
    /// TLS for `sips:`, UDP otherwise. A driver whose RFC 3263 lookup picks another transport rewrites the
    /// top Via's transport, as the transport layer does when a large request moves from UDP to TCP.
    pub transport: Transport,
    /// The listener to send from; its address is in the Via.
    pub listener: ListenerId,
}
