//! The answering side: a UAC (or a proxy registering to a SIP trunk) that receives 401/407 challenges and
//! retries with credentials (RFC 3261 §22.2, §22.3; RFC 8760 §2.4).

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;

use super::algorithm::{Algorithm, Ha1, QopAuth, ResponseInput, hex_encode, userhash};
use super::header::{AlgorithmParam, Challenge, DigestChallenge, DigestCredentials, Qop};

/// What the client proves knowledge of.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Secret<'a> {
    /// The password: any algorithm can be answered.
    Password(&'a str),
    /// A precomputed HA1: only algorithms of its hash function can be answered, and only for the realm it was
    /// computed for.
    Ha1(&'a Ha1),
}

impl fmt::Debug for Secret<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Password(_) => f.write_str("Password(..)"),
            Secret::Ha1(ha1) => f.debug_tuple("Ha1").field(ha1).finish(),
        }
    }
}

/// Who answers: a username and its secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account<'a> {
    /// The username (the user part of the address of record, or what the trunk provider assigned).
    pub username: &'a str,
    /// The password or HA1.
    pub secret: Secret<'a>,
}

impl Account<'_> {
    /// Whether this account can answer `challenge`: a known algorithm (with an HA1 of its hash function when
    /// that is the secret), and qop `auth` offered or (except for `-sess` algorithms) no qop at all. `auth-int`
    /// alone cannot be answered.
    pub fn can_answer(&self, challenge: &DigestChallenge<'_>) -> bool {
        let Some(algorithm) = challenge.effective_algorithm() else {
            return false;
        };
        if let Secret::Ha1(ha1) = self.secret
            && ha1.hash() != algorithm.hash()
        {
            return false;
        }
        match challenge.qop {
            Some(options) => options.auth,
            None => !algorithm.is_session(),
        }
    }

    fn ha1(&self, algorithm: Algorithm, realm: &str) -> Ha1 {
        match self.secret {
            Secret::Password(password) => Ha1::compute(algorithm.hash(), self.username, realm, password),
            Secret::Ha1(ha1) => *ha1,
        }
    }
}

/// The challenges to answer among those of a 401/407 (each `WWW-Authenticate` or `Proxy-Authenticate` value,
/// in order): one per realm, in the order the realms first appear.
///
/// RFC 8760 §2.4 has the client use the topmost challenge it supports for a realm "unless a local policy
/// dictates otherwise"; the policy here is the strongest hash this account can answer, topmost among equals.
/// A server lists its preference anyway, and this keeps an MD5 challenge listed first from downgrading a client
/// that could do SHA-256.
pub fn select_challenges<'c, 'a: 'c>(
    challenges: impl IntoIterator<Item = &'c Challenge<'a>>,
    account: &Account<'_>,
) -> Vec<&'c DigestChallenge<'a>> {
    let mut chosen: Vec<&'c DigestChallenge<'a>> = Vec::new();
    for challenge in challenges.into_iter().filter_map(Challenge::as_digest) {
        if !account.can_answer(challenge) {
            continue;
        }
        let strength = |c: &DigestChallenge<'_>| c.effective_algorithm().map_or(0, Algorithm::strength);
        match chosen.iter_mut().find(|c| c.realm == challenge.realm) {
            Some(current) if strength(challenge) > strength(current) => *current = challenge,
            Some(_) => {}
            None => chosen.push(challenge),
        }
    }
    chosen
}

/// Computes the credentials answering `challenge` for a request with `method` and Request-URI `uri`.
///
/// `cnonce_random` is fresh random bytes (16 are plenty) sent hex-encoded as the cnonce; `nonce_count` is how
/// many requests, this one included, have used this nonce (see [`ClientNonceState`]). Both are ignored when the
/// challenge has no qop. `None` when the account cannot answer this challenge ([`Account::can_answer`]) or
/// `cnonce_random` is empty while qop is used.
pub fn answer<'c>(
    challenge: &'c DigestChallenge<'_>,
    account: &Account<'c>,
    method: &str,
    uri: &'c str,
    cnonce_random: &[u8],
    nonce_count: u32,
) -> Option<DigestCredentials<'c>> {
    if !account.can_answer(challenge) {
        return None;
    }
    let algorithm = challenge.effective_algorithm()?;
    let realm: &'c str = &challenge.realm;
    let nonce: &'c str = &challenge.nonce;
    let cnonce = match challenge.qop {
        Some(_) if cnonce_random.is_empty() => return None,
        Some(_) => Some(hex_encode(cnonce_random)),
        None => None,
    };
    let qop = cnonce.as_deref().map(|cnonce| QopAuth { nonce_count, cnonce });
    let input = ResponseInput { algorithm, nonce, qop, method, uri };
    let response = input.response(&account.ha1(algorithm, realm))?;
    let username = if challenge.userhash {
        Cow::Owned(userhash(algorithm.hash(), account.username, realm).as_str().to_owned())
    } else {
        Cow::Borrowed(account.username)
    };
    Some(DigestCredentials {
        username,
        realm: Cow::Borrowed(realm),
        nonce: Cow::Borrowed(nonce),
        uri: Cow::Borrowed(uri),
        response: Cow::Owned(response.as_str().to_owned()),
        // Echo the challenge's own spelling; absent stays absent for RFC 2069 servers.
        algorithm: challenge.algorithm.as_ref().map(|_| AlgorithmParam::Known(algorithm)),
        qop: cnonce.is_some().then_some(Qop::Auth),
        nonce_count: cnonce.is_some().then_some(nonce_count),
        cnonce: cnonce.map(Cow::Owned),
        opaque: challenge.opaque.as_deref().map(Cow::Borrowed),
        userhash: challenge.userhash,
    })
}

/// The nonce counts a client has used, per nonce, for the few most recent nonces.
///
/// Each request answered with the same nonce must carry the next count (RFC 7616 §3.4): retransmissions
/// are handled by the transaction layer and reuse the request as sent, but every new request (a
/// re-REGISTER, a new INVITE through the same trunk) counts.
#[derive(Debug, Clone, Default)]
pub struct ClientNonceState {
    counts: VecDeque<(String, u32)>,
}

impl ClientNonceState {
    /// How many nonces are remembered: a client talks to few realms at a time; older nonces are answered by
    /// new challenges anyway.
    pub const CAPACITY: usize = 16;

    /// An empty state.
    pub fn new() -> ClientNonceState {
        ClientNonceState::default()
    }

    /// The count for the next request with `nonce`: 1 the first time, then 2, 3...
    pub fn next_nonce_count(&mut self, nonce: &str) -> u32 {
        if let Some((_, count)) = self.counts.iter_mut().find(|(n, _)| n == nonce) {
            *count = count.saturating_add(1);
            return *count;
        }
        if self.counts.len() >= Self::CAPACITY {
            self.counts.pop_front();
        }
        self.counts.push_back((nonce.to_owned(), 1));
        1
    }

    /// [`answer`] with the next nonce count for the challenge's nonce (counted only when qop is used).
    pub fn answer<'c>(
        &mut self,
        challenge: &'c DigestChallenge<'_>,
        account: &Account<'c>,
        method: &str,
        uri: &'c str,
        cnonce_random: &[u8],
    ) -> Option<DigestCredentials<'c>> {
        if !account.can_answer(challenge) {
            return None;
        }
        let nonce_count = if challenge.qop.is_some() { self.next_nonce_count(&challenge.nonce) } else { 0 };
        answer(challenge, account, method, uri, cnonce_random, nonce_count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::HashFunction;
    use crate::message::HeaderName;

    fn parse(values: &[&'static str]) -> Vec<Challenge<'static>> {
        values
            .iter()
            .map(|v| Challenge::parse(v, HeaderName::WwwAuthenticate).expect("well-formed challenge"))
            .collect()
    }

    const PASSWORD: Account<'static> = Account { username: "alice", secret: Secret::Password("pw") };

    #[test]
    fn rfc8760_2_4_strongest_supported_per_realm() {
        let challenges = parse(&[
            r#"Digest realm="a", nonce="1", algorithm=MD5, qop="auth""#,
            r#"Basic realm="a""#,
            r#"Digest realm="b", nonce="2", algorithm=SHA-256, qop="auth""#,
            r#"Digest realm="a", nonce="3", algorithm=SHA-256, qop="auth""#,
            r#"Digest realm="a", nonce="4", algorithm=SHA-512-256-sess, qop="auth-int""#,
            r#"Digest realm="a", nonce="5", algorithm=SHA-256-sess, qop="auth""#,
            r#"Digest realm="b", nonce="6", algorithm=SHA-3, qop="auth""#,
        ]);
        let chosen: Vec<_> = select_challenges(&challenges, &PASSWORD).iter().map(|c| &*c.nonce).collect();
        // Realm a: SHA-256 (nonce 3) beats MD5 and is topmost among the SHA-256 ones; SHA-512-256 offers only
        // auth-int. Realm b: SHA-3 is unknown.
        assert_eq!(chosen, ["3", "2"]);
    }

    #[test]
    fn an_ha1_secret_answers_only_its_hash_function() {
        let ha1 = Ha1::compute(HashFunction::Md5, "alice", "a", "pw");
        let account = Account { username: "alice", secret: Secret::Ha1(&ha1) };
        let challenges = parse(&[
            r#"Digest realm="a", nonce="1", algorithm=SHA-256, qop="auth""#,
            r#"Digest realm="a", nonce="2", algorithm=MD5, qop="auth""#,
        ]);
        let chosen = select_challenges(&challenges, &account);
        assert_eq!(chosen.len(), 1);
        assert_eq!(chosen[0].nonce, "2");
        let sha = challenges[0].as_digest().expect("digest");
        assert_eq!(answer(sha, &account, "REGISTER", "sip:a", b"c", 1), None);
    }

    #[test]
    fn rfc2069_challenge_is_answered_without_qop_or_algorithm() {
        let challenges = parse(&[r#"Digest realm="a", nonce="n""#]);
        let challenge = challenges[0].as_digest().expect("digest");
        let credentials = answer(challenge, &PASSWORD, "REGISTER", "sip:a", b"", 0).expect("answerable");
        assert_eq!((credentials.qop, credentials.cnonce.as_deref(), credentials.nonce_count), (None, None, None));
        assert_eq!(credentials.algorithm, None);
        let sess = parse(&[r#"Digest realm="a", nonce="n", algorithm=MD5-sess"#]);
        assert!(!PASSWORD.can_answer(sess[0].as_digest().expect("digest")), "-sess needs a cnonce, hence qop");
    }

    #[test]
    fn nonce_counts_increase_per_nonce() {
        let mut state = ClientNonceState::new();
        assert_eq!(state.next_nonce_count("a"), 1);
        assert_eq!(state.next_nonce_count("a"), 2);
        assert_eq!(state.next_nonce_count("b"), 1);
        assert_eq!(state.next_nonce_count("a"), 3);
        for i in 0..ClientNonceState::CAPACITY {
            state.next_nonce_count(&i.to_string());
        }
        assert_eq!(state.next_nonce_count("a"), 1, "forgotten after CAPACITY newer nonces");
    }

    #[test]
    fn password_is_not_in_debug_output() {
        assert!(!format!("{PASSWORD:?}").contains("pw"));
    }
}
