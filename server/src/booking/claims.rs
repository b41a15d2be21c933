//! Reservations on their way to Exchange from this instance. While one is written (its GET
//! and PATCH may wait in line at the mailbox's gate for seconds when bookings open), the
//! slot counts as taken for every other citizen: the week shows it reserved and another
//! reservation of it is refused at once, instead of queueing behind a write that will
//! almost surely win. A claim only ever refuses: the write path still reads the event and
//! writes it conditionally. When the write fails the claim goes and the slot is free again.
//!
//! Other instances do not see these claims. With a shared store, a new reservation there
//! that finds this instance's lease on the event is refused at once as well
//! (`instances.rs`), and they learn the written hold from this instance's note; without
//! one, within their cache lifetime. At most one entry per reservation in flight.

use crate::mailbox::EventId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Default)]
pub(super) struct Claims {
    /// Event id → the hold owner (hash of the token) whose reservation is in flight.
    by_event: Mutex<HashMap<EventId, String>>,
    /// Changes whenever a claim comes or goes: a kept week answer from another generation
    /// may show a slot in the wrong state.
    generation: AtomicU64,
}

/// A claim in flight; dropping it (the write finished, failed or was abandoned) ends it.
pub(super) struct Claim<'a> {
    claims: &'a Claims,
    /// None when the owner already had this claim (a second request of theirs): the first
    /// ends it.
    event_id: Option<EventId>,
}

impl Claims {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<EventId, String>> {
        self.by_event.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Claims `event_id` for `owner`; `None` when someone else's reservation of it is in
    /// flight.
    pub(super) fn claim(&self, event_id: &EventId, owner: &str) -> Option<Claim<'_>> {
        let mut map = self.map();
        let event_id = match map.get(event_id) {
            Some(other) if other != owner => return None,
            Some(_) => None,
            None => {
                map.insert(event_id.clone(), owner.to_owned());
                self.generation.fetch_add(1, Ordering::Release);
                Some(event_id.clone())
            }
        };
        Some(Claim {
            claims: self,
            event_id,
        })
    }

    /// Whether a reservation of `event_id` by someone other than `owner` is in flight.
    pub(super) fn by_other(&self, event_id: &EventId, owner: &str) -> bool {
        self.map().get(event_id).is_some_and(|o| o != owner)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.map().is_empty()
    }

    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.event_id.take() {
            self.claims.map().remove(&id);
            self.claims.generation.fetch_add(1, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_refuses_others_until_it_ends() {
        let claims = Claims::default();
        let g0 = claims.generation();
        let first = claims
            .claim(&EventId::new("ev1"), "anna")
            .expect("free to claim");
        assert!(claims.by_other(&EventId::new("ev1"), "bo"));
        assert!(!claims.by_other(&EventId::new("ev1"), "anna"));
        assert!(!claims.by_other(&EventId::new("ev2"), "bo"));
        assert!(claims.claim(&EventId::new("ev1"), "bo").is_none());
        assert_ne!(claims.generation(), g0);
        // The owner's second request goes on; the first claim still ends it.
        let again = claims
            .claim(&EventId::new("ev1"), "anna")
            .expect("the owner's own");
        drop(again);
        assert!(claims.by_other(&EventId::new("ev1"), "bo"));
        let g1 = claims.generation();
        drop(first);
        assert!(claims.is_empty());
        assert!(!claims.by_other(&EventId::new("ev1"), "bo"));
        assert_ne!(claims.generation(), g1);
        assert!(claims.claim(&EventId::new("ev1"), "bo").is_some());
    }
}
