//! Calls leaving the campus through the running service: calling permissions of the caller's class (403 with a
//! reason naming them), the outside-line prefix with per-trunk digit manipulation, least-cost routing with
//! failover to the next trunk on 5xx and transport errors (and not on busy), and a trunk's digest challenge
//! answered with the trunk's credentials. Gateways and trunks are UDP sockets of the test.

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod common;
mod routing_support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use carillon_db::{CallCategory, Trunk, TrunkKind};
use carillon_sip::auth::{
    AuthRequest, Challenger, Credentials, DigestServer, Ha1, HashFunction, NonceCountWindow, NonceIssuer, StoredUser,
};
use carillon_sip::target::Transport;
use carillon_sip::{HeaderName, Message, Method, StatusCode};
use common::{Campus, Running, Ua, config};
use routing_support::{
    answer, call, closed_tcp_port, final_answer, gateway, next_request, no_request_within, point_demo_gateway,
    set_class,
};

fn trunk(name: &str, port: u16, transport: Transport) -> Trunk {
    Trunk {
        name: name.into(),
        kind: TrunkKind::Gateway,
        host: "127.0.0.1".into(),
        port: Some(port),
        transport: Some(transport),
        auth_username: None,
        auth_realm: None,
        auth_ha1_md5: None,
        auth_ha1_sha256: None,
        auth_password_sealed: None,
    }
}

/// Adds the route `prefix` (long distance) with `trunks` as (trunk, priority, cost, strip, prepend).
async fn add_route(campus: &Campus, prefix: &str, trunks: &[(Trunk, i16, i32, u8, &str)]) {
    let route = carillon_db::add_outbound_route(&campus.pool, prefix, CallCategory::LongDistance, "test")
        .await
        .expect("route added");
    for (trunk, priority, cost, strip, prepend) in trunks {
        let id = carillon_db::add_trunk(&campus.pool, trunk).await.expect("trunk added");
        carillon_db::add_route_trunk(&campus.pool, route, id, *priority, *cost, *strip, prepend)
            .await
            .expect("trunk in route");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calling_permissions_are_checked_before_any_outside_call_and_read_per_call() {
    let campus = Campus::new().await;
    set_class(&campus.pool, "4000", "student").await;
    let service = Running::start(config(&campus)).await;
    let gw = gateway(service.udp).await;
    point_demo_gateway(&campus.pool, gw.addr.port()).await;
    let mut caller = Ua::new(service.udp, "4000", &campus.password("4000")).await;

    for (dialled, reason) in [
        ("9011442079460000", "Forbidden: international calls not permitted"),
        ("912125551234", "Forbidden: long distance calls not permitted"),
    ] {
        let invite = call(&mut caller, dialled).await;
        let refused = final_answer(&caller, &invite).await;
        assert_eq!(refused.status(), Some(StatusCode::FORBIDDEN), "{dialled}: {refused:?}");
        assert_eq!(refused.reason(), Some(reason), "{dialled}");
    }
    no_request_within(&gw, Duration::from_millis(200), "a refused call reaches no gateway").await;

    // A local number is allowed to students: the prefix 9 is removed.
    let invite = call(&mut caller, "95551234").await;
    let (outside, from) = next_request(&gw, Method::Invite).await;
    let expected = format!("sip:5551234@127.0.0.1:{};transport=udp", gw.addr.port());
    assert_eq!(outside.request_uri(), Some(expected.as_str()));
    assert!(outside.header(HeaderName::ProxyAuthorization).is_none(), "the caller's credentials stay here");
    answer(&gw, &outside, StatusCode::BUSY_HERE, from).await;
    assert_eq!(final_answer(&caller, &invite).await.status(), Some(StatusCode::BUSY_HERE));

    // The class changes between two calls, without a restart.
    set_class(&campus.pool, "4000", "faculty").await;
    let invite = call(&mut caller, "9011442079460000").await;
    let (outside, from) = next_request(&gw, Method::Invite).await;
    let expected = format!("sip:011442079460000@127.0.0.1:{};transport=udp", gw.addr.port());
    assert_eq!(outside.request_uri(), Some(expected.as_str()));
    answer(&gw, &outside, StatusCode::BUSY_HERE, from).await;
    assert_eq!(final_answer(&caller, &invite).await.status(), Some(StatusCode::BUSY_HERE));

    // A class without the internal permission cannot call extensions either.
    set_class(&campus.pool, "4000", "lobby").await;
    let invite = call(&mut caller, "4001").await;
    let refused = final_answer(&caller, &invite).await;
    assert_eq!(refused.reason(), Some("Forbidden: internal calls not permitted"), "{refused:?}");
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_cost_routing_fails_over_on_5xx_and_transport_errors_but_not_on_busy() {
    let campus = Campus::new().await;
    set_class(&campus.pool, "4000", "faculty").await;
    let service = Running::start(config(&campus)).await;
    let (cheap, dearer, backup) = (gateway(service.udp).await, gateway(service.udp).await, gateway(service.udp).await);
    add_route(
        &campus,
        "1212",
        &[
            (trunk("backup", backup.addr.port(), Transport::Udp), 1, 0, 0, ""),
            (trunk("dearer", dearer.addr.port(), Transport::Udp), 0, 9, 0, ""),
            (trunk("cheap", cheap.addr.port(), Transport::Udp), 0, 2, 1, "+1"),
        ],
    )
    .await;
    let mut caller = Ua::new(service.udp, "4000", &campus.password("4000")).await;

    let invite = call(&mut caller, "912125551234").await;
    let (first, from) = next_request(&cheap, Method::Invite).await;
    let expected = format!("sip:+12125551234@127.0.0.1:{};transport=udp", cheap.addr.port());
    assert_eq!(first.request_uri(), Some(expected.as_str()), "strip 1, prepend +1");
    answer(&cheap, &first, StatusCode::SERVICE_UNAVAILABLE, from).await;
    let (second, from) = next_request(&dearer, Method::Invite).await;
    let expected = format!("sip:12125551234@127.0.0.1:{};transport=udp", dearer.addr.port());
    assert_eq!(second.request_uri(), Some(expected.as_str()), "the next trunk after a 503");
    answer(&dearer, &second, StatusCode::BUSY_HERE, from).await;
    let busy = final_answer(&caller, &invite).await;
    assert_eq!(busy.status(), Some(StatusCode::BUSY_HERE), "{busy:?}");
    no_request_within(&backup, Duration::from_millis(300), "a busy number is not dialled again elsewhere").await;

    // The cheap trunk moves to a TCP port where nothing listens: the connection is refused and the next trunk
    // takes the call.
    sqlx::query("UPDATE trunks SET transport = 'tcp', port = $1 WHERE name = 'cheap'")
        .bind(i32::from(closed_tcp_port()))
        .execute(&campus.pool)
        .await
        .expect("trunk moved");
    let invite = call(&mut caller, "912125551234").await;
    let (second, from) = next_request(&dearer, Method::Invite).await;
    answer(&dearer, &second, StatusCode::SERVER_INTERNAL_ERROR, from).await;
    let (third, from) = next_request(&backup, Method::Invite).await;
    answer(&backup, &third, StatusCode::OK, from).await;
    let ok = final_answer(&caller, &invite).await;
    assert_eq!(ok.status(), Some(StatusCode::OK), "the backup trunk answered: {ok:?}");
    service.stop().await;
}

fn now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970")
}

/// The trunk's challenge: 407 with the provider's digest challenges.
fn challenge(server: &DigestServer, invite: &Message) -> Message {
    let uri = invite.request_uri().expect("a Request-URI");
    let auth = AuthRequest { method: "INVITE", request_uri: uri, now: now(), binding: &[] };
    let mut builder = Message::response_to(invite, StatusCode::PROXY_AUTHENTICATION_REQUIRED).to_tag("itsp");
    for c in server.challenges(&auth, rand::random(), false) {
        builder = builder.header(Challenger::Proxy.challenge_header().as_str(), c.to_string());
    }
    builder.build().expect("a 407")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trunk_challenge_is_answered_with_the_trunk_credentials_and_a_cancel_follows_rfc3261_22_3() {
    let campus = Campus::new().await;
    set_class(&campus.pool, "4000", "faculty").await;
    let service = Running::start(config(&campus)).await;
    let itsp = gateway(service.udp).await;
    let realm = "itsp.example";
    let mut provider = trunk("itsp", itsp.addr.port(), Transport::Udp);
    provider.kind = TrunkKind::Provider;
    provider.auth_username = Some("acct-17".into());
    provider.auth_realm = Some(realm.into());
    provider.auth_ha1_sha256 = Some(Ha1::compute(HashFunction::Sha256, "acct-17", realm, "trunk-secret"));
    add_route(&campus, "1313", &[(provider, 0, 0, 0, "")]).await;
    let server = DigestServer::new(realm.to_owned(), NonceIssuer::new(rand::random(), Duration::from_secs(60)));
    let mut caller = Ua::new(service.udp, "4000", &campus.password("4000")).await;

    // A challenge the proxy cannot answer (none it can use) is a failure of the trunk, never a 407 for the caller.
    let invite = call(&mut caller, "913135551234").await;
    let (first, from) = next_request(&itsp, Method::Invite).await;
    assert!(first.header(HeaderName::ProxyAuthorization).is_none(), "{first:?}");
    answer(&itsp, &first, StatusCode::PROXY_AUTHENTICATION_REQUIRED, from).await;
    let failed = final_answer(&caller, &invite).await;
    assert_eq!(failed.status(), Some(StatusCode::SERVER_INTERNAL_ERROR), "{failed:?}");

    let invite = call(&mut caller, "913135551234").await;
    let (first, from) = next_request(&itsp, Method::Invite).await;
    itsp.socket.send_to(&challenge(&server, &first).to_bytes(), from).await.expect("407");
    next_request(&itsp, Method::Ack).await;
    let (second, from) = next_request(&itsp, Method::Invite).await;
    assert_eq!(second.cseq().expect("CSeq").seq, first.cseq().expect("CSeq").seq, "the caller's CSeq");
    let branch = |m: &Message| m.top_via().expect("Via").branch().expect("branch").to_owned();
    assert_ne!(branch(&second), branch(&first), "a new transaction");
    let values: Vec<&str> = second.header_values(HeaderName::ProxyAuthorization).collect();
    assert_eq!(values.len(), 1, "only the trunk's credentials: {values:?}");
    let credentials = Credentials::parse(values[0], HeaderName::ProxyAuthorization).expect("credentials");
    let digest = credentials.as_digest().expect("digest");
    assert_eq!(digest.username, "acct-17");
    let ha1 = Ha1::compute(HashFunction::Sha256, "acct-17", realm, "trunk-secret");
    let auth =
        AuthRequest { method: "INVITE", request_uri: second.request_uri().expect("uri"), now: now(), binding: &[] };
    let verdict = server.verify(
        &mut NonceCountWindow::new(16),
        &auth,
        digest,
        Some(StoredUser { username: "acct-17", ha1: &ha1 }),
    );
    assert!(verdict.is_authenticated(), "{verdict:?}");

    // The call rings at the provider; the caller hangs up: the CANCEL must match the INVITE sent again.
    let ringing = Message::response_to(&second, StatusCode::RINGING).to_tag("itsp").build().expect("180");
    itsp.socket.send_to(&ringing.to_bytes(), from).await.expect("180");
    loop {
        let (message, _) = caller.recv().await;
        if message.status() == Some(StatusCode::RINGING) {
            break;
        }
    }
    caller.send(&carillon_sip::transaction::build_cancel(&invite).expect("a CANCEL")).await;
    let (cancel, from) = next_request(&itsp, Method::Cancel).await;
    assert_eq!(branch(&cancel), branch(&second), "RFC 3261 §9.1: the CANCEL's branch is its INVITE's");
    answer(&itsp, &cancel, StatusCode::OK, from).await;
    answer(&itsp, &second, StatusCode::REQUEST_TERMINATED, from).await;
    let terminated = loop {
        let answer = caller.final_response().await;
        if answer.cseq().is_ok_and(|c| c.method_text == "INVITE") {
            break answer;
        }
    };
    assert_eq!(terminated.status(), Some(StatusCode::REQUEST_TERMINATED), "{terminated:?}");
    caller.send(&common::ack_for(&invite, &terminated)).await;
    service.stop().await;
}
