//! What the four transaction machines share: [`Core`], the part of a transaction that is the same whatever its
//! kind (key, timer values, reliability, current state, output queues), the steps every kind takes the
//! same way (ending, failing on a transport error, entering a wait that is zero on reliable transports, firing
//! due timers), and [`machine_api`], the public methods that only read or drain a [`Core`].
//!
//! What differs between the kinds stays in their own files: their state enums and how they react to messages,
//! responses from the TU and timers.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::key::TransactionKey;
use super::timer::{Reliability, Timer, TimerConfig};
use super::{Event, State, Transmit};
use crate::error::Error;
use crate::message::Message;

/// Upper bound on timers handled in one `handle_timeout` call: each firing either ends the transaction or moves
/// its timer past `now`, so this only guards against a mistake turning into a busy loop.
const MAX_TIMERS_PER_CALL: usize = 64;

/// A machine's state enum, as the shared code sees it.
pub(super) trait Phase {
    /// The variant the transaction ends in.
    const TERMINATED: Self;

    /// The public name of the current variant.
    fn as_state(&self) -> State;

    /// The timer the current variant waits for first, and when it fires. On a tie, the timer that ends the
    /// transaction comes first.
    fn next_timer(&self) -> Option<(Timer, Instant)>;
}

/// What every transaction holds, whatever its kind. `S` is the kind's state enum.
#[derive(Debug)]
pub(super) struct Core<S> {
    pub(super) key: TransactionKey,
    pub(super) timers: TimerConfig,
    pub(super) reliability: Reliability,
    pub(super) state: S,
    pub(super) out: Outputs,
}

impl<S: Phase> Core<S> {
    /// A client transaction sending `request`, starting in `state`: the request is queued for sending, and its
    /// wire form is returned for the retransmissions.
    pub(super) fn client(
        request: &Message,
        timers: &TimerConfig,
        reliability: Reliability,
        state: S,
    ) -> Result<(Core<S>, Bytes), Error> {
        let key = TransactionKey::for_client_request(request)?;
        let wire = request.to_bytes();
        let mut out = Outputs::default();
        out.send(&wire);
        Ok((Core { key, timers: timers.clone(), reliability, state, out }, wire))
    }

    /// A server transaction for a received `request`, starting in the state `state` builds from it: the request
    /// is queued for the TU as [`Event::Request`].
    pub(super) fn server(
        request: Message,
        timers: &TimerConfig,
        reliability: Reliability,
        state: impl FnOnce(Message) -> S,
    ) -> Result<Core<S>, Error> {
        let key = TransactionKey::for_request(&request)?;
        let mut out = Outputs::default();
        out.event(Event::Request(request.clone()));
        Ok(Core { key, timers: timers.clone(), reliability, state: state(request), out })
    }

    pub(super) fn is_terminated(&self) -> bool {
        self.state.as_state() == State::Terminated
    }

    /// Moves to Terminated; [`Event::Terminated`] is queued once, as the last event.
    pub(super) fn terminate(&mut self) {
        if !self.is_terminated() {
            self.state = S::TERMINATED;
            self.out.event(Event::Terminated);
        }
    }

    /// A send failed in a state where that ends the transaction (RFC 3261 §17.1.4, §17.2.4): the TU is told, then
    /// the transaction ends.
    pub(super) fn transport_failed(&mut self) {
        if !self.is_terminated() {
            self.out.event(Event::TransportError);
            self.terminate();
        }
    }

    /// Enters the state that absorbs retransmissions for `wait` (`waiting` builds it from its deadline), or ends
    /// at once when `wait` is zero, as Timers D, I, J and K are on reliable transports.
    pub(super) fn wait_or_terminate(&mut self, now: Instant, wait: Duration, waiting: impl FnOnce(Instant) -> S) {
        if wait.is_zero() {
            self.terminate();
        } else {
            self.state = waiting(now + wait);
        }
    }

    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.state.next_timer().map(|(_, at)| at)
    }

    pub(super) fn poll_transmit(&mut self) -> Option<Transmit> {
        release_when_drained(&mut self.out.transmits)
    }

    pub(super) fn poll_event(&mut self) -> Option<Event> {
        release_when_drained(&mut self.out.events)
    }

    pub(super) fn has_output(&self) -> bool {
        !self.out.transmits.is_empty() || !self.out.events.is_empty()
    }
}

/// Fires, one at a time and earliest first, every timer of `machine` due at `now`: `next_timer` says which timer
/// is next, `fire` applies it (and moves or disarms it).
pub(super) fn fire_due<M>(
    machine: &mut M,
    now: Instant,
    next_timer: impl Fn(&M) -> Option<(Timer, Instant)>,
    mut fire: impl FnMut(&mut M, Timer, Instant),
) {
    for _ in 0..MAX_TIMERS_PER_CALL {
        match next_timer(machine) {
            Some((timer, at)) if at <= now => fire(machine, timer, now),
            _ => return,
        }
    }
}

/// The front of `queue`; once it is empty its buffer is freed. A transaction spends most of its life absorbing
/// retransmissions with nothing queued, and a busy element holds tens of thousands of them.
fn release_when_drained<T>(queue: &mut VecDeque<T>) -> Option<T> {
    let front = queue.pop_front();
    if queue.is_empty() && queue.capacity() > 0 {
        *queue = VecDeque::new();
    }
    front
}

/// Output queues of one transaction.
#[derive(Debug, Default)]
pub(super) struct Outputs {
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
}

impl Outputs {
    pub(super) fn send(&mut self, contents: &Bytes) {
        self.transmits.push_back(Transmit { contents: contents.clone(), retransmission: false });
    }

    pub(super) fn resend(&mut self, contents: &Bytes) {
        self.transmits.push_back(Transmit { contents: contents.clone(), retransmission: true });
    }

    pub(super) fn event(&mut self, event: Event) {
        self.events.push_back(event);
    }
}

/// The public methods of a machine that only read its [`Core`] or drain its output, written once for the four
/// machines. The machine has a field `core: Core<_>` and a method `fn fire(&mut self, Timer, Instant)`; `key`
/// documents its `key()`, which says different things for clients and servers.
macro_rules! machine_api {
    ($machine:ident, key: $key:literal) => {
        impl $machine {
            #[doc = $key]
            pub fn key(&self) -> &$crate::transaction::TransactionKey {
                &self.core.key
            }

            /// The current state.
            pub fn state(&self) -> $crate::transaction::State {
                self.core.state.as_state()
            }

            /// Whether the transaction is over (its remaining output may still be polled).
            pub fn is_terminated(&self) -> bool {
                self.core.is_terminated()
            }

            /// Fires every timer due at `now`.
            pub fn handle_timeout(&mut self, now: ::std::time::Instant) {
                $crate::transaction::machine::fire_due(
                    self,
                    now,
                    |machine| machine.core.state.next_timer(),
                    $machine::fire,
                );
            }

            /// The next message to send.
            pub fn poll_transmit(&mut self) -> Option<$crate::transaction::Transmit> {
                self.core.poll_transmit()
            }

            #[doc = concat!("When [`", stringify!($machine), "::handle_timeout`] must next be called.")]
            pub fn poll_timeout(&self) -> Option<::std::time::Instant> {
                self.core.poll_timeout()
            }

            /// The next event for the TU.
            pub fn poll_event(&mut self) -> Option<$crate::transaction::Event> {
                self.core.poll_event()
            }

            pub(crate) fn has_output(&self) -> bool {
                self.core.has_output()
            }
        }
    };
}

pub(super) use machine_api;
