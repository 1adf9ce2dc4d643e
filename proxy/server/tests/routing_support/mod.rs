//! What the routing tests share on top of `common`: phones that register their own socket and answer by hand,
//! fake gateways and trunks on loopback, and database edits (classes, forwarding, trunks) made between calls.

#![allow(dead_code)] // each test file uses its own part of the helpers
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)] // test code: a failed expectation fails the test

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use carillon_sip::auth::Algorithm;
use carillon_sip::{Message, Method, StatusCode};
use sqlx::PgPool;

use crate::common::{Campus, DOMAIN, Ua};

/// A phone of the demo campus registered at its own socket, so it gets the calls to its line.
pub(crate) async fn phone(proxy: SocketAddr, campus: &Campus, extension: &str) -> Ua {
    let mut phone = Ua::new(proxy, extension, &campus.password(extension)).await;
    let contact = format!("sip:{extension}@{}", phone.addr);
    let ok = phone.register(&contact, 600, Algorithm::Sha256).await;
    assert_eq!(ok.status(), Some(StatusCode::OK), "{extension} registers: {ok:?}");
    phone
}

/// A socket on loopback standing for a gateway or trunk (anything that receives requests from the proxy).
pub(crate) async fn gateway(proxy: SocketAddr) -> Ua {
    Ua::new(proxy, "gateway", "").await
}

/// The next request `ua` receives with `method`, and where it came from; responses and other requests are
/// skipped.
pub(crate) async fn next_request(ua: &Ua, method: Method) -> (Message, SocketAddr) {
    loop {
        let (message, from) = ua.recv().await;
        if message.method() == Some(&method) {
            return (message, from);
        }
    }
}

/// Asserts that `ua` receives no request for `wait`.
pub(crate) async fn no_request_within(ua: &Ua, wait: Duration, why: &str) {
    let until = Instant::now() + wait;
    let mut buf = vec![0u8; 65_535];
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        match tokio::time::timeout(left, ua.socket.recv_from(&mut buf)).await {
            Err(_) => return,
            Ok(Ok((n, _))) => {
                let message = Message::parse(bytes::Bytes::copy_from_slice(&buf[..n])).expect("a SIP message");
                assert!(message.method().is_none(), "{why}: {} received {message:?}", ua.user);
            }
            Ok(Err(e)) => panic!("receive: {e}"),
        }
    }
}

/// Answers `request` (received from `to`) with `status`; a 2xx carries a Contact and the Record-Route. A final
/// non-2xx answer to an INVITE waits for the proxy's ACK (RFC 3261 §17.1.1.3), so it is not mistaken for a later
/// request.
pub(crate) async fn answer(ua: &Ua, request: &Message, status: StatusCode, to: SocketAddr) {
    let mut builder = Message::response_to(request, status).to_tag(&format!("{}-tag", ua.addr.port()));
    if status.is_success() {
        builder = builder.record_route_from(request).header("Contact", format!("<sip:{}@{}>", ua.user, ua.addr));
    }
    let response = builder.build().expect("a response");
    ua.socket.send_to(&response.to_bytes(), to).await.expect("send a response");
    if request.method() == Some(&Method::Invite) && status.as_u16() >= 300 {
        next_request(ua, Method::Ack).await;
    }
}

/// Rings: 180 for an INVITE the phone then never answers, until the proxy cancels it (200 to the CANCEL, 487 to
/// the INVITE). Returns when the CANCEL came.
pub(crate) async fn ring_until_cancelled(ua: &Ua, invite: &Message, from: SocketAddr) {
    answer(ua, invite, StatusCode::RINGING, from).await;
    let (cancel, from) = next_request(ua, Method::Cancel).await;
    answer(ua, &cancel, StatusCode::OK, from).await;
    answer(ua, invite, StatusCode::REQUEST_TERMINATED, from).await;
}

/// The final response the caller gets, answering a non-2xx with its ACK.
pub(crate) async fn final_answer(caller: &Ua, invite: &Message) -> Message {
    let answer = caller.final_response().await;
    if answer.status().is_some_and(|s| !s.is_success()) {
        caller.send(&crate::common::ack_for(invite, &answer)).await;
    }
    answer
}

/// An INVITE from `caller` to `dialled` without credentials, sent; the request.
pub(crate) async fn unauthenticated_invite(caller: &mut Ua, dialled: &str) -> Message {
    let uri = format!("sip:{dialled}@{DOMAIN}");
    let call_id = format!("call-{}", caller.unique());
    let contact = format!("<sip:{}@{}>", caller.user, caller.addr);
    let invite = caller.request("INVITE", &uri, &format!("<{uri}>"), &call_id, 1, &[("Contact", contact)]);
    caller.send(&invite).await;
    invite
}

/// An authenticated INVITE from `caller` to `dialled`, sent after the 407; the request.
pub(crate) async fn call(caller: &mut Ua, dialled: &str) -> Message {
    let call_id = format!("call-{}", caller.unique());
    crate::common::authenticated_invite(caller, dialled, &call_id).await
}

/// The user id of the demo line `extension`.
pub(crate) async fn user_id(pool: &PgPool, extension: &str) -> i64 {
    sqlx::query_scalar("SELECT user_id FROM lines WHERE username = $1")
        .bind(extension)
        .fetch_one(pool)
        .await
        .expect("a demo line")
}

/// Puts the user of `extension` in the demo class `class` (`faculty`, `staff`, `student`) or a class of that name
/// created with no permission at all.
pub(crate) async fn set_class(pool: &PgPool, extension: &str, class: &str) {
    sqlx::query(
        "INSERT INTO user_classes (domain_id, name, may_call_internal, may_call_campus, may_call_local,
                                   may_call_long_distance, may_call_international)
         SELECT id, $1, false, false, false, false, false FROM domains
         ON CONFLICT DO NOTHING",
    )
    .bind(class)
    .execute(pool)
    .await
    .expect("the class exists");
    let id = user_id(pool, extension).await;
    sqlx::query("UPDATE users SET user_class_id = (SELECT id FROM user_classes WHERE name = $1) WHERE id = $2")
        .bind(class)
        .bind(id)
        .execute(pool)
        .await
        .expect("class changed");
}

/// Replaces the forwarding settings of `extension`'s user.
pub(crate) async fn set_forwarding(pool: &PgPool, extension: &str, forwarding: &carillon_db::Forwarding) {
    let id = user_id(pool, extension).await;
    carillon_db::set_forwarding(pool, id, forwarding).await.expect("forwarding stored");
}

/// Points the demo gateway (routes for local, long-distance and international numbers, and the emergency
/// numbers) at `port` on loopback over UDP.
pub(crate) async fn point_demo_gateway(pool: &PgPool, port: u16) {
    sqlx::query("UPDATE trunks SET host = '127.0.0.1', port = $1, transport = 'udp' WHERE name = 'demo-gateway'")
        .bind(i32::from(port))
        .execute(pool)
        .await
        .expect("gateway moved");
}

/// A free TCP port on loopback with nothing listening (bound and released).
pub(crate) fn closed_tcp_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}
