//! The app's Graph requests in flight: at most N at once (Outlook allows 4 per mailbox and
//! app), and when they queue, writes go before reads — a citizen with a chosen time matters
//! more than a refresh of a week. Each class is served in arrival order. With several
//! instances the N is shared: each takes N divided by the instances alive (at least one),
//! as the shared store counts them ([`Share`]).
//!
//! (Hand-written, about 130 lines: tokio's semaphore has one queue, and the priority
//! semaphore crates on crates.io are young. A permit handed to a waiter travels inside its
//! channel, so a waiter that gave up never takes a place with it.)

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// How many instances share Exchange's limits (1: this one alone). The shared store's
/// heartbeat keeps it.
pub type Share = Arc<AtomicUsize>;

/// One instance alone.
pub fn alone() -> Share {
    Arc::new(AtomicUsize::new(1))
}

/// What a request does to the mailbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Write,
    Read,
}

#[derive(Clone)]
pub struct Gate {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    /// Places for every instance together.
    places: usize,
    share: Share,
}

struct State {
    /// Places taken by this instance.
    taken: usize,
    writes: VecDeque<oneshot::Sender<Permit>>,
    reads: VecDeque<oneshot::Sender<Permit>>,
}

/// A place in flight, given back (to the next waiter, writes first) when dropped.
pub struct Permit {
    inner: Option<Arc<Inner>>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            let mut state = inner.lock();
            state.taken -= 1;
            Inner::hand_on(&inner, &mut state);
        }
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// This instance's places: its share of them, at least one.
    fn capacity(&self) -> usize {
        (self.places / self.share.load(Ordering::Relaxed).max(1)).max(1)
    }

    /// Hands free places to the waiters, writes first.
    fn hand_on(this: &Arc<Inner>, state: &mut State) {
        while state.taken < this.capacity() {
            let next = match state.writes.pop_front() {
                Some(w) => w,
                None => match state.reads.pop_front() {
                    Some(r) => r,
                    None => return,
                },
            };
            state.taken += 1;
            let permit = Permit {
                inner: Some(this.clone()),
            };
            // That waiter gave up: the place goes to the next one (taken out of the
            // returned permit, so its drop does not give it back a second time).
            if let Err(mut unsent) = next.send(permit) {
                unsent.inner = None;
                state.taken -= 1;
            }
        }
    }
}

impl Gate {
    /// `places` in flight for this instance alone.
    pub fn new(places: usize) -> Gate {
        Gate::shared(places, alone())
    }

    /// `places` in flight for all the instances `share` counts together.
    pub fn shared(places: usize, share: Share) -> Gate {
        Gate {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    taken: 0,
                    writes: VecDeque::new(),
                    reads: VecDeque::new(),
                }),
                places,
                share,
            }),
        }
    }

    /// A place at once, if one is free and nobody waits.
    pub fn try_acquire(&self) -> Option<Permit> {
        let mut state = self.inner.lock();
        let free = state.taken < self.inner.capacity()
            && state.writes.is_empty()
            && state.reads.is_empty();
        free.then(|| {
            state.taken += 1;
            Permit {
                inner: Some(self.inner.clone()),
            }
        })
    }

    /// A place, waiting behind every earlier waiter of its class and, for a read, behind
    /// every waiting write. Dropping the future gives the place up.
    pub async fn acquire(&self, class: Class) -> Permit {
        let waiting = {
            let mut state = self.inner.lock();
            if state.taken < self.inner.capacity()
                && state.writes.is_empty()
                && state.reads.is_empty()
            {
                state.taken += 1;
                return Permit {
                    inner: Some(self.inner.clone()),
                };
            }
            let (tx, rx) = oneshot::channel();
            match class {
                Class::Write => state.writes.push_back(tx),
                Class::Read => state.reads.push_back(tx),
            }
            // (Places may have come free meanwhile: fewer instances share them now.)
            Inner::hand_on(&self.inner, &mut state);
            rx
        };
        // The sender is only dropped unsent when the gate itself is gone; the caller then
        // goes without a place rather than wait forever.
        waiting.await.unwrap_or(Permit { inner: None })
    }

    /// Waiters queued (some may have given up and not been skipped yet).
    #[cfg(test)]
    fn queued(&self) -> usize {
        let state = self.inner.lock();
        state.writes.len() + state.reads.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    async fn until_queued(gate: &Gate, n: usize) {
        while gate.queued() < n {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn writes_go_before_reads_and_each_class_in_order() {
        let gate = Gate::new(1);
        let held = gate.try_acquire().unwrap();
        assert!(gate.try_acquire().is_none());
        let (tx, mut order) = tokio::sync::mpsc::unbounded_channel();
        let mut tasks = Vec::new();
        for (i, (name, class)) in [
            ("read 1", Class::Read),
            ("write 1", Class::Write),
            ("read 2", Class::Read),
            ("write 2", Class::Write),
        ]
        .into_iter()
        .enumerate()
        {
            let (waiter, tx) = (gate.clone(), tx.clone());
            tasks.push(tokio::spawn(async move {
                let _place = waiter.acquire(class).await;
                tx.send(name).unwrap();
            }));
            until_queued(&gate, i + 1).await;
        }
        drop(held);
        for t in tasks {
            t.await.unwrap();
        }
        let mut got = Vec::new();
        while let Ok(name) = order.try_recv() {
            got.push(name);
        }
        assert_eq!(got, ["write 1", "write 2", "read 1", "read 2"]);
        // Every place came back.
        assert!(gate.try_acquire().is_some());
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_takes_no_place_with_it() {
        let gate = Gate::new(1);
        let held = gate.try_acquire().unwrap();
        let quitter = {
            let gate = gate.clone();
            tokio::spawn(async move {
                let _ = gate.acquire(Class::Write).await;
                unreachable!("aborted before a place was free");
            })
        };
        until_queued(&gate, 1).await;
        quitter.abort();
        let _ = quitter.await;
        drop(held);
        let again = gate.try_acquire();
        assert!(again.is_some(), "the place is free again");
        drop(again);
        // A waiter whose place was sent but never received: the place comes back too.
        let held = gate.try_acquire().unwrap();
        let waiting = gate.acquire(Class::Read);
        let mut waiting = Box::pin(waiting);
        // Register the waiter, then drop the future after the place was handed to it.
        assert!(waiting.as_mut().now_or_never().is_none());
        drop(held);
        drop(waiting);
        assert!(gate.try_acquire().is_some());
    }

    #[tokio::test]
    async fn instances_share_the_places_and_each_keeps_one() {
        let share = alone();
        share.store(2, Ordering::Relaxed);
        let gate = Gate::shared(4, share.clone());
        let first = gate.try_acquire().unwrap();
        let second = gate.try_acquire().unwrap();
        assert!(
            gate.try_acquire().is_none(),
            "two of four with two instances"
        );
        // The other instance is gone: its places are this one's, for the next in line too.
        share.store(1, Ordering::Relaxed);
        let third = gate
            .acquire(Class::Read)
            .now_or_never()
            .expect("a third place");
        let fourth = gate.try_acquire().unwrap();
        assert!(gate.try_acquire().is_none());
        // Five instances on four places: each still has one (and waits for it).
        share.store(5, Ordering::Relaxed);
        drop((first, second, third, fourth));
        let one = gate.try_acquire().unwrap();
        assert!(gate.try_acquire().is_none());
        drop(one);
    }
}
