//! The four transaction state machines of RFC 3261 §17 (with the RFC 6026 changes) and transaction matching.
