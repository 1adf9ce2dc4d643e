//! Property tests: random REGISTER sequences never panic, the registrar keeps its invariants after each, and
//! the changes it returns describe its store exactly (write-through).

#![allow(clippy::expect_used)] // test code: a failed expectation is the test failing

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use carillon_registrar::{
    Aor, Authorization, Binding, BindingChange, BindingId, Config, Flow, FlowId, Limits, NodeId, Outcome,
    RegisterContext, Registrar,
};
use carillon_sip::target::Transport;
use carillon_sip::{HeaderName, Message, Method};
use proptest::prelude::*;

const START: Duration = Duration::from_secs(1_700_000_000);
const AORS: [&str; 3] = ["sip:alice@campus.example", "sip:bob@campus.example", "sips:carol@campus.example"];
const EXPIRES: [&str; 12] =
    ["0", "0", "30", "60", "61", "600", "3600", "86400", "4294967296", "99999999999999999999", "soon", "-5"];
const QS: [&str; 5] = ["0", "0.5", "1", "1.000", "0.125"];
const REG_IDS: [&str; 5] = ["1", "2", "1", "0", "x"];
const INSTANCES: [&str; 2] =
    ["urn:uuid:00000000-0000-1000-8000-000a95a0e128", "urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF"];

#[derive(Debug, Clone)]
struct ContactSpec {
    host: u8,
    port: Option<u16>,
    shout: bool,
    expires: Option<usize>,
    q: Option<usize>,
    instance: Option<usize>,
    reg_id: Option<usize>,
}

#[derive(Debug, Clone)]
struct Step {
    advance: u64,
    aor: usize,
    authorization: u8,
    call_id: u8,
    cseq: u32,
    wildcard: bool,
    contacts: Vec<ContactSpec>,
    expires_header: Option<usize>,
    outbound: bool,
    path_support: bool,
    vias: usize,
    path: Option<bool>,
    random: u64,
    expire: bool,
}

fn contact_spec() -> impl Strategy<Value = ContactSpec> {
    (
        0u8..4,
        prop::option::of(prop::sample::select(vec![5060u16, 5061, 6000])),
        any::<bool>(),
        prop::option::of(0..EXPIRES.len()),
        prop::option::weighted(0.2, 0..QS.len()),
        prop::option::of(0..INSTANCES.len()),
        prop::option::of(0..REG_IDS.len()),
    )
        .prop_map(|(host, port, shout, expires, q, instance, reg_id)| ContactSpec {
            host,
            port,
            shout,
            expires,
            q,
            instance,
            reg_id,
        })
}

fn step() -> impl Strategy<Value = Step> {
    (
        (0u64..400, 0..AORS.len(), prop::sample::select(vec![0u8, 0, 0, 0, 0, 0, 1, 2]), 0u8..3, 1u32..12),
        (prop::bool::weighted(0.08), prop::collection::vec(contact_spec(), 0..4), prop::option::of(0..EXPIRES.len())),
        (
            any::<bool>(),
            any::<bool>(),
            1usize..3,
            prop::option::of(any::<bool>()),
            any::<u64>(),
            prop::bool::weighted(0.2),
        ),
    )
        .prop_map(
            |(
                (advance, aor, authorization, call_id, cseq),
                (wildcard, contacts, expires_header),
                (outbound, path_support, vias, path, random, expire),
            )| Step {
                advance,
                aor,
                authorization,
                call_id,
                cseq,
                wildcard,
                contacts,
                expires_header,
                outbound,
                path_support,
                vias,
                path,
                random,
                expire,
            },
        )
}

fn contact_value(c: &ContactSpec) -> String {
    let scheme = if c.shout { "SIP" } else { "sip" };
    let host = if c.shout { format!("Phone{}.Example", c.host) } else { format!("phone{}.example", c.host) };
    let mut v = format!("<{scheme}:u@{host}");
    if let Some(port) = c.port {
        v.push_str(&format!(":{port}"));
    }
    v.push('>');
    if let Some(e) = c.expires {
        v.push_str(&format!(";expires={}", EXPIRES[e]));
    }
    if let Some(q) = c.q {
        v.push_str(&format!(";q={}", QS[q]));
    }
    if let Some(i) = c.instance {
        v.push_str(&format!(";+sip.instance=\"<{}>\"", INSTANCES[i]));
    }
    if let Some(r) = c.reg_id {
        v.push_str(&format!(";reg-id={}", REG_IDS[r]));
    }
    v
}

fn request(step: &Step) -> Message {
    let aor = AORS[step.aor];
    let mut b = Message::request(&Method::Register, "sip:campus.example");
    for hop in 0..step.vias {
        b = b.header("Via", format!("SIP/2.0/TCP 192.0.2.{hop}:5060;branch=z9hG4bK{hop}x{}", step.random));
    }
    b = b
        .header("To", format!("<{aor}>"))
        .header("From", format!("<{aor}>;tag=1"))
        .header("Call-ID", format!("call-{}", step.call_id))
        .header("CSeq", format!("{} REGISTER", step.cseq));
    if step.wildcard {
        b = b.header("Contact", "*");
    }
    for c in &step.contacts {
        b = b.header("Contact", contact_value(c));
    }
    if let Some(e) = step.expires_header {
        b = b.header("Expires", EXPIRES[e]);
    }
    let mut supported = vec![];
    if step.outbound {
        supported.push("outbound");
    }
    if step.path_support {
        supported.push("path");
    }
    if !supported.is_empty() {
        b = b.header("Supported", supported.join(", "));
    }
    if let Some(ob) = step.path {
        b = b.header("Path", if ob { "<sip:edge.example;lr;ob>" } else { "<sip:edge.example;lr>" });
    }
    b.build().expect("the generated REGISTER is well-formed")
}

/// What a database written through with the changes holds.
type Mirror = HashMap<(Aor, BindingId), Binding>;

fn write_through(mirror: &mut Mirror, changes: &[BindingChange]) -> Result<(), TestCaseError> {
    for change in changes {
        let b = change.binding();
        let key = (b.aor.clone(), b.id);
        match change {
            BindingChange::Insert(_) => prop_assert!(mirror.insert(key, b.clone()).is_none(), "insert of a known row"),
            BindingChange::Refresh(_) => prop_assert!(mirror.insert(key, b.clone()).is_some(), "refresh of no row"),
            BindingChange::Remove(_) => prop_assert!(mirror.remove(&key).is_some(), "removal of no row"),
        }
    }
    Ok(())
}

fn check_invariants(
    registrar: &Registrar,
    mirror: &Mirror,
    config: &Config,
    limits: &Limits,
    now: Duration,
) -> Result<(), TestCaseError> {
    let bindings = registrar.bindings();
    prop_assert_eq!(bindings.len(), bindings.iter().count());
    prop_assert!(bindings.len() <= limits.max_bindings);
    prop_assert_eq!(bindings.len(), mirror.len(), "the database holds what memory holds");
    for b in bindings.iter() {
        prop_assert_eq!(mirror.get(&(b.aor.clone(), b.id)), Some(b));
        prop_assert!(b.reg_id.is_none() || b.instance.is_some(), "reg-id only with an instance");
    }
    for aor in AORS {
        let aor = Aor::parse(aor).expect("AOR");
        let stored = bindings.get(&aor);
        let alive: Vec<&Binding> = bindings.alive(&aor, now).collect();
        prop_assert!(alive.len() <= config.max_contacts, "{} bindings for {aor}", alive.len());
        for target in registrar.targets(&aor, now) {
            let binding = stored.iter().find(|b| b.id == target.binding).expect("a target is a stored binding");
            prop_assert!(binding.is_alive(now), "an expired binding was returned");
        }
        for (i, a) in stored.iter().enumerate() {
            for b in &stored[i + 1..] {
                prop_assert_ne!(a.id, b.id);
                if let (Some(ra), Some(rb)) = (a.reg_id, b.reg_id) {
                    let same_instance = a.instance.as_deref().map(str::to_ascii_lowercase)
                        == b.instance.as_deref().map(str::to_ascii_lowercase);
                    prop_assert!(!(ra == rb && same_instance), "reg-id {ra} twice for one instance");
                }
                if a.reg_id.is_none() && b.reg_id.is_none() {
                    let (ua, ub) = (a.contact_uri().expect("SIP URI"), b.contact_uri().expect("SIP URI"));
                    prop_assert!(!ua.equivalent(&ub), "two plain bindings for {}", a.contact);
                }
            }
        }
    }
    Ok(())
}

fn check_outcome(outcome: &Outcome, registrar: &Registrar, aor: &Aor, now: Duration) -> Result<(), TestCaseError> {
    let response = outcome.response.as_ref().expect("the response builds");
    let status = response.status().expect("a status").as_u16();
    prop_assert!([200, 400, 403, 404, 423, 439, 500, 503].contains(&status), "status {status}");
    prop_assert_eq!(status == 200, outcome.rejection.is_none());
    if status == 200 {
        let listed = response.header_values(HeaderName::Contact).count();
        prop_assert_eq!(listed, registrar.bindings().alive(aor, now).count(), "the 200 lists every binding");
    } else {
        prop_assert!(outcome.changes.is_empty(), "a refused request changes nothing");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn register_sequences_keep_the_invariants(steps in prop::collection::vec(step(), 1..40)) {
        let config = Config { max_contacts: 3, ..Config::default() };
        let limits = Limits { max_bindings: 7, ..Limits::default() };
        let mut registrar = Registrar::new(limits.clone());
        let mut mirror = Mirror::new();
        let mut now = START;
        for step in &steps {
            now += Duration::from_secs(step.advance);
            let aor = Aor::parse(AORS[step.aor]).expect("AOR");
            let authorization = match step.authorization {
                0 => Authorization::Granted(aor.clone()),
                1 => Authorization::Forbidden,
                _ => Authorization::UnknownAor,
            };
            let port = u16::try_from(step.random % 60000).expect("below 60000") + 1024;
            let ctx = RegisterContext {
                authorization,
                flow: Flow {
                    transport: Transport::Tcp,
                    source: SocketAddr::from(([203, 0, 113, 7], port)),
                    local: SocketAddr::from(([198, 51, 100, 1], 5060)),
                    id: Some(FlowId(step.random)),
                },
                node: NodeId::new("node-a"),
                config: &config,
                random: step.random,
            };
            let outcome = registrar.register(now, &request(step), &ctx);
            write_through(&mut mirror, &outcome.changes)?;
            check_outcome(&outcome, &registrar, &aor, now)?;
            if step.expire {
                let removed = registrar.expire(now);
                prop_assert!(removed.iter().all(|c| matches!(c, BindingChange::Remove(b) if !b.is_alive(now))));
                write_through(&mut mirror, &removed)?;
            }
            check_invariants(&registrar, &mirror, &config, &limits, now)?;
        }
        // A node that restarts from the database serves the same live bindings.
        let mut restarted = Registrar::new(limits.clone());
        let removals = restarted.load(now, mirror.values().cloned());
        prop_assert!(removals.iter().all(|c| !c.binding().is_alive(now)), "only expired rows are dropped");
        for aor in AORS {
            let aor = Aor::parse(aor).expect("AOR");
            prop_assert_eq!(restarted.targets(&aor, now), registrar.targets(&aor, now));
        }
    }

    #[test]
    fn hostile_header_values_never_panic(
        contact in "[ -~]{0,60}",
        expires in "[ -~]{0,24}",
        path in "[ -~]{0,40}",
        supported in "[ -~]{0,24}",
        vias in 1usize..3,
        random in any::<u64>(),
    ) {
        let head = |cseq: u32| {
            let mut text = String::from("REGISTER sip:campus.example SIP/2.0\r\n");
            for hop in 0..vias {
                text.push_str(&format!("Via: SIP/2.0/UDP 192.0.2.{hop};branch=z9hG4bK{hop}{cseq}\r\n"));
            }
            text.push_str("To: <sip:alice@campus.example>\r\nFrom: <sip:alice@campus.example>;tag=1\r\n");
            text.push_str(&format!("Call-ID: c\r\nCSeq: {cseq} REGISTER\r\n"));
            text
        };
        let mut text = head(2);
        text.push_str(&format!("Contact: {contact}\r\nExpires: {expires}\r\nPath: {path}\r\nSupported: {supported}\r\n"));
        text.push_str("Content-Length: 0\r\n\r\n");
        let Ok(message) = Message::parse(Bytes::from(text)) else { return Ok(()) };
        let config = Config::default();
        let aor = Aor::parse("sip:alice@campus.example").expect("AOR");
        let mut registrar = Registrar::default();
        let ctx = RegisterContext {
            authorization: Authorization::Granted(aor.clone()),
            flow: Flow {
                transport: Transport::Udp,
                source: SocketAddr::from(([203, 0, 113, 7], 5060)),
                local: SocketAddr::from(([198, 51, 100, 1], 5060)),
                id: None,
            },
            node: NodeId::new("node-a"),
            config: &config,
            random,
        };
        let now = START + Duration::from_secs(random % 1_000_000);
        let outcome = registrar.register(now, &message, &ctx);
        check_outcome(&outcome, &registrar, &aor, now)?;
        // Whatever was stored can be written back out: a later query lists it.
        let query = Message::parse(Bytes::from(head(3) + "Content-Length: 0\r\n\r\n")).expect("a query");
        let listing = registrar.register(now, &query, &ctx);
        prop_assert_eq!(listing.status().map(|s| s.as_u16()), Some(200));
        check_outcome(&listing, &registrar, &aor, now)?;
    }
}
