//! The RFC 3261 §17 / RFC 6026 transaction layer driven with a virtual clock: no sockets, no sleeping.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a failed expectation is the point

use std::time::{Duration, Instant};

use carillon_sip::transaction::{
    Event, MergeDetector, Reliability, Routed, State, Timer, TimerConfig, Transaction, TransactionKey, Transactions,
    Transmit, build_ack, build_cancel,
};
use carillon_sip::{Error, HeaderName, Message, Method, StatusCode};
use proptest::prelude::*;

const T1: Duration = Duration::from_millis(500);
const T4: Duration = Duration::from_secs(5);
const UDP: Reliability = Reliability::Unreliable;
const TCP: Reliability = Reliability::Reliable;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A request as a proxy would forward it: two Vias, two Route lines.
fn request_with(method: &Method, branch: &str, seq: u32) -> Message {
    Message::request(method, "sip:bob@biloxi.example.com")
        .header("Via", format!("SIP/2.0/UDP pc33.atlanta.example.com;branch={branch}"))
        .header("Via", "SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bKupstream")
        .header("Max-Forwards", "69")
        .header("Route", "<sip:p1.example.com;lr>")
        .header("Route", "<sip:p2.example.com;lr>")
        .header("To", "<sip:bob@biloxi.example.com>")
        .header("From", "\"Alice\" <sip:alice@atlanta.example.com>;tag=1928301774")
        .header("Call-ID", "a84b4c76e66710@pc33.atlanta.example.com")
        .header("CSeq", format!("{seq} {method}"))
        .build()
        .expect("valid request")
}

fn request(method: &Method, branch: &str) -> Message {
    request_with(method, branch, 314159)
}

fn invite() -> Message {
    request(&Method::Invite, "z9hG4bK776asdhds")
}

/// A response to `req`; everything above 100 gets the UAS's To tag.
fn response(req: &Message, status: u16) -> Message {
    let status = StatusCode::new(status).expect("status in range");
    let builder = Message::response_to(req, status);
    let builder = if status == StatusCode::TRYING { builder } else { builder.to_tag("a6c85cf") };
    builder.build().expect("valid response")
}

fn transmits(t: &mut Transaction) -> Vec<Transmit> {
    std::iter::from_fn(|| t.poll_transmit()).collect()
}

fn events(t: &mut Transaction) -> Vec<Event> {
    std::iter::from_fn(|| t.poll_event()).collect()
}

fn parsed(transmit: &Transmit) -> Message {
    Message::parse(transmit.contents.clone()).expect("transmitted octets parse")
}

type Timeline = (Vec<(Duration, Transmit)>, Vec<(Duration, Event)>);

/// Fires timers only, each at its deadline, until none is left; what came out and when, relative to `start`.
fn run_timers(t: &mut Transaction, start: Instant) -> Timeline {
    let (mut sent, mut told) = (Vec::new(), Vec::new());
    for _ in 0..1000 {
        let Some(at) = t.poll_timeout() else { break };
        t.handle_timeout(at);
        sent.extend(std::iter::from_fn(|| t.poll_transmit()).map(|x| (at - start, x)));
        told.extend(std::iter::from_fn(|| t.poll_event()).map(|e| (at - start, e)));
    }
    (sent, told)
}

fn offsets(list: &[(Duration, Transmit)]) -> Vec<Duration> {
    list.iter().map(|(at, _)| *at).collect()
}

fn client(now: Instant, req: Message, reliability: Reliability) -> Transaction {
    Transaction::client(now, req, &TimerConfig::default(), reliability).expect("client transaction")
}

fn server(now: Instant, req: Message, reliability: Reliability) -> Transaction {
    Transaction::server(now, req, &TimerConfig::default(), reliability).expect("server transaction")
}

// ----- client INVITE -----

#[test]
fn timer_a_doubles_without_cap_until_timer_b_rfc3261_17_1_1_2() {
    let t0 = Instant::now();
    let mut t = client(t0, invite(), UDP);
    let first = transmits(&mut t);
    assert_eq!(first.len(), 1);
    assert!(!first[0].retransmission);
    let (sent, told) = run_timers(&mut t, t0);
    // T1 = 500 ms: 0.5, 1, 2, 4, 8, 16 s between sends; the doubling goes past T2 = 4 s.
    assert_eq!(offsets(&sent), [500, 1500, 3500, 7500, 15500, 31500].map(ms));
    assert!(sent.iter().all(|(_, x)| x.retransmission && x.contents == first[0].contents));
    assert_eq!(told, [(64 * T1, Event::Timeout(Timer::B)), (64 * T1, Event::Terminated)]);
    assert!(t.is_terminated());
}

#[test]
fn provisional_stops_invite_retransmissions_rfc3261_17_1_1_2() {
    let t0 = Instant::now();
    let req = invite();
    let mut t = client(t0, req.clone(), UDP);
    transmits(&mut t);
    t.handle_timeout(t0 + T1);
    assert_eq!(transmits(&mut t).len(), 1, "Timer A fired once");
    let ringing = response(&req, 180);
    t.handle_message(t0 + ms(700), ringing.clone());
    assert_eq!(t.state(), State::Proceeding);
    assert_eq!(events(&mut t), [Event::Response(ringing)]);
    assert_eq!(t.poll_timeout(), None, "no Timer A or B in Proceeding");
    t.handle_timeout(t0 + ms(100_000));
    assert!(transmits(&mut t).is_empty());
    assert_eq!(t.state(), State::Proceeding);
}

fn client_answering_within(now: Instant, req: Message, response_timeout: Duration) -> Transaction {
    let timers = TimerConfig::default();
    Transaction::client_with_response_timeout(now, req, &timers, UDP, Some(response_timeout)).expect("client")
}

#[test]
fn a_response_timeout_brings_timer_b_forward_for_a_silent_next_hop() {
    let t0 = Instant::now();
    let mut t = client_answering_within(t0, invite(), Duration::from_secs(4));
    transmits(&mut t);
    let (sent, told) = run_timers(&mut t, t0);
    assert_eq!(offsets(&sent), [500, 1500, 3500].map(ms), "retransmitted until the timeout, not after");
    assert_eq!(told, [(ms(4000), Event::Timeout(Timer::B)), (ms(4000), Event::Terminated)]);

    // Never later than 64*T1.
    let mut t = client_answering_within(t0, invite(), Duration::from_secs(600));
    transmits(&mut t);
    let (_, told) = run_timers(&mut t, t0);
    assert_eq!(told.first(), Some(&(64 * T1, Event::Timeout(Timer::B))));
}

#[test]
fn a_provisional_response_stops_the_response_timeout() {
    let t0 = Instant::now();
    let req = invite();
    let mut t = client_answering_within(t0, req.clone(), Duration::from_secs(4));
    transmits(&mut t);
    t.handle_message(t0 + ms(300), response(&req, 100));
    events(&mut t);
    assert_eq!(t.poll_timeout(), None, "alive: no Timer B in Proceeding");
    t.handle_timeout(t0 + ms(60_000));
    assert_eq!(t.state(), State::Proceeding);

    // Non-INVITE: Timer F comes early only while nothing answered; a provisional puts it back at 64*T1.
    let req = request(&Method::Options, "z9hG4bKalive");
    let mut t = client_answering_within(t0, req.clone(), Duration::from_secs(2));
    transmits(&mut t);
    t.handle_message(t0 + ms(100), response(&req, 100));
    events(&mut t);
    let (_, told) = run_timers(&mut t, t0);
    assert_eq!(told.first(), Some(&(64 * T1, Event::Timeout(Timer::F))));
    let mut t = client_answering_within(t0, request(&Method::Options, "z9hG4bKsilent"), Duration::from_secs(2));
    transmits(&mut t);
    let (_, told) = run_timers(&mut t, t0);
    assert_eq!(told.first(), Some(&(ms(2000), Event::Timeout(Timer::F))));
}

#[test]
fn ack_for_4xx_is_built_by_the_transaction_rfc3261_17_1_1_3() {
    let t0 = Instant::now();
    let req = invite();
    let mut t = client(t0, req.clone(), UDP);
    transmits(&mut t);
    let busy = response(&req, 486);
    t.handle_message(t0 + ms(300), busy.clone());
    assert_eq!(t.state(), State::Completed);
    assert_eq!(events(&mut t), [Event::Response(busy.clone())]);
    let sent = transmits(&mut t);
    assert_eq!(sent.len(), 1);
    let ack = parsed(&sent[0]);
    assert_eq!(ack.method(), Some(&Method::Ack));
    assert_eq!(ack.request_uri(), req.request_uri());
    let vias: Vec<&str> = ack.header_values(HeaderName::Via).collect();
    assert_eq!(vias, ["SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds"], "only the top Via");
    assert_eq!(ack.to().expect("To").tag(), Some("a6c85cf"), "To of the response, with its tag");
    assert_eq!(ack.header(HeaderName::From), req.header(HeaderName::From));
    assert_eq!(ack.call_id().expect("Call-ID"), req.call_id().expect("Call-ID"));
    let cseq = ack.cseq().expect("CSeq");
    assert_eq!((cseq.seq, cseq.method_text), (314159, "ACK"));
    let routes: Vec<&str> = ack.header_lines(HeaderName::Route).collect();
    assert_eq!(routes, ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"], "the INVITE's Route set, in order");
    assert_eq!(ack.max_forwards().expect("Max-Forwards"), Some(69));
    assert_eq!(TransactionKey::for_request(&ack).expect("key"), TransactionKey::for_request(&req).expect("key"));

    // Each retransmitted final response gets the same ACK again, and nothing more reaches the TU.
    t.handle_message(t0 + ms(800), busy.clone());
    let again = transmits(&mut t);
    assert_eq!(again, [Transmit { contents: sent[0].contents.clone(), retransmission: true }]);
    assert!(events(&mut t).is_empty());

    // Timer D (32 s on UDP) ends it; no retransmission of the INVITE meanwhile.
    let (sent, told) = run_timers(&mut t, t0 + ms(300));
    assert!(sent.is_empty());
    assert_eq!(told, [(Duration::from_secs(32), Event::Terminated)]);
}

#[test]
fn build_ack_refuses_a_response_without_to() {
    let req = invite();
    let bare = Message::response(StatusCode::BUSY_HERE, "Busy Here")
        .header("Via", "SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds")
        .header("CSeq", "314159 INVITE")
        .build()
        .expect("response");
    assert_eq!(build_ack(&req, &bare).err(), Some(Error::MissingHeader(HeaderName::To)));
    // The transaction drops such a response and keeps waiting.
    let t0 = Instant::now();
    let mut t = client(t0, req, UDP);
    transmits(&mut t);
    t.handle_message(t0, bare);
    assert_eq!(t.state(), State::Calling);
    assert!(events(&mut t).is_empty());
}

#[test]
fn two_xx_goes_to_the_tu_and_accepted_passes_every_2xx_rfc6026() {
    let t0 = Instant::now();
    let req = invite();
    let mut t = client(t0, req.clone(), UDP);
    transmits(&mut t);
    let ok = response(&req, 200);
    t.handle_message(t0 + ms(100), ok.clone());
    assert_eq!(t.state(), State::Accepted);
    assert_eq!(events(&mut t), [Event::Response(ok.clone())]);
    assert!(transmits(&mut t).is_empty(), "the ACK for a 2xx is the TU's");
    // A retransmitted 2xx (or another fork's) goes up too; non-2xx are dropped.
    t.handle_message(t0 + ms(600), ok.clone());
    t.handle_message(t0 + ms(700), response(&req, 486));
    t.handle_message(t0 + ms(800), response(&req, 180));
    assert_eq!(events(&mut t), [Event::Response(ok)]);
    assert!(transmits(&mut t).is_empty());
    let (sent, told) = run_timers(&mut t, t0 + ms(100));
    assert!(sent.is_empty());
    assert_eq!(told, [(64 * T1, Event::Terminated)], "Timer M = 64*T1");
}

#[test]
fn reliable_client_invite_never_retransmits_and_timer_d_is_zero_rfc3261_17_1_1_2() {
    let t0 = Instant::now();
    let req = invite();
    let mut t = client(t0, req.clone(), TCP);
    assert_eq!(transmits(&mut t).len(), 1);
    let (sent, told) = run_timers(&mut t, t0);
    assert!(sent.is_empty(), "no Timer A on a reliable transport");
    assert_eq!(told, [(64 * T1, Event::Timeout(Timer::B)), (64 * T1, Event::Terminated)]);

    let mut t = client(t0, req.clone(), TCP);
    transmits(&mut t);
    t.handle_message(t0 + ms(10), response(&req, 404));
    assert_eq!(transmits(&mut t).len(), 1, "the ACK is still sent");
    assert!(t.is_terminated(), "Timer D = 0");
    assert_eq!(events(&mut t).last(), Some(&Event::Terminated));
}

#[test]
fn transport_error_ends_client_transactions_rfc3261_17_1_4() {
    let t0 = Instant::now();
    let mut t = client(t0, invite(), UDP);
    transmits(&mut t);
    t.transport_error(t0 + ms(1));
    assert_eq!(events(&mut t), [Event::TransportError, Event::Terminated]);
    assert_eq!(t.poll_timeout(), None);
    t.transport_error(t0 + ms(2));
    assert!(events(&mut t).is_empty(), "told once");

    let mut t = client(t0, request(&Method::Options, "z9hG4bKopt"), UDP);
    t.transport_error(t0);
    assert_eq!(events(&mut t), [Event::TransportError, Event::Terminated]);
}

#[test]
fn timer_c_resets_on_provisional_other_than_100_rfc3261_16_7() {
    let t0 = Instant::now();
    let timers = TimerConfig { timer_c: Some(Duration::from_secs(180)), ..TimerConfig::default() };
    let req = invite();
    let mut t = Transaction::client(t0, req.clone(), &timers, UDP).expect("client");
    transmits(&mut t);
    t.handle_message(t0 + Duration::from_secs(1), response(&req, 100));
    assert_eq!(t.poll_timeout(), Some(t0 + Duration::from_secs(180)), "100 does not reset Timer C");
    t.handle_message(t0 + Duration::from_secs(100), response(&req, 183));
    assert_eq!(t.poll_timeout(), Some(t0 + Duration::from_secs(280)));
    events(&mut t);
    let (sent, told) = run_timers(&mut t, t0);
    assert!(sent.is_empty());
    // Timer C in Proceeding: the proxy must CANCEL; 64*T1 later the transaction gives up (RFC 3261 §9.1).
    let c = Duration::from_secs(280);
    assert_eq!(
        told,
        [
            (c, Event::Timeout(Timer::C)),
            (c + 64 * T1, Event::Timeout(Timer::CancelWait)),
            (c + 64 * T1, Event::Terminated)
        ]
    );
}

#[test]
fn timer_c_in_calling_acts_as_408_rfc3261_16_8() {
    let t0 = Instant::now();
    let timers = TimerConfig { timer_c: Some(Duration::from_secs(10)), ..TimerConfig::default() };
    let mut t = Transaction::client(t0, invite(), &timers, TCP).expect("client");
    transmits(&mut t);
    let (_, told) = run_timers(&mut t, t0);
    assert_eq!(
        told,
        [(Duration::from_secs(10), Event::Timeout(Timer::C)), (Duration::from_secs(10), Event::Terminated)]
    );
}

#[test]
fn cancel_copies_the_invite_hop_headers_rfc3261_9_1() {
    let req = invite();
    let cancel = build_cancel(&req).expect("CANCEL");
    assert_eq!(cancel.method(), Some(&Method::Cancel));
    assert_eq!(cancel.request_uri(), req.request_uri());
    let vias: Vec<&str> = cancel.header_values(HeaderName::Via).collect();
    assert_eq!(vias, ["SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds"]);
    assert_eq!(cancel.header(HeaderName::To), req.header(HeaderName::To), "To exactly as in the INVITE");
    assert_eq!(cancel.header(HeaderName::From), req.header(HeaderName::From));
    assert_eq!(cancel.call_id().expect("Call-ID"), req.call_id().expect("Call-ID"));
    let cseq = cancel.cseq().expect("CSeq");
    assert_eq!((cseq.seq, cseq.method_text), (314159, "CANCEL"));
    let routes: Vec<&str> = cancel.header_lines(HeaderName::Route).collect();
    assert_eq!(routes, ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]);
    // Its own transaction on the server side, and it finds the INVITE it cancels (§9.2).
    let cancel_key = TransactionKey::for_request(&cancel).expect("key");
    assert_ne!(cancel_key, TransactionKey::for_request(&req).expect("key"));
    assert_eq!(
        TransactionKey::cancelled_invite(&cancel).expect("key"),
        TransactionKey::for_request(&req).expect("key")
    );
    assert!(matches!(build_cancel(&request(&Method::Options, "z9hG4bKx")), Err(Error::NotApplicable(_))));
}

#[test]
fn cancel_wait_ends_an_invite_the_peer_never_finishes_rfc3261_9_1() {
    let t0 = Instant::now();
    let req = invite();
    let mut invite_tx = carillon_sip::transaction::ClientInvite::new(t0, req.clone(), &TimerConfig::default(), UDP)
        .expect("client INVITE");
    invite_tx.handle_message(t0 + ms(100), response(&req, 180));
    assert_eq!(invite_tx.build_cancel().expect("CANCEL"), build_cancel(&req).expect("CANCEL"));
    invite_tx.cancel_sent(t0 + Duration::from_secs(5));
    assert_eq!(invite_tx.poll_timeout(), Some(t0 + Duration::from_secs(5) + 64 * T1));
    // The 487 that normally follows completes the transaction as any non-2xx does.
    invite_tx.handle_message(t0 + Duration::from_secs(6), response(&req, 487));
    assert_eq!(invite_tx.state(), State::Completed);
}

// ----- client non-INVITE -----

#[test]
fn timer_e_doubles_up_to_t2_until_timer_f_rfc3261_17_1_2_2() {
    let t0 = Instant::now();
    let mut t = client(t0, request(&Method::Register, "z9hG4bKreg"), UDP);
    assert_eq!(transmits(&mut t).len(), 1);
    let (sent, told) = run_timers(&mut t, t0);
    // 0.5, 1, 2, 4, then T2 = 4 s between sends.
    assert_eq!(offsets(&sent), [500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500].map(ms));
    assert_eq!(told, [(64 * T1, Event::Timeout(Timer::F)), (64 * T1, Event::Terminated)]);
}

#[test]
fn timer_e_fires_every_t2_in_proceeding_rfc3261_17_1_2_2() {
    let t0 = Instant::now();
    let req = request(&Method::Options, "z9hG4bKopt");
    let mut t = client(t0, req.clone(), UDP);
    transmits(&mut t);
    t.handle_timeout(t0 + T1);
    let trying = response(&req, 100);
    t.handle_message(t0 + ms(600), trying.clone());
    assert_eq!(t.state(), State::Proceeding);
    assert_eq!(events(&mut t), [Event::Response(trying)]);
    transmits(&mut t);
    let (sent, told) = run_timers(&mut t, t0);
    // The pending Timer E (1.5 s) fires, then every T2 until Timer F at 32 s.
    assert_eq!(offsets(&sent), [1500, 5500, 9500, 13500, 17500, 21500, 25500, 29500].map(ms));
    assert_eq!(told.first(), Some(&(64 * T1, Event::Timeout(Timer::F))));
}

#[test]
fn timer_k_absorbs_response_retransmissions_rfc3261_17_1_2_2() {
    let t0 = Instant::now();
    let req = request(&Method::Bye, "z9hG4bKbye");
    let mut t = client(t0, req.clone(), UDP);
    transmits(&mut t);
    let ok = response(&req, 200);
    t.handle_message(t0 + ms(50), ok.clone());
    assert_eq!(events(&mut t), [Event::Response(ok.clone())]);
    assert_eq!(t.state(), State::Completed);
    t.handle_message(t0 + ms(550), ok);
    assert!(events(&mut t).is_empty(), "retransmission absorbed");
    let (sent, told) = run_timers(&mut t, t0 + ms(50));
    assert!(sent.is_empty(), "no Timer E in Completed");
    assert_eq!(told, [(T4, Event::Terminated)]);

    let mut t = client(t0, req.clone(), TCP);
    transmits(&mut t);
    t.handle_message(t0, response(&req, 200));
    assert!(t.is_terminated(), "Timer K = 0 on reliable transports");
}

#[test]
fn reliable_client_non_invite_has_no_timer_e_rfc3261_17_1_2_2() {
    let t0 = Instant::now();
    let mut t = client(t0, request(&Method::Options, "z9hG4bKopt"), TCP);
    assert_eq!(transmits(&mut t).len(), 1);
    let (sent, told) = run_timers(&mut t, t0);
    assert!(sent.is_empty());
    assert_eq!(told, [(64 * T1, Event::Timeout(Timer::F)), (64 * T1, Event::Terminated)]);
}

#[test]
fn responses_for_another_method_are_ignored_rfc3261_17_1_3() {
    let t0 = Instant::now();
    let req = invite();
    let mut t = client(t0, req.clone(), UDP);
    transmits(&mut t);
    let cancel = build_cancel(&req).expect("CANCEL");
    t.handle_message(t0, response(&cancel, 200));
    assert_eq!(t.state(), State::Calling);
    assert!(events(&mut t).is_empty());
}

// ----- server INVITE -----

#[test]
fn server_invite_sends_100_after_200_ms_unless_the_tu_answered_rfc3261_17_2_1() {
    let t0 = Instant::now();
    let req = invite();
    let mut t = server(t0, req.clone(), UDP);
    assert_eq!(events(&mut t), [Event::Request(req.clone())]);
    assert_eq!(t.poll_timeout(), Some(t0 + ms(200)));
    t.handle_timeout(t0 + ms(200));
    let sent = transmits(&mut t);
    assert_eq!(sent.len(), 1);
    let trying = parsed(&sent[0]);
    assert_eq!(trying.status(), Some(StatusCode::TRYING));
    assert_eq!(trying.to().expect("To").tag(), None, "no To tag on the 100");
    // A retransmitted INVITE gets the 100 again.
    t.handle_message(t0 + ms(500), req.clone());
    assert_eq!(transmits(&mut t), [Transmit { contents: sent[0].contents.clone(), retransmission: true }]);

    let mut t = server(t0, req.clone(), UDP);
    assert!(t.send_response(t0 + ms(50), response(&req, 180)));
    transmits(&mut t);
    assert_eq!(t.poll_timeout(), None);
    t.handle_timeout(t0 + ms(300));
    assert!(transmits(&mut t).is_empty(), "the TU answered within 200 ms");
}

#[test]
fn retransmitted_invite_gets_the_latest_response_again_rfc3261_17_2_1() {
    let t0 = Instant::now();
    let req = invite();
    let mut t = server(t0, req.clone(), UDP);
    events(&mut t);
    t.handle_message(t0 + ms(10), req.clone());
    assert!(transmits(&mut t).is_empty(), "nothing sent yet, nothing to resend");
    assert!(events(&mut t).is_empty(), "retransmissions never reach the TU");
    let ringing = response(&req, 180);
    assert!(t.send_response(t0 + ms(20), ringing.clone()));
    assert_eq!(transmits(&mut t), [Transmit { contents: ringing.to_bytes(), retransmission: false }]);
    t.handle_message(t0 + ms(520), req.clone());
    assert_eq!(transmits(&mut t), [Transmit { contents: ringing.to_bytes(), retransmission: true }]);
    let busy = response(&req, 486);
    assert!(t.send_response(t0 + ms(600), busy.clone()));
    transmits(&mut t);
    t.handle_message(t0 + ms(700), req.clone());
    assert_eq!(transmits(&mut t), [Transmit { contents: busy.to_bytes(), retransmission: true }]);
    assert!(!t.send_response(t0 + ms(800), response(&req, 500)), "one final response only");
    assert!(transmits(&mut t).is_empty());
}

#[test]
fn timer_g_doubles_up_to_t2_until_timer_h_rfc3261_17_2_1() {
    let t0 = Instant::now();
    let req = invite();
    let mut t = server(t0, req.clone(), UDP);
    events(&mut t);
    assert!(t.send_response(t0 + ms(100), response(&req, 486)));
    assert_eq!(t.state(), State::Completed);
    transmits(&mut t);
    let (sent, told) = run_timers(&mut t, t0 + ms(100));
    assert_eq!(offsets(&sent), [500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500].map(ms));
    assert!(sent.iter().all(|(_, x)| x.retransmission));
    assert_eq!(told, [(64 * T1, Event::Timeout(Timer::H)), (64 * T1, Event::Terminated)]);
}

#[test]
fn ack_confirms_and_timer_i_ends_rfc3261_17_2_1() {
    let t0 = Instant::now();
    let req = invite();
    let mut t = server(t0, req.clone(), UDP);
    events(&mut t);
    let busy = response(&req, 486);
    t.send_response(t0, busy.clone());
    transmits(&mut t);
    let ack = build_ack(&req, &busy).expect("ACK");
    t.handle_message(t0 + ms(300), ack.clone());
    assert_eq!(t.state(), State::Confirmed);
    assert!(events(&mut t).is_empty(), "the ACK of a non-2xx stays in the transaction");
    t.handle_message(t0 + ms(400), ack);
    t.handle_message(t0 + ms(450), req);
    assert!(transmits(&mut t).is_empty(), "Confirmed absorbs ACKs and INVITEs");
    let (sent, told) = run_timers(&mut t, t0 + ms(300));
    assert!(sent.is_empty(), "Timer G stopped");
    assert_eq!(told, [(T4, Event::Terminated)]);
}

#[test]
fn reliable_server_invite_has_no_timer_g_and_zero_timer_i_rfc3261_17_2_1() {
    let t0 = Instant::now();
    let req = invite();
    let mut t = server(t0, req.clone(), TCP);
    let busy = response(&req, 603);
    t.send_response(t0, busy.clone());
    transmits(&mut t);
    assert_eq!(t.poll_timeout(), Some(t0 + 64 * T1), "only Timer H");
    t.handle_message(t0 + ms(30), build_ack(&req, &busy).expect("ACK"));
    assert!(t.is_terminated(), "Timer I = 0");
}

#[test]
fn accepted_absorbs_invites_sends_tu_2xx_and_passes_acks_rfc6026() {
    let t0 = Instant::now();
    let req = invite();
    let mut t = server(t0, req.clone(), UDP);
    events(&mut t);
    let ok = response(&req, 200);
    assert!(t.send_response(t0 + ms(100), ok.clone()));
    assert_eq!(t.state(), State::Accepted);
    assert_eq!(transmits(&mut t).len(), 1);
    t.handle_message(t0 + ms(500), req.clone());
    assert!(transmits(&mut t).is_empty(), "retransmitted INVITE absorbed");
    assert!(events(&mut t).is_empty(), "and not passed to the TU");
    assert!(t.send_response(t0 + ms(600), ok.clone()), "the TU retransmits its 2xx");
    assert_eq!(transmits(&mut t), [Transmit { contents: ok.to_bytes(), retransmission: false }]);
    assert!(!t.send_response(t0 + ms(650), response(&req, 486)), "no non-2xx after a 2xx");
    let ack = request(&Method::Ack, "z9hG4bKack2xx");
    t.handle_message(t0 + ms(700), ack.clone());
    assert_eq!(events(&mut t), [Event::Ack(ack)]);
    t.transport_error(t0 + ms(800));
    assert_eq!(events(&mut t), [Event::TransportError]);
    assert_eq!(t.state(), State::Accepted, "RFC 6026: a failed send does not end Accepted");
    let (sent, told) = run_timers(&mut t, t0 + ms(100));
    assert!(sent.is_empty(), "the transaction never retransmits a 2xx itself");
    assert_eq!(told, [(64 * T1, Event::Terminated)], "Timer L = 64*T1");
}

#[test]
fn server_invite_transport_errors_rfc6026() {
    let t0 = Instant::now();
    let req = invite();
    let mut t = server(t0, req.clone(), UDP);
    events(&mut t);
    t.send_response(t0, response(&req, 180));
    t.transport_error(t0 + ms(1));
    assert_eq!(events(&mut t), [Event::TransportError]);
    assert_eq!(t.state(), State::Proceeding, "the TU may still answer");
    t.send_response(t0 + ms(2), response(&req, 480));
    t.transport_error(t0 + ms(3));
    assert_eq!(events(&mut t), [Event::TransportError, Event::Terminated]);
}

// ----- server non-INVITE -----

#[test]
fn server_non_invite_answers_retransmissions_until_timer_j_rfc3261_17_2_2() {
    let t0 = Instant::now();
    let req = request(&Method::Register, "z9hG4bKreg");
    let mut t = server(t0, req.clone(), UDP);
    assert_eq!(events(&mut t), [Event::Request(req.clone())]);
    assert_eq!(t.state(), State::Trying);
    t.handle_message(t0 + ms(500), req.clone());
    assert!(transmits(&mut t).is_empty(), "Trying discards retransmissions");
    let trying = response(&req, 100);
    assert!(t.send_response(t0 + ms(600), trying.clone()));
    assert_eq!(t.state(), State::Proceeding);
    transmits(&mut t);
    t.handle_message(t0 + ms(1500), req.clone());
    assert_eq!(transmits(&mut t), [Transmit { contents: trying.to_bytes(), retransmission: true }]);
    let ok = response(&req, 200);
    assert!(t.send_response(t0 + ms(2000), ok.clone()));
    assert_eq!(t.state(), State::Completed);
    transmits(&mut t);
    t.handle_message(t0 + ms(3500), req.clone());
    assert_eq!(transmits(&mut t), [Transmit { contents: ok.to_bytes(), retransmission: true }]);
    assert!(!t.send_response(t0 + ms(3600), response(&req, 500)));
    assert!(events(&mut t).is_empty());
    let (sent, told) = run_timers(&mut t, t0 + ms(2000));
    assert!(sent.is_empty());
    assert_eq!(told, [(64 * T1, Event::Terminated)], "Timer J = 64*T1");

    let mut t = server(t0, req.clone(), TCP);
    t.send_response(t0, ok);
    assert_eq!(transmits(&mut t).len(), 1, "the response is still sent");
    assert!(t.is_terminated(), "Timer J = 0 on reliable transports");
}

#[test]
fn ack_and_invite_do_not_make_non_invite_server_transactions() {
    let t0 = Instant::now();
    let ack = request(&Method::Ack, "z9hG4bKack");
    assert!(matches!(Transaction::server(t0, ack.clone(), &TimerConfig::default(), UDP), Err(Error::NotApplicable(_))));
    assert!(matches!(Transaction::client(t0, ack, &TimerConfig::default(), UDP), Err(Error::NotApplicable(_))));
    let no_cookie = request(&Method::Options, "1234");
    assert!(Transaction::client(t0, no_cookie, &TimerConfig::default(), UDP).is_err(), "a client needs a branch");
}

// ----- matching through the container -----

type Drained = (Vec<(TransactionKey, Transmit)>, Vec<(TransactionKey, Event)>);

fn drain(txs: &mut Transactions) -> Drained {
    let sent = std::iter::from_fn(|| txs.poll_transmit()).collect();
    let told = std::iter::from_fn(|| txs.poll_event()).collect();
    (sent, told)
}

#[test]
fn container_matches_retransmissions_acks_and_cancels_rfc3261_17_2_3() {
    let t0 = Instant::now();
    let mut txs = Transactions::new(TimerConfig::default());
    let req = invite();
    let Routed::Unmatched(req) = txs.handle_message(t0, req) else { panic!("nothing to match yet") };
    let key = txs.start_server(t0, req.clone(), UDP).expect("server transaction");
    let (_, told) = drain(&mut txs);
    assert_eq!(told, [(key.clone(), Event::Request(req.clone()))]);
    let ringing = response(&req, 180);
    assert!(txs.send_response(t0 + ms(10), &key, ringing.clone()));
    drain(&mut txs);

    // Retransmission: matched, answered with the 180.
    assert!(matches!(txs.handle_message(t0 + ms(500), req.clone()), Routed::Matched(k) if k == key));
    let (sent, told) = drain(&mut txs);
    assert_eq!(sent, [(key.clone(), Transmit { contents: ringing.to_bytes(), retransmission: true })]);
    assert!(told.is_empty());

    // CANCEL: its own transaction, which finds the INVITE.
    let cancel = build_cancel(&req).expect("CANCEL");
    let Routed::Unmatched(cancel) = txs.handle_message(t0 + ms(600), cancel) else { panic!("CANCEL has its own key") };
    assert!(txs.contains(&TransactionKey::cancelled_invite(&cancel).expect("key")));
    let cancel_key = txs.start_server(t0 + ms(600), cancel.clone(), UDP).expect("CANCEL transaction");
    assert_ne!(cancel_key, key);
    assert!(txs.send_response(t0 + ms(600), &cancel_key, response(&cancel, 200)));
    let busy = response(&req, 487);
    assert!(txs.send_response(t0 + ms(600), &key, busy.clone()));
    drain(&mut txs);

    // ACK for the 487: same transaction. An ACK for a 2xx (new branch) is not.
    let ack = build_ack(&req, &busy).expect("ACK");
    assert!(matches!(txs.handle_message(t0 + ms(700), ack), Routed::Matched(k) if k == key));
    assert_eq!(txs.get(&key).map(Transaction::state), Some(State::Confirmed));
    let other_ack = request(&Method::Ack, "z9hG4bKfresh");
    assert!(matches!(txs.handle_message(t0 + ms(700), other_ack), Routed::Unmatched(_)));

    // Everything ends; once drained, the container is empty.
    for _ in 0..100 {
        let Some(at) = txs.poll_timeout() else { break };
        txs.handle_timeout(at);
        drain(&mut txs);
    }
    assert!(txs.is_empty());
}

#[test]
fn container_matches_responses_by_branch_and_cseq_method_rfc3261_17_1_3() {
    let t0 = Instant::now();
    let mut txs = Transactions::new(TimerConfig::default());
    let req = invite();
    let key = txs.start_client(t0, req.clone(), UDP).expect("client");
    let (sent, _) = drain(&mut txs);
    assert_eq!(sent, [(key.clone(), Transmit { contents: req.to_bytes(), retransmission: false })]);
    assert!(txs.start_client(t0, req.clone(), UDP).is_err(), "branch in use");
    let cancel = build_cancel(&req).expect("CANCEL");
    // The 200 for the CANCEL shares the branch but not the method.
    assert!(matches!(txs.handle_message(t0, response(&cancel, 200)), Routed::Unmatched(_)));
    let cancel_key = txs.start_client(t0, cancel.clone(), UDP).expect("CANCEL client");
    assert!(matches!(txs.handle_message(t0, response(&cancel, 200)), Routed::Matched(k) if k == cancel_key));
    assert!(matches!(txs.handle_message(t0, response(&req, 487)), Routed::Matched(k) if k == key));
    let (sent, told) = drain(&mut txs);
    assert_eq!(sent.len(), 2, "CANCEL, then the ACK for the 487");
    assert!(told.iter().any(
        |(k, e)| *k == key && matches!(e, Event::Response(r) if r.status() == Some(StatusCode::REQUEST_TERMINATED))
    ));
    let stranger = request(&Method::Invite, "z9hG4bKsomeoneelse");
    assert!(matches!(txs.handle_message(t0, response(&stranger, 200)), Routed::Unmatched(_)));
}

#[test]
fn rfc2543_requests_match_by_their_headers_rfc3261_17_2_3() {
    let t0 = Instant::now();
    let mut txs = Transactions::new(TimerConfig::default());
    let req = request(&Method::Invite, "2543style");
    let key = txs.start_server(t0, req.clone(), UDP).expect("server");
    assert!(key.is_rfc2543());
    assert!(matches!(txs.handle_message(t0 + ms(500), req.clone()), Routed::Matched(k) if k == key));
    let busy = response(&req, 486);
    txs.send_response(t0 + ms(600), &key, busy.clone());
    // An ACK whose To tag is not the response's does not complete the handshake.
    let mut foreign = busy.clone();
    foreign.set_header(HeaderName::To, "<sip:bob@biloxi.example.com>;tag=someoneelse");
    let wrong_ack = build_ack(&req, &foreign).expect("ACK");
    assert!(matches!(txs.handle_message(t0 + ms(700), wrong_ack), Routed::Matched(k) if k == key));
    assert_eq!(txs.get(&key).map(Transaction::state), Some(State::Completed));
    let ack = build_ack(&req, &busy).expect("ACK");
    assert!(matches!(txs.handle_message(t0 + ms(800), ack), Routed::Matched(k) if k == key));
    assert_eq!(txs.get(&key).map(Transaction::state), Some(State::Confirmed));
    // Another CSeq is another transaction.
    let next = request_with(&Method::Invite, "2543style", 314160);
    assert!(matches!(txs.handle_message(t0, next), Routed::Unmatched(_)));
}

#[test]
fn start_server_with_a_known_key_is_a_retransmission() {
    let t0 = Instant::now();
    let mut txs = Transactions::new(TimerConfig::default());
    let req = request(&Method::Options, "z9hG4bKopt");
    let key = txs.start_server(t0, req.clone(), UDP).expect("server");
    txs.send_response(t0, &key, response(&req, 200));
    drain(&mut txs);
    assert_eq!(txs.start_server(t0 + ms(500), req.clone(), UDP).expect("same"), key);
    let (sent, told) = drain(&mut txs);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].1.retransmission);
    assert!(told.is_empty(), "no second Request event");
}

// ----- merged requests -----

#[test]
fn merged_request_is_a_loop_rfc3261_8_2_2_2() {
    let t0 = Instant::now();
    let mut merges = MergeDetector::default();
    let first = invite();
    assert_eq!(merges.check(t0, &first), Ok(()));
    assert_eq!(merges.check(t0 + ms(500), &first), Ok(()), "a retransmission is not a merge");
    let via_other_path = request(&Method::Invite, "z9hG4bKotherpath");
    let verdict = merges.check(t0 + ms(600), &via_other_path);
    assert_eq!(verdict, Err(Error::LoopDetected));
    assert_eq!(Error::LoopDetected.status_code(), StatusCode::LOOP_DETECTED);
    let mut in_dialog = via_other_path.clone();
    in_dialog.set_header(HeaderName::To, "<sip:bob@biloxi.example.com>;tag=a6c85cf");
    assert_eq!(merges.check(t0 + ms(600), &in_dialog), Ok(()), "requests with a To tag are not checked");
    let other_cseq = request_with(&Method::Invite, "z9hG4bKotherpath", 314160);
    assert_eq!(merges.check(t0 + ms(600), &other_cseq), Ok(()));
    assert_eq!(merges.check(t0 + Duration::from_secs(33), &via_other_path), Ok(()), "forgotten after 32 s");
}

#[test]
fn merge_detector_memory_is_bounded() {
    let t0 = Instant::now();
    let mut merges = MergeDetector::new(8, Duration::from_secs(3600));
    for seq in 1..=100 {
        merges.check(t0, &request_with(&Method::Options, "z9hG4bKa", seq)).expect("distinct requests");
        assert!(merges.len() <= 8);
    }
    // The newest are remembered, the oldest were evicted.
    assert_eq!(merges.check(t0, &request_with(&Method::Options, "z9hG4bKb", 100)), Err(Error::LoopDetected));
    assert_eq!(merges.check(t0, &request_with(&Method::Options, "z9hG4bKb", 1)), Ok(()));
}

// ----- random interleavings -----

#[derive(Debug, Clone)]
enum Input {
    Advance(u64),
    Timeout,
    Receive(u8),
    Respond(u16),
    TransportError,
    CancelSent,
}

const STATUSES: [u16; 10] = [100, 180, 183, 200, 202, 302, 404, 486, 500, 603];

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        (0u64..40_000).prop_map(Input::Advance),
        Just(Input::Timeout),
        (0u8..8).prop_map(Input::Receive),
        proptest::sample::select(STATUSES.to_vec()).prop_map(Input::Respond),
        Just(Input::TransportError),
        Just(Input::CancelSent),
    ]
}

/// A message for the transaction made from `req`: its responses, retransmissions, ACKs and strangers.
fn incoming(req: &Message, choice: u8) -> Message {
    let is_invite = req.method() == Some(&Method::Invite);
    match choice {
        0..=3 => response(req, STATUSES[usize::from(choice) * 2 + usize::from(is_invite)]),
        4 => req.clone(),
        5 => build_ack(req, &response(req, 486)).unwrap_or_else(|_| req.clone()),
        6 => request(&Method::Ack, "z9hG4bKack2xx"),
        _ => response(&request(&Method::Bye, "z9hG4bKother"), 200),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any interleaving of messages, TU responses, transport errors and timeouts at arbitrary times: no panic,
    /// nothing after Terminated, and once the TU has given its final answer (a final response on the server
    /// side, a CANCEL for an INVITE on the client side) the transaction ends within 64*T1 + T4 of that input.
    #[test]
    fn random_inputs_never_panic_and_every_transaction_terminates(
        kind in 0u8..4,
        reliable in any::<bool>(),
        inputs in proptest::collection::vec(input(), 0..40),
    ) {
        let t0 = Instant::now();
        let timers = TimerConfig::default();
        let reliability = if reliable { TCP } else { UDP };
        let req = match kind {
            0 | 2 => invite(),
            _ => request(&Method::Message, "z9hG4bKmsg"),
        };
        let mut t = if kind < 2 {
            Transaction::client(t0, req.clone(), &timers, reliability).expect("client")
        } else {
            Transaction::server(t0, req.clone(), &timers, reliability).expect("server")
        };
        let mut now = t0;
        let mut terminated_seen = false;
        let mut check_outputs = |t: &mut Transaction| -> Result<(), TestCaseError> {
            let sent = transmits(t);
            let told = events(t);
            if terminated_seen {
                prop_assert!(sent.is_empty() && told.is_empty(), "output after Terminated");
            }
            for (i, e) in told.iter().enumerate() {
                if *e == Event::Terminated {
                    prop_assert!(!terminated_seen && i == told.len() - 1, "Terminated is the last event");
                    terminated_seen = true;
                }
            }
            prop_assert_eq!(terminated_seen, t.is_terminated());
            Ok(())
        };
        for step in inputs {
            match step {
                Input::Advance(d) => now += ms(d),
                Input::Timeout => t.handle_timeout(now),
                Input::Receive(choice) => t.handle_message(now, incoming(&req, choice)),
                Input::Respond(status) => {
                    let sent = t.send_response(now, response(&req, status));
                    prop_assert!(kind >= 2 || !sent, "client transactions send no responses");
                }
                Input::TransportError => t.transport_error(now),
                Input::CancelSent => {
                    if let Transaction::ClientInvite(c) = &mut t {
                        c.cancel_sent(now);
                    }
                }
            }
            check_outputs(&mut t)?;
        }
        match &mut t {
            Transaction::ServerInvite(_) | Transaction::ServerNonInvite(_) => {
                t.send_response(now, response(&req, 486));
            }
            Transaction::ClientInvite(c) => c.cancel_sent(now),
            Transaction::ClientNonInvite(_) => {}
        }
        check_outputs(&mut t)?;
        let last_input = now;
        for _ in 0..1000 {
            let Some(at) = t.poll_timeout() else { break };
            now = now.max(at);
            t.handle_timeout(now);
            check_outputs(&mut t)?;
        }
        prop_assert!(t.is_terminated(), "not terminated: {:?}", t.state());
        prop_assert!(now <= last_input + 64 * T1 + T4 + ms(10), "ended {:?} after the last input", now - last_input);
    }
}

/// The container keeps deadlines in order: its earliest deadline is the earliest of its transactions, and a
/// timeout fires only the transactions that are due (the others keep theirs).
#[test]
fn container_deadlines_are_the_earliest_and_only_due_transactions_fire() {
    let t0 = Instant::now();
    let mut txs = Transactions::new(TimerConfig::default());
    let mut keys = Vec::new();
    for i in 0..50u64 {
        let started = t0 + Duration::from_millis(10 * i);
        keys.push(txs.start_client(started, request(&Method::Options, &format!("z9hG4bKdl{i}")), UDP).expect("start"));
    }
    while txs.poll_transmit().is_some() {}
    let earliest = keys.iter().filter_map(|k| txs.get(k).and_then(Transaction::poll_timeout)).min();
    assert_eq!(txs.poll_timeout(), earliest);
    assert_eq!(earliest, Some(t0 + Duration::from_millis(500)), "Timer E of the first request");

    // At 0.5 s + 95 ms the first ten requests are due for their first retransmission, the others not yet.
    let now = t0 + Duration::from_millis(595);
    txs.handle_timeout(now);
    let mut retransmitted = 0;
    while let Some((_, transmit)) = txs.poll_transmit() {
        assert!(transmit.retransmission);
        retransmitted += 1;
    }
    assert_eq!(retransmitted, 10);
    let earliest = keys.iter().filter_map(|k| txs.get(k).and_then(Transaction::poll_timeout)).min();
    assert_eq!(txs.poll_timeout(), earliest);
    assert_eq!(earliest, Some(t0 + Duration::from_millis(600)), "Timer E of the eleventh request");
}

#[test]
fn a_challenge_sent_statelessly_leaves_nothing_behind_rfc3261_8_2_7() {
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/register.sip")).expect("data");
    let register = |n: usize| {
        let text = template.replace("branch=z9hG4bK2f1a3c", &format!("branch=z9hG4bK2f1a3c{n:08}"));
        Message::parse(bytes::Bytes::from(text)).expect("valid REGISTER")
    };
    let now = Instant::now();
    let mut table = Transactions::new(TimerConfig::default());
    let request = register(1);
    let challenge = Message::response_to(&request, StatusCode::UNAUTHORIZED)
        .header("WWW-Authenticate", "Digest realm=\"campus.example.edu\", nonce=\"abc\", qop=\"auth\"")
        .to_tag("as7d2f")
        .build()
        .expect("response");
    let key = table.start_server(now, request, Reliability::Unreliable).expect("server transaction");
    while table.poll_event().is_some() {}
    assert!(table.send_final_response_and_end(now, &key, challenge));
    let sent = table.poll_transmit().expect("the 401 is sent");
    assert!(sent.1.contents.starts_with(b"SIP/2.0 401"));
    while table.poll_event().is_some() {}
    assert!(table.is_empty(), "nothing is kept to absorb retransmissions");
    // A retransmission is a new request for the TU, which challenges it again.
    let key = table.start_server(now, register(1), Reliability::Unreliable).expect("new transaction");
    assert!(matches!(table.poll_event(), Some((k, Event::Request(_))) if k == key));
}
