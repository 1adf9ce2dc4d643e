//! Registration policy ([`Config`], per request) and memory bounds ([`Limits`], per registrar).

/// Registration policy, passed with each request in [`crate::RegisterContext`] so a driver can vary it (per
/// domain or user class) and reload it without touching the bindings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Shortest expiry accepted, in seconds: a non-zero request below it (and below one hour) is answered with
    /// 423 and Min-Expires (RFC 3261 §10.3 step 7). Also the floor of the random shortening.
    pub min_expires: u32,
    /// Longest expiry granted, in seconds; longer requests are shortened to it (§10.3 step 7). At least 1.
    pub max_expires: u32,
    /// Expiry used when a contact has neither an `expires` parameter nor the request an Expires header
    /// (§10.3 step 7), kept within `min_expires..=max_expires`.
    pub default_expires: u32,
    /// How much shorter than granted an expiry may randomly be, in percent (capped at 100): with 20 the expiry
    /// is drawn uniformly from `[0.8 × granted, granted]`, never below `min_expires`. Phones that all registered
    /// at once (after a power cut) then spread their refreshes instead of returning together.
    pub max_shortening_percent: u8,
    /// Most bindings one AOR may hold; a REGISTER that would exceed it is refused with 403.
    pub max_contacts: usize,
    /// Whether RFC 5626 outbound is supported: `reg-id` keyed flows, `Require: outbound` in the answer.
    pub outbound: bool,
    /// The Flow-Timer value, in seconds, sent with `Require: outbound` (RFC 5626 §4.4.1): how often the server
    /// expects keepalives on the flow. `None` sends none and lets the user agent choose.
    pub flow_timer: Option<u32>,
}

impl Default for Config {
    /// One-minute minimum, one-hour default and maximum, up to 20 % random shortening, ten contacts per AOR,
    /// outbound on.
    fn default() -> Config {
        Config {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_shortening_percent: 20,
            max_contacts: 10,
            outbound: true,
            flow_timer: None,
        }
    }
}

impl Config {
    /// The option tags the registrar supports, for the driver's `carillon_sip::validate::Policy::supported` (a
    /// REGISTER that requires anything else gets 420 there). Never `gruu`: GRUUs (RFC 5627) are not offered.
    pub fn option_tags(&self) -> &'static [&'static str] {
        if self.outbound { &["path", "outbound"] } else { &["path"] }
    }
}

/// Bounds on what the registrar keeps, so its memory stays bounded whatever peers send.
///
/// The store holds at most `max_bindings` bindings, and each binding at most `max_contact_len` +
/// `max_path_len` + `max_call_id_len` + `max_instance_len` + `max_user_agent_len` octets of text plus a fixed
/// part of about 250 octets (the AOR text is shared by all bindings of an AOR). Requests whose values are
/// longer are refused (400), except User-Agent, which is informative and cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most bindings in the store, over all AORs; a REGISTER that would add more is answered with 503.
    pub max_bindings: usize,
    /// Most Contact values in one REGISTER (403 beyond).
    pub max_contacts_per_request: usize,
    /// Longest contact URI stored, in octets.
    pub max_contact_len: usize,
    /// Most Path values stored with a binding.
    pub max_path_entries: usize,
    /// Longest Path (all values together), in octets.
    pub max_path_len: usize,
    /// Longest Call-ID stored, in octets.
    pub max_call_id_len: usize,
    /// Longest `+sip.instance` stored, in octets.
    pub max_instance_len: usize,
    /// Longest User-Agent stored, in octets (longer ones are cut at a character boundary).
    pub max_user_agent_len: usize,
}

impl Default for Limits {
    /// Room for a million bindings: about 2.4 KiB each at worst, 500 octets for an ordinary phone.
    fn default() -> Limits {
        Limits {
            max_bindings: 1_000_000,
            max_contacts_per_request: 32,
            max_contact_len: 512,
            max_path_entries: 8,
            max_path_len: 1024,
            max_call_id_len: 256,
            max_instance_len: 128,
            max_user_agent_len: 128,
        }
    }
}
