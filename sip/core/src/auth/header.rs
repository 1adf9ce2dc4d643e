//! Challenges (`WWW-Authenticate`, `Proxy-Authenticate`) and credentials (`Authorization`,
//! `Proxy-Authorization`): parsing into borrowed views and serialisation back to header values.
//!
//! Values borrow from the header text; only a quoted string that contains quoted-pairs (`\"`) is copied, to
//! resolve its escapes. Parameters this library does not know are skipped, as RFC 7616 §3.3 requires; a
//! parameter given twice is an error (RFC 7235 §2.2), because taking either copy would let an intermediary's
//! addition decide what is verified.

use std::borrow::Cow;
use std::fmt;

use super::algorithm::Algorithm;
use super::params::{AuthParams, RawValue, split_scheme};
use crate::error::Error;
use crate::message::{HeaderName, StatusCode};

/// The `algorithm` parameter as written: one this library computes, or another token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlgorithmParam<'a> {
    /// A known algorithm.
    Known(Algorithm),
    /// A token this library cannot compute; a client ignores such a challenge (RFC 8760 §2.4).
    Other(Cow<'a, str>),
}

impl<'a> AlgorithmParam<'a> {
    fn from_token(token: &'a str) -> Self {
        Algorithm::parse(token).map_or(AlgorithmParam::Other(Cow::Borrowed(token)), AlgorithmParam::Known)
    }

    /// The token as written (canonical spelling for a known algorithm).
    pub fn as_str(&self) -> &str {
        match self {
            AlgorithmParam::Known(a) => a.as_str(),
            AlgorithmParam::Other(t) => t,
        }
    }

    /// A copy that owns its text.
    pub fn into_owned(self) -> AlgorithmParam<'static> {
        match self {
            AlgorithmParam::Known(a) => AlgorithmParam::Known(a),
            AlgorithmParam::Other(t) => AlgorithmParam::Other(Cow::Owned(t.into_owned())),
        }
    }
}

/// The algorithm a challenge or credentials value stands for: `MD5` when the parameter is absent (RFC 2617
/// §3.2.1), `None` when it names an algorithm this library cannot compute.
fn effective_algorithm(param: Option<&AlgorithmParam<'_>>) -> Option<Algorithm> {
    match param {
        None => Some(Algorithm::Md5),
        Some(AlgorithmParam::Known(a)) => Some(*a),
        Some(AlgorithmParam::Other(_)) => None,
    }
}

/// Who challenges: a user agent or registrar (401, `WWW-Authenticate`, answered in `Authorization`) or a proxy
/// (407, `Proxy-Authenticate`, answered in `Proxy-Authorization`), RFC 3261 §22.2 and §22.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Challenger {
    /// A UAS or registrar.
    UserAgent,
    /// A proxy.
    Proxy,
}

impl Challenger {
    /// The challenger that sends `status`: 401 or 407.
    pub fn from_status(status: StatusCode) -> Option<Challenger> {
        if status == StatusCode::UNAUTHORIZED {
            Some(Challenger::UserAgent)
        } else if status == StatusCode::PROXY_AUTHENTICATION_REQUIRED {
            Some(Challenger::Proxy)
        } else {
            None
        }
    }

    /// The status of a challenge response.
    pub fn status(self) -> StatusCode {
        match self {
            Challenger::UserAgent => StatusCode::UNAUTHORIZED,
            Challenger::Proxy => StatusCode::PROXY_AUTHENTICATION_REQUIRED,
        }
    }

    /// The header carrying challenges.
    pub fn challenge_header(self) -> HeaderName {
        match self {
            Challenger::UserAgent => HeaderName::WwwAuthenticate,
            Challenger::Proxy => HeaderName::ProxyAuthenticate,
        }
    }

    /// The header carrying the answers.
    pub fn credentials_header(self) -> HeaderName {
        match self {
            Challenger::UserAgent => HeaderName::Authorization,
            Challenger::Proxy => HeaderName::ProxyAuthorization,
        }
    }
}

/// The `qop` options of a challenge (RFC 7616 §3.3); tokens other than `auth` and `auth-int` are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QopOptions {
    /// `auth` is offered.
    pub auth: bool,
    /// `auth-int` is offered (integrity of the body too; this library does not answer it).
    pub auth_int: bool,
}

impl QopOptions {
    /// `qop="auth"`, what a server of this library offers.
    pub const AUTH: QopOptions = QopOptions { auth: true, auth_int: false };

    fn parse(list: &str) -> QopOptions {
        let mut options = QopOptions::default();
        for option in list.split(',').map(crate::text::trim_lws) {
            if option.eq_ignore_ascii_case("auth") {
                options.auth = true;
            } else if option.eq_ignore_ascii_case("auth-int") {
                options.auth_int = true;
            }
        }
        options
    }
}

impl fmt::Display for QopOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.auth, self.auth_int) {
            (true, true) => f.write_str("auth,auth-int"),
            (true, false) => f.write_str("auth"),
            (false, true) => f.write_str("auth-int"),
            (false, false) => Ok(()),
        }
    }
}

/// The `qop` a client chose in its credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qop {
    /// `auth`: the response covers method and URI.
    Auth,
    /// `auth-int`: the response also covers the body.
    AuthInt,
}

impl Qop {
    /// The token.
    pub const fn as_str(self) -> &'static str {
        match self {
            Qop::Auth => "auth",
            Qop::AuthInt => "auth-int",
        }
    }
}

/// A `WWW-Authenticate` or `Proxy-Authenticate` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge<'a> {
    /// The Digest scheme.
    Digest(DigestChallenge<'a>),
    /// Any other scheme, kept as written so the element can skip it.
    Other {
        /// The scheme token as written.
        scheme: &'a str,
        /// Everything after the scheme (auth-params or a token68), untouched.
        rest: &'a str,
    },
}

/// An `Authorization` or `Proxy-Authorization` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials<'a> {
    /// The Digest scheme.
    Digest(DigestCredentials<'a>),
    /// Any other scheme (RFC 4475 §3.3.7 regaut01's `NoOneKnowsThisScheme`), kept as written; a server ignores it
    /// and challenges for Digest.
    Other {
        /// The scheme token as written.
        scheme: &'a str,
        /// Everything after the scheme, untouched.
        rest: &'a str,
    },
}

/// A Digest challenge (RFC 7616 §3.3, RFC 8760 §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestChallenge<'a> {
    /// `realm`: the protection space; shown to users and part of HA1.
    pub realm: Cow<'a, str>,
    /// `domain`: space-separated URIs of the protection space.
    pub domain: Option<Cow<'a, str>>,
    /// `nonce`.
    pub nonce: Cow<'a, str>,
    /// `opaque`: echoed back unchanged by the client.
    pub opaque: Option<Cow<'a, str>>,
    /// `stale=true`: the previous credentials were right but their nonce has expired; retry without asking the
    /// user.
    pub stale: bool,
    /// `algorithm`; absent means MD5.
    pub algorithm: Option<AlgorithmParam<'a>>,
    /// `qop` options; absent means the RFC 2069 form without qop.
    pub qop: Option<QopOptions>,
    /// `charset=UTF-8` (RFC 7616 §3.3).
    pub charset_utf8: bool,
    /// `userhash=true`: the client sends H(username:realm) instead of the username (RFC 7616 §3.4.4).
    pub userhash: bool,
}

/// Digest credentials (RFC 7616 §3.4, RFC 3261 §22.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestCredentials<'a> {
    /// `username`, or the decoded `username*` (RFC 7616 §3.4); with [`DigestCredentials::userhash`] the hex of
    /// H(username:realm).
    pub username: Cow<'a, str>,
    /// `realm`.
    pub realm: Cow<'a, str>,
    /// `nonce`, as received in the challenge.
    pub nonce: Cow<'a, str>,
    /// `uri`: the Request-URI the response was computed over.
    pub uri: Cow<'a, str>,
    /// `response`: hex digits of the request digest.
    pub response: Cow<'a, str>,
    /// `algorithm`; absent means MD5.
    pub algorithm: Option<AlgorithmParam<'a>>,
    /// `cnonce`; required with `qop`.
    pub cnonce: Option<Cow<'a, str>>,
    /// `opaque`, echoed from the challenge.
    pub opaque: Option<Cow<'a, str>>,
    /// `qop`.
    pub qop: Option<Qop>,
    /// `nc`: how many requests the client has sent with this nonce, this one included; required with `qop`.
    pub nonce_count: Option<u32>,
    /// `userhash=true`.
    pub userhash: bool,
}

/// Records which parameters were seen, to reject duplicates.
struct Seen(u32);

impl Seen {
    /// Looks `name` up in `known` (case-insensitively) and returns its canonical spelling; `Ok(None)` for a
    /// parameter to skip, `Err` when it was seen before. Entries of `known` that share a `slot` are exclusive
    /// spellings of one parameter (`username` and `username*`).
    fn check<'k>(&mut self, known: &[(&'k str, u8)], name: &str) -> Result<Option<&'k str>, &'static str> {
        let Some(&(canonical, slot)) = known.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)) else {
            return Ok(None);
        };
        let bit = 1u32 << slot;
        if self.0 & bit != 0 {
            return Err("parameter given twice");
        }
        self.0 |= bit;
        Ok(Some(canonical))
    }
}

const CHALLENGE_PARAMS: [(&str, u8); 9] = [
    ("realm", 0),
    ("domain", 1),
    ("nonce", 2),
    ("opaque", 3),
    ("stale", 4),
    ("algorithm", 5),
    ("qop", 6),
    ("charset", 7),
    ("userhash", 8),
];

const CREDENTIALS_PARAMS: [(&str, u8); 12] = [
    ("username", 0),
    ("username*", 0),
    ("realm", 1),
    ("nonce", 2),
    ("uri", 3),
    ("response", 4),
    ("algorithm", 5),
    ("cnonce", 6),
    ("opaque", 7),
    ("qop", 8),
    ("nc", 9),
    ("userhash", 10),
];

fn is_true(value: RawValue<'_>) -> bool {
    value.token().is_some_and(|t| t.eq_ignore_ascii_case("true"))
}

impl<'a> Challenge<'a> {
    /// Parses one challenge; `header` (WWW-Authenticate or Proxy-Authenticate) names the header in errors. In
    /// SIP each header value holds exactly one challenge (RFC 3261 §25.1), so several challenges come as several
    /// header lines.
    pub fn parse(value: &'a str, header: HeaderName) -> Result<Challenge<'a>, Error> {
        let bad = |reason| Error::BadHeaderValue { name: header, reason };
        let (scheme, rest) = split_scheme(value).ok_or(bad("no authentication scheme"))?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Ok(Challenge::Other { scheme, rest });
        }
        DigestChallenge::parse_params(rest).map(Challenge::Digest).map_err(bad)
    }

    /// The Digest challenge, if this is one.
    pub fn as_digest(&self) -> Option<&DigestChallenge<'a>> {
        match self {
            Challenge::Digest(d) => Some(d),
            Challenge::Other { .. } => None,
        }
    }
}

impl<'a> DigestChallenge<'a> {
    fn parse_params(params: &'a str) -> Result<DigestChallenge<'a>, &'static str> {
        let (mut realm, mut domain, mut nonce, mut opaque) = (None, None, None, None);
        let (mut stale, mut algorithm, mut qop, mut charset_utf8, mut userhash) = (false, None, None, false, false);
        let mut seen = Seen(0);
        for param in AuthParams::new(params) {
            let (name, value) = param?;
            match seen.check(&CHALLENGE_PARAMS, name)? {
                Some("realm") => realm = Some(value.text()),
                Some("domain") => domain = Some(value.text()),
                Some("nonce") => nonce = Some(value.text()),
                Some("opaque") => opaque = Some(value.text()),
                Some("stale") => stale = is_true(value),
                Some("algorithm") => {
                    let token = value.token().ok_or("algorithm is not a token")?;
                    algorithm = Some(AlgorithmParam::from_token(token));
                }
                Some("qop") => qop = Some(QopOptions::parse(&value.text())),
                Some("charset") => charset_utf8 = value.token().is_some_and(|t| t.eq_ignore_ascii_case("UTF-8")),
                Some("userhash") => userhash = is_true(value),
                _ => {}
            }
        }
        Ok(DigestChallenge {
            realm: realm.ok_or("no realm")?,
            domain,
            nonce: nonce.ok_or("no nonce")?,
            opaque,
            stale,
            algorithm,
            qop,
            charset_utf8,
            userhash,
        })
    }

    /// A copy that owns its text, to keep a challenge for answering later requests (RFC 7616 §3.6 reuse).
    pub fn into_owned(self) -> DigestChallenge<'static> {
        DigestChallenge {
            realm: owned(self.realm),
            domain: self.domain.map(owned),
            nonce: owned(self.nonce),
            opaque: self.opaque.map(owned),
            stale: self.stale,
            algorithm: self.algorithm.map(AlgorithmParam::into_owned),
            qop: self.qop,
            charset_utf8: self.charset_utf8,
            userhash: self.userhash,
        }
    }

    /// The algorithm this challenge asks for (`MD5` when absent); `None` when it is one this library cannot
    /// compute.
    pub fn effective_algorithm(&self) -> Option<Algorithm> {
        effective_algorithm(self.algorithm.as_ref())
    }
}

impl<'a> Credentials<'a> {
    /// Parses one credentials value; `header` (Authorization or Proxy-Authorization) names the header in errors.
    pub fn parse(value: &'a str, header: HeaderName) -> Result<Credentials<'a>, Error> {
        let bad = |reason| Error::BadHeaderValue { name: header, reason };
        let (scheme, rest) = split_scheme(value).ok_or(bad("no authentication scheme"))?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Ok(Credentials::Other { scheme, rest });
        }
        DigestCredentials::parse_params(rest).map(Credentials::Digest).map_err(bad)
    }

    /// The Digest credentials, if these are.
    pub fn as_digest(&self) -> Option<&DigestCredentials<'a>> {
        match self {
            Credentials::Digest(d) => Some(d),
            Credentials::Other { .. } => None,
        }
    }
}

impl<'a> DigestCredentials<'a> {
    fn parse_params(params: &'a str) -> Result<DigestCredentials<'a>, &'static str> {
        let (mut username, mut realm, mut nonce, mut uri, mut response) = (None, None, None, None, None);
        let (mut algorithm, mut cnonce, mut opaque, mut qop, mut nonce_count) = (None, None, None, None, None);
        let mut userhash = false;
        let mut seen = Seen(0);
        for param in AuthParams::new(params) {
            let (name, value) = param?;
            match seen.check(&CREDENTIALS_PARAMS, name)? {
                Some("username") => username = Some(value.text()),
                Some("username*") => {
                    let RawValue::Token(ext) = value else {
                        return Err("username* is quoted");
                    };
                    username = Some(Cow::Owned(decode_ext_value(ext).ok_or("malformed username*")?));
                }
                Some("realm") => realm = Some(value.text()),
                Some("nonce") => nonce = Some(value.text()),
                Some("uri") => uri = Some(value.text()),
                Some("response") => {
                    let text = value.text();
                    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err("response is not hex digits");
                    }
                    response = Some(text);
                }
                Some("algorithm") => {
                    let token = value.token().ok_or("algorithm is not a token")?;
                    algorithm = Some(AlgorithmParam::from_token(token));
                }
                Some("cnonce") => cnonce = Some(value.text()),
                Some("opaque") => opaque = Some(value.text()),
                Some("qop") => {
                    let token = value.token().ok_or("qop is not a token")?;
                    qop = Some(if token.eq_ignore_ascii_case("auth") {
                        Qop::Auth
                    } else if token.eq_ignore_ascii_case("auth-int") {
                        Qop::AuthInt
                    } else {
                        return Err("unknown qop");
                    });
                }
                Some("nc") => {
                    let token = value.token().ok_or("nc is not a token")?;
                    nonce_count = Some(parse_nonce_count(token).ok_or("nc is not eight hex digits")?);
                }
                Some("userhash") => userhash = is_true(value),
                _ => {}
            }
        }
        if qop.is_some() && (cnonce.is_none() || nonce_count.is_none()) {
            // RFC 7616 §3.4: with qop, cnonce and nc are required; the response cannot be checked without them.
            return Err("qop without cnonce and nc");
        }
        Ok(DigestCredentials {
            username: username.ok_or("no username")?,
            realm: realm.ok_or("no realm")?,
            nonce: nonce.ok_or("no nonce")?,
            uri: uri.ok_or("no uri")?,
            response: response.ok_or("no response")?,
            algorithm,
            cnonce,
            opaque,
            qop,
            nonce_count,
            userhash,
        })
    }

    /// A copy that owns its text.
    pub fn into_owned(self) -> DigestCredentials<'static> {
        DigestCredentials {
            username: owned(self.username),
            realm: owned(self.realm),
            nonce: owned(self.nonce),
            uri: owned(self.uri),
            response: owned(self.response),
            algorithm: self.algorithm.map(AlgorithmParam::into_owned),
            cnonce: self.cnonce.map(owned),
            opaque: self.opaque.map(owned),
            qop: self.qop,
            nonce_count: self.nonce_count,
            userhash: self.userhash,
        }
    }

    /// The algorithm these credentials were computed with (`MD5` when absent); `None` when unknown.
    pub fn effective_algorithm(&self) -> Option<Algorithm> {
        effective_algorithm(self.algorithm.as_ref())
    }
}

fn owned(text: Cow<'_, str>) -> Cow<'static, str> {
    Cow::Owned(text.into_owned())
}

/// `nc-value = 8LHEX` (RFC 7616 §3.4); upper-case digits are tolerated.
fn parse_nonce_count(token: &str) -> Option<u32> {
    if token.len() != 8 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(token, 16).ok()
}

/// Decodes an RFC 8187 `ext-value` (`UTF-8''J%C3%A4s%C3%B8n`); ISO-8859-1 is accepted too, as RFC 8187 §3.2.1
/// still lists it.
fn decode_ext_value(ext: &str) -> Option<String> {
    let mut parts = ext.splitn(3, '\'');
    let charset = parts.next()?;
    let _language = parts.next()?;
    let encoded = parts.next()?;
    let mut bytes = Vec::with_capacity(encoded.len());
    let mut rest = encoded.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let hex = tail.get(..2)?;
            let hex = std::str::from_utf8(hex).ok()?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    if charset.eq_ignore_ascii_case("UTF-8") {
        String::from_utf8(bytes).ok()
    } else if charset.eq_ignore_ascii_case("ISO-8859-1") {
        Some(bytes.into_iter().map(char::from).collect())
    } else {
        None
    }
}

/// Writes `s` as a quoted string. CR and LF cannot be carried by a quoted string (not even as quoted-pairs, RFC
/// 3261 §25.1) and would split the header, so they are written as spaces; other control characters and `"` and
/// `\` are escaped.
fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    let mut plain_from = 0;
    for (i, c) in s.char_indices() {
        let replacement = match c {
            '\r' | '\n' => " ",
            '"' => "\\\"",
            '\\' => "\\\\",
            '\t' => continue,
            c if c.is_ascii_control() => {
                f.write_str(&s[plain_from..i])?;
                write!(f, "\\{c}")?;
                plain_from = i + c.len_utf8();
                continue;
            }
            _ => continue,
        };
        f.write_str(&s[plain_from..i])?;
        f.write_str(replacement)?;
        plain_from = i + c.len_utf8();
    }
    f.write_str(&s[plain_from..])?;
    f.write_str("\"")
}

impl fmt::Display for Challenge<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Challenge::Digest(d) => d.fmt(f),
            Challenge::Other { scheme, rest: "" } => f.write_str(scheme),
            Challenge::Other { scheme, rest } => write!(f, "{scheme} {rest}"),
        }
    }
}

impl fmt::Display for DigestChallenge<'_> {
    /// The header value, parameters in RFC 7616 §3.3 order: `Digest realm="...", nonce="...", ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Digest realm=")?;
        write_quoted(f, &self.realm)?;
        if let Some(domain) = &self.domain {
            f.write_str(", domain=")?;
            write_quoted(f, domain)?;
        }
        f.write_str(", nonce=")?;
        write_quoted(f, &self.nonce)?;
        if let Some(opaque) = &self.opaque {
            f.write_str(", opaque=")?;
            write_quoted(f, opaque)?;
        }
        if self.stale {
            f.write_str(", stale=true")?;
        }
        if let Some(algorithm) = &self.algorithm {
            write!(f, ", algorithm={}", algorithm.as_str())?;
        }
        if let Some(qop) = &self.qop {
            write!(f, ", qop=\"{qop}\"")?;
        }
        if self.charset_utf8 {
            f.write_str(", charset=UTF-8")?;
        }
        if self.userhash {
            f.write_str(", userhash=true")?;
        }
        Ok(())
    }
}

impl fmt::Display for Credentials<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Digest(d) => d.fmt(f),
            Credentials::Other { scheme, rest: "" } => f.write_str(scheme),
            Credentials::Other { scheme, rest } => write!(f, "{scheme} {rest}"),
        }
    }
}

impl fmt::Display for DigestCredentials<'_> {
    /// The header value: `Digest username="...", realm="...", ...`. The username is always written as a quoted
    /// string, never `username*`: SIP quoted strings carry UTF-8 directly (RFC 3261 §25.1).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Digest username=")?;
        write_quoted(f, &self.username)?;
        f.write_str(", realm=")?;
        write_quoted(f, &self.realm)?;
        f.write_str(", nonce=")?;
        write_quoted(f, &self.nonce)?;
        f.write_str(", uri=")?;
        write_quoted(f, &self.uri)?;
        f.write_str(", response=")?;
        write_quoted(f, &self.response)?;
        if let Some(algorithm) = &self.algorithm {
            write!(f, ", algorithm={}", algorithm.as_str())?;
        }
        if let Some(cnonce) = &self.cnonce {
            f.write_str(", cnonce=")?;
            write_quoted(f, cnonce)?;
        }
        if let Some(opaque) = &self.opaque {
            f.write_str(", opaque=")?;
            write_quoted(f, opaque)?;
        }
        if let Some(qop) = self.qop {
            write!(f, ", qop={}", qop.as_str())?;
        }
        if let Some(nc) = self.nonce_count {
            write!(f, ", nc={nc:08x}")?;
        }
        if self.userhash {
            f.write_str(", userhash=true")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WWW: HeaderName = HeaderName::WwwAuthenticate;
    const AUTHZ: HeaderName = HeaderName::Authorization;

    fn digest_challenge(v: &str) -> DigestChallenge<'_> {
        match Challenge::parse(v, WWW).expect("well-formed challenge") {
            Challenge::Digest(d) => d,
            other => panic!("not Digest: {other:?}"),
        }
    }

    fn digest_credentials(v: &str) -> DigestCredentials<'_> {
        match Credentials::parse(v, AUTHZ).expect("well-formed credentials") {
            Credentials::Digest(d) => d,
            other => panic!("not Digest: {other:?}"),
        }
    }

    #[test]
    fn rfc2617_3_5_challenge() {
        let c = digest_challenge(
            "Digest\r\n realm=\"testrealm@host.com\",\r\n qop=\"auth,auth-int\",\r\n \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\",\r\n opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        );
        assert_eq!(c.realm, "testrealm@host.com");
        assert_eq!(c.qop, Some(QopOptions { auth: true, auth_int: true }));
        assert_eq!(c.nonce, "dcd98b7102dd2f0e8b11d0f600bfb0c093");
        assert_eq!(c.opaque.as_deref(), Some("5ccc069c403ebaf9f0171e9517f40e41"));
        assert_eq!(c.effective_algorithm(), Some(Algorithm::Md5));
        assert!(matches!(c.realm, Cow::Borrowed(_)), "values without escapes are borrowed");
    }

    #[test]
    fn names_are_case_insensitive_and_tokens_may_be_quoted() {
        let c = digest_challenge(r#"DIGEST REALM="r", Nonce="n", ALGORITHM="sha-256", Stale=TRUE, qop=auth"#);
        assert_eq!(c.effective_algorithm(), Some(Algorithm::Sha256));
        assert!(c.stale);
        assert_eq!(c.qop, Some(QopOptions::AUTH));
    }

    #[test]
    fn unknown_algorithm_and_parameters_are_kept_or_skipped() {
        let c = digest_challenge(r#"Digest realm="r", nonce="n", algorithm=SHA-3, foo="x, y""#);
        assert_eq!(c.algorithm, Some(AlgorithmParam::Other(Cow::Borrowed("SHA-3"))));
        assert_eq!(c.effective_algorithm(), None);
    }

    #[test]
    fn missing_and_duplicate_parameters_are_errors_naming_the_header() {
        let err = Challenge::parse(r#"Digest nonce="n""#, HeaderName::ProxyAuthenticate).expect_err("no realm");
        assert_eq!(err, Error::BadHeaderValue { name: HeaderName::ProxyAuthenticate, reason: "no realm" });
        let err = Challenge::parse(r#"Digest realm="a", realm="b", nonce="n""#, WWW).expect_err("twice");
        assert_eq!(err, Error::BadHeaderValue { name: WWW, reason: "parameter given twice" });
        assert!(Challenge::parse("", WWW).is_err());
    }

    #[test]
    fn credentials_with_qop_need_cnonce_and_eight_digit_nc() {
        let base = r#"Digest username="u", realm="r", nonce="n", uri="sip:r", response="00ff""#;
        assert!(Credentials::parse(base, AUTHZ).is_ok());
        let with_qop = format!("{base}, qop=auth, nc=00000001");
        assert_eq!(
            Credentials::parse(&with_qop, AUTHZ),
            Err(Error::BadHeaderValue { name: AUTHZ, reason: "qop without cnonce and nc" })
        );
        let short_nc = format!("{base}, qop=auth, cnonce=\"c\", nc=1");
        assert!(Credentials::parse(&short_nc, AUTHZ).is_err());
        let ok = format!("{base}, qop=auth, cnonce=\"c\", nc=0000000A");
        assert_eq!(digest_credentials(&ok).nonce_count, Some(10));
        let not_hex = r#"Digest username="u", realm="r", nonce="n", uri="sip:r", response="xyz""#;
        assert!(Credentials::parse(not_hex, AUTHZ).is_err());
    }

    #[test]
    fn rfc4475_regaut01_unknown_scheme_is_not_an_error() {
        let c = Credentials::parse("NoOneKnowsThisScheme opaque-data=here", AUTHZ).expect("other scheme");
        assert_eq!(c, Credentials::Other { scheme: "NoOneKnowsThisScheme", rest: "opaque-data=here" });
        assert_eq!(c.to_string(), "NoOneKnowsThisScheme opaque-data=here");
    }

    #[test]
    fn escapes_are_resolved_and_written_back() {
        let c = digest_credentials(
            r#"Digest username="a\"b\\c", realm="r, s", nonce="n", uri="sip:r", response="0a", opaque="""#,
        );
        assert_eq!(c.username, r#"a"b\c"#);
        assert_eq!(c.realm, "r, s");
        assert_eq!(c.opaque.as_deref(), Some(""));
        let written = c.to_string();
        assert!(written.starts_with(r#"Digest username="a\"b\\c", realm="r, s""#), "{written}");
        assert_eq!(digest_credentials(&written), c);
    }

    #[test]
    fn line_breaks_never_reach_the_wire() {
        let c = DigestChallenge {
            realm: Cow::Borrowed("evil\r\nVia: injected"),
            domain: None,
            nonce: Cow::Borrowed("n"),
            opaque: None,
            stale: false,
            algorithm: None,
            qop: None,
            charset_utf8: false,
            userhash: false,
        };
        let written = c.to_string();
        assert!(!written.contains(['\r', '\n']), "{written}");
    }

    #[test]
    fn rfc7616_username_star_is_decoded() {
        let c = digest_credentials(
            "Digest username*=UTF-8''J%C3%A4s%C3%B8n%20Doe, realm=\"api@example.org\", uri=\"/doe.json\", \
             nonce=\"n\", response=\"00\"",
        );
        assert_eq!(c.username, "J\u{e4}s\u{f8}n Doe");
        let both = "Digest username*=UTF-8''a, username=\"a\", realm=\"r\", uri=\"/\", nonce=\"n\", response=\"00\"";
        assert!(Credentials::parse(both, AUTHZ).is_err(), "username and username* are exclusive");
        let bad = "Digest username*=UTF-8''%C3, realm=\"r\", uri=\"/\", nonce=\"n\", response=\"00\"";
        assert!(Credentials::parse(bad, AUTHZ).is_err(), "invalid UTF-8");
    }
}
