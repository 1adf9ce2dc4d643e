//! RFC 4475 and RFC 5118 torture messages: one test per message, each asserting the verdict of the corpus
//! manifest (`tests/corpus/*/manifest.tsv`) at parser level.
//!
//! - valid: parses, passes the structural checks, and is written back byte for byte;
//! - must-reject: parsing or the structural checks fail, and the mapped answer is the manifest's status (or a
//!   silent drop for responses);
//! - reject-or-tolerate: Carillon rejects (400) except where the header is irrelevant to it (Date);
//! - semantic errors: parses and passes the structural checks; the element check named in the test gives the
//!   manifest's answer.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a failed expectation is the point

use std::path::PathBuf;

use bytes::Bytes;
use carillon_sip::headers::{Contact, SipDate};
use carillon_sip::message::{HeaderName, Method, StatusCode};
use carillon_sip::uri::{Host, Uri};
use carillon_sip::validate::{self, Policy, Role};
use carillon_sip::{Disposition, Error, Message};

fn corpus_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus").join(rel)
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(corpus_path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The manifest row of `file` as (column name, value) pairs.
fn manifest_row(dir: &str, file: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(corpus_path(&format!("{dir}/manifest.tsv"))).expect("manifest");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header row").split('\t').collect();
    let row = lines.find(|l| l.split('\t').next() == Some(file)).unwrap_or_else(|| panic!("{file} not in manifest"));
    header.iter().zip(row.split('\t')).map(|(h, v)| (h.to_string(), v.to_string())).collect()
}

fn verdict(dir: &str, file: &str) -> String {
    manifest_row(dir, file).into_iter().find(|(h, _)| h == "verdict").map(|(_, v)| v).expect("verdict column")
}

const UAS_METHODS: &[Method] =
    &[Method::Invite, Method::Ack, Method::Bye, Method::Cancel, Method::Options, Method::Register, Method::Message];

fn policy(role: Role) -> Policy<'static> {
    Policy {
        role,
        uri_schemes: &["sip", "sips", "tel"],
        supported: &[],
        methods: UAS_METHODS,
        body_types: &["application/sdp"],
    }
}

/// Parses and applies the structural checks.
fn structural(input: &[u8]) -> Result<Message, Error> {
    let m = Message::parse(Bytes::copy_from_slice(input))?;
    if m.is_request() {
        validate::check_request(&m)?
    } else {
        validate::check_response(&m)?
    }
    Ok(m)
}

/// Asserts the manifest verdict is one of `allowed` (so a manifest change cannot silently pass).
fn assert_verdict(dir: &str, file: &str, allowed: &[&str]) {
    let v = verdict(dir, file);
    assert!(allowed.contains(&v.as_str()), "{dir}/{file}: manifest verdict {v:?}, test expects one of {allowed:?}");
}

/// valid: parses, passes the structural checks, and re-serialises identically (up to the message's end).
fn valid(file: &str) -> Message {
    assert_verdict("rfc4475", file, &["valid", "valid-but-semantic-error", "invalid-reject-or-tolerate"]);
    valid_bytes(&read(&format!("rfc4475/{file}")), file)
}

fn valid_bytes(input: &[u8], what: &str) -> Message {
    let m = structural(input).unwrap_or_else(|e| panic!("{what}: expected valid, got {e:?}"));
    let out = m.to_bytes();
    assert_eq!(&out[..], &input[..out.len()], "{what}: re-serialisation differs");
    let again = Message::parse(out.clone()).expect("re-parses");
    assert_eq!(again.to_bytes(), out, "{what}: second round trip differs");
    m
}

/// must-reject or reject-or-tolerate: parse or structural checks fail and the answer is `status`.
fn rejected(dir: &str, file: &str, status: StatusCode) -> Error {
    assert_verdict(
        dir,
        file,
        &["invalid-must-reject", "invalid-reject-or-tolerate", "valid-but-semantic-error", "unreferenced"],
    );
    let input = read(&format!("{dir}/{file}"));
    rejected_bytes(&input, status, file)
}

fn rejected_bytes(input: &[u8], status: StatusCode, what: &str) -> Error {
    let err = structural(input).err().unwrap_or_else(|| panic!("{what}: expected rejection"));
    assert!(
        matches!(err.disposition(input), Disposition::Respond(s, _) if s == status),
        "{what}: {err:?} answers {:?}, expected {status}",
        err.disposition(input)
    );
    err
}

/// A response that must be discarded without an answer.
fn dropped(file: &str) {
    assert_verdict("rfc4475", file, &["invalid-must-reject"]);
    let input = read(&format!("rfc4475/{file}"));
    let err = structural(&input).err().unwrap_or_else(|| panic!("{file}: expected rejection"));
    assert_eq!(err.disposition(&input), Disposition::Drop, "{file}: {err:?}");
}

/// Parses and passes the structural checks; `role`'s policy answers `status`.
fn semantic(file: &str, role: Role, status: StatusCode) -> Error {
    assert_verdict("rfc4475", file, &["valid", "valid-but-semantic-error"]);
    let m = valid(file);
    let err = policy(role).check(&m).err().unwrap_or_else(|| panic!("{file}: {role:?} accepted it"));
    assert_eq!(err.status_code(), status, "{file}: {err:?}");
    err
}

/// Parses, passes the structural checks, and `role` accepts it.
fn accepted_by(file: &str, role: Role) -> Message {
    let m = valid(file);
    policy(role).check(&m).unwrap_or_else(|e| panic!("{file}: {role:?} refused it: {e:?}"));
    m
}

macro_rules! cases {
    ($dir:literal: $($name:ident => $file:literal $body:block)*) => {
        $(#[test] fn $name() $body)*

        /// Every manifest row has a test above, and every test names a manifest row.
        #[test]
        fn every_manifest_row_has_a_test() {
            let text = std::fs::read_to_string(corpus_path(concat!($dir, "/manifest.tsv"))).expect("manifest");
            let mut in_manifest: Vec<&str> = text.lines().skip(1).filter_map(|l| l.split('\t').next()).collect();
            let mut tested = vec![$($file),*];
            in_manifest.sort_unstable();
            tested.sort_unstable();
            assert_eq!(in_manifest, tested);
        }
    };
}

mod rfc4475 {
    use super::*;

    cases! { "rfc4475":
        wsinv => "wsinv.dat" {
            let m = valid("wsinv.dat");
            assert_eq!(m.header_named("NewFangledHeader"), Some("newfangled value\r\n continued newfangled value"));
            assert_eq!(m.max_forwards(), Ok(Some(68)));
            assert_eq!(m.cseq().map(|c| c.seq), Ok(9));
            assert_eq!(m.vias().count(), 3);
            let c = Contact::parse(m.header(HeaderName::Contact).expect("contact")).expect("contact parses");
            assert_eq!(c.q(), Some(330));
        }
        intmeth => "intmeth.dat" {
            assert_eq!(semantic("intmeth.dat", Role::UserAgentServer, StatusCode::NOT_IMPLEMENTED), Error::NotImplemented);
            accepted_by("intmeth.dat", Role::Proxy);
        }
        esc01 => "esc01.dat" {
            let m = valid("esc01.dat");
            let uri = Uri::parse(m.request_uri().expect("ruri")).expect("uri");
            let user = uri.as_sip().expect("sip").user_unescaped().expect("user");
            assert_eq!(user, "sips:user@example.com");
        }
        escnull => "escnull.dat" {
            let m = valid("escnull.dat");
            let users: Vec<String> = m
                .header_values(HeaderName::Contact)
                .map(|v| {
                    let c = Contact::parse(v).expect("contact");
                    let uri = Uri::parse(c.address().expect("address").uri).expect("uri");
                    uri.as_sip().expect("sip").user_unescaped().expect("user").into_owned()
                })
                .collect();
            assert_eq!(users.len(), 2);
            assert_ne!(users[0], users[1], "the %00 must not shorten the user part");
            assert!(users.iter().all(|u| u.contains('\0')));
        }
        esc02 => "esc02.dat" {
            let m = valid("esc02.dat");
            assert!(matches!(m.method(), Some(Method::Extension(_))), "RE%47IST%45R is not REGISTER");
            assert_eq!(m.header_named("C%6Fntact"), Some("<sip:alias2@host2.example.com>"));
            assert_eq!(m.header_lines(HeaderName::Contact).count(), 2, "C%6Fntact is not Contact");
            semantic("esc02.dat", Role::UserAgentServer, StatusCode::NOT_IMPLEMENTED);
        }
        lwsdisp => "lwsdisp.dat" {
            let m = valid("lwsdisp.dat");
            assert_eq!(m.from().expect("from").display_name, Some("caller"));
        }
        longreq => "longreq.dat" {
            let m = valid("longreq.dat");
            assert_eq!(m.vias().count(), 34);
        }
        dblreq => "dblreq.dat" {
            let m = valid("dblreq.dat");
            assert_eq!(m.method(), Some(&Method::Register));
            assert!(m.body().is_empty());
            assert!(m.to_bytes().len() < read("rfc4475/dblreq.dat").len(), "the trailing INVITE is not part of it");
        }
        semiuri => "semiuri.dat" {
            let m = valid("semiuri.dat");
            let uri = Uri::parse(m.request_uri().expect("ruri")).expect("uri");
            let sip = uri.as_sip().expect("sip");
            assert_eq!(sip.user, Some("user;par=u%40example.net"));
            assert_eq!(sip.host, Host::Domain("example.com"));
        }
        transports => "transports.dat" {
            let m = valid("transports.dat");
            let transports: Vec<String> = m.vias().map(|v| v.expect("via").transport.to_owned()).collect();
            assert_eq!(transports.len(), 5);
        }
        mpart01 => "mpart01.dat" {
            let m = valid("mpart01.dat");
            let declared: usize = m.header(HeaderName::ContentLength).expect("cl").parse().expect("number");
            assert_eq!(m.body().len(), declared);
        }
        unreason => "unreason.dat" {
            let m = valid("unreason.dat");
            assert!(m.reason().expect("reason").contains("сто девяносто девять"));
        }
        noreason => "noreason.dat" {
            let m = valid("noreason.dat");
            assert_eq!(m.reason(), Some(""));
        }
        badinv01 => "badinv01.dat" {
            let e = rejected("rfc4475", "badinv01.dat", StatusCode::BAD_REQUEST);
            assert!(matches!(e, Error::BadHeaderValue { name: HeaderName::Via, .. }), "{e:?}");
        }
        clerr => "clerr.dat" {
            assert_eq!(rejected("rfc4475", "clerr.dat", StatusCode::BAD_REQUEST), Error::BodyTruncated);
        }
        ncl => "ncl.dat" {
            assert_eq!(rejected("rfc4475", "ncl.dat", StatusCode::BAD_REQUEST), Error::BadContentLength);
        }
        scalar02 => "scalar02.dat" {
            rejected("rfc4475", "scalar02.dat", StatusCode::BAD_REQUEST);
        }
        scalarlg => "scalarlg.dat" { dropped("scalarlg.dat"); }
        quotbal => "quotbal.dat" { rejected("rfc4475", "quotbal.dat", StatusCode::BAD_REQUEST); }
        ltgtruri => "ltgtruri.dat" {
            assert_eq!(rejected("rfc4475", "ltgtruri.dat", StatusCode::BAD_REQUEST), Error::BadRequestUri);
        }
        lwsruri => "lwsruri.dat" { rejected("rfc4475", "lwsruri.dat", StatusCode::BAD_REQUEST); }
        lwsstart => "lwsstart.dat" { rejected("rfc4475", "lwsstart.dat", StatusCode::BAD_REQUEST); }
        trws => "trws.dat" { rejected("rfc4475", "trws.dat", StatusCode::BAD_REQUEST); }
        escruri => "escruri.dat" {
            assert_eq!(rejected("rfc4475", "escruri.dat", StatusCode::BAD_REQUEST), Error::BadRequestUri);
        }
        baddate => "baddate.dat" {
            // Tolerated: Carillon never acts on Date, so a non-GMT Date does not make the request bad.
            let m = valid("baddate.dat");
            let date = m.header(HeaderName::Date).expect("date");
            assert!(SipDate::parse(date).is_err(), "only GMT is a valid zone");
        }
        regbadct => "regbadct.dat" {
            let e = rejected("rfc4475", "regbadct.dat", StatusCode::BAD_REQUEST);
            assert!(matches!(e, Error::BadHeaderValue { name: HeaderName::Contact, .. }), "{e:?}");
        }
        badaspec => "badaspec.dat" { rejected("rfc4475", "badaspec.dat", StatusCode::BAD_REQUEST); }
        baddn => "baddn.dat" {
            // The archive's file never ends its header section; the display-name fault itself is tested on the
            // terminated variant.
            assert_eq!(rejected("rfc4475", "baddn.dat", StatusCode::BAD_REQUEST), Error::Truncated);
            let e = rejected_bytes(&read("rfc4475/derived/baddn_terminated.dat"), StatusCode::BAD_REQUEST, "baddn_terminated");
            assert!(matches!(e, Error::BadHeaderValue { name: HeaderName::From | HeaderName::To, .. }), "{e:?}");
        }
        badvers => "badvers.dat" {
            assert_eq!(rejected("rfc4475", "badvers.dat", StatusCode::VERSION_NOT_SUPPORTED), Error::VersionNotSupported);
        }
        mismatch01 => "mismatch01.dat" {
            assert_eq!(rejected("rfc4475", "mismatch01.dat", StatusCode::BAD_REQUEST), Error::CSeqMethodMismatch);
        }
        mismatch02 => "mismatch02.dat" {
            assert_eq!(rejected("rfc4475", "mismatch02.dat", StatusCode::NOT_IMPLEMENTED), Error::UnknownMethodMismatch);
        }
        bigcode => "bigcode.dat" { dropped("bigcode.dat"); }
        badbranch => "badbranch.dat" {
            // Well-formed; the bare magic cookie is no RFC 3261 branch, so transactions fall back to RFC 2543
            // matching (tested with the transaction keys).
            let m = valid("badbranch.dat");
            assert!(!m.top_via().expect("via").has_rfc3261_branch());
        }
        insuf => "insuf.dat" {
            let e = rejected("rfc4475", "insuf.dat", StatusCode::BAD_REQUEST);
            assert!(matches!(e, Error::MissingHeader(_)), "{e:?}");
        }
        unkscm => "unkscm.dat" {
            for role in [Role::Proxy, Role::Registrar, Role::UserAgentServer] {
                semantic("unkscm.dat", role, StatusCode::UNSUPPORTED_URI_SCHEME);
            }
        }
        novelsc => "novelsc.dat" {
            semantic("novelsc.dat", Role::Proxy, StatusCode::UNSUPPORTED_URI_SCHEME);
        }
        unksm2 => "unksm2.dat" {
            semantic("unksm2.dat", Role::Registrar, StatusCode::BAD_REQUEST);
            accepted_by("unksm2.dat", Role::Proxy);
        }
        bext01 => "bext01.dat" {
            let e = semantic("bext01.dat", Role::UserAgentServer, StatusCode::BAD_EXTENSION);
            assert_eq!(e, Error::BadExtension(vec!["nothingSupportsThis".into(), "nothingSupportsThisEither".into()]));
            let e = semantic("bext01.dat", Role::Proxy, StatusCode::BAD_EXTENSION);
            assert_eq!(e, Error::BadExtension(vec!["noProxiesSupportThis".into(), "norDoAnyProxiesSupportThis".into()]));
        }
        invut => "invut.dat" {
            semantic("invut.dat", Role::UserAgentServer, StatusCode::UNSUPPORTED_MEDIA_TYPE);
            accepted_by("invut.dat", Role::Proxy);
        }
        regaut01 => "regaut01.dat" {
            let m = accepted_by("regaut01.dat", Role::Registrar);
            assert!(m.header(HeaderName::Authorization).expect("authorization").starts_with("NoOneKnowsThisScheme"));
        }
        multi01 => "multi01.dat" {
            let e = rejected("rfc4475", "multi01.dat", StatusCode::BAD_REQUEST);
            assert!(matches!(e, Error::DuplicateHeader(_)), "{e:?}");
        }
        mcl01 => "mcl01.dat" {
            assert_eq!(rejected("rfc4475", "mcl01.dat", StatusCode::BAD_REQUEST), Error::ConflictingContentLength);
        }
        bcast => "bcast.dat" {
            let m = valid("bcast.dat");
            let e = validate::check_upstream_via(&m).expect_err("broadcast upstream Via");
            assert_eq!(e.disposition(&m.to_bytes()), Disposition::Drop);
        }
        zeromf => "zeromf.dat" {
            semantic("zeromf.dat", Role::Proxy, StatusCode::TOO_MANY_HOPS);
            accepted_by("zeromf.dat", Role::UserAgentServer);
        }
        cparam01 => "cparam01.dat" {
            let m = accepted_by("cparam01.dat", Role::Registrar);
            let c = Contact::parse(m.header(HeaderName::Contact).expect("contact")).expect("contact");
            let a = c.address().expect("address");
            assert!(a.params.contains("unknownparam"), "a contact parameter");
            assert!(!a.uri.contains("unknownparam"), "never a URI parameter");
        }
        cparam02 => "cparam02.dat" {
            let m = accepted_by("cparam02.dat", Role::Registrar);
            let c = Contact::parse(m.header(HeaderName::Contact).expect("contact")).expect("contact");
            let a = c.address().expect("address");
            assert!(a.uri.ends_with(";unknownparam"), "a URI parameter");
            assert!(!a.params.contains("unknownparam"));
        }
        regescrt => "regescrt.dat" {
            let m = accepted_by("regescrt.dat", Role::Registrar);
            let c = Contact::parse(m.header(HeaderName::Contact).expect("contact")).expect("contact");
            let uri = Uri::parse(c.address().expect("address").uri).expect("uri");
            assert_eq!(uri.as_sip().expect("sip").headers, Some("Route=%3Csip:sip.example.com%3E"));
        }
        sdp01 => "sdp01.dat" {
            semantic("sdp01.dat", Role::UserAgentServer, StatusCode::NOT_ACCEPTABLE);
        }
        inv2543 => "inv2543.dat" {
            let m = accepted_by("inv2543.dat", Role::Proxy);
            assert_eq!(m.header(HeaderName::ContentLength), None);
            assert!(m.body().starts_with(b"v=0"), "no Content-Length over UDP: the body is the rest of the datagram");
            assert_eq!(m.from().expect("from").tag(), None);
        }
        test_dat => "test.dat" {
            // Not part of RFC 4475 §3: a request line without a SIP version.
            assert_eq!(rejected("rfc4475", "test.dat", StatusCode::BAD_REQUEST), Error::BadStartLine);
        }
    }
}

mod rfc5118 {
    use std::net::Ipv6Addr;

    use super::*;

    /// The wire form of `name`. RFC 5118's archive has Content-Lengths that do not match its bodies; where the
    /// declared length exceeds the body (which a datagram parser must answer with 400, see `clerr`), the header is
    /// corrected so that the test is about IPv6 handling, as the RFC intends.
    fn wire(name: &str) -> Vec<u8> {
        let bytes = read(&format!("rfc5118/wire/{name}.sip"));
        let row = manifest_row("rfc5118", name);
        let col = |c: &str| row.iter().find(|(h, _)| h == c).map(|(_, v)| v.parse::<usize>().expect("number"));
        let (Some(declared), Some(body)) = (col("declared_content_length"), col("body_len_wire_CRLF")) else {
            return bytes;
        };
        if declared <= body {
            return bytes;
        }
        let text = String::from_utf8(bytes).expect("utf8");
        text.replacen(&format!("Content-Length: {declared}"), &format!("Content-Length: {body}"), 1).into_bytes()
    }

    fn valid6(name: &str) -> Message {
        assert_verdict("rfc5118", name, &["valid", "valid-but-semantic-error"]);
        valid_bytes(&wire(name), name)
    }

    fn ruri_host(m: &Message) -> (Host<'_>, Option<u16>) {
        let uri = Uri::parse(m.request_uri().expect("ruri")).expect("uri");
        let sip = uri.as_sip().expect("sip");
        (sip.host, sip.port)
    }

    fn v6(s: &str) -> Host<'static> {
        Host::V6(s.parse::<Ipv6Addr>().expect("address"))
    }

    cases! { "rfc5118":
        ipv6_good => "ipv6-good" {
            let m = valid6("ipv6-good");
            assert_eq!(ruri_host(&m), (v6("2001:db8::10"), None));
        }
        ipv6_bad => "ipv6-bad" {
            assert_verdict("rfc5118", "ipv6-bad", &["invalid-must-reject"]);
            let e = rejected_bytes(&wire("ipv6-bad"), StatusCode::BAD_REQUEST, "ipv6-bad");
            assert_eq!(e, Error::BadRequestUri);
        }
        port_ambiguous => "port-ambiguous" {
            let m = valid6("port-ambiguous");
            assert_eq!(ruri_host(&m), (v6("2001:db8::10:5070"), None), "no port: the last group is part of the address");
        }
        port_unambiguous => "port-unambiguous" {
            let m = valid6("port-unambiguous");
            assert_eq!(ruri_host(&m), (v6("2001:db8::10"), Some(5070)));
        }
        via_received_with_delim => "via-received-param-with-delim" {
            let m = valid6("via-received-param-with-delim");
            assert_eq!(m.top_via().expect("via").received(), Some(v6("2001:db8::9:255")));
        }
        via_received_no_delim => "via-received-param-no-delim" {
            let m = valid6("via-received-param-no-delim");
            assert_eq!(m.top_via().expect("via").received(), Some(v6("2001:db8::9:255")));
        }
        ipv6_in_sdp => "ipv6-in-sdp" {
            let m = valid6("ipv6-in-sdp");
            assert!(std::str::from_utf8(m.body()).expect("sdp").contains("c=IN IP6 2001:db8::20"));
        }
        mult_ip_in_header => "mult-ip-in-header" {
            let m = valid6("mult-ip-in-header");
            let hosts: Vec<Host<'_>> = m.vias().map(|v| v.expect("via").host).collect();
            assert!(hosts.iter().any(|h| matches!(h, Host::V4(_))));
            assert!(hosts.iter().any(|h| matches!(h, Host::V6(_))));
        }
        mult_ip_in_sdp => "mult-ip-in-sdp" { valid6("mult-ip-in-sdp"); }
        ipv4_mapped_ipv6 => "ipv4-mapped-ipv6" {
            let m = valid6("ipv4-mapped-ipv6");
            assert_eq!(m.top_via().expect("via").host, v6("::ffff:192.0.2.10"));
            assert_eq!(m.vias().nth(1).expect("second via").expect("parses").host, v6("::ffff:192.0.2.2"));
        }
        ipv6_bug_abnf_3_colons => "ipv6-bug-abnf-3-colons" {
            let m = valid6("ipv6-bug-abnf-3-colons");
            assert_eq!(ruri_host(&m).0, v6("2001:db8::192.0.2.1"), "RFC 5118 §4.10: tolerated");
        }
        ipv6_correct_abnf_2_colons => "ipv6-correct-abnf-2-colons" {
            let m = valid6("ipv6-correct-abnf-2-colons");
            assert_eq!(ruri_host(&m).0, v6("2001:db8::192.0.2.1"));
        }
    }

    /// The archive itself uses bare LF line ends: every file whose header section is terminated parses the same
    /// as its CRLF wire form.
    #[test]
    fn bare_lf_archive_parses_like_the_wire_form() {
        for name in ["ipv6-good", "port-unambiguous", "via-received-param-no-delim", "mult-ip-in-header"] {
            let raw = Message::parse(Bytes::from(read(&format!("rfc5118/{name}")))).expect("raw parses");
            let wire = Message::parse(Bytes::from(wire(name))).expect("wire parses");
            assert_eq!(raw.request_uri(), wire.request_uri(), "{name}");
            let raw_vias: Vec<_> = raw.vias().map(|v| v.expect("via").host).collect();
            let wire_vias: Vec<_> = wire.vias().map(|v| v.expect("via").host).collect();
            assert_eq!(raw_vias, wire_vias, "{name}");
        }
    }
}
