//! URIs: `sip:` and `sips:` (RFC 3261 §19.1), `tel:` (RFC 3966), and any other absolute URI kept as text.
//!
//! Parsing borrows from the input and never allocates: each component is checked once, in a single pass over
//! its bytes, and kept as written (still %-escaped). Accessors slice that checked text again; only the
//! `*_unescaped` and [`TelUri::digits`] accessors may allocate, and only when the text holds something to remove.
//! Comparison follows RFC 3261 §19.1.4 (sip/sips) and RFC 3966 §4 (tel); it allocates only to sort parameter or
//! header lists longer than 16 entries, which keeps hostile URIs from making it quadratic. IPv6 references follow
//! RFC 5118.
//!
//! URI parameters follow the URI grammar (`paramchar` of RFC 3261 §25.1, RFC 3966 §3), which is wider than the
//! header-parameter grammar of [`crate::text::Params`]: `;x=a/b` or `;x=(1)` are legal here. Read them with
//! [`SipUri::param`] and [`SipUri::iter_params`] (or their [`TelUri`] twins), not through `Params::get`.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::Error;
use crate::text::{Param, Params, is_token};

/// A parsed URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uri<'a> {
    /// `sip:` or `sips:`.
    Sip(SipUri<'a>),
    /// `tel:`.
    Tel(TelUri<'a>),
    /// Any other well-formed absolute URI (`scheme:rest`), kept as written.
    Absolute {
        /// The scheme, as written.
        scheme: &'a str,
        /// Everything after the colon.
        rest: &'a str,
    },
}

/// `sip` or `sips`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SipScheme {
    /// `sip:`
    Sip,
    /// `sips:` (TLS on every hop).
    Sips,
}

/// The host part of a SIP URI or Via.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Host<'a> {
    /// A domain name as written (compare case-insensitively).
    Domain(&'a str),
    /// An IPv4 address.
    V4(Ipv4Addr),
    /// An IPv6 address (written in brackets in URIs).
    V6(Ipv6Addr),
}

/// A `sip:` or `sips:` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri<'a> {
    /// `sip` or `sips`.
    pub scheme: SipScheme,
    /// The user part as written (still %-escaped), if any.
    pub user: Option<&'a str>,
    /// The password as written, if any (deprecated, kept for round trips).
    pub password: Option<&'a str>,
    /// The host.
    pub host: Host<'a>,
    /// The port, if given.
    pub port: Option<u16>,
    /// The URI parameters (`;transport=tcp;lr`) as written, without the leading `;`. Read them with
    /// [`SipUri::param`] or [`SipUri::iter_params`], which apply the URI grammar.
    pub params: Params<'a>,
    /// The headers part after `?`, as written, if any.
    pub headers: Option<&'a str>,
}

/// A `tel:` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelUri<'a> {
    /// The number as written, including a leading `+` for global numbers and any visual separators.
    pub number: &'a str,
    /// The parameters (`;phone-context=...;ext=...`) as written, without the leading `;`. Read them with
    /// [`TelUri::param`] or [`TelUri::iter_params`], which apply the URI grammar.
    pub params: Params<'a>,
}

fn bad(reason: &'static str) -> Error {
    Error::BadUri(reason)
}

impl<'a> Uri<'a> {
    /// Parses a URI: `sip:`/`sips:` and `tel:` by their own grammar, any other scheme as an RFC 3986
    /// absolute URI. Scheme names match case-insensitively.
    pub fn parse(s: &'a str) -> Result<Uri<'a>, Error> {
        let colon = memchr::memchr(b':', s.as_bytes()).ok_or(bad("no scheme"))?;
        let (scheme, rest) = (&s[..colon], &s[colon + 1..]);
        if !is_scheme(scheme) {
            return Err(bad("malformed scheme"));
        }
        if scheme.eq_ignore_ascii_case("sip") {
            SipUri::parse_after_scheme(SipScheme::Sip, rest).map(Uri::Sip)
        } else if scheme.eq_ignore_ascii_case("sips") {
            SipUri::parse_after_scheme(SipScheme::Sips, rest).map(Uri::Sip)
        } else if scheme.eq_ignore_ascii_case("tel") {
            TelUri::parse_after_scheme(rest).map(Uri::Tel)
        } else {
            // RFC 3986 absolute-URI: no fragment, so `#` is as foreign here as a space.
            check_escaped(rest, ABSOLUTE, "character not allowed in URI")?;
            Ok(Uri::Absolute { scheme, rest })
        }
    }

    /// The scheme in lower case for sip/sips/tel, as written otherwise.
    pub fn scheme(&self) -> &str {
        match self {
            Uri::Sip(u) => u.scheme.as_str(),
            Uri::Tel(_) => "tel",
            Uri::Absolute { scheme, .. } => scheme,
        }
    }

    /// The SIP URI, if this is one.
    pub fn as_sip(&self) -> Option<&SipUri<'a>> {
        match self {
            Uri::Sip(u) => Some(u),
            _ => None,
        }
    }

    /// The tel URI, if this is one.
    pub fn as_tel(&self) -> Option<&TelUri<'a>> {
        match self {
            Uri::Tel(u) => Some(u),
            _ => None,
        }
    }

    /// Whether two URIs designate the same resource: [`SipUri::equivalent`] for sip/sips, [`TelUri::equivalent`]
    /// for tel. Other URIs are equivalent when their schemes match case-insensitively and the rest matches after
    /// resolving escapes of characters that are not reserved. URIs of different schemes are never equivalent.
    pub fn equivalent(&self, other: &Uri<'_>) -> bool {
        match (self, other) {
            (Uri::Sip(a), Uri::Sip(b)) => a.equivalent(b),
            (Uri::Tel(a), Uri::Tel(b)) => a.equivalent(b),
            (Uri::Absolute { scheme: sa, rest: ra }, Uri::Absolute { scheme: sb, rest: rb }) => {
                sa.eq_ignore_ascii_case(sb) && component_eq(ra, rb, false)
            }
            _ => false,
        }
    }
}

/// scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986 §3.1).
fn is_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

impl SipScheme {
    /// `sip` or `sips`, in lower case.
    pub fn as_str(&self) -> &'static str {
        match self {
            SipScheme::Sip => "sip",
            SipScheme::Sips => "sips",
        }
    }
}

/// The uri-parameters with a grammar of their own (RFC 3261 §19.1.1), which §19.1.4 compares even when only one
/// of the two URIs carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KnownParam {
    Transport,
    User,
    Method,
    Ttl,
    Maddr,
}

impl KnownParam {
    const ALL: [(&'static str, KnownParam); 5] = [
        ("transport", KnownParam::Transport),
        ("user", KnownParam::User),
        ("method", KnownParam::Method),
        ("ttl", KnownParam::Ttl),
        ("maddr", KnownParam::Maddr),
    ];

    /// The known parameter `name` (as written, possibly escaped) stands for.
    fn of(name: &str) -> Option<KnownParam> {
        KnownParam::ALL.iter().find(|(known, _)| component_eq(name, known, true)).map(|&(_, k)| k)
    }

    /// Checks a value against the parameter's own grammar.
    fn check(self, value: &str) -> Result<(), Error> {
        match self {
            KnownParam::Transport | KnownParam::User | KnownParam::Method if is_token(value) => Ok(()),
            KnownParam::Transport => Err(bad("transport parameter is not a token")),
            KnownParam::User => Err(bad("user parameter is not a token")),
            KnownParam::Method => Err(bad("method parameter is not a token")),
            KnownParam::Ttl => parse_ttl(value).map(|_| ()).ok_or(bad("ttl parameter is not 0-255")),
            KnownParam::Maddr => Host::parse(value).map(|_| ()),
        }
    }
}

/// ttl = 1*3DIGIT, at most 255 (RFC 3261 §25.1).
fn parse_ttl(value: &str) -> Option<u8> {
    if value.is_empty() || value.len() > 3 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

impl<'a> SipUri<'a> {
    /// Parses a `sip:` or `sips:` URI; any other scheme is an error.
    pub fn parse(s: &'a str) -> Result<SipUri<'a>, Error> {
        match Uri::parse(s)? {
            Uri::Sip(u) => Ok(u),
            _ => Err(bad("not a sip or sips URI")),
        }
    }

    /// Parses what follows `sip:` or `sips:`: `[userinfo@]hostport *(;param) [?headers]`.
    fn parse_after_scheme(scheme: SipScheme, s: &'a str) -> Result<SipUri<'a>, Error> {
        // Neither host, port, parameters nor headers may hold an unescaped `@`, while the user part may hold `;`,
        // `?`, `/`, `=`, ...: the last `@` is therefore the only one that can end the userinfo.
        let (user, password, rest) = match memchr::memrchr(b'@', s.as_bytes()) {
            Some(at) => {
                let userinfo = &s[..at];
                // `:` is not a user character, so the first one starts the password.
                let (user, password) = match memchr::memchr(b':', userinfo.as_bytes()) {
                    Some(c) => (&userinfo[..c], Some(&userinfo[c + 1..])),
                    None => (userinfo, None),
                };
                if user.is_empty() {
                    return Err(bad("empty user"));
                }
                check_escaped(user, USER, "character not allowed in user")?;
                if let Some(password) = password {
                    check_escaped(password, PASSWORD, "character not allowed in password")?;
                }
                (Some(user), password, &s[at + 1..])
            }
            None => (None, None, s),
        };

        let bytes = rest.as_bytes();
        let host_end = if bytes.first() == Some(&b'[') {
            memchr::memchr(b']', bytes).map(|close| close + 1).ok_or(bad("unterminated IPv6 reference"))?
        } else {
            bytes.iter().position(|&b| matches!(b, b':' | b';' | b'?')).unwrap_or(bytes.len())
        };
        let host_text = &rest[..host_end];
        let mut rest = &rest[host_end..];

        let port_text = match rest.strip_prefix(':') {
            Some(after_colon) => {
                let end = after_colon.bytes().position(|b| b == b';' || b == b'?').unwrap_or(after_colon.len());
                rest = &after_colon[end..];
                Some(&after_colon[..end])
            }
            None => None,
        };
        if host_text.is_empty() {
            return Err(bad("missing host"));
        }
        if !host_text.starts_with('[') && port_text.is_some_and(|p| p.contains(':')) {
            return Err(bad("IPv6 address without brackets (RFC 5118 §4.2)"));
        }
        let host = Host::parse(host_text)?;
        let port = port_text.map(parse_port).transpose()?;

        let params = match rest.strip_prefix(';') {
            Some(after_semi) => {
                let end = memchr::memchr(b'?', after_semi.as_bytes()).unwrap_or(after_semi.len());
                rest = &after_semi[end..];
                let raw = &after_semi[..end];
                check_sip_params(raw)?;
                raw
            }
            None => "",
        };
        let headers = match rest.strip_prefix('?') {
            Some(raw) => {
                check_headers(raw)?;
                Some(raw)
            }
            None if rest.is_empty() => None,
            None => return Err(bad("unexpected character after host")),
        };
        Ok(SipUri { scheme, user, password, host, port, params: Params::new(params), headers })
    }

    /// The user part with %-escapes resolved; borrowed unless it holds an escape. Escapes that do not decode to
    /// UTF-8 become U+FFFD (compare users with [`SipUri::equivalent`], which works on bytes).
    pub fn user_unescaped(&self) -> Option<Cow<'a, str>> {
        self.user.map(unescape_lossy)
    }

    /// The password with %-escapes resolved, like [`SipUri::user_unescaped`].
    pub fn password_unescaped(&self) -> Option<Cow<'a, str>> {
        self.password.map(unescape_lossy)
    }

    /// The parameters in order, as written (names and values still %-escaped).
    pub fn iter_params(&self) -> impl Iterator<Item = Param<'a>> + 'a {
        uri_params(self.params.as_str())
    }

    /// The first parameter called `name`, matched case-insensitively and across escapes (`%6Cr` is `lr`).
    /// `Some(None)` means present without a value. The value is returned as written.
    pub fn param(&self, name: &str) -> Option<Option<&'a str>> {
        find_param(self.params.as_str(), name)
    }

    /// The `transport` parameter as written (`udp`, `TCP`, `tls`, `ws`...); compare case-insensitively.
    pub fn transport(&self) -> Option<&'a str> {
        self.param("transport").flatten()
    }

    /// The `user` parameter (`phone`, `ip`, or an extension), as written.
    pub fn user_param(&self) -> Option<&'a str> {
        self.param("user").flatten()
    }

    /// The `maddr` parameter (checked to be a host when the URI was parsed).
    pub fn maddr(&self) -> Option<Host<'a>> {
        self.param("maddr").flatten().and_then(|m| Host::parse(m).ok())
    }

    /// The `ttl` parameter (checked to be 0-255 when the URI was parsed).
    pub fn ttl(&self) -> Option<u8> {
        self.param("ttl").flatten().and_then(parse_ttl)
    }

    /// The `method` parameter as written; methods are case-sensitive.
    pub fn method(&self) -> Option<&'a str> {
        self.param("method").flatten()
    }

    /// Whether the `lr` parameter is present (a loose router, RFC 3261 §16.12).
    pub fn lr(&self) -> bool {
        self.param("lr").is_some()
    }

    /// The `gr` parameter of a GRUU (RFC 5627 §3.1): `Some(None)` when present without a value, `Some(Some(v))`
    /// for `gr=v`.
    pub fn gr(&self) -> Option<Option<&'a str>> {
        self.param("gr")
    }

    /// The port used when none is given: 5060 for `sip`, 5061 for `sips` (RFC 3261 §19.1.2).
    pub fn default_port(&self) -> u16 {
        match self.scheme {
            SipScheme::Sip => 5060,
            SipScheme::Sips => 5061,
        }
    }

    /// The explicit port, or [`SipUri::default_port`].
    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or_else(|| self.default_port())
    }

    /// Whether this is a `sips:` URI, which requires TLS on every hop (RFC 3261 §19.1).
    pub fn is_secure(&self) -> bool {
        self.scheme == SipScheme::Sips
    }

    /// The headers after `?` as `(name, value)` pairs in order, as written (still %-escaped).
    pub fn iter_headers(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        header_fields(self.headers.unwrap_or(""))
    }

    /// Whether two SIP URIs are equivalent by every rule of RFC 3261 §19.1.4:
    /// - `sip` and `sips` URIs are never equivalent;
    /// - user and password compare case-sensitively, host case-insensitively (an IP address never equals a name);
    /// - an escape equals the character it stands for, unless that character is reserved (`;/?:@&=+$,`);
    /// - user, password and port must be present in both or absent from both (`:5060` is not the default);
    /// - the `transport`, `user`, `ttl`, `method` and `maddr` parameters must be present in both or absent from
    ///   both; any other parameter is compared only when both URIs carry it; order does not matter;
    /// - headers must be the same set in both, in any order (names case-insensitive, values exact).
    pub fn equivalent(&self, other: &SipUri<'_>) -> bool {
        self.scheme == other.scheme
            && optional_component_eq(self.user, other.user, false)
            && optional_component_eq(self.password, other.password, false)
            && self.host.same_as(&other.host)
            && self.port == other.port
            && SIP_PARAM_RULES.equivalent(self.params.as_str(), other.params.as_str())
            && headers_equivalent(self.headers.unwrap_or(""), other.headers.unwrap_or(""))
    }
}

/// Checks `uri-parameters` (RFC 3261 §19.1.1, §25.1) in one pass: no empty parameter, names and values made of
/// `paramchar`, and the known parameters against their own grammar.
fn check_sip_params(raw: &str) -> Result<(), Error> {
    for param in raw.split(';') {
        let (name, value) = split_param(param);
        if name.is_empty() {
            return Err(bad("empty parameter"));
        }
        check_escaped(name, PARAM, "character not allowed in parameter name")?;
        let known = KnownParam::of(name);
        match value {
            None if known.is_some() => return Err(bad("parameter requires a value")),
            None => {}
            Some("") => return Err(bad("empty parameter value")),
            Some(value) => {
                check_escaped(value, PARAM, "character not allowed in parameter value")?;
                if let Some(known) = known {
                    known.check(value)?;
                }
            }
        }
    }
    Ok(())
}

/// headers = "?" header *( "&" header ); header = hname "=" hvalue (RFC 3261 §25.1).
fn check_headers(raw: &str) -> Result<(), Error> {
    for header in raw.split('&') {
        let (name, value) = header.split_once('=').ok_or(bad("URI header without '='"))?;
        if name.is_empty() {
            return Err(bad("empty URI header name"));
        }
        check_escaped(name, HEADER, "character not allowed in URI header name")?;
        check_escaped(value, HEADER, "character not allowed in URI header value")?;
    }
    Ok(())
}

/// Splits `name[=value]` at the first `=`.
fn split_param(param: &str) -> (&str, Option<&str>) {
    match param.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (param, None),
    }
}

/// The parameters of a checked `;`-separated list. Empty elements only exist in hand-built values and are
/// skipped.
fn uri_params(raw: &str) -> impl Iterator<Item = Param<'_>> {
    raw.split(';').filter(|p| !p.is_empty()).map(|p| {
        let (name, value) = split_param(p);
        Param { name, value }
    })
}

fn find_param<'s>(raw: &'s str, name: &str) -> Option<Option<&'s str>> {
    uri_params(raw).find(|p| component_eq(p.name, name, true)).map(|p| p.value)
}

fn header_fields(raw: &str) -> impl Iterator<Item = (&str, &str)> {
    raw.split('&').filter(|h| !h.is_empty()).map(|h| h.split_once('=').unwrap_or((h, "")))
}

/// Up to this many parameters (or headers) on each side, comparisons search the lists pairwise, which needs no
/// allocation; longer lists are sorted first, since a hostile 8 KiB URI can carry thousands of parameters and the
/// pairwise search is quadratic.
const PAIRWISE_LIMIT: usize = 16;

/// How one URI scheme compares parameter lists.
struct ParamRules {
    /// Whether a parameter found in only one of the two lists may be ignored.
    may_be_missing: fn(&str) -> bool,
    /// Whether the values of a parameter present in both lists match (`name`, ours, theirs).
    values_eq: fn(&str, &str, &str) -> bool,
}

impl ParamRules {
    /// Compares the first occurrences of each name of two checked parameter lists; order does not matter.
    fn equivalent(&self, a: &str, b: &str) -> bool {
        if uri_params(a).nth(PAIRWISE_LIMIT).is_none() && uri_params(b).nth(PAIRWISE_LIMIT).is_none() {
            self.equivalent_pairwise(a, b)
        } else {
            self.equivalent_sorted(a, b)
        }
    }

    fn matches(&self, ours: Param<'_>, theirs: Option<&str>) -> bool {
        match (ours.value, theirs) {
            (None, None) => true,
            (Some(x), Some(y)) => (self.values_eq)(ours.name, x, y),
            _ => false,
        }
    }

    fn equivalent_pairwise(&self, a: &str, b: &str) -> bool {
        let first_occurrence =
            |index: usize, name: &str| !uri_params(a).take(index).any(|p| component_eq(p.name, name, true));
        let a_side_ok = uri_params(a).enumerate().all(|(index, ours)| {
            !first_occurrence(index, ours.name)
                || match find_param(b, ours.name) {
                    None => (self.may_be_missing)(ours.name),
                    Some(theirs) => self.matches(ours, theirs),
                }
        });
        a_side_ok && uri_params(b).all(|p| (self.may_be_missing)(p.name) || find_param(a, p.name).is_some())
    }

    fn equivalent_sorted(&self, a: &str, b: &str) -> bool {
        // A stable sort keeps repeated names in their written order, so deduplication keeps the first occurrence.
        let sorted = |raw| {
            let mut params: Vec<Param<'_>> = uri_params(raw).collect();
            params.sort_by(|x, y| component_cmp(x.name, y.name, true));
            params.dedup_by(|later, earlier| component_eq(later.name, earlier.name, true));
            params
        };
        let (ours, theirs) = (sorted(a), sorted(b));
        let (mut i, mut j) = (0, 0);
        loop {
            let ok = match (ours.get(i), theirs.get(j)) {
                (None, None) => return true,
                (Some(x), None) => {
                    i += 1;
                    (self.may_be_missing)(x.name)
                }
                (None, Some(y)) => {
                    j += 1;
                    (self.may_be_missing)(y.name)
                }
                (Some(x), Some(y)) => match component_cmp(x.name, y.name, true) {
                    Ordering::Less => {
                        i += 1;
                        (self.may_be_missing)(x.name)
                    }
                    Ordering::Greater => {
                        j += 1;
                        (self.may_be_missing)(y.name)
                    }
                    Ordering::Equal => {
                        i += 1;
                        j += 1;
                        self.matches(*x, y.value)
                    }
                },
            };
            if !ok {
                return false;
            }
        }
    }
}

const SIP_PARAM_RULES: ParamRules = ParamRules {
    may_be_missing: |name| KnownParam::of(name).is_none(),
    values_eq: |name, a, b| match KnownParam::of(name) {
        // Methods are case-sensitive (RFC 3261 §7.1), the one exception to case-insensitive parameters.
        Some(KnownParam::Method) => component_eq(a, b, false),
        Some(KnownParam::Maddr) => match (Host::parse(a), Host::parse(b)) {
            (Ok(x), Ok(y)) => x.same_as(&y),
            _ => component_eq(a, b, true),
        },
        _ => component_eq(a, b, true),
    },
};

/// Headers compare as multisets: the same count of each (name, value), whatever the order. Names compare
/// case-insensitively, values exactly (after resolving escapes), since each header field has its own rules.
fn headers_equivalent(a: &str, b: &str) -> bool {
    if header_fields(a).count() != header_fields(b).count() {
        return false;
    }
    if header_fields(a).nth(PAIRWISE_LIMIT).is_none() {
        headers_equivalent_pairwise(a, b)
    } else {
        headers_equivalent_sorted(a, b)
    }
}

/// For two lists of the same length: every field occurs as often in one as in the other.
fn headers_equivalent_pairwise(a: &str, b: &str) -> bool {
    let same = |x: (&str, &str), y: (&str, &str)| component_eq(x.0, y.0, true) && component_eq(x.1, y.1, false);
    let count = |raw: &str, field| header_fields(raw).filter(|&f| same(f, field)).count();
    header_fields(a).all(|f| count(a, f) == count(b, f))
}

/// For two lists of the same length: once sorted, they match field by field.
fn headers_equivalent_sorted(a: &str, b: &str) -> bool {
    let sorted = |raw| {
        let mut fields: Vec<(&str, &str)> = header_fields(raw).collect();
        fields.sort_by(header_cmp);
        fields
    };
    sorted(a).iter().zip(&sorted(b)).all(|(x, y)| header_cmp(x, y).is_eq())
}

fn header_cmp(x: &(&str, &str), y: &(&str, &str)) -> Ordering {
    component_cmp(x.0, y.0, true).then_with(|| component_cmp(x.1, y.1, false))
}

impl<'a> TelUri<'a> {
    /// Parses a `tel:` URI; any other scheme is an error.
    pub fn parse(s: &'a str) -> Result<TelUri<'a>, Error> {
        match Uri::parse(s)? {
            Uri::Tel(u) => Ok(u),
            _ => Err(bad("not a tel URI")),
        }
    }

    /// Parses what follows `tel:` (RFC 3966 §3): a global number, or a local number with `phone-context`.
    fn parse_after_scheme(s: &'a str) -> Result<TelUri<'a>, Error> {
        let (number, params) = match memchr::memchr(b';', s.as_bytes()) {
            Some(semi) => (&s[..semi], Some(&s[semi + 1..])),
            None => (s, None),
        };
        let global = number.starts_with('+');
        if global {
            if !is_global_number_digits(number) {
                return Err(bad("malformed global number"));
            }
        } else if !is_local_number_digits(number) {
            return Err(bad("malformed local number"));
        }
        let has_context = match params {
            Some(raw) => check_tel_params(raw)?,
            None => false,
        };
        if !global && !has_context {
            return Err(bad("local number without phone-context (RFC 3966 §5.1.5)"));
        }
        Ok(TelUri { number, params: Params::new(params.unwrap_or("")) })
    }

    /// Whether the number is global (`+` and a country code) rather than local to a `phone-context`.
    pub fn is_global(&self) -> bool {
        self.number.starts_with('+')
    }

    /// The number without visual separators (`-.()`), keeping the `+` of a global number; borrowed unless there
    /// was a separator to remove.
    pub fn digits(&self) -> Cow<'a, str> {
        without_separators(self.number)
    }

    /// The parameters in order, as written.
    pub fn iter_params(&self) -> impl Iterator<Item = Param<'a>> + 'a {
        uri_params(self.params.as_str())
    }

    /// The first parameter called `name` (case-insensitive); `Some(None)` means present without a value.
    pub fn param(&self, name: &str) -> Option<Option<&'a str>> {
        find_param(self.params.as_str(), name)
    }

    /// The `phone-context` parameter as written: a domain name or a global number prefix.
    pub fn phone_context(&self) -> Option<&'a str> {
        self.param("phone-context").flatten()
    }

    /// The `ext` parameter as written (visual separators kept).
    pub fn ext(&self) -> Option<&'a str> {
        self.param("ext").flatten()
    }

    /// The `isub` parameter (ISDN subaddress) as written.
    pub fn isub(&self) -> Option<&'a str> {
        self.param("isub").flatten()
    }

    /// Whether two tel URIs are equivalent (RFC 3966 §4): both global or both local, the same digits once visual
    /// separators are removed, and the same set of parameters in any order. Everything compares
    /// case-insensitively; `phone-context` compares as a host name or, for a number prefix, digit by digit, and
    /// `ext` digit by digit.
    pub fn equivalent(&self, other: &TelUri<'_>) -> bool {
        self.is_global() == other.is_global()
            && digits_eq(self.number, other.number)
            && TEL_PARAM_RULES.equivalent(self.params.as_str(), other.params.as_str())
    }
}

const fn is_visual_separator(b: u8) -> bool {
    matches!(b, b'-' | b'.' | b'(' | b')')
}

/// global-number-digits = "+" *phonedigit DIGIT *phonedigit (RFC 3966 §3).
fn is_global_number_digits(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|digits| {
        digits.bytes().all(|b| b.is_ascii_digit() || is_visual_separator(b))
            && digits.bytes().any(|b| b.is_ascii_digit())
    })
}

/// local-number-digits = *phonedigit-hex (HEXDIG / "*" / "#") *phonedigit-hex (RFC 3966 §3).
fn is_local_number_digits(s: &str) -> bool {
    let is_digit = |b: u8| b.is_ascii_hexdigit() || b == b'*' || b == b'#';
    s.bytes().all(|b| is_digit(b) || is_visual_separator(b)) && s.bytes().any(is_digit)
}

/// Checks the tel parameters in one pass (RFC 3966 §3); returns whether `phone-context` is among them.
fn check_tel_params(raw: &str) -> Result<bool, Error> {
    let mut has_context = false;
    for param in raw.split(';') {
        let (name, value) = split_param(param);
        if name.is_empty() {
            return Err(bad("empty parameter"));
        }
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(bad("character not allowed in tel parameter name"));
        }
        if value == Some("") {
            return Err(bad("empty parameter value"));
        }
        if name.eq_ignore_ascii_case("phone-context") {
            if has_context {
                return Err(bad("more than one phone-context"));
            }
            has_context = true;
            let descriptor = value.ok_or(bad("phone-context requires a value"))?;
            let is_domain = matches!(Host::parse(descriptor), Ok(Host::Domain(_)));
            if !is_domain && !is_global_number_digits(descriptor) {
                return Err(bad("phone-context is neither a domain name nor a global number"));
            }
        } else if name.eq_ignore_ascii_case("ext") {
            let ext = value.ok_or(bad("ext requires a value"))?;
            // ext = 1*phonedigit
            if !ext.bytes().all(|b| b.is_ascii_digit() || is_visual_separator(b))
                || !ext.bytes().any(|b| b.is_ascii_digit())
            {
                return Err(bad("malformed ext parameter"));
            }
        } else if name.eq_ignore_ascii_case("isub") {
            let isub = value.ok_or(bad("isub requires a value"))?;
            check_escaped(isub, URIC, "character not allowed in isub parameter")?;
        } else if let Some(value) = value {
            check_escaped(value, PARAM, "character not allowed in parameter value")?;
        }
    }
    Ok(has_context)
}

fn without_separators(s: &str) -> Cow<'_, str> {
    if s.bytes().any(is_visual_separator) {
        Cow::Owned(s.chars().filter(|&c| !(c.is_ascii() && is_visual_separator(c as u8))).collect())
    } else {
        Cow::Borrowed(s)
    }
}

/// Digit strings compare without their visual separators and regardless of case (hex digits of local numbers).
fn digits_eq(a: &str, b: &str) -> bool {
    fn digits(s: &str) -> impl Iterator<Item = u8> + '_ {
        s.bytes().filter(|&b| !is_visual_separator(b)).map(|b| b.to_ascii_lowercase())
    }
    digits(a).eq(digits(b))
}

/// RFC 3966 §4: a parameter in only one of the URIs makes them differ.
const TEL_PARAM_RULES: ParamRules = ParamRules { may_be_missing: |_| false, values_eq: tel_param_values_eq };

fn tel_param_values_eq(name: &str, a: &str, b: &str) -> bool {
    if name.eq_ignore_ascii_case("ext") {
        digits_eq(a, b)
    } else if name.eq_ignore_ascii_case("phone-context") {
        match (a.starts_with('+'), b.starts_with('+')) {
            (true, true) => digits_eq(a, b),
            (false, false) => a.eq_ignore_ascii_case(b),
            _ => false,
        }
    } else {
        component_eq(a, b, true)
    }
}

impl<'a> Host<'a> {
    /// Parses a host: a domain name, an IPv4 address, or an IPv6 reference in brackets. The RFC 3261 ABNF bug
    /// of RFC 5118 §4.10 (`[2001:db8:::192.0.2.1]`, three colons) is tolerated as RFC 5118 requires.
    pub fn parse(s: &'a str) -> Result<Host<'a>, Error> {
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner.strip_suffix(']').ok_or(bad("unterminated IPv6 reference"))?;
            return parse_ipv6(inner).map(Host::V6);
        }
        Host::parse_unbracketed(s)
    }

    /// Like [`Host::parse`], but also accepts a bare IPv6 address (the `received` parameter of RFC 5118 §4.5).
    pub fn parse_lenient(s: &'a str) -> Result<Host<'a>, Error> {
        if s.contains(':') && !s.starts_with('[') {
            return parse_ipv6(s).map(Host::V6);
        }
        Host::parse(s)
    }

    fn parse_unbracketed(s: &'a str) -> Result<Host<'a>, Error> {
        if s.is_empty() {
            return Err(bad("empty host"));
        }
        if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return s.parse::<Ipv4Addr>().map(Host::V4).map_err(|_| bad("malformed IPv4 address"));
        }
        let valid = s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
            && !s.starts_with(['-', '.'])
            && !s.contains("..");
        if valid { Ok(Host::Domain(s)) } else { Err(bad("malformed host name")) }
    }

    /// Whether two hosts are the same (domains compare case-insensitively).
    pub fn same_as(&self, other: &Host<'_>) -> bool {
        match (self, other) {
            (Host::Domain(a), Host::Domain(b)) => a.eq_ignore_ascii_case(b),
            (Host::V4(a), Host::V4(b)) => a == b,
            (Host::V6(a), Host::V6(b)) => a == b,
            _ => false,
        }
    }
}

impl fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

fn parse_ipv6(s: &str) -> Result<Ipv6Addr, Error> {
    if let Ok(addr) = s.parse::<Ipv6Addr>() {
        return Ok(addr);
    }
    // RFC 5118 §4.10: drop one colon of `:::` and try again, in a stack buffer (the longest IPv6 text, with an
    // embedded IPv4 address, is 45 characters).
    let malformed = || bad("malformed IPv6 address");
    let triple = s.find(":::").ok_or_else(malformed)?;
    let mut buf = [0u8; 64];
    let len = s.len() - 1;
    if len > buf.len() {
        return Err(malformed());
    }
    let (head, tail) = (&s.as_bytes()[..triple], &s.as_bytes()[triple + 1..]);
    buf[..triple].copy_from_slice(head);
    buf[triple..len].copy_from_slice(tail);
    std::str::from_utf8(&buf[..len]).ok().and_then(|t| t.parse().ok()).ok_or_else(malformed)
}

/// Splits `host[:port]` (host possibly an IPv6 reference) and parses both.
pub fn parse_host_port(s: &str) -> Result<(Host<'_>, Option<u16>), Error> {
    let (host, port) = if s.starts_with('[') {
        let close = s.find(']').ok_or(bad("unterminated IPv6 reference"))?;
        match &s[close + 1..] {
            "" => (&s[..=close], None),
            rest => (&s[..=close], Some(rest.strip_prefix(':').ok_or(bad("junk after IPv6 reference"))?)),
        }
    } else {
        match s.rfind(':') {
            Some(c) => (&s[..c], Some(&s[c + 1..])),
            None => (s, None),
        }
    };
    let port = port.map(parse_port).transpose()?;
    Ok((Host::parse(host)?, port))
}

/// port = 1*DIGIT, within 0..=65535.
pub fn parse_port(p: &str) -> Result<u16, Error> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("malformed port"));
    }
    p.parse::<u16>().map_err(|_| bad("port out of range"))
}

// ---------------------------------------------------------------------------------------------------------------
// Character classes and escapes.

/// user = 1*( unreserved / escaped / user-unreserved ) (RFC 3261 §25.1).
const USER: u8 = 1 << 0;
/// password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," ).
const PASSWORD: u8 = 1 << 1;
/// paramchar = param-unreserved / unreserved / escaped (RFC 3261 §25.1, identical in RFC 3966 §3).
const PARAM: u8 = 1 << 2;
/// hname / hvalue = *( hnv-unreserved / unreserved / escaped ).
const HEADER: u8 = 1 << 3;
/// What RFC 3986 allows after the scheme of an absolute-URI: unreserved, sub-delims, `:@/?` and the brackets of
/// an IP literal.
const ABSOLUTE: u8 = 1 << 4;
/// The reserved set of RFC 2396 §2.2, whose escapes RFC 3261 §19.1.4 does not equate with the characters.
const RESERVED: u8 = 1 << 5;
/// uric of RFC 3966 §3 (reserved / unreserved / pct-encoded), less the `;` that ends a parameter.
const URIC: u8 = 1 << 6;

static CLASSES: [u8; 256] = character_classes();

const fn character_classes() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let unreserved =
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')');
        let mut class = 0;
        if unreserved || matches!(b, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/') {
            class |= USER;
        }
        if unreserved || matches!(b, b'&' | b'=' | b'+' | b'$' | b',') {
            class |= PASSWORD;
        }
        if unreserved || matches!(b, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$') {
            class |= PARAM;
        }
        if unreserved || matches!(b, b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$') {
            class |= HEADER;
        }
        if b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
                    | b'/'
                    | b'?'
                    | b'['
                    | b']'
            )
        {
            class |= ABSOLUTE;
        }
        let reserved = matches!(b, b';' | b'/' | b'?' | b':' | b'@' | b'&' | b'=' | b'+' | b'$' | b',');
        if reserved {
            class |= RESERVED;
        }
        if (unreserved || reserved) && b != b';' {
            class |= URIC;
        }
        table[i] = class;
        i += 1;
    }
    table
}

fn has_class(b: u8, class: u8) -> bool {
    CLASSES[usize::from(b)] & class != 0
}

/// Characters that may stand unescaped in the user part of a SIP URI: `unreserved` and `user-unreserved`
/// (RFC 3261 §25.1). For use with [`escape`].
pub fn is_user_char(b: u8) -> bool {
    has_class(b, USER)
}

/// Characters that may stand unescaped in the password of a SIP URI (RFC 3261 §25.1).
pub fn is_password_char(b: u8) -> bool {
    has_class(b, PASSWORD)
}

/// Characters that may stand unescaped in a URI parameter name or value: `paramchar` without `escaped`
/// (RFC 3261 §25.1, RFC 3966 §3).
pub fn is_param_char(b: u8) -> bool {
    has_class(b, PARAM)
}

/// Characters that may stand unescaped in a URI header name or value (`hnv-unreserved` and `unreserved`).
pub fn is_header_char(b: u8) -> bool {
    has_class(b, HEADER)
}

/// Checks that `s` holds only characters of `class` and well-formed `%HH` escapes.
fn check_escaped(s: &str, class: u8, reason: &'static str) -> Result<(), Error> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            escaped_byte(bytes, i).ok_or(bad("malformed %-escape"))?;
            i += 3;
        } else if has_class(b, class) {
            i += 1;
        } else {
            return Err(bad(reason));
        }
    }
    Ok(())
}

/// The octet that the escape starting at `bytes[i]` (a `%`) stands for, if `%HH` is well-formed.
fn escaped_byte(bytes: &[u8], i: usize) -> Option<u8> {
    let high = hex_value(*bytes.get(i + 1)?)?;
    let low = hex_value(*bytes.get(i + 2)?)?;
    Some(high << 4 | low)
}

const fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Resolves `%HH` escapes. Borrowed when `s` holds no `%`; an error for a malformed escape or when the result is
/// not UTF-8.
pub fn unescape(s: &str) -> Result<Cow<'_, str>, Error> {
    if !s.contains('%') {
        return Ok(Cow::Borrowed(s));
    }
    let decoded = decode_escapes(s, true).ok_or(bad("malformed %-escape"))?;
    String::from_utf8(decoded).map(Cow::Owned).map_err(|_| bad("%-escapes do not decode to UTF-8"))
}

/// Like [`unescape`] for text already checked by the parser: never fails, invalid UTF-8 becomes U+FFFD.
fn unescape_lossy(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let decoded = decode_escapes(s, false).unwrap_or_default();
    match String::from_utf8(decoded) {
        Ok(text) => Cow::Owned(text),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

/// Decodes escapes; a malformed one is `None` when `strict`, kept as written otherwise.
fn decode_escapes(s: &str, strict: bool) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match (b, escaped_byte(bytes, i)) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            (b'%', None) if strict => return None,
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(out)
}

/// Escapes every octet of `s` for which `allowed` is false as `%HH` (upper-case hex, RFC 3986 §2.1). `%` itself
/// and octets beyond ASCII are always escaped. Borrowed when nothing needs escaping.
pub fn escape(s: &str, allowed: fn(u8) -> bool) -> Cow<'_, str> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let keep = |b: u8| b != b'%' && b.is_ascii() && allowed(b);
    let Some(first) = s.bytes().position(|b| !keep(b)) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len() + 8);
    // Everything before `first` is ASCII, so `first` is a character boundary.
    out.push_str(&s[..first]);
    for &b in &s.as_bytes()[first..] {
        if keep(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    Cow::Owned(out)
}

/// One unit of an escaped component as RFC 3261 §19.1.4 compares it: an escape equals the character it stands
/// for, except an escaped reserved character, which stays distinct from the reserved character itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Unit {
    Char(u8),
    EscapedReserved(u8),
}

fn units(s: &str, fold_case: bool) -> impl Iterator<Item = Unit> + '_ {
    let bytes = s.as_bytes();
    let fold = move |b: u8| if fold_case { b.to_ascii_lowercase() } else { b };
    let mut i = 0;
    std::iter::from_fn(move || {
        let b = *bytes.get(i)?;
        if b == b'%'
            && let Some(decoded) = escaped_byte(bytes, i)
        {
            i += 3;
            return Some(if has_class(decoded, RESERVED) {
                Unit::EscapedReserved(decoded)
            } else {
                Unit::Char(fold(decoded))
            });
        }
        i += 1;
        Some(Unit::Char(fold(b)))
    })
}

/// Compares two escaped components by RFC 3261 §19.1.4, case-insensitively when `fold_case`.
fn component_eq(a: &str, b: &str, fold_case: bool) -> bool {
    if !a.contains('%') && !b.contains('%') {
        return if fold_case { a.eq_ignore_ascii_case(b) } else { a == b };
    }
    units(a, fold_case).eq(units(b, fold_case))
}

/// Orders escaped components consistently with [`component_eq`], for sorting long lists before comparing them.
fn component_cmp(a: &str, b: &str, fold_case: bool) -> Ordering {
    units(a, fold_case).cmp(units(b, fold_case))
}

/// An optional component matches only if present in both and equal, or absent from both.
fn optional_component_eq(a: Option<&str>, b: Option<&str>, fold_case: bool) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => component_eq(a, b, fold_case),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Writing URIs back.

impl fmt::Display for Uri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uri::Sip(u) => u.fmt(f),
            Uri::Tel(u) => u.fmt(f),
            Uri::Absolute { scheme, rest } => write!(f, "{scheme}:{rest}"),
        }
    }
}

/// Writes the URI as parsed: components as written, the scheme in lower case, IP addresses in their canonical
/// form.
impl fmt::Display for SipUri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.scheme.as_str())?;
        if let Some(user) = self.user {
            f.write_str(user)?;
            if let Some(password) = self.password {
                write!(f, ":{password}")?;
            }
            f.write_str("@")?;
        }
        write!(f, "{}", self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        if !self.params.as_str().is_empty() {
            write!(f, ";{}", self.params.as_str())?;
        }
        if let Some(headers) = self.headers {
            write!(f, "?{headers}")?;
        }
        Ok(())
    }
}

/// Writes the URI as parsed, with the scheme in lower case.
impl fmt::Display for TelUri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tel:{}", self.number)?;
        if !self.params.as_str().is_empty() {
            write!(f, ";{}", self.params.as_str())?;
        }
        Ok(())
    }
}

#[cfg(test)]
// Tests state their expectations with `expect("why")` and `panic!`, as the house style allows.
mod tests {
    use super::*;

    fn sip(s: &str) -> SipUri<'_> {
        SipUri::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    fn tel(s: &str) -> TelUri<'_> {
        TelUri::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    fn equivalent(a: &str, b: &str) -> bool {
        let (a, b) = (Uri::parse(a).expect("first URI parses"), Uri::parse(b).expect("second URI parses"));
        let forward = a.equivalent(&b);
        assert_eq!(forward, b.equivalent(&a), "equivalence must be symmetric");
        forward
    }

    #[test]
    fn sip_components_rfc3261_19_1_1() {
        let u = sip("sip:alice:secretword@atlanta.com:5070;transport=tcp;lr?subject=project%20x&priority=urgent");
        assert_eq!(u.scheme, SipScheme::Sip);
        assert_eq!(u.user, Some("alice"));
        assert_eq!(u.password, Some("secretword"));
        assert_eq!(u.host, Host::Domain("atlanta.com"));
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.params.as_str(), "transport=tcp;lr");
        assert_eq!(u.headers, Some("subject=project%20x&priority=urgent"));
        let headers: Vec<_> = u.iter_headers().collect();
        assert_eq!(headers, [("subject", "project%20x"), ("priority", "urgent")]);
    }

    #[test]
    fn rfc3261_19_1_3_examples_parse() {
        for s in [
            "sip:alice@atlanta.com",
            "sip:alice:secretword@atlanta.com;transport=tcp",
            "sips:alice@atlanta.com?subject=project%20x&priority=urgent",
            "sip:+1-212-555-1212:1234@gateway.com;user=phone",
            "sips:1212@gateway.com",
            "sip:alice@192.0.2.4",
            "sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com",
            "sip:alice;day=tuesday@atlanta.com",
        ] {
            assert!(Uri::parse(s).is_ok(), "{s}");
        }
        assert_eq!(sip("sip:alice;day=tuesday@atlanta.com").user, Some("alice;day=tuesday"));
        assert_eq!(sip("sip:+1-212-555-1212:1234@gateway.com;user=phone").password, Some("1234"));
        assert_eq!(sip("sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com").user, None);
    }

    #[test]
    fn scheme_matches_case_insensitively() {
        assert_eq!(sip("SIP:alice@atlanta.com").scheme, SipScheme::Sip);
        assert_eq!(sip("SiPs:alice@atlanta.com").scheme, SipScheme::Sips);
        assert!(matches!(Uri::parse("TEL:+1-201-555-0123"), Ok(Uri::Tel(_))));
        assert_eq!(Uri::parse("SIPS:a@b").expect("parses").scheme(), "sips");
    }

    #[test]
    fn rfc4475_3_1_1_2_unusual_user_and_password() {
        let u = sip(
            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
        );
        assert_eq!(u.user, Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"));
        assert_eq!(u.password, Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"));
        assert_eq!(u.host, Host::Domain("example.com"));
        assert_eq!(u.params.as_str(), "");
        assert_eq!(u.headers, None);
    }

    #[test]
    fn rfc4475_3_1_1_9_semicolon_in_user_part() {
        let u = sip("sip:user;par=u%40example.net@example.com");
        assert_eq!(u.user, Some("user;par=u%40example.net"));
        assert_eq!(u.user_unescaped().as_deref(), Some("user;par=u@example.net"));
        assert_eq!(u.host, Host::Domain("example.com"));
        assert_eq!(u.params.as_str(), "");
    }

    #[test]
    fn rfc4475_3_1_1_3_escapes() {
        let r_uri = sip("sip:sips%3Auser%40example.com@example.net");
        assert_eq!(r_uri.user_unescaped().as_deref(), Some("sips:user@example.com"));
        assert_eq!(r_uri.host, Host::Domain("example.net"));
        assert_eq!(sip("sip:%75se%72@example.com").user_unescaped().as_deref(), Some("user"));
        assert_eq!(sip("sip:I%20have%20spaces@example.net").user_unescaped().as_deref(), Some("I have spaces"));
        // The Contact of esc01: escaped parameter names are the names they spell.
        let contact = sip("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31");
        assert!(contact.lr());
        assert_eq!(contact.param("name"), Some(Some("v%61lue%25%34%31")));
        assert!(equivalent("sip:%75se%72@example.com", "sip:user@example.com"));
        assert!(equivalent(
            "sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31",
            "sip:caller@host5.example.net;lr;name=value%2541"
        ));
    }

    #[test]
    fn rfc4475_3_1_1_4_escaped_nul_is_kept() {
        let one = sip("sip:%00@host5.example.com");
        let two = sip("sip:%00%00@host5.example.com");
        assert_eq!(one.user_unescaped().as_deref(), Some("\0"));
        assert_eq!(two.user_unescaped().as_deref(), Some("\0\0"));
        assert!(!one.equivalent(&two), "the two contacts of escnull are distinct bindings");
        assert_eq!(sip("sip:null-%00-null@example.com").user_unescaped().as_deref(), Some("null-\0-null"));
    }

    #[test]
    fn rfc4475_3_1_2_11_escaped_headers() {
        let u = sip("sip:user@example.com?Route=%3Csip:example.com%3E");
        assert_eq!(u.user, Some("user"));
        assert_eq!(u.headers, Some("Route=%3Csip:example.com%3E"));
        assert_eq!(u.iter_headers().next(), Some(("Route", "%3Csip:example.com%3E")));
    }

    #[test]
    fn rfc4475_3_3_other_schemes_are_absolute_uris() {
        for (s, scheme, rest) in [
            ("soap.beep://192.0.2.103:3002", "soap.beep", "//192.0.2.103:3002"),
            ("isbn:2983792873", "isbn", "2983792873"),
            ("http://www.example.com", "http", "//www.example.com"),
            ("name:John_Smith", "name", "John_Smith"),
            ("nobodyKnowsThisScheme:totallyopaquecontent", "nobodyKnowsThisScheme", "totallyopaquecontent"),
            ("mailto:alice@example.com?subject=hi%20there", "mailto", "alice@example.com?subject=hi%20there"),
        ] {
            assert_eq!(Uri::parse(s), Ok(Uri::Absolute { scheme, rest }), "{s}");
        }
    }

    #[test]
    fn rfc4475_3_1_2_malformed_uris_are_rejected() {
        // lwsruri (embedded LWS), ltgtruri (<> enclosing), badaspec (spaces).
        assert!(Uri::parse("sip:user@example.com; lr").is_err());
        assert!(Uri::parse("<sip:user@example.com>").is_err());
        assert!(Uri::parse(" sip:t.watson@example.org ").is_err());
    }

    fn rejects(s: &str) {
        assert!(matches!(Uri::parse(s), Err(Error::BadUri(_))), "{s:?} should be rejected, got {:?}", Uri::parse(s));
    }

    #[test]
    fn missing_host_is_rejected() {
        for s in ["sip:", "sips:", "sip:alice@", "sip:;lr", "sip:?a=b", "sip::5060", "sip:alice@;lr"] {
            rejects(s);
        }
    }

    #[test]
    fn bad_ports_are_rejected() {
        for s in ["sip:a@b:", "sip:a@b:65536", "sip:a@b:5x", "sip:a@b:123456", "sip:a@b:-1", "sip:[::1]:", "sip:[::1]x"]
        {
            rejects(s);
        }
        assert_eq!(sip("sip:a@b:65535").port, Some(65535));
        assert_eq!(sip("sip:a@b:0").port, Some(0));
    }

    #[test]
    fn spaces_controls_and_non_ascii_are_rejected() {
        for s in ["sip:a b@c", "sip:a@b c", "sip:a@b\r\n", "sip:a\0@b", "sip:a@b;x=\t", "sip:é@b", "sip:a@b?x=\x7f"] {
            rejects(s);
        }
        rejects("http://exa mple.com");
        rejects("http://example.com/#fragment");
    }

    #[test]
    fn malformed_escapes_are_rejected() {
        for s in ["sip:%G1@h", "sip:%4@h", "sip:a%@h", "sip:a:%zz@h", "sip:u@h;x=%4", "sip:u@h;%=1", "sip:u@h?x=%zz"] {
            rejects(s);
        }
        rejects("tel:+1;isub=%4");
        rejects("urn:x%4");
    }

    #[test]
    fn characters_outside_the_user_set_are_rejected_rfc3261_25_1() {
        for s in
            ["sip:a<b@h", "sip:a\"b@h", "sip:a#b@h", "sip:a[b@h", "sip:a@b@h", "sip:@h", "sip::pw@h", "sip:a:p;w@h"]
        {
            rejects(s);
        }
    }

    #[test]
    fn empty_or_malformed_parameters_are_rejected() {
        for s in ["sip:h;;lr", "sip:h;", "sip:h;=x", "sip:h;x=", "sip:h;x=a=b", "sip:h;x=a\"b", "sip:h;x=<a>"] {
            rejects(s);
        }
    }

    #[test]
    fn known_parameters_are_checked_against_their_grammar() {
        for s in ["sip:h;ttl=256", "sip:h;ttl=1000", "sip:h;ttl", "sip:h;ttl=x", "sip:h;maddr=a..b", "sip:h;maddr"] {
            rejects(s);
        }
        for s in ["sip:h;transport", "sip:h;transport=a/b", "sip:h;user=[x]", "sip:h;method", "sip:h;method=A:B"] {
            rejects(s);
        }
        assert_eq!(sip("sip:h;ttl=255").ttl(), Some(255));
        assert_eq!(sip("sip:h;TTL=0").ttl(), Some(0));
    }

    #[test]
    fn malformed_headers_are_rejected() {
        for s in ["sip:h?", "sip:h?&a=b", "sip:h?a=b&", "sip:h?a", "sip:h?=b", "sip:h?a=b;c", "sip:h?a=<b>"] {
            rejects(s);
        }
        assert_eq!(sip("sip:h?a=").iter_headers().next(), Some(("a", "")));
        assert_eq!(sip("sip:h?a=b?c").headers, Some("a=b?c"));
    }

    #[test]
    fn malformed_schemes_are_rejected() {
        for s in ["", "alice@atlanta.com", ":x", "1sip:a@b", "s_p:x", "sip//a@b"] {
            rejects(s);
        }
    }

    #[test]
    fn other_params_may_use_the_whole_paramchar_set() {
        let u = sip("sip:h;x=a/b:c&d+$[e];y=(1)!~*'");
        assert_eq!(u.param("x"), Some(Some("a/b:c&d+$[e]")));
        assert_eq!(u.param("Y"), Some(Some("(1)!~*'")));
        assert_eq!(u.iter_params().count(), 2);
    }

    #[test]
    fn rfc5118_4_1_ipv6_reference() {
        let u = sip("sip:[2001:db8::10]");
        assert_eq!(u.host, Host::V6("2001:db8::10".parse().expect("address")));
        assert_eq!(u.port, None);
        assert_eq!(
            sip("sip:user@[2001:db8::10];maddr=[2001:db8::20]").maddr(),
            Some(Host::V6("2001:db8::20".parse().expect("address")))
        );
    }

    #[test]
    fn rfc5118_4_2_unbracketed_ipv6_is_rejected() {
        rejects("sip:2001:db8::10");
        rejects("sip:user@2001:db8::10");
        rejects("sip:[2001:db8::10");
        rejects("sip:2001:db8::10]");
    }

    #[test]
    fn rfc5118_4_3_port_ambiguous_reference_has_no_port() {
        let u = sip("sip:[2001:db8::10:5070]");
        assert_eq!(u.host, Host::V6("2001:db8::10:5070".parse().expect("address")));
        assert_eq!(u.port, None);
    }

    #[test]
    fn rfc5118_4_4_port_after_reference() {
        let u = sip("sip:[2001:db8::10]:5070");
        assert_eq!(u.host, Host::V6("2001:db8::10".parse().expect("address")));
        assert_eq!(u.port, Some(5070));
    }

    #[test]
    fn rfc5118_4_9_ipv4_mapped_address() {
        let u = sip("sip:user@[::ffff:192.0.2.10]");
        assert_eq!(u.host, Host::V6("::ffff:192.0.2.10".parse().expect("address")));
        assert!(!equivalent("sip:user@[::ffff:192.0.2.10]", "sip:user@192.0.2.10"));
    }

    #[test]
    fn rfc5118_4_10_three_colons_are_tolerated() {
        let u = sip("sip:[2001:db8:::192.0.2.1]");
        assert_eq!(u.host, Host::V6("2001:db8::192.0.2.1".parse().expect("address")));
        assert!(equivalent("sip:[2001:db8:::192.0.2.1]", "sip:[2001:db8::c000:201]"));
        assert_eq!(
            Host::parse("[2001:db8:::192.0.2.1]"),
            Ok(Host::V6("2001:db8::192.0.2.1".parse().expect("address")))
        );
        assert!(Host::parse("[2001:db8:::::1]").is_err());
    }

    #[test]
    fn host_and_port_helpers_keep_their_semantics() {
        assert_eq!(parse_host_port("[::1]:5060"), Ok((Host::V6(Ipv6Addr::LOCALHOST), Some(5060))));
        assert_eq!(parse_host_port("example.com"), Ok((Host::Domain("example.com"), None)));
        assert_eq!(parse_host_port("192.0.2.1:5"), Ok((Host::V4(Ipv4Addr::new(192, 0, 2, 1)), Some(5))));
        assert!(parse_host_port("[::1]x").is_err());
        assert_eq!(Host::parse_lenient("2001:db8::9:255"), Ok(Host::V6("2001:db8::9:255".parse().expect("addr"))));
        assert!(Host::parse("1.2.3").is_err());
        assert!(Host::parse("-a.com").is_err());
        assert!(Host::Domain("Example.COM").same_as(&Host::Domain("example.com")));
        assert_eq!(parse_port("65536"), Err(Error::BadUri("port out of range")));
    }

    #[test]
    fn parameter_accessors() {
        let u = sip("sips:alice@atlanta.com;Transport=TCP;user=phone;maddr=239.255.255.1;ttl=15;method=INVITE;lr;gr");
        assert_eq!(u.transport(), Some("TCP"));
        assert_eq!(u.user_param(), Some("phone"));
        assert_eq!(u.maddr(), Some(Host::V4(Ipv4Addr::new(239, 255, 255, 1))));
        assert_eq!(u.ttl(), Some(15));
        assert_eq!(u.method(), Some("INVITE"));
        assert!(u.lr());
        assert_eq!(u.gr(), Some(None));
        assert_eq!(u.param("missing"), None);
        assert!(u.is_secure());
        assert_eq!(u.default_port(), 5061);
        assert_eq!(u.port_or_default(), 5061);

        let plain = sip("sip:alice@atlanta.com:5080;gr=urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6");
        assert_eq!(plain.gr(), Some(Some("urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6")));
        assert!(!plain.lr());
        assert!(!plain.is_secure());
        assert_eq!(plain.default_port(), 5060);
        assert_eq!(plain.port_or_default(), 5080);
        assert_eq!(
            (plain.transport(), plain.user_param(), plain.maddr(), plain.ttl(), plain.method()),
            (None, None, None, None, None)
        );
    }

    #[test]
    fn first_occurrence_of_a_repeated_parameter_wins() {
        let u = sip("sip:h;transport=udp;transport=tcp");
        assert_eq!(u.transport(), Some("udp"));
        assert!(!equivalent("sip:h;transport=udp;transport=tcp", "sip:h;transport=tcp"));
        assert!(equivalent("sip:h;transport=udp;transport=tcp", "sip:h;transport=udp"));
    }

    #[test]
    fn unescaped_user_borrows_unless_escaped() {
        assert!(matches!(sip("sip:alice@h").user_unescaped(), Some(Cow::Borrowed("alice"))));
        assert!(matches!(sip("sip:%61lice@h").user_unescaped(), Some(Cow::Owned(ref s)) if s == "alice"));
        assert_eq!(sip("sip:h").user_unescaped(), None);
        assert_eq!(sip("sip:%FF@h").user_unescaped().as_deref(), Some("\u{FFFD}"));
        assert_eq!(sip("sip:a:p%40ss@h").password_unescaped().as_deref(), Some("p@ss"));
    }

    /// RFC 3261 §19.1.4: "The URIs within each of the following sets are equivalent".
    #[test]
    fn rfc3261_19_1_4_equivalent_examples() {
        assert!(equivalent("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"));
        assert!(equivalent("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"));
        assert!(equivalent("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"));
        assert!(equivalent("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"));
        assert!(equivalent(
            "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
            "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"
        ));
        assert!(equivalent(
            "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
            "sip:alice@atlanta.com?priority=urgent&subject=project%20x"
        ));
    }

    /// RFC 3261 §19.1.4: "The URIs within each of the following sets are not equivalent".
    #[test]
    fn rfc3261_19_1_4_non_equivalent_examples() {
        assert!(!equivalent("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"));
        assert!(!equivalent("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"));
        assert!(!equivalent("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"));
        assert!(!equivalent("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"));
        assert!(!equivalent("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"));
        assert!(!equivalent("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"));
    }

    #[test]
    fn rfc3261_19_1_4_sip_and_sips_never_match() {
        assert!(!equivalent("sip:alice@atlanta.com", "sips:alice@atlanta.com"));
        assert!(equivalent("SIPS:alice@atlanta.com", "sips:alice@atlanta.com"));
    }

    #[test]
    fn rfc3261_19_1_4_userinfo_presence_and_case() {
        assert!(!equivalent("sip:atlanta.com", "sip:alice@atlanta.com"));
        assert!(!equivalent("sip:alice@atlanta.com", "sip:alice:pw@atlanta.com"));
        assert!(!equivalent("sip:alice:pw@atlanta.com", "sip:alice:PW@atlanta.com"));
        assert!(equivalent("sip:alice:@atlanta.com", "sip:alice:@atlanta.com"));
        assert!(!equivalent("sip:alice:@atlanta.com", "sip:alice@atlanta.com"));
        assert!(equivalent("sip:alice:p%77@atlanta.com", "sip:alice:pw@atlanta.com"));
        // Escapes compare by the octet, whatever the case of their hex digits.
        assert!(equivalent("sip:%4a@h", "sip:%4A@h"));
        assert!(equivalent("sip:%4a@h", "sip:J@h"));
        assert!(!equivalent("sip:%4a@h", "sip:j@h"));
    }

    #[test]
    fn rfc3261_19_1_4_escaped_reserved_characters_stay_distinct() {
        assert!(!equivalent("sip:user;par=x@example.com", "sip:user%3Bpar=x@example.com"));
        assert!(!equivalent("sip:+1212@h", "sip:%2B1212@h"));
        assert!(equivalent("sip:a%3bb@h", "sip:a%3Bb@h"));
        assert!(!equivalent("sip:h?a=x%3Fy", "sip:h?a=x?y"));
    }

    #[test]
    fn rfc3261_19_1_4_parameters_present_in_one_uri() {
        for known in ["user=phone", "ttl=1", "method=INVITE", "maddr=192.0.2.1", "transport=udp"] {
            assert!(!equivalent("sip:a@h", &format!("sip:a@h;{known}")), "{known}");
        }
        assert!(equivalent("sip:a@h;lr", "sip:a@h"));
        assert!(equivalent("sip:a@h;x=1", "sip:a@h;y=2"));
        assert!(!equivalent("sip:a@h;x=1", "sip:a@h;x=2"));
        assert!(!equivalent("sip:a@h;x", "sip:a@h;x=1"));
        assert!(equivalent("sip:a@h;X=ABC", "sip:a@h;x=abc"));
        assert!(!equivalent("sip:a@h;method=INVITE", "sip:a@h;method=invite"), "methods are case-sensitive");
        assert!(equivalent("sip:a@h;maddr=EXAMPLE.com", "sip:a@h;maddr=example.COM"));
        assert!(equivalent("sip:a@h;maddr=[2001:db8::1]", "sip:a@h;maddr=[2001:db8:0::1]"));
    }

    #[test]
    fn rfc3261_19_1_4_headers_compare_as_a_set() {
        assert!(equivalent("sip:h?a=1&b=2", "sip:h?B=2&A=1"));
        assert!(!equivalent("sip:h?a=1&b=2", "sip:h?a=1"));
        assert!(!equivalent("sip:h?a=1&a=1&b=2", "sip:h?a=1&b=2&b=2"));
        assert!(equivalent("sip:h?a=1&a=1&b=2", "sip:h?a=1&b=2&a=1"));
        assert!(!equivalent("sip:h?a=x", "sip:h?a=X"));
        assert!(equivalent("sip:h?subject=%61", "sip:h?subject=a"));
    }

    #[test]
    fn host_comparison_rfc3261_19_1_4() {
        assert!(equivalent("sip:a@EXAMPLE.com", "sip:a@example.COM"));
        assert!(equivalent("sip:a@[2001:DB8::1]", "sip:a@[2001:db8:0:0::1]"));
        assert!(!equivalent("sip:a@example.com", "sip:a@example.com."));
    }

    #[test]
    fn rfc3966_examples_parse() {
        let global = tel("tel:+1-201-555-0123");
        assert!(global.is_global());
        assert_eq!(global.digits(), "+12015550123");
        assert_eq!(global.phone_context(), None);

        let local = tel("tel:7042;phone-context=example.com");
        assert!(!local.is_global());
        assert!(matches!(local.digits(), Cow::Borrowed("7042")));
        assert_eq!(local.phone_context(), Some("example.com"));

        let prefixed = tel("tel:863-1234;phone-context=+1-914-555");
        assert_eq!(prefixed.digits(), "8631234");
        assert_eq!(prefixed.phone_context(), Some("+1-914-555"));
    }

    #[test]
    fn rfc3966_parameters() {
        let u = tel("tel:+1-201-555-0123;ext=1234;isub=abc/d?e@f;x-foo=bar;flag");
        assert_eq!(u.ext(), Some("1234"));
        assert_eq!(u.isub(), Some("abc/d?e@f"));
        assert_eq!(u.param("X-FOO"), Some(Some("bar")));
        assert_eq!(u.param("flag"), Some(None));
        assert_eq!(u.iter_params().count(), 4);
        assert_eq!(tel("tel:*67#;phone-context=example.com").digits(), "*67#");
        assert_eq!(tel("tel:(0)1-AB;phone-context=+33").digits(), "01AB");
    }

    #[test]
    fn rfc3966_malformed_tel_uris_are_rejected() {
        for s in [
            "tel:",
            "tel:+",
            "tel:+-",
            "tel:+1a",
            "tel:1234",
            "tel:;phone-context=example.com",
            "tel:+1;;ext=1",
            "tel:+1;",
            "tel:+1;ext=",
            "tel:+1;ext=abc",
            "tel:+1;ext",
            "tel:+1;isub",
            "tel:1;phone-context",
            "tel:1;phone-context=192.0.2.1",
            "tel:1;phone-context=a;phone-context=b",
            "tel:+1;x_y=1",
            "tel:+1 234",
            "tel:12g;phone-context=example.com",
            "tel:+1;x=a\"b",
        ] {
            rejects(s);
        }
    }

    #[test]
    fn rfc3966_4_equivalence() {
        assert!(equivalent("tel:+1-201-555-0123", "tel:+1(201)555.0123"));
        assert!(equivalent("tel:+12015550123;ext=12;x=1", "TEL:+1-201-555-0123;x=1;EXT=1-2"));
        assert!(equivalent("tel:7042;phone-context=EXAMPLE.com", "tel:70-42;phone-context=example.COM"));
        assert!(equivalent("tel:863-1234;phone-context=+1-914-555", "tel:8631234;phone-context=+1914555"));
        assert!(equivalent("tel:ab;phone-context=+1", "tel:AB;phone-context=+1"));
        assert!(!equivalent("tel:+1-201-555-0123", "tel:+1-201-555-0124"));
        assert!(!equivalent("tel:+1-201-555-0123", "tel:+1-201-555-0123;ext=1"));
        assert!(!equivalent("tel:+1-201-555-0123;x", "tel:+1-201-555-0123;x=1"));
        assert!(!equivalent("tel:1234;phone-context=+1", "tel:+11234"));
        assert!(!equivalent("tel:1234;phone-context=example.com", "tel:1234;phone-context=+1"));
        assert!(!equivalent("tel:+1234", "sip:+1234@example.com;user=phone"));
    }

    #[test]
    fn absolute_uri_equivalence() {
        assert!(equivalent("HTTP://example.com/a%62c", "http://example.com/abc"));
        assert!(!equivalent("http://example.com/abc", "http://example.com/ABC"));
        assert!(!equivalent("http://example.com/a%2Fb", "http://example.com/a/b"));
    }

    #[test]
    fn escape_and_unescape() {
        assert!(matches!(unescape("alice"), Ok(Cow::Borrowed("alice"))));
        assert_eq!(unescape("a%20b%2fc").as_deref(), Ok("a b/c"));
        assert_eq!(unescape("%00").as_deref(), Ok("\0"));
        assert_eq!(unescape("%C3%A9").as_deref(), Ok("é"));
        assert_eq!(unescape("%G1"), Err(Error::BadUri("malformed %-escape")));
        assert_eq!(unescape("%4"), Err(Error::BadUri("malformed %-escape")));
        assert_eq!(unescape("%FF"), Err(Error::BadUri("%-escapes do not decode to UTF-8")));

        assert!(matches!(escape("alice;x=1", is_user_char), Cow::Borrowed(_)));
        assert_eq!(escape("a b@c%d", is_user_char), "a%20b%40c%25d");
        assert_eq!(escape("é", is_user_char), "%C3%A9");
        assert_eq!(escape("a;b=c", is_param_char), "a%3Bb%3Dc");
        assert_eq!(escape("a:b", is_password_char), "a%3Ab");
        assert_eq!(escape("<sip:x>", is_header_char), "%3Csip:x%3E");
        let user = "odd \"user\"@#;%";
        let escaped = escape(user, is_user_char);
        let uri = format!("sip:{escaped}@example.com");
        assert_eq!(sip(&uri).user_unescaped().as_deref(), Some(user));
    }

    #[test]
    fn predicates_follow_rfc3261_25_1() {
        for b in b"abcXYZ019-_.!~*'()" {
            assert!(
                is_user_char(*b) && is_password_char(*b) && is_param_char(*b) && is_header_char(*b),
                "{}",
                *b as char
            );
        }
        for b in b"&=+$,;?/" {
            assert!(is_user_char(*b), "{}", *b as char);
        }
        for b in b"[]/:&+$" {
            assert!(is_param_char(*b), "{}", *b as char);
        }
        for b in b"[]/?:+$" {
            assert!(is_header_char(*b), "{}", *b as char);
        }
        for b in b"%@:<>\" #\0\x7f" {
            assert!(!is_user_char(*b), "{}", *b as char);
        }
        assert!(!is_param_char(b';') && !is_param_char(b'=') && !is_header_char(b'&') && !is_password_char(b':'));
    }

    #[test]
    fn display_writes_the_uri_back() {
        for s in [
            "sip:alice:secretword@atlanta.com:5070;transport=tcp;lr?subject=project%20x&priority=urgent",
            "sips:1212@gateway.com",
            "sip:[2001:db8::10]:5070;maddr=[2001:db8::20]",
            "sip:user;par=u%40example.net@example.com",
            "tel:+1-201-555-0123;ext=12",
            "tel:7042;phone-context=example.com",
            "soap.beep://192.0.2.103:3002",
        ] {
            assert_eq!(Uri::parse(s).expect("parses").to_string(), s);
        }
        assert_eq!(sip("SIP:a@[2001:DB8:0::10]").to_string(), "sip:a@[2001:db8::10]");
        assert_eq!(tel("TEL:+1").to_string(), "tel:+1");
        let reparsed = sip("sip:[2001:db8:::192.0.2.1]").to_string();
        assert!(sip(&reparsed).equivalent(&sip("sip:[2001:db8:::192.0.2.1]")));
    }

    #[test]
    fn typed_parse_rejects_other_schemes() {
        assert_eq!(SipUri::parse("tel:+1"), Err(Error::BadUri("not a sip or sips URI")));
        assert_eq!(TelUri::parse("sip:a@b"), Err(Error::BadUri("not a tel URI")));
        assert!(Uri::parse("tel:+1").expect("parses").as_tel().is_some());
        assert!(Uri::parse("tel:+1").expect("parses").as_sip().is_none());
    }

    #[test]
    fn hand_built_params_with_empty_elements_do_not_confuse_accessors() {
        let u = SipUri { params: Params::new(";;lr;"), headers: Some("&&a=b&"), ..sip("sip:h") };
        assert!(u.lr());
        assert_eq!(u.iter_params().count(), 1);
        assert_eq!(u.iter_headers().collect::<Vec<_>>(), [("a", "b")]);
    }

    #[test]
    fn long_parameter_and_header_lists_compare_like_short_ones() {
        let names: Vec<String> = (0..40).map(|i| format!("p{i}=v{i}")).collect();
        let forward = format!("sip:a@h;{}", names.join(";"));
        let backward = format!("sip:a@h;{}", names.iter().rev().cloned().collect::<Vec<_>>().join(";"));
        assert!(equivalent(&forward, &backward));
        assert!(!equivalent(&forward, &format!("{backward};ttl=1")));
        assert!(equivalent(&forward, &format!("{backward};extra")));
        assert!(!equivalent(&forward, &backward.replace("sip:a@h;", "sip:a@h;P3=other;")), "the first P3 differs");
        assert!(equivalent(&format!("{forward};p3=v3"), &backward), "only the first p3 counts");
        assert!(!equivalent(&format!("sip:a@h;p3=x;{}", names.join(";")), &backward));

        let fields: Vec<String> = (0..40).map(|i| format!("h{}=v", i % 7)).collect();
        let forward = format!("sip:a@h?{}", fields.join("&"));
        let backward = format!("sip:a@h?{}", fields.iter().rev().cloned().collect::<Vec<_>>().join("&"));
        assert!(equivalent(&forward, &backward));
        let mut changed = fields.clone();
        changed[0] = "h1=v".to_string();
        assert!(!equivalent(&forward, &format!("sip:a@h?{}", changed.join("&"))));
    }

    proptest::proptest! {
        /// The pairwise and the sorted comparisons are two ways of computing the same relation.
        #[test]
        fn pairwise_and_sorted_comparisons_agree(
            a in proptest::collection::vec("(ttl|lr|x|X|%78|y)(=(1|2|%31|a|A))?", 0..8),
            b in proptest::collection::vec("(ttl|lr|x|X|%78|y)(=(1|2|%31|a|A))?", 0..8),
            ha in proptest::collection::vec("(h|H|%68|k)=(1|%31|a|A)?", 0..6),
            hb in proptest::collection::vec("(h|H|%68|k)=(1|%31|a|A)?", 0..6),
        ) {
            let (a, b) = (a.join(";"), b.join(";"));
            for rules in [&SIP_PARAM_RULES, &TEL_PARAM_RULES] {
                proptest::prop_assert_eq!(rules.equivalent_pairwise(&a, &b), rules.equivalent_sorted(&a, &b), "{} vs {}", a, b);
            }
            let (ha, hb) = (ha.join("&"), hb.join("&"));
            if header_fields(&ha).count() == header_fields(&hb).count() {
                proptest::prop_assert_eq!(headers_equivalent_pairwise(&ha, &hb), headers_equivalent_sorted(&ha, &hb), "{} vs {}", ha, hb);
            }
        }
    }
}
