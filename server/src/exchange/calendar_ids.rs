//! Calendar ids by Outlook name, looked up once per backend and kept: concurrent first
//! uses share one lookup. An answer "not found" for a kept id means the calendar was
//! deleted or recreated under the same name, so the id is dropped and the name looked up
//! again, once — the same on Graph and on EWS.

use crate::mailbox::MailboxError;
use std::future::Future;
use std::sync::Arc;

pub struct CalendarIds {
    ids: moka::future::Cache<String, String>,
}

impl Default for CalendarIds {
    fn default() -> Self {
        CalendarIds {
            ids: moka::future::Cache::builder().max_capacity(64).build(),
        }
    }
}

impl CalendarIds {
    /// The id of `calendar`, looked up with `lookup` the first time.
    pub async fn get<F>(&self, calendar: &str, lookup: F) -> Result<String, MailboxError>
    where
        F: Future<Output = Result<String, MailboxError>>,
    {
        self.ids
            .try_get_with_by_ref(calendar, lookup)
            .await
            .map_err(|e: Arc<MailboxError>| (*e).clone())
    }

    /// Runs `op` with the calendar's id; when it answers "not found", looks the calendar up
    /// again and runs `op` once more with the new id.
    pub async fn with_id<T, L, LF, O, OF>(
        &self,
        calendar: &str,
        lookup: L,
        op: O,
    ) -> Result<T, MailboxError>
    where
        L: Fn() -> LF,
        LF: Future<Output = Result<String, MailboxError>>,
        O: Fn(String) -> OF,
        OF: Future<Output = Result<T, MailboxError>>,
    {
        let id = self.get(calendar, lookup()).await?;
        match op(id).await {
            Err(MailboxError::NotFound) => {
                self.ids.invalidate(calendar).await;
                let id = self.get(calendar, lookup()).await?;
                op(id).await
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn a_calendar_not_found_is_looked_up_again_once() {
        let ids = CalendarIds::default();
        let lookups = AtomicUsize::new(0);
        let lookup = || async {
            let n = lookups.fetch_add(1, Ordering::SeqCst);
            Ok(format!("id-{n}"))
        };
        // The first id has gone; the second works.
        let answer = ids
            .with_id("Tider", lookup, |id| async move {
                if id == "id-0" {
                    Err(MailboxError::NotFound)
                } else {
                    Ok(id)
                }
            })
            .await;
        assert_eq!(answer.unwrap(), "id-1");
        assert_eq!(lookups.load(Ordering::SeqCst), 2);
        // Kept from now on.
        let again = ids
            .with_id("Tider", lookup, |id| async move { Ok(id) })
            .await;
        assert_eq!(again.unwrap(), "id-1");
        assert_eq!(lookups.load(Ordering::SeqCst), 2);
        // Gone for good: "not found" after one more look, not a loop.
        let gone = ids
            .with_id("Tider", lookup, |_| async {
                Err::<(), _>(MailboxError::NotFound)
            })
            .await;
        assert!(matches!(gone, Err(MailboxError::NotFound)));
        assert_eq!(lookups.load(Ordering::SeqCst), 3);
    }
}
