//! A request body that must arrive whole by a deadline. A body dripped in one byte at a
//! time would otherwise keep its connection (and its task) as long as the client likes.
//!
//! tower-http's `RequestBodyTimeoutLayer` bounds the wait for each *frame*, so a client
//! sending a byte just inside that wait goes on for ever, and it arms a timer on every poll,
//! which the hot read path measurably felt (web.rs). This one arms a single timer, and only
//! when the body is not already there: the small bodies of citizens' reads, which arrive
//! with their headers, never touch the timer wheel.

use axum::body::{Body, Bytes};
use http_body::Frame;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Sleep;

/// The body did not arrive within its deadline.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyDeadline(Duration);

/// Wraps `body` so that reading it fails once `limit` has passed since it was first found
/// not to be there yet.
pub fn with_deadline(body: Body, limit: Duration) -> Body {
    Body::new(TimedBody {
        inner: body,
        rule: Rule::Deadline(limit),
        sleep: None,
    })
}

/// A minimum transfer rate for one request body (Apache's `mod_reqtimeout` `MinRate`):
/// once [`MinRate::arm`]ed, and after `grace`, the body must keep arriving at `rate` bytes
/// a second on average since it was armed, or reading it fails. It is armed when the
/// server starts to read in earnest (a booking's files, once it has its place), so time
/// the server itself spent — checking the slot, waiting for a place while the client is
/// held back by flow control — is never counted against the client. A timer is armed only
/// while the body waits.
pub struct MinRate {
    grace: Duration,
    rate: u64,
    state: std::sync::Mutex<RateState>,
}

#[derive(Default)]
struct RateState {
    armed: Option<tokio::time::Instant>,
    received: u64,
    slow: bool,
}

impl MinRate {
    pub fn new(grace: Duration, rate: u64) -> std::sync::Arc<MinRate> {
        std::sync::Arc::new(MinRate {
            grace,
            rate: rate.max(1),
            state: Default::default(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, RateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// From now on the rate counts.
    pub fn arm(&self) {
        let mut s = self.state();
        s.armed = Some(tokio::time::Instant::now());
        s.received = 0;
    }

    /// Whether the body was cut off for falling behind.
    pub fn was_too_slow(&self) -> bool {
        self.state().slow
    }

    /// When what has arrived since arming stops being enough (`None` while not armed).
    fn due(&self) -> Option<tokio::time::Instant> {
        let s = self.state();
        s.armed.map(|at| {
            at + self.grace + Duration::from_secs_f64(s.received as f64 / self.rate as f64)
        })
    }

    /// Wraps `body` under this rate.
    pub fn wrap(self: &std::sync::Arc<Self>, body: Body) -> Body {
        Body::new(TimedBody {
            inner: body,
            rule: Rule::MinRate(self.clone()),
            sleep: None,
        })
    }
}

/// The body fell behind its minimum transfer rate.
#[derive(Debug, thiserror::Error)]
#[error("the request body arrived slower than {0} bytes a second")]
pub struct TooSlow(u64);

/// What a [`TimedBody`] holds its client to.
enum Rule {
    /// The whole body within this long of the first frame that was not there.
    Deadline(Duration),
    MinRate(std::sync::Arc<MinRate>),
}

/// A body under a [`Rule`]: one timer, armed only while the body waits.
struct TimedBody {
    inner: Body,
    rule: Rule,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            if let (Rule::MinRate(rate), Some(Ok(f))) = (&this.rule, &frame) {
                if let Some(data) = f.data_ref() {
                    rate.state().received += data.len() as u64;
                }
            }
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let due = match &this.rule {
            // Fixed once armed (a whole-body deadline).
            Rule::Deadline(limit) => match &this.sleep {
                Some(s) => s.deadline(),
                None => tokio::time::Instant::now() + *limit,
            },
            // Moves on with what has arrived; nothing while not armed.
            Rule::MinRate(rate) => match rate.due() {
                Some(due) => due,
                None => return Poll::Pending,
            },
        };
        let sleep = match &mut this.sleep {
            Some(s) => {
                if s.deadline() != due {
                    s.as_mut().reset(due);
                }
                s
            }
            None => this.sleep.insert(Box::pin(tokio::time::sleep_until(due))),
        };
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        Poll::Ready(Some(Err(match &this.rule {
            Rule::Deadline(limit) => BodyDeadline(*limit).into(),
            Rule::MinRate(rate) => {
                rate.state().slow = true;
                TooSlow(rate.rate).into()
            }
        })))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use http_body_util::BodyExt;

    #[tokio::test(start_paused = true)]
    async fn a_body_that_is_there_passes_and_a_dripping_one_is_cut_at_the_deadline() {
        let whole = with_deadline(Body::from("form=demo"), Duration::from_secs(1));
        assert_eq!(whole.collect().await.unwrap().to_bytes(), "form=demo");

        // One byte every 400 ms, for ever: each wait is short, the whole is not.
        let drip = futures::stream::unfold((), |()| async {
            tokio::time::sleep(Duration::from_millis(400)).await;
            Some((Ok::<_, std::io::Error>(Bytes::from_static(b"x")), ()))
        });
        let body = with_deadline(Body::from_stream(drip), Duration::from_secs(2));
        let started = tokio::time::Instant::now();
        let err = body.collect().await.unwrap_err();
        assert!(
            err.to_string().contains("did not arrive within 2s"),
            "{err}"
        );
        assert_eq!(started.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_must_keep_its_minimum_rate_after_the_grace_period() {
        // 1 KB every second: 1,000 B/s, above a 500 B/s minimum — it passes however long.
        let steady = futures::stream::iter(0..30).then(|_| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; 1000]))
        });
        let rate = MinRate::new(Duration::from_secs(10), 500);
        rate.arm();
        let body = rate.wrap(Body::from_stream(steady));
        assert_eq!(body.collect().await.unwrap().to_bytes().len(), 30_000);
        assert!(!rate.was_too_slow());

        // One byte every 2 s: fine within the 10 s grace, cut soon after it.
        let drip = || {
            futures::stream::unfold((), |()| async {
                tokio::time::sleep(Duration::from_secs(2)).await;
                Some((Ok::<_, std::io::Error>(Bytes::from_static(b"x")), ()))
            })
        };
        let rate = MinRate::new(Duration::from_secs(10), 500);
        let mut body = rate.wrap(Body::from_stream(drip()));
        // Not armed yet (the server is busy elsewhere): nothing counts, nothing is cut.
        for _ in 0..20 {
            body.frame().await.unwrap().unwrap();
        }
        assert!(!rate.was_too_slow());
        rate.arm();
        let armed = tokio::time::Instant::now();
        let err = body.collect().await.unwrap_err();
        assert!(err.to_string().contains("slower than 500 bytes"), "{err}");
        assert!(rate.was_too_slow());
        // Due 10 s after arming plus 2 ms for each byte received since (4, at 2, 4, 6
        // and 8 s; the fifth would come at 10 s, the same instant the rule bites).
        let cut = armed.elapsed();
        assert!(
            cut >= Duration::from_secs(10) && cut <= Duration::from_millis(10_010),
            "{cut:?}"
        );
    }
}
