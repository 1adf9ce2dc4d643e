//! Checks an element applies to a parsed request before acting on it (RFC 3261 §8.2, §16.3).
