//! Trunks as routing uses them: the Request-URI of a call through a trunk, and answering the trunk's digest
//! challenge with its credentials (RFC 3261 §22.2, §22.3).
//!
//! A trunk's credentials are stored as HA1 values for one realm (`auth_realm`), so only challenges of that realm
//! with an algorithm of a stored HA1 can be answered; SHA-256 is preferred over MD5. A trunk whose only secret
//! is the sealed password (`auth_password_sealed`) cannot be answered: the envelope's cipher and key are not
//! defined yet, so its challenge is treated like any unanswerable one (the next trunk is tried).
//!
//! The request sent again with credentials is a new client transaction (a new Via branch) with the same CSeq
//! number. RFC 3261 §22.2 asks for an incremented CSeq, but the proxy is not the user agent: the caller's dialog
//! goes on with the caller's CSeq numbers (its ACK for a 2xx carries the INVITE's number, its BYE the next
//! one), which a trunk that saw a higher INVITE CSeq would refuse. Keeping the number is what deployed proxies
//! do when they answer challenges on a caller's behalf, and trunks accept it because the first transaction has
//! ended.

use std::fmt;
use std::time::Duration;

use carillon_db::Trunk;
use carillon_sip::auth::{Account, Challenge, Challenger, ClientNonceState, Ha1, Secret};
use carillon_sip::{Message, StatusCode};

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
    /// Only a sealed password is stored, which cannot be used yet.
    sealed_only: bool,
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
    /// Only a sealed password is stored.
    SealedPassword,
    /// No challenge of the stored realm with an algorithm of a stored HA1.
    NoMatchingChallenge,
    /// The response is no 401 or 407, or the request cannot be rewritten.
    Malformed,
}

impl fmt::Display for Unanswerable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unanswerable::NoCredentials => "the trunk has no credentials",
            Unanswerable::SealedPassword => "only a sealed password is stored, which this version cannot unseal",
            Unanswerable::NoMatchingChallenge => "no challenge of the stored realm with an algorithm of a stored HA1",
            Unanswerable::Malformed => "the challenge or the request cannot be used",
        })
    }
}

impl TrunkAccount {
    /// The account of `trunk`.
    pub(crate) fn of(trunk: &Trunk) -> TrunkAccount {
        let has_ha1 = trunk.auth_ha1_md5.is_some() || trunk.auth_ha1_sha256.is_some();
        TrunkAccount {
            name: trunk.name.clone(),
            response_timeout: None,
            username: trunk.auth_username.clone(),
            realm: trunk.auth_realm.clone(),
            ha1_sha256: trunk.auth_ha1_sha256,
            ha1_md5: trunk.auth_ha1_md5,
            sealed_only: !has_ha1 && trunk.auth_password_sealed.is_some(),
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
    /// credentials: a new Via branch (`unique` in place of the branch's unique part, the loop-detection part
    /// kept), the same CSeq (see the module documentation), and an Authorization or Proxy-Authorization line.
    pub(crate) fn answer(
        &self,
        request: &Message,
        challenge: &Message,
        nonces: &mut ClientNonceState,
        cnonce: &[u8],
        unique: u64,
    ) -> Result<Message, Unanswerable> {
        let (Some(username), Some(realm)) = (self.username.as_deref(), self.realm.as_deref()) else {
            return Err(if self.sealed_only { Unanswerable::SealedPassword } else { Unanswerable::NoCredentials });
        };
        let challenger = challenge.status().and_then(Challenger::from_status).ok_or(Unanswerable::Malformed)?;
        let header = challenger.challenge_header();
        let challenges: Vec<Challenge<'_>> =
            challenge.header_values(header).filter_map(|v| Challenge::parse(v, header).ok()).collect();
        let (Some(method), Some(uri)) = (request.method(), request.request_uri()) else {
            return Err(Unanswerable::Malformed);
        };
        let mut answered = None;
        for ha1 in [self.ha1_sha256.as_ref(), self.ha1_md5.as_ref()].into_iter().flatten() {
            let account = Account { username, secret: Secret::Ha1(ha1) };
            // An HA1 answers only the realm it was computed for; `can_answer` checks the algorithm.
            let found = challenges
                .iter()
                .filter_map(Challenge::as_digest)
                .find(|c| c.realm.as_ref() == realm && account.can_answer(c));
            if let Some(digest) = found
                && let Some(credentials) = nonces.answer(digest, &account, method.as_str(), uri, cnonce)
            {
                answered = Some(credentials.to_string());
                break;
            }
        }
        let credentials = answered.ok_or(Unanswerable::NoMatchingChallenge)?;
        let mut retry = carillon_proxy_core::rebranch(request, unique).map_err(|_| Unanswerable::Malformed)?;
        retry.remove_header(challenger.credentials_header());
        retry.push_header(challenger.credentials_header().as_str(), &credentials);
        Ok(retry)
    }
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
    use carillon_sip::auth::{AuthRequest, DigestServer, HashFunction, NonceCountWindow, NonceIssuer, StoredUser};
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
        let retry = account.answer(&request, &challenge, &mut nonces, b"cnonce-bytes", 42).expect("answerable");

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

    #[test]
    fn a_401_is_answered_with_authorization() {
        let request = invite();
        let challenge = challenge_from(&server("itsp.example"), &request, StatusCode::UNAUTHORIZED);
        let account = TrunkAccount::of(&trunk("itsp.example", "pw"));
        let retry = account.answer(&request, &challenge, &mut ClientNonceState::new(), b"c", 1).expect("answerable");
        assert!(retry.header(HeaderName::Authorization).is_some());
        assert!(retry.header(HeaderName::ProxyAuthorization).is_none());
    }

    #[test]
    fn challenges_of_another_realm_or_without_credentials_are_not_answered() {
        let request = invite();
        let challenge = challenge_from(&server("other.example"), &request, StatusCode::UNAUTHORIZED);
        let account = TrunkAccount::of(&trunk("itsp.example", "pw"));
        let mut nonces = ClientNonceState::new();
        assert_eq!(account.answer(&request, &challenge, &mut nonces, b"c", 1), Err(Unanswerable::NoMatchingChallenge));

        let mut bare = trunk("x", "y");
        (bare.auth_username, bare.auth_realm, bare.auth_ha1_md5, bare.auth_ha1_sha256) = (None, None, None, None);
        assert!(!TrunkAccount::of(&bare).has_credentials());
        assert_eq!(
            TrunkAccount::of(&bare).answer(&request, &challenge, &mut nonces, b"c", 1),
            Err(Unanswerable::NoCredentials)
        );

        let mut sealed = bare.clone();
        sealed.auth_username = Some("acct".into());
        sealed.auth_password_sealed = Some(vec![1; 40]);
        assert_eq!(
            TrunkAccount::of(&sealed).answer(&request, &challenge, &mut nonces, b"c", 1),
            Err(Unanswerable::SealedPassword)
        );
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
        let text = format!("{:?}", TrunkAccount::of(&trunk("itsp.example", "pw")));
        let ha1 = Ha1::compute(HashFunction::Md5, "acct", "itsp.example", "pw");
        assert!(!text.contains(ha1.as_hex()), "{text}");
    }
}
