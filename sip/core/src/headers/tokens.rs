//! Lists of tokens spread over every line of a header: option tags (Supported, Require, Proxy-Require,
//! Unsupported: RFC 3261 §20.37, §20.32, §20.29, §20.40), event types (Allow-Events, RFC 6665 §8.2.2), methods
//! (Allow, RFC 3261 §20.5) and priv-values (Privacy, RFC 3323 §4.2 and RFC 3325 §9.3).

use super::event::is_event_type;
use crate::error::Error;
use crate::message::{HeaderName, Message, Method};
use crate::text::{is_token, split_commas, trim_lws};

/// The comma-separated elements of every line of `header`, trimmed, in order. Headers whose grammar allows an
/// empty list (`Supported:` alone says "no extensions") contribute nothing for an empty line, while an empty
/// element between commas is still yielded for the caller to reject. [`Message::header_values`] cannot tell
/// those apart, hence the walk over lines.
fn list_elements(message: &Message, header: HeaderName) -> impl Iterator<Item = &str> + '_ {
    let empty_list_allowed = matches!(
        header,
        HeaderName::Supported
            | HeaderName::Allow
            | HeaderName::Accept
            | HeaderName::AcceptEncoding
            | HeaderName::AcceptLanguage
    );
    message
        .header_lines(header)
        .filter(move |line| !(empty_list_allowed && trim_lws(line).is_empty()))
        .flat_map(split_commas)
}

/// The tokens of one list header of a message: option tags, or event types for Allow-Events.
#[derive(Debug, Clone, Copy)]
pub struct TokenList<'m> {
    message: &'m Message,
    header: HeaderName,
}

impl<'m> TokenList<'m> {
    /// The tokens of `header` in `message`, across all its lines.
    pub fn new(message: &'m Message, header: HeaderName) -> TokenList<'m> {
        TokenList { message, header }
    }

    /// Whether the message has the header at all (an absent Supported and an empty one differ).
    pub fn is_present(&self) -> bool {
        self.message.header(self.header).is_some()
    }

    /// Each element in order; an error for an empty element or one that is not a token (not an event-type,
    /// for Allow-Events).
    pub fn iter(&self) -> impl Iterator<Item = Result<&'m str, Error>> + 'm {
        let header = self.header;
        list_elements(self.message, header).map(move |t| {
            let valid = if header == HeaderName::AllowEvents { is_event_type(t) } else { is_token(t) };
            match t {
                "" => Err(Error::BadHeaderValue { name: header, reason: "empty list element" }),
                _ if valid => Ok(t),
                _ => Err(Error::BadHeaderValue { name: header, reason: "list element is not a token" }),
            }
        })
    }

    /// Checks every element.
    pub fn validate(&self) -> Result<(), Error> {
        self.iter().try_for_each(|t| t.map(drop))
    }

    /// Whether a well-formed element equals `token`, ignoring ASCII case.
    pub fn contains_ignore_case(&self, token: &str) -> bool {
        self.iter().filter_map(Result::ok).any(|t| t.eq_ignore_ascii_case(token))
    }
}

/// The methods of the Allow headers of a message. Methods are case-sensitive (RFC 3261 §7.1).
#[derive(Debug, Clone, Copy)]
pub struct Allow<'m> {
    message: &'m Message,
}

impl<'m> Allow<'m> {
    /// The Allow list of `message`.
    pub fn new(message: &'m Message) -> Allow<'m> {
        Allow { message }
    }

    /// Each method in order, extension methods included; an error for an element that is not a token.
    pub fn methods(&self) -> impl Iterator<Item = Result<Method, Error>> + 'm {
        list_elements(self.message, HeaderName::Allow)
            .map(|t| Method::parse(t).ok_or(Error::BadHeaderValue { name: HeaderName::Allow, reason: "not a method" }))
    }

    /// Whether `method` is listed; `None` without an Allow header, whose absence says nothing about what the
    /// sender supports (RFC 3261 §20.5).
    pub fn allows(&self, method: &Method) -> Option<bool> {
        self.message.header(HeaderName::Allow)?;
        Some(list_elements(self.message, HeaderName::Allow).any(|t| method.is(t)))
    }
}

/// One priv-value of a Privacy header (RFC 3323 §4.2, RFC 3325 §9.3). Values compare case-insensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivValue<'a> {
    /// `header`: hide headers that could identify the user.
    Header,
    /// `session`: hide the media session (anonymise it through a relay).
    Session,
    /// `user`: user-level privacy, applied by the user agent.
    User,
    /// `none`: no privacy function may be applied.
    None,
    /// `critical`: the request fails if the requested privacy cannot be provided.
    Critical,
    /// `id` (RFC 3325 §9.3): do not pass the asserted identity outside the trust domain.
    Id,
    /// Any other token, as written.
    Extension(&'a str),
}

impl<'a> PrivValue<'a> {
    /// Maps a priv-value token to its variant.
    pub fn from_token(t: &'a str) -> PrivValue<'a> {
        const KNOWN: [(&str, PrivValue<'static>); 6] = [
            ("header", PrivValue::Header),
            ("session", PrivValue::Session),
            ("user", PrivValue::User),
            ("none", PrivValue::None),
            ("critical", PrivValue::Critical),
            ("id", PrivValue::Id),
        ];
        KNOWN.iter().find(|(name, _)| name.eq_ignore_ascii_case(t)).map_or(PrivValue::Extension(t), |k| k.1)
    }

    /// Whether two values are the same priv-value (extension tokens compare case-insensitively).
    pub fn same_as(&self, other: &PrivValue<'_>) -> bool {
        match (self, other) {
            (PrivValue::Extension(a), PrivValue::Extension(b)) => a.eq_ignore_ascii_case(b),
            (PrivValue::Extension(_), _) | (_, PrivValue::Extension(_)) => false,
            _ => std::mem::discriminant(self) == std::mem::discriminant(other),
        }
    }
}

/// One Privacy value: `priv-value *(";" priv-value)`. Some senders separate priv-values with commas instead,
/// which [`Message::header_values`] splits into several values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Privacy<'a> {
    raw: &'a str,
}

impl<'a> Privacy<'a> {
    /// Parses one Privacy value.
    pub fn parse(v: &'a str) -> Result<Privacy<'a>, Error> {
        if v.split(';').all(|t| is_token(trim_lws(t))) {
            Ok(Privacy { raw: v })
        } else {
            Err(Error::BadHeaderValue { name: HeaderName::Privacy, reason: "priv-value is not a token" })
        }
    }

    /// The priv-values in order.
    pub fn values(&self) -> impl Iterator<Item = PrivValue<'a>> + 'a {
        self.raw.split(';').map(|t| PrivValue::from_token(trim_lws(t)))
    }

    /// Whether `value` is among the priv-values.
    pub fn contains(&self, value: &PrivValue<'_>) -> bool {
        self.values().any(|v| v.same_as(value))
    }

    /// Whether any Privacy value of `message` asks for `value`; an error if a Privacy value is malformed.
    pub fn requested(message: &Message, value: &PrivValue<'_>) -> Result<bool, Error> {
        let mut found = false;
        for v in message.header_values(HeaderName::Privacy) {
            found |= Privacy::parse(v)?.contains(value);
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn request(headers: &str) -> Message {
        let text = format!(
            "OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:a@example.com>\r\n\
             From: <sip:b@example.com>;tag=1\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n{headers}\
             Content-Length: 0\r\n\r\n"
        );
        Message::parse(Bytes::from(text)).expect("test message parses")
    }

    /// RFC 3261 §7.3.1: a list may be split over lines; tokens compare case-insensitively.
    #[test]
    fn option_tags_over_several_lines() {
        let m = request("Supported: 100rel ,\r\n timer\r\nk: Path, gruu\r\nRequire: replaces\r\n");
        let s = TokenList::new(&m, HeaderName::Supported);
        assert_eq!(s.iter().collect::<Result<Vec<_>, _>>(), Ok(vec!["100rel", "timer", "Path", "gruu"]));
        assert!(s.contains_ignore_case("path"));
        assert!(!s.contains_ignore_case("outbound"));
        assert!(TokenList::new(&m, HeaderName::Require).contains_ignore_case("REPLACES"));
        assert!(!TokenList::new(&m, HeaderName::ProxyRequire).is_present());
    }

    /// RFC 3261 §20.37: `Supported` may be empty; Require may not, and `a,,b` is malformed anywhere.
    #[test]
    fn empty_lists_and_elements() {
        let m = request("Supported: \r\nRequire:\r\nUnsupported: a,,b\r\nProxy-Require: sec agree\r\n");
        let s = TokenList::new(&m, HeaderName::Supported);
        assert!(s.is_present());
        assert_eq!(s.iter().count(), 0);
        assert!(TokenList::new(&m, HeaderName::Require).validate().is_err());
        assert!(TokenList::new(&m, HeaderName::Unsupported).validate().is_err());
        let e = TokenList::new(&m, HeaderName::ProxyRequire).validate().expect_err("space inside a token");
        assert_eq!(e, Error::BadHeaderValue { name: HeaderName::ProxyRequire, reason: "list element is not a token" });
    }

    /// RFC 6665 §8.2.2: Allow-Events lists event types, dotted templates included.
    #[test]
    fn allow_events_are_event_types() {
        let m = request("Allow-Events: presence, presence.winfo\r\nu: dialog\r\n");
        let list = TokenList::new(&m, HeaderName::AllowEvents);
        assert_eq!(list.iter().collect::<Result<Vec<_>, _>>(), Ok(vec!["presence", "presence.winfo", "dialog"]));
        let m = request("Allow-Events: presence..winfo\r\n");
        assert!(TokenList::new(&m, HeaderName::AllowEvents).validate().is_err());
    }

    /// RFC 3261 §20.5 and §7.1: Allow lists case-sensitive methods, extensions included.
    #[test]
    fn allow_methods() {
        let m = request("Allow: INVITE, ACK,OPTIONS\r\nAllow: \r\n  BYE , FOO, invite\r\n");
        let allow = Allow::new(&m);
        let methods = allow.methods().collect::<Result<Vec<_>, _>>().expect("valid");
        assert_eq!(methods.len(), 6);
        assert_eq!(methods[4], Method::Extension("FOO".into()));
        assert_eq!(allow.allows(&Method::Bye), Some(true));
        assert_eq!(allow.allows(&Method::Extension("FOO".into())), Some(true));
        assert_eq!(allow.allows(&Method::Register), Some(false));
        assert_eq!(Allow::new(&request("")).allows(&Method::Invite), None);
        assert_eq!(Allow::new(&request("Allow:\r\n")).allows(&Method::Invite), Some(false));
        assert!(Allow::new(&request("Allow: INVITE,\"BYE\"\r\n")).methods().any(|m| m.is_err()));
    }

    /// RFC 3323 §4.2 and RFC 3325 §9.3.
    #[test]
    fn rfc3323_privacy() {
        let p = Privacy::parse(" id ;\r\n Critical;user;x-vendor").expect("valid");
        assert!(p.contains(&PrivValue::Id));
        assert!(p.contains(&PrivValue::Critical));
        assert!(p.contains(&PrivValue::Extension("X-VENDOR")));
        assert!(!p.contains(&PrivValue::Header));
        assert_eq!(p.values().count(), 4);
        assert_eq!(Privacy::parse("none").expect("valid").values().collect::<Vec<_>>(), [PrivValue::None]);
        for v in ["", "id;", ";id", "id;;user", "i d", "\"id\""] {
            assert!(Privacy::parse(v).is_err(), "{v:?}");
        }
        let m = request("Privacy: header;session\r\nPrivacy: user, id\r\n");
        assert_eq!(Privacy::requested(&m, &PrivValue::Id), Ok(true));
        assert_eq!(Privacy::requested(&m, &PrivValue::Session), Ok(true));
        assert_eq!(Privacy::requested(&m, &PrivValue::None), Ok(false));
        assert!(Privacy::requested(&request("Privacy: id;;\r\n"), &PrivValue::Id).is_err());
    }
}
