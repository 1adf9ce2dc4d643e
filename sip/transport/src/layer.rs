//! The transport layer: UDP, TCP and TLS sockets, framing, the connection table, and the events handed up.
//!
//! One [`TransportLayer`] owns a UDP socket, a TCP listener and a TLS listener (each optional). Everything
//! received is framed with the core's parser and handed up as a [`TransportEvent`] on one channel; everything
//! sent goes through [`TransportLayer::send`] (requests, or any message to a known target) and
//! [`TransportLayer::send_response`] (responses, routed by their Via, RFC 3261 §18.2.2).
//!
//! Stream connections, accepted or opened, live in one table keyed by remote address and transport, so a second
//! message to the same peer reuses the connection. Each connection is one task that reads, frames, writes what
//! is queued for it, answers RFC 5626 pings, and closes itself after `idle_timeout` without traffic (or later,
//! when asked to stay open with [`TransportLayer::keep_open`]).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use bytes::Bytes;
use carillon_sip::Message;
use carillon_sip::error::Disposition;
use carillon_sip::framing::{Limits, StreamEvent, StreamFramer};
use carillon_sip::target::{Target, Transport};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tracing::{debug, info, trace, warn};

use crate::error::Error;
use crate::icmp;
use crate::tls::ReloadableCertificate;
use crate::wire::{
    UDP_REQUEST_LIMIT, is_datagram_keepalive, response_target, set_top_via_transport, stamp_received,
    stateless_response,
};

/// The largest UDP datagram read.
const MAX_DATAGRAM: usize = 65_535;
/// How much room is made in a stream's buffer before each read.
const READ_CHUNK: usize = 16 * 1024;
/// Messages queued for one connection before senders wait.
const CONNECTION_QUEUE: usize = 64;

/// Where and how the layer listens, and its limits.
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// The UDP address to bind (also the source of every UDP message sent), if any.
    pub udp: Option<SocketAddr>,
    /// The TCP address to listen on, if any.
    pub tcp: Option<SocketAddr>,
    /// The TLS listener, if any.
    pub tls: Option<TlsListenConfig>,
    /// Client configuration for connections opened to TLS targets (its root store is what a server's certificate
    /// is verified against); without it TLS targets are unreachable. Replaceable with
    /// [`TransportLayer::set_tls_client`].
    pub tls_client: Option<Arc<rustls::ClientConfig>>,
    /// A stream connection with no traffic in either direction for this long is closed.
    pub idle_timeout: Duration,
    /// Time limit for opening a connection (TCP connect plus TLS handshake).
    pub connect_timeout: Duration,
    /// Time limit for writing one message to a stream.
    pub write_timeout: Duration,
    /// How long [`TransportLayer::shutdown`] waits for in-flight work.
    pub shutdown_grace: Duration,
    /// Parser limits for everything received.
    pub limits: Limits,
    /// Capacity of the event channel. Stream readers wait when it is full; UDP datagrams are dropped.
    pub event_capacity: usize,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            udp: None,
            tcp: None,
            tls: None,
            tls_client: None,
            idle_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(5),
            limits: Limits::default(),
            event_capacity: 1024,
        }
    }
}

/// The TLS listener: address, PEM files, and how often to look for a renewed certificate.
#[derive(Debug, Clone)]
pub struct TlsListenConfig {
    /// The address to listen on.
    pub addr: SocketAddr,
    /// The certificate chain, PEM.
    pub cert_path: PathBuf,
    /// The private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key_path: PathBuf,
    /// When set, the files' modification times are checked this often and the certificate reloaded when they
    /// change (see [`TransportLayer::reload_certificate`] for reloading on demand).
    pub reload_interval: Option<Duration>,
}

/// Names one stream connection for as long as it is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(u64);

impl ConnectionId {
    /// The id as a number, for recording a flow outside this crate (a registrar binding's flow id).
    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// The id recorded with [`ConnectionId::as_u64`]. An id whose connection has closed names no connection.
    pub fn from_u64(id: u64) -> ConnectionId {
        ConnectionId(id)
    }
}

impl std::fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "conn-{}", self.0)
    }
}

/// A message received.
#[derive(Debug)]
pub struct Incoming {
    /// The message; a request's top Via already carries `received`/`rport` (RFC 3261 §18.2.1, RFC 3581).
    pub message: Message,
    /// Who sent it.
    pub source: SocketAddr,
    /// The local address it arrived on.
    pub local: SocketAddr,
    /// The transport it came over.
    pub transport: Transport,
    /// The stream connection it came on (`None` for UDP); pass it to [`TransportLayer::send_response`].
    pub connection: Option<ConnectionId>,
}

/// What the layer hands up.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // Nearly every event is a message: boxing it would cost an allocation each.
pub enum TransportEvent {
    /// A message arrived.
    Incoming(Incoming),
    /// A destination refused what was sent to it (an ICMP error for UDP, a failed write for a stream): the
    /// transaction that sent there should treat it as a transport error and try its next target.
    Unreachable {
        /// The transport used.
        transport: Transport,
        /// The destination.
        remote: SocketAddr,
        /// What happened.
        error: io::Error,
    },
}

/// A message to send to a target.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The message.
    pub message: Message,
    /// Where to.
    pub target: Target,
    /// For TLS: the name the server must prove (RFC 5922 §4: the host of the URI, see
    /// [`carillon_sip::target::TargetList::server_name`]); the target's IP address when `None`.
    pub server_name: Option<String>,
}

/// How a message was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// The transport actually used.
    pub transport: Transport,
    /// The local address it left from.
    pub local: SocketAddr,
    /// The address it went to.
    pub remote: SocketAddr,
    /// The stream connection used, if any.
    pub connection: Option<ConnectionId>,
    /// Whether a request meant for UDP went over TCP because of its size (RFC 3261 §18.1.1); its top Via was
    /// rewritten to say TCP.
    pub moved_to_tcp: bool,
}

/// A write queued for a connection task, with the slot its outcome goes to.
type QueuedWrite = (Bytes, oneshot::Sender<io::Result<()>>);

#[derive(Debug, Clone)]
struct ConnectionHandle {
    id: ConnectionId,
    remote: SocketAddr,
    local: SocketAddr,
    transport: Transport,
    writes: mpsc::Sender<QueuedWrite>,
    /// Until when the connection stays open without traffic, past its idle timeout ([`TransportLayer::keep_open`]).
    kept_until: Arc<Mutex<Option<Instant>>>,
}

#[derive(Debug, Default)]
struct Connections {
    by_id: HashMap<ConnectionId, ConnectionHandle>,
    by_remote: HashMap<(SocketAddr, Transport), ConnectionId>,
}

/// The UDP, TCP and TLS transports. Cheap to clone. [`TransportLayer::shutdown`] stops it gracefully; dropping
/// the last clone stops it too, without waiting.
#[derive(Debug, Clone)]
pub struct TransportLayer {
    inner: Arc<Inner>,
    _owner: Arc<Owner>,
}

/// Signals shutdown when the last handle goes, so the tasks (which hold `Inner`, not `Owner`) end.
#[derive(Debug)]
struct Owner(Arc<Inner>);

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.shutdown.send_replace(true);
    }
}

#[derive(Debug)]
struct Inner {
    limits: Limits,
    idle_timeout: Duration,
    connect_timeout: Duration,
    write_timeout: Duration,
    shutdown_grace: Duration,
    udp: Option<Arc<UdpSocket>>,
    udp_local: Option<SocketAddr>,
    tcp_local: Option<SocketAddr>,
    tls_local: Option<SocketAddr>,
    certificate: Option<Arc<ReloadableCertificate>>,
    tls_client: RwLock<Option<Arc<rustls::ClientConfig>>>,
    connections: Mutex<Connections>,
    /// Taken at shutdown, so the event channel closes once the last task ends.
    events: Mutex<Option<mpsc::Sender<TransportEvent>>>,
    shutdown: watch::Sender<bool>,
    /// Every task and every send in progress holds a clone; shutdown drops this one and waits for the others.
    alive: Mutex<Option<mpsc::Sender<()>>>,
    all_done: tokio::sync::Mutex<mpsc::Receiver<()>>,
    next_connection: AtomicU64,
}

/// A clone of the `alive` sender: held while a task runs or a send is in flight.
type AliveToken = mpsc::Sender<()>;

/// Held by a send in progress.
#[derive(Debug)]
struct SendGuard {
    alive: AliveToken,
    events: mpsc::Sender<TransportEvent>,
}

impl TransportLayer {
    /// Binds the configured sockets and starts receiving. Returns the layer and the channel of events.
    pub async fn bind(config: TransportConfig) -> Result<(TransportLayer, mpsc::Receiver<TransportEvent>), Error> {
        let udp = match config.udp {
            Some(addr) => {
                let socket = UdpSocket::bind(addr).await?;
                if let Err(e) = icmp::enable(&socket) {
                    warn!(error = %e, "cannot enable ICMP error reports on the UDP socket; failover will wait for timers");
                }
                Some(Arc::new(socket))
            }
            None => None,
        };
        let tcp = match config.tcp {
            Some(addr) => Some(TcpListener::bind(addr).await?),
            None => None,
        };
        let (certificate, tls_listener, reload_interval) = match &config.tls {
            Some(tls) => {
                let certificate = Arc::new(ReloadableCertificate::load(&tls.cert_path, &tls.key_path)?);
                (Some(certificate), Some(TcpListener::bind(tls.addr).await?), tls.reload_interval)
            }
            None => (None, None, None),
        };
        let tls_acceptor = match &certificate {
            Some(c) => Some(TlsAcceptor::from(c.server_config()?)),
            None => None,
        };
        let (events, events_rx) = mpsc::channel(config.event_capacity.max(1));
        let (alive, all_done) = mpsc::channel(1);
        let inner = Arc::new(Inner {
            limits: config.limits,
            idle_timeout: config.idle_timeout,
            connect_timeout: config.connect_timeout,
            write_timeout: config.write_timeout,
            shutdown_grace: config.shutdown_grace,
            udp_local: udp.as_ref().map(|s| s.local_addr()).transpose()?,
            udp,
            tcp_local: tcp.as_ref().map(|l| l.local_addr()).transpose()?,
            tls_local: tls_listener.as_ref().map(|l| l.local_addr()).transpose()?,
            certificate,
            tls_client: RwLock::new(config.tls_client),
            connections: Mutex::new(Connections::default()),
            events: Mutex::new(Some(events)),
            shutdown: watch::channel(false).0,
            alive: Mutex::new(Some(alive)),
            all_done: tokio::sync::Mutex::new(all_done),
            next_connection: AtomicU64::new(1),
        });
        if let Some(socket) = inner.udp.clone() {
            inner.spawn(udp_receive_loop(inner.clone(), socket))?;
        }
        if let Some(listener) = tcp {
            inner.spawn(accept_loop(inner.clone(), listener, None))?;
        }
        if let (Some(listener), Some(acceptor)) = (tls_listener, tls_acceptor) {
            inner.spawn(accept_loop(inner.clone(), listener, Some(acceptor)))?;
        }
        if let (Some(certificate), Some(interval)) = (inner.certificate.clone(), reload_interval) {
            inner.spawn(certificate_poll_loop(inner.clone(), certificate, interval))?;
        }
        info!(udp = ?inner.udp_local, tcp = ?inner.tcp_local, tls = ?inner.tls_local, "SIP transports listening");
        let layer = TransportLayer { _owner: Arc::new(Owner(inner.clone())), inner };
        Ok((layer, events_rx))
    }

    /// The local address of a transport's socket, if it is bound.
    pub fn local_addr(&self, transport: Transport) -> Option<SocketAddr> {
        match transport {
            Transport::Udp => self.inner.udp_local,
            Transport::Tcp => self.inner.tcp_local,
            Transport::Tls => self.inner.tls_local,
            _ => None,
        }
    }

    /// Sends a message to a target: UDP from the bound socket, TCP/TLS over the open connection to that address
    /// or a new one. A request bigger than [`UDP_REQUEST_LIMIT`] meant for UDP goes over TCP instead, its top Via
    /// rewritten (RFC 3261 §18.1.1); when that connection fails, it goes over UDP as it was. Returns once the
    /// message is handed to the kernel (for streams: written).
    pub async fn send(&self, outgoing: Outgoing) -> Result<Sent, Error> {
        let guard = self.inner.send_guard()?;
        let Outgoing { mut message, target, server_name } = outgoing;
        let mut transport = target.transport;
        let mut bytes = message.to_bytes();
        let moved_to_tcp = message.is_request() && transport == Transport::Udp && bytes.len() > UDP_REQUEST_LIMIT;
        // Kept to fall back on: RFC 3261 §18.1.1 sends the request over UDP after all when the TCP attempt fails
        // (a phone that listens on UDP only).
        let datagram = moved_to_tcp.then(|| bytes.clone());
        if moved_to_tcp {
            transport = Transport::Tcp;
            if let Err(e) = set_top_via_transport(&mut message, Transport::Tcp) {
                debug!(error = %e, "large request without a usable Via: sent over TCP unchanged");
            }
            bytes = message.to_bytes();
            debug!(size = bytes.len(), remote = %target.addr, "request too large for UDP: sending over TCP");
        }
        let mut sent = match transport {
            Transport::Udp => self.inner.send_datagram(&bytes, target.addr).await?,
            Transport::Tcp | Transport::Tls => {
                match self.inner.send_stream(&guard, bytes, target.addr, transport, server_name.as_deref()).await {
                    Ok(sent) => sent,
                    Err(e) => match &datagram {
                        Some(datagram) if e.is_transport_failure() => {
                            debug!(error = %e, remote = %target.addr, "TCP failed for a large request: sending over UDP");
                            return self.inner.send_datagram(datagram, target.addr).await;
                        }
                        _ => return Err(e),
                    },
                }
            }
            other => return Err(Error::TransportUnavailable(other)),
        };
        sent.moved_to_tcp = moved_to_tcp;
        Ok(sent)
    }

    /// Sends `message` over stream connection `id` and no other: the flow a user agent behind NAT registered or
    /// sent a request over (RFC 5626 §5.3), which a new connection to its address would not reach. Fails with
    /// [`Error::ConnectionClosed`] when the connection is no longer open or fails while the message is written.
    pub async fn send_on(&self, id: ConnectionId, message: Message) -> Result<Sent, Error> {
        let _guard = self.inner.send_guard()?;
        let handle = self.inner.connection(id).ok_or(Error::ConnectionClosed(id))?;
        match self.inner.write_on(&handle, message.to_bytes()).await {
            Ok(()) => Ok(handle.sent()),
            Err(e) => {
                debug!(%id, error = %e, "write on a flow's connection failed");
                Err(Error::ConnectionClosed(id))
            }
        }
    }

    /// Sends a response where RFC 3261 §18.2.2 says: over `connection` (the one its request came on) when that
    /// is still open; otherwise to the address its top Via names (see [`crate::wire::response_target`]),
    /// opening a connection for reliable transports.
    pub async fn send_response(&self, response: Message, connection: Option<ConnectionId>) -> Result<Sent, Error> {
        let guard = self.inner.send_guard()?;
        let bytes = response.to_bytes();
        if let Some(id) = connection
            && let Some(handle) = self.inner.connection(id)
        {
            match self.inner.write_on(&handle, bytes.clone()).await {
                Ok(()) => return Ok(handle.sent()),
                Err(e) => debug!(%id, error = %e, "connection of the request is gone: routing the response by its Via"),
            }
        }
        let via = response.top_via()?;
        let target = response_target(&via)?;
        match target.transport {
            Transport::Udp => self.inner.send_datagram(&bytes, target.addr).await,
            Transport::Tcp | Transport::Tls => {
                self.inner.send_stream(&guard, bytes, target.addr, target.transport, None).await
            }
            other => Err(Error::TransportUnavailable(other)),
        }
    }

    /// Reads the TLS certificate and key files again and uses them for new connections; connections already
    /// open keep theirs, and so do clients that resume an earlier TLS session. On error the current certificate
    /// stays.
    pub fn reload_certificate(&self) -> Result<(), Error> {
        let certificate = self.inner.certificate.as_ref().ok_or(Error::TransportUnavailable(Transport::Tls))?;
        certificate.reload()?;
        info!("TLS certificate reloaded");
        Ok(())
    }

    /// Replaces the client configuration of TLS connections opened from now on (a new trust store, say);
    /// connections already open stay as they are. `None` makes TLS targets unreachable.
    pub fn set_tls_client(&self, config: Option<Arc<rustls::ClientConfig>>) {
        // A poisoned lock only means a panic elsewhere while swapping an Arc; the value is still whole.
        *self.inner.tls_client.write().unwrap_or_else(|e| e.into_inner()) = config;
    }

    /// Keeps stream connection `id` open for at least `duration` from now, with or without traffic: a phone
    /// registered over it is reached over it (its only way in through NAT), so the idle timeout must not close it
    /// while the registration lasts. Only ever extends; returns false when the connection is gone.
    pub fn keep_open(&self, id: ConnectionId, duration: Duration) -> bool {
        let Some(handle) = self.inner.connection(id) else { return false };
        let until = Instant::now() + duration;
        let mut kept = handle.kept_until.lock().unwrap_or_else(|e| e.into_inner());
        if kept.is_none_or(|k| k < until) {
            *kept = Some(until);
        }
        true
    }

    /// How many stream connections are open.
    pub fn connection_count(&self) -> usize {
        self.inner.table().by_id.len()
    }

    /// Stops accepting (the listeners close and the UDP socket is no longer read; it is released with the last
    /// handle), lets queued and in-flight sends finish, closes the connections, and returns when all of that is
    /// done or `shutdown_grace` has passed. The event channel closes once the last task has ended; later sends
    /// fail with [`Error::ShutDown`].
    pub async fn shutdown(&self) {
        info!("SIP transports shutting down");
        self.inner.shutdown.send_replace(true);
        drop(self.inner.lock_alive().take());
        drop(self.inner.events.lock().unwrap_or_else(|e| e.into_inner()).take());
        let mut all_done = self.inner.all_done.lock().await;
        let finished = timeout(self.inner.shutdown_grace, async { while all_done.recv().await.is_some() {} }).await;
        if finished.is_err() {
            warn!("shutdown grace period over with work still in flight");
        }
    }
}

impl ConnectionHandle {
    fn kept_until(&self) -> Option<Instant> {
        // Only ever replaced whole: a panic elsewhere cannot leave it torn.
        *self.kept_until.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sent(&self) -> Sent {
        Sent {
            transport: self.transport,
            local: self.local,
            remote: self.remote,
            connection: Some(self.id),
            moved_to_tcp: false,
        }
    }
}

impl Inner {
    fn table(&self) -> MutexGuard<'_, Connections> {
        // The table is only ever changed by whole inserts and removes: a panic elsewhere cannot leave it torn.
        self.connections.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_alive(&self) -> MutexGuard<'_, Option<AliveToken>> {
        self.alive.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn alive_token(&self) -> Result<AliveToken, Error> {
        self.lock_alive().clone().ok_or(Error::ShutDown)
    }

    fn events(&self) -> Option<mpsc::Sender<TransportEvent>> {
        self.events.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) -> Result<(), Error> {
        let alive = self.alive_token()?;
        tokio::spawn(async move {
            task.await;
            drop(alive);
        });
        Ok(())
    }

    fn connection(&self, id: ConnectionId) -> Option<ConnectionHandle> {
        self.table().by_id.get(&id).cloned()
    }

    fn register(
        &self,
        remote: SocketAddr,
        local: SocketAddr,
        transport: Transport,
    ) -> (ConnectionHandle, mpsc::Receiver<QueuedWrite>) {
        let id = ConnectionId(self.next_connection.fetch_add(1, Ordering::Relaxed));
        let (writes, queue) = mpsc::channel(CONNECTION_QUEUE);
        let handle = ConnectionHandle { id, remote, local, transport, writes, kept_until: Arc::default() };
        let mut table = self.table();
        table.by_id.insert(id, handle.clone());
        table.by_remote.insert((remote, transport), id);
        (handle, queue)
    }

    fn forget(&self, id: ConnectionId) {
        let mut table = self.table();
        if let Some(handle) = table.by_id.remove(&id) {
            let key = (handle.remote, handle.transport);
            if table.by_remote.get(&key) == Some(&id) {
                table.by_remote.remove(&key);
            }
        }
    }

    async fn send_datagram(&self, bytes: &[u8], remote: SocketAddr) -> Result<Sent, Error> {
        let socket = self.udp.as_ref().ok_or(Error::TransportUnavailable(Transport::Udp))?;
        let local = self.udp_local.ok_or(Error::TransportUnavailable(Transport::Udp))?;
        if let Err(e) = socket.send_to(bytes, remote).await {
            // With IP_RECVERR an ICMP error about an earlier datagram, to anyone, is reported by the next call
            // on the socket; it says nothing about this one, which is sent again.
            if !matches!(
                e.kind(),
                io::ErrorKind::ConnectionRefused | io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable
            ) {
                return Err(e.into());
            }
            socket.send_to(bytes, remote).await?;
        }
        trace!(%remote, size = bytes.len(), "UDP datagram sent");
        Ok(Sent { transport: Transport::Udp, local, remote, connection: None, moved_to_tcp: false })
    }

    /// What a send holds while in progress: shutdown waits for it, and a connection it opens can still start.
    fn send_guard(&self) -> Result<SendGuard, Error> {
        Ok(SendGuard { alive: self.alive_token()?, events: self.events().ok_or(Error::ShutDown)? })
    }

    async fn send_stream(
        self: &Arc<Self>,
        guard: &SendGuard,
        bytes: Bytes,
        remote: SocketAddr,
        transport: Transport,
        server_name: Option<&str>,
    ) -> Result<Sent, Error> {
        let existing = {
            let table = self.table();
            table.by_remote.get(&(remote, transport)).and_then(|id| table.by_id.get(id)).cloned()
        };
        if let Some(handle) = existing {
            match self.write_on(&handle, bytes.clone()).await {
                Ok(()) => return Ok(handle.sent()),
                Err(e) => debug!(id = %handle.id, error = %e, "reused connection failed: opening a new one"),
            }
        }
        self.connect_and_send(guard, bytes, remote, transport, server_name).await
    }

    async fn write_on(&self, handle: &ConnectionHandle, bytes: Bytes) -> io::Result<()> {
        let (done, outcome) = oneshot::channel();
        let closed = || io::Error::new(io::ErrorKind::ConnectionAborted, "connection closed");
        handle.writes.send((bytes, done)).await.map_err(|_| closed())?;
        outcome.await.map_err(|_| closed())?
    }

    /// Opens a connection, writes the first message on it directly (so that it goes out even if shutdown
    /// begins meanwhile), then hands the connection to its task.
    async fn connect_and_send(
        self: &Arc<Self>,
        guard: &SendGuard,
        bytes: Bytes,
        remote: SocketAddr,
        transport: Transport,
        server_name: Option<&str>,
    ) -> Result<Sent, Error> {
        let connector = match transport {
            Transport::Tcp => None,
            Transport::Tls => {
                let config = self.tls_client.read().unwrap_or_else(|e| e.into_inner()).clone();
                Some(TlsConnector::from(config.ok_or(Error::TransportUnavailable(Transport::Tls))?))
            }
            other => return Err(Error::TransportUnavailable(other)),
        };
        let timed_out = || io::Error::new(io::ErrorKind::TimedOut, "connection attempt timed out");
        let tcp = timeout(self.connect_timeout, TcpStream::connect(remote)).await.map_err(|_| timed_out())??;
        let _ = tcp.set_nodelay(true);
        let local = tcp.local_addr()?;
        let handle = match connector {
            None => {
                let mut tcp = tcp;
                write_message(&mut tcp, &bytes, self.write_timeout).await?;
                self.start_connection(tcp, remote, local, transport, guard.events.clone(), guard.alive.clone())
            }
            Some(connector) => {
                let name = match server_name {
                    Some(name) => ServerName::try_from(name.to_owned())
                        .map_err(|_| Error::Unroutable("TLS server name is not a valid DNS name"))?,
                    None => ServerName::IpAddress(remote.ip().into()),
                };
                let handshake = timeout(self.connect_timeout, connector.connect(name, tcp)).await;
                let mut stream = match handshake {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => {
                        let error = tls_failure(e);
                        // An operator must see this one: a wrong trust store or an expired certificate on the
                        // far side fails every call there.
                        let server_name = server_name.map_or_else(|| remote.ip().to_string(), str::to_owned);
                        warn!(%remote, %server_name, %error, "TLS handshake with a server failed");
                        return Err(error);
                    }
                    Err(_) => return Err(timed_out().into()),
                };
                write_message(&mut stream, &bytes, self.write_timeout).await?;
                self.start_connection(stream, remote, local, transport, guard.events.clone(), guard.alive.clone())
            }
        };
        debug!(id = %handle.id, %remote, %local, %transport, "connection opened");
        Ok(handle.sent())
    }

    /// Registers a connection and starts its task. `alive` is the token the task holds.
    fn start_connection<S>(
        self: &Arc<Self>,
        stream: S,
        remote: SocketAddr,
        local: SocketAddr,
        transport: Transport,
        events: mpsc::Sender<TransportEvent>,
        alive: AliveToken,
    ) -> ConnectionHandle
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (handle, queue) = self.register(remote, local, transport);
        let task = run_connection(self.clone(), stream, handle.clone(), queue, events);
        tokio::spawn(async move {
            task.await;
            drop(alive);
        });
        handle
    }

    /// Answers (or drops) input that could not be used as a request, as `Error::disposition` says.
    fn reject(&self, raw: &[u8], error: &carillon_sip::Error) -> Option<Bytes> {
        match error.disposition(raw) {
            Disposition::Respond(status, reason) => {
                let tag = format!("{:016x}", rand::random::<u64>());
                let answer = stateless_response(raw, status, reason, &tag);
                if answer.is_none() {
                    debug!(%error, "malformed request cannot be answered (no Via): dropped");
                }
                answer
            }
            Disposition::Drop => {
                debug!(%error, "malformed message dropped");
                None
            }
        }
    }
}

/// The error of a failed client handshake: the TLS error itself (an untrusted or expired certificate, a name
/// mismatch) when there is one, the socket error otherwise.
fn tls_failure(error: io::Error) -> Error {
    match error.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(tls) => Error::Tls(tls.clone()),
        None => Error::Io(error),
    }
}

/// Resolves when shutdown is signalled (or its sender is gone).
async fn shutdown_signalled(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|down| *down).await;
}

async fn udp_receive_loop(inner: Arc<Inner>, socket: Arc<UdpSocket>) {
    let Some(events) = inner.events() else { return };
    let Some(local) = inner.udp_local else { return };
    let mut shutdown = inner.shutdown.subscribe();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let ready = tokio::select! {
            biased;
            () = shutdown_signalled(&mut shutdown) => break,
            ready = socket.ready(Interest::READABLE | Interest::ERROR) => ready,
        };
        let ready = match ready {
            Ok(ready) => ready,
            Err(e) => {
                warn!(error = %e, "UDP socket readiness failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if ready.is_error() {
            report_icmp_errors(&socket, &events);
        }
        if !ready.is_readable() {
            continue;
        }
        // Bounded per wake-up so that shutdown and ICMP errors are looked at between bursts.
        for _ in 0..256 {
            match socket.try_recv_from(&mut buf) {
                Ok((len, source)) => on_datagram(&inner, &socket, &events, &buf[..len], source, local).await,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => report_icmp_errors(&socket, &events),
                Err(e) => {
                    debug!(error = %e, "UDP receive failed");
                    break;
                }
            }
        }
    }
    debug!("UDP receive loop ended");
}

fn report_icmp_errors(socket: &UdpSocket, events: &mpsc::Sender<TransportEvent>) {
    for (remote, error) in icmp::take_errors(socket) {
        debug!(%remote, %error, "UDP destination unreachable");
        let event = TransportEvent::Unreachable { transport: Transport::Udp, remote, error };
        if events.try_send(event).is_err() {
            warn!(%remote, "event queue full: unreachable report dropped");
        }
    }
}

async fn on_datagram(
    inner: &Inner,
    socket: &UdpSocket,
    events: &mpsc::Sender<TransportEvent>,
    data: &[u8],
    source: SocketAddr,
    local: SocketAddr,
) {
    if is_datagram_keepalive(data) {
        trace!(%source, "UDP keepalive ignored");
        return;
    }
    let parsed = Message::parse_datagram(Bytes::copy_from_slice(data), &inner.limits).and_then(|mut message| {
        if message.is_request() {
            stamp_received(&mut message, source)?;
        }
        Ok(message)
    });
    match parsed {
        Ok(message) => {
            trace!(%source, size = data.len(), "UDP message received");
            let incoming = Incoming { message, source, local, transport: Transport::Udp, connection: None };
            if events.try_send(TransportEvent::Incoming(incoming)).is_err() {
                warn!(%source, "event queue full: datagram dropped");
            }
        }
        Err(error) => {
            if let Some(answer) = inner.reject(data, &error)
                && let Err(e) = socket.send_to(&answer, source).await
            {
                debug!(%source, error = %e, "stateless error response not sent");
            }
        }
    }
}

async fn accept_loop(inner: Arc<Inner>, listener: TcpListener, tls: Option<TlsAcceptor>) {
    let Some(events) = inner.events() else { return };
    let transport = if tls.is_some() { Transport::Tls } else { Transport::Tcp };
    let mut shutdown = inner.shutdown.subscribe();
    loop {
        let accepted = tokio::select! {
            biased;
            () = shutdown_signalled(&mut shutdown) => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors and the like: back off rather than spin.
                warn!(%transport, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let local = match tcp.local_addr() {
            Ok(local) => local,
            Err(e) => {
                debug!(%remote, error = %e, "accepted connection without a local address");
                continue;
            }
        };
        match &tls {
            None => {
                let Ok(alive) = inner.alive_token() else { break };
                let handle = inner.start_connection(tcp, remote, local, transport, events.clone(), alive);
                debug!(id = %handle.id, %remote, %transport, "connection accepted");
            }
            Some(acceptor) => {
                // The handshake runs in its own task so that a slow client cannot hold the listener.
                let (inner2, acceptor, events) = (inner.clone(), acceptor.clone(), events.clone());
                let handshake = async move {
                    match timeout(inner2.connect_timeout, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => match inner2.alive_token() {
                            Ok(alive) => {
                                let handle = inner2.start_connection(stream, remote, local, transport, events, alive);
                                debug!(id = %handle.id, %remote, "TLS connection accepted");
                            }
                            Err(_) => debug!(%remote, "TLS handshake finished after shutdown: closed"),
                        },
                        Ok(Err(e)) => debug!(%remote, error = %e, "TLS handshake failed"),
                        Err(_) => debug!(%remote, "TLS handshake timed out"),
                    }
                };
                if inner.spawn(handshake).is_err() {
                    break;
                }
            }
        }
    }
    debug!(%transport, "listener closed");
}

async fn certificate_poll_loop(inner: Arc<Inner>, certificate: Arc<ReloadableCertificate>, interval: Duration) {
    let mut shutdown = inner.shutdown.subscribe();
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = shutdown_signalled(&mut shutdown) => break,
            _ = ticks.tick() => {}
        }
        if certificate.files_changed() {
            match certificate.reload() {
                Ok(()) => info!("TLS certificate files changed: reloaded"),
                Err(e) => {
                    warn!(error = %e, "TLS certificate files changed but cannot be used; keeping the current one")
                }
            }
        }
    }
}

/// How long a connection whose stream could not be framed stays open for the answers to the requests framed on
/// it before the fault.
const UNFRAMEABLE_GRACE: Duration = Duration::from_secs(2);

/// Why a connection task ended.
#[derive(Debug, Clone, Copy)]
enum CloseReason {
    Shutdown,
    ByPeer,
    ReadFailed,
    WriteFailed,
    Unframeable,
    Idle,
}

async fn run_connection<S>(
    inner: Arc<Inner>,
    mut stream: S,
    conn: ConnectionHandle,
    mut queue: mpsc::Receiver<QueuedWrite>,
    events: mpsc::Sender<TransportEvent>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut framer = StreamFramer::new(inner.limits.clone());
    let mut shutdown = inner.shutdown.subscribe();
    let mut deadline = Instant::now() + inner.idle_timeout;
    // Once the stream cannot be framed nothing more is read (RFC 3261 §18.3), but answers to the requests framed
    // before the fault still go out on it for a short while before it closes.
    let mut reading = true;
    let closed = loop {
        framer.buffer_mut().reserve(READ_CHUNK);
        tokio::select! {
            biased;
            () = shutdown_signalled(&mut shutdown) => {
                // Let what is already queued go out, then close.
                queue.close();
                while let Some((bytes, done)) = queue.recv().await {
                    let _ = done.send(write_message(&mut stream, &bytes, inner.write_timeout).await);
                }
                break CloseReason::Shutdown;
            }
            queued = queue.recv() => {
                // The table holds a sender as long as the connection is registered, so `None` cannot happen
                // before `forget`; treat it as a close anyway.
                let Some((bytes, done)) = queued else { break CloseReason::Shutdown };
                let result = write_message(&mut stream, &bytes, inner.write_timeout).await;
                let failed = result.as_ref().err().map(|e| io::Error::new(e.kind(), e.to_string()));
                let _ = done.send(result);
                if let Some(error) = failed {
                    let _ = events.try_send(TransportEvent::Unreachable { transport: conn.transport, remote: conn.remote, error });
                    break CloseReason::WriteFailed;
                }
                if reading {
                    deadline = Instant::now() + inner.idle_timeout;
                }
            }
            read = stream.read_buf(framer.buffer_mut()), if reading => match read {
                Ok(0) => break CloseReason::ByPeer,
                Err(e) => {
                    debug!(id = %conn.id, error = %e, "read failed");
                    break CloseReason::ReadFailed;
                }
                Ok(_) => {
                    deadline = Instant::now() + inner.idle_timeout;
                    match drain_framer(&inner, &mut stream, &mut framer, &conn, &events).await {
                        Ok(()) => {}
                        Err(CloseReason::Unframeable) => {
                            reading = false;
                            deadline = Instant::now() + UNFRAMEABLE_GRACE;
                        }
                        Err(closed) => break closed,
                    }
                }
            },
            () = sleep_until(deadline) => match conn.kept_until().filter(|until| reading && *until > Instant::now()) {
                Some(until) => deadline = until,
                None if reading => break CloseReason::Idle,
                None => break CloseReason::Unframeable,
            },
        }
    };
    inner.forget(conn.id);
    let _ = timeout(inner.write_timeout, stream.shutdown()).await;
    debug!(id = %conn.id, remote = %conn.remote, reason = ?closed, "connection closed");
}

/// Hands up every complete message in the framer, answers pings, and on an unframeable stream answers if the
/// request can be answered and asks for the connection to close.
async fn drain_framer<S>(
    inner: &Inner,
    stream: &mut S,
    framer: &mut StreamFramer,
    conn: &ConnectionHandle,
    events: &mpsc::Sender<TransportEvent>,
) -> Result<(), CloseReason>
where
    S: AsyncWrite + Unpin,
{
    // Bounded: each event consumes octets, and the buffer holds at most one read's worth of new ones.
    loop {
        match framer.next_event() {
            Ok(None) => return Ok(()),
            Ok(Some(StreamEvent::Ping)) => {
                trace!(id = %conn.id, "keepalive ping answered");
                write_message(stream, b"\r\n", inner.write_timeout).await.map_err(|_| CloseReason::WriteFailed)?;
            }
            Ok(Some(StreamEvent::Pong)) => trace!(id = %conn.id, "keepalive pong"),
            Ok(Some(StreamEvent::Message(mut message))) => {
                if message.is_request()
                    && let Err(error) = stamp_received(&mut message, conn.remote)
                {
                    // Framed but without a usable Via: answer on the connection, which can go on.
                    let raw = message.to_bytes();
                    if let Some(answer) = inner.reject(&raw, &error) {
                        write_message(stream, &answer, inner.write_timeout)
                            .await
                            .map_err(|_| CloseReason::WriteFailed)?;
                    }
                    continue;
                }
                let incoming = Incoming {
                    message,
                    source: conn.remote,
                    local: conn.local,
                    transport: conn.transport,
                    connection: Some(conn.id),
                };
                if events.send(TransportEvent::Incoming(incoming)).await.is_err() {
                    return Err(CloseReason::Shutdown);
                }
            }
            Err(error) => {
                let raw = framer.buffer_mut().split().freeze();
                debug!(id = %conn.id, %error, "stream cannot be framed: no more reads, closing shortly");
                if let Some(answer) = inner.reject(&raw, &error) {
                    let _ = write_message(stream, &answer, inner.write_timeout).await;
                }
                return Err(CloseReason::Unframeable);
            }
        }
    }
}

async fn write_message<S>(stream: &mut S, bytes: &[u8], limit: Duration) -> io::Result<()>
where
    S: AsyncWrite + Unpin,
{
    let write = async {
        stream.write_all(bytes).await?;
        stream.flush().await
    };
    timeout(limit, write).await.map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "write timed out"))?
}
