//! Server transactions (RFC 3261 §17.2, RFC 6026).

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::machine::{Core, Phase, machine_api};
use super::timer::{Reliability, Retransmit, Timer, TimerConfig, earliest};
use super::{Event, State};
use crate::error::Error;
use crate::message::{Message, Method, StatusCode};

/// The INVITE server transaction (RFC 3261 §17.2.1 with RFC 6026). See the module documentation.
#[derive(Debug)]
pub struct ServerInvite {
    core: Core<InviteState>,
}

#[derive(Debug)]
enum InviteState {
    Proceeding {
        /// The INVITE, until it is answered: the 100 Trying copies its headers. Boxed so that the other states
        /// do not carry its size.
        request: Box<Message>,
        /// The latest provisional response sent, resent for each retransmitted INVITE.
        last_provisional: Option<Bytes>,
        /// When to send 100 Trying if the TU has sent nothing by then.
        trying_at: Option<Instant>,
    },
    Completed {
        /// The final response, resent on Timer G and for each retransmitted INVITE.
        response: Bytes,
        /// Its To tag, which an RFC 2543 ACK must carry to match (RFC 3261 §17.2.3).
        to_tag: Option<Box<str>>,
        /// `None` on reliable transports.
        timer_g: Option<Retransmit>,
        timer_h: Instant,
    },
    Confirmed {
        timer_i: Instant,
    },
    Accepted {
        timer_l: Instant,
    },
    Terminated,
}

impl Phase for InviteState {
    const TERMINATED: Self = InviteState::Terminated;

    fn as_state(&self) -> State {
        match self {
            InviteState::Proceeding { .. } => State::Proceeding,
            InviteState::Completed { .. } => State::Completed,
            InviteState::Confirmed { .. } => State::Confirmed,
            InviteState::Accepted { .. } => State::Accepted,
            InviteState::Terminated => State::Terminated,
        }
    }

    fn next_timer(&self) -> Option<(Timer, Instant)> {
        match self {
            InviteState::Proceeding { trying_at, .. } => trying_at.map(|at| (Timer::Trying, at)),
            InviteState::Completed { timer_g, timer_h, .. } => {
                earliest(&[(Timer::H, Some(*timer_h)), (Timer::G, timer_g.map(|g| g.at))])
            }
            InviteState::Confirmed { timer_i } => Some((Timer::I, *timer_i)),
            InviteState::Accepted { timer_l } => Some((Timer::L, *timer_l)),
            InviteState::Terminated => None,
        }
    }
}

machine_api!(ServerInvite, key: "The key requests are matched with.");

impl ServerInvite {
    /// Creates the transaction for a received INVITE at `now`. The INVITE is queued for the TU as
    /// [`Event::Request`].
    pub fn new(
        now: Instant,
        request: Message,
        timers: &TimerConfig,
        reliability: Reliability,
    ) -> Result<ServerInvite, Error> {
        if request.method() != Some(&Method::Invite) {
            return Err(Error::NotApplicable("an INVITE transaction needs an INVITE"));
        }
        let trying_at = Some(now + timers.trying_delay());
        let state = |request| InviteState::Proceeding { request: Box::new(request), last_provisional: None, trying_at };
        Ok(ServerInvite { core: Core::server(request, timers, reliability, state)? })
    }

    /// The INVITE that created the transaction, until the transaction has answered it: a final response ends
    /// what the transaction needs it for, and a busy element holds answered transactions by the thousand.
    pub fn request(&self) -> Option<&Message> {
        match &self.core.state {
            InviteState::Proceeding { request, .. } => Some(request),
            _ => None,
        }
    }

    /// A response from the TU. Returns whether it was passed to the transport: in Proceeding every response is;
    /// in Accepted only 2xx (the TU's own 2xx retransmissions, RFC 6026); after a non-2xx final response
    /// nothing is (RFC 3261 §17.2.1).
    pub fn send_response(&mut self, now: Instant, response: Message) -> bool {
        let Some(status) = response.status() else { return false };
        let core = &mut self.core;
        match &mut core.state {
            InviteState::Proceeding { last_provisional, trying_at, .. } => {
                let wire = response.to_bytes();
                core.out.send(&wire);
                if status.is_provisional() {
                    *last_provisional = Some(wire);
                    *trying_at = None;
                } else if status.is_success() {
                    core.state = InviteState::Accepted { timer_l: now + core.timers.transaction_timeout() };
                } else {
                    let to_tag = response.to().ok().and_then(|to| to.tag().map(Into::into));
                    core.state = InviteState::Completed {
                        response: wire,
                        to_tag,
                        timer_g: Retransmit::start(now, core.timers.first_retransmit(core.reliability)),
                        timer_h: now + core.timers.transaction_timeout(),
                    };
                }
                true
            }
            InviteState::Accepted { .. } if status.is_success() => {
                core.out.send(&response.to_bytes());
                true
            }
            _ => false,
        }
    }

    /// A request matched to this transaction: a retransmitted INVITE or an ACK. Anything else is ignored.
    pub fn handle_message(&mut self, now: Instant, request: Message) {
        let core = &mut self.core;
        match request.method() {
            Some(Method::Invite) => match &core.state {
                InviteState::Proceeding { last_provisional: Some(provisional), .. } => core.out.resend(provisional),
                InviteState::Completed { response, .. } => core.out.resend(response),
                // Absorbed; in Accepted the TU's 2xx retransmissions already answer them (RFC 6026).
                _ => {}
            },
            Some(Method::Ack) => match &core.state {
                InviteState::Completed { to_tag, .. } => {
                    if core.key.is_rfc2543() && !ack_matches_tag(&request, to_tag.as_deref()) {
                        return;
                    }
                    let timer_i = core.timers.timer_i_k(core.reliability);
                    core.wait_or_terminate(now, timer_i, |timer_i| InviteState::Confirmed { timer_i });
                }
                InviteState::Accepted { .. } => core.out.event(Event::Ack(request)),
                _ => {}
            },
            _ => {}
        }
    }

    /// The driver could not send a response of this transaction. The TU is told; the transaction ends only in
    /// Completed (RFC 3261 §17.2.4): in Proceeding and Accepted the TU may still answer (RFC 6026).
    pub fn transport_error(&mut self, _now: Instant) {
        match self.core.state {
            InviteState::Terminated => {}
            InviteState::Completed { .. } => self.core.transport_failed(),
            _ => self.core.out.event(Event::TransportError),
        }
    }

    fn fire(&mut self, timer: Timer, now: Instant) {
        let core = &mut self.core;
        let t2 = core.timers.t2();
        match (timer, &mut core.state) {
            (Timer::Trying, InviteState::Proceeding { request, last_provisional, trying_at }) => {
                *trying_at = None;
                // The 100 copies the request's headers and adds no To tag (RFC 3261 §17.2.1).
                if last_provisional.is_none()
                    && let Ok(trying) = Message::response_to(request, StatusCode::TRYING).build()
                {
                    let wire = trying.to_bytes();
                    core.out.send(&wire);
                    *last_provisional = Some(wire);
                }
            }
            (Timer::G, InviteState::Completed { response, timer_g: Some(g), .. }) => {
                core.out.resend(response);
                *g = g.doubled_up_to(now, t2);
            }
            (Timer::H, InviteState::Completed { .. }) => {
                core.out.event(Event::Timeout(Timer::H));
                core.terminate();
            }
            // Timers I and L, and (never produced) anything else: ending keeps a mistake from looping.
            _ => core.terminate(),
        }
    }
}

/// Whether an RFC 2543 ACK carries the To tag of the response it acknowledges (RFC 3261 §17.2.3).
fn ack_matches_tag(ack: &Message, response_tag: Option<&str>) -> bool {
    match response_tag {
        None => true,
        Some(tag) => ack.to().is_ok_and(|to| to.tag() == Some(tag)),
    }
}

/// The non-INVITE server transaction (RFC 3261 §17.2.2). See the module documentation.
#[derive(Debug)]
pub struct ServerNonInvite {
    core: Core<NonInviteState>,
}

#[derive(Debug)]
enum NonInviteState {
    Trying {
        /// The request, until it is answered. Boxed so that Completed, where a transaction spends most of its
        /// life, does not carry its size.
        request: Box<Message>,
    },
    Proceeding {
        /// The request, until it is answered.
        request: Box<Message>,
        /// The latest provisional response sent, resent for each retransmitted request.
        last_provisional: Bytes,
    },
    Completed {
        /// The final response, resent for each retransmitted request.
        response: Bytes,
        timer_j: Instant,
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
            NonInviteState::Completed { timer_j, .. } => Some((Timer::J, *timer_j)),
            NonInviteState::Trying { .. } | NonInviteState::Proceeding { .. } | NonInviteState::Terminated => None,
        }
    }
}

machine_api!(ServerNonInvite, key: "The key requests are matched with.");

impl ServerNonInvite {
    /// Creates the transaction for a received request other than INVITE and ACK at `now`. The request is queued
    /// for the TU as [`Event::Request`].
    pub fn new(
        _now: Instant,
        request: Message,
        timers: &TimerConfig,
        reliability: Reliability,
    ) -> Result<ServerNonInvite, Error> {
        if matches!(request.method(), None | Some(Method::Invite | Method::Ack)) {
            return Err(Error::NotApplicable("a non-INVITE transaction needs a request other than INVITE or ACK"));
        }
        let state = |request| NonInviteState::Trying { request: Box::new(request) };
        Ok(ServerNonInvite { core: Core::server(request, timers, reliability, state)? })
    }

    /// The request that created the transaction, until the transaction has answered it: a final response ends
    /// what the transaction needs it for, and a busy registrar holds answered transactions by the ten thousand.
    pub fn request(&self) -> Option<&Message> {
        match &self.core.state {
            NonInviteState::Trying { request } | NonInviteState::Proceeding { request, .. } => Some(request),
            NonInviteState::Completed { .. } | NonInviteState::Terminated => None,
        }
    }

    /// A response from the TU. Returns whether it was passed to the transport: responses after the final one
    /// are discarded (RFC 3261 §17.2.2).
    pub fn send_response(&mut self, now: Instant, response: Message) -> bool {
        let wait = self.core.timers.timer_j(self.core.reliability);
        self.answer(now, response, wait)
    }

    /// A final response sent the way a stateless UAS sends it (RFC 3261 §8.2.7): the transaction ends at once
    /// and keeps nothing to answer retransmissions with, so each one reaches the TU as a new request. Only for
    /// answers every copy of the request would get, such as the challenge of a request without credentials;
    /// provisional responses are refused. Returns whether the response was passed to the transport.
    pub fn send_final_response_and_end(&mut self, now: Instant, response: Message) -> bool {
        if !response.status().is_some_and(StatusCode::is_final) {
            return false;
        }
        self.answer(now, response, Duration::ZERO)
    }

    /// Sends `response`; a final one is then remembered for `wait` (Timer J) to answer retransmissions.
    fn answer(&mut self, now: Instant, response: Message, wait: Duration) -> bool {
        let Some(status) = response.status() else { return false };
        let core = &mut self.core;
        let wire = response.to_bytes();
        let request = match &core.state {
            NonInviteState::Trying { request } | NonInviteState::Proceeding { request, .. } => request,
            NonInviteState::Completed { .. } | NonInviteState::Terminated => return false,
        };
        core.out.send(&wire);
        if status.is_provisional() {
            // Still unanswered, so the request is kept (a clone shares its octets; RFC 4320 makes this rare).
            core.state = NonInviteState::Proceeding { request: request.clone(), last_provisional: wire };
        } else {
            // Answered: the new state drops the request.
            core.wait_or_terminate(now, wait, |timer_j| NonInviteState::Completed { response: wire, timer_j });
        }
        true
    }

    /// A request matched to this transaction: a retransmission, answered with the latest response sent.
    pub fn handle_message(&mut self, _now: Instant, request: Message) {
        let core = &mut self.core;
        if request.method() != Some(core.key.method()) {
            return;
        }
        match &core.state {
            NonInviteState::Proceeding { last_provisional, .. } => core.out.resend(last_provisional),
            NonInviteState::Completed { response, .. } => core.out.resend(response),
            NonInviteState::Trying { .. } | NonInviteState::Terminated => {}
        }
    }

    /// The driver could not send a response of this transaction (RFC 3261 §17.2.4): the TU is told and the
    /// transaction ends.
    pub fn transport_error(&mut self, _now: Instant) {
        self.core.transport_failed();
    }

    /// Timer J, the only timer of this transaction, ends it.
    fn fire(&mut self, _timer: Timer, _now: Instant) {
        self.core.terminate();
    }
}
