//! What several instances must agree on, in one shared store (Redis, or Valkey): the lease
//! on each event while it is written, and the notes that keep every instance's week cache
//! right (docs/operators/instances.md). One instance needs none of it: without `[store]`
//! a [`Store`] is in-process and every call here is free.
//!
//! What a lease is, honestly. Exchange cannot check a fencing token, so no lease can stop a
//! writer that was paused past its end. A lease is therefore much longer than one write may
//! take (`lease_seconds` at least twice `retry_budget_seconds`), renewed every third of it
//! while held, and a writer checks before each write that what is left of it covers that
//! write's whole deadline ([`Store::may_write`]); the outcome is read back (or settled by
//! `If-Match`) before a citizen is told. A store that starts empty — restarted without
//! persistence — hands out no lease for one lease length, so a lease it handed out before has
//! run out everywhere first. When the store cannot be reached, writes fail closed ("try again
//! in a moment"); reads go on from Exchange.

mod shared;

pub use shared::{Facts, InFlight, Shared};

use std::sync::Arc;
use std::time::Duration;

/// Why the store refused or failed: each is "try again in a moment" for a citizen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Connecting, or a command, failed (the message never carries the store's URL).
    #[error("the shared store cannot be reached: {0}")]
    Unreachable(String),
    /// Another instance held the lease for longer than a write may wait.
    #[error("another instance is writing this event")]
    Busy,
    /// The store started empty less than one lease ago: no lease is handed out yet.
    #[error("the shared store started empty less than one lease ago; no leases yet")]
    Starting,
}

/// A note from another instance, or the news that notes may have been missed (the
/// subscription was lost and made again): then everything cached may be out of date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    Note(Vec<u8>),
    Gap,
}

/// What [`Store::take_place`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A new place (to give back if what it was for fails).
    New,
    /// The member had one already (or the store is in process): nothing to give back.
    Kept,
    /// A cap is reached.
    Refused,
}

/// The store: in this process (one instance), or shared.
#[derive(Clone, Default)]
pub struct Store(Option<Arc<Shared>>);

/// A lease on a name, held until dropped (then given back). In-process, holding it means
/// nothing: the caller's own lock serialises the writes.
pub struct Lease {
    /// Held for its drop (which gives the lease back); `None` in process.
    _held: Option<shared::Held>,
}

impl Store {
    /// Everything in this process (the embedded default).
    pub fn in_process() -> Store {
        Store(None)
    }

    /// The shared store at `url` (`redis://`, `rediss://` with TLS, `redis+unix://`); no
    /// connection is made until first use, so a store that is down stops only writes.
    /// `deadline` is the longest one write may take.
    pub fn shared(url: &str, lease: Duration, deadline: Duration) -> Result<Store, StoreError> {
        Shared::new(url, lease, deadline).map(|s| Store(Some(Arc::new(s))))
    }

    pub fn is_shared(&self) -> bool {
        self.0.is_some()
    }

    pub fn as_shared(&self) -> Option<&Shared> {
        self.0.as_deref()
    }

    /// The shared store, to keep (for what outlives one call, like places in flight).
    pub fn shared_handle(&self) -> Option<Arc<Shared>> {
        self.0.clone()
    }

    /// Takes the lease on `name` for this instance; while another instance holds it, waits
    /// at most one write's deadline for it (`wait`), or not at all ([`StoreError::Busy`]).
    pub async fn lease(&self, name: &str, wait: bool) -> Result<Lease, StoreError> {
        match &self.0 {
            None => Ok(Lease { _held: None }),
            Some(shared) => shared
                .clone()
                .acquire(name, wait)
                .await
                .map(|h| Lease { _held: Some(h) }),
        }
    }

    /// Whether a write under the lease on `name` may start now: in-process always; shared,
    /// only while this instance holds the lease with more than a write's deadline left.
    pub fn may_write(&self, name: &str) -> bool {
        match &self.0 {
            None => true,
            Some(shared) => shared.may_write(name),
        }
    }

    /// Takes a place for `member` in each of `sets` (a set's name and its cap), counting
    /// only places whose time is after `now`; a member already in the first set keeps its
    /// place (and gets the new time). The place lasts until `until`. In-process: always
    /// kept (the caller's own tracker counts).
    pub async fn take_place(
        &self,
        sets: &[(&str, usize)],
        member: &str,
        now: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<Place, StoreError> {
        match &self.0 {
            None => Ok(Place::Kept),
            Some(shared) => {
                shared
                    .take_place(
                        sets,
                        member,
                        now.timestamp_millis(),
                        until.timestamp_millis(),
                    )
                    .await
            }
        }
    }

    /// Counts one call in each of `windows` (a name and its limit per `window`, the window
    /// starting at its first call); `Some(wait)` when one is full. In-process: never full
    /// (the caller's own limiter counts).
    pub async fn count(
        &self,
        windows: &[(&str, u32)],
        window: std::time::Duration,
    ) -> Result<Option<std::time::Duration>, StoreError> {
        match &self.0 {
            None => Ok(None),
            Some(shared) => shared.count(windows, window).await,
        }
    }

    /// Keeps `value` under `name` for `ttl`, for every instance (nothing in process: the
    /// caller keeps its own).
    pub async fn keep(&self, name: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        match &self.0 {
            None => Ok(()),
            Some(shared) => shared.keep(name, value, ttl).await,
        }
    }

    /// What is kept under `name` (nothing in process).
    pub async fn kept(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match &self.0 {
            None => Ok(None),
            Some(shared) => shared.kept(name).await,
        }
    }

    /// Forgets what is kept under `name`.
    pub async fn forget(&self, name: &str) -> Result<(), StoreError> {
        match &self.0 {
            None => Ok(()),
            Some(shared) => shared.forget(name).await,
        }
    }

    /// Forgets what is kept under `name` if it begins with `prefix`, in one step: a value
    /// kept anew in between is left alone. Whether it was forgotten (never in process).
    pub async fn forget_if(&self, name: &str, prefix: &[u8]) -> Result<bool, StoreError> {
        match &self.0 {
            None => Ok(false),
            Some(shared) => shared.forget_if(name, prefix).await,
        }
    }

    /// Gives `member`'s place in `sets` back (its hold failed, or ended early).
    pub async fn give_back_place(&self, sets: &[&str], member: &str) -> Result<(), StoreError> {
        match &self.0 {
            None => Ok(()),
            Some(shared) => shared.give_back_place(sets, member).await,
        }
    }

    /// Tells the other instances `note` (no-op in-process). Waits until the store took it,
    /// so notes about one event reach everyone in the order of the leases that wrote it.
    pub async fn tell(&self, note: &[u8]) {
        if let Some(shared) = &self.0 {
            shared.tell(note).await;
        }
    }

    /// The notes of the other instances, as they arrive; `None` in-process.
    pub fn listen(&self) -> Option<tokio::sync::mpsc::Receiver<Heard>> {
        self.0.as_ref().map(|shared| shared.clone().listen())
    }
}
