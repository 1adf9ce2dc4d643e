//! Timer values of RFC 3261 §17 (Appendix A, Table 4) and RFC 6026, and the names of the timers.
//!
//! Every duration a transaction waits is derived here from T1, T2 and T4, so the transaction code only asks
//! "how long is Timer J on this transport" and never repeats the arithmetic of the RFC.

use std::time::{Duration, Instant};

/// Longest value accepted for any configured duration. Keeps `Instant + Duration` far from overflow even for
/// 64*T1, whatever a configuration file says.
const LONGEST: Duration = Duration::from_secs(24 * 60 * 60);

/// Shortest retransmission interval. A zero T1 or T2 would make a retransmission timer fire forever at the same
/// instant.
const SHORTEST_INTERVAL: Duration = Duration::from_millis(1);

/// The timer values of a transaction layer.
///
/// The defaults are those of RFC 3261 Appendix A. RFC 3261 §17.1.1.1 lets T1 grow on networks with a known
/// longer round-trip time, and lets T2 and T4 be configured; every timer below follows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerConfig {
    /// Round-trip time estimate (default 500 ms): first retransmission interval, and 64*T1 is the transaction
    /// timeout (Timers B, F, H, J, L, M).
    pub t1: Duration,
    /// Longest retransmission interval for non-INVITE requests and INVITE final responses (default 4 s).
    pub t2: Duration,
    /// Longest time a message stays in the network (default 5 s): Timers I and K.
    pub t4: Duration,
    /// How long a client INVITE transaction absorbs retransmitted non-2xx final responses (Timer D, at least
    /// 32 s on unreliable transports; zero on reliable ones whatever this says).
    pub timer_d: Duration,
    /// Timer C of a proxy's INVITE client transaction (RFC 3261 §16.6 step 11: more than 3 minutes), reset by
    /// every provisional response other than 100. `None` (the default) for user agents, which have no Timer C.
    pub timer_c: Option<Duration>,
    /// How long an INVITE server transaction waits for its TU to send a provisional or final response before it
    /// sends 100 Trying itself (RFC 3261 §17.2.1: 200 ms).
    pub trying_delay: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            timer_d: Duration::from_secs(32),
            timer_c: None,
            trying_delay: Duration::from_millis(200),
        }
    }
}

/// Whether the transport under a transaction delivers reliably (TCP, TLS, SCTP, WebSocket) or not (UDP).
///
/// On a reliable transport the transaction layer never retransmits (Timers A, E and G are not started) and the
/// waits that only exist to absorb retransmissions are zero (Timers D, I, J and K).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reliability {
    /// UDP: the transaction layer retransmits and absorbs retransmissions.
    Unreliable,
    /// TCP, TLS, SCTP, WS, WSS: the transport retransmits.
    Reliable,
}

impl Reliability {
    /// The reliability of a transport named as in a Via header (`UDP` is the only unreliable one).
    pub fn of_transport(transport: &str) -> Reliability {
        if transport.eq_ignore_ascii_case("UDP") { Reliability::Unreliable } else { Reliability::Reliable }
    }

    /// Whether the transport is reliable.
    pub fn is_reliable(self) -> bool {
        self == Reliability::Reliable
    }
}

/// The timers of RFC 3261 §17 and RFC 6026, plus the two waits the RFC describes without a letter.
///
/// Carried by [`super::Event::Timeout`] so the TU knows which wait ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// INVITE request retransmission in Calling (T1, doubling, no cap).
    A,
    /// INVITE transaction timeout in Calling (64*T1).
    B,
    /// Proxy INVITE transaction timeout (RFC 3261 §16.6 step 11), reset by provisional responses.
    C,
    /// Wait for retransmitted non-2xx final responses in Completed.
    D,
    /// Non-INVITE request retransmission (T1 doubling up to T2; T2 in Proceeding).
    E,
    /// Non-INVITE transaction timeout (64*T1).
    F,
    /// INVITE final response retransmission in Completed (T1 doubling up to T2).
    G,
    /// Wait for the ACK in Completed (64*T1).
    H,
    /// Wait for retransmitted ACKs in Confirmed (T4).
    I,
    /// Wait for retransmitted non-INVITE requests in Completed (64*T1).
    J,
    /// Wait for retransmitted non-INVITE responses in Completed (T4).
    K,
    /// RFC 6026: wait for retransmitted INVITEs in the server's Accepted state (64*T1).
    L,
    /// RFC 6026: wait for retransmitted (or forked) 2xx in the client's Accepted state (64*T1).
    M,
    /// RFC 3261 §17.2.1: the INVITE server transaction sends 100 Trying if its TU has not answered in 200 ms.
    Trying,
    /// RFC 3261 §9.1: 64*T1 after a CANCEL was sent without a final response to the INVITE, the INVITE client
    /// transaction is considered cancelled and ends.
    CancelWait,
}

impl TimerConfig {
    /// T1, clamped to a usable range.
    pub(crate) fn t1(&self) -> Duration {
        self.t1.clamp(SHORTEST_INTERVAL, LONGEST)
    }

    /// T2, clamped to a usable range and never below T1 (RFC 3261 §17.1.2.2 caps the doubling of T1 at T2).
    pub(crate) fn t2(&self) -> Duration {
        self.t2.clamp(SHORTEST_INTERVAL, LONGEST).max(self.t1())
    }

    /// 64*T1: Timers B, F, H, L, M, J on unreliable transports, and the CANCEL wait.
    pub(crate) fn transaction_timeout(&self) -> Duration {
        self.t1().saturating_mul(64)
    }

    /// The first retransmission interval (Timers A, E, G), `None` on a reliable transport.
    pub(crate) fn first_retransmit(&self, reliability: Reliability) -> Option<Duration> {
        (!reliability.is_reliable()).then(|| self.t1())
    }

    /// Timer C, if this transaction layer is a proxy's.
    pub(crate) fn timer_c(&self) -> Option<Duration> {
        self.timer_c.map(|c| c.clamp(SHORTEST_INTERVAL, LONGEST))
    }

    /// Timer D.
    pub(crate) fn timer_d(&self, reliability: Reliability) -> Duration {
        if reliability.is_reliable() { Duration::ZERO } else { self.timer_d.min(LONGEST) }
    }

    /// Timers I and K: T4 on unreliable transports, zero on reliable ones.
    pub(crate) fn timer_i_k(&self, reliability: Reliability) -> Duration {
        if reliability.is_reliable() { Duration::ZERO } else { self.t4.min(LONGEST) }
    }

    /// Timer J: 64*T1 on unreliable transports, zero on reliable ones.
    pub(crate) fn timer_j(&self, reliability: Reliability) -> Duration {
        if reliability.is_reliable() { Duration::ZERO } else { self.transaction_timeout() }
    }

    /// The delay before an INVITE server transaction sends 100 Trying on its own.
    pub(crate) fn trying_delay(&self) -> Duration {
        self.trying_delay.min(LONGEST)
    }
}

/// A retransmission timer: when it fires next and the interval that brought it there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Retransmit {
    pub(crate) at: Instant,
    pub(crate) interval: Duration,
}

impl Retransmit {
    /// A timer started at `now` with `first` as its first interval, if the transport needs one at all.
    pub(crate) fn start(now: Instant, first: Option<Duration>) -> Option<Retransmit> {
        first.map(|interval| Retransmit { at: now + interval, interval })
    }

    /// Timer A after it fired: the interval doubles without a cap (Timer B ends the doubling).
    pub(crate) fn doubled(self, now: Instant) -> Retransmit {
        let interval = self.interval.saturating_mul(2).min(LONGEST);
        Retransmit { at: now + interval, interval }
    }

    /// Timers E (in Trying) and G after they fired: the interval doubles up to `cap` (T2).
    pub(crate) fn doubled_up_to(self, now: Instant, cap: Duration) -> Retransmit {
        let interval = self.interval.saturating_mul(2).min(cap);
        Retransmit { at: now + interval, interval }
    }

    /// Timer E in Proceeding after it fired: always `interval` (T2) from now.
    pub(crate) fn fixed(now: Instant, interval: Duration) -> Retransmit {
        Retransmit { at: now + interval, interval }
    }
}

/// The earliest of several armed timers. On a tie the first listed wins, so callers list the timers that end
/// the transaction before the ones that retransmit.
pub(crate) fn earliest(timers: &[(Timer, Option<Instant>)]) -> Option<(Timer, Instant)> {
    let mut best: Option<(Timer, Instant)> = None;
    for &(timer, at) in timers {
        if let Some(at) = at
            && best.is_none_or(|(_, b)| at < b)
        {
            best = Some((timer, at));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_rfc3261_table_4() {
        let c = TimerConfig::default();
        assert_eq!(
            (c.t1(), c.t2(), c.t4),
            (Duration::from_millis(500), Duration::from_secs(4), Duration::from_secs(5))
        );
        assert_eq!(c.transaction_timeout(), Duration::from_secs(32));
        assert_eq!(c.timer_d(Reliability::Unreliable), Duration::from_secs(32));
        assert_eq!(c.timer_i_k(Reliability::Unreliable), Duration::from_secs(5));
    }

    #[test]
    fn reliable_transports_zero_d_i_j_k_and_have_no_retransmissions() {
        let c = TimerConfig::default();
        assert_eq!(c.timer_d(Reliability::Reliable), Duration::ZERO);
        assert_eq!(c.timer_i_k(Reliability::Reliable), Duration::ZERO);
        assert_eq!(c.timer_j(Reliability::Reliable), Duration::ZERO);
        assert_eq!(c.first_retransmit(Reliability::Reliable), None);
    }

    #[test]
    fn absurd_configuration_is_clamped() {
        let c = TimerConfig { t1: Duration::ZERO, t2: Duration::MAX, t4: Duration::MAX, ..TimerConfig::default() };
        assert_eq!(c.t1(), SHORTEST_INTERVAL);
        assert_eq!(c.t2(), LONGEST);
        assert_eq!(c.timer_i_k(Reliability::Unreliable), LONGEST);
    }

    #[test]
    fn ties_go_to_the_first_listed_timer() {
        let t = Instant::now();
        assert_eq!(earliest(&[(Timer::B, Some(t)), (Timer::A, Some(t))]), Some((Timer::B, t)));
        assert_eq!(earliest(&[(Timer::B, None), (Timer::A, Some(t))]), Some((Timer::A, t)));
        assert_eq!(earliest(&[(Timer::B, None)]), None);
    }

    #[test]
    fn reliability_of_via_transports() {
        assert_eq!(Reliability::of_transport("udp"), Reliability::Unreliable);
        assert_eq!(Reliability::of_transport("TLS"), Reliability::Reliable);
    }
}
