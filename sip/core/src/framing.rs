//! Where a message ends: UDP datagrams and TCP/TLS byte streams (RFC 3261 §18.3), RFC 5626 keepalives, and the
//! size limits that are checked before anything is buffered or allocated.

use bytes::{Buf, BytesMut};

use crate::error::Error;
use crate::message::Message;

/// Size limits applied while parsing. Each is checked before the octets it guards are buffered or allocated:
/// a stream framer stops waiting for a header section once it exceeds `max_header_bytes`, and refuses a
/// Content-Length above `max_body_bytes` before reading the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest physical line of the start line or header section, in octets (CRLF excluded).
    pub max_line_length: usize,
    /// Most header lines in one message (folded continuations do not count).
    pub max_headers: usize,
    /// Largest start line plus header section, in octets.
    pub max_header_bytes: usize,
    /// Largest body, in octets.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    /// Generous for real phones (a REGISTER with 20 contacts, an INVITE with a 30-codec SDP), small enough that a
    /// hostile peer cannot make the server buffer more than about 320 KiB per connection.
    fn default() -> Self {
        Limits { max_line_length: 8 * 1024, max_headers: 256, max_header_bytes: 64 * 1024, max_body_bytes: 256 * 1024 }
    }
}

/// What a stream framer found at the front of its buffer.
#[derive(Debug)]
pub enum StreamEvent {
    /// A complete message.
    Message(Message),
    /// An RFC 5626 keepalive ping (CRLF CRLF): answer with a pong (one CRLF).
    Ping,
    /// An RFC 5626 keepalive pong (one CRLF between messages).
    Pong,
}

/// Splits a TCP/TLS byte stream into messages and keepalives.
///
/// Feed it whatever the socket returned with [`StreamFramer::extend`], then call [`StreamFramer::next_event`]
/// until it returns `Ok(None)`. An `Err` means the stream can no longer be framed (RFC 4475 §3.1.2.3: negative
/// or conflicting Content-Length, an over-long header section): answer if possible, then close the connection.
#[derive(Debug, Default)]
pub struct StreamFramer {
    buf: BytesMut,
    limits: Limits,
}

impl StreamFramer {
    /// A framer with these limits.
    pub fn new(limits: Limits) -> Self {
        StreamFramer { buf: BytesMut::with_capacity(4096), limits }
    }

    /// Appends octets read from the stream.
    pub fn extend(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The buffer itself, for reading from a socket straight into it.
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Octets received but not yet framed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next message or keepalive, `Ok(None)` when more octets are needed.
    ///
    /// A lone CRLF is taken as a pong unless another CR follows right away; a ping split across two reads would
    /// then be seen as two pongs, which costs one unanswered ping (the peer's keepalive timer retries).
    pub fn next_event(&mut self) -> Result<Option<StreamEvent>, Error> {
        if self.buf.starts_with(b"\r\n\r\n") {
            self.buf.advance(4);
            return Ok(Some(StreamEvent::Ping));
        }
        if self.buf.starts_with(b"\r\n") && self.buf.get(2) != Some(&b'\r') {
            self.buf.advance(2);
            return Ok(Some(StreamEvent::Pong));
        }
        if self.buf.len() < 3 && self.buf.iter().all(|&b| b == b'\r' || b == b'\n') {
            return Ok(None);
        }
        Ok(Message::parse_stream(&mut self.buf, &self.limits)?.map(StreamEvent::Message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &[u8] =
        b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nCall-ID: x\r\nContent-Length: 3\r\n\r\nabc";

    #[test]
    fn messages_arrive_in_pieces() {
        let mut f = StreamFramer::new(Limits::default());
        for chunk in OPTIONS.chunks(7) {
            assert!(f.next_event().expect("no error").is_none());
            f.extend(chunk);
        }
        let Some(StreamEvent::Message(m)) = f.next_event().expect("frames") else { panic!("expected a message") };
        assert_eq!(m.body(), b"abc");
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn keepalives_between_messages() {
        let mut f = StreamFramer::new(Limits::default());
        f.extend(b"\r\n\r\n");
        f.extend(OPTIONS);
        f.extend(b"\r\n");
        assert!(matches!(f.next_event(), Ok(Some(StreamEvent::Ping))));
        assert!(matches!(f.next_event(), Ok(Some(StreamEvent::Message(_)))));
        assert!(matches!(f.next_event(), Ok(Some(StreamEvent::Pong))));
        assert!(matches!(f.next_event(), Ok(None)));
    }

    #[test]
    fn content_length_is_required_on_streams() {
        let mut f = StreamFramer::new(Limits::default());
        f.extend(b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n");
        assert_eq!(f.next_event().err(), Some(Error::MissingContentLength));
    }

    #[test]
    fn oversized_body_is_refused_before_it_arrives() {
        let limits = Limits { max_body_bytes: 10, ..Limits::default() };
        let mut f = StreamFramer::new(limits);
        f.extend(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 11\r\n\r\n");
        assert_eq!(f.next_event().err(), Some(Error::BodyTooLarge));
    }

    /// Whether a line of exactly the maximum length is accepted must not depend on where TCP cut the stream:
    /// here the cut falls between its CR and LF.
    #[test]
    fn longest_line_split_between_cr_and_lf_is_accepted() {
        let limits = Limits { max_line_length: 96, ..Limits::default() };
        let pad = format!("X-Pad: {}\r\n", "a".repeat(96 - 7));
        let wire = format!("OPTIONS sip:a@b SIP/2.0\r\n{pad}Content-Length: 0\r\n\r\n");
        let cut = wire.find("\r\nContent-Length").expect("layout") + 1;
        let mut f = StreamFramer::new(limits);
        f.extend(&wire.as_bytes()[..cut]);
        assert!(f.next_event().expect("no error yet").is_none());
        f.extend(&wire.as_bytes()[cut..]);
        assert!(matches!(f.next_event(), Ok(Some(StreamEvent::Message(_)))));
    }

    #[test]
    fn endless_header_section_is_refused() {
        let limits = Limits { max_header_bytes: 100, ..Limits::default() };
        let mut f = StreamFramer::new(limits);
        f.extend(b"OPTIONS sip:a@b SIP/2.0\r\n");
        for _ in 0..20 {
            f.extend(b"X-Pad: 0123456789\r\n");
        }
        assert_eq!(f.next_event().err(), Some(Error::HeadersTooLarge));
    }
}
