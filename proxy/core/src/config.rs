//! What the proxy is told about itself: the addresses it listens on and writes into Via and Record-Route, the
//! other names it answers to, the domains it is responsible for, the loop-detection secret and its timers. Also
//! the one place that decides whether a URI or a Via names this proxy.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use carillon_sip::headers::Via;
use carillon_sip::target::Transport;
use carillon_sip::uri::{Host, SipScheme, SipUri};
use carillon_sip::{Error, Method};

/// One address the proxy listens on, as other elements must write it to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// The transport of the socket.
    pub transport: Transport,
    /// The host written into Via sent-by and Record-Route: a host name, an IPv4 address, or an IPv6 reference in
    /// brackets (`[2001:db8::1]`). Behind NAT this is the public address, not the socket's.
    pub host: String,
    /// The port, written explicitly everywhere.
    pub port: u16,
}

impl Listener {
    /// A listener on `transport` reachable as `host:port`.
    pub fn new(transport: Transport, host: impl Into<String>, port: u16) -> Listener {
        Listener { transport, host: host.into(), port }
    }
}

/// Names one of [`ProxyConfig::listeners`] by its position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerId(pub usize);

/// The proxy's own waits; the transaction timers (T1, Timer C...) are the driver's `TimerConfig`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyTimers {
    /// How long the caller may take to answer [`crate::Action::NeedTargets`] (a database lookup) before the
    /// proxy gives up with 504 Server Time-out (default 10 s).
    pub target_lookup: Duration,
    /// How long a response context stays after its final response went upstream, so that 2xx responses still
    /// arriving (retransmissions, other forks, a callee answering as it was cancelled) are forwarded too (RFC 6026
    /// §8.4: the client transaction passes them up for 64*T1; default 32 s, 64 times the default T1).
    pub linger: Duration,
}

impl Default for ProxyTimers {
    fn default() -> Self {
        ProxyTimers { target_lookup: Duration::from_secs(10), linger: Duration::from_secs(32) }
    }
}

/// The proxy's configuration. Build it with [`ProxyConfig::new`] and adjust the public fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    /// The addresses the proxy listens on; at least one. [`ListenerId`] indexes this list.
    pub listeners: Vec<Listener>,
    /// Other host names of this proxy (a DNS name pointing at it), meaning this proxy at any listener port.
    pub aliases: Vec<String>,
    /// The domains this proxy is responsible for (RFC 3261 §16.5): a Request-URI there needs a target
    /// lookup, and `OPTIONS sip:domain` is answered by the proxy itself.
    pub domains: Vec<String>,
    /// Whether to insert Record-Route (RFC 3261 §16.6 step 4) and stay on the path of dialogs.
    pub record_route: bool,
    /// The key of the loop-detection hash in branch parameters (RFC 3261 §16.6 step 8) and of the MAC of route
    /// tokens in Record-Route (RFC 5626 §5.2, see [`crate::RouteToken`]). Keep it secret and the same on every
    /// node that shares the listeners' addresses; a new key makes the tokens of dialogs already set up worthless.
    pub secret: Vec<u8>,
    /// Option tags this proxy supports in Proxy-Require (420 Bad Extension for others, RFC 3261 §16.3 step 5);
    /// also listed in the Supported header of its answer to OPTIONS.
    pub supported: Vec<String>,
    /// The methods listed in the Allow header of the answer to OPTIONS.
    pub allow: Vec<Method>,
    /// The proxy's own waits.
    pub timers: ProxyTimers,
}

impl ProxyConfig {
    /// A configuration with these listeners and loop-detection key; Record-Route on, no aliases, no local
    /// domains, no Proxy-Require extensions, the RFC 3261 methods plus the usual extensions in Allow, default
    /// timers.
    pub fn new(listeners: Vec<Listener>, secret: impl Into<Vec<u8>>) -> ProxyConfig {
        ProxyConfig {
            listeners,
            aliases: Vec::new(),
            domains: Vec::new(),
            record_route: true,
            secret: secret.into(),
            supported: Vec::new(),
            allow: vec![
                Method::Invite,
                Method::Ack,
                Method::Cancel,
                Method::Bye,
                Method::Options,
                Method::Register,
                Method::Prack,
                Method::Update,
                Method::Info,
                Method::Message,
                Method::Refer,
                Method::Subscribe,
                Method::Notify,
            ],
            timers: ProxyTimers::default(),
        }
    }
}

/// A host from the configuration, parsed once and owned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OwnedHost {
    /// Kept in lower case.
    Domain(String),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

impl OwnedHost {
    fn parse(text: &str) -> Result<OwnedHost, Error> {
        Ok(match Host::parse(text)? {
            Host::Domain(d) => OwnedHost::Domain(d.to_ascii_lowercase()),
            Host::V4(a) => OwnedHost::V4(a),
            Host::V6(a) => OwnedHost::V6(a),
        })
    }

    fn matches(&self, host: &Host<'_>) -> bool {
        match (self, host) {
            (OwnedHost::Domain(a), Host::Domain(b)) => a.eq_ignore_ascii_case(b),
            (OwnedHost::V4(a), Host::V4(b)) => a == b,
            (OwnedHost::V6(a), Host::V6(b)) => a == b,
            _ => false,
        }
    }
}

/// One listener, checked, with the texts the proxy writes for it.
#[derive(Debug, Clone)]
pub(crate) struct OwnListener {
    pub(crate) transport: Transport,
    host: OwnedHost,
    pub(crate) port: u16,
    /// `host:port` for Via sent-by.
    pub(crate) sent_by: String,
    /// The Record-Route value naming this listener.
    pub(crate) record_route: String,
    /// The `transport` parameter written in its URIs (lower case).
    transport_param: String,
}

impl OwnListener {
    /// The Record-Route value naming this listener with `token` (a [`crate::RouteToken`]'s text) as user part,
    /// and the `ob` parameter when `ob` (RFC 5626 §5.3.1); the plain value without either.
    pub(crate) fn record_route_with(&self, token: Option<&str>, ob: bool) -> String {
        match token {
            None if !ob => self.record_route.clone(),
            _ => {
                let user = token.map(|t| format!("{t}@")).unwrap_or_default();
                let ob = if ob { ";ob" } else { "" };
                format!("<sip:{user}{};transport={};lr{ob}>", self.sent_by, self.transport_param)
            }
        }
    }
}

/// The proxy's identity, checked and parsed once from a [`ProxyConfig`]: who "this proxy" is.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    listeners: Vec<OwnListener>,
    aliases: Vec<OwnedHost>,
    domains: Vec<OwnedHost>,
}

impl Identity {
    /// Checks the configuration: at least one listener, and every host, alias and domain a host.
    pub(crate) fn new(config: &ProxyConfig) -> Result<Identity, Error> {
        if config.listeners.is_empty() {
            return Err(Error::NotApplicable("a proxy needs at least one listener"));
        }
        let listeners = config
            .listeners
            .iter()
            .map(|l| {
                let host = OwnedHost::parse(&l.host)?;
                let written = Host::parse(&l.host)?.to_string();
                let transport = l.transport.as_str().to_ascii_lowercase();
                Ok(OwnListener {
                    transport: l.transport,
                    host,
                    port: l.port,
                    sent_by: format!("{written}:{}", l.port),
                    record_route: format!("<sip:{written}:{};transport={transport};lr>", l.port),
                    transport_param: transport,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let parse_all = |names: &[String]| names.iter().map(|n| OwnedHost::parse(n)).collect::<Result<Vec<_>, _>>();
        Ok(Identity { listeners, aliases: parse_all(&config.aliases)?, domains: parse_all(&config.domains)? })
    }

    pub(crate) fn listener(&self, id: ListenerId) -> Option<&OwnListener> {
        self.listeners.get(id.0)
    }

    /// The first listener on `transport`.
    pub(crate) fn listener_for(&self, transport: Transport) -> Option<ListenerId> {
        self.listeners.iter().position(|l| l.transport == transport).map(ListenerId)
    }

    /// Whether `uri` names this proxy: the host and port (or the port its scheme and transport imply) of a
    /// listener, or an alias with the port of any listener.
    pub(crate) fn is_ours(&self, uri: &SipUri<'_>) -> bool {
        let port = uri.port.unwrap_or_else(|| default_port(uri));
        self.listeners.iter().any(|l| l.port == port && l.host.matches(&uri.host))
            || (self.aliases.iter().any(|a| a.matches(&uri.host)) && self.listeners.iter().any(|l| l.port == port))
    }

    /// Whether this proxy is responsible for the domain of `uri` (RFC 3261 §16.5): a local domain, or the
    /// proxy itself.
    pub(crate) fn is_responsible_for(&self, uri: &SipUri<'_>) -> bool {
        self.domains.iter().any(|d| d.matches(&uri.host)) || self.is_ours(uri)
    }

    /// Whether a Via's sent-by names one of the listeners (RFC 3261 §16.3 step 4).
    pub(crate) fn is_our_via(&self, via: &Via<'_>) -> bool {
        let default = if via.transport.eq_ignore_ascii_case("TLS") { 5061 } else { 5060 };
        let port = via.port.unwrap_or(default);
        self.listeners.iter().any(|l| l.port == port && l.host.matches(&via.host))
    }
}

/// The port a SIP URI without one means: 5061 for `sips:` or `transport=tls`, 5060 otherwise (RFC 3261
/// §19.1.2, RFC 3263 §4.2).
fn default_port(uri: &SipUri<'_>) -> u16 {
    let tls = uri.transport().is_some_and(|t| t.eq_ignore_ascii_case("tls"));
    if uri.scheme == SipScheme::Sips || tls { 5061 } else { 5060 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        let mut config = ProxyConfig::new(
            vec![
                Listener::new(Transport::Udp, "192.0.2.10", 5060),
                Listener::new(Transport::Tls, "192.0.2.10", 5061),
                Listener::new(Transport::Tcp, "[2001:db8::10]", 5070),
            ],
            "secret",
        );
        config.aliases = vec!["Proxy.Campus.Example".into()];
        config.domains = vec!["campus.example".into()];
        Identity::new(&config).expect("valid configuration")
    }

    fn uri(s: &str) -> SipUri<'_> {
        SipUri::parse(s).expect("valid URI")
    }

    #[test]
    fn listener_addresses_and_aliases_are_ours_rfc3261_16_4() {
        let id = identity();
        assert!(id.is_ours(&uri("sip:192.0.2.10")));
        assert!(id.is_ours(&uri("sip:192.0.2.10:5060;lr")));
        assert!(id.is_ours(&uri("sips:192.0.2.10")), "sips implies 5061");
        assert!(id.is_ours(&uri("sip:192.0.2.10;transport=tls")), "transport=tls implies 5061");
        assert!(id.is_ours(&uri("sip:[2001:db8::10]:5070")));
        assert!(id.is_ours(&uri("sip:proxy.campus.example;lr")), "aliases compare case-insensitively");
        assert!(id.is_ours(&uri("sip:proxy.campus.example:5070")));
        assert!(!id.is_ours(&uri("sip:192.0.2.10:5070")), "no listener on that address and port");
        assert!(!id.is_ours(&uri("sip:proxy.campus.example:6000")));
        assert!(!id.is_ours(&uri("sip:campus.example")), "a local domain is not the proxy itself");
        assert!(id.is_responsible_for(&uri("sip:alice@campus.example")));
        assert!(!id.is_responsible_for(&uri("sip:bob@elsewhere.example")));
    }

    #[test]
    fn via_sent_by_matches_listeners_rfc3261_16_3_step_4() {
        let id = identity();
        let via = |v: &'static str| Via::parse(v).expect("valid Via");
        assert!(id.is_our_via(&via("SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKx")));
        assert!(id.is_our_via(&via("SIP/2.0/TLS 192.0.2.10;branch=z9hG4bKx")));
        assert!(!id.is_our_via(&via("SIP/2.0/UDP 192.0.2.11:5060;branch=z9hG4bKx")));
    }

    #[test]
    fn configuration_is_checked() {
        assert!(Identity::new(&ProxyConfig::new(Vec::new(), "s")).is_err(), "no listener");
        let bad = ProxyConfig::new(vec![Listener::new(Transport::Udp, "not a host", 5060)], "s");
        assert!(Identity::new(&bad).is_err());
        let id = identity();
        let l = id.listener(ListenerId(2)).expect("third listener");
        assert_eq!(l.sent_by, "[2001:db8::10]:5070");
        assert_eq!(l.record_route, "<sip:[2001:db8::10]:5070;transport=tcp;lr>");
        assert_eq!(l.record_route_with(None, false), l.record_route);
        assert_eq!(l.record_route_with(Some("AbC-_9"), true), "<sip:AbC-_9@[2001:db8::10]:5070;transport=tcp;lr;ob>");
        assert_eq!(id.listener_for(Transport::Tls), Some(ListenerId(1)));
        assert_eq!(id.listener_for(Transport::Ws), None);
    }
}
