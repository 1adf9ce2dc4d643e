//! The challenging side: a registrar, UAS or proxy that issues challenges and verifies credentials against a
//! stored HA1 (RFC 3261 §22.1, §22.3; RFC 8760 §2.3).

use std::borrow::Cow;
use std::time::Duration;

use subtle::ConstantTimeEq;

use super::algorithm::{Algorithm, Ha1, QopAuth, ResponseInput, userhash};
use super::header::{AlgorithmParam, Credentials, DigestChallenge, DigestCredentials, Qop, QopOptions};
use super::nonce::{NONCE_SALT_LEN, NonceCountCheck, NonceCountWindow, NonceIssuer, NonceStatus};
use crate::error::Error;
use crate::message::HeaderName;

/// The server side of Digest for one realm: which algorithms it offers, how it issues nonces, and whether it
/// answers clients that do not use qop. Immutable, so one value can be shared by every worker; the only mutable
/// state, the [`NonceCountWindow`], is passed to [`DigestServer::verify`].
#[derive(Debug, Clone)]
pub struct DigestServer {
    realm: String,
    nonces: NonceIssuer,
    algorithms: Vec<Algorithm>,
    allow_without_qop: bool,
    offer_userhash: bool,
}

/// The request being authenticated, as the verifier needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthRequest<'a> {
    /// The request method as written in the request line.
    pub method: &'a str,
    /// The Request-URI as written in the request line.
    pub request_uri: &'a str,
    /// Time since the Unix epoch.
    pub now: Duration,
    /// What nonces are bound to, for example the source address bytes; empty for no binding. Must be the same
    /// when the challenge is issued and when its answer is verified.
    pub binding: &'a [u8],
}

/// The caller's lookup result for the user named in the credentials: who it is and the HA1 stored for the
/// credentials' hash function (see [`DigestCredentials::effective_algorithm`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredUser<'a> {
    /// The username as provisioned.
    pub username: &'a str,
    /// H(username:realm:password) for the hash function of the credentials' algorithm.
    pub ha1: &'a Ha1,
}

/// The outcome of verifying credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The response is right, the nonce fresh and the nonce count new: the request is authenticated.
    Authenticated,
    /// The response is right but the nonce has expired, or its nonce-count state was evicted: challenge again
    /// with `stale=true` so the client retries without asking its user.
    Stale,
    /// The credentials do not authenticate the request: challenge again (or answer 403 after repeated failures).
    Invalid(Rejection),
    /// The response is right but its nonce count was already used: a replayed request.
    Replay,
    /// The credentials are syntactically acceptable but inconsistent (for example a response of the wrong
    /// length for the algorithm).
    Malformed(&'static str),
}

/// Why credentials were [`Verdict::Invalid`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// The realm is not this server's.
    Realm,
    /// The algorithm is unknown, not offered, or has no stored HA1.
    Algorithm,
    /// qop is missing (and RFC 2069 clients are not accepted) or is one that was not offered.
    Qop,
    /// The digest-uri is not the Request-URI (RFC 2617 §3.2.2.5, RFC 3261 §22.4).
    Uri,
    /// The nonce was not issued by this server for this realm and binding.
    Nonce,
    /// The caller found no such user.
    UnknownUser,
    /// The username is not the one the caller looked up.
    Username,
    /// The response is wrong: wrong password, or a tampered request.
    Response,
}

impl Verdict {
    /// Whether the request is authenticated.
    pub fn is_authenticated(&self) -> bool {
        matches!(self, Verdict::Authenticated)
    }

    /// `None` when authenticated; otherwise `Some(stale)`, the `stale` flag of the challenges to send back.
    /// A replay is answered with `stale=true` too: whoever sent it knew the password when the original was
    /// computed, and a genuine client that reused a count recovers without prompting its user.
    pub fn rechallenge(&self) -> Option<bool> {
        match self {
            Verdict::Authenticated => None,
            Verdict::Stale | Verdict::Replay => Some(true),
            Verdict::Invalid(_) | Verdict::Malformed(_) => Some(false),
        }
    }
}

impl DigestServer {
    /// A server for `realm` offering SHA-256 then MD5 (RFC 8760 §2.3: strongest first), requiring qop=auth.
    pub fn new(realm: impl Into<String>, nonces: NonceIssuer) -> DigestServer {
        DigestServer {
            realm: realm.into(),
            nonces,
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
            allow_without_qop: false,
            offer_userhash: false,
        }
    }

    /// Offers `algorithms` instead, ordered strongest first whatever the order given; duplicates are dropped.
    pub fn with_algorithms(mut self, algorithms: &[Algorithm]) -> DigestServer {
        let mut list = Vec::with_capacity(algorithms.len());
        for &a in algorithms {
            if !list.contains(&a) {
                list.push(a);
            }
        }
        list.sort_by_key(|a| std::cmp::Reverse(a.strength()));
        self.algorithms = list;
        self
    }

    /// Accepts credentials without qop, the RFC 2069 form that RFC 3261 §22.4 keeps for compatibility. Such
    /// requests carry no nonce count, so a captured one can be replayed for as long as its nonce is fresh; off
    /// by default.
    pub fn with_rfc2069_clients(mut self, allow: bool) -> DigestServer {
        self.allow_without_qop = allow;
        self
    }

    /// Asks clients for `userhash=true` (RFC 7616 §3.4.4): the username travels as H(username:realm), and the
    /// caller looks users up by that hash.
    pub fn with_userhash(mut self, offer: bool) -> DigestServer {
        self.offer_userhash = offer;
        self
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The algorithms offered, strongest first.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    /// The challenges for a 401/407, one per algorithm, strongest first, sharing one fresh nonce. `salt` must be
    /// fresh random bytes.
    pub fn challenges(
        &self,
        request: &AuthRequest<'_>,
        salt: [u8; NONCE_SALT_LEN],
        stale: bool,
    ) -> Vec<DigestChallenge<'_>> {
        let nonce = self.nonces.issue(request.now, &self.realm, request.binding, salt);
        self.algorithms
            .iter()
            .map(|&algorithm| DigestChallenge {
                realm: Cow::Borrowed(&self.realm),
                domain: None,
                nonce: Cow::Owned(nonce.clone()),
                opaque: None,
                stale,
                algorithm: Some(AlgorithmParam::Known(algorithm)),
                qop: Some(QopOptions::AUTH),
                charset_utf8: false,
                userhash: self.offer_userhash,
            })
            .collect()
    }

    /// The challenges to send after `verdict`: none when authenticated, otherwise [`DigestServer::challenges`]
    /// with the `stale` flag the verdict calls for.
    pub fn challenges_after(
        &self,
        verdict: &Verdict,
        request: &AuthRequest<'_>,
        salt: [u8; NONCE_SALT_LEN],
    ) -> Vec<DigestChallenge<'_>> {
        match verdict.rechallenge() {
            None => Vec::new(),
            Some(stale) => self.challenges(request, salt, stale),
        }
    }

    /// Picks, among the values of the credentials header (`Authorization` or `Proxy-Authorization`), the Digest
    /// credentials for this realm. Other schemes and other realms (meant for other proxies, RFC 3261 §22.3) are
    /// skipped. A malformed value is reported only if no usable value is found.
    pub fn find_credentials<'m>(
        &self,
        values: impl IntoIterator<Item = &'m str>,
        header: HeaderName,
    ) -> Result<Option<DigestCredentials<'m>>, Error> {
        let mut first_error = None;
        for value in values {
            match Credentials::parse(value, header) {
                Ok(Credentials::Digest(d)) if d.realm == self.realm => return Ok(Some(d)),
                Ok(_) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(None), Err)
    }

    /// Verifies `credentials` for `request`. `user` is the caller's lookup of the credentials' username (by
    /// hash when [`DigestCredentials::userhash`] is set), `None` if there is no such user. The window records the
    /// nonce count only once everything else has verified.
    ///
    /// The digest-uri must equal the Request-URI as written: the response was computed over that text, and a
    /// proxy between client and this server must not have rewritten it.
    pub fn verify(
        &self,
        window: &mut NonceCountWindow,
        request: &AuthRequest<'_>,
        credentials: &DigestCredentials<'_>,
        user: Option<StoredUser<'_>>,
    ) -> Verdict {
        let Some(algorithm) = credentials.effective_algorithm().filter(|a| self.algorithms.contains(a)) else {
            return Verdict::Invalid(Rejection::Algorithm);
        };
        if credentials.realm != self.realm {
            return Verdict::Invalid(Rejection::Realm);
        }
        let qop = match (credentials.qop, credentials.cnonce.as_deref(), credentials.nonce_count) {
            (Some(Qop::Auth), Some(cnonce), Some(nonce_count)) => {
                if nonce_count == 0 {
                    return Verdict::Malformed("nonce count zero");
                }
                Some(QopAuth { nonce_count, cnonce })
            }
            (None, ..) if self.allow_without_qop && !algorithm.is_session() => None,
            _ => return Verdict::Invalid(Rejection::Qop),
        };
        if credentials.response.len() != algorithm.hash().hex_len() {
            return Verdict::Malformed("response length does not match the algorithm");
        }
        if credentials.uri != request.request_uri {
            return Verdict::Invalid(Rejection::Uri);
        }
        let issued = match self.nonces.check(&credentials.nonce, request.now, &self.realm, request.binding) {
            NonceStatus::Fresh(n) => Ok(n),
            NonceStatus::Expired(n) => Err(n),
            NonceStatus::Forged => return Verdict::Invalid(Rejection::Nonce),
        };
        let Some(user) = user else {
            return Verdict::Invalid(Rejection::UnknownUser);
        };
        if user.ha1.hash() != algorithm.hash() {
            return Verdict::Invalid(Rejection::Algorithm);
        }
        let username_matches = if credentials.userhash {
            let expected = userhash(algorithm.hash(), user.username, &self.realm);
            expected.as_str().eq_ignore_ascii_case(&credentials.username)
        } else {
            credentials.username == user.username
        };
        if !username_matches {
            return Verdict::Invalid(Rejection::Username);
        }
        let input =
            ResponseInput { algorithm, nonce: &credentials.nonce, qop, method: request.method, uri: &credentials.uri };
        let Some(expected) = input.response(user.ha1) else {
            return Verdict::Invalid(Rejection::Algorithm);
        };
        if !response_matches(expected.as_bytes(), credentials.response.as_bytes()) {
            return Verdict::Invalid(Rejection::Response);
        }
        let issued = match issued {
            Ok(n) => n,
            Err(_) => return Verdict::Stale,
        };
        let Some(qop) = qop else {
            return Verdict::Authenticated;
        };
        match window.record(&issued, qop.nonce_count) {
            NonceCountCheck::Accepted => Verdict::Authenticated,
            NonceCountCheck::Replay => Verdict::Replay,
            NonceCountCheck::Forgotten => Verdict::Stale,
        }
    }
}

/// Compares the received response with the expected lower-case hex in constant time, tolerating upper-case
/// digits from the client. The lengths are public (they follow from the algorithm).
fn response_matches(expected: &[u8], received: &[u8]) -> bool {
    if expected.len() != received.len() {
        return false;
    }
    let mut lowered = [0u8; 64];
    let Some(lowered) = lowered.get_mut(..received.len()) else {
        return false;
    };
    for (l, r) in lowered.iter_mut().zip(received) {
        *l = r.to_ascii_lowercase();
    }
    bool::from(expected.ct_eq(lowered))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::HashFunction;

    #[test]
    fn algorithms_are_offered_strongest_first() {
        let server = DigestServer::new("r", NonceIssuer::new([0; 32], NonceIssuer::DEFAULT_LIFETIME))
            .with_algorithms(&[Algorithm::Md5, Algorithm::Sha256, Algorithm::Md5, Algorithm::Sha512_256]);
        assert_eq!(server.algorithms(), [Algorithm::Sha512_256, Algorithm::Sha256, Algorithm::Md5]);
    }

    #[test]
    fn response_comparison_ignores_case_only() {
        let ha1 = Ha1::compute(HashFunction::Md5, "u", "r", "p");
        let expected = ha1.as_hex().as_bytes();
        assert!(response_matches(expected, ha1.as_hex().to_uppercase().as_bytes()));
        assert!(!response_matches(expected, &expected[1..]));
        let mut flipped = expected.to_vec();
        flipped[31] = if flipped[31] == b'0' { b'1' } else { b'0' };
        assert!(!response_matches(expected, &flipped));
    }

    #[test]
    fn verdicts_map_to_the_stale_flag() {
        assert_eq!(Verdict::Authenticated.rechallenge(), None);
        assert_eq!(Verdict::Stale.rechallenge(), Some(true));
        assert_eq!(Verdict::Replay.rechallenge(), Some(true));
        assert_eq!(Verdict::Invalid(Rejection::Response).rechallenge(), Some(false));
        assert_eq!(Verdict::Malformed("x").rechallenge(), Some(false));
    }
}
