//! The REGISTER decisions, one RFC rule per test, on a virtual clock.

use std::net::SocketAddr;

use carillon_sip::target::Transport;

use super::*;
use crate::FlowId;

const NOW: Duration = Duration::from_secs(1_700_000_000);
const ALICE: &str = "sip:alice@campus.example";
const INSTANCE: &str = "urn:uuid:00000000-0000-1000-8000-000a95a0e128";

fn alice() -> Aor {
    Aor::parse(ALICE).expect("AOR")
}

/// Default policy without the random shortening, so expiries are exact.
fn exact() -> Config {
    Config { max_shortening_percent: 0, ..Config::default() }
}

fn flow(port: u16) -> Flow {
    Flow {
        transport: Transport::Tcp,
        source: SocketAddr::from(([192, 0, 2, 10], port)),
        local: SocketAddr::from(([198, 51, 100, 1], 5060)),
        id: Some(FlowId(u64::from(port))),
    }
}

fn context(config: &Config) -> RegisterContext<'_> {
    RegisterContext {
        authorization: Authorization::Granted(alice()),
        flow: flow(40000),
        node: NodeId::new("node-a"),
        config,
        random: 0x5eed,
    }
}

/// A REGISTER for alice, built field by field.
#[derive(Debug, Clone)]
struct Register {
    to: String,
    call_id: String,
    cseq: u32,
    vias: usize,
    headers: Vec<(String, String)>,
}

fn register() -> Register {
    Register {
        to: ALICE.to_owned(),
        call_id: "843817637684230@998sdasdh09".to_owned(),
        cseq: 1,
        vias: 1,
        headers: vec![],
    }
}

impl Register {
    fn contact(self, value: &str) -> Register {
        self.header("Contact", value)
    }

    fn header(mut self, name: &str, value: &str) -> Register {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    fn cseq(mut self, cseq: u32) -> Register {
        self.cseq = cseq;
        self
    }

    fn call_id(mut self, call_id: &str) -> Register {
        self.call_id = call_id.to_owned();
        self
    }

    fn to(mut self, to: &str) -> Register {
        self.to = to.to_owned();
        self
    }

    fn vias(mut self, vias: usize) -> Register {
        self.vias = vias;
        self
    }

    fn build(&self) -> Message {
        let mut b = Message::request(&Method::Register, "sip:campus.example");
        for hop in (0..self.vias).rev() {
            b = b
                .header("Via", format!("SIP/2.0/TCP 192.0.2.{}:5060;branch=z9hG4bKnashds{hop}{}", 10 + hop, self.cseq));
        }
        b = b
            .header("Max-Forwards", "70")
            .header("To", format!("<{}>", self.to))
            .header("From", format!("<{}>;tag=456248", self.to))
            .header("Call-ID", &self.call_id)
            .header("CSeq", format!("{} REGISTER", self.cseq));
        for (name, value) in &self.headers {
            b = b.header(name, value);
        }
        b.build().expect("a well-formed REGISTER")
    }
}

fn send(registrar: &mut Registrar, now: Duration, request: &Register, ctx: &RegisterContext<'_>) -> Outcome {
    registrar.register(now, &request.build(), ctx)
}

fn status(outcome: &Outcome) -> u16 {
    outcome.status().expect("a response").as_u16()
}

fn response(outcome: &Outcome) -> &Message {
    outcome.response.as_ref().expect("a response")
}

/// The Contact values of a response.
fn contacts(outcome: &Outcome) -> Vec<String> {
    response(outcome).header_values(HeaderName::Contact).map(str::to_owned).collect()
}

/// (URI, expires) of each Contact of a response.
fn listed(outcome: &Outcome) -> Vec<(String, u32)> {
    contacts(outcome)
        .iter()
        .map(|v| {
            let c = Contact::parse(v).expect("a Contact");
            (c.address().expect("an address").uri.to_owned(), c.expires().expect("an expires parameter"))
        })
        .collect()
}

fn kinds(changes: &[BindingChange]) -> Vec<&'static str> {
    changes
        .iter()
        .map(|c| match c {
            BindingChange::Insert(_) => "insert",
            BindingChange::Refresh(_) => "refresh",
            BindingChange::Remove(_) => "remove",
        })
        .collect()
}

fn stored(registrar: &Registrar) -> Vec<Binding> {
    registrar.bindings().get(&alice()).to_vec()
}

// ----- steps 4 and 5: who may register what -----

#[test]
fn unauthorised_user_gets_403_rfc3261_10_3_step4() {
    let config = exact();
    let mut registrar = Registrar::default();
    let ctx = RegisterContext { authorization: Authorization::Forbidden, ..context(&config) };
    let outcome = send(&mut registrar, NOW, &register().contact("<sip:alice@192.0.2.10>"), &ctx);
    assert_eq!(status(&outcome), 403);
    assert_eq!(outcome.rejection, Some(Rejection::Forbidden));
    assert!(outcome.changes.is_empty() && registrar.bindings().is_empty());
}

#[test]
fn unknown_aor_gets_404_rfc3261_10_3_step5() {
    let config = exact();
    let mut registrar = Registrar::default();
    let ctx = RegisterContext { authorization: Authorization::UnknownAor, ..context(&config) };
    let outcome = send(&mut registrar, NOW, &register().contact("<sip:nobody@192.0.2.10>"), &ctx);
    assert_eq!(status(&outcome), 404);
    assert!(registrar.bindings().is_empty());
}

#[test]
fn to_that_is_not_a_sip_uri_is_no_aor_rfc3261_10_3_step5() {
    let config = exact();
    let mut registrar = Registrar::default();
    let request = register().to("tel:+15551234567").contact("<sip:alice@192.0.2.10>");
    let outcome = send(&mut registrar, NOW, &request, &context(&config));
    assert_eq!(status(&outcome), 404);
    assert!(registrar.bindings().is_empty());
}

// ----- step 6: the wildcard -----

#[test]
fn wildcard_needs_expires_zero_rfc3261_10_3_step6() {
    let config = exact();
    let mut registrar = Registrar::default();
    send(&mut registrar, NOW, &register().contact("<sip:alice@192.0.2.10>"), &context(&config));
    for request in [
        register().cseq(2).contact("*"),
        register().cseq(2).contact("*").header("Expires", "3600"),
        register().cseq(2).contact("*").header("Expires", "0").contact("<sip:alice@192.0.2.11>"),
        register().cseq(2).contact("*, *").header("Expires", "0"),
    ] {
        let outcome = send(&mut registrar, NOW, &request, &context(&config));
        assert_eq!(status(&outcome), 400, "{request:?}");
        assert!(outcome.changes.is_empty());
    }
    assert_eq!(stored(&registrar).len(), 1, "nothing removed by a refused wildcard");
}

#[test]
fn wildcard_with_expires_zero_removes_every_binding_rfc3261_10_3_step6() {
    let config = exact();
    let mut registrar = Registrar::default();
    let request = register().contact("<sip:alice@192.0.2.10>").contact("<sip:alice@192.0.2.11>");
    send(&mut registrar, NOW, &request, &context(&config));
    let outcome =
        send(&mut registrar, NOW, &register().call_id("other").contact("*").header("Expires", "0"), &context(&config));
    assert_eq!(status(&outcome), 200);
    assert_eq!(kinds(&outcome.changes), ["remove", "remove"]);
    assert!(contacts(&outcome).is_empty(), "the 200 lists the (no) remaining bindings");
    assert!(registrar.bindings().is_empty() && registrar.bindings().aor_count() == 0);
}

#[test]
fn wildcard_from_an_older_request_of_the_same_call_fails_rfc3261_10_3_step6() {
    let config = exact();
    let mut registrar = Registrar::default();
    send(&mut registrar, NOW, &register().cseq(5).contact("<sip:alice@192.0.2.10>"), &context(&config));
    let outcome = send(&mut registrar, NOW, &register().cseq(4).contact("*").header("Expires", "0"), &context(&config));
    assert_eq!(status(&outcome), 500);
    assert_eq!(outcome.rejection, Some(Rejection::OutOfOrder));
    assert_eq!(stored(&registrar).len(), 1);
}

// ----- step 7: expiry -----

#[test]
fn expires_parameter_beats_header_beats_default_rfc3261_10_3_step7() {
    let config = Config { default_expires: 1200, ..exact() };
    let mut registrar = Registrar::default();
    let request = register()
        .contact("<sip:alice@192.0.2.10>;expires=600")
        .contact("<sip:alice@192.0.2.11>")
        .header("Expires", "900");
    let outcome = send(&mut registrar, NOW, &request, &context(&config));
    let mut got = listed(&outcome);
    got.sort();
    assert_eq!(got, [("sip:alice@192.0.2.10".to_owned(), 600), ("sip:alice@192.0.2.11".to_owned(), 900)]);
    let outcome = send(&mut registrar, NOW, &register().cseq(2).contact("<sip:alice@192.0.2.12>"), &context(&config));
    assert!(listed(&outcome).contains(&("sip:alice@192.0.2.12".to_owned(), 1200)), "default without either");
}

#[test]
fn malformed_expires_parameter_counts_as_3600_rfc3261_20_10() {
    let config = Config { max_expires: 7200, ..exact() };
    let mut registrar = Registrar::default();
    let outcome =
        send(&mut registrar, NOW, &register().contact("<sip:alice@192.0.2.10>;expires=soon"), &context(&config));
    assert_eq!(listed(&outcome), [("sip:alice@192.0.2.10".to_owned(), 3600)]);
}

#[test]
fn malformed_expires_header_is_a_bad_request_rfc3261_20_19() {
    let config = exact();
    let mut registrar = Registrar::default();
    let request = register().contact("<sip:alice@192.0.2.10>").header("Expires", "-1");
    let outcome = send(&mut registrar, NOW, &request, &context(&config));
    assert_eq!(status(&outcome), 400);
    assert!(registrar.bindings().is_empty());
}

#[test]
fn expiry_beyond_32_bits_is_the_longest_allowed() {
    let config = Config { max_expires: 7200, ..exact() };
    let mut registrar = Registrar::default();
    let request = register().contact("<sip:alice@192.0.2.10>").header("Expires", "99999999999999999999");
    let outcome = send(&mut registrar, NOW, &request, &context(&config));
    assert_eq!(listed(&outcome), [("sip:alice@192.0.2.10".to_owned(), 7200)]);
    let request = register().cseq(2).contact("<sip:alice@192.0.2.11>;expires=4294967296");
    let outcome = send(&mut registrar, NOW, &request, &context(&config));
    assert!(listed(&outcome).contains(&("sip:alice@192.0.2.11".to_owned(), 7200)));
}

#[test]
fn too_brief_interval_gets_423_with_min_expires_rfc3261_10_3_step7() {
    let config = Config { min_expires: 60, ..exact() };
    let mut registrar = Registrar::default();
    let request =
        register().contact("<sip:alice@192.0.2.10>;expires=3600").contact("<sip:alice@192.0.2.11>;expires=30");
    let outcome = send(&mut registrar, NOW, &request, &context(&config));
    assert_eq!(status(&outcome), 423);
    assert_eq!(response(&outcome).header(HeaderName::MinExpires), Some("60"));
    assert!(outcome.changes.is_empty() && registrar.bindings().is_empty(), "no contact of the request is bound");
}

#[test]
fn interval_of_an_hour_or_more_is_never_too_brief_rfc3261_10_3_step7() {
    // "If and only if the requested expiration interval is greater than zero AND smaller than one hour AND less
    // than a registrar-configured minimum": a longer request is granted as asked, never lengthened.
    let config = Config { min_expires: 7200, max_expires: 86400, ..exact() };
    let mut registrar = Registrar::default();
    let outcome =
        send(&mut registrar, NOW, &register().contact("<sip:alice@192.0.2.10>;expires=3600"), &context(&config));
    assert_eq!(listed(&outcome), [("sip:alice@192.0.2.10".to_owned(), 3600)]);
}

#[test]
fn long_request_is_shortened_to_the_maximum_rfc3261_10_3_step7() {
    let config = Config { max_expires: 3600, ..exact() };
    let mut registrar = Registrar::default();
    let outcome =
        send(&mut registrar, NOW, &register().contact("<sip:alice@192.0.2.10>;expires=86400"), &context(&config));
    assert_eq!(listed(&outcome), [("sip:alice@192.0.2.10".to_owned(), 3600)]);
    assert_eq!(stored(&registrar)[0].expires_at, NOW + Duration::from_secs(3600));
}

#[test]
fn random_shortening_stays_within_its_range_rfc3261_10_3_step7() {
    let config = Config { max_shortening_percent: 20, ..Config::default() };
    let mut granted = std::collections::BTreeSet::new();
    for random in 0..200u64 {
        let mut registrar = Registrar::default();
        let ctx = RegisterContext { random: random.wrapping_mul(0x9e37_79b9_7f4a_7c15), ..context(&config) };
        let outcome = send(&mut registrar, NOW, &register().contact("<sip:alice@192.0.2.10>;expires=3600"), &ctx);
        let (_, expires) = listed(&outcome)[0].clone();
        assert!((2880..=3600).contains(&expires), "{expires} outside [0.8 × 3600, 3600]");
        granted.insert(expires);
    }
    assert!(granted.len() > 50, "expiries spread over the range, got {} distinct values", granted.len());
}

#[test]
fn random_shortening_never_goes_below_the_minimum_rfc3261_10_3_step7() {
    let config = Config { min_expires: 60, max_shortening_percent: 50, ..Config::default() };
    for random in 0..50u64 {
        let mut registrar = Registrar::default();
        let ctx = RegisterContext { random: random.wrapping_mul(0x9e37_79b9_7f4a_7c15), ..context(&config) };
        let outcome = send(&mut registrar, NOW, &register().contact("<sip:alice@192.0.2.10>;expires=70"), &ctx);
        let (_, expires) = listed(&outcome)[0].clone();
        assert!((60..=70).contains(&expires), "{expires}");
    }
}

#[test]
fn expires_zero_removes_the_binding_rfc3261_10_3_step7() {
    let config = exact();
    let mut registrar = Registrar::default();
    send(
        &mut registrar,
        NOW,
        &register().contact("<sip:alice@192.0.2.10>").contact("<sip:alice@192.0.2.11>"),
        &context(&config),
    );
    let outcome =
        send(&mut registrar, NOW, &register().cseq(2).contact("<sip:alice@192.0.2.10>;expires=0"), &context(&config));
    assert_eq!(status(&outcome), 200);
    assert_eq!(kinds(&outcome.changes), ["remove"]);
    assert_eq!(&*outcome.changes[0].binding().contact, "sip:alice@192.0.2.10");
    assert_eq!(listed(&outcome), [("sip:alice@192.0.2.11".to_owned(), 3600)]);
}

#[test]
fn removing_an_unknown_contact_changes_nothing_rfc3261_10_3_step7() {
    let config = exact();
    let mut registrar = Registrar::default();
    let outcome = send(&mut registrar, NOW, &register().contact("<sip:alice@192.0.2.10>;expires=0"), &context(&config));
    assert_eq!(status(&outcome), 200);
    assert!(outcome.changes.is_empty() && registrar.bindings().is_empty());
}

// ----- step 7: Call-ID and CSeq ordering, all or nothing -----

#[test]
fn older_request_of_the_same_call_fails_with_500_rfc3261_10_3_step7() {
    let config = exact();
    let mut registrar = Registrar::default();
    send(&mut registrar, NOW, &register().cseq(5).contact("<sip:alice@192.0.2.10>;expires=600"), &context(&config));
    for cseq in [4, 5] {
        let request = register().cseq(cseq).contact("<sip:alice@192.0.2.10>;expires=0");
        let outcome = send(&mut registrar, NOW, &request, &context(&config));
        assert_eq!(status(&outcome), 500, "CSeq {cseq} is not higher than 5");
        assert_eq!(outcome.rejection, Some(Rejection::OutOfOrder));
    }
    assert_eq!(stored(&registrar).len(), 1, "the binding survived");
    let outcome =
        send(&mut registrar, NOW, &register().cseq(6).contact("<sip:alice@192.0.2.10>;expires=900"), &context(&config));
    assert_eq!((status(&outcome), kinds(&outcome.changes)), (200, vec!["refresh"]));
}

#[test]
fn another_call_id_updates_whatever_its_cseq_rfc3261_10_3_step7() {
    let config = exact();
    let mut registrar = Registrar::default();
    send(&mut registrar, NOW, &register().cseq(50).contact("<sip:alice@192.0.2.10>"), &context(&config));
    let request = register().call_id("rebooted-phone").cseq(1).contact("<sip:alice@192.0.2.10>;expires=120");
    let outcome = send(&mut registrar, NOW, &request, &context(&config));
    assert_eq!(kinds(&outcome.changes), ["refresh"]);
    let binding = &stored(&registrar)[0];
    assert_eq!((&*binding.call_id, binding.cseq), ("rebooted-phone", 1), "each binding records Call-ID and CSeq");
}

#[test]
fn one_failing_contact_fails_the_whole_request_rfc3261_10_3_step7() {
    let config = exact();
    let mut registrar = Registrar::default();
    send(&mut registrar, NOW, &register().cseq(5).contact("<sip:alice@192.0.2.10>"), &context(&config));
    let request = register().cseq(5).contact("<sip:alice@192.0.2.11>").contact("<sip:alice@192.0.2.10>;expires=0");
    let outcome = send(&mut registrar, NOW, &request, &context(&config));
    assert_eq!(status(&outcome), 500);
    assert!(outcome.changes.is_empty());
    let contacts: Vec<_> = stored(&registrar).iter().map(|b| b.contact.to_string()).collect();
    assert_eq!(contacts, ["sip:alice@192.0.2.10"], "the tentative new binding was not committed");
}

#[test]
fn contacts_match_by_uri_equivalence_rfc3261_10_3_step7_19_1_4() {
    let config = exact();
    let mut registrar = Registrar::default();
    let first = send(
        &mut registrar,
        NOW,
        &register().contact("<sip:alice@Host.Example:5060;transport=tcp>"),
        &context(&config),
    );
    let request = register().cseq(2).contact("<SIP:alice@host.example:5060;TRANSPORT=TCP>;expires=100");
    let outcome = send(&mut registrar, NOW, &request, &context(&config));
    assert_eq!(kinds(&outcome.changes), ["refresh"]);
    assert_eq!(outcome.changes[0].binding().id, first.changes[0].binding().id, "the same binding, refreshed");
    assert_eq!(stored(&registrar).len(), 1);
    let outcome = send(&mut registrar, NOW, &register().cseq(3).contact("<sip:alice@host.example>"), &context(&config));
    assert_eq!(kinds(&outcome.changes), ["insert"], "without the port it is another URI (§19.1.4)");
}

#[test]
fn a_contact_repeated_in_one_request_is_one_binding() {
    let config = exact();
    let mut registrar = Registrar::default();
    let request =
        register().contact("<sip:alice@192.0.2.10>;expires=100").contact("<sip:alice@192.0.2.10>;expires=200");
    let outcome = send(&mut registrar, NOW, &request, &context(&config));
    assert_eq!(status(&outcome), 200);
    assert_eq!(listed(&outcome), [("sip:alice@192.0.2.10".to_owned(), 200)], "the last one counts");
    assert_eq!(kinds(&outcome.changes), ["insert"]);
}

// ----- multiple contacts and limits -----

#[test]
fn an_aor_holds_several_contacts_up_to_the_limit() {
    let config = Config { max_contacts: 2, ..exact() };
    let mut registrar = Registrar::default();
    let desk =
        send(&mut registrar, NOW, &register().call_id("desk").contact("<sip:alice@192.0.2.10>"), &context(&config));
    let soft =
        send(&mut registrar, NOW, &register().call_id("soft").contact("<sip:alice@192.0.2.11>"), &context(&config));
    assert_eq!((status(&desk), status(&soft)), (200, 200));
    assert_eq!(listed(&soft).len(), 2, "the 200 lists every binding of the AOR (step 8)");
    let third =
        send(&mut registrar, NOW, &register().call_id("mobile").contact("<sip:alice@192.0.2.12>"), &context(&config));
    assert_eq!(status(&third), 403);
    assert_eq!(response(&third).reason(), Some("Too Many Registrations"));
    assert_eq!(third.rejection, Some(Rejection::TooManyContacts { limit: 2 }));
    let refresh = send(
        &mut registrar,
        NOW,
        &register().call_id("desk").cseq(2).contact("<sip:alice@192.0.2.10>"),
        &context(&config),
    );
    assert_eq!(status(&refresh), 200, "a full AOR can still refresh");
}

#[test]
fn an_aor_over_a_lowered_limit_may_refresh_but_not_grow() {
    let mut registrar = Registrar::default();
    let request = register()
        .contact("<sip:alice@192.0.2.10>")
        .contact("<sip:alice@192.0.2.11>")
        .contact("<sip:alice@192.0.2.12>");
    send(&mut registrar, NOW, &request, &context(&exact()));
    let lowered = Config { max_contacts: 1, ..exact() };
    let refresh = send(&mut registrar, NOW, &request.clone().cseq(2), &context(&lowered));
    assert_eq!(status(&refresh), 200);
    let grow = send(&mut registrar, NOW, &register().cseq(3).contact("<sip:alice@192.0.2.13>"), &context(&lowered));
    assert_eq!(status(&grow), 403);
}

#[test]
fn a_full_store_answers_503() {
    let config = exact();
    let mut registrar = Registrar::new(Limits { max_bindings: 1, ..Limits::default() });
    send(&mut registrar, NOW, &register().contact("<sip:alice@192.0.2.10>"), &context(&config));
    let outcome = send(&mut registrar, NOW, &register().cseq(2).contact("<sip:alice@192.0.2.11>"), &context(&config));
    assert_eq!(status(&outcome), 503);
    assert_eq!(registrar.bindings().len(), 1);
}

#[test]
fn too_many_contacts_in_one_request_are_refused() {
    let config = Config { max_contacts: 100, ..exact() };
    let mut registrar = Registrar::new(Limits { max_contacts_per_request: 3, ..Limits::default() });
    let mut request = register();
    for host in 10..14 {
        request = request.contact(&format!("<sip:alice@192.0.2.{host}>"));
    }
    let outcome = send(&mut registrar, NOW, &request, &context(&config));
    assert_eq!(status(&outcome), 403);
    assert!(registrar.bindings().is_empty());
}

#[test]
fn values_longer_than_stored_are_refused() {
    let config = exact();
    let mut registrar = Registrar::new(Limits { max_contact_len: 40, max_call_id_len: 20, ..Limits::default() });
    let long_contact = format!("<sip:{}@192.0.2.10>", "a".repeat(40));
    assert_eq!(status(&send(&mut registrar, NOW, &register().contact(&long_contact), &context(&config))), 400);
    let long_call = register().call_id(&"c".repeat(21)).contact("<sip:alice@192.0.2.10>");
    assert_eq!(status(&send(&mut registrar, NOW, &long_call, &context(&config))), 400);
    assert!(registrar.bindings().is_empty());
}

#[test]
fn user_agent_is_cut_not_refused() {
    let config = exact();
    let mut registrar = Registrar::new(Limits { max_user_agent_len: 3, ..Limits::default() });
    let request = register().contact("<sip:alice@192.0.2.10>").header("User-Agent", "Snömobile/1.0 (büro)");
    assert_eq!(status(&send(&mut registrar, NOW, &request, &context(&config))), 200);
    assert_eq!(stored(&registrar)[0].user_agent.as_deref(), Some("Sn"), "cut before the ö it would split");
}

#[test]
fn malformed_contacts_are_bad_requests() {
    let config = exact();
    let mut registrar = Registrar::default();
    for contact in [
        "<tel:+15551234567>",
        "<sip:alice@192.0.2.10>;q=2",
        "<sip:alice@192.0.2.10>;reg-id=0;+sip.instance=\"<urn:uuid:1>\"",
        "<sip:alice@192.0.2.10>;reg-id=x;+sip.instance=\"<urn:uuid:1>\"",
        "<sip:alice@192.0.2.10>;+sip.instance=\"<urn:uu\\\"id>\"",
        "<sip:alice@192.0.2.10",
    ] {
        let outcome = send(&mut registrar, NOW, &register().contact(contact), &context(&config));
        assert_eq!(status(&outcome), 400, "{contact}");
    }
    assert!(registrar.bindings().is_empty());
}

// ----- step 8: the answer -----

#[test]
fn the_200_lists_every_binding_with_its_remaining_expiry_and_a_date_rfc3261_10_3_step8() {
    let config = exact();
    let mut registrar = Registrar::default();
    send(
        &mut registrar,
        NOW,
        &register().call_id("desk").contact("<sip:alice@192.0.2.10>;expires=600;q=0.5"),
        &context(&config),
    );
    let later = NOW + Duration::from_secs(100);
    let outcome =
        send(&mut registrar, later, &register().call_id("soft").contact("<sip:alice@192.0.2.11>"), &context(&config));
    let mut got = listed(&outcome);
    got.sort();
    assert_eq!(got, [("sip:alice@192.0.2.10".to_owned(), 500), ("sip:alice@192.0.2.11".to_owned(), 3600)]);
    assert!(contacts(&outcome).iter().any(|c| c.contains(";q=0.5;")), "q kept: {:?}", contacts(&outcome));
    let message = response(&outcome);
    assert_eq!(message.header(HeaderName::Date), Some("Tue, 14 Nov 2023 22:15:00 GMT"));
    assert!(message.to().expect("To").tag().is_some(), "a registrar's response carries a To tag (§8.2.6.2)");
}

#[test]
fn a_register_without_contact_is_a_query_rfc3261_10_2_3() {
    let config = exact();
    let mut registrar = Registrar::default();
    send(&mut registrar, NOW, &register().contact("<sip:alice@192.0.2.10>;expires=600"), &context(&config));
    let outcome = send(&mut registrar, NOW + Duration::from_secs(60), &register().cseq(2), &context(&config));
    assert_eq!(status(&outcome), 200);
    assert_eq!(listed(&outcome), [("sip:alice@192.0.2.10".to_owned(), 540)]);
    assert!(outcome.changes.is_empty(), "a query changes nothing");
}

#[test]
fn a_query_drops_expired_bindings() {
    let config = exact();
    let mut registrar = Registrar::default();
    send(&mut registrar, NOW, &register().contact("<sip:alice@192.0.2.10>;expires=600"), &context(&config));
    let outcome = send(&mut registrar, NOW + Duration::from_secs(600), &register().cseq(2), &context(&config));
    assert!(contacts(&outcome).is_empty());
    assert_eq!(kinds(&outcome.changes), ["remove"]);
    assert!(registrar.bindings().is_empty());
}

// ----- RFC 3327: Path -----

#[test]
fn path_is_stored_and_echoed_when_supported_rfc3327_5_3() {
    let config = exact();
    let mut registrar = Registrar::default();
    let request = register()
        .vias(2)
        .header("Path", "<sip:edge.campus.example;lr>")
        .header("Supported", "path")
        .contact("<sip:alice@10.0.0.7:5060>");
    let outcome = send(&mut registrar, NOW, &request, &context(&config));
    assert_eq!(
        response(&outcome).header_values(HeaderName::Path).collect::<Vec<_>>(),
        ["<sip:edge.campus.example;lr>"]
    );
    let targets = registrar.targets(&alice(), NOW);
    assert_eq!(targets[0].path.iter().map(|p| p.to_string()).collect::<Vec<_>>(), ["<sip:edge.campus.example;lr>"]);
}

#[test]
fn path_is_stored_but_not_echoed_without_support_rfc3327_5_3() {
    let config = exact();
    let mut registrar = Registrar::default();
    let request = register().vias(2).header("Path", "<sip:edge.campus.example;lr>").contact("<sip:alice@10.0.0.7>");
    let outcome = send(&mut registrar, NOW, &request, &context(&config));
    assert_eq!(status(&outcome), 200);
    assert!(response(&outcome).header(HeaderName::Path).is_none());
    assert_eq!(stored(&registrar)[0].path.len(), 1);
}

// ----- RFC 5626: outbound -----

fn outbound_contact(uri: &str, reg_id: u32) -> String {
    format!("<{uri}>;+sip.instance=\"<{INSTANCE}>\";reg-id={reg_id}")
}

#[test]
fn outbound_registration_is_acknowledged_with_require_outbound_rfc5626_6() {
    let config = Config { flow_timer: Some(120), ..exact() };
    let mut registrar = Registrar::default();
    let request = register()
        .header("Supported", "path, outbound")
        .contact(&outbound_contact("sip:alice@10.0.0.7:5061;transport=tcp", 1));
    let outcome = send(&mut registrar, NOW, &request, &context(&config));
    assert_eq!(status(&outcome), 200);
    let message = response(&outcome);
    assert_eq!(message.header(HeaderName::Require), Some("outbound"));
    assert_eq!(message.header(HeaderName::Supported), Some("path, outbound"));
    assert_eq!(message.header(HeaderName::FlowTimer), Some("120"));
    let listed = contacts(&outcome);
    let contact = Contact::parse(&listed[0]).expect("Contact");
    assert_eq!((contact.instance(), contact.reg_id()), (Some(INSTANCE), Some(1)), "the UA finds its flow again");
    let binding = &stored(&registrar)[0];
    assert_eq!((binding.reg_id, binding.flow.id), (Some(1), Some(FlowId(40000))), "the flow is recorded");
}

#[test]
fn same_instance_and_reg_id_replace_the_flow_even_with_a_new_uri_rfc5626_6() {
    let config = exact();
    let mut registrar = Registrar::default();
    let first = register().header("Supported", "outbound").contact(&outbound_contact("sip:alice@10.0.0.7:5061", 1));
    let first = send(&mut registrar, NOW, &first, &context(&config));
    // The phone's NAT binding changed: new connection, new contact port, new Call-ID.
    let later = NOW + Duration::from_secs(30);
    let second = register()
        .call_id("after-reconnect")
        .header("Supported", "outbound")
        .contact(&outbound_contact("sip:alice@10.0.0.7:6001", 1));
    let ctx = RegisterContext { flow: flow(40001), ..context(&config) };
    let second = send(&mut registrar, later, &second, &ctx);
    assert_eq!(kinds(&second.changes), ["refresh"]);
    assert_eq!(second.changes[0].binding().id, first.changes[0].binding().id);
    let bindings = stored(&registrar);
    assert_eq!(bindings.len(), 1, "the old flow's binding is gone");
    assert_eq!((&*bindings[0].contact, bindings[0].flow.id), ("sip:alice@10.0.0.7:6001", Some(FlowId(40001))));
}

#[test]
fn two_reg_ids_are_two_flows_of_one_instance_rfc5626_6() {
    let config = exact();
    let mut registrar = Registrar::default();
    let uri = "sip:alice@10.0.0.7:5061";
    send(
        &mut registrar,
        NOW,
        &register().call_id("f1").header("Supported", "outbound").contact(&outbound_contact(uri, 1)),
        &context(&config),
    );
    let ctx = RegisterContext { flow: flow(40001), ..context(&config) };
    send(
        &mut registrar,
        NOW,
        &register().call_id("f2").header("Supported", "outbound").contact(&outbound_contact(uri, 2)),
        &ctx,
    );
    let mut reg_ids: Vec<_> = stored(&registrar).iter().map(|b| b.reg_id).collect();
    reg_ids.sort();
    assert_eq!(reg_ids, [Some(1), Some(2)]);
}

#[test]
fn outbound_through_an_edge_proxy_needs_ob_in_the_first_path_rfc5626_6() {
    let config = exact();
    let mut registrar = Registrar::default();
    let request = |path: &str| {
        register()
            .vias(2)
            .header("Path", path)
            .header("Supported", "path, outbound")
            .contact(&outbound_contact("sip:alice@10.0.0.7:5061", 1))
    };
    let without_ob = send(&mut registrar, NOW, &request("<sip:edge.campus.example;lr>"), &context(&config));
    assert_eq!(status(&without_ob), 439);
    assert!(registrar.bindings().is_empty());
    let with_ob = send(&mut registrar, NOW, &request("<sip:edge.campus.example;lr;ob>").cseq(2), &context(&config));
    assert_eq!(status(&with_ob), 200);
    assert_eq!(response(&with_ob).header(HeaderName::Require), Some("outbound"));
}

#[test]
fn reg_id_is_ignored_unless_outbound_is_asked_for_and_supported_rfc5626_6() {
    let cases = [
        ("no Supported: outbound", exact(), register().vias(2).contact(&outbound_contact("sip:alice@10.0.0.7", 1))),
        (
            "registrar without outbound",
            Config { outbound: false, ..exact() },
            register().header("Supported", "outbound").contact(&outbound_contact("sip:alice@10.0.0.7", 1)),
        ),
        (
            "reg-id without instance",
            exact(),
            register().header("Supported", "outbound").contact("<sip:alice@10.0.0.7>;reg-id=1"),
        ),
    ];
    for (case, config, request) in cases {
        let mut registrar = Registrar::default();
        let outcome = send(&mut registrar, NOW, &request, &context(&config));
        assert_eq!(status(&outcome), 200, "{case}");
        assert_eq!(response(&outcome).header(HeaderName::Require), None, "{case}");
        assert_eq!(stored(&registrar)[0].reg_id, None, "{case}: an ordinary binding");
    }
    let outcome = send(
        &mut Registrar::default(),
        NOW,
        &register().header("Supported", "outbound").contact(&outbound_contact("sip:alice@10.0.0.7", 1)),
        &context(&Config { outbound: false, ..exact() }),
    );
    assert_eq!(response(&outcome).header(HeaderName::Supported), Some("path"), "outbound not offered");
}

#[test]
fn several_registering_contacts_with_a_reg_id_are_a_bad_request_rfc5626_6() {
    let config = exact();
    let mut registrar = Registrar::default();
    let request = register()
        .header("Supported", "outbound")
        .contact(&outbound_contact("sip:alice@10.0.0.7", 1))
        .contact("<sip:alice@10.0.0.8>");
    assert_eq!(status(&send(&mut registrar, NOW, &request, &context(&config))), 400);
    // One registering contact and one removed is fine.
    let request = register()
        .cseq(2)
        .header("Supported", "outbound")
        .contact(&outbound_contact("sip:alice@10.0.0.7", 1))
        .contact("<sip:alice@10.0.0.8>;expires=0");
    assert_eq!(status(&send(&mut registrar, NOW, &request, &context(&config))), 200);
}

#[test]
fn an_outbound_registration_takes_over_the_plain_binding_of_its_uri_rfc5626_6() {
    let config = exact();
    let mut registrar = Registrar::default();
    send(&mut registrar, NOW, &register().contact("<sip:alice@10.0.0.7>"), &context(&config));
    let request =
        register().cseq(2).header("Supported", "outbound").contact(&outbound_contact("sip:alice@10.0.0.7", 1));
    let outcome = send(&mut registrar, NOW, &request, &context(&config));
    assert_eq!(kinds(&outcome.changes), ["refresh"]);
    assert_eq!(stored(&registrar)[0].reg_id, Some(1));
}

// ----- GRUU: never offered -----

#[test]
fn gruu_is_never_offered_rfc5627() {
    let config = exact();
    let mut registrar = Registrar::default();
    let request = register()
        .header("Supported", "gruu, path, outbound")
        .contact(&format!("<sip:alice@10.0.0.7>;+sip.instance=\"<{INSTANCE}>\""));
    let outcome = send(&mut registrar, NOW, &request, &context(&config));
    assert_eq!(status(&outcome), 200);
    let message = response(&outcome);
    let supported: Vec<_> = message.header_values(HeaderName::Supported).collect();
    assert!(!supported.iter().any(|t| t.eq_ignore_ascii_case("gruu")), "{supported:?}");
    for contact in contacts(&outcome) {
        let lower = contact.to_ascii_lowercase();
        assert!(!lower.contains("pub-gruu") && !lower.contains("temp-gruu"), "{contact}");
    }
    assert!(!config.option_tags().contains(&"gruu"));
}

// ----- lookup, expiry, warm start, other nodes -----

#[test]
fn targets_order_by_q_then_most_recent_and_skip_expired() {
    let config = exact();
    let mut registrar = Registrar::default();
    let at = |s: u64| NOW + Duration::from_secs(s);
    send(&mut registrar, at(0), &register().call_id("a").contact("<sip:alice@192.0.2.1>;q=0.5"), &context(&config));
    send(&mut registrar, at(1), &register().call_id("b").contact("<sip:alice@192.0.2.2>"), &context(&config));
    send(&mut registrar, at(2), &register().call_id("c").contact("<sip:alice@192.0.2.3>;q=1.0"), &context(&config));
    send(
        &mut registrar,
        at(3),
        &register().call_id("d").contact("<sip:alice@192.0.2.4>;q=0.5;expires=60"),
        &context(&config),
    );
    let order = |now| registrar.targets(&alice(), now).iter().map(|t| t.contact.to_string()).collect::<Vec<_>>();
    assert_eq!(
        order(at(10)),
        ["sip:alice@192.0.2.3", "sip:alice@192.0.2.2", "sip:alice@192.0.2.4", "sip:alice@192.0.2.1"]
    );
    assert_eq!(order(at(63)), ["sip:alice@192.0.2.3", "sip:alice@192.0.2.2", "sip:alice@192.0.2.1"], "expired skipped");
    let target = &registrar.targets(&alice(), at(10))[0];
    assert_eq!((target.flow, target.node.as_str()), (flow(40000), "node-a"), "reached over its flow");
}

#[test]
fn expire_removes_and_reports_expired_bindings() {
    let config = exact();
    let mut registrar = Registrar::default();
    send(
        &mut registrar,
        NOW,
        &register().contact("<sip:alice@192.0.2.1>;expires=60").contact("<sip:alice@192.0.2.2>"),
        &context(&config),
    );
    assert!(registrar.expire(NOW + Duration::from_secs(59)).is_empty());
    let removed = registrar.expire(NOW + Duration::from_secs(60));
    assert_eq!(kinds(&removed), ["remove"]);
    assert_eq!(&*removed[0].binding().contact, "sip:alice@192.0.2.1");
    assert_eq!(registrar.bindings().len(), 1);
    assert_eq!(kinds(&registrar.expire(NOW + Duration::from_secs(3600))), ["remove"]);
    assert!(registrar.bindings().is_empty() && registrar.bindings().aor_count() == 0);
}

#[test]
fn warm_start_loads_live_rows_and_drops_the_rest() {
    let config = exact();
    let mut source = Registrar::default();
    let outcome = send(
        &mut source,
        NOW,
        &register().contact("<sip:alice@192.0.2.1>;expires=60").contact("<sip:alice@192.0.2.2>"),
        &context(&config),
    );
    let rows: Vec<Binding> = outcome.changes.iter().map(|c| c.binding().clone()).collect();
    let mut stale_duplicate = rows[1].clone();
    stale_duplicate.id = BindingId(7);
    stale_duplicate.registered_at = NOW - Duration::from_secs(10);
    let mut unusable = rows[1].clone();
    unusable.id = BindingId(8);
    unusable.contact = "mailto:alice@campus.example".into();

    let mut restarted = Registrar::default();
    let later = NOW + Duration::from_secs(120);
    let removals = restarted.load(later, rows.iter().cloned().chain([stale_duplicate, unusable]));
    let mut removed: Vec<_> = removals.iter().map(|c| c.binding().id).collect();
    removed.sort();
    let mut expected = vec![rows[0].id, BindingId(7), BindingId(8)];
    expected.sort();
    assert_eq!(removed, expected, "expired, superseded and unusable rows are deleted");
    assert_eq!(restarted.bindings().len(), 1);
    assert_eq!(restarted.targets(&alice(), later)[0].binding, rows[1].id);
}

#[test]
fn changes_from_another_node_are_served_here() {
    let config = exact();
    let mut node_a = Registrar::default();
    let mut node_b = Registrar::default();
    let outcome = send(&mut node_a, NOW, &register().contact("<sip:alice@192.0.2.1>"), &context(&config));
    for change in &outcome.changes {
        assert!(node_b.apply(change).is_empty());
    }
    assert_eq!(node_b.targets(&alice(), NOW).len(), 1);
    let outcome =
        send(&mut node_a, NOW, &register().cseq(2).contact("<sip:alice@192.0.2.1>;expires=0"), &context(&config));
    for change in &outcome.changes {
        node_b.apply(change);
    }
    assert!(node_b.bindings().is_empty());
}

#[test]
fn changes_describe_the_store_exactly() {
    // Write-through: replaying every change onto an empty mirror gives the registrar's own bindings.
    let config = exact();
    let mut registrar = Registrar::default();
    let mut mirror = Registrar::default();
    let requests = [
        register().contact("<sip:alice@192.0.2.1>").contact("<sip:alice@192.0.2.2>;expires=60"),
        register().cseq(2).contact("<sip:alice@192.0.2.1>;expires=120").contact("<sip:alice@192.0.2.3>"),
        register().cseq(3).contact("<sip:alice@192.0.2.3>;expires=0"),
    ];
    for (i, request) in requests.iter().enumerate() {
        let now = NOW + Duration::from_secs(40 * i as u64);
        for change in send(&mut registrar, now, request, &context(&config)).changes {
            mirror.apply(&change);
        }
    }
    let sorted = |r: &Registrar| {
        let mut all: Vec<Binding> = r.bindings().iter().cloned().collect();
        all.sort_by_key(|b| b.id);
        all
    };
    assert_eq!(sorted(&registrar), sorted(&mirror));
}

#[test]
fn a_request_that_is_not_a_register_is_refused() {
    let config = exact();
    let mut registrar = Registrar::default();
    let options = Message::request(&Method::Options, "sip:campus.example")
        .header("Via", "SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1")
        .header("To", "<sip:alice@campus.example>")
        .header("From", "<sip:alice@campus.example>;tag=1")
        .header("Call-ID", "x")
        .header("CSeq", "1 OPTIONS")
        .build()
        .expect("OPTIONS");
    let outcome = registrar.register(NOW, &options, &context(&config));
    assert_eq!(status(&outcome), 500);
    assert!(registrar.bindings().is_empty());
}
