//! Measures the heap the registrar keeps for each registered contact. A campus has tens of thousands of phones,
//! each bound once, so this is what a registrar node's memory grows with; the test prints the figure and holds it
//! to a budget.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a failed expectation is the point

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use carillon_registrar::{Aor, Authorization, Config, Flow, Limits, NodeId, RegisterContext, Registrar};
use carillon_sip::Message;
use carillon_sip::target::Transport;

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

const PHONES: u32 = 10_000;

/// A desk phone's REGISTER, as a Yealink sends it.
fn register(n: u32) -> Message {
    let text = format!(
        "REGISTER sip:campus.example.edu SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.1.{a}.{b}:5060;branch=z9hG4bK{n:08x};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{n}@campus.example.edu>;tag={n:08x}\r\n\
         To: <sip:{n}@campus.example.edu>\r\n\
         Call-ID: 0a1b2c3d{n:08x}@10.1.{a}.{b}\r\n\
         CSeq: 2 REGISTER\r\n\
         Contact: <sip:{n}@10.1.{a}.{b}:5060>\r\n\
         Expires: 3600\r\n\
         User-Agent: Yealink SIP-T46S 66.86.0.15\r\n\
         Content-Length: 0\r\n\r\n",
        a = n / 250,
        b = n % 250,
    );
    Message::parse(Bytes::from(text)).expect("valid REGISTER")
}

#[test]
fn a_registered_contact_keeps_at_most_the_budget() {
    let config = Config::default();
    let node = NodeId::new("sip1");
    let before = LIVE_BYTES.load(Ordering::SeqCst);
    let requests: Vec<(Aor, Message)> = (0..PHONES)
        .map(|n| {
            let aor = Aor::parse(&format!("sip:{n}@campus.example.edu")).expect("AOR");
            (aor, register(n))
        })
        .collect();
    let mut registrar = Registrar::new(Limits::default());
    for (i, (aor, request)) in requests.iter().enumerate() {
        let ctx = RegisterContext {
            authorization: Authorization::Granted(aor.clone()),
            flow: Flow {
                transport: Transport::Udp,
                source: SocketAddr::from(([10, 1, (i / 250) as u8, (i % 250) as u8], 5060)),
                local: SocketAddr::from(([10, 0, 0, 1], 5060)),
                id: None,
            },
            node: node.clone(),
            config: &config,
            random: i as u64,
        };
        let outcome = registrar.register(Duration::from_secs(1_700_000_000), request, &ctx);
        assert!(outcome.response.is_ok_and(|r| r.status().is_some_and(|s| s.is_success())));
    }
    drop(requests);
    let per_contact = (LIVE_BYTES.load(Ordering::SeqCst) - before) / PHONES as isize;
    assert_eq!(registrar.bindings().len(), PHONES as usize);
    println!("bytes held per registered contact: {per_contact}");
    // About 530 bytes here: the binding (256) and its shared strings (contact, Call-ID, user agent), the AOR, and
    // the map's slot. A vector with room for four bindings per AOR once made it 1.3 KB.
    assert!(per_contact <= 768, "{per_contact} bytes per registered contact");
}
