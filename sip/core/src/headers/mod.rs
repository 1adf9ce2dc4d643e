//! Typed views of header values, parsed on demand from a message's ranges and borrowing from it.
//!
//! Each view's `parse` takes one value (one element of a comma-separated list, see
//! [`crate::Message::header_values`]) with folds still inside, and returns [`crate::Error::BadHeaderValue`]
//! naming the header when the grammar is not met. Nothing here allocates unless a view is asked for an unescaped
//! or unquoted copy.

mod cseq;
mod name_addr;
mod scalar;
mod via;

pub use cseq::CSeq;
pub use name_addr::{Contact, NameAddr};
pub use scalar::{parse_call_id, parse_delta_seconds, parse_max_forwards};
pub use via::{MAGIC_COOKIE, Via};

mod date;
mod event;
mod identity;
mod lexical;
mod media;
mod product;
mod reason;
mod replaces;
mod retry_after;
mod timestamp;
mod tokens;
mod warning;

pub use date::SipDate;
pub use event::{Event, SubscriptionState, Substate, TerminationReason, is_event_type};
pub use identity::{Identities, ReferTo, ReferredBy, parse_identity, parse_reply_to};
pub use media::MediaType;
pub use product::{ProductItem, ProductList};
pub use reason::{Reason, ReasonProtocol};
pub use replaces::Replaces;
pub use retry_after::RetryAfter;
pub use timestamp::Timestamp;
pub use tokens::{Allow, PrivValue, Privacy, TokenList};
pub use warning::Warning;
