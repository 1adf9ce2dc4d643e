//! Starting, running and stopping the service: the database checks, the warm start, the listeners, the tasks
//! around the [`crate::engine::Engine`], and the graceful shutdown.

use std::future::Future;
use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use carillon_proxy_core::{Listener, Proxy, ProxyConfig};
use carillon_registrar::{Aor, NodeId, Registrar};
use carillon_sip::auth::{DigestServer, NonceIssuer};
use carillon_sip::target::Transport;
use carillon_sip::transaction::{TimerConfig, Transactions};
use carillon_sip_transport::{
    NameServer, Resolver, ResolverConfig, TlsListenConfig, TransportConfig, TransportEvent, TransportLayer,
};
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::Config;
use crate::engine::{self, Completion, Engine, Io, SendJob, Settings};
use crate::error::Error;
use crate::store::{self, Write};
use crate::tls::{self, TlsFiles};

/// RFC 3261 §16.6 step 11: a proxy's Timer C is more than three minutes.
const TIMER_C: Duration = Duration::from_secs(181);
/// How long a DNS lookup may take.
const DNS_TIMEOUT: Duration = Duration::from_secs(2);
/// Separates the loop-detection key from the nonce key, which come from the same secret.
const LOOP_KEY_CONTEXT: &[u8] = b"carillon loop detection v1\0";

/// A started service: connected, checked, warm, listening. [`Server::run`] serves until told to stop.
#[derive(Debug)]
pub struct Server {
    engine: Engine,
    events: mpsc::Receiver<TransportEvent>,
    completions: mpsc::UnboundedReceiver<Completion>,
    transport: TransportLayer,
    tls_files: Option<TlsFiles>,
    senders: Vec<JoinHandle<()>>,
    writer: JoinHandle<()>,
    heartbeat: JoinHandle<()>,
    line_changes: JoinHandle<()>,
    housekeeping_interval: Duration,
    drain: Duration,
    node: String,
}

/// Starts the service with `config` and serves until `shutdown` completes, then stops gracefully.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    Server::start(config).await?.run(shutdown).await
}

impl Server {
    /// Connects to the database and checks its schema (migrating first when configured to), loads the unexpired
    /// bindings (warm start), binds the listeners, records the node, and starts the database writer and the
    /// heartbeat. Nothing is served until [`Server::run`].
    pub async fn start(config: Config) -> Result<Server, Error> {
        config.check()?;
        let listen = config.listeners()?;
        let pool = carillon_db::connect(&config.database.url).await?;
        if config.database.migrate {
            info!("applying database migrations");
            carillon_db::migrate(&pool).await?;
        }
        let expected = carillon_db::latest_schema_version();
        let found = carillon_db::schema_version(&pool).await?;
        if found != Some(expected) {
            return Err(Error::Schema { found, expected });
        }
        let secret = nonce_secret(&config.auth.nonce_secret_file)?;
        let mut routing = crate::routing::Policy::new(&config);
        if let Some(path) = &config.trunks.seal_key_file {
            let loaded = carillon_db::seal::SealKey::load_or_create(path)
                .map_err(|e| Error::Config(format!("trunks.seal_key_file: {e}")))?;
            if loaded.created {
                info!(path = %path.display(), "trunk seal key created: copy this file to every node and to the host running carillon trunk set-password");
            }
            routing = routing.with_seal_key(loaded.key);
        }

        let now = SystemTime::now();
        let rows = carillon_db::unexpired_registrations(&pool, now).await?;
        let emergency = carillon_db::emergency_routes(&pool).await?;
        if emergency.is_empty() {
            warn!("no emergency numbers in the database: 911 and the like route nowhere until some are added");
        }

        let mut transport_config = TransportConfig {
            idle_timeout: Duration::from_secs(config.sip.connection_idle_seconds),
            ..TransportConfig::default()
        };
        for l in &listen {
            match l.transport {
                Transport::Udp => transport_config.udp = Some(l.addr),
                Transport::Tcp => transport_config.tcp = Some(l.addr),
                Transport::Tls => {
                    let (Some(cert), Some(key)) = (&config.tls.certificate_file, &config.tls.key_file) else {
                        return Err(Error::Config("tls: a tls: listener needs certificate_file and key_file".into()));
                    };
                    transport_config.tls = Some(TlsListenConfig {
                        addr: l.addr,
                        cert_path: cert.clone(),
                        key_path: key.clone(),
                        reload_interval: Some(tls::CERTIFICATE_CHECK_INTERVAL),
                    });
                    // Outgoing TLS leaves from the TLS listener (its Via and Record-Route), so it needs one.
                    transport_config.tls_client = tls::client_config(&config.tls)?;
                }
                _ => {}
            }
        }
        let has_tls = transport_config.tls.is_some();
        let (transport, events) = TransportLayer::bind(transport_config).await?;
        let tls_files = has_tls.then(|| TlsFiles::new(transport.clone(), config.tls.clone()));
        let mut bound = Vec::new();
        for l in &listen {
            let addr = transport.local_addr(l.transport).unwrap_or(l.addr);
            bound.push((l.transport, addr));
        }
        let written_host = |addr: &SocketAddr| match &config.sip.public_address {
            Some(public) => public.clone(),
            None if addr.is_ipv6() => format!("[{}]", addr.ip()),
            None => addr.ip().to_string(),
        };
        let listeners: Vec<Listener> =
            bound.iter().map(|(t, addr)| Listener::new(*t, written_host(addr), addr.port())).collect();
        let local_hosts: Vec<String> = config.sip.public_address.iter().cloned().collect();

        let mut loop_key = LOOP_KEY_CONTEXT.to_vec();
        loop_key.extend_from_slice(&secret);
        let mut proxy_config = ProxyConfig::new(listeners.clone(), loop_key);
        proxy_config.domains = vec![config.sip.domain.clone()];
        proxy_config.aliases = config.sip.public_address.iter().cloned().collect();
        let proxy = Proxy::new(proxy_config)?;
        let transactions = Transactions::new(TimerConfig { timer_c: Some(TIMER_C), ..TimerConfig::default() });

        let first = listeners.first().ok_or_else(|| Error::Config("sip.listen: no listener".into()))?;
        let node = carillon_db::Node {
            id: config.node.id.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            schema_version: expected,
            address: format!(
                "sip:{}:{};transport={}",
                first.host,
                first.port,
                first.transport.as_str().to_ascii_lowercase()
            ),
            started_at: now,
            heartbeat_at: now,
        };
        carillon_db::upsert_node(&pool, &node).await?;

        let name_server = match &config.dns.name_server {
            Some(addr) => NameServer::Explicit(
                addr.parse().map_err(|_| Error::Config(format!("dns.name_server: {addr:?} is not address:port")))?,
            ),
            None => NameServer::System,
        };
        let transports = vec![Transport::Udp, Transport::Tcp, Transport::Tls]
            .into_iter()
            .filter(|t| bound.iter().any(|(b, _)| b == t))
            .collect::<Vec<_>>();
        let resolver =
            Resolver::new(ResolverConfig { name_server, timeout: DNS_TIMEOUT, transports: transports.clone() })?;

        let (writes, write_queue) = mpsc::channel::<Write>(store::WRITE_QUEUE);
        let writer = tokio::spawn(store::write_loop(pool.clone(), write_queue));
        let heartbeat = tokio::spawn(heartbeat_loop(
            pool.clone(),
            config.node.id.clone(),
            Duration::from_secs(config.node.heartbeat_seconds),
        ));
        let (completions_tx, completions) = mpsc::unbounded_channel();
        let line_changes = tokio::spawn(engine::line_change_loop(pool.clone(), completions_tx.clone()));
        let mut sender_queues = Vec::new();
        let mut senders = Vec::new();
        for _ in 0..engine::SENDER_SHARDS {
            let (tx, rx) = mpsc::unbounded_channel::<SendJob>();
            sender_queues.push(tx);
            senders.push(tokio::spawn(engine::send_loop(transport.clone(), rx, completions_tx.clone())));
        }

        let r = &config.registrar;
        let registrar_config = carillon_registrar::Config {
            min_expires: r.min_expires,
            max_expires: r.max_expires,
            default_expires: r.default_expires,
            max_shortening_percent: r.max_shortening_percent,
            max_contacts: r.max_contacts,
            ..carillon_registrar::Config::default()
        };
        let digest = DigestServer::new(config.sip.domain.clone(), NonceIssuer::new(secret, config.nonce_lifetime()))
            .with_algorithms(&config.digest_algorithms()?);
        let settings = Settings {
            domain: config.sip.domain.clone(),
            node: NodeId::new(config.node.id.as_str()),
            local_hosts,
            listeners: bound.clone(),
            registrar: registrar_config,
            digest,
            nonce_lifetime: config.nonce_lifetime(),
            transports,
            routing: std::sync::Arc::new(routing),
            emergency_refresh: Duration::from_secs(config.routing.emergency_refresh_seconds),
        };
        let io = Io {
            resolver,
            pool,
            writes,
            completions: completions_tx,
            senders: sender_queues,
            transport: transport.clone(),
        };
        let mut engine = Engine::new(settings, io, proxy, transactions, Registrar::default());
        engine.set_emergency_routes(Instant::now(), &emergency);

        let mut bindings = Vec::with_capacity(rows.len());
        for row in &rows {
            match store::binding(row) {
                Some(binding) => {
                    if let Ok(aor) = Aor::parse(&row.aor) {
                        engine.know_line(aor, row.line_id);
                    }
                    bindings.push(binding);
                }
                None => warn!(aor = %row.aor, "stored registration with an unusable AOR skipped"),
            }
        }
        engine.load_bindings(bindings);
        info!(
            node = %config.node.id,
            domain = %config.sip.domain,
            listeners = ?bound,
            bindings = engine.binding_count(),
            "carillon-proxy started"
        );
        Ok(Server {
            engine,
            events,
            completions,
            transport,
            tls_files,
            senders,
            writer,
            heartbeat,
            line_changes,
            housekeeping_interval: Duration::from_secs(r.expire_interval_seconds),
            drain: Duration::from_secs(config.shutdown.drain_seconds),
            node: config.node.id.clone(),
        })
    }

    /// The address a transport's listener is bound to (with the port chosen when the configuration said 0).
    pub fn local_addr(&self, transport: Transport) -> Option<SocketAddr> {
        self.transport.local_addr(transport)
    }

    /// The handle that reloads the `[tls]` files while the service runs; `None` without a `tls:` listener.
    pub fn tls_files(&self) -> Option<TlsFiles> {
        self.tls_files.clone()
    }

    /// The registrar's bindings before serving: those loaded from the database at start.
    pub fn bindings(&self) -> &carillon_registrar::Bindings {
        self.engine.bindings()
    }

    /// Serves until `shutdown` completes; then stops taking new requests (503), lets the transactions in
    /// progress finish within `[shutdown] drain_seconds`, writes the records of calls still open, flushes the
    /// database queue (within the same bound) and closes the listeners.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        let Server {
            mut engine,
            mut events,
            mut completions,
            transport,
            tls_files: _,
            senders,
            writer,
            heartbeat,
            line_changes,
            housekeeping_interval,
            drain,
            node,
        } = self;
        tokio::pin!(shutdown);
        let mut housekeeping = tokio::time::interval(housekeeping_interval);
        housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut drain_until: Option<tokio::time::Instant> = None;
        loop {
            let deadline = engine.next_deadline().map(tokio::time::Instant::from_std);
            tokio::select! {
                () = &mut shutdown, if drain_until.is_none() => {
                    info!(%node, "shutting down: no new requests, finishing transactions in progress");
                    engine.start_draining();
                    drain_until = Some(tokio::time::Instant::now() + drain);
                }
                event = events.recv() => match event {
                    Some(event) => engine.handle_transport_event(Instant::now(), event),
                    None => {
                        warn!("the transport stopped");
                        break;
                    }
                },
                Some(completion) = completions.recv() => engine.handle_completion(Instant::now(), completion),
                () = sleep_until(deadline) => engine.handle_timeout(Instant::now()),
                _ = housekeeping.tick() => engine.housekeeping(Instant::now()),
                () = sleep_until(drain_until) => {
                    warn!("drain time over with transactions still in progress");
                    break;
                }
            }
            if drain_until.is_some() && engine.is_quiescent() {
                break;
            }
        }
        engine.close_calls();
        drop(engine);
        let flush_until = tokio::time::Instant::now() + drain;
        for sender in senders {
            if tokio::time::timeout_at(flush_until, sender).await.is_err() {
                warn!("messages still queued for sending at shutdown");
            }
        }
        transport.shutdown().await;
        heartbeat.abort();
        line_changes.abort();
        if tokio::time::timeout_at(flush_until, writer).await.is_err() {
            warn!("database writes still queued at shutdown were dropped");
        }
        info!(%node, "carillon-proxy stopped");
        Ok(())
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn heartbeat_loop(pool: PgPool, node: String, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        match carillon_db::node_heartbeat(&pool, &node, SystemTime::now()).await {
            Ok(true) => {}
            Ok(false) => warn!(%node, "heartbeat: the node row is gone"),
            Err(e) => warn!(%node, error = %e, "heartbeat failed"),
        }
    }
}

/// The 32-byte nonce secret in `path`, created with random bytes (mode 0600) when the file does not exist.
fn nonce_secret(path: &Path) -> Result<[u8; 32], Error> {
    let io = |what: &str| {
        let what = format!("{what} {}", path.display());
        move |source| Error::Io { what, source }
    };
    let mut secret = [0u8; 32];
    match std::fs::File::open(path) {
        Ok(mut file) => {
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).map_err(io("auth.nonce_secret_file: cannot read"))?;
            if bytes.len() != secret.len() {
                return Err(Error::Config(format!(
                    "auth.nonce_secret_file: {} holds {} bytes, not 32",
                    path.display(),
                    bytes.len()
                )));
            }
            secret.copy_from_slice(&bytes);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            secret = rand::random();
            let mut file = std::fs::File::options()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(io("auth.nonce_secret_file: cannot create"))?;
            file.write_all(&secret).map_err(io("auth.nonce_secret_file: cannot write"))?;
            info!(path = %path.display(), "nonce secret created");
        }
        Err(e) => return Err(io("auth.nonce_secret_file: cannot open")(e)),
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nonce_secret_is_created_once_and_kept() {
        let dir = std::env::temp_dir().join(format!("carillon-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("secret");
        let _ = std::fs::remove_file(&path);
        let first = nonce_secret(&path).expect("created");
        assert_eq!(nonce_secret(&path).expect("read back"), first);
        let mode = std::fs::metadata(&path).expect("metadata").permissions();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o600);
        std::fs::write(&path, b"short").expect("overwrite");
        assert!(matches!(nonce_secret(&path), Err(Error::Config(m)) if m.starts_with("auth.nonce_secret_file")));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
