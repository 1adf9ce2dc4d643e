//! Merged requests (RFC 3261 §8.2.2.2): the same request arriving twice through different paths of a forking
//! proxy, which a UAS must answer only once.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::key::TransactionKey;
use crate::error::Error;
use crate::message::{Message, Method};

/// Remembers the From tag, Call-ID and CSeq of recent out-of-dialog requests, and the transaction each created,
/// to spot a copy of a request that arrives on another transaction.
///
/// Memory is bounded twice: an entry is forgotten `lifetime` after it was recorded, and when `capacity` entries
/// are held the oldest goes first. Copies of a forked request arrive within the same seconds, so the default
/// lifetime of 32 s (64*T1, the lifetime of a server transaction) catches them.
#[derive(Debug)]
pub struct MergeDetector {
    capacity: usize,
    lifetime: Duration,
    entries: HashMap<MergeId, Entry>,
    /// Entries in the order they were recorded, for expiry and eviction.
    order: VecDeque<(Instant, MergeId)>,
}

#[derive(Debug)]
struct Entry {
    key: TransactionKey,
    recorded: Instant,
}

/// What makes two requests "the same request" to §8.2.2.2: From tag, Call-ID and CSeq (number and method).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct MergeId {
    from_tag: Box<str>,
    call_id: Box<str>,
    seq: u32,
    method: Method,
}

impl Default for MergeDetector {
    fn default() -> Self {
        MergeDetector::new(4096, Duration::from_secs(32))
    }
}

impl MergeDetector {
    /// A detector holding at most `capacity` requests (at least one), each for at most `lifetime`.
    pub fn new(capacity: usize, lifetime: Duration) -> MergeDetector {
        let capacity = capacity.max(1);
        MergeDetector { capacity, lifetime, entries: HashMap::new(), order: VecDeque::new() }
    }

    /// Checks a received request that is about to get a new server transaction, and records it.
    ///
    /// Returns [`Error::LoopDetected`] (answered with 482, RFC 3261 §8.2.2.2) when the request has no To tag and
    /// an earlier request with the same From tag, Call-ID and CSeq created a different transaction. Requests with
    /// a To tag (in a dialog), without a From tag, and ACKs are not checked. A retransmission of a recorded
    /// request (same transaction key) is not a merge.
    pub fn check(&mut self, now: Instant, request: &Message) -> Result<(), Error> {
        self.expire(now);
        if request.method() == Some(&Method::Ack) {
            return Ok(());
        }
        let Some(id) = merge_id(request) else { return Ok(()) };
        let key = TransactionKey::for_request(request)?;
        match self.entries.get(&id) {
            Some(entry) if entry.key != key => Err(Error::LoopDetected),
            Some(_) => Ok(()),
            None => {
                if self.entries.len() >= self.capacity {
                    self.evict_oldest();
                }
                self.order.push_back((now, id.clone()));
                self.entries.insert(id, Entry { key, recorded: now });
                Ok(())
            }
        }
    }

    /// How many requests are remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn expire(&mut self, now: Instant) {
        while let Some((recorded, _)) = self.order.front() {
            if now.saturating_duration_since(*recorded) < self.lifetime {
                break;
            }
            self.evict_oldest();
        }
    }

    fn evict_oldest(&mut self) {
        if let Some((recorded, id)) = self.order.pop_front()
            && self.entries.get(&id).is_some_and(|e| e.recorded == recorded)
        {
            self.entries.remove(&id);
        }
    }
}

/// The §8.2.2.2 identity of an out-of-dialog request, `None` when the request is not checked.
fn merge_id(request: &Message) -> Option<MergeId> {
    let to = request.to().ok()?;
    if to.tag().is_some() {
        return None;
    }
    let from_tag = request.from().ok()?.tag()?.into();
    let call_id = request.call_id().ok()?.into();
    let cseq = request.cseq().ok()?;
    Some(MergeId { from_tag, call_id, seq: cseq.seq, method: cseq.method() })
}
