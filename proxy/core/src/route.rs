//! Route information: the preprocessing of RFC 3261 §16.4 on a received request, and the routing steps 6 and 7
//! of §16.6 on each forwarded copy.

use std::fmt::Write as _;

use carillon_sip::headers::NameAddr;
use carillon_sip::uri::{SipScheme, SipUri, Uri};
use carillon_sip::{Error, HeaderName, Message};

use crate::config::{Identity, OwnListener};

/// What §16.4 preprocessing found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Preprocessed {
    /// The request named this proxy in its route: a Route value of ours was removed, or a strict router put our
    /// Record-Route URI into the Request-URI. An in-dialog request that did so belongs to a dialog this proxy
    /// record-routed (or fronts as outbound proxy) and is forwarded without a target lookup.
    pub(crate) named_us: bool,
    /// The user part of the last of our URIs the request named, where this proxy writes its route token: when
    /// it record-routed twice, the last one faces the request's recipient (see `forward::make_copy`).
    pub(crate) last_user: Option<String>,
}

/// RFC 3261 §16.4 on a received request, in the RFC's order:
/// 1. a Request-URI that is a Record-Route URI of ours (one of our addresses, with `lr`) was put there by a strict
///    router: the last Route value becomes the Request-URI again and leaves the Route header;
/// 2. a `maddr` naming this proxy or its domains, on a request received at the port and transport the
///    Request-URI indicates, is stripped with the port and transport;
/// 3. Route values naming this proxy are removed from the top: one, or two when this proxy record-routed twice
///    (RFC 5658 §3.3: a transport or interface change).
pub(crate) fn preprocess(request: &mut Message, identity: &Identity, inbound: &OwnListener) -> Preprocessed {
    let mut found = Preprocessed::default();
    let uri = request.request_uri().map(str::to_owned).unwrap_or_default();
    if let Ok(Uri::Sip(sip)) = Uri::parse(&uri) {
        if identity.is_ours(&sip) && sip.lr() {
            let mut routes = route_values(request);
            if let Some(last) = routes.pop()
                && let Ok(addr) = NameAddr::parse_as(&last, HeaderName::Route)
            {
                found.last_user = sip.user.map(str::to_owned);
                request.set_request_uri(addr.uri);
                set_routes(request, &routes);
                found.named_us = true;
            }
        } else if let Some(stripped) = strip_own_maddr(&sip, identity, inbound) {
            request.set_request_uri(&stripped);
        }
    }
    // Bounded by the number of Route values: each pass removes one.
    for _ in 0..request.header_values(HeaderName::Route).count() {
        let Some(user) = request
            .header_values(HeaderName::Route)
            .next()
            .and_then(|top| NameAddr::parse_as(top, HeaderName::Route).ok())
            .and_then(|addr| SipUri::parse(addr.uri).ok())
            .filter(|uri| identity.is_ours(uri))
            .map(|uri| uri.user.map(str::to_owned))
        else {
            break;
        };
        found.last_user = user;
        request.remove_first_value(HeaderName::Route);
        found.named_us = true;
    }
    found
}

/// §16.4: the Request-URI without `maddr`, port and `transport` when its `maddr` names this proxy (or a domain it
/// is responsible for) and the request arrived at the port and transport the URI indicates.
fn strip_own_maddr(uri: &SipUri<'_>, identity: &Identity, inbound: &OwnListener) -> Option<String> {
    let maddr = uri.maddr()?;
    let as_uri = format!("sip:{maddr}");
    let maddr_uri = SipUri::parse(&as_uri).ok()?;
    if !identity.is_responsible_for(&maddr_uri) {
        return None;
    }
    let transport = uri.transport().unwrap_or(if uri.scheme == SipScheme::Sips { "tls" } else { "udp" });
    let default_port = if transport.eq_ignore_ascii_case("tls") { 5061 } else { 5060 };
    let arrived_there =
        uri.port.unwrap_or(default_port) == inbound.port && transport.eq_ignore_ascii_case(inbound.transport.as_str());
    if !arrived_there {
        return None;
    }
    let mut out = format!("{}:", uri.scheme.as_str());
    if let Some(user) = uri.user {
        out.push_str(user);
        if let Some(password) = uri.password {
            let _ = write!(out, ":{password}");
        }
        out.push('@');
    }
    let _ = write!(out, "{}", uri.host);
    for p in uri.iter_params() {
        if p.name.eq_ignore_ascii_case("maddr") || p.name.eq_ignore_ascii_case("transport") {
            continue;
        }
        out.push(';');
        out.push_str(p.name);
        if let Some(v) = p.value {
            let _ = write!(out, "={v}");
        }
    }
    if let Some(headers) = uri.headers {
        let _ = write!(out, "?{headers}");
    }
    Some(out)
}

/// Every Route value, top first.
fn route_values(request: &Message) -> Vec<String> {
    request.header_values(HeaderName::Route).map(str::to_owned).collect()
}

/// Replaces the Route header with `values`, one per line, where the first Route line was (first when there was
/// none).
fn set_routes(request: &mut Message, values: &[String]) {
    let at = request.headers().position(|h| h.name == HeaderName::Route).unwrap_or(0);
    request.remove_header(HeaderName::Route);
    for (i, value) in values.iter().enumerate() {
        request.insert_header(at + i, HeaderName::Route.as_str(), value);
    }
}

/// A route value as the caller wrote it, made a name-addr (`<...>`) so that URI parameters such as `lr` are not
/// read as header parameters. Fails unless it holds a SIP URI.
pub(crate) fn normalize_route(value: &str) -> Result<String, Error> {
    let value = value.trim();
    let value = if value.contains('<') { value.to_owned() } else { format!("<{value}>") };
    let addr = NameAddr::parse_as(&value, HeaderName::Route)?;
    SipUri::parse(addr.uri)?;
    Ok(value)
}

/// RFC 3261 §16.6 step 6: pushes `route` (normalized values) above the Route values already present, first value
/// on top.
pub(crate) fn push_routes(request: &mut Message, route: &[String]) {
    for value in route.iter().rev() {
        request.prepend_header(HeaderName::Route, value);
    }
}

/// RFC 3261 §16.6 step 7: the URI of the next hop. With a Route header, that is its top value; when the top value
/// is a strict router (no `lr`), the request is reshaped for it first: the Request-URI goes to the end of the
/// Route header and the top Route value becomes the Request-URI. Without a Route header it is the Request-URI.
pub(crate) fn next_hop(request: &mut Message) -> Result<String, Error> {
    let top = request.header_values(HeaderName::Route).next().map(str::to_owned);
    let Some(top) = top else {
        return Ok(request.request_uri().ok_or(Error::BadStartLine)?.to_owned());
    };
    let addr = NameAddr::parse_as(&top, HeaderName::Route)?;
    let uri = SipUri::parse(addr.uri)?;
    if uri.lr() {
        return Ok(addr.uri.to_owned());
    }
    let next = addr.uri.to_owned();
    let mut routes = route_values(request);
    routes.remove(0);
    routes.push(format!("<{}>", request.request_uri().ok_or(Error::BadStartLine)?));
    request.set_request_uri(&next);
    set_routes(request, &routes);
    Ok(next)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use carillon_sip::target::Transport;

    use super::*;
    use crate::config::{Listener, ListenerId, ProxyConfig};

    fn identity() -> Identity {
        let mut config = ProxyConfig::new(
            vec![Listener::new(Transport::Udp, "192.0.2.10", 5060), Listener::new(Transport::Tcp, "192.0.2.10", 5060)],
            "secret",
        );
        config.domains = vec!["campus.example".into()];
        Identity::new(&config).expect("valid configuration")
    }

    fn request(uri: &str, routes: &[&str]) -> Message {
        let mut text = format!("INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa\r\n");
        for r in routes {
            text.push_str(&format!("Route: {r}\r\n"));
        }
        text.push_str("To: <sip:bob@campus.example>\r\nFrom: <sip:alice@campus.example>;tag=1\r\n");
        text.push_str("Call-ID: c1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n");
        Message::parse(Bytes::from(text)).expect("valid request")
    }

    fn routes(m: &Message) -> Vec<&str> {
        m.header_values(HeaderName::Route).collect()
    }

    #[test]
    fn strict_router_fix_restores_the_request_uri_rfc3261_16_4() {
        let id = identity();
        let inbound = id.listener(ListenerId(0)).expect("listener").clone();
        // A strict router put our Record-Route URI into the Request-URI and the remote target last in Route.
        let mut r = request("sip:192.0.2.10:5060;transport=udp;lr", &["<sip:next.example;lr>", "<sip:bob@192.0.2.77>"]);
        let p = preprocess(&mut r, &id, &inbound);
        assert!(p.named_us);
        assert_eq!(p.last_user, None);
        assert_eq!(r.request_uri(), Some("sip:bob@192.0.2.77"));
        assert_eq!(routes(&r), ["<sip:next.example;lr>"]);
    }

    #[test]
    fn our_top_route_is_removed_once_or_twice_rfc3261_16_4_rfc5658() {
        let id = identity();
        let inbound = id.listener(ListenerId(0)).expect("listener").clone();
        let mut r = request(
            "sip:bob@192.0.2.77",
            &["<sip:192.0.2.10;lr>, <sip:192.0.2.10;transport=tcp;lr>", "<sip:x.example;lr>"],
        );
        assert!(preprocess(&mut r, &id, &inbound).named_us);
        assert_eq!(routes(&r), ["<sip:x.example;lr>"]);
        let mut r = request(
            "sip:bob@192.0.2.77",
            &["<sip:first@192.0.2.10;lr>", "<sip:second@192.0.2.10;transport=tcp;lr>", "<sip:third@x.example;lr>"],
        );
        let p = preprocess(&mut r, &id, &inbound);
        assert_eq!(p.last_user.as_deref(), Some("second"), "the user part of the last of ours");
        assert_eq!(routes(&r), ["<sip:third@x.example;lr>"]);
        let mut r = request("sip:bob@192.0.2.77", &["<sip:other.example;lr>", "<sip:192.0.2.10;lr>"]);
        assert!(!preprocess(&mut r, &id, &inbound).named_us, "only the top value is ours to remove");
        assert_eq!(routes(&r).len(), 2);
    }

    #[test]
    fn own_maddr_is_stripped_rfc3261_16_4() {
        let id = identity();
        let inbound = id.listener(ListenerId(0)).expect("listener").clone();
        let mut r = request("sip:bob@campus.example;maddr=192.0.2.10;transport=udp;foo=1", &[]);
        preprocess(&mut r, &id, &inbound);
        assert_eq!(r.request_uri(), Some("sip:bob@campus.example;foo=1"));
        let mut r = request("sip:bob@campus.example:5070;maddr=192.0.2.10", &[]);
        preprocess(&mut r, &id, &inbound);
        assert_eq!(r.request_uri(), Some("sip:bob@campus.example:5070;maddr=192.0.2.10"), "another port: kept");
    }

    #[test]
    fn strict_next_hop_is_reshaped_rfc3261_16_6_step_7() {
        let mut r = request("sip:bob@192.0.2.77", &["<sip:strict.example>", "<sip:after.example;lr>"]);
        assert_eq!(next_hop(&mut r).expect("routable"), "sip:strict.example");
        assert_eq!(r.request_uri(), Some("sip:strict.example"));
        assert_eq!(routes(&r), ["<sip:after.example;lr>", "<sip:bob@192.0.2.77>"]);
        let mut r = request("sip:bob@192.0.2.77", &["<sip:loose.example;lr>"]);
        assert_eq!(next_hop(&mut r).expect("routable"), "sip:loose.example;lr");
        assert_eq!(r.request_uri(), Some("sip:bob@192.0.2.77"));
        let mut r = request("sip:bob@192.0.2.77", &[]);
        assert_eq!(next_hop(&mut r).expect("routable"), "sip:bob@192.0.2.77");
    }

    #[test]
    fn pushed_routes_keep_their_order_rfc3261_16_6_step_6() {
        let mut r = request("sip:bob@192.0.2.77", &["<sip:old.example;lr>"]);
        let route = vec![
            normalize_route("sip:edge1.example;lr").expect("ok"),
            normalize_route("<sip:edge2.example;lr>").expect("ok"),
        ];
        push_routes(&mut r, &route);
        assert_eq!(routes(&r), ["<sip:edge1.example;lr>", "<sip:edge2.example;lr>", "<sip:old.example;lr>"]);
        assert!(normalize_route("tel:+15551234").is_err(), "a route must be a SIP URI");
    }
}
