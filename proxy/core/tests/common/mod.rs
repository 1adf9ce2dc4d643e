//! What the scenario and property tests share: a configured proxy, requests from a caller, the answers of
//! downstream user agents, and a driver loop that collects the proxy's actions.

#![allow(dead_code)] // each test file uses its own part of the helpers
#![allow(clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

use std::time::{Duration, Instant};

use bytes::Bytes;
use carillon_proxy_core::{
    Action, BranchId, ContextId, Flow, Handled, Listener, ListenerId, NextHop, Proxy, ProxyConfig,
};
use carillon_sip::target::Transport;
use carillon_sip::transaction::Event;
use carillon_sip::{Message, StatusCode};

/// The UDP listener.
pub(crate) const UDP: ListenerId = ListenerId(0);
/// The TCP listener, on the same address.
pub(crate) const TCP: ListenerId = ListenerId(1);

/// A proxy on 192.0.2.10:5060 (UDP and TCP), also known as proxy.campus.example, responsible for
/// campus.example.
pub(crate) fn proxy() -> Proxy {
    Proxy::new(config()).expect("valid configuration")
}

pub(crate) fn config() -> ProxyConfig {
    let mut config = ProxyConfig::new(
        vec![Listener::new(Transport::Udp, "192.0.2.10", 5060), Listener::new(Transport::Tcp, "192.0.2.10", 5060)],
        "test secret",
    );
    config.aliases = vec!["proxy.campus.example".into()];
    config.domains = vec!["campus.example".into()];
    config
}

/// The flow of Alice's phone on listener `inbound`: 192.0.2.1:5060, where its Contact says it is.
pub(crate) fn alice(inbound: ListenerId) -> Flow {
    Flow { listener: inbound, remote: "192.0.2.1:5060".parse().expect("address"), connection: None }
}

/// Parses test text written with `\n` line ends.
pub(crate) fn parse(text: &str) -> Message {
    Message::parse(Bytes::from(text.replace('\n', "\r\n"))).expect("valid test message")
}

/// A request from Alice's phone at 192.0.2.1: `method` to `uri`, with `extra` header lines (each ending in
/// `\n`).
pub(crate) fn request(method: &str, uri: &str, extra: &str) -> Message {
    parse(&format!(
        "{method} {uri} SIP/2.0
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKalice1;rport
Max-Forwards: 70
To: <sip:bob@campus.example>
From: \"Alice\" <sip:alice@campus.example>;tag=alicetag
Call-ID: call-1@192.0.2.1
CSeq: 1 {method}
Contact: <sip:alice@192.0.2.1:5060>
{extra}Content-Length: 0

"
    ))
}

pub(crate) fn invite(extra: &str) -> Message {
    request("INVITE", "sip:bob@campus.example", extra)
}

/// The response of the user agent a forwarded request reached, with its own To tag.
pub(crate) fn answer(forwarded: &Message, code: u16, extra: &[(&str, &str)]) -> Message {
    let status = StatusCode::new(code).expect("valid status");
    let mut builder = Message::response_to(forwarded, status);
    if code > 100 {
        builder = builder.to_tag("uas-tag");
    }
    for (name, value) in extra {
        builder = builder.header(name, value);
    }
    builder.build().expect("valid response")
}

/// A driver in miniature: the proxy, a virtual clock, and every action polled so far.
pub(crate) struct Harness {
    pub(crate) proxy: Proxy,
    pub(crate) now: Instant,
    pub(crate) actions: Vec<(ContextId, Action)>,
    random: u64,
}

impl Harness {
    pub(crate) fn new() -> Harness {
        Harness { proxy: proxy(), now: Instant::now(), actions: Vec::new(), random: 0x5eed }
    }

    pub(crate) fn with(proxy: Proxy) -> Harness {
        Harness { proxy, ..Harness::new() }
    }

    /// Hands `request` to the proxy as received on `inbound` from Alice's phone (192.0.2.1:5060, the address its
    /// Contact names), then polls the actions.
    pub(crate) fn receive(&mut self, request: Message, inbound: ListenerId) -> Handled {
        self.receive_over(request, alice(inbound))
    }

    /// Hands `request` to the proxy as received over `source`, then polls the actions.
    pub(crate) fn receive_over(&mut self, request: Message, source: Flow) -> Handled {
        self.random = self.random.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let handled = self.proxy.handle_request(self.now, request, source, self.random);
        self.poll();
        handled
    }

    /// Receives a request that must open a response context.
    pub(crate) fn open(&mut self, request: Message) -> ContextId {
        match self.receive(request, UDP) {
            Handled::Context(id) => id,
            other => panic!("expected a response context, got {other:?}"),
        }
    }

    pub(crate) fn poll(&mut self) {
        while let Some(action) = self.proxy.poll_action() {
            self.actions.push(action);
        }
    }

    pub(crate) fn targets(&mut self, id: ContextId, targets: carillon_proxy_core::Targets) {
        self.proxy.provide_targets(self.now, id, targets).expect("the context waits for targets");
        self.poll();
    }

    pub(crate) fn event(&mut self, id: ContextId, branch: u32, event: Event) {
        self.proxy.handle_branch_event(self.now, id, BranchId(branch), event);
        self.poll();
    }

    /// The user agent of `branch` in context `id` answers `code`.
    pub(crate) fn reply(&mut self, id: ContextId, branch: u32, code: u16) {
        let response = answer(&self.forward_of(id, branch).0, code, &[]);
        self.event(id, branch, Event::Response(response));
    }

    pub(crate) fn advance(&mut self, by: Duration) {
        self.now += by;
        while let Some(at) = self.proxy.poll_timeout() {
            if at > self.now {
                break;
            }
            self.proxy.handle_timeout(self.now);
            self.poll();
        }
    }

    /// The copy sent on `branch` of the latest context that has one.
    pub(crate) fn forwarded(&self, branch: u32) -> Message {
        self.forward(branch).0
    }

    /// The copy sent on `branch` of the latest context that has one, and where it went.
    pub(crate) fn forward(&self, branch: u32) -> (Message, NextHop) {
        self.find_forward(|_, b| b.0 == branch).unwrap_or_else(|| panic!("branch {branch} was never forwarded"))
    }

    /// The copy sent on `branch` of context `id`, and where it went.
    pub(crate) fn forward_of(&self, id: ContextId, branch: u32) -> (Message, NextHop) {
        self.find_forward(|c, b| c == id && b.0 == branch)
            .unwrap_or_else(|| panic!("branch {branch} of {id} was never forwarded"))
    }

    fn find_forward(&self, wanted: impl Fn(ContextId, BranchId) -> bool) -> Option<(Message, NextHop)> {
        self.actions.iter().rev().find_map(|(id, a)| match a {
            Action::Forward { branch, message, target } if wanted(*id, *branch) => {
                Some((message.clone(), target.clone()))
            }
            _ => None,
        })
    }

    pub(crate) fn forward_count(&self) -> usize {
        self.actions.iter().filter(|(_, a)| matches!(a, Action::Forward { .. })).count()
    }

    /// Branches cancelled so far, in order.
    pub(crate) fn cancelled(&self) -> Vec<u32> {
        self.actions
            .iter()
            .filter_map(|(_, a)| match a {
                Action::Cancel { branch, .. } => Some(branch.0),
                _ => None,
            })
            .collect()
    }

    /// Status codes of responses sent upstream, in order.
    pub(crate) fn upstream(&self) -> Vec<u16> {
        self.responses().iter().filter_map(|m| m.status()).map(StatusCode::as_u16).collect()
    }

    pub(crate) fn responses(&self) -> Vec<Message> {
        self.actions
            .iter()
            .filter_map(|(_, a)| match a {
                Action::Respond { message } => Some(message.clone()),
                _ => None,
            })
            .collect()
    }

    /// The last response sent upstream.
    pub(crate) fn last_response(&self) -> Message {
        self.responses().pop().expect("a response went upstream")
    }

    pub(crate) fn records(&self) -> Vec<carillon_proxy_core::CallRecord> {
        self.actions
            .iter()
            .filter_map(|(_, a)| match a {
                Action::Done(record) => Some(record.clone()),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn need_targets(&self) -> Vec<Message> {
        self.actions
            .iter()
            .filter_map(|(_, a)| match a {
                Action::NeedTargets { request } => Some(request.clone()),
                _ => None,
            })
            .collect()
    }
}

/// The response of a [`Handled::Respond`].
pub(crate) fn responded(handled: Handled) -> Message {
    match handled {
        Handled::Respond(m) => m,
        other => panic!("expected a response, got {other:?}"),
    }
}
