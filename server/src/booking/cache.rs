//! Week reads kept briefly (moka: time to live, capacity, and identical concurrent reads
//! coalesced into one call to the mailbox).
//!
//! A read that began before a write to its week must not be kept as if it came after: moka
//! would insert it when it finishes, after the write's invalidation. So every read and every
//! invalidation takes a number from one sequence, invalidations are remembered for one time
//! to live, and a read numbered before its week's last invalidation is read again.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Key: (calendar display name, Monday of the week).
pub type WeekKey = (String, chrono::NaiveDate);

/// Most weeks kept (every calendar together).
const CAPACITY: u64 = 4096;

struct Read<V> {
    /// Taken from the sequence when the read began.
    seq: u64,
    value: Arc<V>,
}

impl<V> Clone for Read<V> {
    fn clone(&self) -> Self {
        Read {
            seq: self.seq,
            value: self.value.clone(),
        }
    }
}

/// Week reads of type `V` (the events and what was made from them).
pub struct WeekCache<V> {
    weeks: moka::future::Cache<WeekKey, Read<V>>,
    /// The sequence number of each week's last invalidation, for one time to live.
    invalidated: moka::sync::Cache<WeekKey, u64>,
    /// The number of the last invalidation of any week: a read numbered after it needs no
    /// look-up (the hot path while nobody writes).
    last_invalidation: AtomicU64,
    seq: AtomicU64,
}

impl<V: Send + Sync + 'static> WeekCache<V> {
    pub fn new(ttl: Duration) -> Self {
        // A zero time to live (caching off) is one nanosecond: moka wants a positive one.
        let ttl = ttl.max(Duration::from_nanos(1));
        WeekCache {
            weeks: moka::future::Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(ttl)
                .build(),
            invalidated: moka::sync::Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(ttl)
                .build(),
            last_invalidation: AtomicU64::new(0),
            seq: AtomicU64::new(1),
        }
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
            let read = match self.weeks.get(key).await {
                Some(read) => read,
                None => self
                    .weeks
                    .try_get_with_by_ref(key, async {
                        let seq = self.seq.fetch_add(1, Ordering::SeqCst);
                        fetch().await.map(|value| Read {
                            seq,
                            value: Arc::new(value),
                        })
                    })
                    .await
                    .map_err(|e| (*e).clone())?,
            };
            let stale = read.seq < self.last_invalidation.load(Ordering::SeqCst)
                && self
                    .invalidated
                    .get(key)
                    .is_some_and(|written| read.seq < written);
            if !stale || tries > 1 {
                return Ok(read.value);
            }
            // Began before the week's last write: not kept, read once more.
            self.weeks.invalidate(key).await;
        }
    }

    /// Forgets one week of a calendar (after a write to an event in it), including a read
    /// of it still under way.
    pub async fn invalidate_week(&self, calendar: &str, monday: chrono::NaiveDate) {
        let key = (calendar.to_owned(), monday);
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
        cache.invalidate_week("Borgerservice", key.1).await;
        let _ = cache.get_or_fetch(&key, fetch).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // Forgetting another week leaves this one; forgetting this one does not.
        cache
            .invalidate_week("Borgerservice", key.1 + chrono::Days::new(7))
            .await;
        let _ = cache.get_or_fetch(&key, fetch).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        cache.invalidate_week("Borgerservice", key.1).await;
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
        cache.invalidate_week("c", key.1).await;
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
}
