//! Lexical pieces shared by several header views: the split between a value and its parameters, RFC 3261
//! §25.1 comments, and decimal numbers.

use crate::text::{Params, find_top_level, trim_lws};

/// Splits `v` at its first top-level `;` into the value proper (LWS-trimmed) and its parameters. `None` when a
/// parameter is malformed, including a `;` with nothing after it: `SEMI` always introduces a parameter.
pub(crate) fn split_params(v: &str) -> Option<(&str, Params<'_>)> {
    match find_top_level(v, b';') {
        Some(at) => {
            let raw = &v[at + 1..];
            let params = Params::new(raw);
            (!trim_lws(raw).is_empty() && params.validate()).then_some((trim_lws(&v[..at]), params))
        }
        None => Some((trim_lws(v), Params::new(""))),
    }
}

/// Given `bytes[start] == b'('`, the index just past the matching `)`. Comments nest, a quoted-pair escapes
/// any character but CR and LF, and LWS (folds included) is ctext. `None` when the comment never closes or
/// holds a control character.
pub(crate) fn skip_comment(bytes: &[u8], start: usize) -> Option<usize> {
    if bytes.get(start) != Some(&b'(') {
        return None;
    }
    let mut depth = 0usize;
    let mut i = start;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'(' => depth += 1,
            b')' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            b'\\' => {
                if matches!(bytes.get(i + 1), None | Some(b'\r' | b'\n')) {
                    return None;
                }
                i += 1;
            }
            b'\t' | b'\r' | b'\n' => {}
            _ if b < 0x20 || b == 0x7f => return None,
            _ => {}
        }
        i += 1;
    }
    None
}

/// The number of leading ASCII digits of `s`.
pub(crate) fn leading_digits(s: &str) -> usize {
    s.bytes().take_while(u8::is_ascii_digit).count()
}

/// Whether `s` is `*DIGIT ["." *DIGIT]`, the shape of the Timestamp values (RFC 3261 §20.38); may be empty.
pub(crate) fn is_decimal(s: &str) -> bool {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    int.bytes().all(|b| b.is_ascii_digit()) && frac.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_semicolon_is_malformed() {
        assert!(split_params("presence;").is_none());
        assert!(split_params("presence; \r\n ").is_none());
        assert!(split_params("presence;;id=1").is_none());
        let (head, params) = split_params(" presence \r\n ; id = 1").expect("valid");
        assert_eq!((head, params.get("id")), ("presence", Some(Some("1"))));
    }

    /// RFC 3261 §25.1: comment = LPAREN *(ctext / quoted-pair / comment) RPAREN.
    #[test]
    fn comments_nest_and_escape() {
        let s = br"(a (b) \) c) rest";
        assert_eq!(skip_comment(s, 0), Some(12));
        assert_eq!(skip_comment(br"(unclosed (inner)", 0), None);
        assert_eq!(skip_comment(br"(ends in escape\", 0), None);
        assert_eq!(skip_comment(b"(nul \x00)", 0), None);
        assert_eq!(skip_comment(b"(fold\r\n here)", 0), Some(13));
        assert_eq!(skip_comment(b"no paren", 0), None);
    }
}
