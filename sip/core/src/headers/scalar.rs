//! Single-token headers: Call-ID, Max-Forwards, and delta-seconds (Expires, Min-Expires).

use crate::error::Error;
use crate::message::HeaderName;

/// `Call-ID = word [ "@" word ]` (RFC 3261 §25.1).
pub fn parse_call_id(v: &str) -> Result<&str, Error> {
    let word = |w: &str| {
        !w.is_empty()
            && w.bytes().all(|b| {
                crate::text::is_token_char(b)
                    || matches!(
                        b,
                        b'(' | b')' | b'<' | b'>' | b':' | b'\\' | b'"' | b'/' | b'[' | b']' | b'?' | b'{' | b'}'
                    )
            })
    };
    let ok = match v.split_once('@') {
        Some((a, b)) => word(a) && word(b),
        None => word(v),
    };
    if ok { Ok(v) } else { Err(Error::BadHeaderValue { name: HeaderName::CallId, reason: "not a word[@word]" }) }
}

/// Max-Forwards = 1*DIGIT, at most 255 (RFC 3261 §20.22, RFC 4475 §3.1.2.4).
pub fn parse_max_forwards(v: &str) -> Result<u8, Error> {
    let bad = |reason| Error::BadHeaderValue { name: HeaderName::MaxForwards, reason };
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("not a number"));
    }
    let trimmed = v.trim_start_matches('0');
    if trimmed.len() > 3 {
        return Err(bad("larger than 255"));
    }
    trimmed.parse::<u16>().unwrap_or(0).try_into().map_err(|_| bad("larger than 255"))
}

/// delta-seconds = 1*DIGIT, a 32-bit value (Expires, Min-Expires, the expires parameter). Larger values are
/// errors here; RFC 3261 §20.19 lets a registrar treat them as 3600, which is the caller's choice.
pub fn parse_delta_seconds(v: &str, name: HeaderName) -> Result<u32, Error> {
    let bad = |reason| Error::BadHeaderValue { name, reason };
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("not a number of seconds"));
    }
    let trimmed = v.trim_start_matches('0');
    if trimmed.len() > 10 {
        return Err(bad("larger than 2**32-1"));
    }
    trimmed.parse::<u64>().unwrap_or(0).try_into().map_err(|_| bad("larger than 2**32-1"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_forwards_bounds() {
        assert_eq!(parse_max_forwards("0068"), Ok(68));
        assert_eq!(parse_max_forwards("255"), Ok(255));
        assert!(parse_max_forwards("256").is_err());
        assert!(parse_max_forwards("-1").is_err());
        assert!(parse_max_forwards("").is_err());
    }

    #[test]
    fn delta_seconds_bounds() {
        assert_eq!(parse_delta_seconds("4294967295", HeaderName::Expires), Ok(u32::MAX));
        assert!(parse_delta_seconds("4294967296", HeaderName::Expires).is_err());
        assert_eq!(parse_delta_seconds("000000000000003600", HeaderName::Expires), Ok(3600));
    }

    #[test]
    fn call_id_words() {
        assert!(parse_call_id("a84b4c76e66710@pc33.atlanta.com").is_ok());
        assert!(parse_call_id("has space").is_err());
        assert!(parse_call_id("a@").is_err());
    }
}
