//! The crate's one error type and the one map from an error to what the receiving element must do.
//!
//! Every failure to parse or validate a message is an [`Error`]. [`Error::disposition`] is the only place that
//! decides the answer (RFC 3261 §8.2, §16.3, §18.3 and the verdicts of RFC 4475): a bad request gets the status
//! code its fault calls for, a bad response is dropped silently, because answering a response is never allowed.

use std::fmt;

use crate::message::{HeaderName, StatusCode};

/// Why a message could not be parsed or must not be processed.
///
/// Variants are grouped by the status a request with that fault is answered with; see [`Error::status_code`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The input holds no start line at all (empty, or only whitespace).
    Empty,
    /// The header section never ends: no empty line before the input does (a datagram cut short, or a stream
    /// still waiting for bytes when it was closed).
    Truncated,
    /// The start line is neither `Method SP Request-URI SP SIP-Version` nor `SIP-Version SP Status-Code SP
    /// Reason-Phrase` (extra spaces, trailing spaces and embedded whitespace are faults too).
    BadStartLine,
    /// The method is not a token.
    BadMethod,
    /// The start line names a SIP version other than 2.0 (answered with 505).
    VersionNotSupported,
    /// A response's status code is not three digits between 100 and 699.
    BadStatusCode,
    /// A line of the header section has no colon, or its name is not a token.
    BadHeaderLine,
    /// The header section is not valid UTF-8.
    InvalidUtf8,
    /// A header value does not match the grammar of its header.
    BadHeaderValue {
        /// The header whose value is malformed.
        name: HeaderName,
        /// What is wrong with it, for logs and the reason phrase.
        reason: &'static str,
    },
    /// A header required in every request (To, From, Call-ID, CSeq, Via) is missing.
    MissingHeader(HeaderName),
    /// A header that may appear only once carries several values.
    DuplicateHeader(HeaderName),
    /// Content-Length is not a decimal number that fits in 32 bits (negative values included).
    BadContentLength,
    /// Several Content-Length headers with different values.
    ConflictingContentLength,
    /// Content-Length promises more body octets than the datagram holds.
    BodyTruncated,
    /// A message on a stream transport without Content-Length (RFC 3261 §18.3 requires it there).
    MissingContentLength,
    /// A URI does not match the grammar of its scheme (`sip:`, `sips:`, `tel:`, or RFC 3986 absolute URI).
    BadUri(&'static str),
    /// The Request-URI is not a URI (angle brackets, embedded whitespace, escaped headers, bad syntax).
    BadRequestUri,
    /// The CSeq method differs from the request method.
    CSeqMethodMismatch,
    /// The CSeq method differs from the request method and the method is unknown (RFC 4475 §3.1.2.18: 501).
    UnknownMethodMismatch,
    /// The method is known but not served by this element (answered with 405 and Allow).
    MethodNotAllowed,
    /// The method is not one this user agent server implements (answered with 501 and Allow).
    NotImplemented,
    /// The body's Content-Type (or encoding) is not one this element understands (answered with 415 and Accept).
    UnsupportedMediaType,
    /// The Accept header excludes every body type this element could answer with (answered with 406).
    NotAcceptable,
    /// The Request-URI scheme is one this element does not serve (answered with 416).
    UnsupportedUriScheme,
    /// The request requires extensions this element does not support (answered with 420 and Unsupported).
    BadExtension(Vec<String>),
    /// Max-Forwards reached zero at a proxy (answered with 483).
    TooManyHops,
    /// The request has been seen before through another path, or loops (answered with 482).
    LoopDetected,
    /// The operation does not apply to this message: a response where a request is needed, an ACK handed to a
    /// transaction, a CANCEL built from something other than an INVITE. A caller's mistake, never a peer's; if
    /// it ever reaches the wire it is answered with 500.
    NotApplicable(&'static str),
    /// A client transaction with this branch already exists (branches must be unique, RFC 3261 §8.1.1.7).
    DuplicateTransaction,
    /// A single line of the header section is longer than the configured limit.
    LineTooLong,
    /// The header section has more header lines than the configured limit.
    TooManyHeaders,
    /// The header section is larger than the configured limit.
    HeadersTooLarge,
    /// The body is larger than the configured limit (answered with 413).
    BodyTooLarge,
}

/// What an element does with a message that produced an [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Answer the request statelessly with this status (and reason phrase).
    Respond(StatusCode, &'static str),
    /// Discard the message without a word: bad responses, and input that is not a request.
    Drop,
}

impl Error {
    /// The status a request with this fault is answered with.
    pub fn status_code(&self) -> StatusCode {
        match self {
            Error::VersionNotSupported => StatusCode::VERSION_NOT_SUPPORTED,
            Error::UnknownMethodMismatch | Error::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            Error::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Error::NotApplicable(_) | Error::DuplicateTransaction => StatusCode::SERVER_INTERNAL_ERROR,
            Error::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            Error::UnsupportedUriScheme => StatusCode::UNSUPPORTED_URI_SCHEME,
            Error::BadExtension(_) => StatusCode::BAD_EXTENSION,
            Error::TooManyHops => StatusCode::TOO_MANY_HOPS,
            Error::LoopDetected => StatusCode::LOOP_DETECTED,
            Error::BodyTooLarge => StatusCode::REQUEST_ENTITY_TOO_LARGE,
            Error::HeadersTooLarge | Error::LineTooLong | Error::TooManyHeaders => StatusCode::REQUEST_ENTITY_TOO_LARGE,
            Error::Empty
            | Error::Truncated
            | Error::BadStartLine
            | Error::BadMethod
            | Error::BadStatusCode
            | Error::BadHeaderLine
            | Error::InvalidUtf8
            | Error::BadHeaderValue { .. }
            | Error::MissingHeader(_)
            | Error::DuplicateHeader(_)
            | Error::BadContentLength
            | Error::ConflictingContentLength
            | Error::BodyTruncated
            | Error::MissingContentLength
            | Error::BadRequestUri
            | Error::BadUri(_)
            | Error::CSeqMethodMismatch => StatusCode::BAD_REQUEST,
        }
    }

    /// A short reason phrase naming the fault, used in the status line of the answer.
    pub fn reason_phrase(&self) -> &'static str {
        match self {
            Error::Empty => "Empty Message",
            Error::Truncated => "Header Section Not Terminated",
            Error::BadStartLine => "Malformed Start Line",
            Error::BadMethod => "Malformed Method",
            Error::VersionNotSupported => "Version Not Supported",
            Error::BadStatusCode => "Malformed Status Code",
            Error::BadHeaderLine => "Malformed Header Line",
            Error::InvalidUtf8 => "Invalid UTF-8 In Header",
            Error::BadHeaderValue { name, .. } => name.malformed_phrase(),
            Error::MissingHeader(name) => name.missing_phrase(),
            Error::DuplicateHeader(name) => name.duplicate_phrase(),
            Error::BadContentLength => "Malformed Content-Length",
            Error::ConflictingContentLength => "Conflicting Content-Length",
            Error::BodyTruncated => "Content-Length Exceeds Body",
            Error::MissingContentLength => "Missing Content-Length",
            Error::BadRequestUri => "Malformed Request-URI",
            Error::BadUri(_) => "Malformed URI",
            Error::CSeqMethodMismatch => "CSeq Method Mismatch",
            Error::UnknownMethodMismatch | Error::NotImplemented => "Not Implemented",
            Error::UnsupportedMediaType => "Unsupported Media Type",
            Error::MethodNotAllowed => "Method Not Allowed",
            Error::NotAcceptable => "Not Acceptable",
            Error::UnsupportedUriScheme => "Unsupported URI Scheme",
            Error::BadExtension(_) => "Bad Extension",
            Error::TooManyHops => "Too Many Hops",
            Error::LoopDetected => "Loop Detected",
            Error::NotApplicable(_) => "Server Internal Error",
            Error::DuplicateTransaction => "Server Internal Error",
            Error::LineTooLong => "Header Line Too Long",
            Error::TooManyHeaders => "Too Many Headers",
            Error::HeadersTooLarge => "Header Section Too Large",
            Error::BodyTooLarge => "Request Entity Too Large",
        }
    }

    /// What to do with `input`, the message (or would-be message) that produced this error.
    ///
    /// Responses are never answered (RFC 3261 §18.1.2 / RFC 4475 §3.1.2.5, §3.1.2.19); anything else that
    /// starts like a request is answered with [`Error::status_code`]. Input that does not even start with a
    /// method token is dropped: there is nobody identifiable to answer.
    pub fn disposition(&self, input: &[u8]) -> Disposition {
        let start = input.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(input.len());
        let input = &input[start..];
        let looks_like_response = input.len() >= 4 && input[..4].eq_ignore_ascii_case(b"SIP/");
        let starts_with_token = input.first().is_some_and(|b| crate::text::is_token_char(*b));
        if looks_like_response || !starts_with_token {
            return Disposition::Drop;
        }
        Disposition::Respond(self.status_code(), self.reason_phrase())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadHeaderValue { name, reason } => {
                write!(f, "malformed {} header: {reason}", name.as_str())
            }
            Error::MissingHeader(name) => write!(f, "missing {} header", name.as_str()),
            Error::DuplicateHeader(name) => {
                write!(f, "{} header appears more than once", name.as_str())
            }
            Error::BadUri(reason) => write!(f, "malformed URI: {reason}"),
            Error::NotApplicable(what) => write!(f, "not applicable: {what}"),
            Error::DuplicateTransaction => f.write_str("a client transaction with this branch already exists"),
            Error::BadExtension(tags) => {
                write!(f, "unsupported extensions required: {}", tags.join(", "))
            }
            other => f.write_str(&other.reason_phrase().to_ascii_lowercase()),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_dropped_never_answered() {
        assert_eq!(Error::BadStatusCode.disposition(b"SIP/2.0 999 Nope\r\n"), Disposition::Drop);
        assert_eq!(Error::BadHeaderLine.disposition(b"sip/2.0 200 OK\r\n"), Disposition::Drop);
    }

    #[test]
    fn requests_get_the_status_of_their_fault() {
        let d = Error::VersionNotSupported.disposition(b"INVITE sip:a@b SIP/7.0\r\n");
        assert_eq!(d, Disposition::Respond(StatusCode::VERSION_NOT_SUPPORTED, "Version Not Supported"));
        let d = Error::MissingHeader(HeaderName::CallId).disposition(b"OPTIONS sip:a@b SIP/2.0\r\n");
        assert_eq!(d, Disposition::Respond(StatusCode::BAD_REQUEST, "Missing Call-ID"));
    }

    #[test]
    fn garbage_is_dropped() {
        assert_eq!(Error::Empty.disposition(b"\r\n\r\n"), Disposition::Drop);
        assert_eq!(Error::BadStartLine.disposition(b"\x00\x01"), Disposition::Drop);
    }
}
