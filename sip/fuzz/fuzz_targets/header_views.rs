//! The typed header views on arbitrary values, as `Message` hands them out.
//!
//! Input: one octet choosing the header, then the value (UTF-8, as a parsed message guarantees). List headers
//! (Via, Contact, Route, Record-Route) are split at top-level commas first, like `Message::header_values`.
//! Every accessor of a view that parsed is called; the few promises their documentation makes are checked.

#![no_main]

use carillon_sip::HeaderName;
use carillon_sip::headers::{CSeq, Contact, NameAddr, Via, parse_call_id, parse_delta_seconds, parse_max_forwards};
use carillon_sip::text::{is_token, split_commas};
use libfuzzer_sys::fuzz_target;

fn name_addr(value: &str, header: HeaderName) {
    let Ok(addr) = NameAddr::parse_as(value, header) else { return };
    assert!(addr.params.validate(), "a parsed address has well-formed parameters");
    let _ = addr.tag();
    let _ = addr.parsed_uri();
    let _ = addr.display_name_text();
}

fn via(value: &str) {
    let Ok(via) = Via::parse(value) else { return };
    assert!(is_token(via.protocol) && is_token(via.version) && is_token(via.transport));
    let _ = via.branch();
    let _ = via.has_rfc3261_branch();
    let _ = via.received();
    let _ = via.rport();
    let _ = via.maddr();
    let _ = via.ttl();
    let _ = via.is_reliable();
    let _ = via.host.to_string();
}

fn contact(value: &str) {
    let Ok(contact) = Contact::parse(value) else { return };
    let _ = contact.expires();
    if let Some(q) = contact.q() {
        assert!(q <= 1000, "q is at most 1 (RFC 3261 §20.10)");
    }
    let _ = contact.instance();
    let _ = contact.reg_id();
    if let Some(addr) = contact.address() {
        let _ = addr.parsed_uri();
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, value)) = data.split_first() else { return };
    let Ok(value) = std::str::from_utf8(value) else { return };
    match choice % 10 {
        0 => split_commas(value).for_each(via),
        1 => name_addr(value, HeaderName::From),
        2 => name_addr(value, HeaderName::To),
        3 => split_commas(value).for_each(|v| name_addr(v, HeaderName::Route)),
        4 => split_commas(value).for_each(|v| name_addr(v, HeaderName::RecordRoute)),
        5 => split_commas(value).for_each(contact),
        6 => {
            if let Ok(cseq) = CSeq::parse(value) {
                assert!(cseq.seq < 1 << 31, "CSeq numbers are below 2**31 (RFC 3261 §8.1.1.5)");
                assert!(is_token(cseq.method_text));
                let _ = cseq.method();
            }
        }
        7 => {
            if let Ok(id) = parse_call_id(value) {
                assert!(!id.is_empty());
            }
        }
        8 => {
            let _ = parse_max_forwards(value);
        }
        _ => {
            let _ = parse_delta_seconds(value, HeaderName::Expires);
        }
    }
});
