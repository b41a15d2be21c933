//! Week views cached briefly, with identical concurrent reads coalesced into one Graph call.

use crate::graph::{wire::Event, GraphError};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OnceCell;
use tokio::time::Instant;

type Cell = Arc<OnceCell<Result<Arc<Vec<Event>>, GraphError>>>;

/// Key: (calendar display name, Monday of the week).
pub type WeekKey = (String, chrono::NaiveDate);

pub struct WeekCache {
    ttl: Duration,
    entries: Mutex<HashMap<WeekKey, (Instant, Cell)>>,
}

impl WeekCache {
    pub fn new(ttl: Duration) -> Self {
        WeekCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The cached events of a week, or the result of `fetch` shared by every caller that
    /// asks while it runs. Failures are not kept beyond the callers already waiting.
    pub async fn get_or_fetch<F, Fut>(
        &self,
        key: WeekKey,
        fetch: F,
    ) -> Result<Arc<Vec<Event>>, GraphError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<Event>, GraphError>>,
    {
        let cell = {
            let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            // Keep the map small: drop stale entries as we go.
            if entries.len() > 256 {
                entries.retain(|_, (at, _)| now.duration_since(*at) < self.ttl);
            }
            match entries.get(&key) {
                Some((at, cell)) if now.duration_since(*at) < self.ttl => cell.clone(),
                _ => {
                    let cell: Cell = Arc::new(OnceCell::new());
                    entries.insert(key.clone(), (now, cell.clone()));
                    cell
                }
            }
        };
        let result = cell
            .get_or_init(|| async { fetch().await.map(Arc::new) })
            .await
            .clone();
        if result.is_err() {
            let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            if entries
                .get(&key)
                .is_some_and(|(_, c)| Arc::ptr_eq(c, &cell))
            {
                entries.remove(&key);
            }
        }
        result
    }

    /// Forgets one week of a calendar (after a write to an event in it).
    pub fn invalidate_week(&self, calendar: &str, monday: chrono::NaiveDate) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|(c, m), _| c != calendar || *m != monday);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_reads_share_one_fetch_and_writes_invalidate() {
        let cache = Arc::new(WeekCache::new(Duration::from_secs(60)));
        let calls = Arc::new(AtomicUsize::new(0));
        let key: WeekKey = (
            "Borgerservice".into(),
            chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
        );
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (cache, calls, key) = (cache.clone(), calls.clone(), key.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_fetch(key, || async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok(vec![])
                    })
                    .await
            }));
        }
        for t in tasks {
            assert!(t.await.unwrap().is_ok());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        cache.invalidate_week("Borgerservice", key.1);
        let _ = cache
            .get_or_fetch(key.clone(), || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok(vec![])
            })
            .await;
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // Forgetting another week leaves this one; forgetting this one does not.
        let next = key.1 + chrono::Days::new(7);
        cache.invalidate_week("Borgerservice", next);
        let fetch = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(vec![])
        };
        let _ = cache.get_or_fetch(key.clone(), fetch).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        cache.invalidate_week("Borgerservice", key.1);
        let _ = cache.get_or_fetch(key, fetch).await;
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn failures_are_not_cached() {
        let cache = WeekCache::new(Duration::from_secs(60));
        let key: WeekKey = (
            "c".into(),
            chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
        );
        let r = cache
            .get_or_fetch(key.clone(), || async {
                Err(GraphError::Unavailable { status: 503 })
            })
            .await;
        assert!(r.is_err());
        let r = cache.get_or_fetch(key, || async { Ok(vec![]) }).await;
        assert!(r.is_ok());
    }
}
