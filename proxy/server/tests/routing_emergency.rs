//! Emergency numbers and redirect mode through the running service: 911, 9911 and 933 go to the emergency
//! gateway without an outside-line prefix, whatever the caller's class, without a 407 from a registered phone's
//! address (and while the database is down); calls to a configured off-site domain are answered 302.

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod common;
mod routing_support;

use carillon_sip::{HeaderName, Method, StatusCode};
use carillon_testkit::PostgresServer;
use common::{Campus, Running, Ua, config};
use routing_support::{
    answer, call, final_answer, gateway, next_request, phone, point_demo_gateway, set_class, unauthenticated_invite,
};

/// Where the gateway's socket would send requests of its own: it sends none, it only answers.
const NOWHERE: &str = "127.0.0.1:9";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emergency_numbers_from_a_registered_phone_reach_the_gateway_without_a_challenge() {
    let campus = Campus::new().await;
    // A class that may call nothing at all: emergency calls cannot be denied.
    set_class(&campus.pool, "4000", "lobby").await;
    // The emergency numbers are read at start: the gateway is moved first.
    let gw = gateway(NOWHERE.parse().expect("address")).await;
    let gw_port = gw.addr.port();
    point_demo_gateway(&campus.pool, gw_port).await;
    let service = Running::start(config(&campus)).await;
    let mut caller = phone(service.udp, &campus, "4000").await;

    for (dialled, sent) in [("911", "911"), ("9911", "911"), ("933", "933")] {
        let invite = unauthenticated_invite(&mut caller, dialled).await;
        let (emergency, from) = next_request(&gw, Method::Invite).await;
        let expected = format!("sip:{sent}@127.0.0.1:{gw_port};transport=udp");
        assert_eq!(emergency.request_uri(), Some(expected.as_str()), "{dialled}");
        answer(&gw, &emergency, StatusCode::OK, from).await;
        let ok = caller.final_response().await;
        assert_eq!(ok.status(), Some(StatusCode::OK), "{dialled} without a 407 first: {ok:?}");
        assert_eq!(ok.call_id().ok(), invite.call_id().ok());
    }
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emergency_call_from_an_unregistered_address_is_authenticated_then_routed() {
    let campus = Campus::new().await;
    set_class(&campus.pool, "4000", "lobby").await;
    let gw = gateway(NOWHERE.parse().expect("address")).await;
    point_demo_gateway(&campus.pool, gw.addr.port()).await;
    let service = Running::start(config(&campus)).await;
    let mut caller = Ua::new(service.udp, "4000", &campus.password("4000")).await;
    let invite = call(&mut caller, "911").await;
    let (emergency, from) = next_request(&gw, Method::Invite).await;
    assert!(emergency.request_uri().is_some_and(|u| u.starts_with("sip:911@")), "{emergency:?}");
    answer(&gw, &emergency, StatusCode::BUSY_HERE, from).await;
    assert_eq!(final_answer(&caller, &invite).await.status(), Some(StatusCode::BUSY_HERE));

    // A stranger (another domain, no registration) is not relayed to the emergency gateway.
    let stranger = Ua::new(service.udp, "someone", "").await;
    let text = format!(
        "INVITE sip:911@campus.test SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKstranger;rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:someone@elsewhere.example>;tag=s\r\nTo: <sip:911@campus.test>\r\n\
         Call-ID: stranger-1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
        stranger.addr
    );
    let foreign = carillon_sip::Message::parse(bytes::Bytes::from(text)).expect("an INVITE");
    stranger.send(&foreign).await;
    let refused = final_answer(&stranger, &foreign).await;
    assert_eq!(refused.status(), Some(StatusCode::FORBIDDEN), "{refused:?}");
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emergency_calls_go_through_while_the_database_is_down() {
    let mut postgres = PostgresServer::start().expect("start a private PostgreSQL");
    let campus = Campus::on(&postgres).await;
    let gw = gateway(NOWHERE.parse().expect("address")).await;
    point_demo_gateway(&campus.pool, gw.addr.port()).await;
    let service = Running::start(config(&campus)).await;
    let mut caller = phone(service.udp, &campus, "4000").await;
    postgres.stop().expect("stop PostgreSQL");

    unauthenticated_invite(&mut caller, "911").await;
    let (emergency, from) = next_request(&gw, Method::Invite).await;
    assert!(emergency.request_uri().is_some_and(|u| u.starts_with("sip:911@")), "{emergency:?}");
    answer(&gw, &emergency, StatusCode::OK, from).await;
    assert_eq!(caller.final_response().await.status(), Some(StatusCode::OK));

    postgres.start_again().expect("start PostgreSQL again");
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_to_a_redirect_domain_are_answered_302_with_the_contact_rfc3261_21_3_3() {
    let campus = Campus::new().await;
    let mut settings = config(&campus);
    settings.routing.redirect_domains = vec!["partner.example".into()];
    let service = Running::start(settings).await;
    let mut caller = Ua::new(service.udp, "4000", &campus.password("4000")).await;
    let uri = "sip:bob@partner.example";
    let call_id = format!("call-{}", caller.unique());
    let invite = caller.request("INVITE", uri, &format!("<{uri}>"), &call_id, 1, &[]);
    let moved = caller.transact(&invite).await;
    assert_eq!(moved.status(), Some(StatusCode::MOVED_TEMPORARILY), "no 407 first: {moved:?}");
    assert_eq!(moved.header(HeaderName::Contact), Some("<sip:bob@partner.example>"));
    caller.send(&common::ack_for(&invite, &moved)).await;

    // Other domains are still proxied (after authentication).
    let uri = "sip:carol@elsewhere.example";
    let other = caller.request("INVITE", uri, &format!("<{uri}>"), "call-other", 1, &[]);
    let challenged = caller.transact(&other).await;
    assert_eq!(challenged.status(), Some(StatusCode::PROXY_AUTHENTICATION_REQUIRED), "{challenged:?}");
    caller.send(&common::ack_for(&other, &challenged)).await;
    service.stop().await;
}
