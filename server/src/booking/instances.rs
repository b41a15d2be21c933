//! The core among several instances: one writer per event (a local lock, then the shared
//! store's lease), writes only under a lease with time to spare, and notes that keep the
//! other instances' week caches right. With the store in process (one instance) the lease
//! and the notes cost nothing.

use super::locks::KeyedGuard;
use super::rules::week_of;
use super::Booket;
use crate::config::CalendarConfig;
use crate::mailbox::{Event, EventId, MailboxError};
use crate::store::{Heard, Lease, Place, StoreError};
use app::api::{ElementName, FormId, SlotId};
use app::domain::BookingError;
use chrono::NaiveDate;
use std::sync::{Arc, Weak};

/// The right to write one event: this instance's lock, and the store's lease on it.
pub(super) struct EventLock {
    // Declared first, so dropped first: the lease is given back before the next writer of
    // this process may ask for it.
    _lease: Lease,
    _local: KeyedGuard<EventId>,
}

/// Whether a writer waits while another instance holds an event's lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wait {
    UpToADeadline,
    Not,
}

/// What one instance tells the others after Exchange answered: the event as it is now (or,
/// with none, that the week must be read again), and the week it was offered in.
#[derive(serde::Serialize, serde::Deserialize)]
struct Note {
    calendar: String,
    offered: NaiveDate,
    event: Option<Event>,
}

/// A hold's member in the sets of places: one per token (owner hash) and element.
pub(super) fn place_member(form: &FormId, element: &ElementName, owner: &str) -> String {
    format!("{form}\u{1f}{element}\u{1f}{owner}")
}

/// The store's name for what `who` holds of an element (hashed: a signed-in citizen's id
/// is not kept as it is).
fn holder_name(form: &FormId, element: &ElementName, who: &str) -> String {
    let scope = format!("{form}\u{1f}{element}\u{1f}{who}");
    format!("holder:{}", super::hold::owner_hash(&scope))
}

fn lease_name(event: &EventId) -> String {
    format!("event:{event}")
}

impl Booket {
    /// Waits for this process's lock on the event, then takes the store's lease on it. A
    /// store that cannot be reached, or another instance writing for longer than a write may
    /// take, is "try again in a moment". With [`Wait::Not`] (a new reservation), another
    /// instance writing the event is a lost race at once — as a claim in flight here is
    /// (`claims.rs`): it will almost surely win.
    pub(super) async fn lock_event(
        &self,
        id: &EventId,
        wait: Wait,
    ) -> Result<EventLock, BookingError> {
        let local = self.locks.lock(id).await;
        match self
            .store
            .lease(&lease_name(id), wait == Wait::UpToADeadline)
            .await
        {
            Ok(lease) => Ok(EventLock {
                _lease: lease,
                _local: local,
            }),
            Err(StoreError::Busy) if wait == Wait::Not => Err(BookingError::Taken),
            Err(e) => {
                tracing::warn!(event = %id, "no lease on the event: {e}");
                Err(self.refused_for_want_of_a_lease(&e))
            }
        }
    }

    /// Counts a write refused because the store gave no lease (`booket_store_refusals_total`)
    /// and tells the citizen to try again in a moment.
    fn refused_for_want_of_a_lease(&self, e: &StoreError) -> BookingError {
        let label = match e {
            StoreError::Unreachable(_) => "unreachable",
            StoreError::Busy => "busy",
            StoreError::Starting => "starting",
        };
        self.metrics
            .store_refusals
            .with_label_values(&[label])
            .inc();
        BookingError::Unavailable
    }

    /// How many instances share Exchange's limits with this one (1 without a store).
    pub fn instances_sharing(&self) -> usize {
        self.store.as_shared().map_or(1, |s| {
            s.instances().load(std::sync::atomic::Ordering::Relaxed)
        })
    }

    /// Before a write to `event`: its lease has more left than the write may take.
    pub(super) fn may_write(&self, event: &EventId) -> Result<(), MailboxError> {
        if self.store.may_write(&lease_name(event)) {
            Ok(())
        } else {
            self.metrics
                .store_refusals
                .with_label_values(&["lease_spent"])
                .inc();
            Err(MailboxError::Unavailable(
                "the lease on this event has less left than a write may take; not written".into(),
            ))
        }
    }

    /// The shared store's sets a client's holds count in: its own (address; IPv6 /64) and
    /// its site's (IPv6 /48), with their caps.
    fn place_sets(&self, client: std::net::IpAddr) -> Vec<(String, usize)> {
        use super::client::{key_of, site_of, SITE_SHARE};
        let cap = self.config.max_holds_per_client;
        let key = key_of(client);
        let mut sets = vec![(format!("client:{key}"), cap)];
        if let Some(site) = site_of(key) {
            sets.push((format!("site:{site}"), cap.saturating_mul(SITE_SHARE)));
        }
        sets
    }

    /// Takes (or keeps, for a hold the member already has) one of the client's places under
    /// `max_holds_per_client` across every instance, until `until`. Without a shared store
    /// or a known client this takes nothing (the instance's own tracker counts).
    pub(super) async fn take_shared_place(
        &self,
        client: Option<std::net::IpAddr>,
        member: &str,
        now: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<Place, BookingError> {
        let Some(client) = client.filter(|_| self.store.is_shared()) else {
            return Ok(Place::Kept);
        };
        let sets = self.place_sets(client);
        let sets: Vec<(&str, usize)> = sets.iter().map(|(s, c)| (s.as_str(), *c)).collect();
        match self.store.take_place(&sets, member, now, until).await {
            Ok(Place::Refused) => {
                tracing::warn!("a client reached max_holds_per_client (across instances)");
                Err(BookingError::RateLimited { retry_after: 0 })
            }
            Ok(place) => Ok(place),
            Err(e) => {
                self.metrics
                    .store_refusals
                    .with_label_values(&["unreachable"])
                    .inc();
                tracing::warn!("no place under the hold cap: {e}");
                Err(BookingError::Unavailable)
            }
        }
    }

    /// Counts one write call of `client` against `rate_limit_per_minute` across the
    /// instances (and 16 times it for an IPv6 site); `Err(seconds)` when it is spent. The
    /// instance's own limiter has counted it already; without a shared store this is all.
    /// A store that cannot be reached counts nothing here (the write then finds no lease).
    pub async fn spend_shared_write(&self, client: std::net::IpAddr) -> Result<(), u64> {
        self.spend_shared("writes", self.config.writes_per_minute, client)
            .await
    }

    /// Counts one read call (element, week) of `client` against
    /// `read_rate_limit_per_minute` across the instances, as [`Booket::spend_shared_write`]
    /// does for writes. A store that cannot be reached counts nothing here: reads go on,
    /// under each instance's own limiter.
    pub async fn spend_shared_read(&self, client: std::net::IpAddr) -> Result<(), u64> {
        self.spend_shared("reads", self.config.reads_per_minute, client)
            .await
    }

    async fn spend_shared(
        &self,
        calls: &str,
        limit: u32,
        client: std::net::IpAddr,
    ) -> Result<(), u64> {
        use super::client::{key_of, site_of, SITE_SHARE};
        if !self.store.is_shared() {
            return Ok(());
        }
        let key = key_of(client);
        let mut windows = vec![(format!("{calls}:{key}"), limit)];
        if let Some(site) = site_of(key) {
            windows.push((
                format!("{calls}:site:{site}"),
                limit.saturating_mul(SITE_SHARE as u32),
            ));
        }
        let windows: Vec<(&str, u32)> = windows.iter().map(|(n, l)| (n.as_str(), *l)).collect();
        // Boxed: the store's call is large, and without a store every read would carry
        // its size through each layer that moves the request's future.
        match Box::pin(
            self.store
                .count(&windows, std::time::Duration::from_secs(60)),
        )
        .await
        {
            Ok(None) => Ok(()),
            Ok(Some(wait)) => Err(wait.as_secs().max(1)),
            Err(e) => {
                tracing::warn!("{calls} not counted across instances: {e}");
                Ok(())
            }
        }
    }

    /// Gives the member's place back (its hold failed, was released or was booked).
    pub(super) async fn give_back_shared_place(
        &self,
        client: Option<std::net::IpAddr>,
        member: &str,
    ) {
        let Some(client) = client.filter(|_| self.store.is_shared()) else {
            return;
        };
        let sets = self.place_sets(client);
        let sets: Vec<&str> = sets.iter().map(|(s, _)| s.as_str()).collect();
        // Not given back: it lapses with the hold it was for.
        if let Err(e) = self.store.give_back_place(&sets, member).await {
            tracing::warn!("a place under the hold cap was not given back: {e}");
        }
    }

    /// With the shared store, the lease on what `who` (a hold token's owner hash, or a
    /// signed-in citizen) holds of an element: their reservations are decided one at a time
    /// across the instances, as this instance's token lock does here. In process: nothing.
    pub(super) async fn lock_holder(
        &self,
        form: &FormId,
        element: &ElementName,
        who: &str,
    ) -> Result<Lease, BookingError> {
        self.store
            .lease(&holder_name(form, element, who), true)
            .await
            .map_err(|e| {
                tracing::warn!("no lease on a holder: {e}");
                self.refused_for_want_of_a_lease(&e)
            })
    }

    /// The slot (and the token it is held under) that `who` holds of an element according
    /// to the shared store: what another instance recorded. `None` in process.
    pub(super) async fn shared_holder(
        &self,
        form: &FormId,
        element: &ElementName,
        who: &str,
    ) -> Option<(SlotId, String)> {
        if !self.store.is_shared() {
            return None;
        }
        match self.store.kept(&holder_name(form, element, who)).await {
            Ok(Some(bytes)) => {
                let text = String::from_utf8(bytes).ok()?;
                let (slot, token) = text.split_once('\n')?;
                Some((SlotId::issued(slot.to_owned()), token.to_owned()))
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!("the other instances' holds cannot be asked: {e}");
                None
            }
        }
    }

    /// Records in the shared store that `who` holds `slot_id` under `token` until
    /// `expires` (no-op in process).
    pub(super) async fn keep_holder(
        &self,
        (form, element, who): (&FormId, &ElementName, &str),
        slot_id: &SlotId,
        token: &str,
        expires: chrono::DateTime<chrono::Utc>,
        now: chrono::DateTime<chrono::Utc>,
    ) {
        if !self.store.is_shared() {
            return;
        }
        let Ok(left) = (expires - now).to_std() else {
            return;
        };
        let value = format!("{slot_id}\n{token}");
        if let Err(e) = self
            .store
            .keep(&holder_name(form, element, who), value.as_bytes(), left)
            .await
        {
            tracing::warn!("a hold was not recorded for the other instances: {e}");
        }
    }

    /// Forgets in the shared store what `who` holds, if it is `slot_id` (or whatever it is,
    /// with `None`): booked, or given back.
    pub(super) async fn forget_holder(
        &self,
        form: &FormId,
        element: &ElementName,
        who: &str,
        slot_id: Option<&SlotId>,
    ) {
        if !self.store.is_shared() {
            return;
        }
        let name = holder_name(form, element, who);
        // Only the record of that slot: one the citizen wrote for another slot meanwhile
        // (on any instance) stays. Compared and deleted in one step in the store.
        let forgotten = match slot_id {
            Some(slot_id) => self
                .store
                .forget_if(&name, format!("{slot_id}\n").as_bytes())
                .await
                .map(drop),
            None => self.store.forget(&name).await,
        };
        if let Err(e) = forgotten {
            tracing::warn!("a hold's record was not forgotten (it lapses with the hold): {e}");
        }
    }

    /// This instance's cache learns `event` as Exchange gave it (`None`: the week
    /// `offered` is read again), and so do the other instances'.
    pub(super) async fn learn_and_tell(
        &self,
        cal: &CalendarConfig,
        event: Option<&Event>,
        offered: NaiveDate,
    ) {
        self.apply(cal, event, offered).await;
        if self.store.is_shared() {
            let note = Note {
                calendar: cal.name.clone(),
                offered,
                event: event.cloned(),
            };
            match serde_json::to_vec(&note) {
                Ok(bytes) => self.store.tell(&bytes).await,
                Err(e) => tracing::error!("a note could not be written: {e}"),
            }
        }
    }

    async fn apply(&self, cal: &CalendarConfig, event: Option<&Event>, offered: NaiveDate) {
        let Some(event) = event else {
            self.cache
                .invalidate_week(&(cal.name.clone(), offered))
                .await;
            return;
        };
        let week = week_of(cal, event);
        if week != offered {
            self.cache
                .invalidate_week(&(cal.name.clone(), offered))
                .await;
        }
        self.cache
            .update(&(cal.name.clone(), week), |read| read.with_event(event))
            .await;
    }

    /// Applies the other instances' notes to this one's cache as they arrive (after a gap
    /// in the subscription, forgets every week). Nothing to do with the store in process.
    pub fn spawn_listener(self: Arc<Self>) {
        let Some(mut heard) = self.store.listen() else {
            return;
        };
        let booket: Weak<Booket> = Arc::downgrade(&self);
        drop(self);
        tokio::spawn(async move {
            while let Some(h) = heard.recv().await {
                let Some(booket) = booket.upgrade() else {
                    return;
                };
                match h {
                    Heard::Gap => booket.cache.invalidate_all(),
                    Heard::Note(bytes) => {
                        let Ok(note) = serde_json::from_slice::<Note>(&bytes) else {
                            tracing::warn!("a note from another instance could not be read");
                            continue;
                        };
                        if let Some(cal) = booket.config.calendar(&note.calendar) {
                            booket.apply(cal, note.event.as_ref(), note.offered).await;
                        }
                    }
                }
            }
        });
    }
}
