//! PROTOS c07-sip (University of Oulu): 4527 malformed INVITEs. Every case must parse or be rejected, never
//! panic, each within a time bound; the valid case must still be accepted afterwards.
//!
//! The suite is GPL-2 test data and is not part of this repository: it is read from `../shared/corpus/protos`
//! beside the project root, or from the folder named by `CARILLON_PROTOS_DIR`. When neither exists the test
//! says so loudly and, under CI (`CI` set), fails.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a failed expectation is the point

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use carillon_sip::validate::check_request;
use carillon_sip::{Disposition, Message};

/// Per case, in a debug build on a loaded two-core machine; a parse takes microseconds.
const TIME_BOUND: Duration = Duration::from_millis(250);

fn protos_dir() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("CARILLON_PROTOS_DIR").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/protos/invite")),
    ];
    candidates.into_iter().flatten().find(|p| p.join("0000000.sip").is_file())
}

#[derive(Default, Debug)]
struct Tally {
    accepted: usize,
    answered: [usize; 7],
    dropped: usize,
}

#[test]
fn protos_c07_sip_invites_never_panic() {
    let Some(dir) = protos_dir() else {
        let msg = "PROTOS c07-sip corpus NOT FOUND (../shared/corpus/protos/invite or CARILLON_PROTOS_DIR): \
                   4527 robustness cases were NOT run";
        eprintln!("\n!!!!!!!! {msg} !!!!!!!!\n");
        assert!(std::env::var_os("CI").is_none(), "{msg}");
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("readable corpus folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sip"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 4527, "the suite has 4527 INVITEs");

    let mut tally = Tally::default();
    let mut slowest = (Duration::ZERO, PathBuf::new());
    for path in &files {
        let input = std::fs::read(path).expect("readable case");
        let started = Instant::now();
        let verdict = Message::parse(Bytes::from(input.clone())).and_then(|m| check_request(&m).map(|()| m));
        match verdict {
            Ok(m) => {
                // An accepted message must write itself back exactly.
                assert_eq!(&m.to_bytes()[..], &input[..m.to_bytes().len()], "{}", path.display());
                tally.accepted += 1;
            }
            Err(e) => match e.disposition(&input) {
                Disposition::Respond(status, _) => tally.answered[usize::from(status.class())] += 1,
                Disposition::Drop => tally.dropped += 1,
            },
        }
        let took = started.elapsed();
        assert!(took < TIME_BOUND, "{} took {took:?}", path.display());
        if took > slowest.0 {
            slowest = (took, path.clone());
        }
    }
    eprintln!(
        "PROTOS c07-sip: {} cases: {} accepted, {} answered 4xx, {} answered 5xx, {} dropped; slowest {:?} ({})",
        files.len(),
        tally.accepted,
        tally.answered[4],
        tally.answered[5],
        tally.dropped,
        slowest.0,
        slowest.1.display()
    );
    // The suite's -validcase mode: the valid INVITE is still accepted after all the others.
    let valid = std::fs::read(dir.join("0000000.sip")).expect("case 0");
    let m = Message::parse(Bytes::from(valid)).expect("case 0 parses");
    check_request(&m).expect("case 0 is a valid INVITE");
    assert!(tally.accepted >= 1 && tally.accepted < files.len(), "most cases are malformed, case 0 is not");
}
