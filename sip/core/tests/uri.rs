//! Properties of the URI module over generated input: the parser never panics, generated RFC 3261 §25.1 URIs
//! parse and survive a round trip through `Display`, and RFC 3261 §19.1.4 equivalence is reflexive, symmetric and
//! blind to the differences the RFC calls insignificant. Also checks that parsing and comparing never allocate.

// Tests state their expectations with `expect("why")`, as the house style allows.
#![allow(clippy::expect_used)]

use std::net::{Ipv4Addr, Ipv6Addr};

use carillon_sip::uri::{Host, SipScheme, SipUri, TelUri, Uri, unescape};
use proptest::prelude::*;

/// One character of a generated component: a literal, or an escape of any octet.
#[derive(Debug, Clone, Copy)]
enum Atom {
    Literal(u8),
    Escaped(u8),
}

const USER_CHARS: &[u8] = b"abcXYZ0189-_.!~*'()&=+$,;?/";
const PASSWORD_CHARS: &[u8] = b"abcXYZ09-_.!~*'()&=+$,";
const PARAM_CHARS: &[u8] = b"abcXYZ09-_.!~*'()[]/:&+$";
const HEADER_CHARS: &[u8] = b"abcXYZ09-_.!~*'()[]/?:+$";

fn atoms(literals: &'static [u8], len: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = Vec<Atom>> {
    let atom = prop_oneof![
        4 => prop::sample::select(literals).prop_map(Atom::Literal),
        1 => any::<u8>().prop_map(Atom::Escaped),
    ];
    prop::collection::vec(atom, len)
}

/// How to write a generated URI. Every style writes an equivalent URI (RFC 3261 §19.1.4).
#[derive(Debug, Clone, Copy, Default)]
struct Style {
    /// Escape alphanumeric literals (an escape equals the unreserved character it stands for).
    escape_alphanumerics: bool,
    /// Lower-case hex digits in escapes.
    lower_hex: bool,
    /// Upper-case scheme, host, parameter names and header names.
    upper_case_insensitive_parts: bool,
    /// Parameters and headers in reverse order.
    reverse_order: bool,
    /// IPv6 addresses without `::` compression.
    expand_ipv6: bool,
}

fn write_atoms(out: &mut String, atoms: &[Atom], style: Style, fold_upper: bool) {
    for atom in atoms {
        match *atom {
            Atom::Literal(b) if style.escape_alphanumerics && b.is_ascii_alphanumeric() => write_escape(out, b, style),
            Atom::Literal(b) if fold_upper => out.push(char::from(b.to_ascii_uppercase())),
            Atom::Literal(b) => out.push(char::from(b)),
            Atom::Escaped(b) => write_escape(out, b, style),
        }
    }
}

fn write_escape(out: &mut String, b: u8, style: Style) {
    if style.lower_hex {
        out.push_str(&format!("%{b:02x}"));
    } else {
        out.push_str(&format!("%{b:02X}"));
    }
}

fn literal(s: &str) -> Vec<Atom> {
    s.bytes().map(Atom::Literal).collect()
}

#[derive(Debug, Clone)]
enum GenHost {
    Domain(String),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

impl GenHost {
    fn write(&self, out: &mut String, style: Style) {
        match self {
            GenHost::Domain(d) if style.upper_case_insensitive_parts => out.push_str(&d.to_ascii_uppercase()),
            GenHost::Domain(d) => out.push_str(d),
            GenHost::V4(a) => out.push_str(&a.to_string()),
            GenHost::V6(a) if style.expand_ipv6 => {
                let groups: Vec<String> = a.segments().iter().map(|g| format!("{g:x}")).collect();
                out.push_str(&format!("[{}]", groups.join(":")));
            }
            GenHost::V6(a) => out.push_str(&format!("[{a}]")),
        }
    }
}

fn host() -> impl Strategy<Value = GenHost> {
    prop_oneof![
        "[a-z]([a-z0-9-]{0,5}[a-z0-9])?(\\.[a-z]([a-z0-9-]{0,5}[a-z0-9])?){0,3}".prop_map(GenHost::Domain),
        any::<Ipv4Addr>().prop_map(GenHost::V4),
        any::<Ipv6Addr>().prop_map(GenHost::V6),
    ]
}

#[derive(Debug, Clone)]
struct GenParam {
    name: Vec<Atom>,
    value: Option<Vec<Atom>>,
    /// A parameter with a grammar of its own (transport, ttl...), whose value must stay as generated.
    known: bool,
}

fn param() -> impl Strategy<Value = GenParam> {
    let known = |name: &'static str, values: Vec<String>| {
        prop::sample::select(values).prop_map(move |v| GenParam {
            name: literal(name),
            value: Some(literal(&v)),
            known: true,
        })
    };
    let words = |ws: &[&str]| ws.iter().map(|w| w.to_string()).collect::<Vec<_>>();
    prop_oneof![
        known("transport", words(&["udp", "tcp", "TLS", "sctp", "ws"])),
        known("user", words(&["phone", "ip", "dialstring"])),
        known("method", words(&["INVITE", "REGISTER", "BYE", "x-custom"])),
        known("ttl", (0..=255).map(|t: u16| t.to_string()).collect()),
        known("maddr", words(&["239.255.255.1", "example.com", "[2001:db8::1]"])),
        Just(GenParam { name: literal("lr"), value: None, known: false }),
        // Names start with `x` so that they never spell a known parameter.
        (atoms(PARAM_CHARS, 0..=5), prop::option::of(atoms(PARAM_CHARS, 1..=6))).prop_map(|(rest, value)| {
            let mut name = literal("x");
            name.extend(rest);
            GenParam { name, value, known: false }
        }),
    ]
}

/// The name as RFC 3261 §19.1.4 sees it, to keep one parameter per name (reordering repeated names would change
/// which occurrence counts).
fn param_key(p: &GenParam) -> String {
    let mut text = String::new();
    write_atoms(&mut text, &p.name, Style::default(), false);
    unescape(&text).map(|s| s.to_ascii_lowercase()).unwrap_or(text)
}

#[derive(Debug, Clone)]
struct GenSip {
    scheme: SipScheme,
    user: Option<Vec<Atom>>,
    password: Option<Vec<Atom>>,
    host: GenHost,
    port: Option<u16>,
    params: Vec<GenParam>,
    headers: Vec<(Vec<Atom>, Vec<Atom>)>,
}

impl GenSip {
    fn render(&self, style: Style) -> String {
        let mut out = String::new();
        let scheme = match self.scheme {
            SipScheme::Sip => "sip",
            SipScheme::Sips => "sips",
        };
        if style.upper_case_insensitive_parts {
            out.push_str(&scheme.to_ascii_uppercase());
        } else {
            out.push_str(scheme);
        }
        out.push(':');
        if let Some(user) = &self.user {
            write_atoms(&mut out, user, style, false);
            if let Some(password) = &self.password {
                out.push(':');
                write_atoms(&mut out, password, style, false);
            }
            out.push('@');
        }
        self.host.write(&mut out, style);
        if let Some(port) = self.port {
            out.push_str(&format!(":{port}"));
        }
        let mut params: Vec<&GenParam> = self.params.iter().collect();
        if style.reverse_order {
            params.reverse();
        }
        for p in params {
            out.push(';');
            write_atoms(&mut out, &p.name, style, style.upper_case_insensitive_parts);
            if let Some(value) = &p.value {
                out.push('=');
                let value_style = if p.known { Style::default() } else { style };
                write_atoms(&mut out, value, value_style, false);
            }
        }
        let mut headers: Vec<_> = self.headers.iter().collect();
        if style.reverse_order {
            headers.reverse();
        }
        for (i, (name, value)) in headers.into_iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            write_atoms(&mut out, name, style, style.upper_case_insensitive_parts);
            out.push('=');
            write_atoms(&mut out, value, style, false);
        }
        out
    }
}

fn sip_uri() -> impl Strategy<Value = GenSip> {
    let scheme = prop_oneof![Just(SipScheme::Sip), Just(SipScheme::Sips)];
    let userinfo = prop::option::of((atoms(USER_CHARS, 1..=10), prop::option::of(atoms(PASSWORD_CHARS, 0..=6))));
    let params = prop::collection::vec(param(), 0..=5).prop_map(|params| {
        let mut seen = std::collections::HashSet::new();
        params.into_iter().filter(|p| seen.insert(param_key(p))).collect::<Vec<_>>()
    });
    let headers = prop::collection::vec((atoms(HEADER_CHARS, 1..=5), atoms(HEADER_CHARS, 0..=6)), 0..=3);
    (scheme, userinfo, host(), prop::option::of(any::<u16>()), params, headers).prop_map(
        |(scheme, userinfo, host, port, params, headers)| {
            let (user, password) = match userinfo {
                Some((user, password)) => (Some(user), password),
                None => (None, None),
            };
            GenSip { scheme, user, password, host, port, params, headers }
        },
    )
}

fn style() -> impl Strategy<Value = Style> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(e, l, u, r, x)| Style {
        escape_alphanumerics: e,
        lower_hex: l,
        upper_case_insensitive_parts: u,
        reverse_order: r,
        expand_ipv6: x,
    })
}

fn tel_uri() -> impl Strategy<Value = String> {
    let global = "\\+[0-9]([-.()]?[0-9]){0,12}".prop_map(|n| n.to_string());
    let local = "[0-9a-fA-F*#]([-.()]?[0-9a-fA-F*#]){0,8};phone-context=(\\+[0-9]{1,4}|[a-z]{1,6}\\.[a-z]{2,3})";
    let number = prop_oneof![global, local.prop_map(|n| n.to_string())];
    let extra = prop::collection::vec(
        prop_oneof![
            "ext=[0-9]([-.]?[0-9]){0,4}".prop_map(|s| s.to_string()),
            "isub=[a-z0-9/?:@&=+$,]{1,6}".prop_map(|s| s.to_string()),
            "x-[a-z]{1,4}(=[a-z0-9]{1,4})?".prop_map(|s| s.to_string()),
        ],
        0..=3,
    );
    (number, extra).prop_map(|(number, extra)| {
        let mut names = std::collections::HashSet::new();
        let mut uri = format!("tel:{number}");
        for p in extra {
            let name = p.split('=').next().unwrap_or_default().to_string();
            if names.insert(name) {
                uri.push(';');
                uri.push_str(&p);
            }
        }
        uri
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Network input never panics the parser, nor the accessors and comparisons of what it accepts.
    #[test]
    fn parse_never_panics(s in any::<String>()) {
        if let Ok(u) = Uri::parse(&s) {
            prop_assert!(u.equivalent(&u));
            let _ = u.to_string();
        }
    }

    /// Same, with input close enough to a URI to reach the deeper branches of the grammar.
    #[test]
    fn parse_never_panics_on_uri_like_input(
        scheme in prop::sample::select(vec!["sip:", "sips:", "tel:", "x-y.z:", "SIP:", ""]),
        rest in "[a-zA-Z0-9:@;?=&%\\[\\]+.\\-_*#()/$, ]{0,40}",
    ) {
        let s = format!("{scheme}{rest}");
        if let Ok(u) = Uri::parse(&s) {
            prop_assert!(u.equivalent(&u));
            let reparsed = u.to_string();
            let again = Uri::parse(&reparsed);
            prop_assert!(again.as_ref().is_ok_and(|v| v.equivalent(&u)), "{} -> {} -> {:?}", s, reparsed, again);
            if let Uri::Sip(sip) = &u {
                let _ = (sip.user_unescaped(), sip.password_unescaped(), sip.transport(), sip.maddr(), sip.ttl());
                let _ = (sip.method(), sip.lr(), sip.gr(), sip.iter_params().count(), sip.iter_headers().count());
            }
            if let Uri::Tel(tel) = &u {
                let _ = (tel.digits(), tel.phone_context(), tel.ext(), tel.isub(), tel.iter_params().count());
            }
        }
    }

    /// Every URI built from the RFC 3261 §25.1 grammar parses, with the user part and the host where they were
    /// written, and `parse(display(parse(s)))` is equivalent to `parse(s)`.
    #[test]
    fn generated_sip_uris_round_trip(generated in sip_uri(), style in style()) {
        let text = generated.render(style);
        let parsed = SipUri::parse(&text);
        prop_assert!(parsed.is_ok(), "{:?} rejected: {:?}", text, parsed);
        let parsed = parsed.expect("checked above");
        if let Some(user) = &generated.user {
            let mut written = String::new();
            write_atoms(&mut written, user, style, false);
            prop_assert_eq!(parsed.user, Some(written.as_str()));
        } else {
            prop_assert_eq!(parsed.user, None);
        }
        let host_matches = match (&generated.host, parsed.host) {
            (GenHost::Domain(d), Host::Domain(p)) => d.eq_ignore_ascii_case(p),
            (GenHost::V4(a), Host::V4(p)) => *a == p,
            (GenHost::V6(a), Host::V6(p)) => *a == p,
            _ => false,
        };
        prop_assert!(host_matches, "{:?} parsed host {:?}", text, parsed.host);
        prop_assert_eq!(parsed.port, generated.port);
        prop_assert_eq!(parsed.iter_params().count(), generated.params.len());
        prop_assert_eq!(parsed.iter_headers().count(), generated.headers.len());

        let displayed = parsed.to_string();
        let reparsed = SipUri::parse(&displayed);
        prop_assert!(reparsed.as_ref().is_ok_and(|r| r.equivalent(&parsed)), "{} -> {} -> {:?}", text, displayed, reparsed);
    }

    /// Equivalence is reflexive, and the differences RFC 3261 §19.1.4 calls insignificant (escaping unreserved
    /// characters, case outside userinfo, parameter and header order, IPv6 spelling) keep URIs equivalent, in
    /// both directions.
    #[test]
    fn equivalence_is_reflexive_and_ignores_insignificant_differences(generated in sip_uri(), style in style()) {
        let plain_text = generated.render(Style::default());
        let styled_text = generated.render(style);
        let plain = SipUri::parse(&plain_text).expect("generated URIs are valid");
        let styled = SipUri::parse(&styled_text).expect("generated URIs are valid");
        prop_assert!(plain.equivalent(&plain));
        prop_assert!(styled.equivalent(&styled));
        prop_assert!(plain.equivalent(&styled), "{} vs {}", plain_text, styled_text);
        prop_assert!(styled.equivalent(&plain), "{} vs {}", styled_text, plain_text);
    }

    /// Equivalence is symmetric on unrelated URIs too, and a port present on one side only breaks it.
    #[test]
    fn equivalence_is_symmetric(a in sip_uri(), b in sip_uri(), style_a in style(), style_b in style()) {
        let (ta, tb) = (a.render(style_a), b.render(style_b));
        let (ua, ub) = (SipUri::parse(&ta).expect("valid"), SipUri::parse(&tb).expect("valid"));
        prop_assert_eq!(ua.equivalent(&ub), ub.equivalent(&ua), "{} vs {}", ta, tb);

        let mut without_port = a.clone();
        without_port.port = None;
        let mut with_port = a;
        with_port.port = Some(with_port.port.unwrap_or(5060));
        let (tn, tp) = (without_port.render(Style::default()), with_port.render(Style::default()));
        let (un, up) = (SipUri::parse(&tn).expect("valid"), SipUri::parse(&tp).expect("valid"));
        prop_assert!(!un.equivalent(&up) && !up.equivalent(&un), "{} vs {}", tn, tp);
    }

    /// Generated RFC 3966 URIs parse, round-trip, and stay equivalent without their visual separators.
    #[test]
    fn generated_tel_uris_round_trip(text in tel_uri()) {
        let parsed = TelUri::parse(&text);
        prop_assert!(parsed.is_ok(), "{:?} rejected: {:?}", text, parsed);
        let parsed = parsed.expect("checked above");
        prop_assert!(parsed.equivalent(&parsed));
        prop_assert!(!parsed.digits().bytes().any(|b| b"-.()".contains(&b)));
        let displayed = parsed.to_string();
        prop_assert_eq!(&displayed, &text);
        let squeezed = format!("tel:{}{}", parsed.digits(), &text[4 + parsed.number.len()..]);
        let squeezed_uri = TelUri::parse(&squeezed).expect("removing separators keeps a tel URI valid");
        prop_assert!(squeezed_uri.equivalent(&parsed) && parsed.equivalent(&squeezed_uri), "{} vs {}", text, squeezed);
    }
}

/// The parse path and the comparisons borrow from the input and never touch the heap.
#[test]
fn parsing_and_comparing_do_not_allocate() {
    let inputs = [
        "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
        "sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31",
        "sips:alice:pw@[2001:db8:::192.0.2.1]:5061;transport=tcp;maddr=[2001:db8::1];ttl=15;lr?a=b&c=%3Cd%3E",
        "SIP:alice@192.0.2.1:5060;user=phone;method=INVITE",
        "tel:863-1234;phone-context=+1-914-555;ext=1-2;isub=x/y",
        "tel:+1-201-555-0123",
        "soap.beep://192.0.2.103:3002",
        "sip:2001:db8::10",
        "sip:%G1@example.com",
        "sip:a@b;;lr",
        "tel:1234",
    ];
    let (_, allocations) = allocations::count(|| std::hint::black_box(String::from("the counter works")));
    assert_eq!(allocations, 1, "the allocation counter must see allocations on this thread");
    let (parsed, allocations) = allocations::count(|| inputs.map(Uri::parse));
    assert_eq!(allocations, 0, "parsing allocated");
    let (_, allocations) = allocations::count(|| {
        for a in parsed.iter().flatten() {
            for b in parsed.iter().flatten() {
                std::hint::black_box(a.equivalent(b));
            }
            if let Uri::Sip(u) = a {
                std::hint::black_box((u.transport(), u.maddr(), u.ttl(), u.lr(), u.gr(), u.method(), u.user_param()));
            }
            if let Uri::Tel(t) = a {
                std::hint::black_box((t.phone_context(), t.ext(), t.is_global()));
            }
        }
    });
    assert_eq!(allocations, 0, "comparing or reading parameters allocated");
}

/// A global allocator that counts the allocations of the current thread, so that tests running in parallel do not
/// disturb each other's counts. Implementing `GlobalAlloc` is the one way to observe allocations, hence the
/// `unsafe` here and nowhere else.
#[allow(unsafe_code)]
mod allocations {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static COUNT: Cell<usize> = const { Cell::new(0) };
    }

    struct Counting;

    fn bump() {
        // During thread teardown the counter may be gone; those allocations belong to no test.
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
    }

    // SAFETY: every call is forwarded unchanged to the system allocator; only a thread-local counter is added,
    // and a const-initialised `Cell<usize>` thread-local neither allocates nor registers a destructor.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            bump();
            // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System` shares.
            unsafe { System.alloc(layout) }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            bump();
            // SAFETY: as for `alloc`.
            unsafe { System.alloc_zeroed(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: `ptr` was allocated by `System` through this allocator with `layout`.
            unsafe { System.dealloc(ptr, layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            bump();
            // SAFETY: as for `dealloc`, and the caller upholds `realloc`'s contract on `new_size`.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    /// Runs `f` and returns its result with the number of allocations it made on this thread.
    pub(crate) fn count<R>(f: impl FnOnce() -> R) -> (R, usize) {
        let before = COUNT.with(Cell::get);
        let result = f();
        (result, COUNT.with(Cell::get) - before)
    }
}
