//! A phone on TCP behind NAT: it registers over its connection with a private Contact address, and a call to it
//! comes back over that same connection (RFC 3261 §18, RFC 5626 §5.3 flows, RFC 3581).

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod common;

use bytes::{Bytes, BytesMut};
use carillon_sip::auth::Algorithm;
use carillon_sip::framing::Limits;
use carillon_sip::{HeaderName, Message, StatusCode};
use common::{Campus, DOMAIN, Running, Ua, WAIT, config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct TcpPhone {
    stream: TcpStream,
    buf: BytesMut,
}

impl TcpPhone {
    async fn send(&mut self, message: &Message) {
        self.stream.write_all(&message.to_bytes()).await.expect("write");
    }

    async fn recv(&mut self) -> Message {
        let read = async {
            loop {
                if let Some(message) = Message::parse_stream(&mut self.buf, &Limits::default()).expect("framed") {
                    return message;
                }
                let n = self.stream.read_buf(&mut self.buf).await.expect("read");
                assert!(n > 0, "the proxy closed the connection");
            }
        };
        tokio::time::timeout(WAIT, read).await.expect("a message within the wait")
    }

    async fn final_response(&mut self) -> Message {
        loop {
            let message = self.recv().await;
            if message.status().is_some_and(|s| s.as_u16() >= 200) {
                return message;
            }
        }
    }
}

fn register(local: std::net::SocketAddr, cseq: u32, contact: &str, credentials: Option<&str>) -> Message {
    let mut text = format!(
        "REGISTER sip:{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bKtcp{cseq};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:4001@{DOMAIN}>;tag=tcp\r\nTo: <sip:4001@{DOMAIN}>\r\n\
         Call-ID: tcp-reg\r\nCSeq: {cseq} REGISTER\r\nContact: <{contact}>\r\nExpires: 600\r\n"
    );
    if let Some(credentials) = credentials {
        text.push_str(&format!("Authorization: {credentials}\r\n"));
    }
    text.push_str("Content-Length: 0\r\n\r\n");
    Message::parse(Bytes::from(text)).expect("a valid REGISTER")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_reaches_a_tcp_phone_over_the_connection_it_registered_on_rfc5626_5_3() {
    let campus = Campus::new().await;
    let service = Running::start(config(&campus)).await;
    let stream = TcpStream::connect(service.tcp).await.expect("connect over TCP");
    let local = stream.local_addr().expect("local address");
    let mut phone = TcpPhone { stream, buf: BytesMut::new() };
    // A private address nobody could reach: only the connection leads to the phone.
    let contact = "sip:4001@10.255.0.5:5060;transport=tcp";
    phone.send(&register(local, 1, contact, None)).await;
    let challenge = phone.final_response().await;
    assert_eq!(challenge.status(), Some(StatusCode::UNAUTHORIZED));
    let digest = Ua::new(service.udp, "4001", &campus.password("4001")).await;
    let credentials =
        digest.answer(&challenge, HeaderName::WwwAuthenticate, Algorithm::Sha256, "REGISTER", &format!("sip:{DOMAIN}"));
    phone.send(&register(local, 2, contact, Some(&credentials))).await;
    let ok = phone.final_response().await;
    assert_eq!(ok.status(), Some(StatusCode::OK), "{ok:?}");

    let mut caller = Ua::new(service.udp, "4000", &campus.password("4000")).await;
    let call_id = format!("call-{}", caller.unique());
    let invite = common::authenticated_invite(&mut caller, "4001", &call_id).await;
    let forwarded = loop {
        let message = phone.recv().await;
        if message.method().is_some() {
            break message;
        }
    };
    assert_eq!(forwarded.request_uri(), Some(contact), "{forwarded:?}");
    assert!(forwarded.top_via().expect("a Via").transport.eq_ignore_ascii_case("TCP"), "{forwarded:?}");
    let busy = Message::response_to(&forwarded, StatusCode::BUSY_HERE).to_tag("tcp-phone").build().expect("486");
    phone.send(&busy).await;
    let answer = caller.final_response().await;
    assert_eq!(answer.status(), Some(StatusCode::BUSY_HERE), "{answer:?}");
    caller.send(&common::ack_for(&invite, &answer)).await;
    service.stop().await;
}
