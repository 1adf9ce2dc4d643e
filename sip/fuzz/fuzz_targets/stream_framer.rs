//! A TCP/TLS byte stream through [`StreamFramer`], delivered in arbitrary pieces.
//!
//! Input: one control octet, then the stream. The control octet picks the read size (low six bits, 0 meaning
//! "everything in one read"), whether reads alternate between that size and one octet (bit 6), and whether
//! small limits are used (bit 7), so the size checks are reached with short inputs.
//!
//! Besides not panicking, framing must not depend on how the stream was cut: the messages framed from the
//! pieces are the messages framed from the whole stream in one read, and the stream fails in both or in
//! neither. (Keepalives are left out of the comparison: a ping cut in two is documented to read as two pongs.)

#![no_main]

use carillon_sip::framing::{StreamEvent, StreamFramer};
use carillon_sip::{Error, Limits};
use carillon_sip_fuzz::Shape;
use libfuzzer_sys::fuzz_target;

/// What a framer made of a stream: the messages, and the error it stopped on.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    messages: Vec<Shape>,
    error: Option<Error>,
}

fn frame(stream: &[u8], limits: &Limits, mut read_size: impl FnMut(usize) -> usize) -> Outcome {
    let mut framer = StreamFramer::new(limits.clone());
    let mut outcome = Outcome { messages: Vec::new(), error: None };
    let mut pos = 0;
    let mut read = 0;
    while pos < stream.len() {
        let end = stream.len().min(pos + read_size(read).max(1));
        framer.extend(&stream[pos..end]);
        pos = end;
        read += 1;
        loop {
            match framer.next_event() {
                Ok(Some(StreamEvent::Message(m))) => outcome.messages.push(Shape::of(&m)),
                Ok(Some(StreamEvent::Ping | StreamEvent::Pong)) => {}
                Ok(None) => break,
                Err(e) => {
                    outcome.error = Some(e);
                    return outcome;
                }
            }
        }
    }
    assert!(framer.buffered() <= stream.len(), "the framer never holds more than it was given");
    outcome
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, stream)) = data.split_first() else { return };
    let limits = if control & 0x80 != 0 {
        Limits { max_line_length: 96, max_headers: 8, max_header_bytes: 384, max_body_bytes: 128 }
    } else {
        Limits::default()
    };
    let size = usize::from(control & 0x3f);
    let alternate = control & 0x40 != 0;

    let whole = frame(stream, &limits, |_| stream.len());
    if size == 0 {
        return;
    }
    let pieces = frame(stream, &limits, |read| if alternate && read % 2 == 1 { 1 } else { size });
    // The error itself may differ (checks run on different prefixes), not whether there is one.
    assert_eq!(whole.messages, pieces.messages, "framing depends on where the stream was cut");
    assert_eq!(whole.error.is_some(), pieces.error.is_some(), "failing depends on where the stream was cut");
});
