//! What the fuzz targets share: a comparable picture of a parsed message.

use carillon_sip::message::Kind;
use carillon_sip::{HeaderName, Message};

/// Everything a reader of a message can observe, owned so that two messages can be compared whatever buffers
/// they live in: kind, start line as it would be written, every header line (recognised name, name as written,
/// trimmed value) and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    pub kind: Kind,
    pub start_line: String,
    pub headers: Vec<(HeaderName, String, String)>,
    pub body: Vec<u8>,
}

impl Shape {
    /// The shape of `msg`.
    pub fn of(msg: &Message) -> Shape {
        Shape {
            kind: msg.kind(),
            start_line: msg.start_line_text().into_owned(),
            headers: msg.headers().map(|h| (h.name, h.written_name.to_owned(), h.value.to_owned())).collect(),
            body: msg.body().to_vec(),
        }
    }
}
