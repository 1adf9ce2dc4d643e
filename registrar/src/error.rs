//! Why a REGISTER is refused, and the one map from a refusal to the status it is answered with.

use std::fmt;

use carillon_sip::{Error, StatusCode};

/// Why the registrar refused a REGISTER. [`Rejection::status`] is the only place that picks the answer.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The request is malformed for a registrar: a header it relies on does not parse, `Contact: *` is misused
    /// (§10.3 step 6), a contact is not a SIP URI, several non-zero contacts carry a reg-id (RFC 5626 §6), or a
    /// value is longer than the registrar stores. Answered with the error's own status (400 in practice).
    Malformed(Error),
    /// The authenticated user may not change the bindings of this AOR (RFC 3261 §10.3 step 4): 403.
    Forbidden,
    /// The To URI is not an address-of-record of this registrar (§10.3 step 5): 404.
    NotFound,
    /// A requested expiry is non-zero and shorter than both an hour and the configured minimum (§10.3 step 7):
    /// 423 with Min-Expires.
    IntervalTooBrief {
        /// The minimum, for the Min-Expires header.
        min_expires: u32,
    },
    /// A binding was last updated by this Call-ID with a CSeq not lower than the request's: the request is out
    /// of order (§10.3 step 7, and step 6 for `*`). RFC 3261 makes the request fail with 500 and leaves every
    /// binding as it was.
    OutOfOrder,
    /// The AOR would hold more bindings than the configured maximum, or the request carries more contacts than
    /// the registrar reads. 403: refusing is a policy decision that retrying will not change, whereas 503 would
    /// send the phone to another server (RFC 3263) to be refused again.
    TooManyContacts {
        /// The limit that was hit.
        limit: usize,
    },
    /// The store holds [`crate::Limits::max_bindings`] bindings: 503, the server's condition rather than the
    /// user's.
    StoreFull,
    /// The request asks for outbound (reg-id and `Supported: outbound`), but it did not come directly from the
    /// user agent and the first Path value lacks `ob`: the edge proxy cannot keep the flow (RFC 5626 §6): 439.
    FirstHopLacksOutbound,
}

impl Rejection {
    /// The status and reason phrase to answer with.
    pub fn status(&self) -> (StatusCode, &'static str) {
        match self {
            Rejection::Malformed(e) => (e.status_code(), e.reason_phrase()),
            Rejection::Forbidden => (StatusCode::FORBIDDEN, "Forbidden"),
            Rejection::NotFound => (StatusCode::NOT_FOUND, "Not Found"),
            Rejection::IntervalTooBrief { .. } => (StatusCode::INTERVAL_TOO_BRIEF, "Interval Too Brief"),
            Rejection::OutOfOrder => (StatusCode::SERVER_INTERNAL_ERROR, "Registration Out Of Order"),
            Rejection::TooManyContacts { .. } => (StatusCode::FORBIDDEN, "Too Many Registrations"),
            Rejection::StoreFull => (StatusCode::SERVICE_UNAVAILABLE, "Registration Store Full"),
            Rejection::FirstHopLacksOutbound => {
                (StatusCode::FIRST_HOP_LACKS_OUTBOUND_SUPPORT, "First Hop Lacks Outbound Support")
            }
        }
    }
}

impl From<Error> for Rejection {
    fn from(e: Error) -> Rejection {
        Rejection::Malformed(e)
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Malformed(e) => write!(f, "malformed REGISTER: {e}"),
            Rejection::IntervalTooBrief { min_expires } => {
                write!(f, "requested expiry shorter than the minimum of {min_expires} s")
            }
            Rejection::TooManyContacts { limit } => write!(f, "more than {limit} contacts"),
            other => f.write_str(&other.status().1.to_ascii_lowercase()),
        }
    }
}

impl std::error::Error for Rejection {}

#[cfg(test)]
mod tests {
    use carillon_sip::HeaderName;

    use super::*;

    #[test]
    fn each_refusal_has_its_rfc_status() {
        let code = |r: Rejection| r.status().0.as_u16();
        assert_eq!(code(Rejection::Malformed(Error::MissingHeader(HeaderName::CallId))), 400);
        assert_eq!(code(Rejection::Forbidden), 403);
        assert_eq!(code(Rejection::NotFound), 404);
        assert_eq!(code(Rejection::IntervalTooBrief { min_expires: 60 }), 423);
        assert_eq!(code(Rejection::OutOfOrder), 500);
        assert_eq!(code(Rejection::TooManyContacts { limit: 10 }), 403);
        assert_eq!(code(Rejection::StoreFull), 503);
        assert_eq!(code(Rejection::FirstHopLacksOutbound), 439);
    }
}
