//! Counts the heap allocations needed to parse a typical INVITE and read its transaction headers (method, top
//! Via branch, From tag, To, Call-ID, CSeq). The parser keeps header positions in one vector and every view
//! borrows from the received buffer, so one allocation is expected; the budget is three.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a failed expectation is the point

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use carillon_sip::Message;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the counter has no effect on memory.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made while running `f`. This file holds one test, so no other test thread allocates meanwhile.
fn count<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let out = f();
    (out, ALLOCATIONS.load(Ordering::SeqCst) - before)
}

#[test]
fn parse_invite_and_read_transaction_headers_within_three_allocations() {
    let wire = Bytes::from(std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/invite.sip")).expect("data"));
    assert_eq!(wire.len(), 704);
    // The first clone of a vector-backed `Bytes` allocates its shared header; a socket's buffer is shared already.
    let _shared = wire.clone();
    let (summary, allocations) = count(|| {
        let m = Message::parse(wire.clone()).expect("valid");
        let method = m.method().map(|m| m.as_str().len());
        let branch = m.top_via().ok().and_then(|v| v.branch()).map(str::len);
        let from_tag = m.from().ok().and_then(|f| f.tag()).map(str::len);
        let to = m.to().ok().map(|t| t.uri.len());
        let call_id = m.call_id().ok().map(str::len);
        let cseq = m.cseq().ok().map(|c| c.seq);
        (method, branch, from_tag, to, call_id, cseq)
    });
    assert_eq!(summary, (Some(6), Some(15), Some(10), Some(27), Some(31), Some(1)));
    eprintln!("allocations to parse a 704-byte INVITE and read its transaction headers: {allocations}");
    assert!(allocations <= 3, "{allocations} allocations");
}
