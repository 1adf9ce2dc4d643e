//! Parses each file named on the command line as one datagram and prints the verdict.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a failed expectation is the point
fn main() {
    for path in std::env::args().skip(1) {
        let Ok(data) = std::fs::read(&path) else {
            eprintln!("{path}: unreadable");
            continue;
        };
        match carillon_sip::Message::parse(bytes::Bytes::from(data.clone())) {
            Ok(m) => println!(
                "{path}: ok {} headers={} body={} exact={}",
                m.start_line_text(),
                m.header_count(),
                m.body().len(),
                m.to_bytes() == data[..m.to_bytes().len()]
            ),
            Err(e) => println!("{path}: {e} -> {:?}", e.disposition(&data)),
        }
    }
}
