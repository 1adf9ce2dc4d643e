//! Measures the heap a registrar keeps for each answered REGISTER while its non-INVITE server transaction absorbs
//! retransmissions (RFC 3261 §17.2.2: Timer J, 32 s on UDP). A busy registrar answers thousands of REGISTERs a
//! second, so this is most of its memory; the test prints the figure and holds it to a budget.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a failed expectation is the point

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use bytes::Bytes;
use carillon_sip::transaction::{Reliability, TimerConfig, Transactions};
use carillon_sip::{Message, StatusCode};

struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the counter has no effect on memory.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const TRANSACTIONS: usize = 10_000;

/// The sample REGISTER with its branch and Call-ID made unique by `n`, as a socket would hand it over.
fn register(template: &str, n: usize) -> Message {
    let text = template
        .replace("branch=z9hG4bK2f1a3c", &format!("branch=z9hG4bK2f1a3c{n:08}"))
        .replace("Call-ID: 1192837465", &format!("Call-ID: 1192837465{n:08}"));
    Message::parse_datagram(Bytes::from(text), &Default::default()).expect("valid REGISTER")
}

#[test]
fn an_answered_register_keeps_at_most_the_budget_while_absorbing_retransmissions_rfc3261_17_2_2() {
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/register.sip")).expect("data");
    let now = Instant::now();
    let mut table = Transactions::new(TimerConfig::default());
    let before = LIVE_BYTES.load(Ordering::SeqCst);
    let requests: Vec<Message> = (0..TRANSACTIONS).map(|n| register(&template, n)).collect();
    for request in requests {
        let response = Message::response_to(&request, StatusCode::OK)
            .header("Contact", "<sip:4242@192.0.2.101:5060>;expires=3600")
            .to_tag("as7d2f")
            .build()
            .expect("response");
        let key = table.start_server(now, request, Reliability::Unreliable).expect("server transaction");
        while table.poll_event().is_some() {}
        assert!(table.send_response(now, &key, response));
        while table.poll_transmit().is_some() {}
    }
    let per_transaction = (LIVE_BYTES.load(Ordering::SeqCst) - before) / TRANSACTIONS as isize;
    assert_eq!(table.len(), TRANSACTIONS, "every transaction absorbs retransmissions for Timer J");
    println!("bytes held per answered REGISTER (request {} octets): {per_transaction}", template.len());
    // About 1.25 KiB here: the 200's octets, the boxed machine, the shared key and the table's and schedule's slots.
    // The request is not among them: an answered transaction no longer needs it.
    assert!(per_transaction <= 1536, "{per_transaction} bytes per answered REGISTER");
}
