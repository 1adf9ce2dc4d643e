//! Digest authentication (RFC 2617, RFC 7616, RFC 8760): server side with stateless nonces, client side for
//! answering challenges.
//!
//! # Pieces
//!
//! - Header values: [`Challenge`] (`WWW-Authenticate`, `Proxy-Authenticate`) and [`Credentials`]
//!   (`Authorization`, `Proxy-Authorization`) parse into borrowed views and print back as header values. Schemes
//!   other than Digest parse as `Other` without error, so an element can skip them and challenge for Digest
//!   (RFC 4475 §3.3.7).
//! - Algorithms: MD5, SHA-256 and SHA-512-256, each with its `-sess` variant ([`Algorithm`]). Passwords are
//!   stored only as [`Ha1`] = H(username:realm:password), one per hash function; verification takes an HA1, never
//!   a password.
//! - Server: [`DigestServer`] issues challenges (strongest algorithm first, RFC 8760 §2.3) and verifies
//!   credentials into a [`Verdict`]; [`NonceIssuer`] makes and checks nonces; [`NonceCountWindow`] rejects
//!   replayed nonce counts.
//! - Client: [`select_challenges`] picks what to answer, [`answer`] computes the credentials, and
//!   [`ClientNonceState`] counts requests per nonce.
//!
//! Everything is sans-IO: the caller passes the time (as a `Duration` since the Unix epoch, because nonces must
//! stay meaningful across restarts and between servers) and the random bytes (nonce salt, cnonce).
//!
//! # Stateless nonces
//!
//! A nonce is `hex(issued_at ‖ salt ‖ HMAC-SHA256(secret, issued_at ‖ salt ‖ realm ‖ binding))`, the MAC
//! truncated to 128 bits. Checking one needs only the server secret: the MAC proves this server issued it for
//! this realm (and, when a binding such as the client's address is used, for that client), and the timestamp
//! says whether it is within its lifetime. An expired nonce whose response is nevertheless right earns a
//! challenge with `stale=true`, so the user agent retries at once without asking its user (RFC 7616 §3.3).
//!
//! Why stateless: a challenge is sent to anyone who sends a request, before any authentication. Remembering each
//! challenge would let unauthenticated traffic (or a flood of spoofed REGISTERs over UDP) grow server memory or
//! evict the nonces of real users; with the state in the nonce itself a challenge costs one HMAC and nothing is
//! kept. It also lets several servers of a realm accept each other's nonces by sharing the secret, and survives
//! restarts.
//!
//! Replay protection still needs memory, so it is kept where attackers cannot reach it: [`NonceCountWindow`]
//! creates state for a nonce only after a response verified, i.e. for users who know their password. It holds a
//! bounded number of nonces; when a nonce's state has been evicted, a request with it is answered with
//! `stale=true` rather than accepted, so eviction costs an extra round trip, never a replay. Clients that do not
//! use qop (RFC 2069) send no nonce count and can only be protected by the nonce lifetime, which is why
//! accepting them is opt-in ([`DigestServer::with_rfc2069_clients`]).

mod algorithm;
mod client;
mod header;
mod nonce;
mod params;
mod server;

pub use algorithm::{Algorithm, Ha1, HashFunction, HexDigest, QopAuth, ResponseInput, userhash};
pub use client::{Account, ClientNonceState, Secret, answer, select_challenges};
pub use header::{
    AlgorithmParam, Challenge, Challenger, Credentials, DigestChallenge, DigestCredentials, Qop, QopOptions,
};
pub use nonce::{
    IssuedNonce, NONCE_COUNT_WINDOW, NONCE_SALT_LEN, NonceCountCheck, NonceCountWindow, NonceIssuer, NonceStatus,
};
pub use server::{AuthRequest, DigestServer, Rejection, StoredUser, Verdict};
