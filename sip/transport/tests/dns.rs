//! RFC 3263 resolution against a real DNS server (dnsmasq on 127.0.0.1, a port chosen at run time) and failover
//! to the next target when the first one refuses.
//!
//! Needs the `dnsmasq` binary (Debian package `dnsmasq-base`); the test fails, naming the package, without it.
#![allow(clippy::expect_used, clippy::panic)] // Tests fail loudly, with the reason in the message.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use carillon_sip::target::{Query, RecordType, Target, TargetList, Transport, UriParts};
use carillon_sip::uri::Host;
use carillon_sip_transport::{Outgoing, Resolver, ResolverConfig, TransportConfig, TransportEvent};
use common::*;
use tokio::net::{TcpListener, UdpSocket};

/// A dnsmasq process serving the test zone; killed (by its PID) when dropped, then its directory is removed.
struct Dnsmasq {
    child: Child,
    addr: SocketAddr,
    dir: TempDir,
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_dnsmasq() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    // sbin is not on every user's PATH, and dnsmasq lives there on Debian.
    let dirs = std::env::split_paths(&path).chain(["/usr/sbin".into(), "/sbin".into()]);
    for dir in dirs {
        let candidate = dir.join("dnsmasq");
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("dnsmasq not found on PATH: install the Debian package `dnsmasq-base` (apt-get install -y dnsmasq-base)");
}

/// A port free on 127.0.0.1 for both UDP and TCP right now.
fn free_port() -> u16 {
    for _ in 0..20 {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind UDP");
        let port = udp.local_addr().expect("addr").port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP on 127.0.0.1");
}

/// The ports of the failover targets: sip1 (127.0.0.2) refuses, sip2 (127.0.0.3) answers.
struct FailoverPorts {
    closed_udp: u16,
    open_udp: u16,
    closed_tcp: u16,
    open_tcp: u16,
}

fn zone(port: u16, failover: &FailoverPorts) -> String {
    let FailoverPorts { closed_udp, open_udp, closed_tcp, open_tcp } = failover;
    format!(
        "port={port}\nlisten-address=127.0.0.1\nbind-interfaces\nno-resolv\nno-hosts\nno-poll\n\
         local=/campus.test/\n\
         host-record=campus.test,127.0.0.9\n\
         host-record=sip1.campus.test,127.0.0.2\n\
         host-record=sip2.campus.test,127.0.0.3\n\
         host-record=sip3.campus.test,127.0.0.4\n\
         srv-host=_sip._udp.campus.test,sip2.campus.test,5060,20,40\n\
         srv-host=_sip._udp.campus.test,sip1.campus.test,5060,10,60\n\
         srv-host=_sip._tcp.campus.test,sip1.campus.test,5060,10,100\n\
         naptr-record=campus.test,20,50,\"s\",\"SIP+D2T\",\"\",\"_sip._tcp.campus.test\"\n\
         naptr-record=campus.test,10,50,\"s\",\"SIP+D2U\",\"\",\"_sip._udp.campus.test\"\n\
         srv-host=_sip._udp.prio.campus.test,sip3.campus.test,5063,30,0\n\
         srv-host=_sip._udp.prio.campus.test,sip1.campus.test,5061,10,0\n\
         srv-host=_sip._udp.prio.campus.test,sip2.campus.test,5062,20,0\n\
         srv-host=_sip._udp.failover.campus.test,sip1.campus.test,{closed_udp},10,0\n\
         srv-host=_sip._udp.failover.campus.test,sip2.campus.test,{open_udp},20,0\n\
         srv-host=_sip._tcp.failover.campus.test,sip1.campus.test,{closed_tcp},10,0\n\
         srv-host=_sip._tcp.failover.campus.test,sip2.campus.test,{open_tcp},20,0\n"
    )
}

fn start_dnsmasq(failover: &FailoverPorts) -> Dnsmasq {
    let binary = find_dnsmasq();
    let dir = TempDir::new("carillon-dnsmasq");
    let log_path = dir.path().join("dnsmasq.log");
    // A port taken between choosing and binding makes dnsmasq exit at once: choose again, a few times.
    for _ in 0..3 {
        let port = free_port();
        let conf = dir.path().join("campus-test.conf");
        std::fs::write(&conf, zone(port, failover)).expect("write config");
        let log = std::fs::File::create(&log_path).expect("log file");
        let mut child = Command::new(&binary)
            .arg(format!("--conf-file={}", conf.display()))
            .arg("--keep-in-foreground")
            .arg(format!("--pid-file={}", dir.path().join("dnsmasq.pid").display()))
            .arg("--log-facility=-")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("dnsmasq starts");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if wait_ready(&mut child, addr) {
            return Dnsmasq { child, addr, dir };
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    panic!("dnsmasq did not start; its log:\n{log}");
}

/// Whether dnsmasq accepts TCP on its port within 5 s (it answers UDP from the same moment).
fn wait_ready(child: &mut Child, addr: SocketAddr) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if child.try_wait().ok().flatten().is_some() {
            return false;
        }
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Two addresses on 127.0.0.2/127.0.0.3 whose ports refuse, and listeners on 127.0.0.3.
async fn failover_peers() -> (FailoverPorts, UdpSocket, TcpListener) {
    let closed_udp = UdpSocket::bind("127.0.0.2:0").await.expect("bind").local_addr().expect("addr").port();
    let closed_tcp = TcpListener::bind("127.0.0.2:0").await.expect("bind").local_addr().expect("addr").port();
    // Both sockets are dropped here: nothing listens on those ports any more.
    let open_udp = UdpSocket::bind("127.0.0.3:0").await.expect("bind 127.0.0.3");
    let open_tcp = TcpListener::bind("127.0.0.3:0").await.expect("bind 127.0.0.3");
    let ports = FailoverPorts {
        closed_udp,
        open_udp: open_udp.local_addr().expect("addr").port(),
        closed_tcp,
        open_tcp: open_tcp.local_addr().expect("addr").port(),
    };
    (ports, open_udp, open_tcp)
}

fn resolver(dns: &Dnsmasq) -> Resolver {
    Resolver::new(ResolverConfig::explicit(dns.addr)).expect("resolver")
}

fn target(transport: Transport, addr: &str) -> Target {
    Target { transport, addr: addr.parse().expect("test address") }
}

fn query(record: RecordType, name: &str) -> Query {
    Query { record, name: name.into() }
}

fn domain(name: &str) -> UriParts<'_> {
    UriParts::host(Host::Domain(name))
}

fn targets(list: TargetList) -> Vec<Target> {
    list.collect()
}

#[tokio::test]
async fn rfc3263_resolution_against_a_real_dns_server() {
    let (ports, _udp, _tcp) = failover_peers().await;
    let dns = start_dnsmasq(&ports);
    let resolver = resolver(&dns);

    // §4.1: NAPTR, then the SRV names it gives (order 10 UDP before order 20 TCP), then the addresses.
    let (list, asked) = resolver.resolve_traced(&domain("campus.test")).await.expect("resolved");
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
    assert_eq!(list.server_name(), Some("campus.test"));
    assert_eq!(
        targets(list),
        vec![
            target(Transport::Udp, "127.0.0.2:5060"),
            target(Transport::Udp, "127.0.0.3:5060"),
            target(Transport::Tcp, "127.0.0.2:5060"),
        ]
    );

    // RFC 2782: priority order, whatever order the server lists the records in.
    let uri = UriParts { transport: Some(Transport::Udp), ..domain("prio.campus.test") };
    assert_eq!(
        targets(resolver.resolve(&uri).await.expect("resolved")),
        vec![
            target(Transport::Udp, "127.0.0.2:5061"),
            target(Transport::Udp, "127.0.0.3:5062"),
            target(Transport::Udp, "127.0.0.4:5063"),
        ]
    );

    // §4.2: a port in the URI skips NAPTR and SRV.
    let uri = UriParts { port: Some(5070), ..domain("campus.test") };
    let (list, asked) = resolver.resolve_traced(&uri).await.expect("resolved");
    assert_eq!(asked, vec![query(RecordType::Address, "campus.test")]);
    assert_eq!(targets(list), vec![target(Transport::Udp, "127.0.0.9:5070")]);

    // §4: a numeric host needs no DNS at all.
    let (list, asked) = resolver.resolve_traced(&UriParts::host(Host::V4([127, 0, 0, 5].into()))).await.expect("ok");
    assert!(asked.is_empty());
    assert_eq!(targets(list), vec![target(Transport::Udp, "127.0.0.5:5060")]);

    // A name the server does not know: nothing to try.
    assert!(resolver.resolve(&domain("nothere.campus.test")).await.expect("resolved").is_empty());
}

#[tokio::test]
async fn rfc3263_4_3_failover_to_the_next_target_when_the_first_refuses() {
    let (ports, open_udp, open_tcp) = failover_peers().await;
    let dns = start_dnsmasq(&ports);
    let resolver = resolver(&dns);
    let (layer, mut events) = bind(TransportConfig { udp: Some(loopback()), ..TransportConfig::default() }).await;

    // UDP: the first target's port answers with ICMP port unreachable, reported as an event.
    let uri = UriParts { transport: Some(Transport::Udp), ..domain("failover.campus.test") };
    let mut list = resolver.resolve(&uri).await.expect("resolved");
    assert_eq!(list.len(), 2);
    let first = list.next().expect("first target");
    assert_eq!(first.addr, SocketAddr::from(([127, 0, 0, 2], ports.closed_udp)));
    let request = || parse(&options("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-fo", "failover-udp", ""));
    layer.send(Outgoing { message: request(), target: first, server_name: None }).await.expect("datagram sent");
    match next_event(&mut events).await {
        TransportEvent::Unreachable { transport, remote, error } => {
            assert_eq!((transport, remote), (Transport::Udp, first.addr));
            assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
        }
        other => panic!("expected the first target to be reported unreachable, got {other:?}"),
    }
    let second = list.next().expect("second target");
    assert_eq!(second.addr, open_udp.local_addr().expect("addr"));
    layer.send(Outgoing { message: request(), target: second, server_name: None }).await.expect("sent");
    assert!(contains(&recv_datagram(&open_udp).await, b"Call-ID: failover-udp\r\n"));

    // TCP: the first target refuses the connection, which fails the send itself.
    let uri = UriParts { transport: Some(Transport::Tcp), ..domain("failover.campus.test") };
    let list = resolver.resolve(&uri).await.expect("resolved");
    let mut delivered = None;
    let mut refused = Vec::new();
    for next in list {
        let message = parse(&options("SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-fo2", "failover-tcp", ""));
        match layer.send(Outgoing { message, target: next, server_name: None }).await {
            Ok(sent) => {
                delivered = Some(sent.remote);
                break;
            }
            Err(e) if e.is_transport_failure() => refused.push(next.addr),
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(refused, vec![SocketAddr::from(([127, 0, 0, 2], ports.closed_tcp))]);
    assert_eq!(delivered, Some(open_tcp.local_addr().expect("addr")));
    let (mut stream, _) = tokio::time::timeout(WAIT, open_tcp.accept()).await.expect("in time").expect("accept");
    let got = read_until(&mut stream, b"Call-ID: failover-tcp\r\n").await;
    assert!(contains(&got, b"Call-ID: failover-tcp\r\n"));
    layer.shutdown().await;
}

#[test]
fn dnsmasq_guard_kills_the_server() {
    let ports = FailoverPorts { closed_udp: 1, open_udp: 2, closed_tcp: 3, open_tcp: 4 };
    let dns = start_dnsmasq(&ports);
    let (addr, dir) = (dns.addr, dns.dir.path().to_owned());
    drop(dns);
    assert!(std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err(), "dnsmasq is gone");
    assert!(!Path::new(&dir).exists());
}
