//! The message parser: one pass over the octets that records ranges, never copies header text.
//!
//! It works on a borrowed slice and returns a layout; the caller attaches the `Bytes` it parsed, so a stream
//! framer can find out how long a message is before splitting it off its buffer.

use bytes::Bytes;

use super::{Body, HeaderLine, HeaderName, Message, Method, Span, StartLine, StatusCode};
use crate::error::Error;
use crate::framing::Limits;

/// How the end of the message is found (RFC 3261 §18.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The input is one whole datagram: a missing Content-Length means "to the end", extra octets are ignored.
    Datagram,
    /// The input is the front of a byte stream: Content-Length is required, and more octets may be on the way.
    Stream,
}

/// Why a parse did not produce a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Stream mode only: the message is not complete yet.
    Incomplete,
    /// The message is malformed.
    Error(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Error(e)
    }
}

/// Everything the parser learned, as positions in the input.
#[derive(Debug)]
pub(crate) struct Layout {
    start: StartLine,
    headers: Vec<HeaderLine>,
    body: (usize, usize),
    /// Octets of the input that belong to this message.
    pub(crate) len: usize,
}

impl Layout {
    pub(crate) fn into_message(self, received: Bytes) -> Message {
        Message {
            received,
            len: self.len,
            start: self.start,
            start_line: None,
            headers: self.headers,
            body: Body::Received { start: self.body.0, end: self.body.1 },
            edits: Vec::new(),
            edited: false,
        }
    }
}

/// Typical messages have 8 to 16 header lines; one allocation of this size covers them.
const EXPECTED_HEADERS: usize = 16;

pub(crate) fn parse_layout(input: &[u8], limits: &Limits, mode: Mode) -> Result<Layout, Failure> {
    // RFC 3261 §7.5: CRLFs before the start line are ignored.
    let begin = input.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(input.len());
    if begin == input.len() {
        return Err(match mode {
            Mode::Datagram => Error::Empty.into(),
            Mode::Stream => Failure::Incomplete,
        });
    }

    // The start line.
    let (start_end, mut pos) = next_line(input, begin, limits, mode)?;
    let start = parse_start_line(input, begin, start_end)?;

    let mut headers: Vec<HeaderLine> = Vec::with_capacity(EXPECTED_HEADERS);
    let mut head_end = None;
    while pos < input.len() {
        let (line_end, next) = next_line(input, pos, limits, mode)?;
        if line_end == pos {
            head_end = Some(next);
            break;
        }
        if next - begin > limits.max_header_bytes {
            return Err(Error::HeadersTooLarge.into());
        }
        let first = input[pos];
        if first == b' ' || first == b'\t' {
            // A fold: this line continues the previous header's value.
            let Some(last) = headers.last_mut() else {
                return Err(Error::BadHeaderLine.into());
            };
            last.value.end = line_end as u32;
            last.line.end = line_end as u32;
        } else {
            if headers.len() == limits.max_headers {
                return Err(Error::TooManyHeaders.into());
            }
            headers.push(parse_header_line(input, pos, line_end)?);
        }
        pos = next;
    }
    let head_end = match head_end {
        Some(end) => end,
        None if mode == Mode::Stream => {
            if input.len() - begin > limits.max_header_bytes {
                return Err(Error::HeadersTooLarge.into());
            }
            return Err(Failure::Incomplete);
        }
        None => return Err(Error::Truncated.into()),
    };

    // Start line and header section are text; checking once here lets every later view hand out `&str`.
    let head = &input[begin..head_end];
    // Nearly every header section is plain ASCII, which is cheaper to confirm than UTF-8.
    if !head.is_ascii() && std::str::from_utf8(head).is_err() {
        return Err(Error::InvalidUtf8.into());
    }
    let mut content_length: Option<usize> = None;
    for h in &mut headers {
        trim_value(input, h);
        if h.name == HeaderName::ContentLength {
            let n = parse_content_length(&input[h.value.start as usize..h.value.end as usize])?;
            if content_length.is_some_and(|c| c != n) {
                return Err(Error::ConflictingContentLength.into());
            }
            content_length = Some(n);
        }
    }

    let available = input.len() - head_end;
    let body_len = match (content_length, mode) {
        (Some(n), _) if n > limits.max_body_bytes => return Err(Error::BodyTooLarge.into()),
        (Some(n), Mode::Datagram) if n > available => return Err(Error::BodyTruncated.into()),
        (Some(n), Mode::Stream) if n > available => return Err(Failure::Incomplete),
        (Some(n), _) => n,
        (None, Mode::Stream) => return Err(Error::MissingContentLength.into()),
        (None, Mode::Datagram) if available > limits.max_body_bytes => {
            return Err(Error::BodyTooLarge.into());
        }
        (None, Mode::Datagram) => available,
    };
    Ok(Layout { start, headers, body: (head_end, head_end + body_len), len: head_end + body_len })
}

/// Finds the end of the line starting at `pos`: returns (end of content without CR/LF, start of next line).
/// A bare LF is accepted as a line end (tolerance for RFC 5118's archive and hand-written messages).
fn next_line(input: &[u8], pos: usize, limits: &Limits, mode: Mode) -> Result<(usize, usize), Failure> {
    let window = &input[pos..input.len().min(pos.saturating_add(limits.max_line_length + 2))];
    match memchr::memchr(b'\n', window) {
        Some(i) => {
            let nl = pos + i;
            let end = if nl > pos && input[nl - 1] == b'\r' { nl - 1 } else { nl };
            if end - pos > limits.max_line_length {
                return Err(Error::LineTooLong.into());
            }
            Ok((end, nl + 1))
        }
        // A CR at the end may be the first half of the line's CRLF, not content: a stream can be cut between them.
        None if window.len() - usize::from(window.ends_with(b"\r")) > limits.max_line_length => {
            Err(Error::LineTooLong.into())
        }
        None => match mode {
            Mode::Stream => Err(Failure::Incomplete),
            Mode::Datagram => Err(Error::Truncated.into()),
        },
    }
}

fn parse_start_line(input: &[u8], start: usize, end: usize) -> Result<StartLine, Error> {
    let line = &input[start..end];
    if line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"SIP/") {
        return parse_status_line(input, start, end);
    }
    // Request-Line = Method SP Request-URI SP SIP-Version: exactly two single spaces.
    let sp1 = memchr::memchr(b' ', line).ok_or(Error::BadStartLine)?;
    let sp2 = memchr::memrchr(b' ', line).ok_or(Error::BadStartLine)?;
    if sp1 == sp2 {
        return Err(Error::BadStartLine);
    }
    check_version(&line[sp2 + 1..])?;
    let method_text = std::str::from_utf8(&line[..sp1]).map_err(|_| Error::BadMethod)?;
    let method = Method::parse(method_text).ok_or(Error::BadMethod)?;
    let uri = &line[sp1 + 1..sp2];
    if uri.is_empty() || uri.iter().any(|&b| b <= b' ' || b == 0x7f) {
        // Empty, or a second space / tab / control octet inside: embedded LWS (RFC 4475 §3.1.2.8, §3.1.2.9).
        return Err(Error::BadStartLine);
    }
    Ok(StartLine::Request { method, uri: Span::received(start + sp1 + 1, start + sp2) })
}

fn parse_status_line(input: &[u8], start: usize, end: usize) -> Result<StartLine, Error> {
    let line = &input[start..end];
    let sp = memchr::memchr(b' ', line).ok_or(Error::BadStartLine)?;
    check_version(&line[..sp])?;
    let rest = &line[sp + 1..];
    if rest.len() < 3 || !rest[..3].iter().all(u8::is_ascii_digit) || rest.get(3).is_some_and(|&b| b != b' ') {
        return Err(Error::BadStatusCode);
    }
    let code = rest[..3].iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    let status = StatusCode::new(code).ok_or(Error::BadStatusCode)?;
    let reason_start = (start + sp + 1 + 4).min(end);
    Ok(StartLine::Response { status, reason: Span::received(reason_start, end) })
}

/// `SIP/2.0` (case-insensitive) is fine; another well-formed version is unsupported (505); anything else is a
/// malformed start line.
fn check_version(v: &[u8]) -> Result<(), Error> {
    if v.eq_ignore_ascii_case(b"SIP/2.0") {
        return Ok(());
    }
    let well_formed = v.len() > 4 && v[..4].eq_ignore_ascii_case(b"SIP/") && {
        let num = &v[4..];
        let dot = num.iter().position(|&b| b == b'.');
        dot.is_some_and(|d| {
            d > 0
                && d + 1 < num.len()
                && num[..d].iter().all(u8::is_ascii_digit)
                && num[d + 1..].iter().all(u8::is_ascii_digit)
        })
    };
    Err(if well_formed { Error::VersionNotSupported } else { Error::BadStartLine })
}

fn parse_header_line(input: &[u8], start: usize, end: usize) -> Result<HeaderLine, Error> {
    let line = &input[start..end];
    // Names are short: a byte loop that checks the token grammar while it looks for the colon beats a search.
    let name_end = line.iter().position(|&b| !crate::text::is_token_char(b)).unwrap_or(line.len());
    if name_end == 0 {
        return Err(Error::BadHeaderLine);
    }
    // HCOLON = *( SP / HTAB ) ":" SWS
    let colon = name_end + line[name_end..].iter().take_while(|&&b| b == b' ' || b == b'\t').count();
    if line.get(colon) != Some(&b':') {
        return Err(Error::BadHeaderLine);
    }
    Ok(HeaderLine {
        name: HeaderName::from_bytes(&line[..name_end]),
        written_name: Span::received(start, start + name_end),
        value: Span::received(start + colon + 1, end),
        line: Span::received(start, end),
    })
}

/// Shrinks a value span past leading and trailing LWS (folds included).
fn trim_value(input: &[u8], h: &mut HeaderLine) {
    let (mut s, mut e) = (h.value.start as usize, h.value.end as usize);
    while s < e && crate::text::is_lws(input[s]) {
        s += 1;
    }
    while e > s && crate::text::is_lws(input[e - 1]) {
        e -= 1;
    }
    h.value = Span::received(s, e);
}

fn parse_content_length(v: &[u8]) -> Result<usize, Error> {
    if v.is_empty() || v.len() > 10 || !v.iter().all(u8::is_ascii_digit) {
        return Err(Error::BadContentLength);
    }
    let n = v.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    u32::try_from(n).map(|n| n as usize).map_err(|_| Error::BadContentLength)
}
