//! SIP request methods.

use std::fmt;

/// A request method. Methods are case-sensitive (RFC 3261 §7.1): `invite` is an extension method, not INVITE.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// RFC 3261
    Invite,
    /// RFC 3261
    Ack,
    /// RFC 3261
    Bye,
    /// RFC 3261
    Cancel,
    /// RFC 3261
    Register,
    /// RFC 3261
    Options,
    /// RFC 6086
    Info,
    /// RFC 3262
    Prack,
    /// RFC 6665
    Subscribe,
    /// RFC 6665
    Notify,
    /// RFC 3311
    Update,
    /// RFC 3428
    Message,
    /// RFC 3515
    Refer,
    /// RFC 3903
    Publish,
    /// Any other token.
    Extension(Box<str>),
}

impl Method {
    /// Maps a token to a method; `None` when `s` is not a token.
    pub fn parse(s: &str) -> Option<Method> {
        Some(match s {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "REGISTER" => Method::Register,
            "OPTIONS" => Method::Options,
            "INFO" => Method::Info,
            "PRACK" => Method::Prack,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            "UPDATE" => Method::Update,
            "MESSAGE" => Method::Message,
            "REFER" => Method::Refer,
            "PUBLISH" => Method::Publish,
            other if crate::text::is_token(other) => Method::Extension(other.into()),
            _ => return None,
        })
    }

    /// The method as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Register => "REGISTER",
            Method::Options => "OPTIONS",
            Method::Info => "INFO",
            Method::Prack => "PRACK",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Update => "UPDATE",
            Method::Message => "MESSAGE",
            Method::Refer => "REFER",
            Method::Publish => "PUBLISH",
            Method::Extension(s) => s,
        }
    }

    /// Whether this is a method the crate knows (not an extension).
    pub fn is_known(&self) -> bool {
        !matches!(self, Method::Extension(_))
    }

    /// Whether `s` (a method as written) equals this method.
    pub fn is(&self, s: &str) -> bool {
        self.as_str() == s
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
