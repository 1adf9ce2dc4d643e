//! Building requests and responses.
//!
//! Builders write wire text and parse it once at the end, so a built message is held exactly like a received one
//! and every accessor works on it. Responses copy the request's Via, From, To, Call-ID, CSeq and Timestamp lines
//! as written (RFC 3261 §8.2.6.2), so a response to a tortuous request still matches its transaction.

use std::fmt::Write as _;

use bytes::Bytes;

use super::{HeaderName, Message, Method, StatusCode};
use crate::error::Error;
use crate::framing::Limits;

/// Builds a request ([`Message::request`]) or a response ([`Message::response_to`], [`Message::response`]).
#[derive(Debug, Clone)]
pub struct MessageBuilder {
    head: String,
    body: Bytes,
}

impl Message {
    /// A request with this method and Request-URI. Add at least Via, From, To, Call-ID, CSeq and Max-Forwards.
    pub fn request(method: &Method, uri: &str) -> MessageBuilder {
        let mut head = String::with_capacity(512);
        let _ = write!(head, "{method} {uri} SIP/2.0\r\n");
        MessageBuilder { head, body: Bytes::new() }
    }

    /// A response with no headers yet (for tests and unusual cases; prefer [`Message::response_to`]).
    pub fn response(status: StatusCode, reason: &str) -> MessageBuilder {
        let mut head = String::with_capacity(512);
        let _ = write!(head, "SIP/2.0 {status} {reason}\r\n");
        MessageBuilder { head, body: Bytes::new() }
    }

    /// A response to `request` with the canonical reason phrase: Via lines, From, To, Call-ID, CSeq and
    /// Timestamp copied as written (RFC 3261 §8.2.6.2).
    pub fn response_to(request: &Message, status: StatusCode) -> MessageBuilder {
        Message::response_with_reason(request, status, status.canonical_reason())
    }

    /// [`Message::response_to`] with a chosen reason phrase.
    pub fn response_with_reason(request: &Message, status: StatusCode, reason: &str) -> MessageBuilder {
        let mut b = Message::response(status, reason);
        for h in request.headers.iter().filter(|h| {
            matches!(
                h.name,
                HeaderName::Via
                    | HeaderName::From
                    | HeaderName::To
                    | HeaderName::CallId
                    | HeaderName::CSeq
                    | HeaderName::Timestamp
            )
        }) {
            b.head.push_str(request.text(h.line));
            b.head.push_str("\r\n");
        }
        b
    }
}

impl MessageBuilder {
    /// Adds a header line.
    pub fn header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        push_line(&mut self.head, name.as_ref(), value.as_ref());
        self
    }

    /// Adds `;tag=` to the To header unless it already has a tag (a UAS's response outside a dialog, RFC 3261
    /// §8.2.6.2). No effect when there is no To line.
    pub fn to_tag(mut self, tag: &str) -> Self {
        let Some((start, end)) = find_line(&self.head, HeaderName::To) else { return self };
        let line = &self.head[start..end];
        let value = line.split_once(':').map_or("", |(_, v)| v);
        let has_tag = crate::headers::NameAddr::parse_as(value, HeaderName::To).is_ok_and(|t| t.tag().is_some());
        if !has_tag {
            self.head.insert_str(end, &format!(";tag={tag}"));
        }
        self
    }

    /// Copies the request's Record-Route lines (a UAS's dialog-creating response, RFC 3261 §12.1.1).
    pub fn record_route_from(mut self, request: &Message) -> Self {
        for h in request.headers.iter().filter(|h| h.name == HeaderName::RecordRoute) {
            self.head.push_str(request.text(h.line));
            self.head.push_str("\r\n");
        }
        self
    }

    /// Sets the body and its Content-Type.
    pub fn body(mut self, content_type: &str, body: impl Into<Bytes>) -> Self {
        push_line(&mut self.head, "Content-Type", content_type);
        self.body = body.into();
        self
    }

    /// Finishes the message (Content-Length is added).
    pub fn build(self) -> Result<Message, Error> {
        finish(self.head, self.body)
    }
}

fn push_line(head: &mut String, name: &str, value: &str) {
    head.push_str(name);
    head.push_str(": ");
    head.push_str(value);
    head.push_str("\r\n");
}

/// Start and end (before CRLF) of the first line of header `name` in built text.
fn find_line(head: &str, name: HeaderName) -> Option<(usize, usize)> {
    let mut pos = head.find("\r\n")? + 2;
    while pos < head.len() {
        let end = pos + head[pos..].find("\r\n")?;
        let line = &head[pos..end];
        if let Some((n, _)) = line.split_once(':')
            && HeaderName::from_str(n.trim_end()) == name
        {
            return Some((pos, end));
        }
        pos = end + 2;
    }
    None
}

fn finish(mut head: String, body: Bytes) -> Result<Message, Error> {
    let _ = write!(head, "Content-Length: {}\r\n\r\n", body.len());
    let mut wire = head.into_bytes();
    wire.extend_from_slice(&body);
    let limits = Limits { max_body_bytes: usize::MAX, max_header_bytes: usize::MAX, ..Limits::default() };
    Message::parse_datagram(Bytes::from(wire), &limits)
}
