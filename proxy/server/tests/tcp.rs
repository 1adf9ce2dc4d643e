//! A phone on TCP behind NAT: it registers over its connection with a private Contact address, and a call to it
//! comes back over that same connection (RFC 3261 §18, RFC 5626 §5.3 flows, RFC 3581); so do the dialog's later
//! requests, by the route token in the proxy's Record-Route, until the connection is gone (430 Flow Failed).

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod common;

use bytes::{Bytes, BytesMut};
use carillon_sip::auth::Algorithm;
use carillon_sip::framing::Limits;
use carillon_sip::{HeaderName, Message, StatusCode};
use common::{Campus, DOMAIN, Running, Ua, WAIT, config};
use std::time::Duration;

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

/// Registers 4001 over a new TCP connection with `contact`: the phone, on that connection.
async fn registered_phone(service: &Running, campus: &Campus, contact: &str) -> TcpPhone {
    let stream = TcpStream::connect(service.tcp).await.expect("connect over TCP");
    let local = stream.local_addr().expect("local address");
    let mut phone = TcpPhone { stream, buf: BytesMut::new() };
    phone.send(&register(local, 1, contact, None)).await;
    let challenge = phone.final_response().await;
    assert_eq!(challenge.status(), Some(StatusCode::UNAUTHORIZED));
    let digest = Ua::new(service.udp, "4001", &campus.password("4001")).await;
    let credentials =
        digest.answer(&challenge, HeaderName::WwwAuthenticate, Algorithm::Sha256, "REGISTER", &format!("sip:{DOMAIN}"));
    phone.send(&register(local, 2, contact, Some(&credentials))).await;
    let ok = phone.final_response().await;
    assert_eq!(ok.status(), Some(StatusCode::OK), "{ok:?}");
    phone
}

impl TcpPhone {
    /// The next request (responses to the phone's own requests are skipped).
    async fn request(&mut self) -> Message {
        loop {
            let message = self.recv().await;
            if message.method().is_some() {
                return message;
            }
        }
    }

    /// Answers `request` with `status`, its Record-Route copied (RFC 3261 §12.1.1), and `contact` as Contact.
    async fn answer(&mut self, request: &Message, status: StatusCode, contact: &str) -> Message {
        let mut builder = Message::response_to(request, status).to_tag("tcp-phone");
        for value in request.header_values(HeaderName::RecordRoute) {
            builder = builder.header("Record-Route", value);
        }
        let response = builder.header("Contact", format!("<{contact}>")).build().expect("a response");
        self.send(&response).await;
        response
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_reaches_a_tcp_phone_over_the_connection_it_registered_on_rfc5626_5_3() {
    let campus = Campus::new().await;
    let service = Running::start(config(&campus)).await;
    // A private address nobody could reach: only the connection leads to the phone.
    let contact = "sip:4001@10.255.0.5:5060;transport=tcp";
    let mut phone = registered_phone(&service, &campus, contact).await;

    let mut caller = Ua::new(service.udp, "4000", &campus.password("4000")).await;
    let call_id = format!("call-{}", caller.unique());
    let invite = common::authenticated_invite(&mut caller, "4001", &call_id).await;
    let forwarded = phone.request().await;
    assert_eq!(forwarded.request_uri(), Some(contact), "{forwarded:?}");
    assert!(forwarded.top_via().expect("a Via").transport.eq_ignore_ascii_case("TCP"), "{forwarded:?}");
    let busy = Message::response_to(&forwarded, StatusCode::BUSY_HERE).to_tag("tcp-phone").build().expect("486");
    phone.send(&busy).await;
    let answer = caller.final_response().await;
    assert_eq!(answer.status(), Some(StatusCode::BUSY_HERE), "{answer:?}");
    caller.send(&common::ack_for(&invite, &answer)).await;
    service.stop().await;
}

/// The caller's in-dialog requests of a call to the TCP phone: its ACK and BYE to the phone's Contact, with the
/// route set the 200's Record-Route gives (reversed, RFC 3261 §12.1.2).
fn in_dialog(caller: &mut Ua, method: &str, ok: &Message, call_id: &str, cseq: u32) -> Message {
    let contact = ok.header(HeaderName::Contact).expect("a Contact").trim_matches(|c| c == '<' || c == '>').to_owned();
    let mut routes: Vec<&str> = ok.header_values(HeaderName::RecordRoute).collect();
    routes.reverse();
    let to = ok.header(HeaderName::To).expect("To").to_owned();
    caller.request(method, &contact, &to, call_id, cseq, &[("Route", routes.join(", "))])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_bye_reaches_a_tcp_phone_over_its_connection_and_430_once_it_is_gone_rfc5626_5_3() {
    let campus = Campus::new().await;
    let service = Running::start(config(&campus)).await;
    // A loopback port where nothing listens stands in for the phone's private address: a request that went there
    // instead of over the connection would find nobody (and never leave the machine).
    let contact = format!("sip:4001@127.0.0.2:{};transport=tcp", common::free_udp_port());
    let mut phone = registered_phone(&service, &campus, &contact).await;
    let mut caller = Ua::new(service.udp, "4000", &campus.password("4000")).await;

    for (call, phone_hangs_up_first) in [(1, false), (2, true)] {
        let call_id = format!("call-{call}-{}", caller.unique());
        common::authenticated_invite(&mut caller, "4001", &call_id).await;
        let invite = phone.request().await;
        let record_route: Vec<&str> = invite.header_values(HeaderName::RecordRoute).collect();
        assert_eq!(record_route.len(), 2, "the phone's side carries a token of its connection: {record_route:?}");
        assert!(record_route[0].contains(&format!("@{};transport=tcp;lr>", service.tcp)), "{record_route:?}");
        phone.answer(&invite, StatusCode::OK, &contact).await;
        let ok = caller.final_response().await;
        assert_eq!(ok.status(), Some(StatusCode::OK), "{ok:?}");
        let ack = in_dialog(&mut caller, "ACK", &ok, &call_id, 2);
        caller.send(&ack).await;
        let ack = phone.request().await;
        assert_eq!(ack.method().map(|m| m.as_str()), Some("ACK"), "the ACK comes over the connection: {ack:?}");

        let bye = in_dialog(&mut caller, "BYE", &ok, &call_id, 3);
        if phone_hangs_up_first {
            // The phone's connection closes (its NAT binding expired, it rebooted): the dialog's flow is gone.
            drop(phone);
            tokio::time::sleep(Duration::from_millis(200)).await;
            let answer = caller.transact(&bye).await;
            assert_eq!(answer.status(), Some(StatusCode::FLOW_FAILED), "{answer:?}");
            break;
        }
        caller.send(&bye).await;
        let received = phone.request().await;
        assert_eq!(received.method().map(|m| m.as_str()), Some("BYE"), "{received:?}");
        assert_eq!(received.request_uri(), Some(contact.as_str()), "addressed to the Contact, sent over the flow");
        phone.answer(&received, StatusCode::OK, &contact).await;
        let answer = caller.final_response().await;
        assert_eq!(answer.status(), Some(StatusCode::OK), "{answer:?}");
    }
    service.stop().await;
}
