//! Forwarding a request (RFC 3261 §16.6): the copy for one target with its Record-Route, Route and Via, the branch
//! parameter with its loop-detection hash (§16.6 step 8) and the loop check that reads it back (§16.3 step 4),
//! and the branch of a request forwarded statelessly (§16.11).
//!
//! A branch this proxy writes is `z9hG4bK<loop>.<unique>`: `<loop>` is 16 hex digits of an HMAC-SHA256, keyed
//! with [`crate::ProxyConfig::secret`], over everything that decides how the request is routed (below), and
//! `<unique>` 16 hex digits derived from the randomness passed in with the request and the branch number. A
//! request arriving with a Via of ours whose `<loop>` equals the hash of the request as it arrived now has been
//! here before with the same routing inputs: it loops (482). A different hash means it spirals (it came back
//! retargeted, say from an alias to a user) and is processed again.
//!
//! The hash covers, after §16.4 preprocessing: the Request-URI, the To and From tags, the Call-ID, the CSeq
//! number, every Route value, and the Proxy-Require and Proxy-Authorization lines. The top Via is left out (it
//! is the previous hop's, and differs on every pass through a loop), which is why the hash is computed on the
//! request after our own Route values are removed: the same request seen again has lost the same values.

use std::fmt::Write as _;

use std::net::{IpAddr, SocketAddr};

use carillon_sip::headers::{Contact, MAGIC_COOKIE};
use carillon_sip::target::Transport;
use carillon_sip::uri::{Host, SipUri};
use carillon_sip::{Error, HeaderName, Message, Method};
use hmac::digest::Key;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::config::{Identity, ListenerId};
use crate::route::{next_hop, push_routes};
use crate::targets::{Flow, NextHop};
use crate::token::RouteToken;

/// Max-Forwards of a copy whose request had none (RFC 3261 §16.6 step 3).
const DEFAULT_MAX_FORWARDS: u8 = 70;

/// The §16.6 step 8 loop-detection hash of a preprocessed request: 16 hex digits.
pub(crate) fn loop_hash(secret: &[u8], request: &Message) -> String {
    let mut mac = keyed(secret);
    feed(&mut mac, b"loop");
    feed(&mut mac, request.request_uri().unwrap_or("").as_bytes());
    feed_dialog_fields(&mut mac, request);
    for route in request.header_values(HeaderName::Route) {
        feed(&mut mac, route.as_bytes());
    }
    feed_admission_fields(&mut mac, request);
    hex_prefix(&mac.finalize().into_bytes(), 8)
}

/// The branch of a request forwarded statelessly (RFC 3261 §16.11): the same for every retransmission of the
/// request, so it is a hash of the To and From tags, Call-ID, Request-URI, top Via, CSeq number and the
/// Proxy-Require and Proxy-Authorization lines.
pub(crate) fn stateless_branch(secret: &[u8], request: &Message) -> String {
    let mut mac = keyed(secret);
    feed(&mut mac, b"stateless");
    feed(&mut mac, request.request_uri().unwrap_or("").as_bytes());
    feed(&mut mac, request.header_values(HeaderName::Via).next().unwrap_or("").as_bytes());
    feed_dialog_fields(&mut mac, request);
    feed_admission_fields(&mut mac, request);
    format!("{MAGIC_COOKIE}{}", hex_prefix(&mac.finalize().into_bytes(), 16))
}

/// The branch of copy number `index` of a request whose loop hash is `loop_hash`.
pub(crate) fn branch(loop_hash: &str, random: u64, index: u32) -> String {
    format!("{MAGIC_COOKIE}{loop_hash}.{:016x}", mix(random, u64::from(index)))
}

/// `copy`, a request this proxy forwarded, as a new client transaction of the same branch: the unique part of its
/// top Via's branch replaced by `unique` (16 hex digits), the loop-detection part kept, so a loop is still seen.
/// For the request sent again to the next RFC 3263 target after a failure (RFC 3263 §4.3) or with credentials
/// after the next hop's challenge (RFC 3261 §22.2). Fails when the top Via has no branch of this proxy's shape.
pub fn rebranch(copy: &Message, unique: u64) -> Result<Message, Error> {
    let not_ours = Error::NotApplicable("the top Via's branch is not one this proxy wrote");
    let top =
        copy.header_values(HeaderName::Via).next().map(str::to_owned).ok_or(Error::MissingHeader(HeaderName::Via))?;
    let branch = copy.top_via()?.branch().map(str::to_owned).ok_or(not_ours.clone())?;
    let (stem, _) = branch.split_once('.').ok_or(not_ours.clone())?;
    if !stem.starts_with(MAGIC_COOKIE) {
        return Err(not_ours);
    }
    let fresh = format!("{stem}.{unique:016x}");
    let mut resent = copy.clone();
    resent.remove_first_value(HeaderName::Via);
    resent.prepend_header(HeaderName::Via, &top.replacen(&branch, &fresh, 1));
    Ok(resent)
}

/// RFC 3261 §16.3 step 4: whether some Via of the request carries one of our sent-by values and a branch with
/// the request's loop hash.
pub(crate) fn has_looped(request: &Message, identity: &Identity, loop_hash: &str) -> bool {
    request.vias().filter_map(Result::ok).any(|via| {
        identity.is_our_via(&via)
            && via
                .branch()
                .and_then(|b| b.strip_prefix(MAGIC_COOKIE))
                .and_then(|rest| rest.split_once('.'))
                .is_some_and(|(hash, _)| hash == loop_hash)
    })
}

/// A tag for responses this proxy generates, drawn from the request's randomness.
pub(crate) fn to_tag(random: u64) -> String {
    format!("{:016x}", mix(random, u64::MAX))
}

/// How one copy is made: what the caller's target says, and what the proxy knows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CopySpec<'a> {
    /// The new Request-URI; `None` keeps the request's.
    pub(crate) uri: Option<&'a str>,
    /// Route values (already normalized) to push.
    pub(crate) route: &'a [String],
    pub(crate) flow: Option<Flow>,
    /// The target's tag, for [`NextHop::tag`].
    pub(crate) tag: Option<&'a str>,
    pub(crate) branch: &'a str,
    /// Where the request arrived.
    pub(crate) inbound: ListenerId,
    /// Whether to add Record-Route (configuration, and never for REGISTER or ACK).
    pub(crate) record_route: bool,
    /// What the Record-Route entry facing the sender carries.
    pub(crate) sender: Side<'a>,
    /// What the Record-Route entry facing the target carries.
    pub(crate) target: Side<'a>,
}

/// What one side's Record-Route entry carries besides this proxy's address: a route token, and `ob`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Side<'a> {
    pub(crate) token: Option<&'a str>,
    pub(crate) ob: bool,
}

/// RFC 3261 §16.6 steps 1-9: the copy of `request` for one target, and where to send it.
///
/// Record-Route (step 4) names this proxy once, or twice (RFC 5658) when the two sides of the dialog need
/// different entries: the request leaves on another listener than it came in on, or a side has a route token
/// (RFC 5626 §5.3). Of two entries, the one facing the target is on top, so each side's route set lists this
/// proxy's entries with the one facing itself first: the last of this proxy's entries an in-dialog request names
/// is the one facing its recipient, and its token is the recipient's (see `Proxy::handle_request`).
pub(crate) fn make_copy(
    request: &Message,
    spec: CopySpec<'_>,
    identity: &Identity,
) -> Result<(Message, NextHop), Error> {
    // Step 1: copy.
    let mut copy = request.clone();
    // Step 2: Request-URI.
    if let Some(uri) = spec.uri
        && copy.request_uri() != Some(uri)
    {
        copy.set_request_uri(uri);
    }
    // Step 3: Max-Forwards.
    let max_forwards = copy.max_forwards()?.map_or(DEFAULT_MAX_FORWARDS, |n| n.saturating_sub(1));
    copy.set_header(HeaderName::MaxForwards, &max_forwards.to_string());
    // Steps 6 and 7 come before 4 and 8 here: the next hop decides the outbound listener, which Record-Route and
    // Via name.
    push_routes(&mut copy, spec.route);
    let uri = next_hop(&mut copy)?;
    let (transport, listener) = outbound(identity, &uri, spec.flow, spec.inbound)?;
    let out = identity.listener(listener).ok_or(Error::NotApplicable("unknown listener"))?;
    // Step 4: Record-Route; each side of the dialog must be given the address it can reach (RFC 5658) and the
    // token of its own flow.
    if spec.record_route {
        let inbound = identity.listener(spec.inbound).ok_or(Error::NotApplicable("unknown listener"))?;
        let facing_sender = inbound.record_route_with(spec.sender.token, spec.sender.ob);
        let facing_target = out.record_route_with(spec.target.token, spec.target.ob);
        copy.prepend_header(HeaderName::RecordRoute, &facing_sender);
        if facing_target != facing_sender {
            copy.prepend_header(HeaderName::RecordRoute, &facing_target);
        }
    }
    // Step 8: Via.
    let via = format!("SIP/2.0/{} {};branch={}", transport.as_str(), out.sent_by, spec.branch);
    copy.prepend_header(HeaderName::Via, &via);
    // Step 9: a stream transport needs Content-Length; a datagram may have come without one.
    if copy.header(HeaderName::ContentLength).is_none() {
        copy.set_header(HeaderName::ContentLength, &copy.body().len().to_string());
    }
    Ok((copy, NextHop { uri, flow: spec.flow, tag: spec.tag.map(str::to_owned), transport, listener }))
}

/// The text of the route token of `flow` and `tag`, keyed with `secret`: `None` when there is neither, or they
/// cannot be encoded (a flow on an unknown listener, a tag too long).
pub(crate) fn route_token(secret: &[u8], identity: &Identity, flow: Option<Flow>, tag: Option<&str>) -> Option<String> {
    let flow = match flow {
        Some(flow) => Some((identity.listener(flow.listener)?.transport, flow)),
        None => None,
    };
    RouteToken { flow, tag: tag.map(str::to_owned) }.encode(secret).ok()
}

/// Whether the sender of `request`, which arrived over `source`, is reached over that flow rather than at its
/// Contact, so that the Record-Route entry facing it must carry a token of `source` (RFC 5626 §5.3): `Some(ob)`
/// when it is, `ob` saying the Contact carries RFC 5626's `ob` parameter (§5.3.2: the user agent wants the
/// dialog's requests over this flow), which the entry then carries too. A flow is needed when the request
/// came over a connection (the user agent's NAT lets nothing else in), its Contact has `ob`, or it came over UDP
/// from another address or port than its Contact names (NAT, RFC 3581). A request without a Contact starts no
/// dialog; a Contact naming a host by name is taken to be reachable.
pub(crate) fn sender_flow(request: &Message, source: &Flow, transport: Transport) -> Option<bool> {
    let contact = request.header_values(HeaderName::Contact).next()?;
    let contact = Contact::parse(contact).ok()?;
    let uri = SipUri::parse(contact.address()?.uri).ok()?;
    let ob = uri.param("ob").is_some();
    if ob || transport.is_reliable() {
        return Some(ob);
    }
    let ip = match uri.host {
        Host::V4(a) => IpAddr::V4(a),
        Host::V6(a) => IpAddr::V6(a),
        Host::Domain(_) => return None,
    };
    (SocketAddr::new(ip, uri.port_or_default()) != source.remote).then_some(false)
}

/// The flow and tag an in-dialog request must follow, from the route token in `user` (the user part of the
/// last of this proxy's URIs it named, see `route::preprocess`): nothing unless the token is one of this proxy's
/// (a forged or changed one is ignored: the request is routed as if it had none) and its flow is on a listener of
/// the transport it was written for. The flow is left out when it is the one the request arrived over
/// (`source`): RFC 5626 §5.3 calls that an outgoing request, which goes on by its Route and Request-URI.
pub(crate) fn token_hop(
    secret: &[u8],
    identity: &Identity,
    user: Option<&str>,
    source: &Flow,
) -> (Option<Flow>, Option<String>) {
    let Some(token) = user.and_then(|user| RouteToken::decode(secret, user)) else { return (None, None) };
    let flow = token.flow.and_then(|(transport, flow)| {
        let listener = identity.listener(flow.listener)?;
        let incoming = listener.transport == transport && flow.remote != source.remote;
        incoming.then_some(flow)
    });
    (flow, token.tag)
}

/// Whether a request of this method gets Record-Route: not REGISTER (RFC 3261 §10.3: registrars ignore it, and
/// Path is the registration's route), not ACK (never forwarded statefully).
pub(crate) fn records_route(method: &Method) -> bool {
    !matches!(method, Method::Register | Method::Ack)
}

/// The transport and listener for a copy going to `uri` (or over `flow`): the flow's listener; otherwise the
/// URI's `transport` parameter, TLS for `sips:`, UDP by default; the inbound listener when it has that transport
/// (no interface change), else the first listener that has it. Without any listener for a transport the URI
/// merely defaults to, the inbound listener's transport is used.
fn outbound(
    identity: &Identity,
    uri: &str,
    flow: Option<Flow>,
    inbound: ListenerId,
) -> Result<(Transport, ListenerId), Error> {
    if let Some(flow) = flow {
        let listener = identity.listener(flow.listener).ok_or(Error::NotApplicable("flow on an unknown listener"))?;
        return Ok((listener.transport, flow.listener));
    }
    let uri = SipUri::parse(uri).map_err(|_| Error::BadUri("next hop is not a SIP URI"))?;
    let explicit = match uri.transport() {
        Some(t) => Some(Transport::parse(t).ok_or(Error::BadUri("unknown transport"))?),
        None if uri.is_secure() => Some(Transport::Tls),
        None => None,
    };
    let wanted = explicit.unwrap_or(Transport::Udp);
    let inbound_listener = identity.listener(inbound).ok_or(Error::NotApplicable("unknown listener"))?;
    if inbound_listener.transport == wanted {
        return Ok((wanted, inbound));
    }
    if let Some(listener) = identity.listener_for(wanted) {
        return Ok((wanted, listener));
    }
    match explicit {
        Some(_) => Err(Error::BadUri("no listener for the next hop's transport")),
        None => Ok((inbound_listener.transport, inbound)),
    }
}

fn keyed(secret: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; the fallback (an empty key) is never taken.
    <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Key::<Hmac<Sha256>>::default()))
}

/// Feeds one field, length-prefixed so that no two field lists hash alike.
fn feed(mac: &mut Hmac<Sha256>, field: &[u8]) {
    mac.update(&(field.len() as u64).to_be_bytes());
    mac.update(field);
}

fn feed_dialog_fields(mac: &mut Hmac<Sha256>, request: &Message) {
    let to_tag = request.to().ok().and_then(|t| t.tag()).unwrap_or("");
    let from_tag = request.from().ok().and_then(|f| f.tag()).unwrap_or("");
    feed(mac, to_tag.as_bytes());
    feed(mac, from_tag.as_bytes());
    feed(mac, request.call_id().unwrap_or("").as_bytes());
    feed(mac, &request.cseq().map_or(0, |c| c.seq).to_be_bytes());
}

fn feed_admission_fields(mac: &mut Hmac<Sha256>, request: &Message) {
    for name in [HeaderName::ProxyRequire, HeaderName::ProxyAuthorization] {
        feed(mac, name.as_str().as_bytes());
        for line in request.header_lines(name) {
            feed(mac, line.as_bytes());
        }
    }
}

fn hex_prefix(bytes: &[u8], len: usize) -> String {
    let mut out = String::with_capacity(len * 2);
    for b in bytes.iter().take(len) {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// SplitMix64 of `random` and `salt`: spreads one random value over many identifiers.
fn mix(random: u64, salt: u64) -> u64 {
    let mut z = random.wrapping_add(salt.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::config::{Listener, ProxyConfig};

    fn identity() -> Identity {
        let config = ProxyConfig::new(
            vec![Listener::new(Transport::Udp, "192.0.2.10", 5060), Listener::new(Transport::Tcp, "192.0.2.10", 5060)],
            "secret",
        );
        Identity::new(&config).expect("valid configuration")
    }

    fn invite(extra: &str) -> Message {
        let text = format!(
            "INVITE sip:bob@campus.example SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa\r\n{extra}\
             To: <sip:bob@campus.example>\r\nFrom: <sip:alice@campus.example>;tag=1\r\nCall-ID: c1\r\n\
             CSeq: 1 INVITE\r\n\r\n"
        );
        Message::parse(Bytes::from(text)).expect("valid request")
    }

    fn spec<'a>(branch: &'a str, route: &'a [String]) -> CopySpec<'a> {
        CopySpec {
            uri: Some("sip:bob@192.0.2.77"),
            route,
            flow: None,
            tag: None,
            branch,
            inbound: ListenerId(0),
            record_route: true,
            sender: Side::default(),
            target: Side::default(),
        }
    }

    fn flow(listener: usize, remote: &str, connection: Option<u64>) -> Flow {
        Flow { listener: ListenerId(listener), remote: remote.parse().expect("address"), connection }
    }

    #[test]
    fn copy_follows_rfc3261_16_6_steps() {
        let request = invite("Max-Forwards: 10\r\n");
        let (copy, hop) = make_copy(&request, spec("z9hG4bKx.1", &[]), &identity()).expect("copy");
        assert_eq!(copy.request_uri(), Some("sip:bob@192.0.2.77"), "step 2");
        assert_eq!(copy.max_forwards().expect("valid"), Some(9), "step 3");
        let rr: Vec<_> = copy.header_values(HeaderName::RecordRoute).collect();
        assert_eq!(rr, ["<sip:192.0.2.10:5060;transport=udp;lr>"], "step 4, one listener");
        assert_eq!(copy.top_via().expect("via").branch(), Some("z9hG4bKx.1"), "step 8");
        assert_eq!(copy.header(HeaderName::ContentLength), Some("0"), "step 9");
        assert_eq!(
            hop,
            NextHop {
                uri: "sip:bob@192.0.2.77".into(),
                flow: None,
                tag: None,
                transport: Transport::Udp,
                listener: ListenerId(0)
            }
        );
        assert_eq!(request.max_forwards().expect("valid"), Some(10), "the original is untouched");
    }

    #[test]
    fn missing_max_forwards_becomes_70_rfc3261_16_6_step_3() {
        let (copy, _) = make_copy(&invite(""), spec("z9hG4bKx.1", &[]), &identity()).expect("copy");
        assert_eq!(copy.max_forwards().expect("valid"), Some(70));
    }

    #[test]
    fn double_record_route_on_transport_change_rfc5658() {
        let route = ["<sip:gw.example;transport=tcp;lr>".to_owned()];
        let (copy, hop) = make_copy(&invite(""), spec("z9hG4bKx.1", &route), &identity()).expect("copy");
        assert_eq!((hop.transport, hop.listener), (Transport::Tcp, ListenerId(1)));
        let rr: Vec<_> = copy.header_values(HeaderName::RecordRoute).collect();
        assert_eq!(rr, ["<sip:192.0.2.10:5060;transport=tcp;lr>", "<sip:192.0.2.10:5060;transport=udp;lr>"]);
        assert!(copy.top_via().expect("via").transport.eq_ignore_ascii_case("TCP"));
    }

    #[test]
    fn a_side_with_a_token_gets_its_own_record_route_entry_rfc5626_5_3() {
        let id = identity();
        let mut spec = spec("z9hG4bKx.1", &[]);
        spec.sender = Side { token: Some("SENDER"), ob: true };
        let (copy, _) = make_copy(&invite(""), spec, &id).expect("copy");
        let rr: Vec<_> = copy.header_values(HeaderName::RecordRoute).collect();
        assert_eq!(
            rr,
            ["<sip:192.0.2.10:5060;transport=udp;lr>", "<sip:SENDER@192.0.2.10:5060;transport=udp;lr;ob>"],
            "the entry facing the target on top, the sender's token below"
        );
        spec.sender = Side::default();
        spec.target = Side { token: Some("TARGET"), ob: false };
        spec.flow = Some(flow(1, "198.51.100.7:40000", Some(3)));
        let (copy, hop) = make_copy(&invite(""), spec, &id).expect("copy");
        let rr: Vec<_> = copy.header_values(HeaderName::RecordRoute).collect();
        assert_eq!(rr, ["<sip:TARGET@192.0.2.10:5060;transport=tcp;lr>", "<sip:192.0.2.10:5060;transport=udp;lr>"]);
        assert_eq!((hop.listener, hop.flow), (ListenerId(1), spec.flow), "sent from the flow's listener");
    }

    #[test]
    fn a_sender_needs_a_token_behind_nat_on_a_connection_or_with_ob_rfc5626_5_3_2() {
        let with_contact = |contact: &str| invite(&format!("Contact: {contact}\r\n"));
        let source = flow(0, "198.51.100.7:40000", None);
        let udp = Transport::Udp;
        assert_eq!(sender_flow(&with_contact("<sip:a@198.51.100.7:40000>"), &source, udp), None, "reachable");
        assert_eq!(sender_flow(&with_contact("<sip:a@10.0.0.5:5060>"), &source, udp), Some(false), "private");
        assert_eq!(sender_flow(&with_contact("<sip:a@198.51.100.7>"), &source, udp), Some(false), "another port");
        assert_eq!(sender_flow(&with_contact("<sip:a@198.51.100.7:40000;ob>"), &source, udp), Some(true), "ob");
        assert_eq!(sender_flow(&with_contact("<sip:a@phone.example>"), &source, udp), None, "a name");
        assert_eq!(sender_flow(&with_contact("<sip:a@198.51.100.7:40000>"), &source, Transport::Tcp), Some(false));
        assert_eq!(sender_flow(&invite(""), &source, Transport::Tcp), None, "no Contact, no dialog");
        assert_eq!(sender_flow(&with_contact("*"), &source, udp), None);
    }

    #[test]
    fn a_token_is_followed_towards_its_flow_and_never_back_to_its_sender_rfc5626_5_3() {
        let id = identity();
        let phone = flow(1, "198.51.100.7:40000", Some(9));
        let token = route_token(b"k", &id, Some(phone), Some("trunk")).expect("encodable");
        let other = flow(0, "192.0.2.99:5060", None);
        assert_eq!(token_hop(b"k", &id, Some(&token), &other), (Some(phone), Some("trunk".into())), "incoming");
        assert_eq!(token_hop(b"k", &id, Some(&token), &phone), (None, Some("trunk".into())), "outgoing");
        assert_eq!(token_hop(b"another key", &id, Some(&token), &other), (None, None), "not ours");
        let mut changed = token.clone().into_bytes();
        changed[4] ^= 1;
        let changed = String::from_utf8(changed).expect("ASCII");
        assert_eq!(token_hop(b"k", &id, Some(&changed), &other), (None, None), "tampered");
        assert_eq!(token_hop(b"k", &id, Some("alice"), &other), (None, None), "an ordinary user part");
        assert_eq!(token_hop(b"k", &id, None, &other), (None, None));
        // A token for a listener that has another transport now (the configuration changed) is not followed.
        let stale = RouteToken { flow: Some((Transport::Tls, phone)), tag: None }.encode(b"k").expect("encodable");
        assert_eq!(token_hop(b"k", &id, Some(&stale), &other), (None, None));
        assert_eq!(route_token(b"k", &id, None, None), None);
        assert_eq!(route_token(b"k", &id, Some(flow(7, "192.0.2.1:1", None)), None), None, "unknown listener");
    }

    #[test]
    fn no_listener_for_an_explicit_transport_is_unroutable() {
        let route = ["<sip:gw.example;transport=tls;lr>".to_owned()];
        assert!(make_copy(&invite(""), spec("z9hG4bKx.1", &route), &identity()).is_err());
        let route = ["<tel:+15551234>".to_owned()];
        assert!(make_copy(&invite(""), spec("z9hG4bKx.1", &route), &identity()).is_err());
    }

    #[test]
    fn loop_hash_depends_on_routing_inputs_not_on_the_top_via_rfc3261_16_6_step_8() {
        let a = loop_hash(b"k", &invite(""));
        assert_eq!(a.len(), 16);
        let text = String::from_utf8(invite("").to_bytes().to_vec()).expect("UTF-8");
        let other_via = text.replace("192.0.2.1;branch=z9hG4bKa", "198.51.100.7;branch=z9hG4bKzz");
        let other_via = Message::parse(Bytes::from(other_via)).expect("valid request");
        assert_ne!(other_via.header(HeaderName::Via), invite("").header(HeaderName::Via));
        assert_eq!(loop_hash(b"k", &other_via), a, "the previous hop's Via changes on every pass of a loop");
        assert_ne!(loop_hash(b"k", &invite("Proxy-Authorization: Digest username=\"a\"\r\n")), a);
        assert_ne!(loop_hash(b"k", &invite("Route: <sip:x.example;lr>\r\n")), a);
        assert_ne!(loop_hash(b"other key", &invite("")), a);
        let mut retargeted = invite("");
        retargeted.set_request_uri("sip:alice@campus.example");
        assert_ne!(loop_hash(b"k", &retargeted), a, "a spiral hashes differently");
    }

    #[test]
    fn our_via_with_the_same_hash_is_a_loop_rfc3261_16_3_step_4() {
        let id = identity();
        let request = invite("");
        let hash = loop_hash(b"k", &request);
        let mut looped = request.clone();
        looped.prepend_header(HeaderName::Via, &format!("SIP/2.0/UDP 192.0.2.10:5060;branch={}", branch(&hash, 7, 0)));
        assert!(has_looped(&looped, &id, &hash));
        let mut foreign = request.clone();
        foreign.prepend_header(HeaderName::Via, &format!("SIP/2.0/UDP 192.0.2.99:5060;branch={}", branch(&hash, 7, 0)));
        assert!(!has_looped(&foreign, &id, &hash), "another element's Via");
        let mut spiral = request;
        spiral.prepend_header(
            HeaderName::Via,
            &format!("SIP/2.0/UDP 192.0.2.10;branch={}", branch("0123456789abcdef", 7, 0)),
        );
        assert!(!has_looped(&spiral, &id, &hash), "a spiral");
    }

    #[test]
    fn branches_are_distinct_and_stateless_ones_repeat() {
        assert_ne!(branch("h", 1, 0), branch("h", 1, 1));
        assert_ne!(branch("h", 1, 0), branch("h", 2, 0));
        let request = invite("");
        assert_eq!(stateless_branch(b"k", &request), stateless_branch(b"k", &request.clone()));
        assert!(stateless_branch(b"k", &request).starts_with(MAGIC_COOKIE));
    }
}
