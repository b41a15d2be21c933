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
    Body::new(DeadlineBody {
        inner: body,
        limit,
        sleep: None,
    })
}

struct DeadlineBody {
    inner: Body,
    limit: Duration,
    /// Armed at the first frame that was not ready; never reset (a whole-body deadline).
    sleep: Option<Pin<Box<Sleep>>>,
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let limit = this.limit;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(BodyDeadline(limit).into()))),
            Poll::Pending => Poll::Pending,
        }
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
}
