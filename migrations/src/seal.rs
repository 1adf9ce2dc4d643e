//! Sealed trunk passwords (`trunks.auth_password_sealed`): a provider that challenges with a realm not known in
//! advance, or with an algorithm whose HA1 was not stored, can only be answered from the password itself, so it is
//! kept encrypted with a key that lives outside the database.
//!
//! The cipher is ChaCha20-Poly1305 (RFC 8439) under a 32-byte [`SealKey`] read from a file (the same file on
//! every node, and for the admin CLI that seals). The envelope is what the schema's CHECK constraint expects:
//!
//! ```text
//! 0x01 | nonce (12 bytes, random) | ciphertext (as long as the password) | tag (16 bytes)
//! ```
//!
//! The version byte is the associated data, so it cannot be changed without the tag failing. A password is never
//! empty and never holds control characters, which keeps the envelope unambiguous and the password printable.

use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use zeroize::{Zeroize, Zeroizing};

use crate::Error;

/// The first byte of every envelope this version writes.
pub const ENVELOPE_VERSION: u8 = 1;
/// Bytes of the random nonce after the version byte.
const NONCE_LEN: usize = 12;
/// Bytes of the Poly1305 tag at the end.
const TAG_LEN: usize = 16;
/// Bytes of a key, and of a key file.
pub const KEY_LEN: usize = 32;
/// The longest password accepted; providers' passwords are far shorter.
pub const MAX_PASSWORD_LEN: usize = 256;

/// The key trunk passwords are sealed with. Its bytes are wiped when it is dropped and never printed.
#[derive(Clone)]
pub struct SealKey {
    bytes: [u8; KEY_LEN],
}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealKey(..)")
    }
}

impl Drop for SealKey {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

/// A key file read, or created because it was missing.
#[derive(Debug)]
pub struct LoadedKey {
    /// The key.
    pub key: SealKey,
    /// Whether the file did not exist and was created with a new random key: then every other node, and the CLI,
    /// need a copy of it.
    pub created: bool,
}

impl SealKey {
    /// A key of these bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> SealKey {
        SealKey { bytes }
    }

    /// The key in the file at `path`, which must hold exactly 32 bytes; when the file does not exist, it is
    /// created (mode 0600, never overwritten) with 32 random bytes.
    pub fn load_or_create(path: &Path) -> Result<LoadedKey, Error> {
        let failed = |reason: String| Error::SealKey { path: path.to_owned(), reason };
        match File::open(path) {
            Ok(mut file) => {
                let mut bytes = Zeroizing::new(Vec::new());
                // One byte more than a key reads enough to tell a longer file.
                Read::by_ref(&mut file)
                    .take(KEY_LEN as u64 + 1)
                    .read_to_end(&mut bytes)
                    .map_err(|e| failed(format!("cannot read: {e}")))?;
                let bytes: [u8; KEY_LEN] = bytes.as_slice().try_into().map_err(|_| {
                    failed(format!(
                        "holds {} bytes, not {KEY_LEN}",
                        if bytes.len() > KEY_LEN { "more" } else { "fewer" }
                    ))
                })?;
                Ok(LoadedKey { key: SealKey::from_bytes(bytes), created: false })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = SealKey::from_bytes(rand::random());
                let mut file = File::options()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(|e| failed(format!("cannot create: {e}")))?;
                file.write_all(&key.bytes)
                    .and_then(|()| file.sync_all())
                    .map_err(|e| failed(format!("cannot write: {e}")))?;
                Ok(LoadedKey { key, created: true })
            }
            Err(e) => Err(failed(format!("cannot open: {e}"))),
        }
    }

    /// `password` sealed into a new envelope, under a fresh random nonce. Refuses an empty password, one longer
    /// than [`MAX_PASSWORD_LEN`] bytes, and one with control characters (a line end read with it, say).
    pub fn seal(&self, password: &str) -> Result<Vec<u8>, Error> {
        let invalid = |reason: &str| Error::InvalidInput { what: "trunk password", reason: reason.to_owned() };
        if password.is_empty() {
            return Err(invalid("is empty"));
        }
        if password.len() > MAX_PASSWORD_LEN {
            return Err(invalid(&format!("is longer than {MAX_PASSWORD_LEN} bytes")));
        }
        if password.chars().any(char::is_control) {
            return Err(invalid("holds control characters"));
        }
        let nonce: [u8; NONCE_LEN] = rand::random();
        let sealed = self
            .cipher()
            .encrypt(&Nonce::from(nonce), Payload { msg: password.as_bytes(), aad: &[ENVELOPE_VERSION] })
            .map_err(|_| invalid("cannot be encrypted"))?;
        let mut envelope = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        envelope.push(ENVELOPE_VERSION);
        envelope.extend_from_slice(&nonce);
        envelope.extend_from_slice(&sealed);
        Ok(envelope)
    }

    /// The password in `envelope`. Fails with [`Error::Unseal`] when the envelope is not one of this version, or
    /// its tag does not verify: it was sealed with another key, or changed since.
    pub fn unseal(&self, envelope: &[u8]) -> Result<Zeroizing<String>, Error> {
        let unsealable = |reason: &'static str| Error::Unseal { reason };
        let (&version, rest) = envelope.split_first().ok_or(unsealable("the envelope is empty"))?;
        if version != ENVELOPE_VERSION {
            return Err(unsealable("the envelope is of an unknown version"));
        }
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(unsealable("the envelope is too short"));
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| unsealable("the envelope is too short"))?;
        let plain = self
            .cipher()
            .decrypt(&Nonce::from(nonce), Payload { msg: sealed, aad: &[ENVELOPE_VERSION] })
            .map(Zeroizing::new)
            .map_err(|_| {
                unsealable("authentication failed: sealed with another key, or changed since it was sealed")
            })?;
        let password = std::str::from_utf8(&plain).map_err(|_| unsealable("the password is not UTF-8"))?;
        Ok(Zeroizing::new(password.to_owned()))
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(&Key::from(self.bytes))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::panic)] // test code: a failed expectation fails the test

    use super::*;

    fn key(byte: u8) -> SealKey {
        SealKey::from_bytes([byte; KEY_LEN])
    }

    #[test]
    fn a_sealed_password_unseals_with_its_key_and_fits_the_schema_envelope() {
        let envelope = key(7).seal("pässwörd-1").expect("sealed");
        assert_eq!(envelope[0], ENVELOPE_VERSION);
        assert_eq!(envelope.len(), 1 + NONCE_LEN + "pässwörd-1".len() + TAG_LEN);
        assert!(envelope.len() >= 29, "the schema's CHECK wants at least 29 bytes");
        assert_eq!(key(7).unseal(&envelope).expect("unsealed").as_str(), "pässwörd-1");
        assert_ne!(key(7).seal("pässwörd-1").expect("sealed"), envelope, "a fresh nonce every time");
        let text = String::from_utf8_lossy(&envelope);
        assert!(!text.contains("pässwörd"), "no plaintext in the envelope");
    }

    #[test]
    fn a_changed_envelope_does_not_unseal() {
        let envelope = key(7).seal("secret").expect("sealed");
        for index in 0..envelope.len() {
            let mut tampered = envelope.clone();
            tampered[index] ^= 0x01;
            assert!(matches!(key(7).unseal(&tampered), Err(Error::Unseal { .. })), "byte {index} changed");
        }
        assert!(matches!(key(7).unseal(&envelope[..envelope.len() - 1]), Err(Error::Unseal { .. })), "truncated");
        assert!(matches!(key(7).unseal(&[]), Err(Error::Unseal { .. })));
        assert!(matches!(key(7).unseal(&[ENVELOPE_VERSION; 28]), Err(Error::Unseal { .. })));
    }

    #[test]
    fn another_key_does_not_unseal_and_says_so() {
        let envelope = key(7).seal("secret").expect("sealed");
        match key(8).unseal(&envelope) {
            Err(Error::Unseal { reason }) => assert!(reason.contains("another key"), "{reason}"),
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn empty_long_or_control_passwords_are_refused() {
        for password in ["", "line\n", "tab\there"] {
            assert!(matches!(key(1).seal(password), Err(Error::InvalidInput { .. })), "{password:?}");
        }
        assert!(key(1).seal(&"x".repeat(MAX_PASSWORD_LEN)).is_ok());
        assert!(key(1).seal(&"x".repeat(MAX_PASSWORD_LEN + 1)).is_err());
    }

    #[test]
    fn the_key_file_is_created_once_0600_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("carillon-seal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("seal-key");
        let _ = std::fs::remove_file(&path);
        let first = SealKey::load_or_create(&path).expect("created");
        assert!(first.created);
        let mode = std::fs::metadata(&path).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = SealKey::load_or_create(&path).expect("read");
        assert!(!again.created);
        let envelope = first.key.seal("pw").expect("sealed");
        assert_eq!(again.key.unseal(&envelope).expect("the same key").as_str(), "pw");
        std::fs::write(&path, [0u8; 31]).expect("short file");
        assert!(matches!(SealKey::load_or_create(&path), Err(Error::SealKey { .. })));
        std::fs::write(&path, [0u8; 33]).expect("long file");
        assert!(matches!(SealKey::load_or_create(&path), Err(Error::SealKey { .. })));
        assert_eq!(format!("{:?}", first.key), "SealKey(..)", "never printed");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
