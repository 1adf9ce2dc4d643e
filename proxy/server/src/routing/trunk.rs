//! Trunks as routing uses them: the Request-URI of a call through a trunk, and answering the trunk's digest
//! challenge with its credentials (RFC 3261 §22.2, §22.3), for the INVITE and for the requests of the dialog.
//!
//! A trunk's credentials are HA1 values for one realm (`auth_realm`), which answer only challenges of that realm
//! with an algorithm of a stored HA1 (SHA-256 preferred over MD5), and/or the sealed password
//! (`auth_password_sealed`, [`carillon_db::seal`]), unsealed with the key of `[trunks] seal_key_file` only when no
//! HA1 answers: the password answers any realm with any algorithm it is challenged with (the strongest offered).
//! A password that cannot be unsealed (no key configured, another key, a changed envelope) makes the challenge
//! unanswerable like any other: the trunk counts as failed and the next one is tried.
//!
//! # CSeq
//!
//! The INVITE sent again with credentials is a new client transaction (a new Via branch) with the same CSeq
//! number. RFC 3261 §22.2 asks for an incremented CSeq, but the proxy is not the user agent: the caller's dialog
//! goes on with the caller's CSeq numbers (its ACK for a 2xx carries the INVITE's number, its BYE the next
//! one), which a trunk that saw a higher INVITE CSeq would refuse. Keeping the number is what deployed proxies
//! do when they answer challenges on a caller's behalf, and trunks accept it because no dialog exists yet at
//! their end: the challenge ended the first transaction without one.
//!
//! A request inside the dialog (BYE, re-INVITE, UPDATE, INFO, REFER...) is different: the trunk's end of the dialog
//! has seen its CSeq, and RFC 3261 §12.2.2 lets it refuse any number not above the last one (pjsip-based servers
//! answer 500, Asterisk's chan_sip takes an equal number for a retransmission and repeats its challenge). So the
//! request sent again with credentials carries the next number, as RFC 3261 §22.2 says and as Kamailio's
//! `uac_auth()` does, and from then on the dialog's requests from the caller towards the trunk are shifted by the
//! same amount, their responses shifted back before they go to the caller, as Kamailio's dialog module does with
//! `track_cseq_updates`: [`CSeqOffsets`] remembers the shift of each such dialog, and only of those. A BYE ends the
//! dialog, so a challenged BYE leaves nothing to remember.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use carillon_db::Trunk;
use carillon_db::seal::SealKey;
use carillon_sip::auth::{Account, Challenge, Challenger, ClientNonceState, Ha1, Secret, select_challenges};
use carillon_sip::{HeaderName, Message, Method, StatusCode};

/// A trunk a target goes through: its name (for logs and call records), how long it has to answer at all, and
/// what it takes to answer its challenges.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct TrunkAccount {
    /// The trunk's name.
    pub(crate) name: String,
    /// Without any response (not even 100 Trying) this long after a request was sent to it, the trunk counts as
    /// down: the request's client transaction times out as at Timer B (a 408 for RFC 3261 §16.7), and the next
    /// server of the trunk's DNS name, or the next trunk, is tried. `None`: only the transaction timeout.
    pub(crate) response_timeout: Option<Duration>,
    username: Option<String>,
    realm: Option<String>,
    ha1_sha256: Option<Ha1>,
    ha1_md5: Option<Ha1>,
    /// The sealed password's envelope.
    sealed: Option<Vec<u8>>,
}

impl fmt::Debug for TrunkAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrunkAccount")
            .field("name", &self.name)
            .field("username", &self.username)
            .field("realm", &self.realm)
            .field("response_timeout", &self.response_timeout)
            .finish_non_exhaustive()
    }
}

/// Why a trunk's challenge was not answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unanswerable {
    /// The trunk has no credentials.
    NoCredentials,
    /// No stored HA1 answers, the password is sealed, and no seal key is configured.
    NoSealKey,
    /// No stored HA1 answers, and the sealed password cannot be unsealed, for this reason.
    Unseal(&'static str),
    /// No challenge of the stored realm with an algorithm of a stored HA1.
    NoMatchingChallenge,
    /// The response is no 401 or 407, or the request cannot be rewritten.
    Malformed,
}

impl fmt::Display for Unanswerable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unanswerable::NoCredentials => "the trunk has no credentials",
            Unanswerable::NoSealKey => {
                "no stored HA1 answers it, the password is sealed, and [trunks] seal_key_file is not set"
            }
            Unanswerable::Unseal(reason) => {
                return write!(
                    f,
                    "the sealed password cannot be unsealed ({reason}): [trunks] seal_key_file must be the key it \
                     was sealed with, the same file on every node and for the CLI"
                );
            }
            Unanswerable::NoMatchingChallenge => {
                "no digest challenge the stored HA1 values (their realm, their algorithms) or the password can answer"
            }
            Unanswerable::Malformed => "the challenge or the request cannot be used",
        })
    }
}

impl TrunkAccount {
    /// The account of `trunk`.
    pub(crate) fn of(trunk: &Trunk) -> TrunkAccount {
        TrunkAccount {
            name: trunk.name.clone(),
            response_timeout: None,
            username: trunk.auth_username.clone(),
            realm: trunk.auth_realm.clone(),
            ha1_sha256: trunk.auth_ha1_sha256,
            ha1_md5: trunk.auth_ha1_md5,
            sealed: trunk.auth_password_sealed.clone(),
        }
    }

    /// The same account, given up after `timeout` without any response.
    pub(crate) fn with_response_timeout(mut self, timeout: Duration) -> TrunkAccount {
        self.response_timeout = Some(timeout);
        self
    }

    /// Whether the trunk has credentials at all.
    pub(crate) fn has_credentials(&self) -> bool {
        self.username.is_some()
    }

    /// `request` (as sent to the trunk) again, answering the 401 or 407 `challenge` with this trunk's
    /// credentials (a stored HA1, else the sealed password unsealed with `seal_key`): a new Via branch (`unique` in
    /// place of the branch's unique part, the loop-detection part kept), the same CSeq (see the module
    /// documentation), and an Authorization or Proxy-Authorization line.
    pub(crate) fn answer(
        &self,
        request: &Message,
        challenge: &Message,
        answering: Answering<'_>,
        unique: u64,
    ) -> Result<Message, Unanswerable> {
        let Answering { nonces, cnonce, seal_key } = answering;
        let Some(username) = self.username.as_deref() else { return Err(Unanswerable::NoCredentials) };
        let challenger = challenge.status().and_then(Challenger::from_status).ok_or(Unanswerable::Malformed)?;
        let header = challenger.challenge_header();
        let challenges: Vec<Challenge<'_>> =
            challenge.header_values(header).filter_map(|v| Challenge::parse(v, header).ok()).collect();
        let (Some(method), Some(uri)) = (request.method(), request.request_uri()) else {
            return Err(Unanswerable::Malformed);
        };
        let mut answered = None;
        let stored = [self.ha1_sha256.as_ref(), self.ha1_md5.as_ref()].into_iter().flatten();
        for ha1 in stored.filter(|_| self.realm.is_some()) {
            let account = Account { username, secret: Secret::Ha1(ha1) };
            // An HA1 answers only the realm it was computed for; `can_answer` checks the algorithm.
            let found = challenges
                .iter()
                .filter_map(Challenge::as_digest)
                .find(|c| Some(c.realm.as_ref()) == self.realm.as_deref() && account.can_answer(c));
            if let Some(digest) = found
                && let Some(credentials) = nonces.answer(digest, &account, method.as_str(), uri, cnonce)
            {
                answered = Some(credentials.to_string());
                break;
            }
        }
        if answered.is_none()
            && let Some(sealed) = &self.sealed
        {
            let key = seal_key.ok_or(Unanswerable::NoSealKey)?;
            let password = key.unseal(sealed).map_err(|e| match e {
                carillon_db::Error::Unseal { reason } => Unanswerable::Unseal(reason),
                _ => Unanswerable::Unseal("unexpected failure"),
            })?;
            let account = Account { username, secret: Secret::Password(password.as_str()) };
            // The strongest algorithm offered for the first realm challenged.
            if let Some(digest) = select_challenges(&challenges, &account).first() {
                answered = nonces.answer(digest, &account, method.as_str(), uri, cnonce).map(|c| c.to_string());
            }
        }
        let credentials = answered.ok_or(Unanswerable::NoMatchingChallenge)?;
        let mut retry = carillon_proxy_core::rebranch(request, unique).map_err(|_| Unanswerable::Malformed)?;
        retry.remove_header(challenger.credentials_header());
        retry.push_header(challenger.credentials_header().as_str(), &credentials);
        Ok(retry)
    }
}

impl TrunkAccount {
    /// A request of a dialog through this trunk (as sent to it) again, answering `challenge`: like
    /// [`TrunkAccount::answer`], with the next CSeq number (see the module documentation).
    pub(crate) fn answer_in_dialog(
        &self,
        request: &Message,
        challenge: &Message,
        answering: Answering<'_>,
        unique: u64,
    ) -> Result<Message, Unanswerable> {
        let mut retry = self.answer(request, challenge, answering, unique)?;
        shift_cseq(&mut retry, 1).ok_or(Unanswerable::Malformed)?;
        Ok(retry)
    }
}

/// Moves the CSeq number of `message` by `by` (down when negative), keeping the method as written. Returns the
/// new number; `None` (the message unchanged) when it has no usable CSeq or the number would leave 0..2^31.
pub(crate) fn shift_cseq(message: &mut Message, by: i64) -> Option<u32> {
    let cseq = message.cseq().ok()?;
    let seq = u32::try_from(i64::from(cseq.seq) + by).ok().filter(|n| *n < 1 << 31)?;
    let value = format!("{seq} {}", cseq.method_text);
    message.set_header(HeaderName::CSeq, &value);
    Some(seq)
}

/// How many dialogs [`CSeqOffsets`] remembers at most; beyond that it forgets them all (a dialog forgotten sends
/// its caller's numbers unshifted, which the trunk refuses: a failure of one request, not of the proxy).
const MAX_SHIFTED_DIALOGS: usize = 10_000;

/// The CSeq shift of each dialog through a trunk whose in-dialog request was challenged and answered with a higher
/// number (see the module documentation), by Call-ID and the From tag of the caller's requests towards the trunk.
#[derive(Debug, Default)]
pub(crate) struct CSeqOffsets {
    dialogs: HashMap<(Box<str>, Box<str>), (u32, Instant)>,
}

impl CSeqOffsets {
    /// The shift of the dialog of `request` (a request from the caller's side): 0 for most dialogs.
    pub(crate) fn of(&self, request: &Message) -> u32 {
        dialog_key(request, HeaderName::From).and_then(|key| self.dialogs.get(&key)).map_or(0, |(by, _)| *by)
    }

    /// From `now` on, the dialog of `request` (from the caller's side) is shifted by `by`.
    pub(crate) fn set(&mut self, request: &Message, by: u32, now: Instant) {
        let Some(key) = dialog_key(request, HeaderName::From) else { return };
        if self.dialogs.len() >= MAX_SHIFTED_DIALOGS && !self.dialogs.contains_key(&key) {
            self.dialogs.clear();
        }
        self.dialogs.insert(key, (by, now));
    }

    /// The dialog of `bye` ended, whichever side sent it.
    pub(crate) fn end(&mut self, bye: &Message) {
        for side in [HeaderName::From, HeaderName::To] {
            if let Some(key) = dialog_key(bye, side) {
                self.dialogs.remove(&key);
            }
        }
    }

    /// Forgets dialogs shifted longer than `longest` ago (calls whose BYE never passed).
    pub(crate) fn expire(&mut self, now: Instant, longest: Duration) {
        self.dialogs.retain(|_, (_, since)| now.saturating_duration_since(*since) < longest);
    }

    /// How many dialogs are shifted.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.dialogs.len()
    }
}

/// The Call-ID and the tag in `side` (From or To) of a request.
fn dialog_key(request: &Message, side: HeaderName) -> Option<(Box<str>, Box<str>)> {
    let call_id = request.call_id().ok()?;
    let address = if side == HeaderName::From { request.from().ok()? } else { request.to().ok()? };
    Some((call_id.into(), address.tag()?.into()))
}

/// Whether a request of a dialog leaves the dialog's CSeq shift behind it: a BYE ends the dialog.
pub(crate) fn ends_dialog(request: &Message) -> bool {
    request.method() == Some(&Method::Bye)
}

/// What answering a trunk's challenge takes besides the trunk's account.
#[derive(Debug)]
pub(crate) struct Answering<'a> {
    /// Nonce counts of the trunks' challenges.
    pub(crate) nonces: &'a mut ClientNonceState,
    /// Fresh randomness for the cnonce.
    pub(crate) cnonce: &'a [u8],
    /// The key sealed passwords are unsealed with, if configured.
    pub(crate) seal_key: Option<&'a SealKey>,
}

/// Whether `status` is a challenge a trunk's credentials may answer.
pub(crate) fn is_challenge(status: StatusCode) -> bool {
    matches!(status, StatusCode::UNAUTHORIZED | StatusCode::PROXY_AUTHENTICATION_REQUIRED)
}

/// The Request-URI of a call to `number` through `trunk`: `sip:<number>@<host>[:<port>][;transport=<t>]`, the
/// number's `#` escaped (RFC 3261 §25.1 allows `*` and `+` in a user part, not `#`).
pub(crate) fn target_uri(trunk: &Trunk, number: &str) -> String {
    let user = number.replace('#', "%23");
    let mut uri = format!("sip:{user}@{}", trunk.host);
    if let Some(port) = trunk.port {
        uri.push_str(&format!(":{port}"));
    }
    if let Some(transport) = trunk.transport {
        uri.push_str(&format!(";transport={}", transport.as_str().to_ascii_lowercase()));
    }
    uri
}

#[cfg(test)]
mod tests {
    use super::*;
    use carillon_db::TrunkKind;
    use carillon_sip::HeaderName;
    use carillon_sip::auth::{
        Algorithm, AuthRequest, DigestServer, HashFunction, NonceCountWindow, NonceIssuer, StoredUser,
    };
    use carillon_sip::target::Transport;

    fn trunk(realm: &str, password: &str) -> Trunk {
        Trunk {
            name: "itsp".into(),
            kind: TrunkKind::Provider,
            host: "192.0.2.50".into(),
            port: Some(5070),
            transport: Some(Transport::Udp),
            auth_username: Some("acct".into()),
            auth_realm: Some(realm.into()),
            auth_ha1_md5: Some(Ha1::compute(HashFunction::Md5, "acct", realm, password)),
            auth_ha1_sha256: Some(Ha1::compute(HashFunction::Sha256, "acct", realm, password)),
            auth_password_sealed: None,
        }
    }

    fn invite() -> Message {
        let text = "INVITE sip:16175551234@192.0.2.50:5070;transport=udp SIP/2.0\r\n\
            Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK0123456789abcdef.0000000000000001\r\n\
            Via: SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bKcaller;rport=5062\r\n\
            Max-Forwards: 69\r\nFrom: <sip:4000@campus.test>;tag=a\r\nTo: <sip:916175551234@campus.test>\r\n\
            Call-ID: c1\r\nCSeq: 2 INVITE\r\nContent-Length: 0\r\n\r\n";
        Message::parse(bytes::Bytes::from(text)).expect("valid INVITE")
    }

    fn server(realm: &str) -> DigestServer {
        DigestServer::new(realm.to_owned(), NonceIssuer::new([7; 32], Duration::from_secs(300)))
    }

    fn now() -> Duration {
        Duration::from_secs(1_800_000_000)
    }

    fn challenge_from(server: &DigestServer, request: &Message, status: StatusCode) -> Message {
        let header = Challenger::from_status(status).expect("a challenge status").challenge_header();
        let auth = AuthRequest {
            method: "INVITE",
            request_uri: request.request_uri().expect("uri"),
            now: now(),
            binding: &[],
        };
        let mut builder = Message::response_to(request, status).to_tag("t");
        for challenge in server.challenges(&auth, [1; 8], false) {
            builder = builder.header(header.as_str(), challenge.to_string());
        }
        builder.build().expect("a challenge")
    }

    #[test]
    fn a_trunk_challenge_is_answered_with_its_ha1_and_verifies_rfc3261_22_3() {
        let request = invite();
        let server = server("itsp.example");
        let challenge = challenge_from(&server, &request, StatusCode::PROXY_AUTHENTICATION_REQUIRED);
        let account = TrunkAccount::of(&trunk("itsp.example", "s3cret"));
        let mut nonces = ClientNonceState::new();
        let retry = account.answer(&request, &challenge, with(&mut nonces, None), 42).expect("answerable");

        assert_eq!(retry.cseq().expect("CSeq").seq, 2, "the CSeq stays the caller's");
        let branch = retry.top_via().expect("Via").branch().expect("branch").to_owned();
        assert_eq!(branch, format!("z9hG4bK0123456789abcdef.{:016x}", 42), "a new transaction, same loop hash");
        assert_eq!(retry.header_values(HeaderName::Via).count(), 2);

        let value = retry.header(HeaderName::ProxyAuthorization).expect("credentials");
        let credentials = carillon_sip::auth::Credentials::parse(value, HeaderName::ProxyAuthorization).expect("parse");
        let digest = credentials.as_digest().expect("digest");
        assert_eq!(digest.effective_algorithm().map(|a| a.hash()), Some(HashFunction::Sha256), "SHA-256 preferred");
        let stored = Ha1::compute(HashFunction::Sha256, "acct", "itsp.example", "s3cret");
        let auth =
            AuthRequest { method: "INVITE", request_uri: retry.request_uri().expect("uri"), now: now(), binding: &[] };
        let verdict = server.verify(
            &mut NonceCountWindow::new(16),
            &auth,
            digest,
            Some(StoredUser { username: "acct", ha1: &stored }),
        );
        assert!(verdict.is_authenticated(), "{verdict:?}");
    }

    /// A BYE of the dialog of `invite()` from the caller's side (From tag `a`, the trunk's To tag `t`), CSeq `cseq`.
    fn bye(cseq: u32) -> Message {
        let text = format!(
            "BYE sip:gw@192.0.2.50:5070 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK0123456789abcdef.0000000000000002\r\n\
             Max-Forwards: 69\r\nFrom: <sip:4000@campus.test>;tag=a\r\nTo: <sip:916175551234@campus.test>;tag=t\r\n\
             Call-ID: c1\r\nCSeq: {cseq}  BYE\r\nContent-Length: 0\r\n\r\n"
        );
        Message::parse(bytes::Bytes::from(text)).expect("valid BYE")
    }

    #[test]
    fn an_in_dialog_request_is_answered_with_the_next_cseq_rfc3261_22_2() {
        let request = bye(3);
        let challenge = challenge_from(&server("itsp.example"), &request, StatusCode::PROXY_AUTHENTICATION_REQUIRED);
        let account = TrunkAccount::of(&trunk("itsp.example", "s3cret"));
        let retry = account
            .answer_in_dialog(&request, &challenge, with(&mut ClientNonceState::new(), None), 7)
            .expect("answerable");
        assert_eq!(retry.header(HeaderName::CSeq), Some("4 BYE"), "the next number, the method as written");
        assert!(retry.header(HeaderName::ProxyAuthorization).is_some());
        assert_ne!(retry.top_via().expect("Via").branch(), request.top_via().expect("Via").branch());
    }

    #[test]
    fn cseq_shifts_stay_within_the_numbers_rfc3261_allows() {
        let mut m = bye(3);
        assert_eq!(shift_cseq(&mut m, 2), Some(5));
        assert_eq!(m.cseq().expect("CSeq").seq, 5);
        assert_eq!(shift_cseq(&mut m, -5), Some(0));
        assert_eq!(shift_cseq(&mut m, -1), None, "below 0");
        assert_eq!(m.cseq().expect("CSeq").seq, 0, "left unchanged");
        let mut m = bye((1 << 31) - 1);
        assert_eq!(shift_cseq(&mut m, 1), None, "2^31 and above are not CSeq numbers");
    }

    #[test]
    fn dialogs_keep_their_shift_until_their_bye_or_their_age_ends_it() {
        let start = Instant::now();
        let mut offsets = CSeqOffsets::default();
        assert_eq!(offsets.of(&bye(3)), 0);
        offsets.set(&bye(3), 1, start);
        assert_eq!(offsets.of(&bye(9)), 1, "any request of the dialog from the caller's side");
        let from_trunk = Message::parse(bytes::Bytes::from(
            String::from_utf8(bye(2).to_bytes().to_vec())
                .expect("UTF-8")
                .replace("From: <sip:4000@campus.test>;tag=a", "From: <sip:916175551234@campus.test>;tag=t")
                .replace("To: <sip:916175551234@campus.test>;tag=t", "To: <sip:4000@campus.test>;tag=a"),
        ))
        .expect("valid BYE");
        assert_eq!(offsets.of(&from_trunk), 0, "the trunk's own requests keep its numbers");
        offsets.end(&from_trunk);
        assert_eq!(offsets.len(), 0, "a BYE from either side ends the dialog");
        offsets.set(&bye(3), 2, start);
        offsets.expire(start + Duration::from_secs(60), Duration::from_secs(3600));
        assert_eq!(offsets.len(), 1);
        offsets.expire(start + Duration::from_secs(3600), Duration::from_secs(3600));
        assert_eq!(offsets.len(), 0);
        assert!(ends_dialog(&bye(1)) && !ends_dialog(&invite()));
    }

    #[test]
    fn a_401_is_answered_with_authorization() {
        let request = invite();
        let challenge = challenge_from(&server("itsp.example"), &request, StatusCode::UNAUTHORIZED);
        let account = TrunkAccount::of(&trunk("itsp.example", "pw"));
        let retry =
            account.answer(&request, &challenge, with(&mut ClientNonceState::new(), None), 1).expect("answerable");
        assert!(retry.header(HeaderName::Authorization).is_some());
        assert!(retry.header(HeaderName::ProxyAuthorization).is_none());
    }

    #[test]
    fn challenges_of_another_realm_or_without_credentials_are_not_answered() {
        let request = invite();
        let challenge = challenge_from(&server("other.example"), &request, StatusCode::UNAUTHORIZED);
        let account = TrunkAccount::of(&trunk("itsp.example", "pw"));
        let mut nonces = ClientNonceState::new();
        let answered = account.answer(&request, &challenge, with(&mut nonces, None), 1);
        assert_eq!(answered, Err(Unanswerable::NoMatchingChallenge));

        let mut bare = trunk("x", "y");
        (bare.auth_username, bare.auth_realm, bare.auth_ha1_md5, bare.auth_ha1_sha256) = (None, None, None, None);
        assert!(!TrunkAccount::of(&bare).has_credentials());
        assert_eq!(
            TrunkAccount::of(&bare).answer(&request, &challenge, with(&mut nonces, None), 1),
            Err(Unanswerable::NoCredentials)
        );
    }

    fn with<'a>(nonces: &'a mut ClientNonceState, seal_key: Option<&'a SealKey>) -> Answering<'a> {
        Answering { nonces, cnonce: b"cnonce-bytes", seal_key }
    }

    /// A trunk whose only secret is `password` sealed with `key`.
    fn sealed_trunk(key: &SealKey, password: &str) -> Trunk {
        let mut t = trunk("unused", "unused");
        (t.auth_realm, t.auth_ha1_md5, t.auth_ha1_sha256) = (None, None, None);
        t.auth_password_sealed = Some(key.seal(password).expect("sealed"));
        t
    }

    /// Whether `retry` carries credentials for `password` that `server` accepts, and with which hash.
    fn verified(server: &DigestServer, retry: &Message, password: &str) -> Option<HashFunction> {
        let value = retry.header(HeaderName::ProxyAuthorization)?;
        let credentials = carillon_sip::auth::Credentials::parse(value, HeaderName::ProxyAuthorization).ok()?;
        let digest = credentials.as_digest()?;
        let hash = digest.effective_algorithm()?.hash();
        let stored = Ha1::compute(hash, "acct", server.realm(), password);
        let auth = AuthRequest { method: "INVITE", request_uri: retry.request_uri()?, now: now(), binding: &[] };
        let user = Some(StoredUser { username: "acct", ha1: &stored });
        server.verify(&mut NonceCountWindow::new(16), &auth, digest, user).is_authenticated().then_some(hash)
    }

    #[test]
    fn a_sealed_password_answers_any_realm_with_the_strongest_algorithm_offered() {
        let key = SealKey::from_bytes([9; 32]);
        let account = TrunkAccount::of(&sealed_trunk(&key, "pa55-word"));
        let request = invite();
        for (realm, offered, expected) in [
            ("sip.provider.example", vec![Algorithm::Md5], HashFunction::Md5),
            ("another.realm", vec![Algorithm::Md5, Algorithm::Sha256], HashFunction::Sha256),
            ("third.realm", vec![Algorithm::Sha256], HashFunction::Sha256),
        ] {
            let server = server(realm).with_algorithms(&offered);
            let challenge = challenge_from(&server, &request, StatusCode::PROXY_AUTHENTICATION_REQUIRED);
            let mut nonces = ClientNonceState::new();
            let retry = account.answer(&request, &challenge, with(&mut nonces, Some(&key)), 7).expect("answered");
            assert_eq!(verified(&server, &retry, "pa55-word"), Some(expected), "{realm} {offered:?}");
        }
    }

    #[test]
    fn stored_ha1_values_answer_their_realm_and_the_sealed_password_every_other() {
        let key = SealKey::from_bytes([9; 32]);
        let mut both = trunk("itsp.example", "old-password");
        both.auth_password_sealed = Some(key.seal("new-password").expect("sealed"));
        let account = TrunkAccount::of(&both);
        let request = invite();
        let own = server("itsp.example");
        let challenge = challenge_from(&own, &request, StatusCode::PROXY_AUTHENTICATION_REQUIRED);
        let retry = account.answer(&request, &challenge, with(&mut ClientNonceState::new(), Some(&key)), 1);
        assert!(verified(&own, &retry.expect("answered"), "old-password").is_some(), "the HA1 of its realm first");
        let other = server("elsewhere.example");
        let challenge = challenge_from(&other, &request, StatusCode::PROXY_AUTHENTICATION_REQUIRED);
        let retry = account.answer(&request, &challenge, with(&mut ClientNonceState::new(), Some(&key)), 1);
        assert!(verified(&other, &retry.expect("answered"), "new-password").is_some(), "the password elsewhere");
    }

    #[test]
    fn a_sealed_password_without_its_key_is_not_answered_and_says_why() {
        let key = SealKey::from_bytes([9; 32]);
        let account = TrunkAccount::of(&sealed_trunk(&key, "pw"));
        let request = invite();
        let challenge = challenge_from(&server("r"), &request, StatusCode::PROXY_AUTHENTICATION_REQUIRED);
        let mut nonces = ClientNonceState::new();
        assert_eq!(account.answer(&request, &challenge, with(&mut nonces, None), 1), Err(Unanswerable::NoSealKey));
        let wrong = SealKey::from_bytes([10; 32]);
        let refused = account.answer(&request, &challenge, with(&mut nonces, Some(&wrong)), 1);
        let Err(why @ Unanswerable::Unseal(_)) = refused else { panic!("unsealed with the wrong key: {refused:?}") };
        let text = why.to_string();
        assert!(text.contains("another key") && text.contains("seal_key_file"), "{text}");
        let mut garbled = sealed_trunk(&key, "pw");
        garbled.auth_password_sealed = Some(vec![1; 40]);
        let refused = TrunkAccount::of(&garbled).answer(&request, &challenge, with(&mut nonces, Some(&key)), 1);
        assert!(matches!(refused, Err(Unanswerable::Unseal(_))), "{refused:?}");
    }

    #[test]
    fn the_target_uri_names_host_port_and_transport() {
        let t = trunk("r", "p");
        assert_eq!(target_uri(&t, "16175551234"), "sip:16175551234@192.0.2.50:5070;transport=udp");
        let mut bare = t;
        (bare.port, bare.transport, bare.host) = (None, None, "gw.example.net".into());
        assert_eq!(target_uri(&bare, "+4930#1"), "sip:+4930%231@gw.example.net");
        assert!(carillon_sip::uri::SipUri::parse(&target_uri(&bare, "*72#")).is_ok());
    }

    #[test]
    fn secrets_are_not_in_debug_output() {
        let mut with_sealed = trunk("itsp.example", "pw");
        with_sealed.auth_password_sealed = Some(vec![0x01, 0xab, 0xcd]);
        let text = format!("{:?}", TrunkAccount::of(&with_sealed));
        assert!(!text.contains("171") && !text.contains("ab, "), "{text}");
        let ha1 = Ha1::compute(HashFunction::Md5, "acct", "itsp.example", "pw");
        assert!(!text.contains(ha1.as_hex()), "{text}");
    }
}
