//! Server transactions (RFC 3261 §17.2, RFC 6026).

use std::time::Instant;

use bytes::Bytes;

use super::key::TransactionKey;
use super::timer::{Reliability, Retransmit, Timer, TimerConfig, earliest};
use super::{Event, MAX_TIMERS_PER_CALL, Outputs, State, Transmit};
use crate::error::Error;
use crate::message::{Message, Method, StatusCode};

/// The INVITE server transaction (RFC 3261 §17.2.1 with RFC 6026). See the module documentation.
#[derive(Debug)]
pub struct ServerInvite {
    key: TransactionKey,
    request: Message,
    timers: TimerConfig,
    reliability: Reliability,
    state: InviteState,
    out: Outputs,
}

#[derive(Debug)]
enum InviteState {
    Proceeding {
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
        let key = TransactionKey::for_request(&request)?;
        let mut out = Outputs::default();
        out.event(Event::Request(request.clone()));
        let state = InviteState::Proceeding { last_provisional: None, trying_at: Some(now + timers.trying_delay()) };
        Ok(ServerInvite { key, request, timers: timers.clone(), reliability, state, out })
    }

    /// The key requests are matched with.
    pub fn key(&self) -> &TransactionKey {
        &self.key
    }

    /// The INVITE that created the transaction.
    pub fn request(&self) -> &Message {
        &self.request
    }

    /// The current state.
    pub fn state(&self) -> State {
        match self.state {
            InviteState::Proceeding { .. } => State::Proceeding,
            InviteState::Completed { .. } => State::Completed,
            InviteState::Confirmed { .. } => State::Confirmed,
            InviteState::Accepted { .. } => State::Accepted,
            InviteState::Terminated => State::Terminated,
        }
    }

    /// Whether the transaction is over (its remaining output may still be polled).
    pub fn is_terminated(&self) -> bool {
        matches!(self.state, InviteState::Terminated)
    }

    /// A response from the TU. Returns whether it was passed to the transport: in Proceeding every response is;
    /// in Accepted only 2xx (the TU's own 2xx retransmissions, RFC 6026); after a non-2xx final response
    /// nothing is (RFC 3261 §17.2.1).
    pub fn send_response(&mut self, now: Instant, response: Message) -> bool {
        let Some(status) = response.status() else { return false };
        match &mut self.state {
            InviteState::Proceeding { last_provisional, trying_at } => {
                let wire = response.to_bytes();
                self.out.send(&wire);
                if status.is_provisional() {
                    *last_provisional = Some(wire);
                    *trying_at = None;
                } else if status.is_success() {
                    self.state = InviteState::Accepted { timer_l: now + self.timers.transaction_timeout() };
                } else {
                    let to_tag = response.to().ok().and_then(|to| to.tag().map(Into::into));
                    self.state = InviteState::Completed {
                        response: wire,
                        to_tag,
                        timer_g: Retransmit::start(now, self.timers.first_retransmit(self.reliability)),
                        timer_h: now + self.timers.transaction_timeout(),
                    };
                }
                true
            }
            InviteState::Accepted { .. } if status.is_success() => {
                self.out.send(&response.to_bytes());
                true
            }
            _ => false,
        }
    }

    /// A request matched to this transaction: a retransmitted INVITE or an ACK. Anything else is ignored.
    pub fn handle_message(&mut self, now: Instant, request: Message) {
        match request.method() {
            Some(Method::Invite) => match &self.state {
                InviteState::Proceeding { last_provisional: Some(provisional), .. } => self.out.resend(provisional),
                InviteState::Completed { response, .. } => self.out.resend(response),
                // Absorbed; in Accepted the TU's 2xx retransmissions already answer them (RFC 6026).
                _ => {}
            },
            Some(Method::Ack) => match &self.state {
                InviteState::Completed { to_tag, .. } => {
                    if self.key.is_rfc2543() && !ack_matches_tag(&request, to_tag.as_deref()) {
                        return;
                    }
                    let timer_i = self.timers.timer_i_k(self.reliability);
                    if timer_i.is_zero() {
                        self.terminate();
                    } else {
                        self.state = InviteState::Confirmed { timer_i: now + timer_i };
                    }
                }
                InviteState::Accepted { .. } => self.out.event(Event::Ack(request)),
                _ => {}
            },
            _ => {}
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        for _ in 0..MAX_TIMERS_PER_CALL {
            match self.next_timer() {
                Some((timer, at)) if at <= now => self.fire(timer, now),
                _ => return,
            }
        }
    }

    /// The driver could not send a response of this transaction. The TU is told; the transaction ends only in
    /// Completed (RFC 3261 §17.2.4): in Proceeding and Accepted the TU may still answer (RFC 6026).
    pub fn transport_error(&mut self, _now: Instant) {
        match self.state {
            InviteState::Terminated => {}
            InviteState::Completed { .. } => {
                self.out.event(Event::TransportError);
                self.terminate();
            }
            _ => self.out.event(Event::TransportError),
        }
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.transmits.pop_front()
    }

    /// When [`ServerInvite::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_timer().map(|(_, at)| at)
    }

    /// The next event for the TU.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.out.events.pop_front()
    }

    pub(crate) fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    fn next_timer(&self) -> Option<(Timer, Instant)> {
        match &self.state {
            InviteState::Proceeding { trying_at, .. } => trying_at.map(|at| (Timer::Trying, at)),
            InviteState::Completed { timer_g, timer_h, .. } => {
                earliest(&[(Timer::H, Some(*timer_h)), (Timer::G, timer_g.map(|g| g.at))])
            }
            InviteState::Confirmed { timer_i } => Some((Timer::I, *timer_i)),
            InviteState::Accepted { timer_l } => Some((Timer::L, *timer_l)),
            InviteState::Terminated => None,
        }
    }

    fn fire(&mut self, timer: Timer, now: Instant) {
        let t2 = self.timers.t2();
        match (timer, &mut self.state) {
            (Timer::Trying, InviteState::Proceeding { last_provisional, trying_at }) => {
                *trying_at = None;
                // The 100 copies the request's headers and adds no To tag (RFC 3261 §17.2.1).
                if last_provisional.is_none()
                    && let Ok(trying) = Message::response_to(&self.request, StatusCode::TRYING).build()
                {
                    let wire = trying.to_bytes();
                    self.out.send(&wire);
                    *last_provisional = Some(wire);
                }
            }
            (Timer::G, InviteState::Completed { response, timer_g: Some(g), .. }) => {
                self.out.resend(response);
                *g = g.doubled_up_to(now, t2);
            }
            (Timer::H, InviteState::Completed { .. }) => {
                self.out.event(Event::Timeout(Timer::H));
                self.terminate();
            }
            // Timers I and L, and (never produced) anything else: ending keeps a mistake from looping.
            _ => self.terminate(),
        }
    }

    fn terminate(&mut self) {
        if !self.is_terminated() {
            self.state = InviteState::Terminated;
            self.out.event(Event::Terminated);
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
    key: TransactionKey,
    request: Message,
    timers: TimerConfig,
    reliability: Reliability,
    state: NonInviteState,
    out: Outputs,
}

#[derive(Debug)]
enum NonInviteState {
    Trying,
    Proceeding {
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
        let key = TransactionKey::for_request(&request)?;
        let mut out = Outputs::default();
        out.event(Event::Request(request.clone()));
        Ok(ServerNonInvite { key, request, timers: timers.clone(), reliability, state: NonInviteState::Trying, out })
    }

    /// The key requests are matched with.
    pub fn key(&self) -> &TransactionKey {
        &self.key
    }

    /// The request that created the transaction.
    pub fn request(&self) -> &Message {
        &self.request
    }

    /// The current state.
    pub fn state(&self) -> State {
        match self.state {
            NonInviteState::Trying => State::Trying,
            NonInviteState::Proceeding { .. } => State::Proceeding,
            NonInviteState::Completed { .. } => State::Completed,
            NonInviteState::Terminated => State::Terminated,
        }
    }

    /// Whether the transaction is over (its remaining output may still be polled).
    pub fn is_terminated(&self) -> bool {
        matches!(self.state, NonInviteState::Terminated)
    }

    /// A response from the TU. Returns whether it was passed to the transport: responses after the final one
    /// are discarded (RFC 3261 §17.2.2).
    pub fn send_response(&mut self, now: Instant, response: Message) -> bool {
        let Some(status) = response.status() else { return false };
        if !matches!(self.state, NonInviteState::Trying | NonInviteState::Proceeding { .. }) {
            return false;
        }
        let wire = response.to_bytes();
        self.out.send(&wire);
        if status.is_provisional() {
            self.state = NonInviteState::Proceeding { last_provisional: wire };
            return true;
        }
        let timer_j = self.timers.timer_j(self.reliability);
        if timer_j.is_zero() {
            self.terminate();
        } else {
            self.state = NonInviteState::Completed { response: wire, timer_j: now + timer_j };
        }
        true
    }

    /// A request matched to this transaction: a retransmission, answered with the latest response sent.
    pub fn handle_message(&mut self, _now: Instant, request: Message) {
        if request.method() != Some(self.key.method()) {
            return;
        }
        match &self.state {
            NonInviteState::Proceeding { last_provisional } => self.out.resend(last_provisional),
            NonInviteState::Completed { response, .. } => self.out.resend(response),
            NonInviteState::Trying | NonInviteState::Terminated => {}
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let NonInviteState::Completed { timer_j, .. } = self.state
            && timer_j <= now
        {
            self.terminate();
        }
    }

    /// The driver could not send a response of this transaction (RFC 3261 §17.2.4): the TU is told and the
    /// transaction ends.
    pub fn transport_error(&mut self, _now: Instant) {
        if !self.is_terminated() {
            self.out.event(Event::TransportError);
            self.terminate();
        }
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.transmits.pop_front()
    }

    /// When [`ServerNonInvite::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            NonInviteState::Completed { timer_j, .. } => Some(timer_j),
            _ => None,
        }
    }

    /// The next event for the TU.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.out.events.pop_front()
    }

    pub(crate) fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    fn terminate(&mut self) {
        if !self.is_terminated() {
            self.state = NonInviteState::Terminated;
            self.out.event(Event::Terminated);
        }
    }
}
