//! The lexical layer of challenges and credentials: `scheme LWS name=value, name=value...` (RFC 3261 §25.1,
//! RFC 7235 §2.1), parsed exactly rather than by splitting, because quoted values may hold commas, equals signs
//! and escaped quotes.

use std::borrow::Cow;

use crate::text::{is_lws, is_token_char, trim_lws};

/// A parameter value as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RawValue<'a> {
    /// An unquoted token.
    Token(&'a str),
    /// The content of a quoted string, quoted-pairs still escaped.
    Quoted(&'a str),
}

impl<'a> RawValue<'a> {
    /// The value as text, quoted-pairs resolved (allocates only when there were escapes).
    pub(super) fn text(self) -> Cow<'a, str> {
        match self {
            RawValue::Token(t) => Cow::Borrowed(t),
            RawValue::Quoted(q) => crate::text::unescape_quoted(q),
        }
    }

    /// The value when it is a token; a quoted token is accepted too, as many user agents quote `algorithm`,
    /// `qop` or `stale` although the grammar does not.
    pub(super) fn token(self) -> Option<&'a str> {
        let t = match self {
            RawValue::Token(t) | RawValue::Quoted(t) => t,
        };
        crate::text::is_token(t).then_some(t)
    }
}

/// Splits `scheme [LWS rest]`. The scheme must be a token followed by whitespace or the end.
pub(super) fn split_scheme(value: &str) -> Option<(&str, &str)> {
    let value = trim_lws(value);
    let end = value.bytes().position(|b| !is_token_char(b)).unwrap_or(value.len());
    let (scheme, rest) = value.split_at(end);
    if scheme.is_empty() || rest.bytes().next().is_some_and(|b| !is_lws(b)) {
        return None;
    }
    Some((scheme, crate::text::trim_lws_start(rest)))
}

/// Iterator over `name=value` pairs separated by commas; yields `Err(reason)` once and stops at the first
/// syntax error.
#[derive(Debug, Clone)]
pub(super) struct AuthParams<'a> {
    rest: &'a str,
    failed: bool,
}

impl<'a> AuthParams<'a> {
    pub(super) fn new(list: &'a str) -> Self {
        AuthParams { rest: trim_lws(list), failed: false }
    }

    fn next_param(&mut self) -> Result<(&'a str, RawValue<'a>), &'static str> {
        let s = self.rest;
        let name_end = s.bytes().position(|b| !is_token_char(b)).unwrap_or(s.len());
        if name_end == 0 {
            return Err(if s.starts_with(',') { "empty parameter" } else { "parameter name is not a token" });
        }
        let name = &s[..name_end];
        let after_name = crate::text::trim_lws_start(&s[name_end..]);
        let Some(after_eq) = after_name.strip_prefix('=') else {
            return Err("parameter without a value");
        };
        let v = crate::text::trim_lws_start(after_eq);
        let (value, after_value) = if v.starts_with('"') {
            let end = crate::text::skip_quoted(v.as_bytes(), 0).ok_or("unterminated quoted string")?;
            (RawValue::Quoted(&v[1..end - 1]), &v[end..])
        } else {
            let end = v.bytes().position(|b| !is_token_char(b)).unwrap_or(v.len());
            if end == 0 {
                return Err("parameter value is neither a token nor a quoted string");
            }
            (RawValue::Token(&v[..end]), &v[end..])
        };
        let after_value = crate::text::trim_lws_start(after_value);
        self.rest = match after_value.strip_prefix(',') {
            Some(next) => {
                let next = crate::text::trim_lws_start(next);
                if next.is_empty() {
                    return Err("trailing comma");
                }
                next
            }
            None if after_value.is_empty() => "",
            None => return Err("missing comma between parameters"),
        };
        Ok((name, value))
    }
}

impl<'a> Iterator for AuthParams<'a> {
    type Item = Result<(&'a str, RawValue<'a>), &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let item = self.next_param();
        self.failed = item.is_err();
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(s: &str) -> Result<Vec<(&str, RawValue<'_>)>, &'static str> {
        AuthParams::new(s).collect()
    }

    #[test]
    fn commas_and_escaped_quotes_inside_quoted_values() {
        let p = collect(r#"realm="a, b=c", nonce = "x\"y" ,qop=auth"#).expect("well-formed");
        assert_eq!(
            p,
            [
                ("realm", RawValue::Quoted("a, b=c")),
                ("nonce", RawValue::Quoted(r#"x\"y"#)),
                ("qop", RawValue::Token("auth"))
            ]
        );
        assert_eq!(p[1].1.text(), r#"x"y"#);
    }

    #[test]
    fn folded_lines_are_whitespace() {
        let p = collect("a=1,\r\n b=\"2\"").expect("folded list is well-formed");
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn syntax_errors_stop_iteration() {
        assert!(collect("a=1,,b=2").is_err());
        assert!(collect("a=1,").is_err());
        assert!(collect("a=1 b=2").is_err());
        assert!(collect("a").is_err());
        assert!(collect("a=\"open").is_err());
        assert!(collect("a=").is_err());
        assert!(collect("=1").is_err());
    }

    #[test]
    fn scheme_needs_whitespace_before_parameters() {
        assert_eq!(split_scheme("Digest realm=\"x\""), Some(("Digest", "realm=\"x\"")));
        assert_eq!(split_scheme("  Bearer"), Some(("Bearer", "")));
        assert_eq!(split_scheme("Digest,realm=x"), None);
        assert_eq!(split_scheme(""), None);
    }
}
