//! CSeq = 1*DIGIT LWS Method (RFC 3261 §20.16).

use crate::error::Error;
use crate::message::{HeaderName, Method};

/// A CSeq value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CSeq<'a> {
    /// The sequence number; RFC 3261 §8.1.1.5 requires it below 2**31.
    pub seq: u32,
    /// The method as written.
    pub method_text: &'a str,
}

impl<'a> CSeq<'a> {
    /// Parses a CSeq value (LWS between number and method may include a fold).
    pub fn parse(v: &'a str) -> Result<CSeq<'a>, Error> {
        let bad = |reason| Error::BadHeaderValue { name: HeaderName::CSeq, reason };
        let digits = v.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad("no sequence number"));
        }
        let number = v[..digits].trim_start_matches('0');
        if number.len() > 10 {
            return Err(bad("sequence number too large"));
        }
        let seq = number.parse::<u64>().unwrap_or(0);
        if seq >= 1 << 31 {
            return Err(bad("sequence number not below 2**31"));
        }
        let rest = &v[digits..];
        let method_text = crate::text::trim_lws(rest);
        if method_text.len() == rest.len() || !crate::text::is_token(method_text) {
            return Err(bad("no method after the sequence number"));
        }
        Ok(CSeq { seq: seq as u32, method_text })
    }

    /// The method.
    pub fn method(&self) -> Method {
        Method::parse(self.method_text).unwrap_or_else(|| Method::Extension(self.method_text.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_and_padded() {
        let c = CSeq::parse("0009\r\n  INVITE").expect("valid");
        assert_eq!((c.seq, c.method_text), (9, "INVITE"));
    }

    #[test]
    fn overlarge_and_malformed() {
        assert!(CSeq::parse("36893488147419103232 INVITE").is_err());
        assert!(CSeq::parse("2147483648 INVITE").is_err());
        assert!(CSeq::parse("2147483647 INVITE").is_ok());
        assert!(CSeq::parse("1INVITE").is_err());
        assert!(CSeq::parse("INVITE").is_err());
        assert!(CSeq::parse("1 INV ITE").is_err());
    }
}
