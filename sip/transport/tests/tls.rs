//! TLS on 127.0.0.1 with self-signed certificates: exchanging messages, reloading the certificate without a
//! restart (on demand and by polling the files), connections opened to `sips:` targets, and the trust store they
//! are verified against.
#![allow(clippy::expect_used, clippy::panic)] // Tests fail loudly, with the reason in the message.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use carillon_sip::target::{Target, Transport};
use carillon_sip_transport::{Outgoing, TlsListenConfig, TransportConfig, tls};
use common::*;
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// A self-signed certificate for `localhost`: its DER, and the PEM of it and its key.
struct TestCert {
    der: CertificateDer<'static>,
    cert_pem: String,
    key_pem: String,
}

fn make_cert() -> TestCert {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate generated");
    TestCert {
        der: generated.cert.der().clone(),
        cert_pem: generated.cert.pem(),
        key_pem: generated.signing_key.serialize_pem(),
    }
}

/// A directory for the certificate and key files the TLS listener loads.
fn cert_dir() -> TempDir {
    TempDir::new("carillon-tls-test")
}

fn cert_path(dir: &TempDir) -> PathBuf {
    dir.path().join("cert.pem")
}

fn key_path(dir: &TempDir) -> PathBuf {
    dir.path().join("key.pem")
}

fn install(dir: &TempDir, cert: &TestCert) {
    std::fs::write(cert_path(dir), &cert.cert_pem).expect("write certificate");
    std::fs::write(key_path(dir), &cert.key_pem).expect("write key");
}

fn trusting(certs: &[&TestCert]) -> Arc<rustls::ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots.add(cert.der.clone()).expect("usable as a trust anchor");
    }
    let mut config = Arc::unwrap_or_clone(tls::client_config(roots).expect("client configuration"));
    // A resumed session skips the certificate: each connection here must see the one the server presents now.
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

fn tls_config(dir: &TempDir, reload_interval: Option<Duration>) -> TransportConfig {
    TransportConfig {
        tls: Some(TlsListenConfig {
            addr: loopback(),
            cert_path: cert_path(dir),
            key_path: key_path(dir),
            reload_interval,
        }),
        ..TransportConfig::default()
    }
}

async fn connect(addr: std::net::SocketAddr, client: &Arc<rustls::ClientConfig>) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.expect("TCP connect");
    let name = ServerName::try_from("localhost").expect("valid name");
    tokio::time::timeout(WAIT, TlsConnector::from(client.clone()).connect(name, tcp))
        .await
        .expect("handshake in time")
        .expect("handshake")
}

fn presented(stream: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    stream.get_ref().1.peer_certificates().and_then(|c| c.first()).expect("server presented a certificate").clone()
}

#[tokio::test]
async fn tls_exchange_and_certificate_reload_for_new_connections_without_restart() {
    let dir = cert_dir();
    let (first, second) = (make_cert(), make_cert());
    install(&dir, &first);
    let (layer, mut events) = bind(tls_config(&dir, None)).await;
    let server = layer.local_addr(Transport::Tls).expect("TLS bound");
    let client = trusting(&[&first, &second]);

    let mut old = connect(server, &client).await;
    assert_eq!(presented(&old), first.der);
    old.write_all(options("SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK-tls1", "tls-1", "").as_bytes())
        .await
        .expect("write");
    let incoming = next_incoming(&mut events).await;
    assert_eq!(incoming.transport, Transport::Tls);
    assert_eq!(incoming.message.call_id().expect("Call-ID"), "tls-1");
    layer.send_response(ok_for(&incoming.message), incoming.connection).await.expect("response sent");
    assert!(read_until(&mut old, b"Call-ID: tls-1\r\n").await.starts_with(b"SIP/2.0 200 OK\r\n"));

    install(&dir, &second);
    layer.reload_certificate().expect("reloaded");
    let new = connect(server, &client).await;
    assert_eq!(presented(&new), second.der, "a new connection sees the new certificate");

    // The connection opened before the reload goes on working.
    old.write_all(options("SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK-tls2", "tls-2", "").as_bytes())
        .await
        .expect("write");
    assert_eq!(next_incoming(&mut events).await.message.call_id().expect("Call-ID"), "tls-2");

    // A broken key file is refused and the current certificate stays.
    std::fs::write(key_path(&dir), "not a key").expect("write");
    assert!(layer.reload_certificate().is_err());
    assert_eq!(presented(&connect(server, &client).await), second.der);
    layer.shutdown().await;
}

#[tokio::test]
async fn tls_certificate_files_are_polled_and_reloaded() {
    let dir = cert_dir();
    let (first, second) = (make_cert(), make_cert());
    install(&dir, &first);
    let (layer, _events) = bind(tls_config(&dir, Some(Duration::from_millis(50)))).await;
    let server = layer.local_addr(Transport::Tls).expect("TLS bound");
    let client = trusting(&[&first, &second]);
    assert_eq!(presented(&connect(server, &client).await), first.der);

    install(&dir, &second);
    let mut seen = None;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let cert = presented(&connect(server, &client).await);
        if cert == second.der {
            seen = Some(cert);
            break;
        }
    }
    assert_eq!(seen, Some(second.der), "the renewed certificate was picked up within 3 s");
    layer.shutdown().await;
}

#[tokio::test]
async fn sips_target_is_reached_over_tls_with_the_uri_host_as_server_name() {
    let dir = cert_dir();
    let cert = make_cert();
    install(&dir, &cert);
    let (server, mut server_events) = bind(tls_config(&dir, None)).await;
    let target = Target { transport: Transport::Tls, addr: server.local_addr(Transport::Tls).expect("TLS bound") };
    let client_config = TransportConfig { tls_client: Some(trusting(&[&cert])), ..TransportConfig::default() };
    let (client, mut client_events) = bind(client_config).await;

    let request = parse(&options("SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK-sips", "sips-1", ""));
    let outgoing = Outgoing { message: request, target, server_name: Some("localhost".into()) };
    let sent = client.send(outgoing).await.expect("sent over TLS");
    assert_eq!(sent.transport, Transport::Tls);
    let incoming = next_incoming(&mut server_events).await;
    assert_eq!(incoming.transport, Transport::Tls);
    server.send_response(ok_for(&incoming.message), incoming.connection).await.expect("response sent");
    let response = next_incoming(&mut client_events).await;
    assert_eq!(response.connection, sent.connection, "the response came back on the connection opened");
    assert_eq!(response.message.status().map(|s| s.as_u16()), Some(200));

    // A name the certificate does not carry fails the handshake: a transport error, so the next target is tried.
    let request = parse(&options("SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK-sips2", "sips-2", ""));
    // A fresh client layer, so that the connection opened above is not reused.
    let (fresh, _fresh_events) =
        bind(TransportConfig { tls_client: Some(trusting(&[&cert])), ..TransportConfig::default() }).await;
    let err = fresh
        .send(Outgoing { message: request, target, server_name: Some("pbx.campus.test".into()) })
        .await
        .expect_err("certificate is for localhost only");
    assert!(err.is_transport_failure(), "{err}");
    assert_no_event(&mut server_events).await;
    for layer in [&client, &fresh, &server] {
        layer.shutdown().await;
    }
}

#[tokio::test]
async fn an_untrusted_server_fails_with_the_tls_error_until_the_trust_store_is_replaced() {
    let dir = cert_dir();
    let (server_cert, stranger) = (make_cert(), make_cert());
    install(&dir, &server_cert);
    let (server, mut server_events) = bind(tls_config(&dir, None)).await;
    let target = Target { transport: Transport::Tls, addr: server.local_addr(Transport::Tls).expect("TLS bound") };
    // The client trusts a PEM file holding someone else's certificate.
    let trusted = dir.path().join("trusted.pem");
    std::fs::write(&trusted, &stranger.cert_pem).expect("write the trust store");
    let client_config = tls::client_config_from_pem(&trusted).expect("a usable trust store");
    let (client, mut client_events) =
        bind(TransportConfig { tls_client: Some(client_config), ..TransportConfig::default() }).await;
    let request = || parse(&options("SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK-ca", "ca-1", ""));
    let outgoing = || Outgoing { message: request(), target, server_name: Some("localhost".into()) };

    let err = client.send(outgoing()).await.expect_err("the server's certificate is not trusted");
    assert!(
        matches!(&err, carillon_sip_transport::Error::Tls(rustls::Error::InvalidCertificate(_))),
        "the certificate problem itself: {err}"
    );
    assert!(err.is_transport_failure(), "{err}");
    assert_no_event(&mut server_events).await;

    // A file without a certificate is no trust store.
    std::fs::write(&trusted, "no PEM here").expect("write");
    assert!(tls::client_config_from_pem(&trusted).is_err());

    std::fs::write(&trusted, &server_cert.cert_pem).expect("write the trust store");
    client.set_tls_client(Some(tls::client_config_from_pem(&trusted).expect("a usable trust store")));
    client.send(outgoing()).await.expect("trusted now");
    let incoming = next_incoming(&mut server_events).await;
    server.send_response(ok_for(&incoming.message), incoming.connection).await.expect("response sent");
    let response = next_incoming(&mut client_events).await;
    assert_eq!(response.message.status().map(|s| s.as_u16()), Some(200));
    for layer in [&client, &server] {
        layer.shutdown().await;
    }
}
