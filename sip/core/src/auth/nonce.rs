//! Server nonces: stateless issue and check ([`NonceIssuer`]), and the bounded replay window of nonce counts
//! ([`NonceCountWindow`]). The design is explained in the [module documentation](super).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::Duration;

use hmac::digest::Key;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::algorithm::hex_encode;

/// Bytes of HMAC-SHA256 kept in a nonce. 128 bits leave a forger one chance in 2^128 per attempt, and keep the
/// nonce (written twice per authenticated request) short.
const TAG_LEN: usize = 16;
/// Bytes of caller-supplied randomness in a nonce.
pub const NONCE_SALT_LEN: usize = 8;
const NONCE_LEN: usize = 8 + NONCE_SALT_LEN + TAG_LEN;
/// Separates this MAC's inputs from any other use of the same secret.
const MAC_CONTEXT: &[u8] = b"carillon digest nonce v1\0";

/// Issues and checks stateless nonces:
/// `hex(issued_at ‖ salt ‖ HMAC-SHA256(secret, issued_at ‖ salt ‖ realm ‖ binding)[..16])`.
///
/// Nothing is remembered per challenge: a nonce proves by its MAC that this server issued it, for this realm
/// (and binding), at the time it carries.
#[derive(Clone)]
pub struct NonceIssuer {
    secret: [u8; 32],
    lifetime: Duration,
}

/// What [`NonceIssuer::check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceStatus {
    /// Issued by this server and within its lifetime.
    Fresh(IssuedNonce),
    /// Issued by this server, but older than the lifetime: a correct response earns a `stale=true` challenge.
    Expired(IssuedNonce),
    /// Not issued by this server for this realm and binding (or not a nonce of this format at all).
    Forged,
}

/// A nonce that verified: when it was issued, and its identity for the [`NonceCountWindow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IssuedNonce {
    issued_at: u64,
    tag: [u8; TAG_LEN],
}

impl IssuedNonce {
    /// When the nonce was issued, in seconds since the Unix epoch.
    pub fn issued_at(&self) -> Duration {
        Duration::from_secs(self.issued_at)
    }
}

impl NonceIssuer {
    /// The nonce lifetime used when none is configured: long enough for a user agent to answer a challenge and
    /// reuse the nonce for a few requests, short enough to bound replays of requests sent without qop.
    pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

    /// An issuer with a server secret (32 random bytes, shared by every server of the realm that must accept
    /// each other's nonces) and a nonce lifetime.
    pub fn new(secret: [u8; 32], lifetime: Duration) -> NonceIssuer {
        NonceIssuer { secret, lifetime }
    }

    /// The configured lifetime.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// A new nonce. `now` is the time since the Unix epoch; `binding` is anything the nonce must only be valid
    /// with (for example the client's source address bytes), empty for none; `salt` is fresh random bytes, so
    /// that nonces issued in the same second differ and each has its own nonce-count window.
    pub fn issue(&self, now: Duration, realm: &str, binding: &[u8], salt: [u8; NONCE_SALT_LEN]) -> String {
        let issued_at = now.as_secs();
        let tag = self.tag(issued_at, &salt, realm, binding);
        let mut raw = [0u8; NONCE_LEN];
        raw[..8].copy_from_slice(&issued_at.to_be_bytes());
        raw[8..8 + NONCE_SALT_LEN].copy_from_slice(&salt);
        raw[8 + NONCE_SALT_LEN..].copy_from_slice(&tag);
        hex_encode(&raw)
    }

    /// Checks a nonce received in credentials against the realm and binding it must have been issued for.
    pub fn check(&self, nonce: &str, now: Duration, realm: &str, binding: &[u8]) -> NonceStatus {
        let Some(raw) = decode_nonce(nonce) else {
            return NonceStatus::Forged;
        };
        let (head, tag) = raw.split_at(8 + NONCE_SALT_LEN);
        let (time, salt) = head.split_at(8);
        let mut time_bytes = [0u8; 8];
        time_bytes.copy_from_slice(time);
        let issued_at = u64::from_be_bytes(time_bytes);
        let expected = self.tag(issued_at, salt, realm, binding);
        if !bool::from(expected.ct_eq(tag)) {
            return NonceStatus::Forged;
        }
        let mut tag_bytes = [0u8; TAG_LEN];
        tag_bytes.copy_from_slice(tag);
        let issued = IssuedNonce { issued_at, tag: tag_bytes };
        let now = now.as_secs();
        let lifetime = self.lifetime.as_secs();
        // A nonce dated in the future comes from a peer server whose clock runs ahead; within one lifetime of
        // skew it is accepted rather than sending its user into a challenge loop.
        let too_old = now.saturating_sub(issued_at) > lifetime;
        let too_new = issued_at.saturating_sub(now) > lifetime;
        if too_old || too_new { NonceStatus::Expired(issued) } else { NonceStatus::Fresh(issued) }
    }

    fn tag(&self, issued_at: u64, salt: &[u8], realm: &str, binding: &[u8]) -> [u8; TAG_LEN] {
        // HMAC pads a key shorter than the hash block with zeros (RFC 2104 §2); doing so here makes the
        // infallible constructor usable.
        let mut key = Key::<Hmac<Sha256>>::default();
        key[..self.secret.len()].copy_from_slice(&self.secret);
        let mut mac = <Hmac<Sha256> as KeyInit>::new(&key);
        mac.update(MAC_CONTEXT);
        mac.update(&issued_at.to_be_bytes());
        mac.update(salt);
        // The realm is length-prefixed so that realm and binding cannot trade bytes.
        mac.update(&(realm.len() as u64).to_be_bytes());
        mac.update(realm.as_bytes());
        mac.update(binding);
        let full = mac.finalize().into_bytes();
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&full[..TAG_LEN]);
        tag
    }
}

impl fmt::Debug for NonceIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonceIssuer").field("lifetime", &self.lifetime).finish_non_exhaustive()
    }
}

/// The raw bytes of a nonce in this server's format: exactly `2 * NONCE_LEN` lower-case hex digits, so that each
/// nonce has one spelling.
fn decode_nonce(nonce: &str) -> Option<[u8; NONCE_LEN]> {
    let digits = nonce.as_bytes();
    if digits.len() != 2 * NONCE_LEN {
        return None;
    }
    let mut raw = [0u8; NONCE_LEN];
    for (byte, pair) in raw.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = (lower_hex_value(pair[0])? << 4) | lower_hex_value(pair[1])?;
    }
    Some(raw)
}

fn lower_hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

/// How many nonce counts below the highest seen are still tracked individually; older ones count as replays.
/// Requests sharing a nonce may arrive out of order (UDP, parallel transactions), but not by 64 places.
pub const NONCE_COUNT_WINDOW: u32 = 64;

/// What [`NonceCountWindow::record`] decided about one nonce count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCountCheck {
    /// First use of this count with this nonce; it is now recorded.
    Accepted,
    /// This count was used before with this nonce (or is zero, or too far behind to tell).
    Replay,
    /// The window holds no state for this nonce although it may have seen it before (its state was evicted):
    /// the request must be challenged again with `stale=true` rather than accepted.
    Forgotten,
}

/// Per-nonce record of the nonce counts used, in bounded memory.
///
/// State for a nonce is created only by a request whose response verified, so unauthenticated traffic cannot
/// fill the window. When it is full the oldest state is evicted and the window remembers the newest issue time
/// it evicted: any unknown nonce issued no later than that may have been used before, and is
/// [`NonceCountCheck::Forgotten`] rather than accepted.
#[derive(Debug, Clone)]
pub struct NonceCountWindow {
    capacity: usize,
    entries: HashMap<[u8; TAG_LEN], WindowEntry>,
    order: VecDeque<[u8; TAG_LEN]>,
    forgotten_through: Option<u64>,
}

#[derive(Debug, Clone, Copy)]
struct WindowEntry {
    issued_at: u64,
    highest: u32,
    /// Bit `i` set: count `highest - i` was used.
    used: u64,
}

impl NonceCountWindow {
    /// A window holding state for at most `capacity` nonces (at least one).
    pub fn new(capacity: usize) -> NonceCountWindow {
        let capacity = capacity.max(1);
        NonceCountWindow { capacity, entries: HashMap::new(), order: VecDeque::new(), forgotten_through: None }
    }

    /// Number of nonces with state.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no nonce has state.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Checks `nonce_count` for `nonce` and records it when accepted. Call only once the response has verified:
    /// otherwise anyone could burn a client's counts.
    pub fn record(&mut self, nonce: &IssuedNonce, nonce_count: u32) -> NonceCountCheck {
        if nonce_count == 0 {
            return NonceCountCheck::Replay;
        }
        if let Some(entry) = self.entries.get_mut(&nonce.tag) {
            return entry.record(nonce_count);
        }
        if self.forgotten_through.is_some_and(|t| nonce.issued_at <= t) {
            return NonceCountCheck::Forgotten;
        }
        self.entries.insert(nonce.tag, WindowEntry { issued_at: nonce.issued_at, highest: nonce_count, used: 1 });
        self.order.push_back(nonce.tag);
        while self.entries.len() > self.capacity {
            let Some(oldest) = self.order.pop_front() else { break };
            if let Some(evicted) = self.entries.remove(&oldest) {
                self.forget_through(evicted.issued_at);
            }
        }
        NonceCountCheck::Accepted
    }

    /// Drops the state of nonces issued before `cutoff` (time since the Unix epoch), typically those past their
    /// lifetime; call it now and then to return memory early. Such nonces count as forgotten afterwards.
    pub fn forget_issued_before(&mut self, cutoff: Duration) {
        let cutoff = cutoff.as_secs();
        let mut newest_dropped = None;
        self.entries.retain(|_, e| {
            let keep = e.issued_at >= cutoff;
            if !keep {
                newest_dropped = newest_dropped.max(Some(e.issued_at));
            }
            keep
        });
        let entries = &self.entries;
        self.order.retain(|tag| entries.contains_key(tag));
        if let Some(t) = newest_dropped {
            self.forget_through(t);
        }
    }

    fn forget_through(&mut self, issued_at: u64) {
        self.forgotten_through = self.forgotten_through.max(Some(issued_at));
    }
}

impl WindowEntry {
    fn record(&mut self, nc: u32) -> NonceCountCheck {
        if nc > self.highest {
            let shift = nc - self.highest;
            self.used = if shift >= 64 { 0 } else { self.used << shift };
            self.used |= 1;
            self.highest = nc;
            return NonceCountCheck::Accepted;
        }
        let behind = self.highest - nc;
        if behind >= NONCE_COUNT_WINDOW {
            return NonceCountCheck::Replay;
        }
        let bit = 1u64 << behind;
        if self.used & bit != 0 {
            return NonceCountCheck::Replay;
        }
        self.used |= bit;
        NonceCountCheck::Accepted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: [u8; 32] = [7; 32];
    const T0: Duration = Duration::from_secs(1_700_000_000);

    fn issuer() -> NonceIssuer {
        NonceIssuer::new(SECRET, Duration::from_secs(300))
    }

    fn fresh(status: NonceStatus) -> IssuedNonce {
        match status {
            NonceStatus::Fresh(n) => n,
            other => panic!("expected a fresh nonce, got {other:?}"),
        }
    }

    #[test]
    fn nonce_is_fresh_until_its_lifetime_then_expired() {
        let nonce = issuer().issue(T0, "campus", b"", [1; 8]);
        assert_eq!(nonce.len(), 64);
        let issued = fresh(issuer().check(&nonce, T0 + Duration::from_secs(300), "campus", b""));
        assert_eq!(issued.issued_at(), T0);
        assert_eq!(issuer().check(&nonce, T0 + Duration::from_secs(301), "campus", b""), NonceStatus::Expired(issued));
    }

    #[test]
    fn nonce_is_bound_to_secret_realm_and_binding() {
        let nonce = issuer().issue(T0, "campus", b"192.0.2.1", [1; 8]);
        fresh(issuer().check(&nonce, T0, "campus", b"192.0.2.1"));
        assert_eq!(issuer().check(&nonce, T0, "other", b"192.0.2.1"), NonceStatus::Forged);
        assert_eq!(issuer().check(&nonce, T0, "campus", b"192.0.2.2"), NonceStatus::Forged);
        let other_secret = NonceIssuer::new([8; 32], Duration::from_secs(300));
        assert_eq!(other_secret.check(&nonce, T0, "campus", b"192.0.2.1"), NonceStatus::Forged);
    }

    #[test]
    fn tampered_or_respelled_nonces_are_forged() {
        let nonce = issuer().issue(T0, "campus", b"", [1; 8]);
        // Re-dating the nonce breaks the MAC.
        let mut redated = nonce.clone().into_bytes();
        redated[15] = if redated[15] == b'0' { b'1' } else { b'0' };
        let redated = String::from_utf8(redated).expect("ascii");
        assert_eq!(issuer().check(&redated, T0, "campus", b""), NonceStatus::Forged);
        assert_eq!(issuer().check(&nonce.to_uppercase(), T0, "campus", b""), NonceStatus::Forged);
        assert_eq!(issuer().check(&nonce[..62], T0, "campus", b""), NonceStatus::Forged);
        assert_eq!(issuer().check("", T0, "campus", b""), NonceStatus::Forged);
    }

    #[test]
    fn zero_padded_key_is_the_hmac_of_the_secret() {
        // RFC 2104 §2: the key is padded with zeros to the block size, so padding it ourselves changes nothing.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&SECRET).expect("HMAC takes any key length");
        mac.update(MAC_CONTEXT);
        mac.update(&42u64.to_be_bytes());
        mac.update(&[1; 8]);
        mac.update(&1u64.to_be_bytes());
        mac.update(b"r");
        mac.update(b"b");
        let full = mac.finalize().into_bytes();
        assert_eq!(issuer().tag(42, &[1; 8], "r", b"b")[..], full[..TAG_LEN]);
    }

    #[test]
    fn salt_makes_nonces_of_the_same_second_distinct() {
        assert_ne!(issuer().issue(T0, "campus", b"", [1; 8]), issuer().issue(T0, "campus", b"", [2; 8]));
    }

    #[test]
    fn issuer_debug_hides_the_secret() {
        assert!(!format!("{:?}", issuer()).contains('7'));
    }

    fn nonce(salt: u8, issued_at: Duration) -> IssuedNonce {
        fresh(issuer().check(&issuer().issue(issued_at, "r", b"", [salt; 8]), issued_at, "r", b""))
    }

    #[test]
    fn counts_are_accepted_once_and_out_of_order_within_the_window() {
        let mut window = NonceCountWindow::new(8);
        let n = nonce(1, T0);
        assert_eq!(window.record(&n, 1), NonceCountCheck::Accepted);
        assert_eq!(window.record(&n, 1), NonceCountCheck::Replay);
        assert_eq!(window.record(&n, 5), NonceCountCheck::Accepted);
        assert_eq!(window.record(&n, 3), NonceCountCheck::Accepted, "late arrival within the window");
        assert_eq!(window.record(&n, 3), NonceCountCheck::Replay);
        assert_eq!(window.record(&n, 5), NonceCountCheck::Replay);
        assert_eq!(window.record(&n, 0), NonceCountCheck::Replay);
        assert_eq!(window.record(&n, 200), NonceCountCheck::Accepted);
        assert_eq!(window.record(&n, 136), NonceCountCheck::Replay, "too far behind to tell");
        assert_eq!(window.record(&n, 137), NonceCountCheck::Accepted);
    }

    #[test]
    fn eviction_makes_older_unknown_nonces_forgotten() {
        let mut window = NonceCountWindow::new(2);
        let a = nonce(1, T0);
        let b = nonce(2, T0 + Duration::from_secs(1));
        let c = nonce(3, T0 + Duration::from_secs(2));
        let d = nonce(4, T0 + Duration::from_secs(3));
        assert_eq!(window.record(&a, 1), NonceCountCheck::Accepted);
        assert_eq!(window.record(&b, 1), NonceCountCheck::Accepted);
        assert_eq!(window.record(&c, 1), NonceCountCheck::Accepted);
        assert_eq!(window.len(), 2);
        // `a` was evicted: replaying its first request must not be accepted as a new nonce.
        assert_eq!(window.record(&a, 1), NonceCountCheck::Forgotten);
        assert_eq!(window.record(&a, 2), NonceCountCheck::Forgotten);
        assert_eq!(window.record(&d, 1), NonceCountCheck::Accepted, "newer nonces still get state");
    }

    #[test]
    fn forgetting_old_nonces_frees_memory() {
        let mut window = NonceCountWindow::new(8);
        let a = nonce(1, T0);
        let b = nonce(2, T0 + Duration::from_secs(10));
        window.record(&a, 1);
        window.record(&b, 1);
        window.forget_issued_before(T0 + Duration::from_secs(5));
        assert_eq!(window.len(), 1);
        assert_eq!(window.record(&a, 2), NonceCountCheck::Forgotten);
        assert_eq!(window.record(&b, 2), NonceCountCheck::Accepted);
    }
}
