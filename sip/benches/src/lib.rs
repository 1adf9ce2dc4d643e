//! Shared ground for the parser comparisons: the sample messages and, for each parser, the two measured
//! operations written against that parser's own API.
//!
//! The criterion benchmarks (`benches/parse.rs`) and the plain ratio table (`examples/ratio.rs`) both call these
//! functions, so the two measure exactly the same work.
//!
//! The two operations:
//! - [`Operation::Parse`]: turn received octets into the parser's message type.
//! - [`Operation::ParseAndReadHeaders`]: parse, then read what transaction matching needs (RFC 3261 §17.1.3,
//!   §17.2.3): method or status, top Via branch, From tag, To URI and tag, Call-ID, CSeq number and method, each
//!   through the parser's typed API and passed to [`black_box`] so nothing is optimised away.
//!
//! Every parser receives the same input: a `Bytes` made with [`Bytes::from_static`] over the embedded sample, so a
//! clone is a pointer copy (no allocation, no reference count) for the parsers that take `Bytes`, and a deref for
//! the one that takes `&[u8]`.

use std::hint::black_box;

use bytes::Bytes;

/// The typical messages of a campus phone (see `sip/core/tests/data/README.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sample {
    /// A 704-byte INVITE with an SDP offer.
    Invite,
    /// A REGISTER with digest credentials and RFC 5626 Contact parameters.
    Register,
    /// A 200 OK to the INVITE, with an SDP answer.
    Ok,
}

impl Sample {
    /// Every sample, in table order.
    pub const ALL: [Sample; 3] = [Sample::Invite, Sample::Register, Sample::Ok];

    /// A short name for tables and benchmark ids.
    pub fn name(self) -> &'static str {
        match self {
            Sample::Invite => "INVITE",
            Sample::Register => "REGISTER",
            Sample::Ok => "200 OK",
        }
    }

    /// The message as a static `Bytes`: cloning it copies a pointer, nothing more.
    pub fn bytes(self) -> Bytes {
        Bytes::from_static(match self {
            Sample::Invite => include_bytes!("../../core/tests/data/invite.sip"),
            Sample::Register => include_bytes!("../../core/tests/data/register.sip"),
            Sample::Ok => include_bytes!("../../core/tests/data/ok.sip"),
        })
    }
}

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Parse only.
    Parse,
    /// Parse, then read the transaction headers through the typed API.
    ParseAndReadHeaders,
}

impl Operation {
    /// Both operations, in table order.
    pub const ALL: [Operation; 2] = [Operation::Parse, Operation::ParseAndReadHeaders];

    /// The benchmark group label.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Parse => "parse",
            Operation::ParseAndReadHeaders => "parse+headers",
        }
    }
}

/// A parser under comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parser {
    /// `carillon-sip`, this workspace's parser.
    Carillon,
    /// `rsipstack` 0.7.14.
    Rsipstack,
    /// `sipx-sip` 1.0.1.
    Sipx,
}

impl Parser {
    /// Every parser, Carillon first.
    pub const ALL: [Parser; 3] = [Parser::Carillon, Parser::Rsipstack, Parser::Sipx];

    /// The crate name, used as the benchmark function id.
    pub fn name(self) -> &'static str {
        match self {
            Parser::Carillon => "carillon-sip",
            Parser::Rsipstack => "rsipstack",
            Parser::Sipx => "sipx-sip",
        }
    }

    /// Runs `operation` once on `input`; `true` when the message parsed and every header read succeeded.
    #[inline]
    pub fn run(self, operation: Operation, input: &Bytes) -> bool {
        match (self, operation) {
            (Parser::Carillon, Operation::Parse) => carillon::parse(input),
            (Parser::Carillon, Operation::ParseAndReadHeaders) => carillon::parse_and_read_headers(input),
            (Parser::Rsipstack, Operation::Parse) => rsipstack_peer::parse(input),
            (Parser::Rsipstack, Operation::ParseAndReadHeaders) => rsipstack_peer::parse_and_read_headers(input),
            (Parser::Sipx, Operation::Parse) => sipx_peer::parse(input),
            (Parser::Sipx, Operation::ParseAndReadHeaders) => sipx_peer::parse_and_read_headers(input),
        }
    }
}

/// Carillon: `Message::parse(Bytes)`, then the lazy typed views.
pub mod carillon {
    use super::*;
    use carillon_sip::Message;

    /// Parses the message and drops it.
    #[inline]
    pub fn parse(input: &Bytes) -> bool {
        black_box(Message::parse(input.clone())).is_ok()
    }

    /// Parses the message and reads the transaction headers.
    #[inline]
    pub fn parse_and_read_headers(input: &Bytes) -> bool {
        let Ok(msg) = Message::parse(input.clone()) else { return false };
        read_headers(&msg).is_some()
    }

    fn read_headers(msg: &Message) -> Option<()> {
        black_box(msg.method());
        black_box(msg.status());
        black_box(msg.top_via().ok()?.branch()?);
        black_box(msg.from().ok()?.tag()?);
        let to = msg.to().ok()?;
        black_box(to.uri);
        black_box(to.tag());
        black_box(msg.call_id().ok()?);
        let cseq = msg.cseq().ok()?;
        black_box(cseq.seq);
        black_box(cseq.method_text);
        Some(())
    }
}

/// rsipstack: `SipMessage::try_from(&[u8])`, then `HeadersExt` and `ToTypedHeader::typed`.
pub mod rsipstack_peer {
    use super::*;
    use rsipstack::sip::SipMessage;
    use rsipstack::sip::prelude::{HeadersExt, ToTypedHeader};

    /// Parses the message and drops it.
    #[inline]
    pub fn parse(input: &Bytes) -> bool {
        black_box(SipMessage::try_from(&input[..])).is_ok()
    }

    /// Parses the message and reads the transaction headers.
    #[inline]
    pub fn parse_and_read_headers(input: &Bytes) -> bool {
        let Ok(msg) = SipMessage::try_from(&input[..]) else { return false };
        read_headers(&msg).is_some()
    }

    fn read_headers(msg: &SipMessage) -> Option<()> {
        match msg {
            SipMessage::Request(r) => {
                black_box(&r.method);
            }
            SipMessage::Response(r) => {
                black_box(&r.status_code);
            }
        }
        let via = msg.top_via_header().ok()?.typed().ok()?;
        black_box(via.branch()?);
        let from = msg.from_header().ok()?.typed().ok()?;
        black_box(from.tag()?);
        let to = msg.to_header().ok()?.typed().ok()?;
        black_box(&to.uri);
        black_box(to.tag());
        black_box(msg.call_id_header().ok()?.value());
        let cseq = msg.cseq_header().ok()?.typed().ok()?;
        black_box(cseq.seq);
        black_box(&cseq.method);
        Some(())
    }
}

/// sipx-sip: `parse_datagram(Bytes, &Limits)`, then `Headers::typed::<H>()`.
pub mod sipx_peer {
    use super::*;
    use sipx_sip::headers::{CSeq, CallId, From as FromHeader, To as ToHeader, Via};
    use sipx_sip::{Limits, Message, parse_datagram};

    /// The datagram limits, built once: a server configures them at start-up, not per message.
    fn limits() -> &'static Limits {
        static LIMITS: std::sync::OnceLock<Limits> = std::sync::OnceLock::new();
        LIMITS.get_or_init(Limits::datagram)
    }

    /// Parses the message and drops it.
    #[inline]
    pub fn parse(input: &Bytes) -> bool {
        black_box(parse_datagram(input.clone(), limits())).is_ok()
    }

    /// Parses the message and reads the transaction headers.
    #[inline]
    pub fn parse_and_read_headers(input: &Bytes) -> bool {
        let Ok(msg) = parse_datagram(input.clone(), limits()) else { return false };
        read_headers(&msg).is_some()
    }

    fn read_headers(msg: &Message) -> Option<()> {
        match msg {
            Message::Request(r) => {
                black_box(&r.method);
            }
            Message::Response(r) => {
                black_box(r.status);
            }
        }
        let headers = msg.headers();
        let via = headers.typed::<Via>()?.ok()?;
        black_box(via.branch()?);
        let from = headers.typed::<FromHeader>()?.ok()?;
        black_box(from.tag()?);
        let to = headers.typed::<ToHeader>()?.ok()?;
        black_box(&to.uri);
        black_box(to.tag());
        black_box(headers.typed::<CallId>()?.ok()?);
        let cseq = headers.typed::<CSeq>()?.ok()?;
        black_box(cseq.sequence);
        black_box(&cseq.method);
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A comparison is only fair when every parser accepts every sample and finds every transaction header.
    #[test]
    fn every_parser_reads_every_sample() {
        for sample in Sample::ALL {
            for parser in Parser::ALL {
                for operation in Operation::ALL {
                    assert!(
                        parser.run(operation, &sample.bytes()),
                        "{} failed {} on {}",
                        parser.name(),
                        operation.name(),
                        sample.name()
                    );
                }
            }
        }
    }

    #[test]
    fn samples_are_the_documented_sizes() {
        assert_eq!(Sample::Invite.bytes().len(), 704);
    }
}
