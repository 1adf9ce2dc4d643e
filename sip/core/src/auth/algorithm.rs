//! Digest algorithms and the hash computations of RFC 7616 §3.4 (RFC 2617 §3.2.2 for MD5), shared by the client
//! and the server side.
//!
//! Every hash here is written as lower-case hex ([`HexDigest`]), because that is what the digest formulas feed
//! into the next hash and what goes on the wire.

use std::fmt;

use md5::Md5;
use sha2::{Digest, Sha256, Sha512_256};

/// A digest algorithm named by the `algorithm` parameter (RFC 7616 §3.3, RFC 8760 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `MD5`, the RFC 2617 default when `algorithm` is absent; kept for older user agents.
    Md5,
    /// `MD5-sess`.
    Md5Sess,
    /// `SHA-256`.
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
    /// `SHA-512-256` (SHA-512/256 of FIPS 180-4).
    Sha512_256,
    /// `SHA-512-256-sess`.
    Sha512_256Sess,
}

impl Algorithm {
    /// Every algorithm, strongest first (the order challenges are offered in, RFC 8760 §2.3).
    pub const ALL: [Algorithm; 6] = [
        Algorithm::Sha512_256,
        Algorithm::Sha512_256Sess,
        Algorithm::Sha256,
        Algorithm::Sha256Sess,
        Algorithm::Md5,
        Algorithm::Md5Sess,
    ];

    /// Recognises an algorithm token (case-insensitive); `None` for tokens this library cannot compute.
    pub fn parse(token: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.as_str().eq_ignore_ascii_case(token))
    }

    /// The token as registered by RFC 7616 §6.1.
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
            Algorithm::Sha512_256 => "SHA-512-256",
            Algorithm::Sha512_256Sess => "SHA-512-256-sess",
        }
    }

    /// The hash function underneath.
    pub const fn hash(self) -> HashFunction {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => HashFunction::Md5,
            Algorithm::Sha256 | Algorithm::Sha256Sess => HashFunction::Sha256,
            Algorithm::Sha512_256 | Algorithm::Sha512_256Sess => HashFunction::Sha512_256,
        }
    }

    /// Whether this is a `-sess` variant, whose HA1 also covers the nonce and cnonce (RFC 7616 §3.4.2).
    pub const fn is_session(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess | Algorithm::Sha512_256Sess)
    }

    /// Relative strength, higher is stronger: only the hash function counts, a `-sess` variant is as strong as
    /// its plain form.
    pub const fn strength(self) -> u8 {
        match self.hash() {
            HashFunction::Md5 => 0,
            HashFunction::Sha256 => 1,
            HashFunction::Sha512_256 => 2,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The hash function of an algorithm. A stored [`Ha1`] belongs to a hash function, not to an algorithm: `MD5` and
/// `MD5-sess` start from the same H(username:realm:password).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashFunction {
    /// MD5: 32 hex digits.
    Md5,
    /// SHA-256: 64 hex digits.
    Sha256,
    /// SHA-512/256: 64 hex digits.
    Sha512_256,
}

impl HashFunction {
    /// Length of a hash in hex digits.
    pub const fn hex_len(self) -> usize {
        match self {
            HashFunction::Md5 => 32,
            HashFunction::Sha256 | HashFunction::Sha512_256 => 64,
        }
    }

    /// Hashes the `parts` joined by `:`, the shape of every input in the digest formulas.
    pub fn hash_joined(self, parts: &[&[u8]]) -> HexDigest {
        let mut hasher = Hasher::new(self);
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                hasher.update(b":");
            }
            hasher.update(part);
        }
        hasher.finish()
    }
}

enum Hasher {
    Md5(Md5),
    Sha256(Sha256),
    Sha512_256(Sha512_256),
}

impl Hasher {
    fn new(hash: HashFunction) -> Hasher {
        match hash {
            HashFunction::Md5 => Hasher::Md5(Md5::new()),
            HashFunction::Sha256 => Hasher::Sha256(Sha256::new()),
            HashFunction::Sha512_256 => Hasher::Sha512_256(Sha512_256::new()),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Md5(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512_256(h) => h.update(data),
        }
    }

    fn finish(self) -> HexDigest {
        match self {
            Hasher::Md5(h) => HexDigest::encode(&h.finalize()),
            Hasher::Sha256(h) => HexDigest::encode(&h.finalize()),
            Hasher::Sha512_256(h) => HexDigest::encode(&h.finalize()),
        }
    }
}

/// A hash written as lower-case hex, at most 64 digits; stored inline so computing a response never allocates.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HexDigest {
    digits: [u8; 64],
    len: u8,
}

impl HexDigest {
    fn encode(bytes: &[u8]) -> HexDigest {
        let mut digits = [0u8; 64];
        let mut len = 0;
        for (pair, byte) in digits.chunks_exact_mut(2).zip(bytes) {
            pair[0] = HEX_DIGITS[usize::from(byte >> 4)];
            pair[1] = HEX_DIGITS[usize::from(byte & 0x0f)];
            len += 2;
        }
        HexDigest { digits, len }
    }

    /// Parses hex digits of `hash`'s length (either case), normalising to lower case.
    pub fn parse(hash: HashFunction, hex: &str) -> Option<HexDigest> {
        if hex.len() != hash.hex_len() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut digits = [0u8; 64];
        for (d, b) in digits.iter_mut().zip(hex.bytes()) {
            *d = b.to_ascii_lowercase();
        }
        Some(HexDigest { digits, len: hex.len() as u8 })
    }

    /// The hex digits.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever stored.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// The hex digits as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.digits[..usize::from(self.len)]
    }
}

impl fmt::Display for HexDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for HexDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HexDigest({})", self.as_str())
    }
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Lower-case hex of arbitrary bytes (cnonces, nonces).
pub(crate) fn hex_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(HEX_DIGITS[usize::from(b >> 4)]));
        out.push(char::from(HEX_DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// H(username:realm:password), the only form in which a password is stored (RFC 7616 §3.4.2: "A1").
///
/// Whoever holds an HA1 can answer challenges for that realm as the user, so it is as secret as the password;
/// its `Debug` output shows only the hash function.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Ha1 {
    hash: HashFunction,
    hex: HexDigest,
}

impl Ha1 {
    /// Computes HA1 when provisioning a user (or on a client that holds the password). The same value serves an
    /// algorithm and its `-sess` variant.
    pub fn compute(hash: HashFunction, username: &str, realm: &str, password: &str) -> Ha1 {
        let hex = hash.hash_joined(&[username.as_bytes(), realm.as_bytes(), password.as_bytes()]);
        Ha1 { hash, hex }
    }

    /// Reads a stored HA1 back from its hex form; `None` when the digits do not fit `hash`.
    pub fn from_hex(hash: HashFunction, hex: &str) -> Option<Ha1> {
        HexDigest::parse(hash, hex).map(|hex| Ha1 { hash, hex })
    }

    /// The hex form, for storage.
    pub fn as_hex(&self) -> &str {
        self.hex.as_str()
    }

    /// The hash function this HA1 was computed with.
    pub fn hash(&self) -> HashFunction {
        self.hash
    }
}

impl fmt::Debug for Ha1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ha1").field("hash", &self.hash).finish_non_exhaustive()
    }
}

/// The `qop=auth` part of a response: the nonce count and the client nonce (RFC 7616 §3.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QopAuth<'a> {
    /// The `nc` value.
    pub nonce_count: u32,
    /// The `cnonce` value, unquoted.
    pub cnonce: &'a str,
}

/// Everything a `response` value is computed from, besides HA1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseInput<'a> {
    /// The algorithm in use.
    pub algorithm: Algorithm,
    /// The nonce, unquoted.
    pub nonce: &'a str,
    /// `Some` for `qop=auth`, `None` for the RFC 2069 form without qop.
    pub qop: Option<QopAuth<'a>>,
    /// The request method (RFC 3261 §22.4: the method of the request, `REGISTER`, `INVITE`...).
    pub method: &'a str,
    /// The `uri` (digest-uri) value, unquoted.
    pub uri: &'a str,
}

impl ResponseInput<'_> {
    /// The `response` value (RFC 7616 §3.4.1, RFC 2617 §3.2.2.1 without qop). `None` when `ha1` belongs to
    /// another hash function, or for a `-sess` algorithm without qop (its HA1 needs a cnonce).
    pub fn response(&self, ha1: &Ha1) -> Option<HexDigest> {
        let hash = self.algorithm.hash();
        if ha1.hash != hash {
            return None;
        }
        let ha1_hex = if self.algorithm.is_session() {
            let cnonce = self.qop?.cnonce;
            hash.hash_joined(&[ha1.hex.as_bytes(), self.nonce.as_bytes(), cnonce.as_bytes()])
        } else {
            ha1.hex
        };
        let ha2 = hash.hash_joined(&[self.method.as_bytes(), self.uri.as_bytes()]);
        Some(match self.qop {
            Some(qop) => {
                let nc = format_nonce_count(qop.nonce_count);
                hash.hash_joined(&[
                    ha1_hex.as_bytes(),
                    self.nonce.as_bytes(),
                    nc.as_bytes(),
                    qop.cnonce.as_bytes(),
                    b"auth",
                    ha2.as_bytes(),
                ])
            }
            None => hash.hash_joined(&[ha1_hex.as_bytes(), self.nonce.as_bytes(), ha2.as_bytes()]),
        })
    }
}

/// The `username` value sent with `userhash=true`: H(username:realm) (RFC 7616 §3.4.4).
pub fn userhash(hash: HashFunction, username: &str, realm: &str) -> HexDigest {
    hash.hash_joined(&[username.as_bytes(), realm.as_bytes()])
}

/// `nc` as eight lower-case hex digits.
pub(crate) fn format_nonce_count(nc: u32) -> NonceCountDigits {
    let mut digits = [0u8; 8];
    for (i, d) in digits.iter_mut().enumerate() {
        *d = HEX_DIGITS[((nc >> (28 - 4 * i)) & 0xf) as usize];
    }
    NonceCountDigits(digits)
}

/// Eight hex digits of a nonce count.
pub(crate) struct NonceCountDigits([u8; 8]);

impl NonceCountDigits {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_tokens_are_case_insensitive() {
        assert_eq!(Algorithm::parse("sha-256"), Some(Algorithm::Sha256));
        assert_eq!(Algorithm::parse("md5-SESS"), Some(Algorithm::Md5Sess));
        assert_eq!(Algorithm::parse("SHA-512-256-sess"), Some(Algorithm::Sha512_256Sess));
        assert_eq!(Algorithm::parse("SHA-1"), None);
    }

    #[test]
    fn ha1_hex_round_trips_and_rejects_wrong_length() {
        let ha1 = Ha1::compute(HashFunction::Md5, "Mufasa", "testrealm@host.com", "Circle Of Life");
        // RFC 2617 §3.5 worked example, HA1 step.
        assert_eq!(ha1.as_hex(), "939e7578ed9e3c518a452acee763bce9");
        assert_eq!(Ha1::from_hex(HashFunction::Md5, &ha1.as_hex().to_uppercase()), Some(ha1));
        assert_eq!(Ha1::from_hex(HashFunction::Sha256, ha1.as_hex()), None);
        assert_eq!(Ha1::from_hex(HashFunction::Md5, "zz9e7578ed9e3c518a452acee763bce9"), None);
    }

    #[test]
    fn ha1_debug_does_not_leak_the_hash() {
        let ha1 = Ha1::compute(HashFunction::Sha256, "u", "r", "p");
        assert!(!format!("{ha1:?}").contains(ha1.as_hex()));
    }

    #[test]
    fn nonce_count_is_eight_hex_digits() {
        assert_eq!(format_nonce_count(1).as_bytes(), b"00000001");
        assert_eq!(format_nonce_count(0xdeadbeef).as_bytes(), b"deadbeef");
    }

    #[test]
    fn session_algorithm_needs_a_cnonce() {
        let ha1 = Ha1::compute(HashFunction::Md5, "u", "r", "p");
        let input =
            ResponseInput { algorithm: Algorithm::Md5Sess, nonce: "n", qop: None, method: "REGISTER", uri: "sip:r" };
        assert_eq!(input.response(&ha1), None);
    }
}
