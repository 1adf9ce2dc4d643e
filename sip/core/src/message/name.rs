//! Header names: the headers Carillon understands, their compact forms, and case-insensitive recognition.

use std::fmt;

macro_rules! header_names {
    ($($variant:ident = $text:literal $(, compact $compact:literal)?;)*) => {
        /// A header the library knows by name, or [`HeaderName::Other`] for any extension header (whose name is
        /// kept as written in the message). Recognition is case-insensitive and accepts compact forms.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum HeaderName {
            $(#[doc = $text] $variant,)*
            /// Any header not listed above.
            Other,
        }

        impl HeaderName {
            /// The canonical (long) form of the name; `"extension header"` for [`HeaderName::Other`].
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(HeaderName::$variant => $text,)*
                    HeaderName::Other => "extension header",
                }
            }

            /// Every known name, for tests and tables.
            pub const ALL: &'static [HeaderName] = &[$(HeaderName::$variant,)*];

            pub(crate) const fn malformed_phrase(self) -> &'static str {
                match self {
                    $(HeaderName::$variant => concat!("Malformed ", $text),)*
                    HeaderName::Other => "Malformed Header",
                }
            }

            pub(crate) const fn missing_phrase(self) -> &'static str {
                match self {
                    $(HeaderName::$variant => concat!("Missing ", $text),)*
                    HeaderName::Other => "Missing Header",
                }
            }

            pub(crate) const fn duplicate_phrase(self) -> &'static str {
                match self {
                    $(HeaderName::$variant => concat!("Multiple ", $text, " Values"),)*
                    HeaderName::Other => "Multiple Header Values",
                }
            }

            /// The compact form (RFC 3261 §7.3.3 and later RFCs), if the header has one.
            pub const fn compact(self) -> Option<char> {
                match self {
                    $($(HeaderName::$variant => Some($compact),)?)*
                    _ => None,
                }
            }
        }

        fn classify_long(name: &[u8]) -> HeaderName {
            // Grouping by length first keeps recognition to one or two comparisons per header line.
            $(
                if name.len() == $text.len() && name.eq_ignore_ascii_case($text.as_bytes()) {
                    return HeaderName::$variant;
                }
            )*
            HeaderName::Other
        }
    };
}

header_names! {
    Accept = "Accept";
    AcceptContact = "Accept-Contact", compact 'a';
    AcceptEncoding = "Accept-Encoding";
    AcceptLanguage = "Accept-Language";
    AlertInfo = "Alert-Info";
    Allow = "Allow";
    AllowEvents = "Allow-Events", compact 'u';
    AuthenticationInfo = "Authentication-Info";
    Authorization = "Authorization";
    CallId = "Call-ID", compact 'i';
    CallInfo = "Call-Info";
    Contact = "Contact", compact 'm';
    ContentDisposition = "Content-Disposition";
    ContentEncoding = "Content-Encoding", compact 'e';
    ContentLanguage = "Content-Language";
    ContentLength = "Content-Length", compact 'l';
    ContentType = "Content-Type", compact 'c';
    CSeq = "CSeq";
    Date = "Date";
    ErrorInfo = "Error-Info";
    Event = "Event", compact 'o';
    Expires = "Expires";
    FlowTimer = "Flow-Timer";
    From = "From", compact 'f';
    Identity = "Identity", compact 'y';
    InReplyTo = "In-Reply-To";
    MaxForwards = "Max-Forwards";
    MimeVersion = "MIME-Version";
    MinExpires = "Min-Expires";
    MinSe = "Min-SE";
    Organization = "Organization";
    PAssertedIdentity = "P-Asserted-Identity";
    PPreferredIdentity = "P-Preferred-Identity";
    Path = "Path";
    Priority = "Priority";
    Privacy = "Privacy";
    ProxyAuthenticate = "Proxy-Authenticate";
    ProxyAuthorization = "Proxy-Authorization";
    ProxyRequire = "Proxy-Require";
    RAck = "RAck";
    Reason = "Reason";
    RecordRoute = "Record-Route";
    ReferTo = "Refer-To", compact 'r';
    ReferredBy = "Referred-By", compact 'b';
    RejectContact = "Reject-Contact", compact 'j';
    Replaces = "Replaces";
    ReplyTo = "Reply-To";
    RequestDisposition = "Request-Disposition", compact 'd';
    Require = "Require";
    RetryAfter = "Retry-After";
    Route = "Route";
    RSeq = "RSeq";
    Server = "Server";
    ServiceRoute = "Service-Route";
    SessionExpires = "Session-Expires", compact 'x';
    Subject = "Subject", compact 's';
    SubscriptionState = "Subscription-State";
    Supported = "Supported", compact 'k';
    Timestamp = "Timestamp";
    To = "To", compact 't';
    Unsupported = "Unsupported";
    UserAgent = "User-Agent";
    Via = "Via", compact 'v';
    Warning = "Warning";
    WwwAuthenticate = "WWW-Authenticate";
}

impl HeaderName {
    /// Recognises a header name as written (any case, long or compact form).
    pub fn from_bytes(name: &[u8]) -> HeaderName {
        match name {
            [c] => classify_compact(c.to_ascii_lowercase()),
            // The hot headers first: they make up most lines of every message.
            _ if name.len() == 3 && name.eq_ignore_ascii_case(b"Via") => HeaderName::Via,
            _ if name.len() == 4 && name.eq_ignore_ascii_case(b"From") => HeaderName::From,
            _ if name.len() == 2 && name.eq_ignore_ascii_case(b"To") => HeaderName::To,
            _ if name.len() == 7 && name.eq_ignore_ascii_case(b"Call-ID") => HeaderName::CallId,
            _ if name.len() == 4 && name.eq_ignore_ascii_case(b"CSeq") => HeaderName::CSeq,
            _ => classify_long(name),
        }
    }

    /// Recognises a header name as written (any case, long or compact form).
    #[allow(clippy::should_implement_trait)] // infallible, unlike FromStr
    pub fn from_str(name: &str) -> HeaderName {
        HeaderName::from_bytes(name.as_bytes())
    }

    /// Whether `written` (a name as it appears in a message) names this header.
    pub fn matches(self, written: &str) -> bool {
        self != HeaderName::Other && HeaderName::from_str(written) == self
    }

    /// Headers whose grammar allows a comma-separated list of values on one line (RFC 3261 §7.3.1). For the
    /// others (From, To, Call-ID, CSeq, dates, credentials...) a comma is part of the single value.
    pub const fn is_list(self) -> bool {
        matches!(
            self,
            HeaderName::Via
                | HeaderName::Contact
                | HeaderName::Route
                | HeaderName::RecordRoute
                | HeaderName::Path
                | HeaderName::ServiceRoute
                | HeaderName::Allow
                | HeaderName::AllowEvents
                | HeaderName::Supported
                | HeaderName::Require
                | HeaderName::ProxyRequire
                | HeaderName::Unsupported
                | HeaderName::Accept
                | HeaderName::AcceptEncoding
                | HeaderName::AcceptLanguage
                | HeaderName::ContentEncoding
                | HeaderName::ContentLanguage
                | HeaderName::AlertInfo
                | HeaderName::CallInfo
                | HeaderName::ErrorInfo
                | HeaderName::InReplyTo
                | HeaderName::Warning
                | HeaderName::Reason
                | HeaderName::PAssertedIdentity
                | HeaderName::PPreferredIdentity
                | HeaderName::Privacy
                | HeaderName::AcceptContact
                | HeaderName::RejectContact
                | HeaderName::RequestDisposition
        )
    }
}

fn classify_compact(c: u8) -> HeaderName {
    match c {
        b'a' => HeaderName::AcceptContact,
        b'b' => HeaderName::ReferredBy,
        b'c' => HeaderName::ContentType,
        b'd' => HeaderName::RequestDisposition,
        b'e' => HeaderName::ContentEncoding,
        b'f' => HeaderName::From,
        b'i' => HeaderName::CallId,
        b'j' => HeaderName::RejectContact,
        b'k' => HeaderName::Supported,
        b'l' => HeaderName::ContentLength,
        b'm' => HeaderName::Contact,
        b'o' => HeaderName::Event,
        b'r' => HeaderName::ReferTo,
        b's' => HeaderName::Subject,
        b't' => HeaderName::To,
        b'u' => HeaderName::AllowEvents,
        b'v' => HeaderName::Via,
        b'x' => HeaderName::SessionExpires,
        b'y' => HeaderName::Identity,
        _ => HeaderName::Other,
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips_in_any_case() {
        for &name in HeaderName::ALL {
            assert_eq!(HeaderName::from_str(name.as_str()), name);
            assert_eq!(HeaderName::from_str(&name.as_str().to_ascii_uppercase()), name);
            assert_eq!(HeaderName::from_str(&name.as_str().to_ascii_lowercase()), name);
            if let Some(c) = name.compact() {
                assert_eq!(HeaderName::from_str(&c.to_string()), name);
                assert_eq!(HeaderName::from_str(&c.to_ascii_uppercase().to_string()), name);
            }
        }
    }

    #[test]
    fn unknown_names_are_other() {
        assert_eq!(HeaderName::from_str("NewFangledHeader"), HeaderName::Other);
        assert_eq!(HeaderName::from_str("q"), HeaderName::Other);
        assert!(!HeaderName::Other.matches("X-Anything"));
    }
}
