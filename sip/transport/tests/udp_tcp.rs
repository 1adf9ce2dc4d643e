//! UDP and TCP on 127.0.0.1: receiving, stamping, response routing, bad input, framing, connection reuse,
//! idle close (and connections kept open past it), sending on one connection only (a flow), keepalives, and the
//! UDP-to-TCP switch of large requests.
#![allow(clippy::expect_used, clippy::panic)] // Tests fail loudly, with the reason in the message.

mod common;

use std::time::Duration;

use carillon_sip::target::{Target, Transport};
use carillon_sip::uri::Host;
use carillon_sip_transport::{Error, Outgoing, TransportConfig};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

fn udp_tcp_config() -> TransportConfig {
    TransportConfig { udp: Some(loopback()), tcp: Some(loopback()), ..TransportConfig::default() }
}

#[tokio::test]
async fn rfc3581_udp_request_arrives_with_received_and_rport_and_the_response_goes_back_to_rport() {
    let (layer, mut events) = bind(udp_tcp_config()).await;
    let server = layer.local_addr(Transport::Udp).expect("UDP bound");
    let client = UdpSocket::bind(loopback()).await.expect("client socket");
    let client_addr = client.local_addr().expect("client address");

    // The sent-by names a host and port that are not the source: received and rport must say where it came from.
    let request = options("SIP/2.0/UDP phone.invalid:5999;rport;branch=z9hG4bK-u1", "udp-1", "");
    client.send_to(request.as_bytes(), server).await.expect("send");
    let incoming = next_incoming(&mut events).await;
    assert_eq!(incoming.transport, Transport::Udp);
    assert_eq!(incoming.source, client_addr);
    assert_eq!(incoming.local, server);
    assert_eq!(incoming.connection, None);
    let via = incoming.message.top_via().expect("Via");
    assert_eq!(via.received(), Some(Host::V4([127, 0, 0, 1].into())));
    assert_eq!(via.rport(), Some(Some(client_addr.port())));

    // RFC 3261 §18.2.2 with RFC 3581: to received:rport, not to phone.invalid:5999.
    let sent = layer.send_response(ok_for(&incoming.message), incoming.connection).await.expect("response sent");
    assert_eq!(sent.remote, client_addr);
    let reply = recv_datagram(&client).await;
    assert!(reply.starts_with(b"SIP/2.0 200 OK\r\n"), "got {:?}", String::from_utf8_lossy(&reply));
    assert!(contains(&reply, b"Call-ID: udp-1\r\n"));
    layer.shutdown().await;
}

#[tokio::test]
async fn rfc3261_18_2_2_udp_response_without_rport_goes_to_the_via_port() {
    let (layer, mut events) = bind(udp_tcp_config()).await;
    let server = layer.local_addr(Transport::Udp).expect("UDP bound");
    let sender = UdpSocket::bind(loopback()).await.expect("sender");
    let listener = UdpSocket::bind(loopback()).await.expect("the port named in Via");
    let via = format!("SIP/2.0/UDP 127.0.0.1:{};branch=z9hG4bK-u2", listener.local_addr().expect("addr").port());
    sender.send_to(options(&via, "udp-2", "").as_bytes(), server).await.expect("send");
    let incoming = next_incoming(&mut events).await;
    assert!(incoming.message.is_untouched(), "sent-by is the source address: nothing to stamp");
    layer.send_response(ok_for(&incoming.message), None).await.expect("response sent");
    let reply = recv_datagram(&listener).await;
    assert!(reply.starts_with(b"SIP/2.0 200 OK\r\n"));
    assert_no_datagram(&sender).await;
    layer.shutdown().await;
}

#[tokio::test]
async fn rfc3261_21_4_1_malformed_udp_request_gets_a_stateless_400() {
    let (layer, mut events) = bind(udp_tcp_config()).await;
    let server = layer.local_addr(Transport::Udp).expect("UDP bound");
    let client = UdpSocket::bind(loopback()).await.expect("client socket");
    let port = client.local_addr().expect("addr").port();
    let bad = format!(
        "OPTIONS sip:pbx@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-bad\r\n\
         From: <sip:alice@campus.test>;tag=a1\r\nTo: <sip:pbx@campus.test>\r\nCall-ID: bad-1\r\nCSeq: 7 OPTIONS\r\n\
         Content-Length: many\r\n\r\n"
    );
    client.send_to(bad.as_bytes(), server).await.expect("send");
    let reply = recv_datagram(&client).await;
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("SIP/2.0 400 "), "got {text:?}");
    assert!(text.contains(&format!("\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-bad\r\n")), "got {text:?}");
    assert!(text.contains("\r\nCall-ID: bad-1\r\n") && text.contains("\r\nCSeq: 7 OPTIONS\r\n"), "got {text:?}");
    assert!(text.contains("\r\nTo: <sip:pbx@campus.test>;tag="), "a To tag is added: {text:?}");
    assert!(text.ends_with("\r\nContent-Length: 0\r\n\r\n"), "got {text:?}");
    assert_no_event(&mut events).await;
    layer.shutdown().await;
}

#[tokio::test]
async fn rfc3261_18_1_2_malformed_udp_response_is_dropped_silently() {
    let (layer, mut events) = bind(udp_tcp_config()).await;
    let server = layer.local_addr(Transport::Udp).expect("UDP bound");
    let client = UdpSocket::bind(loopback()).await.expect("client socket");
    let port = client.local_addr().expect("addr").port();
    let bad = format!("SIP/2.0 2000 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-r\r\nCall-ID: r\r\n\r\n");
    client.send_to(bad.as_bytes(), server).await.expect("send");
    client.send_to(b"\x00\x01garbage", server).await.expect("send");
    assert_no_datagram(&client).await;
    assert_no_event(&mut events).await;
    // The layer is still receiving.
    client
        .send_to(options(&format!("SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-ok"), "after", "").as_bytes(), server)
        .await
        .expect("send");
    assert_eq!(next_incoming(&mut events).await.message.call_id().expect("Call-ID"), "after");
    layer.shutdown().await;
}

#[tokio::test]
async fn rfc3261_18_1_1_large_request_goes_over_tcp() {
    let (layer, _events) = bind(udp_tcp_config()).await;
    // The peer listens on the same port number over UDP and TCP, as a SIP server does.
    let peer_tcp = TcpListener::bind(loopback()).await.expect("peer TCP");
    let peer_addr = peer_tcp.local_addr().expect("addr");
    let peer_udp = UdpSocket::bind(peer_addr).await.expect("peer UDP on the same port");
    let body = "x".repeat(1500);
    let request = parse(&options("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-big", "big-1", &body));
    let outgoing =
        Outgoing { message: request, target: Target { transport: Transport::Udp, addr: peer_addr }, server_name: None };
    let sent = layer.send(outgoing).await.expect("sent");
    assert!(sent.moved_to_tcp);
    assert_eq!(sent.transport, Transport::Tcp);
    let (mut stream, _) =
        tokio::time::timeout(WAIT, peer_tcp.accept()).await.expect("connection in time").expect("accept");
    let got = read_until(&mut stream, body.as_bytes()).await;
    assert!(contains(&got, b"Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-big\r\n"), "Via rewritten to TCP");
    assert_no_datagram(&peer_udp).await;

    // A small request stays on UDP.
    let small = parse(&options("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-small", "small-1", ""));
    let sent = layer
        .send(Outgoing {
            message: small,
            target: Target { transport: Transport::Udp, addr: peer_addr },
            server_name: None,
        })
        .await
        .expect("sent");
    assert!(!sent.moved_to_tcp);
    assert!(recv_datagram(&peer_udp).await.starts_with(b"OPTIONS "));
    layer.shutdown().await;
}

/// RFC 3261 §18.1.1: when the TCP connection for a request moved off UDP fails, the request goes over UDP as it
/// was (a phone that listens on UDP only).
#[tokio::test]
async fn rfc3261_18_1_1_large_request_falls_back_to_udp_when_tcp_is_refused() {
    let (layer, _events) = bind(udp_tcp_config()).await;
    let peer_udp = UdpSocket::bind(loopback()).await.expect("peer UDP only");
    let peer_addr = peer_udp.local_addr().expect("addr");
    let body = "y".repeat(1500);
    let request = parse(&options("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-udponly", "big-2", &body));
    let outgoing =
        Outgoing { message: request, target: Target { transport: Transport::Udp, addr: peer_addr }, server_name: None };
    let sent = layer.send(outgoing).await.expect("sent after all");
    assert_eq!(sent.transport, Transport::Udp);
    let got = recv_datagram(&peer_udp).await;
    assert!(contains(&got, b"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-udponly\r\n"), "the Via is not rewritten");
    assert!(contains(&got, body.as_bytes()));
    layer.shutdown().await;
}

#[tokio::test]
async fn rfc3261_18_3_tcp_framing_two_messages_in_one_write_and_one_in_pieces() {
    let (layer, mut events) = bind(udp_tcp_config()).await;
    let server = layer.local_addr(Transport::Tcp).expect("TCP bound");
    let mut client = TcpStream::connect(server).await.expect("connect");
    let client_addr = client.local_addr().expect("addr");
    let first = options("SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-t1", "tcp-1", "hello");
    let second = options("SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-t2", "tcp-2", "");
    client.write_all(format!("{first}{second}").as_bytes()).await.expect("write");
    let a = next_incoming(&mut events).await;
    let b = next_incoming(&mut events).await;
    assert_eq!(a.message.call_id().expect("Call-ID"), "tcp-1");
    assert_eq!(a.message.body(), b"hello");
    assert_eq!(b.message.call_id().expect("Call-ID"), "tcp-2");
    assert_eq!((a.transport, a.source), (Transport::Tcp, client_addr));
    assert!(a.connection.is_some() && a.connection == b.connection);
    // Sent-by 127.0.0.1:5060 is the source address, but rport aside, received is only added when it differs.
    assert_eq!(a.message.top_via().expect("Via").received(), None);

    let third = options("SIP/2.0/TCP phone.invalid;branch=z9hG4bK-t3", "tcp-3", "split body");
    let (head, tail) = third.as_bytes().split_at(40);
    client.write_all(head).await.expect("write");
    client.flush().await.expect("flush");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_no_event(&mut events).await;
    client.write_all(tail).await.expect("write");
    let c = next_incoming(&mut events).await;
    assert_eq!(c.message.call_id().expect("Call-ID"), "tcp-3");
    assert_eq!(c.message.body(), b"split body");
    assert_eq!(c.message.top_via().expect("Via").received(), Some(Host::V4([127, 0, 0, 1].into())));

    // The response goes back over the same connection (RFC 3261 §18.2.2).
    let sent = layer.send_response(ok_for(&c.message), c.connection).await.expect("response sent");
    assert_eq!(sent.connection, c.connection);
    let got = read_until(&mut client, b"Call-ID: tcp-3\r\n").await;
    assert!(got.starts_with(b"SIP/2.0 200 OK\r\n"));
    layer.shutdown().await;
}

#[tokio::test]
async fn tcp_connection_is_reused_for_the_same_peer_and_closed_when_idle() {
    let config = TransportConfig { idle_timeout: Duration::from_millis(400), ..udp_tcp_config() };
    let (layer, _events) = bind(config).await;
    let peer = TcpListener::bind(loopback()).await.expect("peer");
    let target = Target { transport: Transport::Tcp, addr: peer.local_addr().expect("addr") };
    let send = |call_id: &str| {
        let message = parse(&options("SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-re", call_id, ""));
        layer.send(Outgoing { message, target, server_name: None })
    };
    let first = send("reuse-1").await.expect("first send");
    let (mut stream, _) = tokio::time::timeout(WAIT, peer.accept()).await.expect("accepted in time").expect("accept");
    let second = send("reuse-2").await.expect("second send");
    assert_eq!(first.connection, second.connection);
    assert_eq!(layer.connection_count(), 1);
    let got = read_until(&mut stream, b"Call-ID: reuse-2\r\n").await;
    assert!(contains(&got, b"Call-ID: reuse-1\r\n"), "both messages on the one connection");
    assert!(tokio::time::timeout(QUIET, peer.accept()).await.is_err(), "no second connection was opened");

    // No traffic for the idle timeout: the layer closes the connection.
    assert!(closed_by_peer(&mut stream).await, "idle connection closed");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(layer.connection_count(), 0);
    layer.shutdown().await;
}

#[tokio::test]
async fn a_connection_kept_open_outlives_the_idle_timeout_and_the_others_do_not() {
    let config = TransportConfig { idle_timeout: Duration::from_millis(300), ..udp_tcp_config() };
    let (layer, mut events) = bind(config).await;
    let server = layer.local_addr(Transport::Tcp).expect("TCP bound");
    let mut kept = TcpStream::connect(server).await.expect("connect");
    let mut idle = TcpStream::connect(server).await.expect("connect");
    let mut ids = Vec::new();
    for (stream, call_id) in [(&mut kept, "kept-1"), (&mut idle, "idle-1")] {
        let request = options("SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-keep", call_id, "");
        stream.write_all(request.as_bytes()).await.expect("write");
        ids.push(next_incoming(&mut events).await.connection.expect("a stream connection"));
    }
    // As the registrar does for a phone that registered over the connection.
    assert!(layer.keep_open(ids[0], Duration::from_secs(30)));

    assert!(closed_by_peer(&mut idle).await, "the other connection is closed when idle");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(layer.connection_count(), 1, "only the connection kept open is left");
    let request = options("SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-keep2", "kept-2", "");
    kept.write_all(request.as_bytes()).await.expect("write after the idle timeout");
    assert_eq!(next_incoming(&mut events).await.connection, Some(ids[0]), "on the same connection");
    layer.shutdown().await;
}

#[tokio::test]
async fn rfc5626_5_3_a_message_sent_on_a_connection_goes_over_it_or_fails_once_it_is_closed() {
    let (layer, mut events) = bind(udp_tcp_config()).await;
    let server = layer.local_addr(Transport::Tcp).expect("TCP bound");
    let mut phone = TcpStream::connect(server).await.expect("connect");
    let request = options("SIP/2.0/TCP 10.0.0.5:5060;branch=z9hG4bK-flow", "flow-1", "");
    phone.write_all(request.as_bytes()).await.expect("write");
    let id = next_incoming(&mut events).await.connection.expect("a stream connection");
    let message = parse(&options("SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-back", "flow-2", ""));
    let sent = layer.send_on(id, message.clone()).await.expect("sent over the connection");
    assert_eq!((sent.connection, sent.remote), (Some(id), phone.local_addr().expect("addr")));
    read_until(&mut phone, b"Call-ID: flow-2\r\n").await;

    drop(phone);
    // The layer notices the close when it reads the end of the stream; until then a write may still succeed.
    let mut outcome = Ok(sent);
    for _ in 0..50 {
        outcome = layer.send_on(id, message.clone()).await;
        if outcome.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let err = outcome.expect_err("the connection is gone");
    assert!(matches!(err, Error::ConnectionClosed(closed) if closed == id), "{err}");
    assert!(err.is_transport_failure());
    assert_eq!(layer.connection_count(), 0, "no connection was opened in its place");
    layer.shutdown().await;
}

#[tokio::test]
async fn rfc5626_4_4_1_ping_gets_pong() {
    let (layer, mut events) = bind(udp_tcp_config()).await;
    let mut client = TcpStream::connect(layer.local_addr(Transport::Tcp).expect("TCP")).await.expect("connect");
    client.write_all(b"\r\n\r\n").await.expect("ping");
    let mut pong = [0u8; 2];
    tokio::time::timeout(WAIT, client.read_exact(&mut pong)).await.expect("pong in time").expect("read");
    assert_eq!(&pong, b"\r\n");
    assert_no_event(&mut events).await;
    layer.shutdown().await;
}

#[tokio::test]
async fn rfc4475_3_1_2_3_unframeable_stream_gets_400_and_is_closed() {
    let (layer, mut events) = bind(udp_tcp_config()).await;
    let mut client = TcpStream::connect(layer.local_addr(Transport::Tcp).expect("TCP")).await.expect("connect");
    let bad = "OPTIONS sip:pbx@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-neg\r\n\
               From: <sip:alice@campus.test>;tag=a1\r\nTo: <sip:pbx@campus.test>\r\nCall-ID: neg-1\r\n\
               CSeq: 1 OPTIONS\r\nContent-Length: -999\r\n\r\n";
    client.write_all(bad.as_bytes()).await.expect("write");
    let got = read_until(&mut client, b"\r\n\r\n").await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("SIP/2.0 400 "), "got {text:?}");
    assert!(text.contains("\r\nCall-ID: neg-1\r\n"), "got {text:?}");
    assert!(closed_by_peer(&mut client).await, "connection closed after the answer");
    assert_no_event(&mut events).await;
    layer.shutdown().await;
}

/// RFC 3261 §18.3: after a fault that leaves the stream unframeable nothing more is read, but a request framed
/// before the fault still gets its answer on the same connection, which closes shortly after.
#[tokio::test]
async fn a_request_framed_before_an_unframeable_fault_is_answered_on_its_connection_rfc3261_18_3() {
    let (layer, mut events) = bind(udp_tcp_config()).await;
    let mut client = TcpStream::connect(layer.local_addr(Transport::Tcp).expect("TCP")).await.expect("connect");
    let good = options("SIP/2.0/TCP phone.invalid;branch=z9hG4bK-g1", "framed-1", "");
    let bad = "OPTIONS sip:pbx@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-neg\r\n\
               From: <sip:alice@campus.test>;tag=a1\r\nTo: <sip:pbx@campus.test>\r\nCall-ID: neg-2\r\n\
               CSeq: 1 OPTIONS\r\nContent-Length: -999\r\n\r\n";
    client.write_all(format!("{good}{bad}").as_bytes()).await.expect("write");
    let framed = next_incoming(&mut events).await;
    assert_eq!(framed.message.call_id().expect("Call-ID"), "framed-1");
    let got = read_until(&mut client, b"Call-ID: neg-2\r\n").await;
    assert!(String::from_utf8_lossy(&got).starts_with("SIP/2.0 400 "), "the unframeable request is answered 400");
    // The TU answers the framed request after the fault: over the same connection, not a new one by Via.
    let sent = layer.send_response(ok_for(&framed.message), framed.connection).await.expect("response sent");
    assert_eq!(sent.connection, framed.connection);
    let got = read_until(&mut client, b"Call-ID: framed-1\r\n").await;
    assert!(String::from_utf8_lossy(&got).contains("SIP/2.0 200 OK\r\n"), "{}", String::from_utf8_lossy(&got));
    assert!(closed_by_peer(&mut client).await, "the connection closes after its grace");
    assert_no_event(&mut events).await;
    layer.shutdown().await;
}

#[tokio::test]
async fn refused_tcp_target_is_a_transport_failure() {
    let (layer, _events) = bind(udp_tcp_config()).await;
    let closed = TcpListener::bind(loopback()).await.expect("bind").local_addr().expect("addr");
    // The listener is dropped: nothing listens on that port any more.
    let message = parse(&options("SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-x", "refused", ""));
    let err = layer
        .send(Outgoing { message, target: Target { transport: Transport::Tcp, addr: closed }, server_name: None })
        .await
        .expect_err("nothing listens there");
    assert!(err.is_transport_failure(), "{err}");
    assert!(matches!(&err, Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused), "{err}");
    layer.shutdown().await;
}

#[tokio::test]
async fn shutdown_stops_receiving_and_refuses_new_sends() {
    let (layer, mut events) = bind(udp_tcp_config()).await;
    let tcp = layer.local_addr(Transport::Tcp).expect("TCP");
    layer.shutdown().await;
    assert!(tokio::time::timeout(WAIT, events.recv()).await.expect("channel closes in time").is_none());
    assert!(TcpStream::connect(tcp).await.is_err(), "listener closed");
    let message = parse(&options("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-s", "late", ""));
    let target = Target { transport: Transport::Udp, addr: "127.0.0.1:9".parse().expect("addr") };
    assert!(matches!(layer.send(Outgoing { message, target, server_name: None }).await, Err(Error::ShutDown)));
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_send_finish() {
    let (layer, _events) = bind(udp_tcp_config()).await;
    let peer = TcpListener::bind(loopback()).await.expect("peer");
    let target = Target { transport: Transport::Tcp, addr: peer.local_addr().expect("addr") };
    let message = parse(&options("SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-last", "last-words", ""));
    // The send starts first (it is polled first) and is still connecting when shutdown begins.
    let (sent, ()) = tokio::join!(layer.send(Outgoing { message, target, server_name: None }), layer.shutdown());
    sent.expect("the send in flight completed");
    let (mut stream, _) = tokio::time::timeout(WAIT, peer.accept()).await.expect("in time").expect("accept");
    let got = read_until(&mut stream, b"Call-ID: last-words\r\n").await;
    assert!(contains(&got, b"Call-ID: last-words\r\n"));
    assert!(closed_by_peer(&mut stream).await, "then the connection is closed");
}
