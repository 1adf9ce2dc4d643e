//! The REGISTER decisions of RFC 3261 §10.3, with Path (RFC 3327 §5.3) and outbound (RFC 5626 §6).

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use carillon_sip::headers::{Contact, NameAddr, TokenList};
use carillon_sip::uri::{SipUri, Uri};
use carillon_sip::{Error, HeaderName, Message, Method, StatusCode};

use crate::aor::Aor;
use crate::binding::{Binding, BindingChange, BindingId, Flow, NodeId, Target, same_instance};
use crate::bindings::{Bindings, Upsert};
use crate::config::{Config, Limits};
use crate::error::Rejection;

/// RFC 3261 §20.10: a malformed `expires` parameter "SHOULD be treated as equivalent to 3600".
const MALFORMED_EXPIRES: u32 = 3600;

/// RFC 3261 §10.3 step 7 lets a registrar refuse a too-short interval only when it is also below one hour.
const BRIEF_INTERVAL_CEILING: u32 = 3600;

/// The last second `httpdate` can write (31 Dec 9999); a Date header is left out beyond it.
const LAST_HTTP_DATE_SECS: u64 = 253_402_300_799;

/// What the driver decided about the AOR of a REGISTER, after authenticating it with `carillon_sip::auth` (RFC
/// 3261 §10.3 steps 3 to 5; the 401 challenge of step 3 is the driver's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    /// The request is authenticated and may change the bindings of this AOR: usually
    /// [`Aor::from_uri`] of the To URI, or the AOR an alias in the To URI maps to.
    Granted(Aor),
    /// The user is authenticated but may not change the bindings of the To address (step 4): 403.
    Forbidden,
    /// The To address is no AOR of this registrar's domains (step 5): 404.
    UnknownAor,
}

/// Everything a REGISTER is decided with besides the message and the time.
#[derive(Debug, Clone)]
pub struct RegisterContext<'a> {
    /// The driver's authorization decision.
    pub authorization: Authorization,
    /// The flow the request arrived on.
    pub flow: Flow,
    /// This node.
    pub node: NodeId,
    /// The registration policy.
    pub config: &'a Config,
    /// A fresh random value for this request: it draws the shortened expiries, the ids of new bindings and the
    /// To tag.
    pub random: u64,
}

/// The registrar's answer to one REGISTER.
#[derive(Debug)]
pub struct Outcome {
    /// The response to send. An error only when the response cannot be built, which takes a request whose
    /// copied header lines already fill the parser's limits; the driver then drops the request, and `changes`
    /// still stand.
    pub response: Result<Message, Error>,
    /// What changed in the bindings, to write through to the database (removals first). Empty when refused.
    pub changes: Vec<BindingChange>,
    /// Why the request was refused, if it was.
    pub rejection: Option<Rejection>,
}

impl Outcome {
    /// The status of the response.
    pub fn status(&self) -> Option<StatusCode> {
        self.response.as_ref().ok().and_then(Message::status)
    }
}

/// A SIP registrar over an in-memory [`Bindings`] store. See the crate documentation for the model.
#[derive(Debug, Default)]
pub struct Registrar {
    bindings: Bindings,
    limits: Limits,
}

/// The contacts of a REGISTER, by what the request asks for.
#[derive(Debug)]
enum Request<'m> {
    /// No Contact: list the bindings (RFC 3261 §10.3 step 8, §10.2.3).
    Query,
    /// `Contact: *` with `Expires: 0`: remove every binding (step 6).
    RemoveAll,
    /// Add, refresh or remove these (step 7).
    Update(Vec<Requested<'m>>),
}

/// The expiry a contact asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    /// Seconds, from its `expires` parameter or the Expires header.
    Requested(u32),
    /// Neither was given: the configured default applies.
    Default,
}

/// One Contact value of a REGISTER.
#[derive(Debug)]
struct Requested<'m> {
    /// The URI as written.
    text: &'m str,
    uri: SipUri<'m>,
    expiry: Expiry,
    q: Option<u16>,
    instance: Option<&'m str>,
    reg_id: Option<u32>,
}

impl Requested<'_> {
    fn removes(&self) -> bool {
        self.expiry == Expiry::Requested(0)
    }
}

/// A binding of the AOR being worked on, and whether this request created or refreshed it.
#[derive(Debug)]
struct Slot {
    binding: Binding,
    touched: bool,
}

/// What an accepted REGISTER did, for its 200 OK.
#[derive(Debug)]
struct Accepted {
    aor: Aor,
    changes: Vec<BindingChange>,
    /// Outbound processing applied to a contact: answer with `Require: outbound` (RFC 5626 §6).
    outbound: bool,
    /// Path values to echo (RFC 3327 §5.3), empty unless the user agent supports path.
    echo_path: Arc<[Arc<str>]>,
}

impl Registrar {
    /// An empty registrar keeping within `limits`.
    pub fn new(limits: Limits) -> Registrar {
        Registrar { bindings: Bindings::default(), limits }
    }

    /// The bindings, for lookups and listings.
    pub fn bindings(&self) -> &Bindings {
        &self.bindings
    }

    /// The memory bounds.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Where to send a request for `aor` at `now` (see [`Bindings::targets`]).
    pub fn targets(&self, aor: &Aor, now: Duration) -> Vec<Target> {
        self.bindings.targets(aor, now)
    }

    /// Removes the bindings expired at `now`; the driver deletes them from the database. Call it periodically:
    /// lookups skip expired bindings anyway, so this only bounds how long they occupy memory.
    pub fn expire(&mut self, now: Duration) -> Vec<BindingChange> {
        self.bindings.expire(now)
    }

    /// Loads bindings read from the database at start (warm start). Returns the removals the database should
    /// apply: rows expired at `now`, rows the registrar would not store (text beyond [`Limits`], a contact that
    /// is not a SIP URI, a reg-id without instance), rows superseded by a more recent row with the same key, and
    /// rows beyond [`Limits::max_bindings`].
    pub fn load(&mut self, now: Duration, rows: impl IntoIterator<Item = Binding>) -> Vec<BindingChange> {
        let mut removals = Vec::new();
        for row in rows {
            if !row.is_alive(now) || !storable(&row, &self.limits) {
                removals.push(BindingChange::Remove(row));
                continue;
            }
            match self.bindings.upsert(&row, self.limits.max_bindings) {
                Upsert::Stored { displaced } => removals.extend(displaced.into_iter().map(BindingChange::Remove)),
                Upsert::Refused => removals.push(BindingChange::Remove(row)),
            }
        }
        removals
    }

    /// Applies a change another node made (and persisted), so this node serves the same bindings. Returns the
    /// bindings of this node it displaced (same key, older), for the database; nothing when the change is
    /// refused (not storable, stale, or the store is full).
    pub fn apply(&mut self, change: &BindingChange) -> Vec<BindingChange> {
        match change {
            BindingChange::Insert(b) | BindingChange::Refresh(b) => {
                if !storable(b, &self.limits) {
                    return Vec::new();
                }
                match self.bindings.upsert(b, self.limits.max_bindings) {
                    Upsert::Stored { displaced } => displaced.into_iter().map(BindingChange::Remove).collect(),
                    Upsert::Refused => Vec::new(),
                }
            }
            BindingChange::Remove(b) => {
                self.bindings.remove(&b.aor, b.id);
                Vec::new()
            }
        }
    }

    /// Decides a REGISTER (RFC 3261 §10.3), applies the result to the bindings and returns the response and the
    /// changes to write through. `now` is the time since the Unix epoch.
    ///
    /// The caller has already checked the request as a registrar would (`carillon_sip::validate::Policy` with
    /// [`Config::option_tags`]: method, URI scheme, Require) and authenticated it (steps 1 to 3); the
    /// registrar does steps 4 to 8. Either every change of the request is applied or none is (step 7).
    pub fn register(&mut self, now: Duration, request: &Message, ctx: &RegisterContext<'_>) -> Outcome {
        let tag = format!("{:016x}", mix(ctx.random, Stream::ToTag, 0));
        match self.decide(now, request, ctx) {
            Ok(accepted) => {
                let response = self.accept(now, request, ctx.config, &accepted, &tag);
                Outcome { response, changes: accepted.changes, rejection: None }
            }
            Err(rejection) => {
                Outcome { response: refuse(request, &rejection, &tag), changes: Vec::new(), rejection: Some(rejection) }
            }
        }
    }

    fn decide(&mut self, now: Duration, request: &Message, ctx: &RegisterContext<'_>) -> Result<Accepted, Rejection> {
        if request.method() != Some(&Method::Register) {
            return Err(Error::NotApplicable("not a REGISTER request").into());
        }
        let to = request.to()?;
        let call_id = request.call_id()?;
        let cseq = request.cseq()?;
        if !Method::Register.is(cseq.method_text) {
            return Err(Error::CSeqMethodMismatch.into());
        }
        // Step 4, then step 5: only the driver knows users and aliases; a To that is no SIP URI is no AOR.
        let aor = match &ctx.authorization {
            Authorization::Forbidden => return Err(Rejection::Forbidden),
            Authorization::UnknownAor => return Err(Rejection::NotFound),
            Authorization::Granted(aor) => aor.clone(),
        };
        if !matches!(to.parsed_uri()?, Uri::Sip(_)) {
            return Err(Rejection::NotFound);
        }
        if call_id.len() > self.limits.max_call_id_len {
            return Err(too_long(HeaderName::CallId));
        }
        let path = read_path(request, &self.limits)?;
        let supported = TokenList::new(request, HeaderName::Supported);
        let echo_path = if supported.contains_ignore_case("path") { path.clone() } else { Arc::from([]) };
        let config = ctx.config;
        let (changes, outbound) = match read_contacts(request, &self.limits)? {
            Request::Query => (self.purge(&aor, now), false),
            Request::RemoveAll => (self.remove_all(&aor, now, call_id, cseq.seq)?, false),
            Request::Update(contacts) => {
                check_intervals(&contacts, config)?;
                let outbound = outbound_applies(request, &contacts, config, &path, &supported)?;
                let fields = Fields {
                    aor: &aor,
                    now,
                    call_id: call_id.into(),
                    cseq: cseq.seq,
                    path,
                    flow: ctx.flow,
                    node: &ctx.node,
                    user_agent: request.header(HeaderName::UserAgent).map(|ua| cut(ua, self.limits.max_user_agent_len)),
                    outbound,
                    config,
                    random: ctx.random,
                };
                (self.update(&fields, &contacts)?, outbound)
            }
        };
        Ok(Accepted { aor, changes, outbound, echo_path })
    }

    /// Drops the expired bindings of `aor` (a query changes nothing else).
    fn purge(&mut self, aor: &Aor, now: Duration) -> Vec<BindingChange> {
        let existing = self.bindings.get(aor);
        let (alive, expired): (Vec<Binding>, Vec<Binding>) = existing.iter().cloned().partition(|b| b.is_alive(now));
        if !expired.is_empty() {
            self.bindings.replace(aor, alive);
        }
        expired.into_iter().map(BindingChange::Remove).collect()
    }

    /// Step 6: `*` removes every binding, unless one was last updated by this Call-ID with a CSeq not lower than
    /// the request's; then nothing is removed.
    fn remove_all(
        &mut self,
        aor: &Aor,
        now: Duration,
        call_id: &str,
        cseq: u32,
    ) -> Result<Vec<BindingChange>, Rejection> {
        let existing = self.bindings.get(aor);
        if existing.iter().any(|b| b.is_alive(now) && &*b.call_id == call_id && cseq <= b.cseq) {
            return Err(Rejection::OutOfOrder);
        }
        let changes = existing.iter().cloned().map(BindingChange::Remove).collect();
        self.bindings.replace(aor, Vec::new());
        Ok(changes)
    }

    /// Step 7: each contact in turn against a working copy of the AOR's bindings, committed only if all succeed.
    fn update(&mut self, fields: &Fields<'_>, contacts: &[Requested<'_>]) -> Result<Vec<BindingChange>, Rejection> {
        let now = fields.now;
        let existing = self.bindings.get(fields.aor);
        let mut slots: Vec<Slot> =
            existing.iter().filter(|b| b.is_alive(now)).map(|b| Slot { binding: b.clone(), touched: false }).collect();
        let alive_before = slots.len();
        for (index, contact) in contacts.iter().enumerate() {
            let flow_keyed = fields.outbound && contact.instance.is_some() && contact.reg_id.is_some();
            let found = find(&slots, contact, flow_keyed);
            if let Some(i) = found {
                let current = &slots[i];
                // A binding this request already touched is a repeated Contact, not an older request.
                if !current.touched
                    && *current.binding.call_id == *fields.call_id
                    && fields.cseq <= current.binding.cseq
                {
                    return Err(Rejection::OutOfOrder);
                }
            }
            let expires = match contact.expiry {
                Expiry::Requested(0) => None,
                requested => Some(grant(requested, fields.config, mix(fields.random, Stream::Expiry, index as u64))),
            };
            match (found, expires) {
                (Some(i), None) => {
                    slots.remove(i);
                }
                (Some(i), Some(expires)) => {
                    let id = slots[i].binding.id;
                    slots[i] = Slot { binding: fields.binding(id, contact, flow_keyed, expires), touched: true };
                }
                (None, Some(expires)) => {
                    let id = fresh_id(fields.random, index, existing, &slots);
                    slots.push(Slot { binding: fields.binding(id, contact, flow_keyed, expires), touched: true });
                }
                (None, None) => {}
            }
        }
        // Growth is what the limits refuse: an AOR over a lowered limit can still refresh and shrink.
        let limit = fields.config.max_contacts;
        if slots.len() > limit && slots.len() > alive_before {
            return Err(Rejection::TooManyContacts { limit });
        }
        if slots.len() > existing.len() && self.bindings.len() - existing.len() + slots.len() > self.limits.max_bindings
        {
            return Err(Rejection::StoreFull);
        }
        let mut changes: Vec<BindingChange> = existing
            .iter()
            .filter(|old| !slots.iter().any(|s| s.binding.id == old.id))
            .cloned()
            .map(BindingChange::Remove)
            .collect();
        for slot in slots.iter().filter(|s| s.touched) {
            let change = if existing.iter().any(|old| old.id == slot.binding.id) {
                BindingChange::Refresh(slot.binding.clone())
            } else {
                BindingChange::Insert(slot.binding.clone())
            };
            changes.push(change);
        }
        self.bindings.replace(fields.aor, slots.into_iter().map(|s| s.binding).collect());
        Ok(changes)
    }

    /// Step 8: 200 OK listing every binding of the AOR with its expiry, and a Date.
    fn accept(
        &self,
        now: Duration,
        request: &Message,
        config: &Config,
        accepted: &Accepted,
        tag: &str,
    ) -> Result<Message, Error> {
        let mut response = Message::response_to(request, StatusCode::OK).to_tag(tag);
        for binding in self.bindings.alive(&accepted.aor, now) {
            response = response.header("Contact", contact_value(binding, now));
        }
        for hop in accepted.echo_path.iter() {
            response = response.header("Path", hop);
        }
        if accepted.outbound {
            response = response.header("Require", "outbound");
            if let Some(seconds) = config.flow_timer {
                response = response.header("Flow-Timer", seconds.to_string());
            }
        }
        response = response.header("Supported", config.option_tags().join(", "));
        if let Some(date) = http_date(now) {
            response = response.header("Date", date);
        }
        response.build()
    }
}

/// What every binding made from one REGISTER shares.
#[derive(Debug)]
struct Fields<'a> {
    aor: &'a Aor,
    now: Duration,
    call_id: Arc<str>,
    cseq: u32,
    path: Arc<[Arc<str>]>,
    flow: Flow,
    node: &'a NodeId,
    user_agent: Option<Arc<str>>,
    outbound: bool,
    config: &'a Config,
    random: u64,
}

impl Fields<'_> {
    fn binding(&self, id: BindingId, contact: &Requested<'_>, flow_keyed: bool, expires: u32) -> Binding {
        Binding {
            id,
            aor: self.aor.clone(),
            contact: contact.text.into(),
            q: contact.q,
            instance: contact.instance.map(Arc::from),
            reg_id: if flow_keyed { contact.reg_id } else { None },
            call_id: self.call_id.clone(),
            cseq: self.cseq,
            expires_at: self.now.saturating_add(Duration::from_secs(u64::from(expires))),
            registered_at: self.now,
            path: self.path.clone(),
            flow: self.flow,
            node: self.node.clone(),
            user_agent: self.user_agent.clone(),
        }
    }
}

/// The binding a contact updates. An outbound contact matches by (instance, reg-id) whatever its URI (RFC 5626
/// §6), or else takes over the plain binding of its URI that it upgrades; any other contact matches the plain
/// binding with an equivalent URI (RFC 3261 §10.3 step 7, §19.1.4).
fn find(slots: &[Slot], contact: &Requested<'_>, flow_keyed: bool) -> Option<usize> {
    let plain_with_uri =
        |s: &Slot| !s.binding.is_outbound() && s.binding.contact_uri().is_some_and(|uri| uri.equivalent(&contact.uri));
    if flow_keyed {
        let same_flow = |s: &Slot| {
            s.binding.reg_id == contact.reg_id && same_instance(s.binding.instance.as_deref(), contact.instance)
        };
        let upgrade = |s: &Slot| {
            plain_with_uri(s)
                && (s.binding.instance.is_none() || same_instance(s.binding.instance.as_deref(), contact.instance))
        };
        slots.iter().position(same_flow).or_else(|| slots.iter().position(upgrade))
    } else {
        slots.iter().position(plain_with_uri)
    }
}

/// The random streams drawn from one request's random value.
#[derive(Debug, Clone, Copy)]
enum Stream {
    ToTag,
    Expiry,
    BindingId,
}

/// SplitMix64 over `seed` and a (stream, index) pair: distinct pairs give distinct, well-mixed values.
fn mix(seed: u64, stream: Stream, index: u64) -> u64 {
    let stream = stream as u64;
    let input = (stream << 56 | (index & 0x00ff_ffff_ffff_ffff)).wrapping_add(1);
    let mut z = seed.wrapping_add(input.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// An id unused by the AOR's bindings, old or new. Candidates are distinct, so among `taken + 1` of them one is
/// free; the loop is bounded by that.
fn fresh_id(random: u64, index: usize, existing: &[Binding], slots: &[Slot]) -> BindingId {
    let taken = |id: BindingId| existing.iter().any(|b| b.id == id) || slots.iter().any(|s| s.binding.id == id);
    let attempts = (existing.len() + slots.len() + 1) as u64;
    let base = (index as u64) << 24;
    let mut id = BindingId(mix(random, Stream::BindingId, base));
    for attempt in 1..=attempts {
        if !taken(id) {
            break;
        }
        id = BindingId(mix(random, Stream::BindingId, base | attempt));
    }
    id
}

/// Step 7: the expiry granted for a non-zero request. Longer than the maximum is shortened to it; then the
/// random shortening draws from `[granted × (1 − p), granted]`, floored at the minimum (or at the request, if
/// that was lower: RFC 3261 forbids lengthening). The default applies within `min..=max`.
fn grant(expiry: Expiry, config: &Config, random: u64) -> u32 {
    let max = config.max_expires.max(1);
    let granted = match expiry {
        Expiry::Requested(seconds) => seconds.min(max),
        Expiry::Default => config.default_expires.clamp(config.min_expires.clamp(1, max), max),
    };
    let percent = u64::from(config.max_shortening_percent.min(100));
    let granted64 = u64::from(granted);
    let floor = u64::from(config.min_expires.min(granted));
    let lowest = (granted64 - granted64 * percent / 100).max(floor);
    let span = granted64 - lowest + 1;
    let chosen = lowest + random % span;
    u32::try_from(chosen).unwrap_or(granted)
}

/// Step 7: a non-zero request shorter than the minimum, and shorter than an hour, is refused with 423.
fn check_intervals(contacts: &[Requested<'_>], config: &Config) -> Result<(), Rejection> {
    let brief = |c: &Requested<'_>| match c.expiry {
        Expiry::Requested(s) => s > 0 && s < config.min_expires && s < BRIEF_INTERVAL_CEILING,
        Expiry::Default => false,
    };
    if contacts.iter().any(brief) {
        return Err(Rejection::IntervalTooBrief { min_expires: config.min_expires });
    }
    Ok(())
}

/// RFC 5626 §6: whether outbound processing applies to this REGISTER's reg-id contacts.
///
/// It applies when the registrar supports outbound and the user agent asks for it (`Supported: outbound` and a
/// contact with both `+sip.instance` and `reg-id`). The registrar must then be the first hop (one Via) or the
/// first Path value must carry `ob`, else 439. A reg-id the registrar does not honour is ignored: the contact is
/// an ordinary RFC 3261 binding. With outbound, more than one non-zero contact when any of them has a reg-id is
/// a 400.
fn outbound_applies(
    request: &Message,
    contacts: &[Requested<'_>],
    config: &Config,
    path: &[Arc<str>],
    supported: &TokenList<'_>,
) -> Result<bool, Rejection> {
    let flow_keyed = |c: &&Requested<'_>| c.instance.is_some() && c.reg_id.is_some();
    if !config.outbound || !supported.contains_ignore_case("outbound") || !contacts.iter().any(|c| flow_keyed(&c)) {
        return Ok(false);
    }
    let first_hop = request.header_values(HeaderName::Via).nth(1).is_none();
    let edge_keeps_flow = path.first().is_some_and(|hop| {
        NameAddr::parse_as(hop, HeaderName::Path)
            .ok()
            .and_then(|a| a.parsed_uri().ok())
            .is_some_and(|uri| uri.as_sip().is_some_and(|sip| sip.param("ob").is_some()))
    });
    if !first_hop && !edge_keeps_flow {
        return Err(Rejection::FirstHopLacksOutbound);
    }
    let mut registering = contacts.iter().filter(|c| !c.removes());
    let several = registering.clone().nth(1).is_some();
    if several && registering.any(|c| flow_keyed(&c)) {
        return Err(bad_contact("several contacts with a non-zero expiry and one with a reg-id").into());
    }
    Ok(true)
}

fn bad_contact(reason: &'static str) -> Error {
    Error::BadHeaderValue { name: HeaderName::Contact, reason }
}

fn too_long(name: HeaderName) -> Rejection {
    Error::BadHeaderValue { name, reason: "longer than the registrar stores" }.into()
}

/// Step 6 and the parsing of step 7: the Contact values and what they ask for.
fn read_contacts<'m>(request: &'m Message, limits: &Limits) -> Result<Request<'m>, Rejection> {
    let expires_header = match request.header(HeaderName::Expires) {
        None => None,
        Some(v) => Some(
            parse_expiry(v)
                .ok_or(Error::BadHeaderValue { name: HeaderName::Expires, reason: "not a number of seconds" })?,
        ),
    };
    let mut wildcard = false;
    let mut contacts = Vec::new();
    for (count, value) in request.header_values(HeaderName::Contact).enumerate() {
        if count >= limits.max_contacts_per_request {
            return Err(Rejection::TooManyContacts { limit: limits.max_contacts_per_request });
        }
        match Contact::parse(value)? {
            Contact::Wildcard => wildcard = true,
            contact @ Contact::Address(_) => contacts.push(read_contact(contact, expires_header, limits)?),
        }
    }
    if wildcard {
        // Step 6: `*` only alone and only with Expires: 0.
        if !contacts.is_empty() {
            return Err(bad_contact("'*' together with other contacts").into());
        }
        if request.header_values(HeaderName::Contact).nth(1).is_some() {
            return Err(bad_contact("'*' more than once").into());
        }
        if expires_header != Some(0) {
            return Err(bad_contact("'*' without Expires: 0").into());
        }
        return Ok(Request::RemoveAll);
    }
    Ok(if contacts.is_empty() { Request::Query } else { Request::Update(contacts) })
}

fn read_contact<'m>(
    contact: Contact<'m>,
    expires_header: Option<u32>,
    limits: &Limits,
) -> Result<Requested<'m>, Rejection> {
    let Contact::Address(address) = contact else {
        return Err(bad_contact("'*' together with other contacts").into());
    };
    let uri = match address.parsed_uri()? {
        Uri::Sip(uri) => uri,
        _ => return Err(bad_contact("not a sip or sips URI").into()),
    };
    if address.uri.len() > limits.max_contact_len {
        return Err(too_long(HeaderName::Contact));
    }
    let params = address.params;
    // Step 7: the expires parameter, else the Expires header, else the default.
    let expiry = match params.get("expires") {
        Some(value) => Expiry::Requested(value.and_then(parse_expiry).unwrap_or(MALFORMED_EXPIRES)),
        None => expires_header.map_or(Expiry::Default, Expiry::Requested),
    };
    let q = match params.get("q") {
        None => None,
        Some(_) => Some(contact.q().ok_or(bad_contact("q is not a qvalue"))?),
    };
    let instance = contact.instance();
    if let Some(instance) = instance {
        if instance.len() > limits.max_instance_len {
            return Err(too_long(HeaderName::Contact));
        }
        if !is_instance_text(instance) {
            return Err(bad_contact("malformed +sip.instance").into());
        }
    }
    // RFC 5626 §4.2: reg-id = 1 to 2**31-1.
    let reg_id = match params.get("reg-id") {
        None => None,
        Some(value) => Some(
            value
                .and_then(|v| v.parse::<u32>().ok())
                .filter(|id| (1..1 << 31).contains(id))
                .ok_or(bad_contact("reg-id is not a number from 1 to 2**31-1"))?,
        ),
    };
    Ok(Requested { text: address.uri, uri, expiry, q, instance, reg_id })
}

/// An instance identifier is a URN (RFC 5626 §4.1): printable ASCII that can be written back inside
/// `"<...>"`.
fn is_instance_text(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\\' | b'<' | b'>'))
}

/// RFC 3327 §5.3: the Path values, first hop first, as written.
fn read_path(request: &Message, limits: &Limits) -> Result<Arc<[Arc<str>]>, Rejection> {
    let mut path = Vec::new();
    let mut total = 0;
    for value in request.header_values(HeaderName::Path) {
        NameAddr::parse_as(value, HeaderName::Path)?.parsed_uri()?;
        total += value.len();
        if path.len() >= limits.max_path_entries || total > limits.max_path_len {
            return Err(too_long(HeaderName::Path));
        }
        path.push(Arc::from(value));
    }
    Ok(path.into())
}

/// delta-seconds for an expiry. A number past 2**32-1 means "as long as possible" and saturates (the maximum
/// then shortens it) rather than counting as malformed, which RFC 3261 §20.10 would turn into 3600 and surprise
/// a user agent asking for more. `None` when not a number.
fn parse_expiry(raw: &str) -> Option<u32> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = raw.trim_start_matches('0');
    if digits.len() > 10 {
        return Some(u32::MAX);
    }
    let value = if digits.is_empty() { 0 } else { digits.parse::<u64>().ok()? };
    Some(u32::try_from(value).unwrap_or(u32::MAX))
}

/// `text` cut to at most `max` octets at a character boundary.
fn cut(text: &str, max: usize) -> Arc<str> {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Arc::from(&text[..end])
}

/// A stored binding as a Contact value of the 200 OK: its expiry (step 8), its q, and the outbound parameters
/// the user agent recognises its flows by. Never a `pub-gruu` or `temp-gruu`: GRUUs are not offered.
fn contact_value(binding: &Binding, now: Duration) -> String {
    let mut value = String::with_capacity(binding.contact.len() + 96);
    value.push('<');
    value.push_str(&binding.contact);
    value.push('>');
    if let Some(q) = binding.q {
        value.push_str(";q=");
        value.push_str(&qvalue(q));
    }
    let _ = write!(value, ";expires={}", binding.remaining_secs(now));
    if let Some(instance) = &binding.instance {
        let _ = write!(value, ";+sip.instance=\"<{instance}>\"");
    }
    if let Some(reg_id) = binding.reg_id {
        let _ = write!(value, ";reg-id={reg_id}");
    }
    value
}

/// A q in thousandths as a qvalue (RFC 3261 §25.1): `1`, `0.5`, `0.125`, `0`.
fn qvalue(q: u16) -> String {
    if q >= 1000 {
        return "1".to_owned();
    }
    let text = format!("0.{q:03}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn http_date(now: Duration) -> Option<String> {
    if now.as_secs() > LAST_HTTP_DATE_SECS {
        return None;
    }
    UNIX_EPOCH.checked_add(now).map(httpdate::fmt_http_date)
}

/// The response to a refused REGISTER; 423 carries Min-Expires (RFC 3261 §10.3 step 7, §20.23).
fn refuse(request: &Message, rejection: &Rejection, tag: &str) -> Result<Message, Error> {
    let (status, reason) = rejection.status();
    let mut response = Message::response_with_reason(request, status, reason).to_tag(tag);
    if let Rejection::IntervalTooBrief { min_expires } = rejection {
        response = response.header("Min-Expires", min_expires.to_string());
    }
    if let Rejection::Malformed(Error::BadHeaderValue { reason, .. }) = rejection {
        response = response.header("Warning", format!("399 registrar \"{reason}\""));
    }
    response.build()
}

/// Whether a binding from elsewhere (the database, another node) is one the registrar would have stored itself.
fn storable(binding: &Binding, limits: &Limits) -> bool {
    let clean = |s: &str| !s.bytes().any(|b| b == b'\r' || b == b'\n');
    let contact_ok =
        binding.contact.len() <= limits.max_contact_len && clean(&binding.contact) && binding.contact_uri().is_some();
    let instance_ok =
        binding.instance.as_deref().is_none_or(|i| i.len() <= limits.max_instance_len && is_instance_text(i));
    let reg_id_ok = binding.reg_id.is_none_or(|id| binding.instance.is_some() && (1..1 << 31).contains(&id));
    let path_ok = binding.path.len() <= limits.max_path_entries
        && binding.path.iter().map(|hop| hop.len()).sum::<usize>() <= limits.max_path_len
        && binding.path.iter().all(|hop| clean(hop) && NameAddr::parse_as(hop, HeaderName::Path).is_ok());
    let texts_ok = binding.call_id.len() <= limits.max_call_id_len
        && binding.user_agent.as_deref().is_none_or(|ua| ua.len() <= limits.max_user_agent_len);
    contact_ok && instance_ok && reg_id_ok && path_ok && texts_ok
}

#[cfg(test)]
mod tests;
