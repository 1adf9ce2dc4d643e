//! Carillon's SIP registrar: the decisions of RFC 3261 §10.3 with Path (RFC 3327), outbound (RFC 5626) and
//! NAT flows (RFC 3581), sans-IO.
//!
//! # Model
//!
//! A [`Registrar`] holds every binding in memory ([`Bindings`], indexed by canonical [`Aor`]). Memory is the
//! source of truth: proxies look targets up there ([`Registrar::targets`]), never in the database. Each decision
//! applies its result to memory at once and returns the [`BindingChange`]s (insert, refresh, remove, each with the
//! whole binding) that the driver writes through to the database, so that a restarted node can load them back
//! ([`Registrar::load`], warm start) and other nodes can follow ([`Registrar::apply`]). A change the database
//! fails to take does not undo the registration; the next refresh carries the whole binding again.
//!
//! Nothing here reads a clock, draws randomness or does I/O. Time is a `Duration` since the Unix epoch (bindings
//! outlive the process, so monotonic instants would not do); each REGISTER brings one random `u64`
//! ([`RegisterContext::random`]) from which the shortened expiries, the ids of new bindings and the To tag are
//! drawn. Authentication (RFC 3261 §10.3 step 3, `carillon_sip::auth`) and the mapping of aliases to users are
//! the driver's; the registrar receives the outcome as an [`Authorization`].
//!
//! # Decisions
//!
//! [`Registrar::register`] answers a REGISTER the driver has checked (`carillon_sip::validate::Policy`, steps 1
//! and 2) and authenticated (step 3):
//!
//! | Situation | Answer | Where |
//! |---|---|---|
//! | user may not change this AOR | 403 | RFC 3261 §10.3 step 4 |
//! | To is not an AOR here (unknown, or not `sip:`/`sips:`) | 404 | step 5 |
//! | `Contact: *` with other contacts, or without `Expires: 0` | 400 | step 6 |
//! | `Contact: *` | removes every binding of the AOR | step 6 |
//! | no Contact | 200 listing the bindings (a query) | §10.2.3, step 8 |
//! | contact's expiry | its `expires` parameter, else Expires, else [`Config::default_expires`] | step 7 |
//! | malformed `expires` parameter | taken as 3600 | §20.10 |
//! | malformed Expires header | 400 | §20.19 (delta-seconds) |
//! | expiry beyond 2**32-1 | taken as 2**32-1, then shortened to the maximum | choice, see below |
//! | non-zero expiry below [`Config::min_expires`] and below 3600 | 423 with Min-Expires | step 7 |
//! | expiry above [`Config::max_expires`] | shortened to it | step 7 |
//! | every granted expiry | randomly shortened by up to [`Config::max_shortening_percent`], never below the minimum | step 7 ("MAY choose an expiration less than requested") |
//! | expiry 0 | removes the binding | step 7 |
//! | binding last updated by the same Call-ID with a CSeq not lower | 500, nothing changes | step 7 |
//! | one contact fails | nothing changes | step 7 ("committed if and only if all ... succeed") |
//! | contact matches a binding | by URI equivalence (§19.1.4); outbound ones by (instance, reg-id) | step 7, RFC 5626 §6 |
//! | AOR would hold more than [`Config::max_contacts`] bindings | 403 "Too Many Registrations" | local policy |
//! | store holds [`Limits::max_bindings`] | 503 | local policy |
//! | reg-id with outbound not from the first hop and no `ob` on the first Path | 439 | RFC 5626 §6 |
//! | several non-zero contacts, one with reg-id (outbound) | 400 | RFC 5626 §6 |
//! | reg-id without instance, or outbound not asked for or not supported | reg-id ignored | RFC 5626 §6 |
//! | success | 200 with every binding and its `expires`, Date, Supported | step 8 |
//! | outbound used | `Require: outbound` (and Flow-Timer if configured) in the 200 | RFC 5626 §6, §4.4.1 |
//! | Path in the request | stored with the bindings; echoed in the 200 if the UA supports `path` | RFC 3327 §5.3 |
//!
//! The limit on contacts answers 403, not 503: it is the user's situation, and a 503 would only send the phone
//! to the next server of the domain (RFC 3263) to be refused again. An expiry written as a number too large for
//! 32 bits is read as 2**32-1 (then shortened to the maximum), in the `expires` parameter and the Expires header
//! alike. RFC 3261 would also allow reading it as malformed, which §20.10 turns into 3600 for the parameter;
//! but the user agent asked for long, and gets the longest allowed, whichever way it wrote it.
//!
//! # GRUU
//!
//! GRUUs (RFC 5627) are not offered: `gruu` is never in Supported and no Contact of a 200 carries `pub-gruu` or
//! `temp-gruu`, whatever the request's Supported says. A user agent that is offered a GRUU uses it as its
//! Contact (linphone does), which would then have to be routed; without one it keeps its own address.
//!
//! # Memory
//!
//! [`Limits`] bounds the number of bindings and the length of every text a binding keeps, so the store's size
//! is bounded whatever peers send; requests beyond a limit are refused, and nothing panics on any input.

mod aor;
mod binding;
mod bindings;
mod config;
mod error;
mod registrar;

pub use aor::Aor;
pub use binding::{Binding, BindingChange, BindingId, Flow, FlowId, NodeId, Target};
pub use bindings::Bindings;
pub use config::{Config, Limits};
pub use error::Rejection;
pub use registrar::{Authorization, Outcome, RegisterContext, Registrar};
