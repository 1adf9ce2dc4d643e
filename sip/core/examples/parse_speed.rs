//! Rough single-core parse rate of the typical INVITE (the criterion benchmarks in `sip/benches` are the
//! reference figures; this is a quick check while working on the parser).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a failed expectation is the point
use std::time::Instant;

fn main() {
    let wire = bytes::Bytes::from(
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/invite.sip")).unwrap_or_default(),
    );
    let _shared = wire.clone();
    let n = 1_000_000u32;
    let start = Instant::now();
    let mut sum = 0usize;
    for _ in 0..n {
        let m = carillon_sip::Message::parse(std::hint::black_box(wire.clone())).ok();
        sum += m.map_or(0, |m| m.header_count());
    }
    let parse = start.elapsed();
    let start = Instant::now();
    for _ in 0..n {
        if let Ok(m) = carillon_sip::Message::parse(std::hint::black_box(wire.clone())) {
            sum += m.top_via().ok().and_then(|v| v.branch()).map_or(0, str::len);
            sum += m.from().ok().and_then(|f| f.tag()).map_or(0, str::len);
            sum += m.to().ok().map_or(0, |t| t.uri.len());
            sum += m.call_id().map_or(0, str::len);
            sum += m.cseq().map_or(0, |c| c.seq as usize);
            sum += m.method().map_or(0, |m| m.as_str().len());
        }
    }
    let headers = start.elapsed();
    println!(
        "parse: {:.0} k/s, parse+headers: {:.0} k/s ({sum})",
        f64::from(n) / parse.as_secs_f64() / 1e3,
        f64::from(n) / headers.as_secs_f64() / 1e3
    );
}
