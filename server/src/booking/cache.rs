//! Week reads kept briefly (moka: time to live, capacity, and identical concurrent reads
//! coalesced into one call to the mailbox).
//!
//! A write keeps the week right instead of clearing it: the kept read is updated with the
//! event as Exchange answered the write, and lives on only to the end of its own time to
//! live (other instances' writes show within it). A read that began before a write to its
//! week must not be kept as if it came after: moka would insert it when it finishes. So
//! every read and every write takes a number from one sequence, writes are remembered for
//! one time to live, and a read numbered before its week's last write is read again.

use moka::ops::compute::Op;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Key: (calendar display name, Monday of the week).
pub type WeekKey = (String, chrono::NaiveDate);

/// Most weeks kept (every calendar together).
const CAPACITY: u64 = 4096;

struct Read<V> {
    /// Taken from the sequence when the read began (or when a write updated it).
    seq: u64,
    /// When the mailbox was read: a write that updates the kept read does not make the
    /// rest of the week any fresher, so the read lives one time to live from here.
    read_at: Instant,
    value: Arc<V>,
}

impl<V> Clone for Read<V> {
    fn clone(&self) -> Self {
        Read {
            seq: self.seq,
            read_at: self.read_at,
            value: self.value.clone(),
        }
    }
}

/// Week reads of type `V` (the events and what was made from them).
pub struct WeekCache<V> {
    ttl: Duration,
    weeks: moka::future::Cache<WeekKey, Read<V>>,
    /// The sequence number of each week's last invalidation, for one time to live.
    invalidated: moka::sync::Cache<WeekKey, u64>,
    /// The number of the last invalidation of any week: a read numbered after it needs no
    /// look-up (the hot path while nobody writes).
    last_invalidation: AtomicU64,
    /// The number of the last time every week was forgotten: a read begun before it is
    /// not kept.
    all_invalidated: AtomicU64,
    seq: AtomicU64,
}

impl<V: Send + Sync + 'static> WeekCache<V> {
    pub fn new(ttl: Duration) -> Self {
        // A zero time to live (caching off) is one nanosecond: moka wants a positive one.
        let ttl = ttl.max(Duration::from_nanos(1));
        WeekCache {
            ttl,
            weeks: moka::future::Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(ttl)
                .build(),
            invalidated: moka::sync::Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(ttl)
                .build(),
            last_invalidation: AtomicU64::new(0),
            all_invalidated: AtomicU64::new(0),
            seq: AtomicU64::new(1),
        }
    }

    /// Whether a kept read may still be served: within its time to live, and not begun
    /// before its week's last invalidation.
    fn current(&self, key: &WeekKey, read: &Read<V>) -> bool {
        read.read_at.elapsed() < self.ttl && !self.missed_a_write(key, read)
    }

    /// Whether the read began before its week's last write.
    fn missed_a_write(&self, key: &WeekKey, read: &Read<V>) -> bool {
        if read.seq < self.all_invalidated.load(Ordering::SeqCst) {
            return true;
        }
        read.seq < self.last_invalidation.load(Ordering::SeqCst)
            && self
                .invalidated
                .get(key)
                .is_some_and(|written| read.seq < written)
    }

    /// The kept read of a week, or the result of `fetch` shared by every caller that asks
    /// while it runs. Failures are not kept beyond the callers already waiting.
    pub async fn get_or_fetch<F, Fut, E>(&self, key: &WeekKey, fetch: F) -> Result<Arc<V>, E>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<V, E>>,
        E: Clone + Send + Sync + 'static,
    {
        let mut tries = 0;
        loop {
            tries += 1;
            // A kept read is found without the loader's machinery (the hot path).
            let (read, kept) = match self.weeks.get(key).await {
                Some(read) => (read, true),
                None => (
                    self.weeks
                        .try_get_with_by_ref(key, async {
                            let seq = self.seq.fetch_add(1, Ordering::SeqCst);
                            let read_at = Instant::now();
                            fetch().await.map(|value| Read {
                                seq,
                                read_at,
                                value: Arc::new(value),
                            })
                        })
                        .await
                        .map_err(|e| (*e).clone())?,
                    false,
                ),
            };
            // A read just made (by this caller or one it joined) is served whatever the
            // time to live; a kept one only while current.
            let usable = if kept {
                self.current(key, &read)
            } else {
                !self.missed_a_write(key, &read)
            };
            if tries > 1 || usable {
                return Ok(read.value);
            }
            // Too old, or began before the week's last write: read once more.
            self.weeks.invalidate(key).await;
        }
    }

    /// The kept read of a week if there is a current one; never reads the mailbox.
    pub async fn peek(&self, key: &WeekKey) -> Option<Arc<V>> {
        let read = self.weeks.get(key).await?;
        self.current(key, &read).then_some(read.value)
    }

    /// After a write to an event of this week: the kept read is replaced by `change` of it
    /// (`None`: left as it is), keeping when it was read; a read of the week still under
    /// way began before the write and will not be kept.
    pub async fn update(&self, key: &WeekKey, change: impl FnOnce(&V) -> Option<V>) {
        let ttl = self.ttl;
        self.weeks
            .entry_by_ref(key)
            .and_compute_with(|kept| {
                // Numbered inside the week's compute (moka runs them one at a time per
                // key), so concurrent writes to one week number in the order they apply.
                let earlier_write = self.invalidated.get(key);
                let seq = self.seq.fetch_add(1, Ordering::SeqCst);
                self.invalidated.insert(key.clone(), seq);
                self.last_invalidation.fetch_max(seq, Ordering::SeqCst);
                let op = match kept.map(|e| e.into_value()) {
                    // Too old, or begun before an earlier write: not worth keeping.
                    Some(read)
                        if read.read_at.elapsed() >= ttl
                            || earlier_write.is_some_and(|w| read.seq < w) =>
                    {
                        Op::Remove
                    }
                    Some(read) => match change(&read.value) {
                        Some(value) => Op::Put(Read {
                            seq,
                            read_at: read.read_at,
                            value: Arc::new(value),
                        }),
                        None => Op::Remove,
                    },
                    None => Op::Nop,
                };
                std::future::ready(op)
            })
            .await;
    }

    /// Forgets every week, including reads still under way (notes of other instances' writes
    /// may have been missed).
    pub fn invalidate_all(&self) {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst);
        self.all_invalidated.fetch_max(seq, Ordering::SeqCst);
        self.weeks.invalidate_all();
    }

    /// Forgets one week of a calendar (after a write whose outcome is unknown), including
    /// a read of it still under way.
    pub async fn invalidate_week(&self, key: &WeekKey) {
        let key = key.clone();
        let seq = self.seq.fetch_add(1, Ordering::SeqCst);
        self.invalidated.insert(key.clone(), seq);
        self.last_invalidation.fetch_max(seq, Ordering::SeqCst);
        self.weeks.invalidate(&key).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn monday() -> chrono::NaiveDate {
        chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()
    }

    #[tokio::test]
    async fn concurrent_reads_share_one_fetch_and_writes_invalidate() {
        let cache: Arc<WeekCache<Vec<u8>>> = Arc::new(WeekCache::new(Duration::from_secs(60)));
        let calls = Arc::new(AtomicUsize::new(0));
        let key: WeekKey = ("Borgerservice".into(), monday());
        // Every reader waits on the one fetch, which is let go only after all have asked.
        let (go, gate) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (cache, calls, key, gate) =
                (cache.clone(), calls.clone(), key.clone(), gate.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_fetch(&key, || {
                        let (calls, mut gate) = (calls.clone(), gate.clone());
                        async move {
                            calls.fetch_add(1, Ordering::SeqCst);
                            let _ = gate.wait_for(|open| *open).await;
                            Ok::<_, ()>(vec![])
                        }
                    })
                    .await
            }));
        }
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        go.send(true).unwrap();
        for t in tasks {
            assert!(t.await.unwrap().is_ok());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let fetch = || {
            let calls = calls.clone();
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok::<_, ()>(vec![])
            }
        };
        cache.invalidate_week(&key).await;
        let _ = cache.get_or_fetch(&key, fetch).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // Forgetting another week leaves this one; forgetting this one does not.
        cache
            .invalidate_week(&(key.0.clone(), key.1 + chrono::Days::new(7)))
            .await;
        let _ = cache.get_or_fetch(&key, fetch).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        cache.invalidate_week(&key).await;
        let _ = cache.get_or_fetch(&key, fetch).await;
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn failures_are_not_kept() {
        let cache: WeekCache<Vec<u8>> = WeekCache::new(Duration::from_secs(60));
        let key: WeekKey = ("c".into(), monday());
        let r = cache
            .get_or_fetch(&key, || async { Err::<Vec<u8>, _>("down") })
            .await;
        assert!(r.is_err());
        let r = cache
            .get_or_fetch(&key, || async { Ok::<_, &str>(vec![]) })
            .await;
        assert!(r.is_ok());
    }

    /// A read under way when its week is written to finishes for those who waited, but is
    /// not kept: the next reader reads again.
    #[tokio::test]
    async fn a_read_that_began_before_a_write_is_not_kept() {
        let cache: Arc<WeekCache<Vec<u8>>> = Arc::new(WeekCache::new(Duration::from_secs(60)));
        let calls = Arc::new(AtomicUsize::new(0));
        let key: WeekKey = ("c".into(), monday());
        let (started_tx, started) = tokio::sync::oneshot::channel::<()>();
        let (finish, finish_rx) = tokio::sync::oneshot::channel::<()>();
        let slow = {
            let (cache, key) = (cache.clone(), key.clone());
            let started_tx = std::sync::Mutex::new(Some(started_tx));
            let finish_rx = std::sync::Mutex::new(Some(finish_rx));
            let calls = calls.clone();
            tokio::spawn(async move {
                cache
                    .get_or_fetch(&key, || {
                        calls.fetch_add(1, Ordering::SeqCst);
                        let started = started_tx.lock().unwrap().take();
                        let finish = finish_rx.lock().unwrap().take();
                        async move {
                            if let Some(s) = started {
                                let _ = s.send(());
                            }
                            if let Some(f) = finish {
                                let _ = f.await;
                            }
                            Ok::<_, ()>(vec![])
                        }
                    })
                    .await
            })
        };
        started.await.unwrap();
        cache.invalidate_week(&key).await;
        finish.send(()).unwrap();
        // The waiting reader got its answer (read once more, since it began before the write).
        assert!(slow.await.unwrap().is_ok());
        let before = calls.load(Ordering::SeqCst);
        assert_eq!(
            before, 2,
            "the read that began before the write is read again"
        );
        let fetch = || {
            let calls = calls.clone();
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok::<_, ()>(vec![])
            }
        };
        // The fresh read is kept.
        let _ = cache.get_or_fetch(&key, fetch).await;
        assert_eq!(calls.load(Ordering::SeqCst), before);
    }

    fn counting(
        calls: &Arc<AtomicUsize>,
        value: u8,
    ) -> impl Fn() -> std::future::Ready<Result<Vec<u8>, ()>> {
        let calls = calls.clone();
        move || {
            calls.fetch_add(1, Ordering::SeqCst);
            std::future::ready(Ok(vec![value]))
        }
    }

    /// A write updates the kept read in place: no new read, the change shows at once, and the
    /// read still ends one time to live after the mailbox was read.
    #[tokio::test(start_paused = true)]
    async fn a_write_updates_the_kept_read_until_its_own_time_to_live_ends() {
        let cache: WeekCache<Vec<u8>> = WeekCache::new(Duration::from_secs(10));
        let calls = Arc::new(AtomicUsize::new(0));
        let key: WeekKey = ("c".into(), monday());
        assert_eq!(
            *cache.get_or_fetch(&key, counting(&calls, 1)).await.unwrap(),
            vec![1]
        );
        tokio::time::advance(Duration::from_secs(6)).await;
        cache.update(&key, |v| Some(vec![v[0], 2])).await;
        assert_eq!(
            *cache.get_or_fetch(&key, counting(&calls, 9)).await.unwrap(),
            vec![1, 2]
        );
        assert_eq!(*cache.peek(&key).await.unwrap(), vec![1, 2]);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Ten seconds after the read (not after the write) it is read again.
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(cache.peek(&key).await.is_none());
        assert_eq!(
            *cache.get_or_fetch(&key, counting(&calls, 3)).await.unwrap(),
            vec![3]
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // Nothing kept, nothing to update: the next reader reads.
        let other: WeekKey = ("c".into(), monday() + chrono::Days::new(7));
        cache.update(&other, |v| Some(v.clone())).await;
        assert!(cache.peek(&other).await.is_none());
    }

    /// A read begun before a write and kept after it is not made current by a later write.
    #[tokio::test]
    async fn a_write_does_not_bless_a_read_that_missed_an_earlier_write() {
        let cache: WeekCache<Vec<u8>> = WeekCache::new(Duration::from_secs(60));
        let calls = Arc::new(AtomicUsize::new(0));
        let key: WeekKey = ("c".into(), monday());
        // A read that began (seq taken) before a write and landed after it.
        let _ = cache.get_or_fetch(&key, counting(&calls, 1)).await;
        cache.invalidate_week(&key).await;
        let stale_seq = 0;
        cache
            .weeks
            .insert(
                key.clone(),
                Read {
                    seq: stale_seq,
                    read_at: Instant::now(),
                    value: Arc::new(vec![1]),
                },
            )
            .await;
        cache.update(&key, |v| Some(vec![v[0], 2])).await;
        assert!(cache.peek(&key).await.is_none());
        assert_eq!(
            *cache.get_or_fetch(&key, counting(&calls, 5)).await.unwrap(),
            vec![5]
        );
    }
}
