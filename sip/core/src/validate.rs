//! Checks an element applies to a parsed message before acting on it.
//!
//! Parsing ([`crate::Message::parse`]) only frames the message and splits its lines; the grammar of each header is
//! checked lazily. [`check_request`] and [`check_response`] check everything every element relies on (RFC 3261
//! §8.2 header inspection, §16.3 step 1), and [`Policy::check`] adds what depends on the element's role and
//! configuration, in the order RFC 3261 §8.2 (user agent server) and §16.3 (proxy) give. The answer to any failure
//! is [`Error::disposition`], as for parse errors.

use crate::error::Error;
use crate::headers::{CSeq, Contact, MediaType, NameAddr, TokenList};
use crate::message::{HeaderName, Message, Method};
use crate::uri::{Host, Uri};

/// Structural checks of a request: a well-formed Request-URI without escaped headers, at least one Via and every
/// Via well-formed, exactly one well-formed To, From, Call-ID and CSeq (whose method matches the request's),
/// at most one well-formed Max-Forwards, and well-formed Contact, Route and Record-Route values.
pub fn check_request(msg: &Message) -> Result<(), Error> {
    let (Some(method), Some(uri)) = (msg.method(), msg.request_uri()) else {
        return Err(Error::BadStartLine);
    };
    match Uri::parse(uri) {
        // RFC 4475 §3.1.2.11: headers in a Request-URI are never acted on; reject rather than forward them.
        Ok(Uri::Sip(sip)) if sip.headers.is_some() => return Err(Error::BadRequestUri),
        Ok(_) => {}
        Err(_) => return Err(Error::BadRequestUri),
    }
    check_common(msg)?;
    let cseq = msg.cseq()?;
    if !method.is(cseq.method_text) {
        return Err(if method.is_known() { Error::CSeqMethodMismatch } else { Error::UnknownMethodMismatch });
    }
    if msg.header_lines(HeaderName::MaxForwards).nth(1).is_some() {
        return Err(Error::DuplicateHeader(HeaderName::MaxForwards));
    }
    msg.max_forwards()?;
    for v in msg.header_values(HeaderName::Contact) {
        Contact::parse(v)?;
    }
    for name in [HeaderName::Route, HeaderName::RecordRoute] {
        for v in msg.header_values(name) {
            NameAddr::parse_as(v, name)?;
        }
    }
    Ok(())
}

/// Structural checks of a response: every Via, and exactly one To, From, Call-ID and CSeq, well-formed. A
/// response failing them is dropped ([`Error::disposition`]).
pub fn check_response(msg: &Message) -> Result<(), Error> {
    if msg.status().is_none() {
        return Err(Error::BadStartLine);
    }
    check_common(msg)?;
    msg.cseq().map(|_: CSeq<'_>| ())
}

fn check_common(msg: &Message) -> Result<(), Error> {
    let mut vias = 0;
    for via in msg.vias() {
        via?;
        vias += 1;
    }
    if vias == 0 {
        return Err(Error::MissingHeader(HeaderName::Via));
    }
    for (name, addr) in [(HeaderName::To, msg.to()?), (HeaderName::From, msg.from()?)] {
        addr.parsed_uri().map_err(|_| Error::BadHeaderValue { name, reason: "malformed URI" })?;
    }
    msg.call_id()?;
    Ok(())
}

/// A proxy about to forward a response upstream sends it to the second Via (the first is its own). RFC 4475
/// §3.3.10: a broadcast, multicast or unspecified address there must not be used; the response is dropped.
pub fn check_upstream_via(response: &Message) -> Result<(), Error> {
    let bad = Error::BadHeaderValue { name: HeaderName::Via, reason: "upstream Via is not a unicast address" };
    let Some(next) = response.vias().nth(1) else { return Ok(()) };
    let next = next?;
    let host = next.received().unwrap_or(next.host);
    let unicast = match host {
        Host::V4(a) => !(a.is_broadcast() || a.is_multicast() || a.is_unspecified()),
        Host::V6(a) => !(a.is_multicast() || a.is_unspecified()),
        Host::Domain(_) => true,
    };
    if unicast { Ok(()) } else { Err(bad) }
}

/// The kind of element applying a [`Policy`]: the RFCs give them different duties (RFC 4475 §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A proxy (RFC 3261 §16): checks Max-Forwards and Proxy-Require, forwards the rest.
    Proxy,
    /// A registrar (RFC 3261 §10.3): a user agent server whose To must be a SIP address-of-record.
    Registrar,
    /// Any other user agent server (RFC 3261 §8.2).
    UserAgentServer,
}

/// What an element supports; [`Policy::check`] answers requests that need more.
#[derive(Debug, Clone)]
pub struct Policy<'a> {
    /// The element's role.
    pub role: Role,
    /// Request-URI schemes served, lower case (416 otherwise).
    pub uri_schemes: &'a [&'a str],
    /// Option tags supported (420 for others in Require, or Proxy-Require at a proxy).
    pub supported: &'a [&'a str],
    /// Methods implemented by a user agent server or registrar (501 for unknown methods, 405 for known ones).
    pub methods: &'a [Method],
    /// Body types understood by a user agent server (415 otherwise), lower case `type/subtype`.
    pub body_types: &'a [&'a str],
}

impl Policy<'_> {
    /// [`check_request`], then the role's checks in RFC order: method (UAS §8.2.1), URI scheme (§8.2.2.1 /
    /// §16.3 step 2), Max-Forwards (proxy, §16.3 step 3), address-of-record (registrar, §10.3 step 3), required
    /// extensions (§8.2.2.3 / §16.3 step 5), body type and acceptable answers (UAS, §8.2.3).
    pub fn check(&self, msg: &Message) -> Result<(), Error> {
        check_request(msg)?;
        let Some(method) = msg.method() else { return Err(Error::BadStartLine) };
        let uas = self.role != Role::Proxy;
        if uas && !self.methods.contains(method) {
            return Err(if method.is_known() { Error::MethodNotAllowed } else { Error::NotImplemented });
        }
        let uri = msg.request_uri().map(Uri::parse).transpose().map_err(|_| Error::BadRequestUri)?;
        if !uri.is_some_and(|u| self.uri_schemes.iter().any(|s| s.eq_ignore_ascii_case(u.scheme()))) {
            return Err(Error::UnsupportedUriScheme);
        }
        if self.role == Role::Proxy && msg.max_forwards()? == Some(0) {
            return Err(Error::TooManyHops);
        }
        if self.role == Role::Registrar {
            let aor = msg.to()?.parsed_uri()?;
            if aor.as_sip().is_none() {
                return Err(Error::BadHeaderValue {
                    name: HeaderName::To,
                    reason: "not a sip or sips address-of-record",
                });
            }
        }
        let requirement = if uas { HeaderName::Require } else { HeaderName::ProxyRequire };
        self.check_required(msg, requirement)?;
        if uas {
            self.check_body(msg, method)?;
        }
        Ok(())
    }

    fn check_required(&self, msg: &Message, header: HeaderName) -> Result<(), Error> {
        let mut unsupported = Vec::new();
        for tag in TokenList::new(msg, header).iter() {
            let tag = tag?;
            if !self.supported.iter().any(|s| s.eq_ignore_ascii_case(tag)) {
                unsupported.push(tag.to_owned());
            }
        }
        if unsupported.is_empty() { Ok(()) } else { Err(Error::BadExtension(unsupported)) }
    }

    fn check_body(&self, msg: &Message, method: &Method) -> Result<(), Error> {
        if !msg.body().is_empty() {
            let content_type = msg.header(HeaderName::ContentType).map(MediaType::parse).transpose()?;
            let understood = content_type.is_some_and(|ct| {
                self.body_types.iter().filter_map(|t| MediaType::parse(t).ok()).any(|t| t.is(ct.top_level, ct.subtype))
            });
            if !understood {
                return Err(Error::UnsupportedMediaType);
            }
        }
        // An INVITE is answered with SDP; RFC 4475 §3.3.15: an Accept that rules SDP out gets 406.
        if *method == Method::Invite && msg.header(HeaderName::Accept).is_some() {
            let sdp = MediaType::parse("application/sdp")?;
            let mut sdp_ok = false;
            for accept in msg.header_values(HeaderName::Accept) {
                sdp_ok |= MediaType::parse_as(accept, HeaderName::Accept)?.accepts(&sdp);
            }
            if !sdp_ok {
                return Err(Error::NotAcceptable);
            }
        }
        Ok(())
    }
}
