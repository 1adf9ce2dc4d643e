//! Digest authentication end to end: the RFC worked examples, client → server round trips for every algorithm,
//! and the ways verification must fail (stale, forged, replayed, wrong URI or realm).

#![allow(clippy::expect_used, clippy::panic)] // a failed expectation is the test failing

use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;
use carillon_sip::auth::{
    Account, Algorithm, AlgorithmParam, AuthRequest, Challenge, Challenger, ClientNonceState, Credentials,
    DigestChallenge, DigestCredentials, DigestServer, Ha1, HashFunction, NonceCountWindow, NonceIssuer, Qop, QopAuth,
    QopOptions, Rejection, ResponseInput, Secret, StoredUser, Verdict, answer, select_challenges, userhash,
};
use carillon_sip::{Error, HeaderName, Message, StatusCode};
use proptest::prelude::*;

const AUTHZ: HeaderName = HeaderName::Authorization;
const WWW: HeaderName = HeaderName::WwwAuthenticate;

fn digest_challenge(value: &str) -> DigestChallenge<'_> {
    match Challenge::parse(value, WWW).expect("well-formed challenge") {
        Challenge::Digest(d) => d,
        other => panic!("expected Digest, got {other:?}"),
    }
}

fn digest_credentials(value: &str) -> DigestCredentials<'_> {
    match Credentials::parse(value, AUTHZ).expect("well-formed credentials") {
        Credentials::Digest(d) => d,
        other => panic!("expected Digest, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// RFC worked examples

#[test]
fn rfc2617_3_5_worked_example() {
    let challenge = digest_challenge(
        r#"Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
    );
    let account = Account { username: "Mufasa", secret: Secret::Password("Circle Of Life") };
    // The example's cnonce "0a4f113b" is the hex of these four bytes.
    let credentials =
        answer(&challenge, &account, "GET", "/dir/index.html", &[0x0a, 0x4f, 0x11, 0x3b], 1).expect("answerable");
    assert_eq!(credentials.response, "6629fae49393a05397450978507c4ef1");
    assert_eq!(
        credentials.to_string(),
        r#"Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", response="6629fae49393a05397450978507c4ef1", cnonce="0a4f113b", opaque="5ccc069c403ebaf9f0171e9517f40e41", qop=auth, nc=00000001"#
    );

    // The example's Authorization header, folded as in the RFC, parses to the same values.
    let parsed = digest_credentials(
        "Digest username=\"Mufasa\",\r\n realm=\"testrealm@host.com\",\r\n \
         nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\",\r\n uri=\"/dir/index.html\",\r\n qop=auth,\r\n \
         nc=00000001,\r\n cnonce=\"0a4f113b\",\r\n response=\"6629fae49393a05397450978507c4ef1\",\r\n \
         opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
    );
    assert_eq!(parsed, credentials);
}

/// RFC 7616 §3.9.1: the same request answered with SHA-256 and with MD5 (password "Circle of Life", lower-case o).
#[test]
fn rfc7616_3_9_1_sha256_and_md5() {
    let cases = [
        (Algorithm::Sha256, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
        (Algorithm::Md5, "8ca523f5e9506fed4657c9700eebdbec"),
    ];
    for (algorithm, expected) in cases {
        let ha1 = Ha1::compute(algorithm.hash(), "Mufasa", "http-auth@example.org", "Circle of Life");
        let input = ResponseInput {
            algorithm,
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            qop: Some(QopAuth { nonce_count: 1, cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ" }),
            method: "GET",
            uri: "/dir/index.html",
        };
        assert_eq!(input.response(&ha1).expect("matching hash").as_str(), expected, "{algorithm}");
    }

    let header = "Digest username=\"Mufasa\",\r\n realm=\"http-auth@example.org\",\r\n uri=\"/dir/index.html\",\r\n \
                  algorithm=SHA-256,\r\n nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\",\r\n nc=00000001,\r\n \
                  cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\",\r\n qop=auth,\r\n \
                  response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\",\r\n \
                  opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
    let parsed = digest_credentials(header);
    assert_eq!(parsed.effective_algorithm(), Some(Algorithm::Sha256));
    assert_eq!((parsed.qop, parsed.nonce_count), (Some(Qop::Auth), Some(1)));
    assert_eq!(parsed.opaque.as_deref(), Some("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"));
    let ha1 = Ha1::compute(HashFunction::Sha256, "Mufasa", "http-auth@example.org", "Circle of Life");
    let recomputed = ResponseInput {
        algorithm: Algorithm::Sha256,
        nonce: &parsed.nonce,
        qop: Some(QopAuth { nonce_count: 1, cnonce: parsed.cnonce.as_deref().expect("cnonce") }),
        method: "GET",
        uri: &parsed.uri,
    }
    .response(&ha1)
    .expect("matching hash");
    assert_eq!(recomputed.as_str(), parsed.response);
}

/// RFC 7616 §3.9.2 (SHA-512-256, charset, userhash), with the values of erratum 4897: the published ones were
/// computed with a truncated SHA-512 instead of SHA-512/256 as FIPS 180-4 §6.7 defines it.
#[test]
fn rfc7616_3_9_2_sha512_256_userhash_erratum_4897() {
    let challenge = digest_challenge(
        "Digest\r\n realm=\"api@example.org\",\r\n qop=\"auth\",\r\n algorithm=SHA-512-256,\r\n \
         nonce=\"5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK\",\r\n \
         opaque=\"HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS\",\r\n charset=UTF-8,\r\n userhash=true",
    );
    assert!(challenge.userhash && challenge.charset_utf8);
    let username = "J\u{e4}s\u{f8}n Doe";
    assert_eq!(
        userhash(HashFunction::Sha512_256, username, "api@example.org").as_str(),
        "793263caabb707a56211940d90411ea4a575adeccb7e360aeb624ed06ece9b0b"
    );
    let ha1 = Ha1::compute(HashFunction::Sha512_256, username, "api@example.org", "Secret, or not?");
    let input = ResponseInput {
        algorithm: Algorithm::Sha512_256,
        nonce: &challenge.nonce,
        qop: Some(QopAuth { nonce_count: 1, cnonce: "NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v" }),
        method: "GET",
        uri: "/doe.json",
    };
    assert_eq!(
        input.response(&ha1).expect("matching hash").as_str(),
        "3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5"
    );

    // The variant without userhash names the user with username* (RFC 8187 encoding).
    let parsed = digest_credentials(
        "Digest username*=UTF-8''J%C3%A4s%C3%B8n%20Doe, realm=\"api@example.org\", uri=\"/doe.json\", \
         algorithm=SHA-512-256, nonce=\"5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK\", nc=00000001, \
         cnonce=\"NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v\", qop=auth, \
         response=\"3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5\", \
         opaque=\"HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS\", userhash=false",
    );
    assert_eq!(parsed.username, username);
    assert!(!parsed.userhash);
}

// ---------------------------------------------------------------------------------------------------------------
// Server and client together

const SECRET: [u8; 32] = *b"carillon test secret, 32 bytes!!";
const REALM: &str = "campus.example";
const T0: Duration = Duration::from_secs(1_750_000_000);
const LIFETIME: Duration = Duration::from_secs(300);
const REGISTER_URI: &str = "sip:campus.example";

fn server() -> DigestServer {
    DigestServer::new(REALM, NonceIssuer::new(SECRET, LIFETIME))
}

fn register_at(now: Duration) -> AuthRequest<'static> {
    AuthRequest { method: "REGISTER", request_uri: REGISTER_URI, now, binding: b"" }
}

const ALICE: Account<'static> = Account { username: "alice", secret: Secret::Password("correct horse") };

/// The provisioned HA1 of alice for `hash`.
fn alice_ha1(hash: HashFunction) -> Ha1 {
    Ha1::compute(hash, "alice", REALM, "correct horse")
}

/// Serialises `credentials` and parses them back, as the server would receive them.
fn over_the_wire(credentials: &DigestCredentials<'_>) -> DigestCredentials<'static> {
    let text = credentials.to_string();
    digest_credentials(&text).into_owned()
}

/// Verifies `credentials` with alice's stored HA1 for their algorithm.
fn verify(
    server: &DigestServer,
    window: &mut NonceCountWindow,
    request: &AuthRequest<'_>,
    credentials: &DigestCredentials<'_>,
) -> Verdict {
    let hash = credentials.effective_algorithm().map_or(HashFunction::Md5, Algorithm::hash);
    let ha1 = alice_ha1(hash);
    server.verify(window, request, credentials, Some(StoredUser { username: "alice", ha1: &ha1 }))
}

/// The first challenge `server` sends at `now`.
fn first_challenge(server: &DigestServer, now: Duration, salt: u8) -> DigestChallenge<'static> {
    let challenges = server.challenges(&register_at(now), [salt; 8], false);
    challenges.into_iter().next().expect("at least one algorithm").into_owned()
}

#[test]
fn every_algorithm_round_trips_from_client_to_server() {
    for algorithm in Algorithm::ALL {
        let server = server().with_algorithms(&[algorithm]);
        let mut window = NonceCountWindow::new(16);
        let challenge = first_challenge(&server, T0, 1);
        assert_eq!(challenge.effective_algorithm(), Some(algorithm));
        let credentials = answer(&challenge, &ALICE, "REGISTER", REGISTER_URI, b"cnonce-bytes", 1).expect("answer");
        let received = over_the_wire(&credentials);
        assert_eq!(verify(&server, &mut window, &register_at(T0), &received), Verdict::Authenticated, "{algorithm}");
    }
}

#[test]
fn rfc8760_2_3_challenges_offer_sha256_before_md5_and_client_picks_sha256() {
    let server = server();
    let request = register_at(T0);
    let response = format!(
        "SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nFrom: <sip:alice@{REALM}>;tag=1\r\n\
         To: <sip:alice@{REALM}>;tag=2\r\nCall-ID: c1\r\nCSeq: 1 REGISTER\r\n{}Content-Length: 0\r\n\r\n",
        server
            .challenges(&request, [3; 8], false)
            .iter()
            .map(|c| format!("WWW-Authenticate: {c}\r\n"))
            .collect::<String>()
    );
    let message = Message::parse(Bytes::from(response)).expect("well-formed response");
    let challenger = message.status().and_then(Challenger::from_status).expect("a 401");
    assert_eq!(challenger, Challenger::UserAgent);
    let challenges: Vec<Challenge<'_>> = message
        .header_values(challenger.challenge_header())
        .map(|v| Challenge::parse(v, challenger.challenge_header()).expect("well-formed challenge"))
        .collect();
    let algorithms: Vec<_> = challenges.iter().filter_map(|c| c.as_digest()?.effective_algorithm()).collect();
    assert_eq!(algorithms, [Algorithm::Sha256, Algorithm::Md5]);
    let chosen = select_challenges(&challenges, &ALICE);
    assert_eq!(chosen.len(), 1);
    assert_eq!(chosen[0].effective_algorithm(), Some(Algorithm::Sha256));
    assert_eq!(challenger.credentials_header(), HeaderName::Authorization);
    assert_eq!(Challenger::Proxy.status(), StatusCode::PROXY_AUTHENTICATION_REQUIRED);
}

#[test]
fn stale_nonce_after_lifetime_gets_a_stale_challenge_then_succeeds() {
    let server = server();
    let mut window = NonceCountWindow::new(16);
    let challenge = first_challenge(&server, T0, 1);
    let credentials = answer(&challenge, &ALICE, "REGISTER", REGISTER_URI, b"c1", 1).expect("answer");
    let later = T0 + LIFETIME + Duration::from_secs(1);
    let verdict = verify(&server, &mut window, &register_at(later), &over_the_wire(&credentials));
    assert_eq!(verdict, Verdict::Stale);

    let again = server.challenges_after(&verdict, &register_at(later), [2; 8]);
    assert!(again.iter().all(|c| c.stale), "RFC 7616 §3.3: stale=true after an expired nonce");
    let fresh = answer(&again[0], &ALICE, "REGISTER", REGISTER_URI, b"c2", 1).expect("answer");
    assert_eq!(verify(&server, &mut window, &register_at(later), &over_the_wire(&fresh)), Verdict::Authenticated);
}

#[test]
fn expired_nonce_with_a_wrong_password_is_invalid_not_stale() {
    // RFC 2617 §3.2.1: stale=true only when the digest is valid, or it would tell a guesser nothing is wrong.
    let server = server();
    let mut window = NonceCountWindow::new(16);
    let challenge = first_challenge(&server, T0, 1);
    let mallory = Account { username: "alice", secret: Secret::Password("guess") };
    let credentials = answer(&challenge, &mallory, "REGISTER", REGISTER_URI, b"c", 1).expect("answer");
    let later = T0 + LIFETIME * 2;
    let verdict = verify(&server, &mut window, &register_at(later), &credentials);
    assert_eq!(verdict, Verdict::Invalid(Rejection::Response));
    assert_eq!(verdict.rechallenge(), Some(false));
}

#[test]
fn forged_nonce_is_rejected() {
    let server = server();
    let mut window = NonceCountWindow::new(16);
    let mut challenge = first_challenge(&server, T0, 1);
    // A nonce of the right shape made without the secret, answered correctly by someone who knows the password:
    // only the MAC can tell it apart.
    let forged = NonceIssuer::new([0x55; 32], LIFETIME).issue(T0, REALM, b"", [1; 8]);
    challenge.nonce = Cow::Owned(forged);
    let credentials = answer(&challenge, &ALICE, "REGISTER", REGISTER_URI, b"c", 1).expect("answer");
    assert_eq!(verify(&server, &mut window, &register_at(T0), &credentials), Verdict::Invalid(Rejection::Nonce));

    challenge.nonce = Cow::Borrowed("dcd98b7102dd2f0e8b11d0f600bfb0c093");
    let credentials = answer(&challenge, &ALICE, "REGISTER", REGISTER_URI, b"c", 1).expect("answer");
    assert_eq!(verify(&server, &mut window, &register_at(T0), &credentials), Verdict::Invalid(Rejection::Nonce));
    assert!(window.is_empty(), "failed verifications leave no state");
}

#[test]
fn nonce_bound_to_an_address_fails_from_another() {
    let server = server();
    let mut window = NonceCountWindow::new(16);
    let bound = AuthRequest { binding: b"192.0.2.10:5060", ..register_at(T0) };
    let challenge = server.challenges(&bound, [1; 8], false).remove(0).into_owned();
    let credentials = answer(&challenge, &ALICE, "REGISTER", REGISTER_URI, b"c", 1).expect("answer");
    let elsewhere = AuthRequest { binding: b"198.51.100.7:5060", ..bound };
    assert_eq!(verify(&server, &mut window, &elsewhere, &credentials), Verdict::Invalid(Rejection::Nonce));
    assert_eq!(verify(&server, &mut window, &bound, &credentials), Verdict::Authenticated);
}

#[test]
fn replayed_nonce_count_is_detected() {
    let server = server();
    let mut window = NonceCountWindow::new(16);
    let challenge = first_challenge(&server, T0, 1);
    let credentials = over_the_wire(&answer(&challenge, &ALICE, "REGISTER", REGISTER_URI, b"c", 1).expect("answer"));
    assert_eq!(verify(&server, &mut window, &register_at(T0), &credentials), Verdict::Authenticated);
    let replay = verify(&server, &mut window, &register_at(T0 + Duration::from_secs(5)), &credentials);
    assert_eq!(replay, Verdict::Replay);
    assert_eq!(replay.rechallenge(), Some(true));
}

#[test]
fn nonce_count_going_backwards_is_accepted_once_within_the_window() {
    let server = server();
    let mut window = NonceCountWindow::new(16);
    let challenge = first_challenge(&server, T0, 1);
    let with_nc = |nc| answer(&challenge, &ALICE, "REGISTER", REGISTER_URI, b"c", nc).expect("answer");
    let mut check = |nc| verify(&server, &mut window, &register_at(T0), &with_nc(nc));
    assert_eq!(check(1), Verdict::Authenticated);
    assert_eq!(check(3), Verdict::Authenticated);
    // Requests with the same nonce can overtake each other over UDP: 2 arrives late and is still new.
    assert_eq!(check(2), Verdict::Authenticated);
    assert_eq!(check(2), Verdict::Replay);
    assert_eq!(check(1), Verdict::Replay);
    assert_eq!(check(100), Verdict::Authenticated);
    assert_eq!(check(4), Verdict::Replay, "too far behind the highest count to tell");
}

#[test]
fn nonce_state_evicted_from_the_window_means_stale_not_accept() {
    let server = server();
    let mut window = NonceCountWindow::new(1);
    let first = first_challenge(&server, T0, 1);
    let second = first_challenge(&server, T0 + Duration::from_secs(1), 2);
    let now = register_at(T0 + Duration::from_secs(2));
    let answer_to = |c, nc| answer(c, &ALICE, "REGISTER", REGISTER_URI, b"c", nc).expect("answer");
    assert_eq!(verify(&server, &mut window, &now, &answer_to(&first, 1)), Verdict::Authenticated);
    assert_eq!(verify(&server, &mut window, &now, &answer_to(&second, 1)), Verdict::Authenticated);
    // The first nonce's state was evicted; even its already-used count 1 must not be accepted again.
    assert_eq!(verify(&server, &mut window, &now, &answer_to(&first, 1)), Verdict::Stale);
    assert_eq!(verify(&server, &mut window, &now, &answer_to(&first, 2)), Verdict::Stale);
}

#[test]
fn digest_uri_must_be_the_request_uri() {
    // RFC 2617 §3.2.2.5 / RFC 3261 §22.4: credentials computed for one URI cannot be used on another request.
    let server = server();
    let mut window = NonceCountWindow::new(16);
    let challenge = first_challenge(&server, T0, 1);
    let credentials = answer(&challenge, &ALICE, "REGISTER", "sip:other.example", b"c", 1).expect("answer");
    assert_eq!(verify(&server, &mut window, &register_at(T0), &credentials), Verdict::Invalid(Rejection::Uri));
}

#[test]
fn wrong_realm_is_rejected() {
    let server = server();
    let mut window = NonceCountWindow::new(16);
    let mut challenge = first_challenge(&server, T0, 1);
    challenge.realm = Cow::Borrowed("other.example");
    let credentials = answer(&challenge, &ALICE, "REGISTER", REGISTER_URI, b"c", 1).expect("answer");
    assert_eq!(verify(&server, &mut window, &register_at(T0), &credentials), Verdict::Invalid(Rejection::Realm));
}

#[test]
fn wrong_password_and_wrong_user_are_rejected() {
    let server = server();
    let mut window = NonceCountWindow::new(16);
    let challenge = first_challenge(&server, T0, 1);
    let wrong = Account { username: "alice", secret: Secret::Password("Correct horse") };
    let credentials = answer(&challenge, &wrong, "REGISTER", REGISTER_URI, b"c", 1).expect("answer");
    assert_eq!(verify(&server, &mut window, &register_at(T0), &credentials), Verdict::Invalid(Rejection::Response));

    // Bob's credentials checked against the record the caller looked up for alice.
    let bob = Account { username: "bob", secret: Secret::Password("correct horse") };
    let credentials = answer(&challenge, &bob, "REGISTER", REGISTER_URI, b"c", 1).expect("answer");
    assert_eq!(verify(&server, &mut window, &register_at(T0), &credentials), Verdict::Invalid(Rejection::Username));
    let nobody = server.verify(&mut window, &register_at(T0), &credentials, None);
    assert_eq!(nobody, Verdict::Invalid(Rejection::UnknownUser));
}

#[test]
fn response_for_another_method_is_rejected() {
    let server = server();
    let mut window = NonceCountWindow::new(16);
    let challenge = first_challenge(&server, T0, 1);
    let credentials = answer(&challenge, &ALICE, "INVITE", REGISTER_URI, b"c", 1).expect("answer");
    assert_eq!(verify(&server, &mut window, &register_at(T0), &credentials), Verdict::Invalid(Rejection::Response));
}

#[test]
fn rfc3261_22_4_clients_without_qop_only_when_configured() {
    let mut window = NonceCountWindow::new(16);
    let mut challenge = first_challenge(&server(), T0, 1);
    challenge.qop = None;
    let credentials = answer(&challenge, &ALICE, "REGISTER", REGISTER_URI, b"", 0).expect("answer");
    assert_eq!(credentials.qop, None);
    let strict = verify(&server(), &mut window, &register_at(T0), &credentials);
    assert_eq!(strict, Verdict::Invalid(Rejection::Qop));
    let lenient = verify(&server().with_rfc2069_clients(true), &mut window, &register_at(T0), &credentials);
    assert_eq!(lenient, Verdict::Authenticated);
}

#[test]
fn algorithm_not_offered_is_rejected() {
    let sha_only = server().with_algorithms(&[Algorithm::Sha256]);
    let mut window = NonceCountWindow::new(16);
    let mut challenge = first_challenge(&sha_only, T0, 1);
    challenge.algorithm = Some(AlgorithmParam::Known(Algorithm::Md5));
    let credentials = answer(&challenge, &ALICE, "REGISTER", REGISTER_URI, b"c", 1).expect("answer");
    let verdict = verify(&sha_only, &mut window, &register_at(T0), &credentials);
    assert_eq!(verdict, Verdict::Invalid(Rejection::Algorithm));
}

#[test]
fn response_of_the_wrong_length_is_malformed() {
    let server = server();
    let mut window = NonceCountWindow::new(16);
    let challenge = first_challenge(&server, T0, 1);
    let mut credentials = answer(&challenge, &ALICE, "REGISTER", REGISTER_URI, b"c", 1).expect("answer");
    credentials.response = Cow::Borrowed("6629fae49393a05397450978507c4ef1");
    let verdict = verify(&server, &mut window, &register_at(T0), &credentials);
    assert!(matches!(verdict, Verdict::Malformed(_)), "{verdict:?}");
}

#[test]
fn rfc7616_3_4_4_userhash_round_trip() {
    let server = server().with_userhash(true);
    let mut window = NonceCountWindow::new(16);
    let challenge = first_challenge(&server, T0, 1);
    assert!(challenge.userhash);
    let credentials = over_the_wire(&answer(&challenge, &ALICE, "REGISTER", REGISTER_URI, b"c", 1).expect("answer"));
    assert!(credentials.userhash);
    assert_eq!(credentials.username, userhash(HashFunction::Sha256, "alice", REALM).as_str());
    assert_eq!(verify(&server, &mut window, &register_at(T0), &credentials), Verdict::Authenticated);
}

#[test]
fn client_nonce_state_counts_reused_nonces_and_server_accepts_them() {
    let server = server();
    let mut window = NonceCountWindow::new(16);
    let mut state = ClientNonceState::new();
    let challenge = first_challenge(&server, T0, 1);
    for expected_nc in 1..=3 {
        let credentials = state.answer(&challenge, &ALICE, "REGISTER", REGISTER_URI, b"c").expect("answer");
        assert_eq!(credentials.nonce_count, Some(expected_nc));
        assert_eq!(
            verify(&server, &mut window, &register_at(T0), &over_the_wire(&credentials)),
            Verdict::Authenticated
        );
    }
}

#[test]
fn stored_ha1_answers_like_the_password() {
    let challenge = first_challenge(&server(), T0, 1);
    let ha1 = alice_ha1(HashFunction::Sha256);
    let with_ha1 = Account { username: "alice", secret: Secret::Ha1(&ha1) };
    let a = answer(&challenge, &ALICE, "REGISTER", REGISTER_URI, b"c", 1).expect("answer");
    let b = answer(&challenge, &with_ha1, "REGISTER", REGISTER_URI, b"c", 1).expect("answer");
    assert_eq!(a, b);
}

/// RFC 4475 §3.3.7 (regaut01.dat): an unknown scheme parses without error, and a registrar with authentication
/// answers with a new challenge.
#[test]
fn rfc4475_regaut01_unknown_scheme_is_challenged() {
    let regaut01 = "REGISTER sip:example.com SIP/2.0\r\nTo: sip:j.user@example.com\r\n\
                    From: sip:j.user@example.com;tag=87321hj23128\r\nMax-Forwards: 8\r\n\
                    Call-ID: regaut01.0ha0isndaksdj\r\nCSeq: 9338 REGISTER\r\n\
                    Via: SIP/2.0/TCP 192.0.2.253;branch=z9hG4bKkdjuw\r\n\
                    Authorization: NoOneKnowsThisScheme opaque-data=here\r\nContent-Length:0\r\n\r\n";
    let message = Message::parse(Bytes::from_static(regaut01.as_bytes())).expect("well-formed request");
    let value = message.header(AUTHZ).expect("Authorization present");
    assert_eq!(
        Credentials::parse(value, AUTHZ),
        Ok(Credentials::Other { scheme: "NoOneKnowsThisScheme", rest: "opaque-data=here" })
    );
    let server = DigestServer::new("example.com", NonceIssuer::new(SECRET, LIFETIME));
    let found = server.find_credentials(message.header_values(AUTHZ), AUTHZ).expect("no malformed value");
    assert_eq!(found, None, "nothing to verify: the registrar challenges");
    let request =
        AuthRequest { method: "REGISTER", request_uri: message.request_uri().expect("request"), now: T0, binding: b"" };
    assert_eq!(server.challenges(&request, [1; 8], false).len(), 2);
}

#[test]
fn find_credentials_skips_other_realms_and_reports_malformed_values() {
    let server = server();
    let other = r#"Digest username="u", realm="upstream.example", nonce="n", uri="sip:x", response="00""#;
    let ours = r#"Digest username="alice", realm="campus.example", nonce="n", uri="sip:x", response="00""#;
    let found = server.find_credentials([other, ours], AUTHZ).expect("well-formed");
    assert_eq!(found.map(|c| c.username), Some(Cow::Borrowed("alice")));
    let broken = "Digest username=";
    assert!(matches!(
        server.find_credentials([broken], HeaderName::ProxyAuthorization),
        Err(Error::BadHeaderValue { name: HeaderName::ProxyAuthorization, .. })
    ));
    assert!(server.find_credentials([broken, ours], AUTHZ).expect("a usable value wins").is_some());
}

// ---------------------------------------------------------------------------------------------------------------
// Property tests

/// Text any quoted string can carry: everything but CR and LF (which a quoted string cannot hold, RFC 3261 §25.1).
fn quotable() -> impl Strategy<Value = String> {
    "[^\r\n]{0,24}"
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9.!%*_+`'~-]{1,12}"
}

fn algorithm_param() -> impl Strategy<Value = Option<AlgorithmParam<'static>>> {
    prop_oneof![
        Just(None),
        prop::sample::select(Algorithm::ALL.to_vec()).prop_map(|a| Some(AlgorithmParam::Known(a))),
        token()
            .prop_filter("not a known algorithm", |t| Algorithm::parse(t).is_none())
            .prop_map(|t| Some(AlgorithmParam::Other(Cow::Owned(t)))),
    ]
}

prop_compose! {
    fn challenge()(
        realm in quotable(),
        domain in prop::option::of(quotable()),
        nonce in quotable(),
        opaque in prop::option::of(quotable()),
        stale in any::<bool>(),
        algorithm in algorithm_param(),
        qop in prop::option::of((any::<bool>(), any::<bool>())),
        charset_utf8 in any::<bool>(),
        userhash in any::<bool>(),
    ) -> DigestChallenge<'static> {
        DigestChallenge {
            realm: realm.into(),
            domain: domain.map(Cow::Owned),
            nonce: nonce.into(),
            opaque: opaque.map(Cow::Owned),
            stale,
            algorithm,
            qop: qop.map(|(auth, auth_int)| QopOptions { auth, auth_int }),
            charset_utf8,
            userhash,
        }
    }
}

prop_compose! {
    fn credentials()(
        username in quotable(),
        realm in quotable(),
        nonce in quotable(),
        uri in quotable(),
        response in "[0-9a-f]{1,64}",
        algorithm in algorithm_param(),
        opaque in prop::option::of(quotable()),
        qop in prop::option::of((prop::sample::select(vec![Qop::Auth, Qop::AuthInt]), quotable(), any::<u32>())),
        userhash in any::<bool>(),
    ) -> DigestCredentials<'static> {
        DigestCredentials {
            username: username.into(),
            realm: realm.into(),
            nonce: nonce.into(),
            uri: uri.into(),
            response: response.into(),
            algorithm,
            cnonce: qop.as_ref().map(|(_, cnonce, _)| Cow::Owned(cnonce.clone())),
            opaque: opaque.map(Cow::Owned),
            qop: qop.as_ref().map(|(q, _, _)| *q),
            nonce_count: qop.as_ref().map(|(_, _, nc)| *nc),
            userhash,
        }
    }
}

/// Pieces of auth headers, so that random input reaches deep into the parser instead of failing at the scheme.
fn header_like() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "Digest ",
        "digest",
        "Basic ",
        " ",
        "\t",
        "\r\n ",
        ",",
        "=",
        "\"",
        "\\",
        "\\\"",
        "realm",
        "nonce",
        "uri",
        "username",
        "username*",
        "UTF-8''",
        "%C3%A4",
        "%",
        "response",
        "00ff",
        "qop",
        "auth",
        "auth-int",
        "nc",
        "00000001",
        "cnonce",
        "algorithm",
        "SHA-256",
        "MD5-sess",
        "stale",
        "true",
        "userhash",
        "opaque",
        "é",
        "\0",
    ]);
    prop::collection::vec(pieces, 0..24).prop_map(|v| v.concat())
}

proptest! {
    #[test]
    fn parsing_arbitrary_text_never_panics(s in any::<String>()) {
        for header in [WWW, HeaderName::ProxyAuthenticate] {
            let _ = Challenge::parse(&s, header);
        }
        for header in [AUTHZ, HeaderName::ProxyAuthorization] {
            let _ = Credentials::parse(&s, header);
        }
    }

    #[test]
    fn parsing_header_like_text_never_panics_and_errors_name_the_header(s in header_like()) {
        if let Err(e) = Challenge::parse(&s, HeaderName::ProxyAuthenticate) {
            let named = matches!(e, Error::BadHeaderValue { name: HeaderName::ProxyAuthenticate, .. });
            prop_assert!(named, "{:?}", e);
        }
        if let Err(e) = Credentials::parse(&s, AUTHZ) {
            let named = matches!(e, Error::BadHeaderValue { name: HeaderName::Authorization, .. });
            prop_assert!(named, "{:?}", e);
        }
        if let Ok(Credentials::Digest(c)) = Credentials::parse(&s, AUTHZ) {
            // Whatever was accepted can be written back and read again identically.
            let written = c.to_string();
            prop_assert_eq!(digest_credentials(&written), c);
        }
    }

    #[test]
    fn challenge_serialisation_round_trips(c in challenge()) {
        let written = c.to_string();
        prop_assert!(!written.contains(['\r', '\n']));
        prop_assert_eq!(Challenge::parse(&written, WWW), Ok(Challenge::Digest(c)));
    }

    #[test]
    fn credentials_serialisation_round_trips(c in credentials()) {
        let written = c.to_string();
        prop_assert!(!written.contains(['\r', '\n']));
        prop_assert_eq!(Credentials::parse(&written, AUTHZ), Ok(Credentials::Digest(c)));
    }

    #[test]
    fn any_user_authenticates_through_serialised_headers(
        username in quotable(),
        password in any::<String>(),
        realm in quotable(),
        algorithm in prop::sample::select(Algorithm::ALL.to_vec()),
        cnonce in prop::collection::vec(any::<u8>(), 1..32),
        salt in any::<[u8; 8]>(),
    ) {
        let server = DigestServer::new(realm.clone(), NonceIssuer::new(SECRET, LIFETIME)).with_algorithms(&[algorithm]);
        let mut window = NonceCountWindow::new(4);
        let request = register_at(T0);
        let challenge_text = server.challenges(&request, salt, false)[0].to_string();
        let challenge = digest_challenge(&challenge_text);
        let account = Account { username: &username, secret: Secret::Password(&password) };
        let credentials_text = answer(&challenge, &account, "REGISTER", REGISTER_URI, &cnonce, 1)
            .expect("answerable")
            .to_string();
        let credentials = digest_credentials(&credentials_text);
        let ha1 = Ha1::compute(algorithm.hash(), &username, &realm, &password);
        let verdict = server.verify(&mut window, &request, &credentials, Some(StoredUser { username: &username, ha1: &ha1 }));
        prop_assert_eq!(verdict, Verdict::Authenticated);
    }
}
