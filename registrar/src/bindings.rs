//! The in-memory store of bindings, indexed by AOR: what a proxy looks up and what the registrar changes.

use std::collections::HashMap;
use std::time::Duration;

use crate::aor::Aor;
use crate::binding::{Binding, BindingChange, BindingId, Target};

/// What [`Bindings::upsert`] did.
#[derive(Debug)]
pub(crate) enum Upsert {
    /// Stored; these other bindings with the same key were removed for it.
    Stored { displaced: Vec<Binding> },
    /// Not stored: stale or no room.
    Refused,
}

/// Every binding the registrar knows, by AOR. Read it through [`crate::Registrar::bindings`]; it changes only
/// through the registrar, which keeps its invariants: no AOR is present without bindings, ids are unique within
/// an AOR, and no two bindings of an AOR have the same key (outbound (instance, reg-id), or equivalent contact
/// URI for the others).
///
/// Expired bindings may linger until [`crate::Registrar::expire`] or the next REGISTER of their AOR removes them;
/// every read at a given time skips them.
#[derive(Debug, Default)]
pub struct Bindings {
    by_aor: HashMap<Aor, Vec<Binding>>,
    count: usize,
}

impl Bindings {
    /// The bindings of `aor` as stored, expired ones included.
    pub fn get(&self, aor: &Aor) -> &[Binding] {
        self.by_aor.get(aor).map_or(&[], Vec::as_slice)
    }

    /// The bindings of `aor` in force at `now`.
    pub fn alive<'s>(&'s self, aor: &Aor, now: Duration) -> impl Iterator<Item = &'s Binding> + 's {
        self.get(aor).iter().filter(move |b| b.is_alive(now))
    }

    /// Where to send a request for `aor` at `now`: the bindings in force, highest q first (no q counts as 1.0),
    /// then the most recently registered, then by id so the order is stable.
    pub fn targets(&self, aor: &Aor, now: Duration) -> Vec<Target> {
        let mut alive: Vec<&Binding> = self.alive(aor, now).collect();
        alive.sort_by(|a, b| {
            let q = |x: &Binding| x.q.unwrap_or(1000);
            q(b).cmp(&q(a)).then(b.registered_at.cmp(&a.registered_at)).then(a.id.cmp(&b.id))
        });
        alive.into_iter().map(Binding::target).collect()
    }

    /// Number of bindings stored, expired ones included.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Number of AORs with at least one binding stored.
    pub fn aor_count(&self) -> usize {
        self.by_aor.len()
    }

    /// Every binding stored, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Binding> + '_ {
        self.by_aor.values().flatten()
    }

    /// Replaces the bindings of `aor`.
    pub(crate) fn replace(&mut self, aor: &Aor, mut bindings: Vec<Binding>) {
        // Most AORs have one binding for hours, and a vector built by pushing (or collected in place from one
        // that was) has room for four: a kilobyte per phone.
        bindings.shrink_to_fit();
        let new_len = bindings.len();
        let old_len = if bindings.is_empty() {
            self.by_aor.remove(aor).map_or(0, |old| old.len())
        } else {
            self.by_aor.insert(aor.clone(), bindings).map_or(0, |old| old.len())
        };
        self.count = self.count - old_len + new_len;
    }

    /// Removes every binding expired at `now`.
    pub(crate) fn expire(&mut self, now: Duration) -> Vec<BindingChange> {
        let mut changes = Vec::new();
        self.by_aor.retain(|_, list| {
            list.retain(|b| {
                let alive = b.is_alive(now);
                if !alive {
                    changes.push(BindingChange::Remove(b.clone()));
                }
                alive
            });
            list.shrink_to_fit();
            !list.is_empty()
        });
        self.count -= changes.len();
        changes
    }

    /// Stores a binding made elsewhere (the database, another node): it replaces the binding with its id, and
    /// displaces any other binding of the AOR with the same key unless that one was registered more recently
    /// (then the incoming one is refused as stale). Refused too when it would be new and the store already
    /// holds `max_bindings`.
    pub(crate) fn upsert(&mut self, binding: &Binding, max_bindings: usize) -> Upsert {
        let list = self.get(&binding.aor);
        let same_key = |b: &Binding| b.id != binding.id && b.same_key(binding);
        if list.iter().any(|b| same_key(b) && b.registered_at > binding.registered_at) {
            return Upsert::Refused;
        }
        let replaces = list.iter().any(|b| b.id == binding.id || same_key(b));
        if !replaces && self.count >= max_bindings {
            return Upsert::Refused;
        }
        let list = self.by_aor.entry(binding.aor.clone()).or_default();
        let before = list.len();
        let mut displaced = Vec::new();
        list.retain(|b| {
            if b.id == binding.id {
                return false;
            }
            if b.same_key(binding) {
                displaced.push(b.clone());
                return false;
            }
            true
        });
        let removed = before - list.len();
        // Room for exactly one more: a warm start loads every binding this way (see `replace`).
        list.reserve_exact(1);
        list.push(binding.clone());
        self.count = self.count - removed + 1;
        Upsert::Stored { displaced }
    }

    /// Removes the binding `id` of `aor`, if present.
    pub(crate) fn remove(&mut self, aor: &Aor, id: BindingId) -> Option<Binding> {
        let list = self.by_aor.get_mut(aor)?;
        let index = list.iter().position(|b| b.id == id)?;
        let removed = list.swap_remove(index);
        if list.is_empty() {
            self.by_aor.remove(aor);
        }
        self.count -= 1;
        Some(removed)
    }
}
