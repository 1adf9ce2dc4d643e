//! New line secrets.

use rand::RngExt;

/// Letters and digits without look-alikes (0/O, 1/l/I), so a secret read off a screen is typed right.
const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// 20 characters of 57: about 116 bits.
const LENGTH: usize = 20;

/// A random secret from the operating system's generator (through the thread's ChaCha generator it seeds).
pub(crate) fn new_line_secret() -> String {
    let mut rng = rand::rng();
    (0..LENGTH).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_have_the_promised_shape_and_differ() {
        let a = new_line_secret();
        let b = new_line_secret();
        assert_eq!(a.len(), LENGTH);
        assert!(a.bytes().all(|c| ALPHABET.contains(&c)), "{a}");
        assert_ne!(a, b);
    }
}
