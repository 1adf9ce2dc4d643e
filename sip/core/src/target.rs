//! RFC 3263 server location: ordering NAPTR, SRV and address records into the list of targets to try.
//!
//! Nothing here talks to DNS. A [`Resolution`] is built from the parts of a SIP URI that RFC 3263 §4 looks at
//! ([`UriParts`]) and says which records to look up ([`Resolution::next_query`]); the caller performs the lookups
//! however it likes (in parallel if it wants) and hands the records back ([`Resolution::answer`]). When every
//! stage is answered, [`Resolution::targets`] gives the [`TargetList`]: the transport/address pairs in the order
//! to try them. On a transport error, a timeout or a 503 the caller takes the next one (RFC 3263 §4.3,
//! [`Attempt::calls_for_next_target`]).
//!
//! The decisions, in RFC 3263 order:
//! - the host is `maddr` when the URI has one, the URI host otherwise (§4);
//! - a numeric host needs no DNS at all: the port is the URI port or the transport's default (§4.2);
//! - a `transport` parameter fixes the transport and skips NAPTR (§4.1); without a port, its SRV name is looked up;
//! - a port without a transport means UDP (`sip:`) or TLS (`sips:`) and an address lookup only (§4.1, §4.2);
//! - otherwise NAPTR: records with flag `s`, an empty regexp and a service this element supports (`SIP+D2U`,
//!   `SIP+D2T`, `SIPS+D2T`, `SIP+D2S`; only `SIPS+` services for a `sips:` URI) are taken in order, then
//!   preference, and each one's replacement is looked up as SRV. Every usable NAPTR record contributes, lowest
//!   order first, so that failover can reach the transports of later records too;
//! - without usable NAPTR records, the SRV names `_sips._tcp`, `_sip._tcp` and `_sip._udp` (only `_sips._tcp`
//!   for `sips:`) are looked up, for the transports this element supports;
//! - SRV records are ordered by priority, then by the RFC 2782 weighted random selection (the randomness is
//!   passed in); a lone target of `.` means the service is not offered there;
//! - when no SRV record exists, the host itself is looked up with the default port (5060, or 5061 for TLS) and
//!   UDP (`sip:`) or TLS (`sips:`).

use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use crate::error::Error;
use crate::message::StatusCode;
use crate::uri::{Host, SipScheme, SipUri};

/// A SIP transport protocol, as named in Via headers, `transport` URI parameters and NAPTR services.
///
/// The transport crate drives UDP, TCP and TLS; SCTP and WebSocket are recognised so that messages and records
/// naming them can be parsed and skipped with a clear reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP (RFC 3261 §18).
    Udp,
    /// TCP (RFC 3261 §18).
    Tcp,
    /// TLS over TCP (RFC 3261 §26.2, RFC 5630).
    Tls,
    /// SCTP (RFC 4168).
    Sctp,
    /// WebSocket (RFC 7118).
    Ws,
    /// Secure WebSocket (RFC 7118).
    Wss,
}

impl Transport {
    /// Every transport, in the order of the enum.
    pub const ALL: [Transport; 6] =
        [Transport::Udp, Transport::Tcp, Transport::Tls, Transport::Sctp, Transport::Ws, Transport::Wss];

    /// Parses a transport name as written in a Via (`UDP`) or a `transport` URI parameter (`udp`), case-insensitively.
    pub fn parse(name: &str) -> Option<Transport> {
        Transport::ALL.into_iter().find(|t| t.as_str().eq_ignore_ascii_case(name))
    }

    /// The name as written in a Via header (`UDP`, `TCP`, `TLS`, `SCTP`, `WS`, `WSS`).
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Sctp => "SCTP",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
        }
    }

    /// Whether the transport delivers reliably and in order (everything but UDP).
    pub fn is_reliable(self) -> bool {
        self != Transport::Udp
    }

    /// Whether the transport is encrypted (TLS, WSS): the only ones a `sips:` URI may use.
    pub fn is_secure(self) -> bool {
        matches!(self, Transport::Tls | Transport::Wss)
    }

    /// The port used when a URI or Via names none (RFC 3261 §19.1.2, §18.2.2): 5061 for TLS and WSS, else 5060.
    pub fn default_port(self) -> u16 {
        if self.is_secure() { 5061 } else { 5060 }
    }

    /// The secure counterpart a `sips:` URI turns this transport into (TCP becomes TLS), `None` when there is
    /// none this crate knows of (UDP, SCTP).
    pub fn secured(self) -> Option<Transport> {
        match self {
            Transport::Tcp | Transport::Tls => Some(Transport::Tls),
            Transport::Ws | Transport::Wss => Some(Transport::Wss),
            Transport::Udp | Transport::Sctp => None,
        }
    }

    /// The NAPTR service field naming this transport (RFC 3263 §4.1, RFC 4168, RFC 7118).
    pub fn naptr_service(self) -> &'static str {
        match self {
            Transport::Udp => "SIP+D2U",
            Transport::Tcp => "SIP+D2T",
            Transport::Tls => "SIPS+D2T",
            Transport::Sctp => "SIP+D2S",
            Transport::Ws => "SIP+D2W",
            Transport::Wss => "SIPS+D2W",
        }
    }

    /// The transport a NAPTR service field names, compared case-insensitively.
    pub fn from_naptr_service(service: &str) -> Option<Transport> {
        Transport::ALL.into_iter().find(|t| t.naptr_service().eq_ignore_ascii_case(service))
    }

    /// The SRV service and protocol labels (`_sip._udp`), `None` for WebSocket, which has no SRV name.
    pub fn srv_prefix(self) -> Option<&'static str> {
        match self {
            Transport::Udp => Some("_sip._udp"),
            Transport::Tcp => Some("_sip._tcp"),
            Transport::Tls => Some("_sips._tcp"),
            Transport::Sctp => Some("_sip._sctp"),
            Transport::Ws | Transport::Wss => None,
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One place to send a message: a transport and an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target {
    /// The transport to use.
    pub transport: Transport,
    /// The address and port.
    pub addr: SocketAddr,
}

/// The parts of a SIP or SIPS URI that server location looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UriParts<'a> {
    /// The host of the URI.
    pub host: Host<'a>,
    /// The port of the URI, if given.
    pub port: Option<u16>,
    /// The `transport` parameter, if given.
    pub transport: Option<Transport>,
    /// Whether the URI is `sips:` (TLS on every hop).
    pub secure: bool,
    /// The `maddr` parameter, if given: it replaces the host for server location.
    pub maddr: Option<Host<'a>>,
}

impl<'a> UriParts<'a> {
    /// A plain `sip:` URI with only a host.
    pub fn host(host: Host<'a>) -> Self {
        UriParts { host, port: None, transport: None, secure: false, maddr: None }
    }

    /// Takes the parts out of a parsed SIP URI. A `transport` parameter naming no known transport, or a `maddr`
    /// that is not a host, is an [`Error::BadUri`].
    pub fn from_sip_uri(uri: &SipUri<'a>) -> Result<Self, Error> {
        let transport = match uri.params.get("transport") {
            None => None,
            Some(value) => Some(value.and_then(Transport::parse).ok_or(Error::BadUri("unknown transport parameter"))?),
        };
        let maddr = match uri.params.get("maddr") {
            None => None,
            Some(value) => Some(Host::parse(value.ok_or(Error::BadUri("empty maddr parameter"))?)?),
        };
        Ok(UriParts { host: uri.host, port: uri.port, transport, secure: uri.scheme == SipScheme::Sips, maddr })
    }
}

/// A NAPTR record as the caller looked it up (RFC 3403).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NaptrRecord {
    /// Lower orders are used first.
    pub order: u16,
    /// Among equal orders, lower preferences are used first.
    pub preference: u16,
    /// The flags field; RFC 3263 uses `s` (the replacement is an SRV name).
    pub flags: String,
    /// The service field (`SIP+D2U`, ...).
    pub services: String,
    /// The regexp field; RFC 3263 records leave it empty.
    pub regexp: String,
    /// The replacement domain name, with or without the final dot.
    pub replacement: String,
}

/// An SRV record as the caller looked it up (RFC 2782).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvRecord {
    /// Lower priorities are tried first.
    pub priority: u16,
    /// Relative weight among records of the same priority.
    pub weight: u16,
    /// The port of the service.
    pub port: u16,
    /// The host offering the service, with or without the final dot; `.` means nobody does.
    pub target: String,
}

/// The kind of record a [`Query`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordType {
    /// NAPTR.
    Naptr,
    /// SRV.
    Srv,
    /// A and AAAA.
    Address,
}

/// A DNS lookup a [`Resolution`] needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Query {
    /// What to look up.
    pub record: RecordType,
    /// The domain name, lower case, without the final dot.
    pub name: String,
}

/// The records found for a [`Query`]. An empty list stands for every kind of failure (no such name, no records
/// of that type, a timeout): RFC 3263 moves on to the next step in all of these cases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The NAPTR records of the name.
    Naptr(Vec<NaptrRecord>),
    /// The SRV records of the name.
    Srv(Vec<SrvRecord>),
    /// The IPv4 and IPv6 addresses of the name, in the order the caller prefers.
    Addresses(Vec<IpAddr>),
}

/// The targets to try, in order; the iterator hands them out one at a time for failover.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetList {
    targets: VecDeque<Target>,
    server_name: Option<String>,
}

impl TargetList {
    /// A list of these targets; `server_name` is what a TLS connection to any of them must prove it is.
    pub fn new(targets: impl IntoIterator<Item = Target>, server_name: Option<String>) -> Self {
        TargetList { targets: targets.into_iter().collect(), server_name }
    }

    /// The name a TLS server must present a certificate for: the host of the URI, not the SRV target
    /// (RFC 5922 §4).
    pub fn server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    /// The target [`Iterator::next`] would return, without taking it.
    pub fn peek(&self) -> Option<&Target> {
        self.targets.front()
    }

    /// The targets not yet taken, in order.
    pub fn remaining(&self) -> impl Iterator<Item = &Target> + '_ {
        self.targets.iter()
    }

    /// How many targets are left.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether no target is left.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }
}

/// How sending a request to one target of a [`TargetList`] ended, as far as RFC 3263 §4.3 cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The target answered with this final response.
    Answered(StatusCode),
    /// No response came in time (the client transaction's Timer B or F).
    TimedOut,
    /// The request could not be sent: a refused connection, an ICMP "port unreachable", a failed send.
    Unreachable,
}

impl Attempt {
    /// Whether the next target of the list is tried (RFC 3263 §4.3): after a transport error, a timeout or a 503,
    /// with a new request (a new Via branch, so a new client transaction), in the list's order. Any other
    /// response is the answer of the name, which another server of it would not change.
    pub fn calls_for_next_target(self) -> bool {
        match self {
            Attempt::Answered(status) => status == StatusCode::SERVICE_UNAVAILABLE,
            Attempt::TimedOut | Attempt::Unreachable => true,
        }
    }
}

impl Iterator for TargetList {
    type Item = Target;

    fn next(&mut self) -> Option<Target> {
        self.targets.pop_front()
    }
}

/// A host (by name or number), port and transport still to be turned into addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Endpoint {
    name: String,
    port: u16,
    transport: Transport,
}

/// One lookup of a stage: asked yet, and its records once answered.
#[derive(Debug, Clone)]
struct Pending<T> {
    query: Query,
    asked: bool,
    answer: Option<T>,
}

impl<T> Pending<T> {
    fn new(record: RecordType, name: String) -> Self {
        Pending { query: Query { record, name }, asked: false, answer: None }
    }
}

/// Where a resolution stands. Each stage's lookups can be in flight together; the next stage starts when all of
/// them are answered.
#[derive(Debug, Clone)]
enum Stage {
    Naptr(Pending<Vec<NaptrRecord>>),
    Srv(Vec<(Transport, Pending<Vec<SrvRecord>>)>),
    Address { endpoints: Vec<Endpoint>, lookups: Vec<Pending<Vec<IpAddr>>> },
    Done(Vec<Target>),
}

/// The RFC 3263 decisions for one URI, driven by the caller's lookups. See the module documentation.
#[derive(Debug, Clone)]
pub struct Resolution {
    stage: Stage,
    /// The domain looked up when NAPTR and SRV give nothing.
    domain: String,
    /// The port given in the URI, if any.
    port: Option<u16>,
    /// The transport fixed by the URI (`transport` parameter, made secure for `sips:`), if any.
    fixed_transport: Option<Transport>,
    secure: bool,
    supported: Vec<Transport>,
    server_name: Option<String>,
}

impl Resolution {
    /// Starts locating the server of `uri` for an element that can use the `supported` transports.
    ///
    /// A `sips:` URI whose `transport` parameter has no secure form (UDP, SCTP) is an [`Error::BadUri`]. A
    /// transport the element does not support simply yields no target.
    pub fn new(uri: &UriParts<'_>, supported: &[Transport]) -> Result<Resolution, Error> {
        let fixed_transport = match (uri.transport, uri.secure) {
            (Some(t), true) => Some(t.secured().ok_or(Error::BadUri("sips URI with an insecure transport"))?),
            (t, _) => t,
        };
        let server_name = Some(match uri.host {
            Host::Domain(d) => normalize_name(d),
            Host::V4(a) => a.to_string(),
            Host::V6(a) => a.to_string(),
        });
        let host = uri.maddr.unwrap_or(uri.host);
        let mut resolution = Resolution {
            stage: Stage::Done(Vec::new()),
            domain: String::new(),
            port: uri.port,
            fixed_transport,
            secure: uri.secure,
            supported: supported.to_vec(),
            server_name,
        };
        let domain = match host {
            Host::V4(a) => return Ok(resolution.numeric(IpAddr::V4(a))),
            Host::V6(a) => return Ok(resolution.numeric(IpAddr::V6(a))),
            Host::Domain(d) => normalize_name(d),
        };
        resolution.domain = domain;
        resolution.stage = match (uri.port, fixed_transport) {
            // §4.2: a port means no SRV; an address lookup with that port.
            (Some(_), _) => resolution.address_stage(vec![resolution.fallback_endpoint()]),
            // §4.1: the transport parameter skips NAPTR; §4.2: without a port, its SRV name is looked up.
            (None, Some(t)) => match t.srv_prefix() {
                Some(_) => resolution.srv_stage(vec![t]),
                None => resolution.address_stage(vec![resolution.fallback_endpoint()]),
            },
            (None, None) => Stage::Naptr(Pending::new(RecordType::Naptr, resolution.domain.clone())),
        };
        Ok(resolution)
    }

    /// The next lookup to perform, `None` when every lookup of the current stage has been handed out (answer
    /// them to move on) or the resolution is done. Lookups handed out together may run in parallel.
    pub fn next_query(&mut self) -> Option<Query> {
        fn take<T>(p: &mut Pending<T>) -> Option<Query> {
            if p.asked {
                return None;
            }
            p.asked = true;
            Some(p.query.clone())
        }
        match &mut self.stage {
            Stage::Naptr(p) => take(p),
            Stage::Srv(lookups) => lookups.iter_mut().find_map(|(_, p)| take(p)),
            Stage::Address { lookups, .. } => lookups.iter_mut().find_map(take),
            Stage::Done(_) => None,
        }
    }

    /// Hands in the records found for `query`. An answer of the wrong kind counts as no records; an answer to a
    /// query this resolution is not waiting for is ignored. `random(bound)` must return a uniformly distributed
    /// number in `0..=bound`; it orders SRV records of equal priority by weight (RFC 2782).
    pub fn answer(&mut self, query: &Query, answer: Answer, random: &mut dyn FnMut(u32) -> u32) {
        match (&mut self.stage, answer) {
            (Stage::Naptr(p), answer) if p.query == *query && p.answer.is_none() => {
                p.answer = Some(match answer {
                    Answer::Naptr(records) => records,
                    _ => Vec::new(),
                });
            }
            (Stage::Srv(lookups), answer) => {
                if let Some((_, p)) = lookups.iter_mut().find(|(_, p)| p.query == *query && p.answer.is_none()) {
                    p.answer = Some(match answer {
                        Answer::Srv(records) => records,
                        _ => Vec::new(),
                    });
                }
            }
            (Stage::Address { lookups, .. }, answer) => {
                if let Some(p) = lookups.iter_mut().find(|p| p.query == *query && p.answer.is_none()) {
                    p.answer = Some(match answer {
                        Answer::Addresses(addrs) => addrs,
                        _ => Vec::new(),
                    });
                }
            }
            _ => return,
        }
        self.advance(random);
    }

    /// Whether every lookup is answered and the targets are known.
    pub fn is_done(&self) -> bool {
        matches!(self.stage, Stage::Done(_))
    }

    /// The targets in the order to try them, once [`Resolution::is_done`]; `None` before.
    pub fn targets(&self) -> Option<TargetList> {
        match &self.stage {
            Stage::Done(targets) => Some(TargetList::new(targets.iter().copied(), self.server_name.clone())),
            _ => None,
        }
    }

    fn numeric(mut self, ip: IpAddr) -> Resolution {
        // §4.1: a numeric host without a transport parameter means UDP, or TCP (so TLS) for sips.
        let transport = self.fixed_transport.unwrap_or(if self.secure { Transport::Tls } else { Transport::Udp });
        let port = self.port.unwrap_or(transport.default_port());
        let targets = if self.supported.contains(&transport) {
            vec![Target { transport, addr: SocketAddr::new(ip, port) }]
        } else {
            Vec::new()
        };
        self.stage = Stage::Done(targets);
        self
    }

    /// The host itself, for when there is no SRV record: the fixed transport, else UDP (`sip:`) or TLS (`sips:`).
    fn fallback_endpoint(&self) -> Endpoint {
        let transport = self.fixed_transport.unwrap_or(if self.secure { Transport::Tls } else { Transport::Udp });
        Endpoint { name: self.domain.clone(), port: self.port.unwrap_or(transport.default_port()), transport }
    }

    fn srv_stage(&self, transports: Vec<Transport>) -> Stage {
        let lookups = transports
            .into_iter()
            .filter_map(|t| {
                t.srv_prefix().map(|prefix| (t, Pending::new(RecordType::Srv, format!("{prefix}.{}", self.domain))))
            })
            .collect();
        Stage::Srv(lookups)
    }

    /// The SRV names tried when NAPTR gives nothing usable: TLS first, then TCP, then UDP (only TLS for sips).
    fn default_srv_stage(&self) -> Stage {
        let wanted: &[Transport] =
            if self.secure { &[Transport::Tls] } else { &[Transport::Tls, Transport::Tcp, Transport::Udp] };
        self.srv_stage(wanted.iter().copied().filter(|t| self.supported.contains(t)).collect())
    }

    fn address_stage(&self, endpoints: Vec<Endpoint>) -> Stage {
        let endpoints: Vec<Endpoint> =
            endpoints.into_iter().filter(|e| self.supported.contains(&e.transport)).collect();
        let mut lookups: Vec<Pending<Vec<IpAddr>>> = Vec::new();
        for e in &endpoints {
            let numeric = e.name.parse::<IpAddr>().is_ok();
            if !numeric && !lookups.iter().any(|p| p.query.name == e.name) {
                lookups.push(Pending::new(RecordType::Address, e.name.clone()));
            }
        }
        Stage::Address { endpoints, lookups }
    }

    /// Moves to the next stage while the current one is fully answered (a stage may turn out empty).
    fn advance(&mut self, random: &mut dyn FnMut(u32) -> u32) {
        loop {
            let next = match &self.stage {
                Stage::Naptr(Pending { answer: Some(records), .. }) => {
                    let transports = self.usable_naptr(records);
                    if transports.is_empty() {
                        self.default_srv_stage()
                    } else {
                        let lookups =
                            transports.into_iter().map(|(t, name)| (t, Pending::new(RecordType::Srv, name))).collect();
                        Stage::Srv(lookups)
                    }
                }
                Stage::Srv(lookups) if lookups.iter().all(|(_, p)| p.answer.is_some()) => {
                    let mut endpoints = Vec::new();
                    for (transport, p) in lookups {
                        let records = p.answer.clone().unwrap_or_default();
                        for r in order_srv(records, random) {
                            let name = normalize_name(&r.target);
                            if !name.is_empty() {
                                endpoints.push(Endpoint { name, port: r.port, transport: *transport });
                            }
                        }
                    }
                    if endpoints.is_empty() {
                        endpoints.push(self.fallback_endpoint());
                    }
                    self.address_stage(endpoints)
                }
                Stage::Address { endpoints, lookups } if lookups.iter().all(|p| p.answer.is_some()) => {
                    let mut targets: Vec<Target> = Vec::new();
                    for e in endpoints {
                        let addrs = match e.name.parse::<IpAddr>() {
                            Ok(ip) => vec![ip],
                            Err(_) => lookups
                                .iter()
                                .find(|p| p.query.name == e.name)
                                .and_then(|p| p.answer.clone())
                                .unwrap_or_default(),
                        };
                        for ip in addrs {
                            let target = Target { transport: e.transport, addr: SocketAddr::new(ip, e.port) };
                            if !targets.contains(&target) {
                                targets.push(target);
                            }
                        }
                    }
                    Stage::Done(targets)
                }
                _ => return,
            };
            self.stage = next;
        }
    }

    /// The NAPTR records RFC 3263 §4.1 lets this element use, as (transport, SRV name), in order then preference.
    fn usable_naptr(&self, records: &[NaptrRecord]) -> Vec<(Transport, String)> {
        let mut usable: Vec<&NaptrRecord> = records
            .iter()
            .filter(|r| r.flags.eq_ignore_ascii_case("s") && r.regexp.is_empty())
            .filter(|r| {
                Transport::from_naptr_service(&r.services)
                    .is_some_and(|t| self.supported.contains(&t) && (!self.secure || t.is_secure()))
            })
            .collect();
        usable.sort_by_key(|r| (r.order, r.preference));
        let mut out: Vec<(Transport, String)> = Vec::new();
        for r in usable {
            let name = normalize_name(&r.replacement);
            if let Some(t) = Transport::from_naptr_service(&r.services)
                && !name.is_empty()
                && !out.iter().any(|(_, n)| *n == name)
            {
                out.push((t, name));
            }
        }
        out
    }
}

/// Orders SRV records: by priority, and within a priority by the weighted random selection of RFC 2782 (records
/// of weight 0 first, then repeatedly pick a random number in `0..=sum of remaining weights` and take the first
/// record whose running sum reaches it). `random(bound)` must return a uniform number in `0..=bound`; a larger
/// value is reduced modulo `bound + 1`. A lone record whose target is `.` means "no such service": the result is
/// then empty.
pub fn order_srv(mut records: Vec<SrvRecord>, random: &mut dyn FnMut(u32) -> u32) -> Vec<SrvRecord> {
    if records.len() == 1 && normalize_name(&records[0].target).is_empty() {
        return Vec::new();
    }
    records.retain(|r| !normalize_name(&r.target).is_empty());
    records.sort_by_key(|r| r.priority);
    let mut out = Vec::with_capacity(records.len());
    let mut rest = records.into_iter().peekable();
    while let Some(first) = rest.next() {
        let priority = first.priority;
        let mut group = vec![first];
        while let Some(r) = rest.next_if(|r| r.priority == priority) {
            group.push(r);
        }
        // Zero weights first, order among equals kept (RFC 2782: "in any order").
        group.sort_by_key(|r| r.weight != 0);
        while !group.is_empty() {
            let total: u32 = group.iter().map(|r| u32::from(r.weight)).fold(0, u32::saturating_add);
            let pick = u64::from(random(total)) % (u64::from(total) + 1);
            let mut running = 0u64;
            let index = group
                .iter()
                .position(|r| {
                    running += u64::from(r.weight);
                    running >= pick
                })
                .unwrap_or(group.len() - 1);
            out.push(group.remove(index));
        }
    }
    out
}

/// A DNS name as compared and queried here: lower case, without the final dot (so the root `.` becomes empty).
fn normalize_name(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

#[cfg(test)]
#[allow(clippy::expect_used)] // Test data that is known valid.
mod tests {
    use super::*;

    const UDP_TCP_TLS: &[Transport] = &[Transport::Udp, Transport::Tcp, Transport::Tls];

    fn no_random(_: u32) -> u32 {
        0
    }

    fn naptr(order: u16, preference: u16, flags: &str, services: &str, replacement: &str) -> NaptrRecord {
        NaptrRecord {
            order,
            preference,
            flags: flags.into(),
            services: services.into(),
            regexp: String::new(),
            replacement: replacement.into(),
        }
    }

    fn srv(priority: u16, weight: u16, port: u16, target: &str) -> SrvRecord {
        SrvRecord { priority, weight, port, target: target.into() }
    }

    fn target(transport: Transport, addr: &str) -> Target {
        Target { transport, addr: addr.parse().expect("test address") }
    }

    fn query(record: RecordType, name: &str) -> Query {
        Query { record, name: name.into() }
    }

    /// Drives a resolution against a fixed table of records, one stage at a time, and records the queries asked.
    fn drive(
        resolution: &mut Resolution,
        table: &dyn Fn(&Query) -> Answer,
        random: &mut dyn FnMut(u32) -> u32,
    ) -> Vec<Query> {
        let mut asked = Vec::new();
        for _ in 0..10 {
            let batch: Vec<Query> = std::iter::from_fn(|| resolution.next_query()).collect();
            if batch.is_empty() {
                break;
            }
            for q in &batch {
                resolution.answer(q, table(q), random);
            }
            asked.extend(batch);
        }
        asked
    }

    /// A campus.test zone like the one the transport tests serve: NAPTR -> SRV -> A.
    fn campus(q: &Query) -> Answer {
        match (q.record, q.name.as_str()) {
            (RecordType::Naptr, "campus.test") => Answer::Naptr(vec![
                naptr(20, 50, "s", "SIP+D2T", "_sip._tcp.campus.test."),
                naptr(10, 50, "S", "SIP+D2U", "_sip._udp.campus.test."),
                naptr(5, 50, "s", "SIP+D2S", "_sip._sctp.campus.test."),
                naptr(1, 50, "u", "SIP+D2U", "_sip._udp.elsewhere.test."),
            ]),
            (RecordType::Srv, "_sip._udp.campus.test") => {
                Answer::Srv(vec![srv(20, 40, 5070, "sip2.campus.test."), srv(10, 60, 5060, "sip1.campus.test.")])
            }
            (RecordType::Srv, "_sip._tcp.campus.test") => Answer::Srv(vec![srv(10, 100, 5060, "sip1.campus.test.")]),
            (RecordType::Address, "sip1.campus.test") => Answer::Addresses(vec!["127.0.0.2".parse().expect("ip")]),
            (RecordType::Address, "sip2.campus.test") => Answer::Addresses(vec!["127.0.0.3".parse().expect("ip")]),
            (RecordType::Naptr, _) => Answer::Naptr(vec![]),
            (RecordType::Srv, _) => Answer::Srv(vec![]),
            (RecordType::Address, _) => Answer::Addresses(vec![]),
        }
    }

    #[test]
    fn rfc3263_4_numeric_host_needs_no_dns() {
        let uri = UriParts { port: Some(5080), ..UriParts::host(Host::V4([192, 0, 2, 1].into())) };
        let mut r = Resolution::new(&uri, UDP_TCP_TLS).expect("valid");
        assert!(r.is_done());
        assert_eq!(r.next_query(), None);
        let list = r.targets().expect("done");
        assert_eq!(list.collect::<Vec<_>>(), vec![target(Transport::Udp, "192.0.2.1:5080")]);

        let sips = UriParts { secure: true, ..UriParts::host(Host::V6("2001:db8::1".parse().expect("ip"))) };
        let list = Resolution::new(&sips, UDP_TCP_TLS).expect("valid").targets().expect("done");
        assert_eq!(list.server_name(), Some("2001:db8::1"));
        assert_eq!(list.collect::<Vec<_>>(), vec![target(Transport::Tls, "[2001:db8::1]:5061")]);

        let tcp = UriParts { transport: Some(Transport::Tcp), ..UriParts::host(Host::V4([192, 0, 2, 1].into())) };
        let list = Resolution::new(&tcp, UDP_TCP_TLS).expect("valid").targets().expect("done");
        assert_eq!(list.collect::<Vec<_>>(), vec![target(Transport::Tcp, "192.0.2.1:5060")]);
    }

    #[test]
    fn rfc3263_4_maddr_replaces_the_host() {
        let uri = UriParts { maddr: Some(Host::V4([192, 0, 2, 9].into())), ..UriParts::host(Host::Domain("x.test")) };
        let list = Resolution::new(&uri, UDP_TCP_TLS).expect("valid").targets().expect("no DNS needed");
        assert_eq!(list.server_name(), Some("x.test"));
        assert_eq!(list.collect::<Vec<_>>(), vec![target(Transport::Udp, "192.0.2.9:5060")]);
    }

    #[test]
    fn rfc3263_4_2_port_given_skips_naptr_and_srv() {
        let uri = UriParts { port: Some(5099), ..UriParts::host(Host::Domain("campus.test")) };
        let mut r = Resolution::new(&uri, UDP_TCP_TLS).expect("valid");
        let asked = drive(
            &mut r,
            &|q| match q.name.as_str() {
                "campus.test" => Answer::Addresses(vec!["127.0.0.5".parse().expect("ip")]),
                _ => Answer::Addresses(vec![]),
            },
            &mut no_random,
        );
        assert_eq!(asked, vec![query(RecordType::Address, "campus.test")]);
        assert_eq!(r.targets().expect("done").collect::<Vec<_>>(), vec![target(Transport::Udp, "127.0.0.5:5099")]);
    }

    #[test]
    fn rfc3263_4_1_transport_parameter_skips_naptr() {
        let uri = UriParts { transport: Some(Transport::Tcp), ..UriParts::host(Host::Domain("Campus.Test.")) };
        let mut r = Resolution::new(&uri, UDP_TCP_TLS).expect("valid");
        let asked = drive(&mut r, &campus, &mut no_random);
        assert_eq!(
            asked,
            vec![query(RecordType::Srv, "_sip._tcp.campus.test"), query(RecordType::Address, "sip1.campus.test")]
        );
        assert_eq!(r.targets().expect("done").collect::<Vec<_>>(), vec![target(Transport::Tcp, "127.0.0.2:5060")]);
    }

    #[test]
    fn rfc3263_4_1_naptr_then_srv_then_address_in_order_then_preference() {
        let mut r = Resolution::new(&UriParts::host(Host::Domain("campus.test")), UDP_TCP_TLS).expect("valid");
        let asked = drive(&mut r, &campus, &mut no_random);
        // The SCTP record (unsupported) and the "u" record (not an SRV name) are skipped; UDP (order 10) comes
        // before TCP (order 20) whatever the order of the answer.
        assert_eq!(
            asked,
            vec![
                query(RecordType::Naptr, "campus.test"),
                query(RecordType::Srv, "_sip._udp.campus.test"),
                query(RecordType::Srv, "_sip._tcp.campus.test"),
                query(RecordType::Address, "sip1.campus.test"),
                query(RecordType::Address, "sip2.campus.test"),
            ]
        );
        let list = r.targets().expect("done");
        assert_eq!(list.server_name(), Some("campus.test"));
        assert_eq!(
            list.collect::<Vec<_>>(),
            vec![
                target(Transport::Udp, "127.0.0.2:5060"),
                target(Transport::Udp, "127.0.0.3:5070"),
                target(Transport::Tcp, "127.0.0.2:5060"),
            ]
        );
    }

    #[test]
    fn rfc3263_4_1_sips_uses_only_secure_naptr_services() {
        let table = |q: &Query| match (q.record, q.name.as_str()) {
            (RecordType::Naptr, _) => Answer::Naptr(vec![
                naptr(10, 10, "s", "SIP+D2U", "_sip._udp.example.test"),
                naptr(20, 10, "s", "SIPS+D2T", "_sips._tcp.example.test"),
            ]),
            (RecordType::Srv, "_sips._tcp.example.test") => Answer::Srv(vec![srv(0, 0, 5061, "tls.example.test")]),
            (RecordType::Address, "tls.example.test") => Answer::Addresses(vec!["192.0.2.7".parse().expect("ip")]),
            _ => Answer::Srv(vec![]),
        };
        let uri = UriParts { secure: true, ..UriParts::host(Host::Domain("example.test")) };
        let mut r = Resolution::new(&uri, UDP_TCP_TLS).expect("valid");
        let asked = drive(&mut r, &table, &mut no_random);
        assert_eq!(asked[1], query(RecordType::Srv, "_sips._tcp.example.test"));
        assert_eq!(r.targets().expect("done").collect::<Vec<_>>(), vec![target(Transport::Tls, "192.0.2.7:5061")]);
    }

    #[test]
    fn rfc3263_4_1_without_naptr_the_default_srv_names_are_tried() {
        let table = |q: &Query| match (q.record, q.name.as_str()) {
            (RecordType::Srv, "_sip._udp.example.test") => Answer::Srv(vec![srv(0, 0, 5060, "a.example.test")]),
            (RecordType::Srv, "_sip._tcp.example.test") => Answer::Srv(vec![srv(0, 0, 5062, "a.example.test")]),
            (RecordType::Address, "a.example.test") => Answer::Addresses(vec!["192.0.2.1".parse().expect("ip")]),
            (RecordType::Naptr, _) => Answer::Naptr(vec![]),
            _ => Answer::Srv(vec![]),
        };
        let mut r = Resolution::new(&UriParts::host(Host::Domain("example.test")), UDP_TCP_TLS).expect("valid");
        let asked = drive(&mut r, &table, &mut no_random);
        let srv_names: Vec<&str> =
            asked.iter().filter(|q| q.record == RecordType::Srv).map(|q| q.name.as_str()).collect();
        assert_eq!(srv_names, ["_sips._tcp.example.test", "_sip._tcp.example.test", "_sip._udp.example.test"]);
        assert_eq!(
            r.targets().expect("done").collect::<Vec<_>>(),
            vec![target(Transport::Tcp, "192.0.2.1:5062"), target(Transport::Udp, "192.0.2.1:5060")]
        );

        // Only _sips._tcp for a sips: URI, and only supported transports otherwise.
        let uri = UriParts { secure: true, ..UriParts::host(Host::Domain("example.test")) };
        let mut r = Resolution::new(&uri, UDP_TCP_TLS).expect("valid");
        let asked = drive(&mut r, &table, &mut no_random);
        assert_eq!(asked[1], query(RecordType::Srv, "_sips._tcp.example.test"));
        let mut r = Resolution::new(&UriParts::host(Host::Domain("example.test")), &[Transport::Udp]).expect("ok");
        let asked = drive(&mut r, &table, &mut no_random);
        assert_eq!(asked[1], query(RecordType::Srv, "_sip._udp.example.test"));
        assert_eq!(asked.len(), 3);
    }

    #[test]
    fn rfc3263_4_2_no_srv_falls_back_to_the_host_and_default_port() {
        let table = |q: &Query| match q.record {
            RecordType::Address => Answer::Addresses(vec!["192.0.2.4".parse().expect("ip")]),
            RecordType::Naptr => Answer::Naptr(vec![]),
            RecordType::Srv => Answer::Srv(vec![]),
        };
        let mut r = Resolution::new(&UriParts::host(Host::Domain("plain.test")), UDP_TCP_TLS).expect("valid");
        drive(&mut r, &table, &mut no_random);
        assert_eq!(r.targets().expect("done").collect::<Vec<_>>(), vec![target(Transport::Udp, "192.0.2.4:5060")]);

        let uri = UriParts { secure: true, ..UriParts::host(Host::Domain("plain.test")) };
        let mut r = Resolution::new(&uri, UDP_TCP_TLS).expect("valid");
        drive(&mut r, &table, &mut no_random);
        assert_eq!(r.targets().expect("done").collect::<Vec<_>>(), vec![target(Transport::Tls, "192.0.2.4:5061")]);
    }

    #[test]
    fn rfc2782_dot_target_means_no_service() {
        assert!(order_srv(vec![srv(0, 0, 0, ".")], &mut no_random).is_empty());
        let table = |q: &Query| match q.record {
            RecordType::Srv => Answer::Srv(vec![srv(0, 0, 0, ".")]),
            RecordType::Naptr => Answer::Naptr(vec![]),
            RecordType::Address => Answer::Addresses(vec!["192.0.2.4".parse().expect("ip")]),
        };
        let uri = UriParts { transport: Some(Transport::Udp), ..UriParts::host(Host::Domain("none.test")) };
        let mut r = Resolution::new(&uri, UDP_TCP_TLS).expect("valid");
        drive(&mut r, &table, &mut no_random);
        // No SRV endpoint: the host itself with the default port.
        assert_eq!(r.targets().expect("done").collect::<Vec<_>>(), vec![target(Transport::Udp, "192.0.2.4:5060")]);
    }

    #[test]
    fn rfc2782_priority_orders_before_weight() {
        let records = vec![srv(30, 100, 1, "c"), srv(10, 0, 2, "a"), srv(20, 5, 3, "b"), srv(10, 0, 4, "a2")];
        let ordered = order_srv(records, &mut |bound| bound);
        let ports: Vec<u16> = ordered.iter().map(|r| r.port).collect();
        assert_eq!(ports, [2, 4, 3, 1]);
    }

    #[test]
    fn rfc2782_weight_selection_with_fixed_randomness() {
        // Running sums 0 (weight 0, listed first), 10, 40: a pick of 0 takes the zero-weight record, 1..=10 the
        // first weighted one, 11..=40 the second.
        let records = || vec![srv(1, 10, 1, "a"), srv(1, 30, 2, "b"), srv(1, 0, 3, "z")];
        let ports = |picks: &[u32]| {
            let mut picks = picks.iter().copied();
            order_srv(records(), &mut |_| picks.next().unwrap_or(0)).iter().map(|r| r.port).collect::<Vec<_>>()
        };
        assert_eq!(ports(&[0, 0, 0]), [3, 1, 2]);
        assert_eq!(ports(&[40, 10, 0]), [2, 1, 3]);
        assert_eq!(ports(&[11, 5, 0]), [2, 1, 3]);
        assert_eq!(ports(&[10, 30, 0]), [1, 2, 3]);
        // Out-of-range randomness is reduced, not trusted: 41 % 41 == 0.
        assert_eq!(ports(&[41, 0, 0]), [3, 1, 2]);
    }

    /// xorshift64*: a small seeded generator, so the statistics below are reproducible.
    struct XorShift(u64);

    impl XorShift {
        fn below_or_equal(&mut self, bound: u32) -> u32 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
            ((x >> 32) % (u64::from(bound) + 1)) as u32
        }
    }

    #[test]
    fn rfc2782_weights_are_proportional_probabilities() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut random = |bound| rng.below_or_equal(bound);
        let rounds = 20_000;
        let mut first = [0u32; 3];
        for _ in 0..rounds {
            let records = vec![srv(1, 60, 0, "a"), srv(1, 30, 1, "b"), srv(1, 10, 2, "c")];
            let ordered = order_srv(records, &mut random);
            first[usize::from(ordered[0].port)] += 1;
        }
        let share = |n: u32| f64::from(n) / f64::from(rounds);
        assert!((share(first[0]) - 0.60).abs() < 0.02, "60% weight chosen first {:.3}", share(first[0]));
        assert!((share(first[1]) - 0.30).abs() < 0.02, "30% weight chosen first {:.3}", share(first[1]));
        assert!((share(first[2]) - 0.10).abs() < 0.02, "10% weight chosen first {:.3}", share(first[2]));
    }

    #[test]
    fn answers_may_arrive_in_any_order() {
        let mut forward = Resolution::new(&UriParts::host(Host::Domain("campus.test")), UDP_TCP_TLS).expect("ok");
        drive(&mut forward, &campus, &mut no_random);
        let mut backward = Resolution::new(&UriParts::host(Host::Domain("campus.test")), UDP_TCP_TLS).expect("ok");
        for _ in 0..10 {
            let mut batch: Vec<Query> = std::iter::from_fn(|| backward.next_query()).collect();
            if batch.is_empty() {
                break;
            }
            batch.reverse();
            for q in &batch {
                backward.answer(q, campus(q), &mut no_random);
            }
        }
        assert_eq!(forward.targets(), backward.targets());
    }

    #[test]
    fn unexpected_answers_are_ignored() {
        let mut r = Resolution::new(&UriParts::host(Host::Domain("campus.test")), UDP_TCP_TLS).expect("ok");
        let q = r.next_query().expect("NAPTR first");
        r.answer(&query(RecordType::Srv, "other.test"), Answer::Srv(vec![]), &mut no_random);
        assert_eq!(r.next_query(), None, "still waiting for the NAPTR answer");
        // The wrong kind of records counts as none found: on to the default SRV names.
        r.answer(&q, Answer::Addresses(vec![]), &mut no_random);
        assert_eq!(r.next_query(), Some(query(RecordType::Srv, "_sips._tcp.campus.test")));
        assert!(r.targets().is_none());
    }

    #[test]
    fn rfc3261_sips_over_udp_is_refused_and_unsupported_transports_yield_nothing() {
        let uri = UriParts { secure: true, transport: Some(Transport::Udp), ..UriParts::host(Host::Domain("a.test")) };
        assert!(matches!(Resolution::new(&uri, UDP_TCP_TLS), Err(Error::BadUri(_))));
        let uri = UriParts { transport: Some(Transport::Sctp), ..UriParts::host(Host::V4([192, 0, 2, 1].into())) };
        let list = Resolution::new(&uri, UDP_TCP_TLS).expect("valid").targets().expect("done");
        assert!(list.is_empty());
    }

    #[test]
    fn target_list_hands_out_targets_for_failover() {
        let mut list = TargetList::new(
            [target(Transport::Udp, "127.0.0.2:5060"), target(Transport::Udp, "127.0.0.3:5060")],
            Some("campus.test".into()),
        );
        assert_eq!(list.len(), 2);
        assert_eq!(list.peek(), Some(&target(Transport::Udp, "127.0.0.2:5060")));
        assert_eq!(list.next(), Some(target(Transport::Udp, "127.0.0.2:5060")));
        assert_eq!(list.next(), Some(target(Transport::Udp, "127.0.0.3:5060")));
        assert_eq!(list.next(), None);
        assert!(list.is_empty());
    }

    #[test]
    fn transport_names() {
        assert_eq!(Transport::parse("udp"), Some(Transport::Udp));
        assert_eq!(Transport::parse("TLS"), Some(Transport::Tls));
        assert_eq!(Transport::parse("wss"), Some(Transport::Wss));
        assert_eq!(Transport::parse("quic"), None);
        assert_eq!(Transport::from_naptr_service("sips+d2t"), Some(Transport::Tls));
        assert_eq!(Transport::Tcp.secured(), Some(Transport::Tls));
        assert_eq!(Transport::Udp.secured(), None);
        assert_eq!(Transport::Tls.default_port(), 5061);
        assert!(!Transport::Udp.is_reliable() && Transport::Tcp.is_reliable());
    }

    #[test]
    fn the_next_target_follows_a_503_a_timeout_or_a_transport_error_only_rfc3263_4_3() {
        let status = |code| Attempt::Answered(StatusCode::new(code).expect("status"));
        assert!(status(503).calls_for_next_target());
        assert!(Attempt::TimedOut.calls_for_next_target());
        assert!(Attempt::Unreachable.calls_for_next_target());
        for code in [200, 404, 408, 486, 500, 502, 504, 600] {
            assert!(!status(code).calls_for_next_target(), "{code} is the name's answer");
        }
    }
}
