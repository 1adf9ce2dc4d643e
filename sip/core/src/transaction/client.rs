//! Client transactions (RFC 3261 §17.1, RFC 6026), and the ACK and CANCEL built from a client INVITE.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::machine::{Core, Phase, machine_api};
use super::timer::{Reliability, Retransmit, Timer, TimerConfig, earliest};
use super::{Event, State};
use crate::error::Error;
use crate::message::{HeaderName, Message, Method, StatusCode};

/// Max-Forwards of a built ACK or CANCEL when the INVITE has none (RFC 3261 §8.1.1.6).
const DEFAULT_MAX_FORWARDS: &str = "70";

/// The ACK for a 300-699 final response to `invite` (RFC 3261 §17.1.1.3): the INVITE's Request-URI, its top Via
/// only (same branch), its From, Call-ID and CSeq number with method ACK, its Route lines, and the To of the
/// response (which carries the UAS's tag).
///
/// Only for non-2xx responses: the ACK for a 2xx is the dialog's, with a new branch and the dialog's route set
/// (RFC 3261 §13.2.2.4). [`ClientInvite`] calls this itself.
pub fn build_ack(invite: &Message, response: &Message) -> Result<Message, Error> {
    // Parsed once to refuse a response whose To is malformed: it is copied into a request.
    response.to()?;
    let to = response.single(HeaderName::To)?;
    hop_request(invite, &Method::Ack, to)
}

/// A CANCEL for `invite` (RFC 3261 §9.1): the same Request-URI, top Via (same branch), From, To, Call-ID and
/// Route lines, and the CSeq number with method CANCEL. Fails when `invite` is not an INVITE (§9.1: CANCEL is
/// for INVITE only).
///
/// Send it on its own non-INVITE client transaction, and only once a provisional response has arrived for the
/// INVITE (§9.1); then call [`ClientInvite::cancel_sent`].
pub fn build_cancel(invite: &Message) -> Result<Message, Error> {
    if invite.method() != Some(&Method::Invite) {
        return Err(Error::NotApplicable("CANCEL is built from an INVITE"));
    }
    invite.to()?;
    let to = invite.single(HeaderName::To)?;
    hop_request(invite, &Method::Cancel, to)
}

/// The common shape of ACK and CANCEL: a request for the same hop as `invite`, with `to` as its To.
fn hop_request(invite: &Message, method: &Method, to: &str) -> Result<Message, Error> {
    let uri = invite.request_uri().ok_or(Error::BadStartLine)?;
    let via = invite.header_values(HeaderName::Via).next().ok_or(Error::MissingHeader(HeaderName::Via))?;
    // Parsed once so that malformed values are refused rather than copied into a new request.
    invite.top_via()?;
    invite.from()?;
    let from = invite.single(HeaderName::From)?;
    let call_id = invite.call_id()?;
    let seq = invite.cseq()?.seq;
    let max_forwards = invite.header(HeaderName::MaxForwards).unwrap_or(DEFAULT_MAX_FORWARDS);
    let mut builder = Message::request(method, uri).header("Via", via).header("Max-Forwards", max_forwards);
    for route in invite.header_lines(HeaderName::Route) {
        builder = builder.header("Route", route);
    }
    builder
        .header("From", from)
        .header("To", to)
        .header("Call-ID", call_id)
        .header("CSeq", format!("{seq} {method}"))
        .build()
}

/// The INVITE client transaction (RFC 3261 §17.1.1 with RFC 6026). See the module documentation.
#[derive(Debug)]
pub struct ClientInvite {
    core: Core<InviteState>,
    /// The INVITE, for the ACK of a non-2xx answer and for CANCEL.
    request: Message,
    /// The INVITE as sent, resent verbatim on Timer A.
    wire: Bytes,
}

#[derive(Debug)]
enum InviteState {
    Calling {
        /// `None` on reliable transports.
        timer_a: Option<Retransmit>,
        timer_b: Instant,
        timer_c: Option<Instant>,
        cancel_wait: Option<Instant>,
    },
    Proceeding {
        timer_c: Option<Instant>,
        cancel_wait: Option<Instant>,
    },
    Completed {
        /// The ACK sent for the final response, resent for each retransmission of it.
        ack: Bytes,
        timer_d: Instant,
    },
    Accepted {
        timer_m: Instant,
    },
    Terminated,
}

impl Phase for InviteState {
    const TERMINATED: Self = InviteState::Terminated;

    fn as_state(&self) -> State {
        match self {
            InviteState::Calling { .. } => State::Calling,
            InviteState::Proceeding { .. } => State::Proceeding,
            InviteState::Completed { .. } => State::Completed,
            InviteState::Accepted { .. } => State::Accepted,
            InviteState::Terminated => State::Terminated,
        }
    }

    fn next_timer(&self) -> Option<(Timer, Instant)> {
        match self {
            InviteState::Calling { timer_a, timer_b, timer_c, cancel_wait } => earliest(&[
                (Timer::B, Some(*timer_b)),
                (Timer::C, *timer_c),
                (Timer::CancelWait, *cancel_wait),
                (Timer::A, timer_a.map(|a| a.at)),
            ]),
            InviteState::Proceeding { timer_c, cancel_wait } => {
                earliest(&[(Timer::CancelWait, *cancel_wait), (Timer::C, *timer_c)])
            }
            InviteState::Completed { timer_d, .. } => Some((Timer::D, *timer_d)),
            InviteState::Accepted { timer_m } => Some((Timer::M, *timer_m)),
            InviteState::Terminated => None,
        }
    }
}

machine_api!(ClientInvite, key: "The key responses are matched with.");

impl ClientInvite {
    /// Starts the transaction for `request` (an INVITE whose top Via has an RFC 3261 branch) at `now`: the
    /// INVITE is queued for sending and Timers A, B (and C, when configured) are started.
    pub fn new(
        now: Instant,
        request: Message,
        timers: &TimerConfig,
        reliability: Reliability,
    ) -> Result<ClientInvite, Error> {
        ClientInvite::with_response_timeout(now, request, timers, reliability, None)
    }

    /// [`ClientInvite::new`] for a next hop that must show it is alive within `response_timeout` (a gateway or
    /// trunk that may be down): Timer B, which only runs until the first response, fires that long after the
    /// INVITE was sent instead of 64*T1 (never later). A provisional response stops it as usual, and from then
    /// on the transaction waits for its final response as any other.
    pub fn with_response_timeout(
        now: Instant,
        request: Message,
        timers: &TimerConfig,
        reliability: Reliability,
        response_timeout: Option<Duration>,
    ) -> Result<ClientInvite, Error> {
        if request.method() != Some(&Method::Invite) {
            return Err(Error::NotApplicable("an INVITE transaction needs an INVITE"));
        }
        let timer_b = response_timeout.map_or(timers.transaction_timeout(), |t| t.min(timers.transaction_timeout()));
        let state = InviteState::Calling {
            timer_a: Retransmit::start(now, timers.first_retransmit(reliability)),
            timer_b: now + timer_b,
            timer_c: timers.timer_c().map(|c| now + c),
            cancel_wait: None,
        };
        let (core, wire) = Core::client(&request, timers, reliability, state)?;
        Ok(ClientInvite { core, request, wire })
    }

    /// The INVITE this transaction sends.
    pub fn request(&self) -> &Message {
        &self.request
    }

    /// A response matched to this transaction. Requests, and responses whose CSeq method is not INVITE, are
    /// ignored.
    pub fn handle_message(&mut self, now: Instant, response: Message) {
        let Some(status) = response.status() else { return };
        if !response.cseq().is_ok_and(|c| c.method_text == Method::Invite.as_str()) {
            return;
        }
        let core = &mut self.core;
        match &mut core.state {
            InviteState::Calling { timer_c, cancel_wait, .. } | InviteState::Proceeding { timer_c, cancel_wait } => {
                let (timer_c, cancel_wait) = (*timer_c, *cancel_wait);
                if status.is_provisional() {
                    // RFC 3261 §16.7 step 2: provisional responses other than 100 reset Timer C.
                    let timer_c = if status == StatusCode::TRYING {
                        timer_c
                    } else {
                        timer_c.and(core.timers.timer_c().map(|c| now + c))
                    };
                    core.state = InviteState::Proceeding { timer_c, cancel_wait };
                    core.out.event(Event::Response(response));
                } else if status.is_success() {
                    core.state = InviteState::Accepted { timer_m: now + core.timers.transaction_timeout() };
                    core.out.event(Event::Response(response));
                } else {
                    // A final response whose ACK cannot be built is malformed; it is dropped like any other
                    // malformed response and the transaction waits for a good one (or its timer).
                    let Ok(ack) = build_ack(&self.request, &response) else { return };
                    let ack = ack.to_bytes();
                    core.out.send(&ack);
                    core.out.event(Event::Response(response));
                    let timer_d = core.timers.timer_d(core.reliability);
                    core.wait_or_terminate(now, timer_d, |timer_d| InviteState::Completed { ack, timer_d });
                }
            }
            InviteState::Completed { ack, .. } => {
                if status.is_final() && !status.is_success() {
                    core.out.resend(ack);
                }
            }
            InviteState::Accepted { .. } => {
                // RFC 6026: every 2xx, retransmitted or from another fork, goes to the TU.
                if status.is_success() {
                    core.out.event(Event::Response(response));
                }
            }
            InviteState::Terminated => {}
        }
    }

    /// The driver could not send a message of this transaction (RFC 3261 §17.1.4): the TU is told and the
    /// transaction ends.
    pub fn transport_error(&mut self, _now: Instant) {
        self.core.transport_failed();
    }

    /// Records that the TU sent a CANCEL for this INVITE. If no final response arrives within 64*T1, the
    /// transaction ends with [`Event::Timeout`]`(`[`Timer::CancelWait`]`)` (RFC 3261 §9.1).
    pub fn cancel_sent(&mut self, now: Instant) {
        let deadline = now + self.core.timers.transaction_timeout();
        if let InviteState::Calling { cancel_wait, .. } | InviteState::Proceeding { cancel_wait, .. } =
            &mut self.core.state
        {
            cancel_wait.get_or_insert(deadline);
        }
    }

    /// A CANCEL for this transaction's INVITE (see [`build_cancel`]).
    pub fn build_cancel(&self) -> Result<Message, Error> {
        build_cancel(&self.request)
    }

    fn fire(&mut self, timer: Timer, now: Instant) {
        let core = &mut self.core;
        match (timer, &mut core.state) {
            (Timer::A, InviteState::Calling { timer_a: Some(a), .. }) => {
                core.out.resend(&self.wire);
                *a = a.doubled(now);
            }
            (Timer::C, InviteState::Proceeding { timer_c, cancel_wait }) => {
                // RFC 3261 §16.8: the proxy must now CANCEL; if even that gets no final response, §9.1 ends
                // the transaction 64*T1 later.
                *timer_c = None;
                cancel_wait.get_or_insert(now + core.timers.transaction_timeout());
                core.out.event(Event::Timeout(Timer::C));
            }
            (Timer::B | Timer::C | Timer::CancelWait, InviteState::Calling { .. })
            | (Timer::CancelWait, InviteState::Proceeding { .. }) => {
                core.out.event(Event::Timeout(timer));
                core.terminate();
            }
            (Timer::D, InviteState::Completed { .. }) | (Timer::M, InviteState::Accepted { .. }) => core.terminate(),
            // Not produced by `next_timer` for this state; ending keeps a mistake from looping.
            _ => core.terminate(),
        }
    }
}

/// The non-INVITE client transaction (RFC 3261 §17.1.2). See the module documentation.
#[derive(Debug)]
pub struct ClientNonInvite {
    core: Core<NonInviteState>,
    /// The request, for the TU (a challenged request is sent again with credentials).
    request: Message,
    /// The request as sent, resent verbatim on Timer E.
    wire: Bytes,
}

#[derive(Debug)]
enum NonInviteState {
    Trying {
        /// `None` on reliable transports.
        timer_e: Option<Retransmit>,
        /// 64*T1 after the request was sent, or earlier with a response timeout.
        timer_f: Instant,
        /// Timer F once a provisional response shows the next hop is alive: always 64*T1 after the request.
        timer_f_proceeding: Instant,
    },
    Proceeding {
        timer_e: Option<Retransmit>,
        timer_f: Instant,
    },
    Completed {
        timer_k: Instant,
    },
    Terminated,
}

impl Phase for NonInviteState {
    const TERMINATED: Self = NonInviteState::Terminated;

    fn as_state(&self) -> State {
        match self {
            NonInviteState::Trying { .. } => State::Trying,
            NonInviteState::Proceeding { .. } => State::Proceeding,
            NonInviteState::Completed { .. } => State::Completed,
            NonInviteState::Terminated => State::Terminated,
        }
    }

    fn next_timer(&self) -> Option<(Timer, Instant)> {
        match self {
            NonInviteState::Trying { timer_e, timer_f, .. } | NonInviteState::Proceeding { timer_e, timer_f } => {
                earliest(&[(Timer::F, Some(*timer_f)), (Timer::E, timer_e.map(|e| e.at))])
            }
            NonInviteState::Completed { timer_k } => Some((Timer::K, *timer_k)),
            NonInviteState::Terminated => None,
        }
    }
}

machine_api!(ClientNonInvite, key: "The key responses are matched with.");

impl ClientNonInvite {
    /// Starts the transaction for `request` (neither INVITE nor ACK, top Via with an RFC 3261 branch) at `now`:
    /// the request is queued for sending and Timers E and F are started.
    pub fn new(
        now: Instant,
        request: Message,
        timers: &TimerConfig,
        reliability: Reliability,
    ) -> Result<ClientNonInvite, Error> {
        ClientNonInvite::with_response_timeout(now, request, timers, reliability, None)
    }

    /// [`ClientNonInvite::new`] for a next hop that must show it is alive within `response_timeout`: without
    /// any response by then, Timer F fires that long after the request was sent instead of 64*T1 (never later).
    /// A provisional response puts Timer F back at 64*T1 after the request.
    pub fn with_response_timeout(
        now: Instant,
        request: Message,
        timers: &TimerConfig,
        reliability: Reliability,
        response_timeout: Option<Duration>,
    ) -> Result<ClientNonInvite, Error> {
        if matches!(request.method(), None | Some(Method::Invite | Method::Ack)) {
            return Err(Error::NotApplicable("a non-INVITE transaction needs a request other than INVITE or ACK"));
        }
        let full = timers.transaction_timeout();
        let state = NonInviteState::Trying {
            timer_e: Retransmit::start(now, timers.first_retransmit(reliability)),
            timer_f: now + response_timeout.map_or(full, |t| t.min(full)),
            timer_f_proceeding: now + full,
        };
        let (core, wire) = Core::client(&request, timers, reliability, state)?;
        Ok(ClientNonInvite { core, request, wire })
    }

    /// The request this transaction sends.
    pub fn request(&self) -> &Message {
        &self.request
    }

    /// A response matched to this transaction. Requests, and responses whose CSeq method is not the request's,
    /// are ignored.
    pub fn handle_message(&mut self, now: Instant, response: Message) {
        let Some(status) = response.status() else { return };
        let core = &mut self.core;
        let method = core.key.method().as_str();
        if !response.cseq().is_ok_and(|c| c.method_text == method) {
            return;
        }
        match &mut core.state {
            NonInviteState::Trying { timer_e, timer_f_proceeding: timer_f, .. }
            | NonInviteState::Proceeding { timer_e, timer_f } => {
                let (timer_e, timer_f) = (*timer_e, *timer_f);
                core.out.event(Event::Response(response));
                if status.is_provisional() {
                    core.state = NonInviteState::Proceeding { timer_e, timer_f };
                    return;
                }
                let timer_k = core.timers.timer_i_k(core.reliability);
                core.wait_or_terminate(now, timer_k, |timer_k| NonInviteState::Completed { timer_k });
            }
            // Retransmitted responses are absorbed.
            NonInviteState::Completed { .. } | NonInviteState::Terminated => {}
        }
    }

    /// The driver could not send the request (RFC 3261 §17.1.4): the TU is told and the transaction ends.
    pub fn transport_error(&mut self, _now: Instant) {
        self.core.transport_failed();
    }

    fn fire(&mut self, timer: Timer, now: Instant) {
        let core = &mut self.core;
        let t2 = core.timers.t2();
        match (timer, &mut core.state) {
            (Timer::E, NonInviteState::Trying { timer_e: Some(e), .. }) => {
                core.out.resend(&self.wire);
                *e = e.doubled_up_to(now, t2);
            }
            (Timer::E, NonInviteState::Proceeding { timer_e: Some(e), .. }) => {
                core.out.resend(&self.wire);
                *e = Retransmit::fixed(now, t2);
            }
            (Timer::F, NonInviteState::Trying { .. } | NonInviteState::Proceeding { .. }) => {
                core.out.event(Event::Timeout(Timer::F));
                core.terminate();
            }
            // Timer K, and (never produced) anything else: ending keeps a mistake from looping.
            _ => core.terminate(),
        }
    }
}
