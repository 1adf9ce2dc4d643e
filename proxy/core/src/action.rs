//! What the proxy tells its driver: the answer to a received request ([`Handled`]), and the actions a response
//! context produces as it goes ([`Action`]), ending with the call record.

use std::fmt;
use std::time::Instant;

use carillon_sip::{Message, Method, StatusCode};

use crate::targets::NextHop;

/// Names one response context (one request being proxied statefully) for as long as it lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContextId(pub u64);

impl fmt::Display for ContextId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Names one branch (one forwarded copy, one client transaction) within its context: 0, 1, 2... in the order
/// they were forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BranchId(pub u32);

impl fmt::Display for BranchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What became of a request handed to [`crate::Proxy::handle_request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// A response context was created; its [`Action`]s are polled with [`crate::Proxy::poll_action`].
    Context(ContextId),
    /// Send this response on the request's server transaction, and nothing more: a request refused by
    /// validation, a loop, OPTIONS to the proxy itself, the answer to a CANCEL.
    Respond(Message),
    /// Send this request statelessly (an ACK for a 2xx, RFC 3261 §16.11): no client transaction.
    Forward {
        /// The request as it goes out.
        message: Message,
        /// Where it goes.
        target: NextHop,
    },
    /// Discard the request without a word: an ACK that is malformed or names no next hop (ACKs are never
    /// answered).
    Drop,
}

/// What a response context asks its driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Decide the targets of this request (RFC 3261 §16.5) and answer with [`crate::Proxy::provide_targets`]:
    /// location service lookups, aliases, forwarding, permissions and authentication are the caller's. The
    /// request is as preprocessed (§16.4): our Route values removed, a strict router's change undone.
    NeedTargets {
        /// The request.
        request: Message,
    },
    /// Send `message` on a new client transaction, which is this branch: its events go to
    /// [`crate::Proxy::handle_branch_event`] with this branch id.
    Forward {
        /// The branch.
        branch: BranchId,
        /// The request as it goes out (§16.6).
        message: Message,
        /// Where it goes.
        target: NextHop,
    },
    /// Send this CANCEL on its own client transaction to where the branch's INVITE went, and tell the branch's
    /// INVITE client transaction (`cancel_sent`).
    Cancel {
        /// The branch cancelled.
        branch: BranchId,
        /// The CANCEL (`carillon_sip::transaction::build_cancel` of the branch's INVITE).
        message: Message,
    },
    /// Send this response upstream on the server transaction of the context's request: a provisional response,
    /// the final response, or a later 2xx.
    Respond {
        /// The response, our Via removed.
        message: Message,
    },
    /// The final outcome is known; emitted once per context, right after the final response's
    /// [`Action::Respond`]. The context may stay a little longer to forward late 2xx responses.
    Done(CallRecord),
}

/// What a driver needs to write a call record (CDR) of a proxied request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// The method of the request (CDRs are written for INVITE).
    pub method: Method,
    /// Its Call-ID, which ties the record to the dialog's later requests (BYE).
    pub call_id: String,
    /// The From header as the caller wrote it (display name and address: the CDR's `clid` and `src`).
    pub from: String,
    /// The Request-URI as it arrived, after route preprocessing and before any retargeting (the CDR's `dst`).
    pub request_uri: String,
    /// When the request arrived.
    pub started: Instant,
    /// When the first 2xx went upstream.
    pub answered: Option<Instant>,
    /// The branch whose 2xx answered the call (the driver knows where it went: a line, a trunk).
    pub answered_by: Option<BranchId>,
    /// When the final response went upstream. For an answered call the call ends later, with the BYE the
    /// driver sees; for every other disposition this is the end.
    pub ended: Instant,
    /// The final response sent upstream (the first 2xx when answered).
    pub status: StatusCode,
    /// The outcome, as call records name it.
    pub disposition: CallDisposition,
}

/// The outcome of a call as Asterisk's CDR `disposition` column names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallDisposition {
    /// A 2xx went upstream.
    Answered,
    /// Nobody answered: 408, 480 or 487 without a CANCEL from the caller (targets rang out or timed out).
    NoAnswer,
    /// The callee was busy or declined: 486, 600, 603.
    Busy,
    /// Any other failure: not found, forbidden, server errors, redirections.
    Failed,
    /// The caller cancelled before an answer.
    Cancel,
}

impl CallDisposition {
    /// The disposition of a request whose final response upstream was `status`; `cancelled` when the caller
    /// sent a CANCEL.
    pub fn from_final(status: StatusCode, cancelled: bool) -> CallDisposition {
        match status.as_u16() {
            200..=299 => CallDisposition::Answered,
            _ if cancelled => CallDisposition::Cancel,
            486 | 600 | 603 => CallDisposition::Busy,
            408 | 480 | 487 => CallDisposition::NoAnswer,
            _ => CallDisposition::Failed,
        }
    }

    /// The name written in call records: `ANSWERED`, `NO ANSWER`, `BUSY`, `FAILED`, `CANCEL`.
    pub fn as_str(self) -> &'static str {
        match self {
            CallDisposition::Answered => "ANSWERED",
            CallDisposition::NoAnswer => "NO ANSWER",
            CallDisposition::Busy => "BUSY",
            CallDisposition::Failed => "FAILED",
            CallDisposition::Cancel => "CANCEL",
        }
    }
}

impl fmt::Display for CallDisposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_follow_the_final_response() {
        let d = |code: u16, cancelled| CallDisposition::from_final(StatusCode::new(code).expect("code"), cancelled);
        assert_eq!(d(200, false), CallDisposition::Answered);
        assert_eq!(d(200, true), CallDisposition::Answered, "answered before the CANCEL arrived");
        assert_eq!(d(487, true), CallDisposition::Cancel);
        assert_eq!(d(487, false), CallDisposition::NoAnswer);
        assert_eq!(d(408, false), CallDisposition::NoAnswer);
        assert_eq!(d(486, false), CallDisposition::Busy);
        assert_eq!(d(603, false), CallDisposition::Busy);
        assert_eq!(d(404, false), CallDisposition::Failed);
        assert_eq!(d(500, false), CallDisposition::Failed);
        assert_eq!(CallDisposition::NoAnswer.to_string(), "NO ANSWER");
    }
}
