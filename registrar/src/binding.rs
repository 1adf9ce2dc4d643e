//! One binding (an AOR bound to a contact address, RFC 3261 §10), the changes a driver persists, and the targets
//! a proxy forwards to.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use carillon_sip::target::Transport;
use carillon_sip::uri::{SipUri, Uri};

use crate::aor::Aor;

/// Names a binding within its AOR for as long as it exists, across refreshes (even when an RFC 5626 flow
/// replaces the contact URI) and across nodes: `(aor, id)` is the row key a driver persists under.
///
/// Identifiers are drawn from the randomness passed to [`crate::Registrar::register`] and checked unique within
/// the AOR, so nodes need no coordination to create them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BindingId(pub u64);

impl fmt::Display for BindingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// What the driver uses to find a connection or flow again: a stream connection's number, or whatever the
/// driver assigned to a UDP flow. Opaque to the registrar; meaningful only on [`Binding::node`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowId(pub u64);

/// The registrar node (proxy instance) that received a registration and therefore holds its flow. A proxy on
/// another node reaches a NATed contact through that node. Cloning is cheap.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(Arc<str>);

impl NodeId {
    /// A node named `name` (unique within the deployment).
    pub fn new(name: impl Into<Arc<str>>) -> NodeId {
        NodeId(name.into())
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a REGISTER came from, as the transport saw it: the flow back to a user agent behind NAT (RFC 3581
/// received/rport, RFC 5626 §3.2 flows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flow {
    /// The transport it arrived over.
    pub transport: Transport,
    /// The address and port it came from (what `received` and `rport` record).
    pub source: SocketAddr,
    /// The local address it arrived on (the socket to answer from over UDP).
    pub local: SocketAddr,
    /// The connection or flow, when the driver tracks one.
    pub id: Option<FlowId>,
}

/// An AOR bound to one contact address, with everything needed to reach it and to order later updates.
///
/// Strings are shared (`Arc`), so cloning a binding or making a [`Target`] of it does not copy text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// Stable identity within the AOR.
    pub id: BindingId,
    /// The address-of-record.
    pub aor: Aor,
    /// The contact URI as the user agent wrote it, without angle brackets or header parameters.
    pub contact: Arc<str>,
    /// The q parameter in thousandths, if the user agent gave one.
    pub q: Option<u16>,
    /// The `+sip.instance` value without quotes and angle brackets (RFC 5626 §4.1), if given.
    pub instance: Option<Arc<str>>,
    /// The `reg-id` (RFC 5626 §4.2), set only when outbound processing applied: such a binding is keyed by
    /// (instance, reg-id) rather than by its contact URI.
    pub reg_id: Option<u32>,
    /// Call-ID of the REGISTER that last created or refreshed the binding (RFC 3261 §10.3 step 7).
    pub call_id: Arc<str>,
    /// CSeq number of that REGISTER.
    pub cseq: u32,
    /// When the binding expires, as a duration since the Unix epoch.
    pub expires_at: Duration,
    /// When it was last created or refreshed, as a duration since the Unix epoch.
    pub registered_at: Duration,
    /// The Path header values of that REGISTER, in order, as written (RFC 3327 §5.3): the route to the contact.
    pub path: Arc<[Arc<str>]>,
    /// The flow the REGISTER arrived on.
    pub flow: Flow,
    /// The node that received it.
    pub node: NodeId,
    /// The User-Agent header, cut to [`crate::Limits::max_user_agent_len`].
    pub user_agent: Option<Arc<str>>,
}

impl Binding {
    /// Whether the binding is still in force at `now`.
    pub fn is_alive(&self, now: Duration) -> bool {
        self.expires_at > now
    }

    /// Whole seconds left at `now`, rounded up, saturating at 2**32-1: the `expires` parameter of the 200 OK
    /// (RFC 3261 §10.3 step 8).
    pub fn remaining_secs(&self, now: Duration) -> u32 {
        let left = self.expires_at.saturating_sub(now);
        let secs = left.as_secs().saturating_add(u64::from(left.subsec_nanos() > 0));
        u32::try_from(secs).unwrap_or(u32::MAX)
    }

    /// Whether this is an RFC 5626 outbound binding, keyed by (instance, reg-id).
    pub fn is_outbound(&self) -> bool {
        self.reg_id.is_some()
    }

    /// The contact URI, parsed; `None` if the stored text is not a SIP URI (only possible for rows loaded from
    /// elsewhere, which [`crate::Registrar::load`] refuses).
    pub fn contact_uri(&self) -> Option<SipUri<'_>> {
        match Uri::parse(&self.contact) {
            Ok(Uri::Sip(uri)) => Some(uri),
            _ => None,
        }
    }

    /// Whether `other` is the same binding by the registrar's matching rules: the same (instance, reg-id) for
    /// outbound bindings (RFC 5626 §6), equivalent contact URIs (RFC 3261 §10.3 step 7, §19.1.4) otherwise.
    pub(crate) fn same_key(&self, other: &Binding) -> bool {
        match (self.reg_id, other.reg_id) {
            (Some(a), Some(b)) => a == b && same_instance(self.instance.as_deref(), other.instance.as_deref()),
            (None, None) => match (self.contact_uri(), other.contact_uri()) {
                (Some(a), Some(b)) => a.equivalent(&b),
                _ => false,
            },
            _ => false,
        }
    }

    /// A target for a proxy.
    pub fn target(&self) -> Target {
        Target {
            binding: self.id,
            contact: self.contact.clone(),
            path: self.path.clone(),
            flow: self.flow,
            node: self.node.clone(),
            q: self.q,
            instance: self.instance.clone(),
            reg_id: self.reg_id,
            registered_at: self.registered_at,
        }
    }
}

/// Instance identifiers are URNs whose UUIDs compare case-insensitively (RFC 4122 §3); compare ASCII case
/// blind.
pub(crate) fn same_instance(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    }
}

/// A change to the bindings that the driver must persist (write-through) and may share with other nodes
/// ([`crate::Registrar::apply`]). Each carries the whole binding, so a row can be written from it alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindingChange {
    /// A new binding.
    Insert(Binding),
    /// An existing binding (same AOR and id) refreshed: every field may have changed.
    Refresh(Binding),
    /// A binding removed: de-registered, replaced, or expired. The binding as it was.
    Remove(Binding),
}

impl BindingChange {
    /// The binding the change is about.
    pub fn binding(&self) -> &Binding {
        match self {
            BindingChange::Insert(b) | BindingChange::Refresh(b) | BindingChange::Remove(b) => b,
        }
    }
}

/// One place to send a request for an AOR, as a proxy needs it.
///
/// To reach it, a proxy uses the contact as Request-URI and the path as Route set (RFC 3327 §5.4). When the path
/// is empty and the binding is outbound, or the contact is not reachable directly (behind NAT), it sends over
/// `flow` instead of resolving the contact: through `flow.id` if the flow is on this node, through `node`
/// otherwise (RFC 5626 §5.3, RFC 3581).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The binding this target comes from.
    pub binding: BindingId,
    /// The contact URI.
    pub contact: Arc<str>,
    /// The Path values recorded at registration, first hop first.
    pub path: Arc<[Arc<str>]>,
    /// The flow the registration arrived on.
    pub flow: Flow,
    /// The node holding that flow.
    pub node: NodeId,
    /// The q parameter in thousandths, if given.
    pub q: Option<u16>,
    /// The `+sip.instance`, if given.
    pub instance: Option<Arc<str>>,
    /// The `reg-id` of an outbound binding.
    pub reg_id: Option<u32>,
    /// When the binding was last registered.
    pub registered_at: Duration,
}
