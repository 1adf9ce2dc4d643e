//! RFC 3263 server location over real DNS: hickory-resolver performs the lookups that
//! [`carillon_sip::target::Resolution`] asks for.
//!
//! The resolver talks to the name server named in its configuration, never to the system's unless the
//! configuration says [`NameServer::System`]. Every lookup has a time limit; a lookup that fails or times out
//! counts as "no records", which RFC 3263 treats like an empty answer and moves on.

use std::net::SocketAddr;
use std::time::Duration;

use carillon_sip::target::{
    Answer, NaptrRecord, Query, RecordType, Resolution, SrvRecord, TargetList, Transport, UriParts,
};
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig as HickoryConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType as DnsRecordType};
use tokio::task::JoinSet;

use crate::error::Error;

/// Which name server answers the lookups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameServer {
    /// This server, over UDP and TCP (for example a campus DNS server, or a test server on 127.0.0.1).
    Explicit(SocketAddr),
    /// The operating system's configuration (`/etc/resolv.conf`).
    System,
}

/// How the resolver is set up.
#[derive(Debug, Clone)]
pub struct ResolverConfig {
    /// Who answers.
    pub name_server: NameServer,
    /// Time limit of each lookup.
    pub timeout: Duration,
    /// The transports this element can use; NAPTR and SRV records for others are skipped.
    pub transports: Vec<Transport>,
}

impl ResolverConfig {
    /// Lookups sent to `name_server`, two seconds each, for UDP, TCP and TLS targets.
    pub fn explicit(name_server: SocketAddr) -> Self {
        ResolverConfig {
            name_server: NameServer::Explicit(name_server),
            timeout: Duration::from_secs(2),
            transports: vec![Transport::Udp, Transport::Tcp, Transport::Tls],
        }
    }
}

/// Turns SIP URIs into ordered target lists (RFC 3263 §4).
#[derive(Clone)]
pub struct Resolver {
    dns: TokioResolver,
    timeout: Duration,
    transports: Vec<Transport>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver").field("timeout", &self.timeout).field("transports", &self.transports).finish()
    }
}

impl Resolver {
    /// A resolver as configured. Must be called inside a tokio runtime.
    pub fn new(config: ResolverConfig) -> Result<Resolver, Error> {
        let mut options = ResolverOpts::default();
        options.timeout = config.timeout;
        options.attempts = 1;
        options.use_hosts_file = ResolveHosts::Never;
        let builder = match config.name_server {
            NameServer::Explicit(addr) => {
                let mut server = NameServerConfig::udp_and_tcp(addr.ip());
                for connection in &mut server.connections {
                    connection.port = addr.port();
                }
                let hickory = HickoryConfig::from_parts(None, Vec::new(), vec![server]);
                TokioResolver::builder_with_config(hickory, TokioRuntimeProvider::default())
            }
            NameServer::System => TokioResolver::builder_tokio().map_err(|e| Error::Resolver(e.to_string()))?,
        };
        let dns = builder.with_options(options).build().map_err(|e| Error::Resolver(e.to_string()))?;
        Ok(Resolver { dns, timeout: config.timeout, transports: config.transports })
    }

    /// The targets for `uri`, in the order to try them. An empty list means nothing could be found (the caller
    /// answers 503 or 478 as its role requires).
    pub async fn resolve(&self, uri: &UriParts<'_>) -> Result<TargetList, Error> {
        Ok(self.resolve_traced(uri).await?.0)
    }

    /// [`Resolver::resolve`], also returning the lookups made, in the order they were asked (for diagnostics).
    pub async fn resolve_traced(&self, uri: &UriParts<'_>) -> Result<(TargetList, Vec<Query>), Error> {
        let mut resolution = Resolution::new(uri, &self.transports)?;
        let mut asked = Vec::new();
        let mut random = |bound: u32| rand::random_range(0..=bound);
        // Three stages at most (NAPTR, SRV, addresses); the bound only guards against a logic error looping.
        for _ in 0..8 {
            let batch: Vec<Query> = std::iter::from_fn(|| resolution.next_query()).collect();
            if batch.is_empty() {
                break;
            }
            let mut lookups = JoinSet::new();
            for query in batch.iter().cloned() {
                let (dns, timeout) = (self.dns.clone(), self.timeout);
                lookups.spawn(async move {
                    let answer = lookup(&dns, &query, timeout).await;
                    (query, answer)
                });
            }
            while let Some(done) = lookups.join_next().await {
                match done {
                    Ok((query, answer)) => resolution.answer(&query, answer, &mut random),
                    Err(e) => tracing::warn!(error = %e, "DNS lookup task failed"),
                }
            }
            asked.extend(batch);
        }
        let targets = resolution.targets().unwrap_or_default();
        tracing::debug!(lookups = asked.len(), targets = ?targets, "RFC 3263 resolution done");
        Ok((targets, asked))
    }

    /// Performs one lookup; failures and timeouts are an empty answer.
    pub async fn lookup(&self, query: &Query) -> Answer {
        lookup(&self.dns, query, self.timeout).await
    }
}

async fn lookup(dns: &TokioResolver, query: &Query, timeout: Duration) -> Answer {
    // A final dot: the name is absolute, no search domain is tried.
    let name = format!("{}.", query.name);
    let empty = match query.record {
        RecordType::Naptr => Answer::Naptr(Vec::new()),
        RecordType::Srv => Answer::Srv(Vec::new()),
        RecordType::Address => Answer::Addresses(Vec::new()),
    };
    let outcome = tokio::time::timeout(timeout, async {
        match query.record {
            RecordType::Address => {
                dns.lookup_ip(name.as_str()).await.map(|found| Answer::Addresses(found.iter().collect()))
            }
            RecordType::Naptr => dns.lookup(name.as_str(), DnsRecordType::NAPTR).await.map(|found| {
                Answer::Naptr(
                    found
                        .answers()
                        .iter()
                        .filter_map(|r| match &r.data {
                            RData::NAPTR(n) => Some(NaptrRecord {
                                order: n.order,
                                preference: n.preference,
                                flags: String::from_utf8_lossy(&n.flags).into_owned(),
                                services: String::from_utf8_lossy(&n.services).into_owned(),
                                regexp: String::from_utf8_lossy(&n.regexp).into_owned(),
                                replacement: n.replacement.to_string(),
                            }),
                            _ => None,
                        })
                        .collect(),
                )
            }),
            RecordType::Srv => dns.lookup(name.as_str(), DnsRecordType::SRV).await.map(|found| {
                Answer::Srv(
                    found
                        .answers()
                        .iter()
                        .filter_map(|r| match &r.data {
                            RData::SRV(s) => Some(SrvRecord {
                                priority: s.priority,
                                weight: s.weight,
                                port: s.port,
                                target: s.target.to_string(),
                            }),
                            _ => None,
                        })
                        .collect(),
                )
            }),
        }
    })
    .await;
    match outcome {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => {
            tracing::debug!(name = %query.name, record = ?query.record, error = %e, "DNS lookup found nothing");
            empty
        }
        Err(_) => {
            tracing::debug!(name = %query.name, record = ?query.record, "DNS lookup timed out");
            empty
        }
    }
}
