//! Lexical building blocks of RFC 3261 §25 shared by every header and URI parser.
//!
//! Header values are handed to parsers raw, folds included: a fold is CRLF followed by whitespace, so treating
//! CR and LF as whitespace inside a value is exactly LWS handling, and no unfolded copy is ever made.

/// `token` characters of RFC 3261 §25.1: alphanumerics and `-.!%*_+`'~`.
pub const fn is_token_char(b: u8) -> bool {
    matches!(b, b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~')
}

/// Whitespace inside a header value: SP, HTAB, and the CR/LF of a fold.
pub const fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// True when `s` is a non-empty `token`.
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// `s` without leading and trailing LWS.
pub fn trim_lws(s: &str) -> &str {
    let b = s.as_bytes();
    let (mut start, mut end) = (0, b.len());
    while start < end && is_lws(b[start]) {
        start += 1;
    }
    while end > start && is_lws(b[end - 1]) {
        end -= 1;
    }
    // Both ends sit next to ASCII whitespace or the string's ends, so they are character boundaries.
    &s[start..end]
}

/// `s` without leading LWS.
pub fn trim_lws_start(s: &str) -> &str {
    let skip = s.bytes().take_while(|&b| is_lws(b)).count();
    &s[skip..]
}

/// Splits a header value at top-level commas: commas inside quoted strings, angle brackets or comments do not
/// separate values. Empty elements (`a,,b`) are yielded as empty strings so callers can reject them; surrounding
/// LWS is trimmed.
pub fn split_commas(value: &str) -> SplitTopLevel<'_> {
    SplitTopLevel { rest: Some(value), sep: b',' }
}

/// Splits at top-level semicolons, with the same rules as [`split_commas`]; used for parameters.
pub fn split_semicolons(value: &str) -> SplitTopLevel<'_> {
    SplitTopLevel { rest: Some(value), sep: b';' }
}

/// Iterator returned by [`split_commas`] and [`split_semicolons`].
#[derive(Debug, Clone)]
pub struct SplitTopLevel<'a> {
    rest: Option<&'a str>,
    sep: u8,
}

impl<'a> Iterator for SplitTopLevel<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        match find_top_level(rest, self.sep) {
            Some(at) => {
                self.rest = Some(&rest[at + 1..]);
                Some(trim_lws(&rest[..at]))
            }
            None => {
                self.rest = None;
                Some(trim_lws(rest))
            }
        }
    }
}

/// Octets that change the state of [`find_top_level`]'s scan or may be a separator; all others are skipped in a
/// tight loop, which is most of every header value.
static STRUCTURAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    let special = b"\"<>()\\,;";
    while i < special.len() {
        t[special[i] as usize] = true;
        i += 1;
    }
    t
};

/// Position of the first `sep` (`,` or `;`, or any structural octet) in `s` outside quotes, `<...>` and `(...)`.
pub fn find_top_level(s: &str, sep: u8) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut angle = false;
    let mut comment_depth = 0u32;
    let always_structural = STRUCTURAL[usize::from(sep)];
    while i < bytes.len() {
        if always_structural {
            while i < bytes.len() && !STRUCTURAL[usize::from(bytes[i])] {
                i += 1;
            }
            if i == bytes.len() {
                break;
            }
        }
        let b = bytes[i];
        if b == b'"' && !angle && comment_depth == 0 {
            i = skip_quoted(bytes, i)?;
            continue;
        }
        match b {
            b'<' if comment_depth == 0 => angle = true,
            b'>' if comment_depth == 0 => angle = false,
            b'(' if !angle => comment_depth += 1,
            b')' if !angle && comment_depth > 0 => comment_depth -= 1,
            b'\\' if comment_depth > 0 => i += 1,
            _ if b == sep && !angle && comment_depth == 0 => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Given `bytes[start] == b'"'`, the index just past the closing quote; `None` when the quote never closes.
pub fn skip_quoted(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// The content of a quoted string (without its quotes, escapes kept as written), or `None` if `s` is not
/// exactly one well-formed quoted string.
pub fn unquote(s: &str) -> Option<&str> {
    let bytes = s.as_bytes();
    if bytes.first() != Some(&b'"') {
        return None;
    }
    let end = skip_quoted(bytes, 0)?;
    (end == bytes.len()).then(|| &s[1..end - 1])
}

/// Resolves the quoted-pairs (`\x`) in the content of a quoted string.
pub fn unescape_quoted(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('\\') {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// One `;name[=value]` parameter as written; the value keeps its quotes if it had any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param<'a> {
    /// Parameter name (compare case-insensitively).
    pub name: &'a str,
    /// Parameter value, `None` for a flag parameter such as `lr` or `rport`.
    pub value: Option<&'a str>,
}

impl<'a> Param<'a> {
    /// Parses `name [= value]` with LWS allowed around `=`. The name must be a token; the value a token, a
    /// quoted string, or (for IPv6 references such as `received=[2001:db8::1]`) a bracketed host.
    pub fn parse(s: &'a str) -> Option<Param<'a>> {
        let s = trim_lws(s);
        let (name, value) = match s.find('=') {
            Some(eq) => (trim_lws(&s[..eq]), Some(trim_lws(&s[eq + 1..]))),
            None => (s, None),
        };
        if !is_token(name) {
            return None;
        }
        if let Some(v) = value {
            let ok = if v.starts_with('"') {
                unquote(v).is_some()
            } else {
                !v.is_empty() && v.bytes().all(|b| is_token_char(b) || matches!(b, b'[' | b']' | b':'))
            };
            if !ok {
                return None;
            }
        }
        Some(Param { name, value })
    }

    /// The value with surrounding quotes removed (escapes kept).
    pub fn unquoted_value(&self) -> Option<&'a str> {
        self.value.map(|v| unquote(v).unwrap_or(v))
    }
}

/// Parameters that follow a header value: `;a=1;b;c="x"`, as a borrowed list that is parsed lazily.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Params<'a> {
    raw: &'a str,
}

impl<'a> Params<'a> {
    /// Wraps `raw`, the text after the first `;` (or empty). Use [`Params::validate`] to check its syntax once.
    pub fn new(raw: &'a str) -> Self {
        Params { raw }
    }

    /// The parameters as written, without the leading semicolon.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// Checks that every parameter is well-formed (no empty `;;`, names are tokens).
    pub fn validate(&self) -> bool {
        self.raw.is_empty() || split_semicolons(self.raw).all(|p| Param::parse(p).is_some())
    }

    /// Iterates over the well-formed parameters.
    pub fn iter(&self) -> impl Iterator<Item = Param<'a>> + 'a {
        let raw = (!self.raw.is_empty()).then_some(self.raw);
        raw.into_iter().flat_map(split_semicolons).filter_map(Param::parse)
    }

    /// The first parameter called `name` (case-insensitive). `Some(None)` means present without a value.
    ///
    /// This is the hot path of every transaction lookup (branch, tag), so it only splits and compares names; the
    /// grammar of the whole list is checked once by [`Params::validate`] when the header is parsed.
    pub fn get(&self, name: &str) -> Option<Option<&'a str>> {
        if self.raw.is_empty() {
            return None;
        }
        split_semicolons(self.raw).find_map(|p| {
            let (n, v) = match p.find('=') {
                Some(eq) => (trim_lws(&p[..eq]), Some(trim_lws(&p[eq + 1..]))),
                None => (p, None),
            };
            n.eq_ignore_ascii_case(name).then_some(v)
        })
    }

    /// Whether a parameter called `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commas_inside_quotes_and_brackets_do_not_split() {
        let v: Vec<_> = split_commas(r#""a, b" <sip:x@y;p=1,2>, <sip:z> , (c, d) w"#).collect();
        assert_eq!(v, [r#""a, b" <sip:x@y;p=1,2>"#, "<sip:z>", "(c, d) w"]);
    }

    #[test]
    fn empty_elements_are_visible() {
        let v: Vec<_> = split_commas("a,,b").collect();
        assert_eq!(v, ["a", "", "b"]);
    }

    #[test]
    fn params_tolerate_lws_and_reject_empty() {
        let p = Params::new(" tag    = 1918181833n");
        assert!(p.validate());
        assert_eq!(p.get("TAG"), Some(Some("1918181833n")));
        assert!(!Params::new(";;,").validate());
        assert!(Params::new("received=[2001:db8::9:255];rport").validate());
    }

    #[test]
    fn quoted_strings() {
        assert_eq!(unquote(r#""J Rosenberg \\\"""#), Some(r#"J Rosenberg \\\""#));
        assert_eq!(unescape_quoted(r#"J Rosenberg \\\""#), r#"J Rosenberg \""#);
        assert_eq!(unquote(r#""open"#), None);
    }
}
