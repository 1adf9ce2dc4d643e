//! URIs and hosts: `Uri::parse` on arbitrary text, and the host parsers it is built on.
//!
//! Round trips: a parsed host written with `Display` parses back to the same host; a parsed URI written out
//! parses back, is equivalent to the original (RFC 3261 §19.1.4), and writes out the same text again.

#![no_main]

use carillon_sip::Uri;
use carillon_sip::uri::{Host, parse_host_port};
use libfuzzer_sys::fuzz_target;

fn host_round_trip(host: &Host<'_>) {
    let written = host.to_string();
    let again = Host::parse(&written).expect("a written host parses");
    assert!(again.same_as(host), "{written:?} parsed as {again:?}, not {host:?}");
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };

    if let Ok(uri) = Uri::parse(text) {
        let _ = uri.scheme();
        if let Some(sip) = uri.as_sip() {
            host_round_trip(&sip.host);
            for param in sip.params.iter() {
                let _ = param.unquoted_value();
            }
        }
        let written = uri.to_string();
        let again = Uri::parse(&written).expect("a written URI parses");
        assert!(again.equivalent(&uri), "{written:?} is not equivalent to {text:?}");
        assert_eq!(again.to_string(), written, "writing a URI is not stable");
    }

    if let Ok(host) = Host::parse(text) {
        host_round_trip(&host);
    }
    if let Ok(host) = Host::parse_lenient(text) {
        host_round_trip(&host);
    }
    if let Ok((host, port)) = parse_host_port(text) {
        host_round_trip(&host);
        let written = match port {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        let (again, again_port) = parse_host_port(&written).expect("a written host:port parses");
        assert!(again.same_as(&host) && again_port == port, "{written:?} does not read back");
    }
});
