//! Transaction matching: which transaction a received message belongs to (RFC 3261 §17.1.3, §17.2.3, §9.2).
//!
//! A [`TransactionKey`] is owned, hashable and cheap to clone (clones share one allocation: a busy element keeps
//! each key in several tables), so a driver keeps its transactions in a `HashMap` and looks each received message
//! up with the key computed from it:
//! - a response belongs to the client transaction with the same top Via branch and CSeq method (§17.1.3; the
//!   method is needed because a CANCEL shares the branch of the INVITE it cancels);
//! - a request whose top Via branch starts with the magic cookie `z9hG4bK` (and has something after it) belongs
//!   to the server transaction with the same branch, sent-by and method, an ACK matching the INVITE (§17.2.3);
//! - any other request (RFC 2543 peers, or a bare `z9hG4bK` branch as in RFC 4475 badbranch.dat) falls back to
//!   the RFC 2543 rules: Request-URI, To tag, From tag, Call-ID, CSeq and top Via.
//!
//! A CANCEL has its own key (it is its own non-INVITE transaction); [`TransactionKey::cancelled_invite`] gives
//! the key of the INVITE server transaction it cancels (§9.2).
//!
//! Branches, tags and the Call-ID are compared as written (retransmissions are copies, and RFC 3261 §20.8 makes
//! the Call-ID case-sensitive); host names and transports are compared case-insensitively.

use std::sync::Arc;

use crate::error::Error;
use crate::headers::Via;
use crate::message::{HeaderName, Message, Method};

/// Identifies one transaction. See the module documentation for what is compared.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TransactionKey(Arc<Key>);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// §17.1.3: the branch of the request sent, and its method.
    Client { branch: Box<str>, method: Method },
    /// §17.2.3 with an RFC 3261 branch.
    Server { branch: Box<str>, sent_by: Box<str>, method: Method },
    /// §17.2.3 for requests without an RFC 3261 branch.
    Rfc2543(Rfc2543Key),
}

/// The RFC 2543 identity of a request.
///
/// The To tag is left out for INVITE (and so for its ACK and the INVITE a CANCEL targets): a UAS adds a To tag
/// to its response, and the ACK of that response carries the new tag, so an ACK could never match its INVITE if
/// the tag were part of the key. The INVITE server transaction checks the ACK's To tag against the response it
/// sent instead.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Rfc2543Key {
    request_uri: Box<str>,
    to_tag: Option<Box<str>>,
    from_tag: Option<Box<str>>,
    call_id: Box<str>,
    cseq: u32,
    method: Method,
    top_via: Box<str>,
}

impl TransactionKey {
    /// The key of the client transaction that sends `request`: its top Via branch and method.
    ///
    /// Fails when the request has no top Via with an RFC 3261 branch: a client transaction must be able to match
    /// its responses, and only the branch lets it.
    pub fn for_client_request(request: &Message) -> Result<TransactionKey, Error> {
        let method = request.method().ok_or(Error::BadStartLine)?.clone();
        let branch = rfc3261_branch(&request.top_via()?)?;
        Ok(TransactionKey(Arc::new(Key::Client { branch: branch.into(), method })))
    }

    /// The key of the client transaction a response belongs to: its top Via branch and CSeq method (§17.1.3).
    pub fn for_response(response: &Message) -> Result<TransactionKey, Error> {
        if response.is_request() {
            return Err(Error::BadStartLine);
        }
        let branch = rfc3261_branch(&response.top_via()?)?;
        let method = response.cseq()?.method();
        Ok(TransactionKey(Arc::new(Key::Client { branch: branch.into(), method })))
    }

    /// The key of the server transaction a received request belongs to (§17.2.3). An ACK gets the key of the
    /// INVITE it acknowledges; a CANCEL gets its own.
    pub fn for_request(request: &Message) -> Result<TransactionKey, Error> {
        let method = request.method().ok_or(Error::BadStartLine)?;
        let method = if *method == Method::Ack { Method::Invite } else { method.clone() };
        server_key(request, method)
    }

    /// The key of the INVITE server transaction a CANCEL cancels (§9.2: the §17.2.3 rules with the method
    /// INVITE). Fails when `cancel` is not a CANCEL.
    pub fn cancelled_invite(cancel: &Message) -> Result<TransactionKey, Error> {
        if cancel.method() != Some(&Method::Cancel) {
            return Err(Error::NotApplicable("not a CANCEL"));
        }
        server_key(cancel, Method::Invite)
    }

    /// The method of the transaction (INVITE for an ACK's key).
    pub fn method(&self) -> &Method {
        match &*self.0 {
            Key::Client { method, .. } | Key::Server { method, .. } => method,
            Key::Rfc2543(k) => &k.method,
        }
    }

    /// The branch, unless this is an RFC 2543 key.
    pub fn branch(&self) -> Option<&str> {
        match &*self.0 {
            Key::Client { branch, .. } | Key::Server { branch, .. } => Some(branch),
            Key::Rfc2543(_) => None,
        }
    }

    /// Whether this key identifies a client transaction.
    pub fn is_client(&self) -> bool {
        matches!(*self.0, Key::Client { .. })
    }

    /// Whether this server key was built by the RFC 2543 fallback (no RFC 3261 branch in the request).
    pub fn is_rfc2543(&self) -> bool {
        matches!(*self.0, Key::Rfc2543(_))
    }
}

/// The branch, if it is an RFC 3261 one.
fn rfc3261_branch<'a>(via: &Via<'a>) -> Result<&'a str, Error> {
    match via.branch() {
        Some(branch) if via.has_rfc3261_branch() => Ok(branch),
        _ => Err(Error::BadHeaderValue { name: HeaderName::Via, reason: "no RFC 3261 branch" }),
    }
}

fn server_key(request: &Message, method: Method) -> Result<TransactionKey, Error> {
    let via = request.top_via()?;
    if let Ok(branch) = rfc3261_branch(&via) {
        return Ok(TransactionKey(Arc::new(Key::Server {
            branch: branch.into(),
            sent_by: sent_by(&via).into(),
            method,
        })));
    }
    let invite_class = method == Method::Invite;
    let to_tag = if invite_class { None } else { request.to()?.tag().map(Into::into) };
    let cseq = request.cseq()?.seq;
    Ok(TransactionKey(Arc::new(Key::Rfc2543(Rfc2543Key {
        request_uri: request.request_uri().ok_or(Error::BadStartLine)?.trim().into(),
        to_tag,
        from_tag: request.from()?.tag().map(Into::into),
        call_id: request.call_id()?.into(),
        cseq,
        method,
        top_via: normalized_via(&via).into(),
    }))))
}

/// `host[:port]`, the host in lower case (IPv6 in its canonical bracketed form).
fn sent_by(via: &Via<'_>) -> String {
    let host = via.host.to_string().to_ascii_lowercase();
    match via.port {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

/// The top Via with whitespace and case differences removed, for the RFC 2543 comparison.
fn normalized_via(via: &Via<'_>) -> String {
    let mut out = format!("{}/{}/{} {}", via.protocol, via.version, via.transport, sent_by(via)).to_ascii_uppercase();
    for p in via.params.iter() {
        out.push(';');
        out.push_str(&p.name.to_ascii_lowercase());
        if let Some(v) = p.value {
            out.push('=');
            out.push_str(v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn parse(text: &str) -> Message {
        Message::parse(Bytes::from(text.replace('\n', "\r\n"))).expect("valid test message")
    }

    const INVITE: &str = r#"INVITE sip:bob@biloxi.example.com SIP/2.0
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds
Max-Forwards: 70
To: <sip:bob@biloxi.example.com>
From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774
Call-ID: a84b4c76e66710
CSeq: 314159 INVITE
Content-Length: 0

"#;

    #[test]
    fn ack_and_retransmission_share_the_invite_key_but_cancel_does_not() {
        let invite = parse(INVITE);
        let key = TransactionKey::for_request(&invite).expect("key");
        let ack = parse(&INVITE.replacen("INVITE sip", "ACK sip", 1).replace("314159 INVITE", "314159 ACK"));
        assert_eq!(TransactionKey::for_request(&ack).expect("key"), key);
        let cancel = parse(&INVITE.replacen("INVITE sip", "CANCEL sip", 1).replace("314159 INVITE", "314159 CANCEL"));
        let cancel_key = TransactionKey::for_request(&cancel).expect("key");
        assert_ne!(cancel_key, key);
        assert_eq!(cancel_key.method(), &Method::Cancel);
        assert_eq!(TransactionKey::cancelled_invite(&cancel).expect("key"), key);
        assert!(TransactionKey::cancelled_invite(&invite).is_err());
    }

    #[test]
    fn sent_by_is_part_of_the_server_key_rfc3261_17_2_3() {
        let a = parse(INVITE);
        let b = parse(&INVITE.replace("pc33.atlanta.example.com;", "pc34.atlanta.example.com;"));
        let c = parse(&INVITE.replace("pc33.atlanta.example.com;", "PC33.Atlanta.Example.Com;"));
        let key = |m: &Message| TransactionKey::for_request(m).expect("key");
        assert_ne!(key(&a), key(&b));
        assert_eq!(key(&a), key(&c), "host names compare case-insensitively");
    }

    #[test]
    fn response_matches_the_client_key_by_branch_and_cseq_method_rfc3261_17_1_3() {
        let invite = parse(INVITE);
        let client = TransactionKey::for_client_request(&invite).expect("key");
        assert!(client.is_client());
        let response = Message::response_to(&invite, crate::StatusCode::RINGING).build().expect("response");
        assert_eq!(TransactionKey::for_response(&response).expect("key"), client);
        let cancel = parse(&INVITE.replacen("INVITE sip", "CANCEL sip", 1).replace("314159 INVITE", "314159 CANCEL"));
        let to_cancel = Message::response_to(&cancel, crate::StatusCode::OK).build().expect("response");
        assert_ne!(TransactionKey::for_response(&to_cancel).expect("key"), client);
        assert_ne!(client, TransactionKey::for_request(&invite).expect("key"), "client and server keys differ");
    }

    /// RFC 4475 §3.3.1 (badbranch.dat): a bare `z9hG4bK` is no transaction identifier.
    const BADBRANCH: &str = "OPTIONS sip:user@example.com SIP/2.0
To: sip:user@example.com
From: sip:caller@example.org;tag=33242
Max-Forwards: 3
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK
Accept: application/sdp
Call-ID: badbranch.sadonfo23i420jv0as0derf3j3n
CSeq: 8 OPTIONS
l: 0

";

    #[test]
    fn bare_magic_cookie_falls_back_to_rfc2543_matching_rfc4475_3_3_1() {
        let request = parse(BADBRANCH);
        let key = TransactionKey::for_request(&request).expect("fallback key");
        assert!(key.is_rfc2543());
        assert_eq!(key.branch(), None);
        assert!(TransactionKey::for_client_request(&request).is_err(), "no client transaction without a branch");
        let retransmission = parse(&BADBRANCH.replace("Via: SIP/2.0/UDP 192.0.2.1;", "Via: SIP/2.0/udp  192.0.2.1 ;"));
        assert_eq!(TransactionKey::for_request(&retransmission).expect("key"), key, "whitespace and case ignored");
        let other_cseq = parse(&BADBRANCH.replace("CSeq: 8", "CSeq: 9"));
        assert_ne!(TransactionKey::for_request(&other_cseq).expect("key"), key);
        let other_from_tag = parse(&BADBRANCH.replace("tag=33242", "tag=33243"));
        assert_ne!(TransactionKey::for_request(&other_from_tag).expect("key"), key);
        let other_uri = parse(&BADBRANCH.replace("OPTIONS sip:user@", "OPTIONS sip:other@"));
        assert_ne!(TransactionKey::for_request(&other_uri).expect("key"), key);
        let to_tagged = parse(&BADBRANCH.replace("To: sip:user@example.com", "To: sip:user@example.com;tag=x"));
        assert_ne!(TransactionKey::for_request(&to_tagged).expect("key"), key, "To tag matters for non-INVITE");
    }

    #[test]
    fn rfc2543_ack_with_the_response_to_tag_matches_its_invite_rfc3261_17_2_3() {
        let invite = parse(&INVITE.replace(";branch=z9hG4bK776asdhds", ";branch=776asdhds"));
        let key = TransactionKey::for_request(&invite).expect("key");
        assert!(key.is_rfc2543());
        let ack = parse(
            &INVITE
                .replace(";branch=z9hG4bK776asdhds", ";branch=776asdhds")
                .replacen("INVITE sip", "ACK sip", 1)
                .replace("314159 INVITE", "314159 ACK")
                .replace("<sip:bob@biloxi.example.com>", "<sip:bob@biloxi.example.com>;tag=a6c85cf"),
        );
        assert_eq!(TransactionKey::for_request(&ack).expect("key"), key);
    }
}
