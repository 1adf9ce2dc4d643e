//! Call forwarding through the running service, read from the database per call: unconditional, do-not-disturb,
//! busy, no answer after N seconds, and sequential ringing ("ring the desk, then the mobile"). Phones are UDP
//! sockets of the test answering by hand; the mobile is reached through the demo gateway, also a test socket.

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod common;
mod routing_support;

use std::time::{Duration, Instant};

use carillon_db::{Forwarding, RingStep, RingTarget};
use carillon_sip::{Method, StatusCode};
use common::{Campus, Running, Ua, config};
use routing_support::{
    answer, call, final_answer, gateway, next_request, no_request_within, phone, point_demo_gateway,
    ring_until_cancelled, set_class, set_forwarding,
};

/// The campus, every user in the class that may call everything, the demo gateway on a test socket, the
/// service running, and 4001 and 4002 registered.
async fn lab() -> (Campus, Running, Ua, Ua, Ua) {
    let campus = Campus::new().await;
    for extension in ["4000", "4001", "4002"] {
        set_class(&campus.pool, extension, "faculty").await;
    }
    let service = Running::start(config(&campus)).await;
    let gw = gateway(service.udp).await;
    point_demo_gateway(&campus.pool, gw.addr.port()).await;
    let desk = phone(service.udp, &campus, "4001").await;
    let other = phone(service.udp, &campus, "4002").await;
    (campus, service, gw, desk, other)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unconditional_forward_is_read_per_call_and_reaches_an_extension_or_an_outside_number() {
    let (campus, service, gw, desk, other) = lab().await;
    let mut caller = Ua::new(service.udp, "4000", &campus.password("4000")).await;

    let invite = call(&mut caller, "4001").await;
    let (reached, from) = next_request(&desk, Method::Invite).await;
    answer(&desk, &reached, StatusCode::BUSY_HERE, from).await;
    assert_eq!(final_answer(&caller, &invite).await.status(), Some(StatusCode::BUSY_HERE), "no forwarding yet");

    // Changed between two calls, without a restart.
    let to_4002 = Forwarding { unconditional_target: Some("4002".into()), ..Forwarding::default() };
    set_forwarding(&campus.pool, "4001", &to_4002).await;
    let invite = call(&mut caller, "4001").await;
    let (reached, from) = next_request(&other, Method::Invite).await;
    assert_eq!(reached.request_uri().map(str::to_owned), Some(format!("sip:4002@{}", other.addr)));
    answer(&other, &reached, StatusCode::BUSY_HERE, from).await;
    assert_eq!(final_answer(&caller, &invite).await.status(), Some(StatusCode::BUSY_HERE));
    no_request_within(&desk, Duration::from_millis(300), "the forwarded user's phone does not ring").await;

    let to_mobile = Forwarding { unconditional_target: Some("96175551234".into()), ..Forwarding::default() };
    set_forwarding(&campus.pool, "4001", &to_mobile).await;
    let invite = call(&mut caller, "4001").await;
    let (reached, from) = next_request(&gw, Method::Invite).await;
    let expected = format!("sip:6175551234@127.0.0.1:{};transport=udp", gw.addr.port());
    assert_eq!(reached.request_uri(), Some(expected.as_str()), "the outside-line prefix is removed");
    answer(&gw, &reached, StatusCode::OK, from).await;
    assert_eq!(final_answer(&caller, &invite).await.status(), Some(StatusCode::OK));
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn do_not_disturb_answers_486_without_ringing() {
    let (campus, service, _gw, desk, _other) = lab().await;
    set_forwarding(&campus.pool, "4001", &Forwarding { do_not_disturb: true, ..Forwarding::default() }).await;
    let mut caller = Ua::new(service.udp, "4000", &campus.password("4000")).await;
    let invite = call(&mut caller, "4001").await;
    let busy = final_answer(&caller, &invite).await;
    assert_eq!(busy.status(), Some(StatusCode::BUSY_HERE), "{busy:?}");
    no_request_within(&desk, Duration::from_millis(300), "do-not-disturb rings nothing").await;
    let call_id = invite.call_id().expect("Call-ID").to_owned();
    assert_eq!(campus.wait_for_call_records(&call_id).await, ["BUSY"]);
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_forward_starts_when_the_phones_are_busy_and_the_no_answer_forward_does_not() {
    let (campus, service, gw, desk, other) = lab().await;
    let settings = Forwarding {
        busy_target: Some("4002".into()),
        no_answer_target: Some("96175551234".into()),
        ..Forwarding::default()
    };
    set_forwarding(&campus.pool, "4001", &settings).await;
    let mut caller = Ua::new(service.udp, "4000", &campus.password("4000")).await;
    let invite = call(&mut caller, "4001").await;
    let (ringing, from) = next_request(&desk, Method::Invite).await;
    answer(&desk, &ringing, StatusCode::BUSY_HERE, from).await;
    let (forwarded, from) = next_request(&other, Method::Invite).await;
    // The busy target is busy too: the no-answer target must still not be tried.
    answer(&other, &forwarded, StatusCode::BUSY_HERE, from).await;
    let busy = final_answer(&caller, &invite).await;
    assert_eq!(busy.status(), Some(StatusCode::BUSY_HERE), "{busy:?}");
    no_request_within(&gw, Duration::from_millis(300), "busy is no reason for the no-answer forward").await;

    let invite = call(&mut caller, "4001").await;
    let (ringing, from) = next_request(&desk, Method::Invite).await;
    answer(&desk, &ringing, StatusCode::BUSY_HERE, from).await;
    let (forwarded, from) = next_request(&other, Method::Invite).await;
    answer(&other, &forwarded, StatusCode::OK, from).await;
    let ok = final_answer(&caller, &invite).await;
    assert_eq!(ok.status(), Some(StatusCode::OK), "the busy target answered: {ok:?}");
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_forward_rings_the_user_for_the_delay_then_the_target() {
    let (campus, service, _gw, desk, other) = lab().await;
    let settings = Forwarding {
        no_answer_target: Some("4002".into()),
        no_answer_delay: Duration::from_secs(1),
        ..Forwarding::default()
    };
    set_forwarding(&campus.pool, "4001", &settings).await;
    let mut caller = Ua::new(service.udp, "4000", &campus.password("4000")).await;

    let invite = call(&mut caller, "4001").await;
    let (ringing, from) = next_request(&desk, Method::Invite).await;
    let rang_at = Instant::now();
    ring_until_cancelled(&desk, &ringing, from).await;
    let (forwarded, from) = next_request(&other, Method::Invite).await;
    let waited = rang_at.elapsed();
    assert!(waited >= Duration::from_millis(900), "the desk rang for the delay first: {waited:?}");
    answer(&other, &forwarded, StatusCode::OK, from).await;
    assert_eq!(final_answer(&caller, &invite).await.status(), Some(StatusCode::OK));

    // A busy user is no unanswered one: without a busy target the caller hears busy.
    let invite = call(&mut caller, "4001").await;
    let (ringing, from) = next_request(&desk, Method::Invite).await;
    answer(&desk, &ringing, StatusCode::BUSY_HERE, from).await;
    assert_eq!(final_answer(&caller, &invite).await.status(), Some(StatusCode::BUSY_HERE));
    no_request_within(&other, Duration::from_millis(300), "no no-answer forward after a busy phone").await;
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_ringing_rings_the_desk_then_the_mobile() {
    let (campus, service, gw, desk, _other) = lab().await;
    let settings = Forwarding {
        sequential_ring: vec![
            RingStep { target: RingTarget::OwnLines, ring_for: Duration::from_secs(1) },
            RingStep { target: RingTarget::Forward("916175551234".into()), ring_for: Duration::from_secs(20) },
        ],
        ..Forwarding::default()
    };
    set_forwarding(&campus.pool, "4001", &settings).await;
    let mut caller = Ua::new(service.udp, "4000", &campus.password("4000")).await;
    let invite = call(&mut caller, "4001").await;
    let (ringing, from) = next_request(&desk, Method::Invite).await;
    ring_until_cancelled(&desk, &ringing, from).await;
    let (mobile, from) = next_request(&gw, Method::Invite).await;
    let expected = format!("sip:16175551234@127.0.0.1:{};transport=udp", gw.addr.port());
    assert_eq!(mobile.request_uri(), Some(expected.as_str()));
    answer(&gw, &mobile, StatusCode::OK, from).await;
    assert_eq!(final_answer(&caller, &invite).await.status(), Some(StatusCode::OK));
    service.stop().await;
}
