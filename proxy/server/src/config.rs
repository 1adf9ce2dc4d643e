//! The service's configuration file: TOML, every table `deny_unknown_fields`, read once at start.
//!
//! [`Config::from_toml`] parses and then checks what the types cannot say (listener syntax, a `[tls]` table for
//! TLS listeners, a public address for wildcard listeners, expiry ordering). Every error names the field it is
//! about, so an operator can fix the file from the message alone. `docs/carillon-proxy.example.toml` documents
//! every field and is loaded by a test.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use carillon_sip::auth::Algorithm;
use carillon_sip::target::Transport;
use serde::Deserialize;

use crate::error::Error;

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[node]`: who this process is.
    pub node: NodeConfig,
    /// `[sip]`: the domain served and the listeners.
    pub sip: SipConfig,
    /// `[database]`: where the shared schema lives.
    pub database: DatabaseConfig,
    /// `[auth]`: digest authentication.
    pub auth: AuthConfig,
    /// `[registrar]`: registration policy.
    #[serde(default)]
    pub registrar: RegistrarConfig,
    /// `[dns]`: RFC 3263 lookups for other domains.
    #[serde(default)]
    pub dns: DnsConfig,
    /// `[tls]`: the certificate of `tls:` listeners and the CAs trusted for outgoing TLS connections.
    #[serde(default)]
    pub tls: TlsConfig,
    /// `[log]`: what is logged.
    #[serde(default)]
    pub log: LogConfig,
    /// `[shutdown]`: how long a graceful shutdown may take.
    #[serde(default)]
    pub shutdown: ShutdownConfig,
    /// `[number_plan]`: how dialled numbers are told apart (outside-line prefix, local, long distance,
    /// international).
    #[serde(default)]
    pub number_plan: NumberPlanConfig,
    /// `[routing]`: redirect mode, the emergency number cache, how long a trunk has to answer.
    #[serde(default)]
    pub routing: RoutingConfig,
    /// `[trunks]`: the key of sealed trunk passwords.
    #[serde(default)]
    pub trunks: TrunksConfig,
}

/// `[node]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Unique per node (letters, digits, `.`, `_`, `-`, at most 64); recorded with registrations and call records.
    pub id: String,
    /// Seconds between heartbeats written to the `nodes` table.
    #[serde(default = "default_heartbeat_seconds")]
    pub heartbeat_seconds: u64,
}

/// `[sip]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipConfig {
    /// The SIP domain served; also the digest realm.
    pub domain: String,
    /// Listeners as `transport:address:port` (`udp:127.0.0.1:5060`, `tcp:[::1]:5060`, `tls:0.0.0.0:5061`); at
    /// most one per transport.
    pub listen: Vec<String>,
    /// The address written in Via and Record-Route when a listener binds a wildcard address (required then).
    #[serde(default)]
    pub public_address: Option<String>,
    /// A TCP or TLS connection without traffic for this long is closed, unless a registration made over it
    /// lasts longer: then it stays open until the registration expires.
    #[serde(default = "default_connection_idle_seconds")]
    pub connection_idle_seconds: u64,
}

/// `[database]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://user:password@host:port/database`; `DATABASE_URL` in the environment overrides it.
    pub url: String,
    /// Apply pending migrations at start instead of refusing to start on an older schema.
    #[serde(default)]
    pub migrate: bool,
}

/// `[auth]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// File holding the 32-byte nonce secret; created (mode 0600) with random bytes if missing. Nodes that share
    /// it accept each other's nonces.
    pub nonce_secret_file: PathBuf,
    /// How long a nonce may be used.
    #[serde(default = "default_nonce_lifetime_seconds")]
    pub nonce_lifetime_seconds: u64,
    /// The digest algorithms challenges offer, `"SHA-256"` and `"MD5"` (the hashes stored for every line), one
    /// challenge each, strongest first (RFC 8760). Some user agents give up on a challenge set holding an
    /// algorithm they lack instead of answering the one they know (baresip 1.0, SIPp 3.6 with SHA-256): a site
    /// with such phones offers `["MD5"]`.
    #[serde(default = "default_digest_algorithms")]
    pub algorithms: Vec<String>,
}

/// `[registrar]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrarConfig {
    /// Shortest expiry accepted (423 with Min-Expires below it).
    #[serde(default = "default_min_expires")]
    pub min_expires: u32,
    /// Expiry when the phone asks for none.
    #[serde(default = "default_default_expires")]
    pub default_expires: u32,
    /// Longest expiry granted.
    #[serde(default = "default_max_expires")]
    pub max_expires: u32,
    /// Granted expiries are randomly shortened by up to this many percent, to spread re-registrations.
    #[serde(default = "default_shortening_percent")]
    pub max_shortening_percent: u8,
    /// Most contacts one address of record may hold.
    #[serde(default = "default_max_contacts")]
    pub max_contacts: usize,
    /// Seconds between sweeps that drop expired bindings from memory and the database.
    #[serde(default = "default_expire_interval_seconds")]
    pub expire_interval_seconds: u64,
}

/// `[dns]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsConfig {
    /// `address:port` of the name server for RFC 3263 lookups; absent = the system resolver.
    #[serde(default)]
    pub name_server: Option<String>,
}

/// `[tls]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain of `tls:` listeners.
    #[serde(default)]
    pub certificate_file: Option<PathBuf>,
    /// PEM private key.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// PEM bundle of the CA certificates a server must chain to when the proxy opens a TLS connection (a trunk, a
    /// phone whose connection is gone, another domain); absent = the system bundle [`SYSTEM_CA_BUNDLE`] if it
    /// exists.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// The CA bundle of Debian's `ca-certificates` package, trusted for outgoing TLS when `[tls] ca_file` is absent.
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug`, `trace`, or a tracing filter (`info,carillon_proxy=debug`); `RUST_LOG`
    /// in the environment overrides it.
    #[serde(default = "default_log_level")]
    pub level: String,
}

/// `[shutdown]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownConfig {
    /// How long transactions in progress may take to finish after SIGTERM before the service exits anyway.
    #[serde(default = "default_drain_seconds")]
    pub drain_seconds: u64,
}

/// `[number_plan]`. The defaults are the North American Numbering Plan as dialled from a campus: 9 for an outside
/// line, then 7 digits (local), 10 digits or 1 and 10 digits (local within `local_area_codes`, long distance
/// otherwise), or 011 and an international number.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumberPlanConfig {
    /// Digits dialled for an outside line; `""` when outside numbers are dialled without one.
    #[serde(default = "default_outside_prefix")]
    pub outside_prefix: String,
    /// Digits that start an international number after the outside-line prefix.
    #[serde(default = "default_international_prefix")]
    pub international_prefix: String,
    /// Digits that start a national number dialled with the long-distance prefix (`1` in the NANP, `0` in much of
    /// Europe); `""` when there is none.
    #[serde(default = "default_trunk_prefix")]
    pub trunk_prefix: String,
    /// The country code of `+` numbers (E.164) that are national; other `+` numbers are international.
    #[serde(default = "default_country_code")]
    pub country_code: String,
    /// Digits of a national number (area code and subscriber number); 0 for any length after `trunk_prefix`.
    #[serde(default = "default_national_digits")]
    pub national_digits: u8,
    /// Digits of a local number dialled without area code; 0 makes every other number local.
    #[serde(default = "default_subscriber_digits")]
    pub subscriber_digits: u8,
    /// National numbers starting with one of these (area codes) are local calls, the others long distance.
    #[serde(default)]
    pub local_area_codes: Vec<String>,
    /// Numbers dialled without the outside-line prefix that start with one of these are campus numbers (another
    /// system on site), routed by the outbound routes like outside numbers.
    #[serde(default)]
    pub campus_prefixes: Vec<String>,
}

/// `[routing]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingConfig {
    /// Domains whose requests are answered 302 Moved Temporarily with the request's own address as Contact,
    /// instead of being proxied: the caller reaches them directly.
    #[serde(default)]
    pub redirect_domains: Vec<String>,
    /// How often the emergency numbers are read again from the database; between reads (and during a database
    /// outage) the last copy read is used.
    #[serde(default = "default_emergency_refresh_seconds")]
    pub emergency_refresh_seconds: u64,
    /// How long a trunk or gateway has to answer a request at all (a 100 Trying will do) before it counts as down
    /// and the next trunk (or the next server of its DNS name) is tried. Without it a silent trunk is given up
    /// only by the transaction timeout, 32 seconds later. A trunk that answered is alive: then the call rings as
    /// long as the callee lets it.
    #[serde(default = "default_trunk_response_timeout_seconds")]
    pub trunk_response_timeout_seconds: u64,
}

/// `[trunks]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunksConfig {
    /// File holding the 32-byte key trunk passwords are sealed with (`trunks.auth_password_sealed`); created
    /// (mode 0600) with random bytes if missing. Every node, and the host where `carillon trunk set-password`
    /// runs, needs the same file. Absent: sealed passwords are not used (trunks answer challenges from their HA1
    /// values only).
    #[serde(default)]
    pub seal_key_file: Option<PathBuf>,
}

fn default_outside_prefix() -> String {
    "9".to_owned()
}
fn default_international_prefix() -> String {
    "011".to_owned()
}
fn default_trunk_prefix() -> String {
    "1".to_owned()
}
fn default_country_code() -> String {
    "1".to_owned()
}
fn default_national_digits() -> u8 {
    10
}
fn default_subscriber_digits() -> u8 {
    7
}
fn default_emergency_refresh_seconds() -> u64 {
    60
}
fn default_trunk_response_timeout_seconds() -> u64 {
    4
}

impl Default for NumberPlanConfig {
    fn default() -> Self {
        NumberPlanConfig {
            outside_prefix: default_outside_prefix(),
            international_prefix: default_international_prefix(),
            trunk_prefix: default_trunk_prefix(),
            country_code: default_country_code(),
            national_digits: default_national_digits(),
            subscriber_digits: default_subscriber_digits(),
            local_area_codes: Vec::new(),
            campus_prefixes: Vec::new(),
        }
    }
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            redirect_domains: Vec::new(),
            emergency_refresh_seconds: default_emergency_refresh_seconds(),
            trunk_response_timeout_seconds: default_trunk_response_timeout_seconds(),
        }
    }
}

fn default_connection_idle_seconds() -> u64 {
    120
}
fn default_heartbeat_seconds() -> u64 {
    30
}
fn default_nonce_lifetime_seconds() -> u64 {
    300
}
fn default_digest_algorithms() -> Vec<String> {
    vec!["SHA-256".to_owned(), "MD5".to_owned()]
}
fn default_min_expires() -> u32 {
    60
}
fn default_default_expires() -> u32 {
    3600
}
fn default_max_expires() -> u32 {
    7200
}
fn default_shortening_percent() -> u8 {
    20
}
fn default_max_contacts() -> usize {
    10
}
fn default_expire_interval_seconds() -> u64 {
    10
}
fn default_log_level() -> String {
    "info".to_owned()
}
fn default_drain_seconds() -> u64 {
    10
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            min_expires: default_min_expires(),
            default_expires: default_default_expires(),
            max_expires: default_max_expires(),
            max_shortening_percent: default_shortening_percent(),
            max_contacts: default_max_contacts(),
            expire_interval_seconds: default_expire_interval_seconds(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { level: default_log_level() }
    }
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig { drain_seconds: default_drain_seconds() }
    }
}

/// One `[sip] listen` entry, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenAddress {
    /// UDP, TCP or TLS.
    pub transport: Transport,
    /// The socket address to bind; port 0 picks a free port.
    pub addr: SocketAddr,
}

impl Config {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text =
            std::fs::read_to_string(path).map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
        Config::from_toml(&text).map_err(|e| match e {
            Error::Config(message) => Error::Config(format!("{}: {message}", path.display())),
            other => other,
        })
    }

    /// Parses and checks configuration text.
    pub fn from_toml(text: &str) -> Result<Config, Error> {
        let config: Config = toml::from_str(text).map_err(|e| Error::Config(e.to_string()))?;
        config.check()?;
        Ok(config)
    }

    /// Checks what the types cannot: every error names its field.
    pub fn check(&self) -> Result<(), Error> {
        let bad = |field: &str, why: String| Err(Error::Config(format!("{field}: {why}")));
        let id = &self.node.id;
        if id.is_empty()
            || id.len() > 64
            || !id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return bad("node.id", format!("{id:?} must be 1 to 64 letters, digits, '.', '_' or '-'"));
        }
        if self.node.heartbeat_seconds == 0 {
            return bad("node.heartbeat_seconds", "must be at least 1".to_owned());
        }
        if carillon_sip::uri::Host::parse(&self.sip.domain).is_err() {
            return bad("sip.domain", format!("{:?} is not a host name", self.sip.domain));
        }
        let listeners = self.listeners()?;
        if listeners.is_empty() {
            return bad("sip.listen", "at least one listener is needed".to_owned());
        }
        if let Some(public) = &self.sip.public_address
            && carillon_sip::uri::Host::parse(public).is_err()
        {
            return bad("sip.public_address", format!("{public:?} is not a host name or address"));
        }
        if self.sip.public_address.is_none() && listeners.iter().any(|l| l.addr.ip().is_unspecified()) {
            return bad(
                "sip.public_address",
                "required when a listener binds a wildcard address (0.0.0.0 or ::): it goes into Via and \
                 Record-Route"
                    .to_owned(),
            );
        }
        if self.sip.connection_idle_seconds == 0 {
            return bad("sip.connection_idle_seconds", "must be at least 1".to_owned());
        }
        let has_tls = listeners.iter().any(|l| l.transport == Transport::Tls);
        if has_tls && (self.tls.certificate_file.is_none() || self.tls.key_file.is_none()) {
            return bad("tls", "a tls: listener needs tls.certificate_file and tls.key_file".to_owned());
        }
        if self.auth.nonce_lifetime_seconds == 0 {
            return bad("auth.nonce_lifetime_seconds", "must be at least 1".to_owned());
        }
        self.digest_algorithms()?;
        let r = &self.registrar;
        if r.max_expires == 0 {
            return bad("registrar.max_expires", "must be at least 1".to_owned());
        }
        if r.min_expires > r.max_expires {
            return bad("registrar.min_expires", format!("{} is above max_expires {}", r.min_expires, r.max_expires));
        }
        if r.default_expires < r.min_expires || r.default_expires > r.max_expires {
            return bad(
                "registrar.default_expires",
                format!(
                    "{} is outside min_expires..=max_expires ({}..={})",
                    r.default_expires, r.min_expires, r.max_expires
                ),
            );
        }
        if r.max_shortening_percent > 100 {
            return bad("registrar.max_shortening_percent", "must be at most 100".to_owned());
        }
        if r.max_contacts == 0 {
            return bad("registrar.max_contacts", "must be at least 1".to_owned());
        }
        if r.expire_interval_seconds == 0 {
            return bad("registrar.expire_interval_seconds", "must be at least 1".to_owned());
        }
        if let Some(ns) = &self.dns.name_server
            && ns.parse::<SocketAddr>().is_err()
        {
            return bad("dns.name_server", format!("{ns:?} is not address:port"));
        }
        self.check_routing()?;
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return bad("log.level", format!("{:?} is not a level or tracing filter", self.log.level));
        }
        Ok(())
    }

    /// `[number_plan]` and `[routing]`: digit strings are digits, lengths fit a telephone number (E.164: at most
    /// 15 digits), redirect domains are host names other than the served domain.
    fn check_routing(&self) -> Result<(), Error> {
        let bad = |field: &str, why: String| Err(Error::Config(format!("{field}: {why}")));
        let digits = |text: &str| text.bytes().all(|b| b.is_ascii_digit()) && text.len() <= 15;
        let plan = &self.number_plan;
        for (field, value) in [
            ("number_plan.outside_prefix", &plan.outside_prefix),
            ("number_plan.international_prefix", &plan.international_prefix),
            ("number_plan.trunk_prefix", &plan.trunk_prefix),
            ("number_plan.country_code", &plan.country_code),
        ] {
            if !digits(value) {
                return bad(field, format!("{value:?} must be digits only"));
            }
        }
        if plan.international_prefix.is_empty() {
            return bad("number_plan.international_prefix", "must not be empty".to_owned());
        }
        if plan.country_code.is_empty() || plan.country_code.len() > 3 {
            return bad("number_plan.country_code", "must be 1 to 3 digits".to_owned());
        }
        if plan.national_digits > 15 {
            return bad("number_plan.national_digits", "must be at most 15".to_owned());
        }
        if plan.national_digits != 0 && plan.subscriber_digits >= plan.national_digits {
            return bad(
                "number_plan.subscriber_digits",
                format!("{} must be below national_digits {}", plan.subscriber_digits, plan.national_digits),
            );
        }
        for (field, list) in [
            ("number_plan.local_area_codes", &plan.local_area_codes),
            ("number_plan.campus_prefixes", &plan.campus_prefixes),
        ] {
            if let Some((i, value)) = list.iter().enumerate().find(|(_, v)| v.is_empty() || !digits(v)) {
                return bad(&format!("{field}[{i}]"), format!("{value:?} must be 1 to 15 digits"));
            }
        }
        if !plan.outside_prefix.is_empty()
            && let Some((i, value)) =
                plan.campus_prefixes.iter().enumerate().find(|(_, p)| p.starts_with(&plan.outside_prefix))
        {
            return bad(
                &format!("number_plan.campus_prefixes[{i}]"),
                format!("{value:?} starts with the outside-line prefix {:?}", plan.outside_prefix),
            );
        }
        for (i, domain) in self.routing.redirect_domains.iter().enumerate() {
            let field = format!("routing.redirect_domains[{i}]");
            if !matches!(carillon_sip::uri::Host::parse(domain), Ok(carillon_sip::uri::Host::Domain(_))) {
                return bad(&field, format!("{domain:?} is not a domain name"));
            }
            if domain.eq_ignore_ascii_case(&self.sip.domain) {
                return bad(&field, "is the served domain, whose calls are routed here".to_owned());
            }
        }
        if self.routing.emergency_refresh_seconds == 0 {
            return bad("routing.emergency_refresh_seconds", "must be at least 1".to_owned());
        }
        // Above 32 s the transaction timeout (64*T1) comes first anyway.
        if !(1..=32).contains(&self.routing.trunk_response_timeout_seconds) {
            return bad("routing.trunk_response_timeout_seconds", "must be 1 to 32".to_owned());
        }
        Ok(())
    }

    /// The `[sip] listen` entries, parsed; at most one per transport.
    pub fn listeners(&self) -> Result<Vec<ListenAddress>, Error> {
        let mut out: Vec<ListenAddress> = Vec::new();
        for (i, entry) in self.sip.listen.iter().enumerate() {
            let field = format!("sip.listen[{i}]");
            let listen = parse_listen(entry).map_err(|why| Error::Config(format!("{field}: {entry:?} {why}")))?;
            if out.iter().any(|l| l.transport == listen.transport) {
                return Err(Error::Config(format!(
                    "{field}: a second {} listener; one per transport is supported",
                    listen.transport
                )));
            }
            out.push(listen);
        }
        Ok(out)
    }

    /// The nonce lifetime.
    pub fn nonce_lifetime(&self) -> Duration {
        Duration::from_secs(self.auth.nonce_lifetime_seconds)
    }

    /// The `[auth] algorithms`, parsed: at least one, each with a hash stored for the lines (MD5, SHA-256).
    pub fn digest_algorithms(&self) -> Result<Vec<Algorithm>, Error> {
        let mut out = Vec::new();
        for (i, name) in self.auth.algorithms.iter().enumerate() {
            match Algorithm::parse(name) {
                Some(a @ (Algorithm::Md5 | Algorithm::Sha256)) => out.push(a),
                _ => {
                    return Err(Error::Config(format!(
                        "auth.algorithms[{i}]: {name:?} is neither \"SHA-256\" nor \"MD5\""
                    )));
                }
            }
        }
        if out.is_empty() {
            return Err(Error::Config("auth.algorithms: at least one algorithm is needed".to_owned()));
        }
        Ok(out)
    }
}

fn parse_listen(entry: &str) -> Result<ListenAddress, &'static str> {
    let (transport, addr) = entry.split_once(':').ok_or("is not transport:address:port")?;
    let transport = match transport.to_ascii_lowercase().as_str() {
        "udp" => Transport::Udp,
        "tcp" => Transport::Tcp,
        "tls" => Transport::Tls,
        _ => return Err("names a transport other than udp, tcp or tls"),
    };
    let addr = addr.parse::<SocketAddr>().map_err(|_| "is not transport:address:port (IPv6 in brackets)")?;
    Ok(ListenAddress { transport, addr })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[node]
id = "sip1"
[sip]
domain = "campus.test"
listen = ["udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"]
[database]
url = "postgres://u:p@127.0.0.1:5433/carillon"
[auth]
nonce_secret_file = "/tmp/secret"
"#;

    fn error_of(text: &str) -> String {
        match Config::from_toml(text) {
            Err(Error::Config(message)) => message,
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_fill_optional_tables() {
        let config = Config::from_toml(MINIMAL).expect("minimal configuration");
        assert_eq!(config.registrar, RegistrarConfig::default());
        assert_eq!(config.log.level, "info");
        assert_eq!(config.listeners().expect("listeners").len(), 2);
        assert_eq!(config.sip.connection_idle_seconds, 120);
        assert_eq!(config.tls, TlsConfig::default(), "no certificate, the system CA bundle");
        let text = MINIMAL.replace("[database]", "connection_idle_seconds = 0\n[database]");
        assert!(error_of(&text).starts_with("sip.connection_idle_seconds"), "{}", error_of(&text));
    }

    #[test]
    fn listener_errors_name_the_entry() {
        let text = MINIMAL.replace("tcp:127.0.0.1:5060", "sctp:127.0.0.1:5060");
        assert!(error_of(&text).contains("sip.listen[1]"), "{}", error_of(&text));
        let text = MINIMAL.replace("tcp:127.0.0.1:5060", "udp:127.0.0.1:5070");
        assert!(error_of(&text).contains("sip.listen[1]: a second UDP listener"), "{}", error_of(&text));
        let text = MINIMAL.replace("udp:127.0.0.1:5060", "tls:127.0.0.1:5061");
        assert!(error_of(&text).starts_with("tls:"), "{}", error_of(&text));
        let text = MINIMAL.replace("udp:127.0.0.1:5060", "udp:0.0.0.0:5060");
        assert!(error_of(&text).starts_with("sip.public_address"), "{}", error_of(&text));
    }

    #[test]
    fn number_plan_defaults_are_the_nanp_and_mistakes_are_named() {
        let config = Config::from_toml(MINIMAL).expect("minimal configuration");
        assert_eq!(config.number_plan.outside_prefix, "9");
        assert_eq!(config.number_plan.international_prefix, "011");
        assert_eq!((config.number_plan.national_digits, config.number_plan.subscriber_digits), (10, 7));
        assert!(config.routing.redirect_domains.is_empty());
        let text = format!("{MINIMAL}[number_plan]\noutside_prefix = \"9#\"\n");
        assert!(error_of(&text).starts_with("number_plan.outside_prefix"), "{}", error_of(&text));
        let text = format!("{MINIMAL}[number_plan]\nlocal_area_codes = [\"617\", \"\"]\n");
        assert!(error_of(&text).starts_with("number_plan.local_area_codes[1]"), "{}", error_of(&text));
        let text = format!("{MINIMAL}[number_plan]\ncampus_prefixes = [\"95\"]\n");
        assert!(error_of(&text).contains("outside-line prefix"), "{}", error_of(&text));
        let text = format!("{MINIMAL}[routing]\nredirect_domains = [\"campus.test\"]\n");
        assert!(error_of(&text).starts_with("routing.redirect_domains[0]"), "{}", error_of(&text));
        let text = format!("{MINIMAL}[routing]\nredirect_domains = [\"10.0.0.1\"]\n");
        assert!(error_of(&text).contains("not a domain name"), "{}", error_of(&text));
    }

    #[test]
    fn the_seal_key_file_is_optional() {
        let config = Config::from_toml(MINIMAL).expect("minimal configuration");
        assert_eq!(config.trunks.seal_key_file, None);
        let text = format!("{MINIMAL}[trunks]\nseal_key_file = \"/var/lib/carillon/trunk-seal-key\"\n");
        let config = Config::from_toml(&text).expect("with a key file");
        assert_eq!(config.trunks.seal_key_file, Some(PathBuf::from("/var/lib/carillon/trunk-seal-key")));
        let text = format!("{MINIMAL}[trunks]\nseal_key = \"x\"\n");
        assert!(error_of(&text).contains("unknown field"), "{}", error_of(&text));
    }

    #[test]
    fn a_silent_trunk_is_given_up_after_four_seconds_unless_configured() {
        let config = Config::from_toml(MINIMAL).expect("minimal configuration");
        assert_eq!(config.routing.trunk_response_timeout_seconds, 4);
        let text = format!("{MINIMAL}[routing]\ntrunk_response_timeout_seconds = 2\n");
        assert_eq!(Config::from_toml(&text).expect("valid").routing.trunk_response_timeout_seconds, 2);
        for wrong in ["0", "33"] {
            let text = format!("{MINIMAL}[routing]\ntrunk_response_timeout_seconds = {wrong}\n");
            assert!(error_of(&text).starts_with("routing.trunk_response_timeout_seconds"), "{}", error_of(&text));
        }
    }

    #[test]
    fn digest_algorithms_default_to_sha256_and_md5_and_may_be_md5_only() {
        let config = Config::from_toml(MINIMAL).expect("minimal configuration");
        assert_eq!(config.digest_algorithms().expect("default"), [Algorithm::Sha256, Algorithm::Md5]);
        let text = MINIMAL.replace("[auth]\n", "[auth]\nalgorithms = [\"MD5\"]\n");
        let config = Config::from_toml(&text).expect("MD5 only");
        assert_eq!(config.digest_algorithms().expect("MD5 only"), [Algorithm::Md5]);
        let text = MINIMAL.replace("[auth]\n", "[auth]\nalgorithms = [\"MD5\", \"SHA-512-256\"]\n");
        assert!(error_of(&text).starts_with("auth.algorithms[1]"), "{}", error_of(&text));
        let text = MINIMAL.replace("[auth]\n", "[auth]\nalgorithms = []\n");
        assert!(error_of(&text).starts_with("auth.algorithms"), "{}", error_of(&text));
    }

    #[test]
    fn expiry_order_is_checked() {
        let text = format!("{MINIMAL}[registrar]\nmin_expires = 600\nmax_expires = 300\ndefault_expires = 300\n");
        assert!(error_of(&text).starts_with("registrar.min_expires"), "{}", error_of(&text));
    }
}
