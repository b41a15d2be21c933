//! The app's Graph requests in flight: at most N at once (Outlook allows 4 per mailbox and
//! app), and when they queue, writes go before reads — a citizen with a chosen time matters
//! more than a refresh of a week. Each class is served in arrival order.
//!
//! With several instances the N is for all of them together ([`Share`]): each request that
//! has its turn here also takes one of the N places in the shared store ([`Across`]), so
//! an instance with a queue uses every place the others leave idle — the rush at opening
//! hour ends as fast on two instances as on one. When the store cannot be reached, each
//! instance falls back to N divided by the instances alive (at least one), as the store's
//! heartbeat last counted them.
//!
//! (Hand-written, about 290 lines besides the tests: tokio's semaphore has one queue, and the priority
//! semaphore crates on crates.io are young. A permit handed to a waiter travels inside its
//! channel, so a waiter that gave up never takes a place with it.)

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// The places in flight counted across every instance (the shared store). Implemented
/// by the store's side; this layer only asks.
#[async_trait::async_trait]
pub trait Across: Send + Sync {
    /// Takes one of the `places` named `name` for this instance: `Ok(Some(ticket))` taken
    /// (given back when the ticket is dropped), `Ok(None)` all taken, `Err(())` the store
    /// cannot be reached.
    async fn take(&self, name: &str, places: usize) -> Result<Option<Ticket>, ()>;
}

/// A place taken across the instances, given back when dropped.
pub struct Ticket(#[allow(dead_code)] Box<dyn Send + Sync>);

impl Ticket {
    pub fn new(held: impl Send + Sync + 'static) -> Ticket {
        Ticket(Box::new(held))
    }
}

/// Who shares Exchange's places with this instance: the instances alive (1: this one
/// alone), kept by the shared store's heartbeat, and the store's count of places in flight.
#[derive(Clone)]
pub struct Share {
    instances: Arc<AtomicUsize>,
    across: Option<Arc<dyn Across>>,
}

impl Share {
    /// One instance alone.
    pub fn alone() -> Share {
        Share {
            instances: Arc::new(AtomicUsize::new(1)),
            across: None,
        }
    }

    /// The instances `instances` counts, taking each place from `across`.
    pub fn across(instances: Arc<AtomicUsize>, across: Arc<dyn Across>) -> Share {
        Share {
            instances,
            across: Some(across),
        }
    }

    /// This instance's places when they cannot be counted across: its share, at least one.
    fn fallback(&self, places: usize) -> usize {
        (places / self.instances.load(Ordering::Relaxed).max(1)).max(1)
    }
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
    /// The places' name in the shared store (the app, or the EWS account).
    name: String,
    /// Places for every instance together.
    places: usize,
    share: Share,
}

struct State {
    /// Places taken by this instance (its turns; with the store each also holds a ticket).
    taken: usize,
    /// Of those, held without a ticket because the store could not be reached.
    unticketed: usize,
    writes: VecDeque<oneshot::Sender<Permit>>,
    reads: VecDeque<oneshot::Sender<Permit>>,
}

/// A place in flight, given back (to the next waiter, writes first) when dropped.
pub struct Permit {
    inner: Option<Arc<Inner>>,
    /// Its place among every instance's (dropped after the local place is handed on).
    ticket: Option<Ticket>,
    unticketed: bool,
}

impl Permit {
    fn local(inner: &Arc<Inner>) -> Permit {
        Permit {
            inner: Some(inner.clone()),
            ticket: None,
            unticketed: false,
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            let mut state = inner.lock();
            state.taken -= 1;
            if self.unticketed {
                state.unticketed -= 1;
            }
            Inner::hand_on(&inner, &mut state);
        }
    }
}

/// The longest pause between two asks for a place across the instances: short, so an
/// instance whose turn came does not lose many places to one that asks more often.
const MOST_PAUSE: Duration = Duration::from_millis(4);

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// This instance's turns at once: every place when the store counts them across the
    /// instances (each turn then takes a ticket too), else its share of them.
    fn capacity(&self) -> usize {
        match self.share.across {
            Some(_) => self.places,
            None => self.share.fallback(self.places),
        }
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
            // That waiter gave up: the place goes to the next one (taken out of the
            // returned permit, so its drop does not give it back a second time).
            if let Err(mut unsent) = next.send(Permit::local(this)) {
                unsent.inner = None;
                state.taken -= 1;
            }
        }
    }
}

impl Gate {
    /// `places` in flight for this instance alone.
    pub fn new(places: usize) -> Gate {
        Gate::shared("", places, Share::alone())
    }

    /// `places` named `name` in flight for all the instances `share` counts together.
    pub fn shared(name: &str, places: usize, share: Share) -> Gate {
        Gate {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    taken: 0,
                    unticketed: 0,
                    writes: VecDeque::new(),
                    reads: VecDeque::new(),
                }),
                name: name.to_owned(),
                places,
                share,
            }),
        }
    }

    /// A place at once, if one is free and nobody waits (never when the places are counted
    /// across instances: that takes asking the store).
    pub fn try_acquire(&self) -> Option<Permit> {
        if self.inner.share.across.is_some() {
            return None;
        }
        let mut state = self.inner.lock();
        let free = state.taken < self.inner.capacity()
            && state.writes.is_empty()
            && state.reads.is_empty();
        free.then(|| {
            state.taken += 1;
            Permit::local(&self.inner)
        })
    }

    /// A place, waiting behind every earlier waiter of its class and, for a read, behind
    /// every waiting write; then, with several instances, for one of the places across
    /// them. Dropping the future gives the place up.
    pub async fn acquire(&self, class: Class) -> Permit {
        let turn = self.turn(class).await;
        self.across(turn).await
    }

    async fn turn(&self, class: Class) -> Permit {
        let waiting = {
            let mut state = self.inner.lock();
            if state.taken < self.inner.capacity()
                && state.writes.is_empty()
                && state.reads.is_empty()
            {
                state.taken += 1;
                return Permit::local(&self.inner);
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
        waiting.await.unwrap_or(Permit {
            inner: None,
            ticket: None,
            unticketed: false,
        })
    }

    /// With this instance's turn, one of the places across the instances: asked for until
    /// one is free (short pauses between). A store that cannot be reached gives this
    /// instance its share of the places (see [`Share`]).
    async fn across(&self, mut permit: Permit) -> Permit {
        let Some(across) = self.inner.share.across.clone() else {
            return permit;
        };
        if permit.inner.is_none() {
            return permit;
        }
        let mut pause = Duration::from_millis(1);
        loop {
            match across.take(&self.inner.name, self.inner.places).await {
                Ok(Some(ticket)) => {
                    permit.ticket = Some(ticket);
                    return permit;
                }
                Ok(None) => {}
                Err(()) => {
                    let mut state = self.inner.lock();
                    if state.unticketed < self.inner.share.fallback(self.inner.places) {
                        state.unticketed += 1;
                        permit.unticketed = true;
                        return permit;
                    }
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MOST_PAUSE);
        }
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

    fn counted(instances: usize) -> Share {
        Share {
            instances: Arc::new(AtomicUsize::new(instances)),
            across: None,
        }
    }

    #[tokio::test]
    async fn without_a_store_instances_share_the_places_and_each_keeps_one() {
        let share = counted(2);
        let gate = Gate::shared("app", 4, share.clone());
        let first = gate.try_acquire().unwrap();
        let second = gate.try_acquire().unwrap();
        assert!(
            gate.try_acquire().is_none(),
            "two of four with two instances"
        );
        // The other instance is gone: its places are this one's, for the next in line too.
        share.instances.store(1, Ordering::Relaxed);
        let third = gate
            .acquire(Class::Read)
            .now_or_never()
            .expect("a third place");
        let fourth = gate.try_acquire().unwrap();
        assert!(gate.try_acquire().is_none());
        // Five instances on four places: each still has one (and waits for it).
        share.instances.store(5, Ordering::Relaxed);
        drop((first, second, third, fourth));
        let one = gate.try_acquire().unwrap();
        assert!(gate.try_acquire().is_none());
        drop(one);
    }

    /// The store's count of places in flight, in memory: every gate given it is another
    /// instance on one store.
    #[derive(Default)]
    struct Store {
        taken: Arc<Mutex<usize>>,
        down: std::sync::atomic::AtomicBool,
    }

    struct GiveBack(Arc<Mutex<usize>>);

    impl Drop for GiveBack {
        fn drop(&mut self) {
            *self.0.lock().unwrap() -= 1;
        }
    }

    #[async_trait::async_trait]
    impl Across for Store {
        async fn take(&self, name: &str, places: usize) -> Result<Option<Ticket>, ()> {
            assert_eq!(name, "app");
            if self.down.load(Ordering::Relaxed) {
                return Err(());
            }
            let mut taken = self.taken.lock().unwrap();
            if *taken >= places {
                return Ok(None);
            }
            *taken += 1;
            Ok(Some(Ticket::new(GiveBack(self.taken.clone()))))
        }
    }

    fn two_instances(store: &Arc<Store>) -> (Gate, Gate) {
        let instances = Arc::new(AtomicUsize::new(2));
        let share = Share::across(instances, store.clone());
        (
            Gate::shared("app", 4, share.clone()),
            Gate::shared("app", 4, share),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn an_instance_with_a_queue_takes_the_places_the_others_leave_idle() {
        let store = Arc::new(Store::default());
        let (a, b) = two_instances(&store);
        // The other instance is idle: this one has all four places, not half of them.
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(a.acquire(Class::Write).now_or_never().expect("a place"));
        }
        assert_eq!(*store.taken.lock().unwrap(), 4);
        // Now every place is taken, on either instance.
        let waiting = tokio::spawn({
            let b = b.clone();
            async move { b.acquire(Class::Read).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !waiting.is_finished(),
            "no fifth place across the instances"
        );
        // One comes free on the first instance: the second takes it.
        held.pop();
        let theirs = tokio::time::timeout(Duration::from_millis(20), waiting)
            .await
            .expect("the freed place is taken within a few pauses")
            .unwrap();
        assert_eq!(*store.taken.lock().unwrap(), 4);
        drop(theirs);
        drop(held);
        assert_eq!(*store.taken.lock().unwrap(), 0, "every ticket given back");
    }

    #[tokio::test(start_paused = true)]
    async fn with_the_store_unreachable_each_instance_takes_its_share() {
        let store = Arc::new(Store::default());
        store.down.store(true, Ordering::Relaxed);
        let (a, _b) = two_instances(&store);
        let first = a.acquire(Class::Read).now_or_never().expect("a place");
        let _second = a.acquire(Class::Read).now_or_never().expect("a place");
        let third = tokio::spawn({
            let a = a.clone();
            async move { a.acquire(Class::Read).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !third.is_finished(),
            "two of four for each of two instances"
        );
        drop(first);
        let third = tokio::time::timeout(Duration::from_millis(20), third)
            .await
            .expect("the share's place comes back")
            .unwrap();
        // The store is back: places are counted there again (none of these hold a ticket).
        store.down.store(false, Ordering::Relaxed);
        let fourth = a.acquire(Class::Read).now_or_never().expect("a place");
        assert_eq!(*store.taken.lock().unwrap(), 1);
        drop((third, fourth));
        assert_eq!(*store.taken.lock().unwrap(), 0);
    }
}
