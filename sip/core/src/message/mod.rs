//! A SIP request or response held as one `Bytes` buffer plus the positions of its parts.
//!
//! Parsing records where the start line, each header line and the body are; it copies no header text. Typed
//! views ([`crate::headers`]) are parsed from those ranges on demand and borrow from the message. Edits (a proxy
//! adding a Via, a registrar adding a Contact) keep their new text in a side buffer, so serialising writes every
//! untouched line back exactly as it arrived, folds, odd spacing and compact names included; an untouched message
//! is written back byte for byte.

mod build;
mod method;
mod name;
mod parse;
mod status;

use bytes::{BufMut, Bytes, BytesMut};

pub use build::MessageBuilder;
pub use method::Method;
pub use name::HeaderName;
pub use status::StatusCode;

use crate::error::Error;
use crate::framing::Limits;
use crate::headers::{CSeq, NameAddr, Via};

/// A byte range inside the message, in the received buffer or (for edited text) in the side buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Span {
    start: u32,
    end: u32,
    edited: bool,
}

impl Span {
    const fn received(start: usize, end: usize) -> Span {
        Span { start: start as u32, end: end as u32, edited: false }
    }
}

/// One header line: its recognised name, where its name is written and where its value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HeaderLine {
    name: HeaderName,
    /// The name as written (compact form and case kept).
    written_name: Span,
    /// The value without leading and trailing whitespace, folds inside kept.
    value: Span,
    /// The whole line from the first octet of the name to the last octet before CRLF.
    line: Span,
}

/// The first line of the message.
#[derive(Debug, Clone, PartialEq, Eq)]
enum StartLine {
    Request { method: Method, uri: Span },
    Response { status: StatusCode, reason: Span },
}

/// Where the body is: still inside the received octets, or replaced by an edit.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Body {
    Received { start: usize, end: usize },
    Replaced(Bytes),
}

/// Whether a message is a request or a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A request.
    Request,
    /// A response.
    Response,
}

/// A parsed SIP message. See the module documentation for the storage model.
#[derive(Clone)]
pub struct Message {
    /// The octets as received; for a datagram this may run past the message (ignored trailing octets).
    received: Bytes,
    /// How many octets of `received` belong to this message.
    len: usize,
    start: StartLine,
    /// Whether the start line was replaced (then it lives in `edits`).
    start_line: Option<Span>,
    headers: Vec<HeaderLine>,
    body: Body,
    /// Text written by edits; empty for a received, untouched message.
    edits: Vec<u8>,
    edited: bool,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("start_line", &self.start_line_text())
            .field("headers", &self.headers.len())
            .field("body_len", &self.body().len())
            .finish()
    }
}

impl PartialEq for Message {
    /// Two messages are equal when they serialise to the same octets.
    fn eq(&self, other: &Self) -> bool {
        self.to_bytes() == other.to_bytes()
    }
}

impl Eq for Message {}

/// A borrowed view of one header line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'m> {
    /// The recognised name.
    pub name: HeaderName,
    /// The name as written in the message (compact form and case kept).
    pub written_name: &'m str,
    /// The value, trimmed, with any folds still inside (parsers treat them as whitespace).
    pub value: &'m str,
}

impl Message {
    /// Parses one complete message as carried by a UDP datagram (RFC 3261 §18.3): octets after Content-Length
    /// are ignored, and a missing Content-Length means the body is the rest of the datagram. Default limits.
    pub fn parse(datagram: Bytes) -> Result<Message, Error> {
        Message::parse_datagram(datagram, &Limits::default())
    }

    /// [`Message::parse`] with explicit limits.
    pub fn parse_datagram(datagram: Bytes, limits: &Limits) -> Result<Message, Error> {
        match parse::parse_layout(&datagram, limits, parse::Mode::Datagram) {
            Ok(layout) => Ok(layout.into_message(datagram)),
            Err(parse::Failure::Error(e)) => Err(e),
            // Datagram mode never waits for more.
            Err(parse::Failure::Incomplete) => Err(Error::Truncated),
        }
    }

    /// Splits one message off the front of a stream buffer (TCP/TLS, RFC 3261 §18.3: Content-Length required).
    /// Returns `Ok(None)` and leaves `buf` alone when more octets are needed. See [`crate::framing`] for the
    /// framer that also handles RFC 5626 keepalives.
    pub fn parse_stream(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Message>, Error> {
        match parse::parse_layout(buf, limits, parse::Mode::Stream) {
            Ok(layout) => {
                let received = buf.split_to(layout.len).freeze();
                Ok(Some(layout.into_message(received)))
            }
            Err(parse::Failure::Incomplete) => Ok(None),
            Err(parse::Failure::Error(e)) => Err(e),
        }
    }

    /// Request or response.
    pub fn kind(&self) -> Kind {
        match self.start {
            StartLine::Request { .. } => Kind::Request,
            StartLine::Response { .. } => Kind::Response,
        }
    }

    /// Whether this is a request.
    pub fn is_request(&self) -> bool {
        self.kind() == Kind::Request
    }

    /// The method of a request, `None` for a response (see [`Message::cseq`] for a response's method).
    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The Request-URI as written, `None` for a response.
    pub fn request_uri(&self) -> Option<&str> {
        match self.start {
            StartLine::Request { uri, .. } => Some(self.text(uri)),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code of a response.
    pub fn status(&self) -> Option<StatusCode> {
        match self.start {
            StartLine::Response { status, .. } => Some(status),
            StartLine::Request { .. } => None,
        }
    }

    /// The reason phrase of a response (may be empty).
    pub fn reason(&self) -> Option<&str> {
        match self.start {
            StartLine::Response { reason, .. } => Some(self.text(reason)),
            StartLine::Request { .. } => None,
        }
    }

    /// The start line as it will be written (without CRLF).
    pub fn start_line_text(&self) -> std::borrow::Cow<'_, str> {
        match self.start_line {
            Some(span) => self.text(span).into(),
            None => match &self.start {
                StartLine::Request { method, uri } => format!("{method} {} SIP/2.0", self.text(*uri)).into(),
                StartLine::Response { status, reason } => format!("SIP/2.0 {status} {}", self.text(*reason)).into(),
            },
        }
    }

    /// The body (empty when there is none).
    pub fn body(&self) -> &[u8] {
        match &self.body {
            Body::Received { start, end } => &self.received[*start..*end],
            Body::Replaced(b) => b,
        }
    }

    /// The body as shared `Bytes` (no copy).
    pub fn body_bytes(&self) -> Bytes {
        match &self.body {
            Body::Received { start, end } => self.received.slice(*start..*end),
            Body::Replaced(b) => b.clone(),
        }
    }

    /// All header lines in order.
    pub fn headers(&self) -> impl Iterator<Item = Header<'_>> + '_ {
        self.headers.iter().map(|h| self.view(h))
    }

    /// Number of header lines.
    pub fn header_count(&self) -> usize {
        self.headers.len()
    }

    /// The header line at `index`.
    pub fn header_at(&self, index: usize) -> Option<Header<'_>> {
        self.headers.get(index).map(|h| self.view(h))
    }

    /// The value of the first header line called `name`.
    pub fn header(&self, name: HeaderName) -> Option<&str> {
        self.headers.iter().find(|h| h.name == name).map(|h| self.text(h.value))
    }

    /// The value of the first header line whose name is written `name` (case-insensitive; compact forms of
    /// known headers match their long form). Works for extension headers too.
    pub fn header_named<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.header_lines_named(name).next()
    }

    /// Values of every header line whose name is `name` (see [`Message::header_named`]).
    pub fn header_lines_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let known = HeaderName::from_str(name);
        self.headers()
            .filter(move |h| {
                if known == HeaderName::Other {
                    h.name == HeaderName::Other && h.written_name.eq_ignore_ascii_case(name)
                } else {
                    h.name == known
                }
            })
            .map(|h| h.value)
    }

    /// Values of every header line called `name`, one per line.
    pub fn header_lines(&self, name: HeaderName) -> impl Iterator<Item = &str> + '_ {
        self.headers.iter().filter(move |h| h.name == name).map(|h| self.text(h.value))
    }

    /// Every value of a list header across all its lines, split at top-level commas (RFC 3261 §7.3.1). For
    /// headers whose grammar is not a list, each line is one value.
    pub fn header_values(&self, name: HeaderName) -> impl Iterator<Item = &str> + '_ {
        let list = name.is_list();
        self.header_lines(name).flat_map(move |line| {
            let mut one = Some(line);
            let mut split = list.then(|| crate::text::split_commas(line));
            std::iter::from_fn(move || match split.as_mut() {
                Some(s) => s.next(),
                None => one.take(),
            })
        })
    }

    /// The topmost Via value.
    pub fn top_via(&self) -> Result<Via<'_>, Error> {
        let raw = self.header_values(HeaderName::Via).next().ok_or(Error::MissingHeader(HeaderName::Via))?;
        Via::parse(raw)
    }

    /// All Via values, top first.
    pub fn vias(&self) -> impl Iterator<Item = Result<Via<'_>, Error>> + '_ {
        self.header_values(HeaderName::Via).map(Via::parse)
    }

    /// The From header.
    pub fn from(&self) -> Result<NameAddr<'_>, Error> {
        self.single(HeaderName::From).and_then(|v| NameAddr::parse_as(v, HeaderName::From))
    }

    /// The To header.
    pub fn to(&self) -> Result<NameAddr<'_>, Error> {
        self.single(HeaderName::To).and_then(|v| NameAddr::parse_as(v, HeaderName::To))
    }

    /// The Call-ID.
    pub fn call_id(&self) -> Result<&str, Error> {
        let v = self.single(HeaderName::CallId)?;
        crate::headers::parse_call_id(v)
    }

    /// The CSeq header.
    pub fn cseq(&self) -> Result<CSeq<'_>, Error> {
        self.single(HeaderName::CSeq).and_then(CSeq::parse)
    }

    /// Max-Forwards, `None` when absent.
    pub fn max_forwards(&self) -> Result<Option<u8>, Error> {
        match self.header(HeaderName::MaxForwards) {
            None => Ok(None),
            Some(v) => crate::headers::parse_max_forwards(v).map(Some),
        }
    }

    /// The value of a header that must appear exactly once.
    pub(crate) fn single(&self, name: HeaderName) -> Result<&str, Error> {
        let mut lines = self.header_lines(name);
        let first = lines.next().ok_or(Error::MissingHeader(name))?;
        if lines.next().is_some() {
            return Err(Error::DuplicateHeader(name));
        }
        Ok(first)
    }

    /// The message as octets. An untouched received message is returned as received (no copy); an edited one is
    /// rebuilt, writing untouched lines exactly as received.
    pub fn to_bytes(&self) -> Bytes {
        if !self.edited {
            return if self.len == self.received.len() {
                self.received.clone()
            } else {
                self.received.slice(..self.len)
            };
        }
        let mut out = BytesMut::with_capacity(self.len + self.edits.len() + 64);
        out.put_slice(self.start_line_text().as_bytes());
        out.put_slice(b"\r\n");
        for h in &self.headers {
            out.put_slice(self.text(h.line).as_bytes());
            out.put_slice(b"\r\n");
        }
        out.put_slice(b"\r\n");
        out.put_slice(self.body());
        out.freeze()
    }

    /// Whether the message is exactly as received.
    pub fn is_untouched(&self) -> bool {
        !self.edited
    }

    // ----- editing -----

    /// Inserts a header line at `index` (0 = first). `name` may be any token; known names are recognised.
    pub fn insert_header(&mut self, index: usize, name: &str, value: &str) {
        let line = self.write_header_line(name, value);
        self.headers.insert(index.min(self.headers.len()), line);
    }

    /// Appends a header line after all others.
    pub fn push_header(&mut self, name: &str, value: &str) {
        let line = self.write_header_line(name, value);
        self.headers.push(line);
    }

    /// Inserts a header line before the first line of the same header, or first if there is none (for Via,
    /// Record-Route and Route, whose order matters).
    pub fn prepend_header(&mut self, name: HeaderName, value: &str) {
        let at = self.headers.iter().position(|h| h.name == name).unwrap_or(0);
        self.insert_header(at, name.as_str(), value);
    }

    /// Replaces the value of the header line at `index`, keeping its name as written.
    pub fn set_header_value(&mut self, index: usize, value: &str) {
        if let Some(h) = self.headers.get(index).copied() {
            let name = self.text(h.written_name).to_owned();
            self.headers[index] = self.write_header_line(&name, value);
        }
    }

    /// Replaces the first line of header `name` with `value`, or appends one when there is none.
    pub fn set_header(&mut self, name: HeaderName, value: &str) {
        match self.headers.iter().position(|h| h.name == name) {
            Some(i) => self.set_header_value(i, value),
            None => self.push_header(name.as_str(), value),
        }
    }

    /// Removes the header line at `index`.
    pub fn remove_header_at(&mut self, index: usize) {
        if index < self.headers.len() {
            self.headers.remove(index);
            self.edited = true;
        }
    }

    /// Removes every line of header `name`; returns how many were removed.
    pub fn remove_header(&mut self, name: HeaderName) -> usize {
        let before = self.headers.len();
        self.headers.retain(|h| h.name != name);
        let removed = before - self.headers.len();
        self.edited |= removed > 0;
        removed
    }

    /// Removes the first value of a list header (the top Via of a response a proxy forwards upstream, the top
    /// Route a loose router consumes), whether it stands alone on its line or is the first of several.
    pub fn remove_first_value(&mut self, name: HeaderName) -> bool {
        let Some(index) = self.headers.iter().position(|h| h.name == name) else {
            return false;
        };
        let value = self.text(self.headers[index].value);
        match crate::text::find_top_level(value, b',') {
            Some(comma) => {
                let rest = crate::text::trim_lws(&value[comma + 1..]).to_owned();
                self.set_header_value(index, &rest);
            }
            None => self.remove_header_at(index),
        }
        true
    }

    /// Replaces the Request-URI of a request.
    pub fn set_request_uri(&mut self, uri: &str) {
        if let StartLine::Request { method, .. } = &self.start {
            let method = method.clone();
            let line = format!("{method} {uri} SIP/2.0");
            let span = self.write_edit(line.as_bytes());
            let uri_start = span.start as usize + method.as_str().len() + 1;
            let uri_span = Span { start: uri_start as u32, end: (uri_start + uri.len()) as u32, edited: true };
            self.start = StartLine::Request { method, uri: uri_span };
            self.start_line = Some(span);
        }
    }

    /// Replaces the body and sets Content-Length to match (Content-Type is the caller's to set).
    pub fn set_body(&mut self, body: Bytes) {
        let len = body.len().to_string();
        self.remove_header(HeaderName::ContentLength);
        self.push_header("Content-Length", &len);
        self.body = Body::Replaced(body);
        self.edited = true;
    }

    fn write_header_line(&mut self, name: &str, value: &str) -> HeaderLine {
        let start = self.edits.len();
        self.edits.extend_from_slice(name.as_bytes());
        self.edits.extend_from_slice(b": ");
        self.edits.extend_from_slice(value.as_bytes());
        self.edited = true;
        let end = self.edits.len();
        let name_end = start + name.len();
        HeaderLine {
            name: HeaderName::from_str(name),
            written_name: Span { start: start as u32, end: name_end as u32, edited: true },
            value: Span { start: (name_end + 2) as u32, end: end as u32, edited: true },
            line: Span { start: start as u32, end: end as u32, edited: true },
        }
    }

    fn write_edit(&mut self, text: &[u8]) -> Span {
        let start = self.edits.len();
        self.edits.extend_from_slice(text);
        self.edited = true;
        Span { start: start as u32, end: self.edits.len() as u32, edited: true }
    }

    fn view(&self, h: &HeaderLine) -> Header<'_> {
        Header { name: h.name, written_name: self.text(h.written_name), value: self.text(h.value) }
    }

    /// The text of a span. Spans are only ever made over text that was checked to be UTF-8 (the received head
    /// at parse time, edits as `&str`), and they start and end at ASCII delimiters, so this never fails.
    fn text(&self, span: Span) -> &str {
        let source: &[u8] = if span.edited { &self.edits } else { &self.received };
        source.get(span.start as usize..span.end as usize).and_then(|b| std::str::from_utf8(b).ok()).unwrap_or("")
    }
}

#[cfg(test)]
mod tests;
