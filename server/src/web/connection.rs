//! The service one connection calls.
//!
//! hyper calls a connection's service through `&self`; tower's services are called through
//! `&mut self`. hyper-util's adapter (`TowerToHyperService`) bridges the two by cloning the
//! tower service for every request — for Booket's public stack that is the boxed stack as
//! a whole: a boxed clone, the CORS layer's lists, the request-id maker, then their drop,
//! ~1,500 of a cached read's ~44,000 instructions (bench/instructions.sh: 43,691 → 42,153). A
//! connection runs its requests one after another, so here the connection keeps one copy
//! and calls it for each request when it is ready, as tower's contract asks (`poll_ready`
//! before `call`). A service that is not ready at once is not waited on here: that request
//! gets a clone of its own, driven to readiness and called (`Oneshot`), as the adapter does.

use std::cell::RefCell;
use std::task::{Context, Poll, Waker};
use tower::ServiceExt;

/// One connection's copy of the service (see the module's text).
pub struct PerConnection<S>(RefCell<S>);

impl<S> PerConnection<S> {
    pub fn new(service: S) -> Self {
        PerConnection(RefCell::new(service))
    }
}

impl<S, R> hyper::service::Service<R> for PerConnection<S>
where
    S: tower::Service<R> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures::future::Either<S::Future, tower::util::Oneshot<S, R>>;

    fn call(&self, req: R) -> Self::Future {
        // Never borrowed twice: `call` ends before anything else can call (the futures it
        // returns own what they need), and a RefCell is never shared across threads.
        let mut service = self.0.borrow_mut();
        match service.poll_ready(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(())) => futures::future::Either::Left(service.call(req)),
            // Not ready, or failed to get ready: a clone takes the request and answers as
            // its own readiness says, the way the adapter would have.
            _ => futures::future::Either::Right(service.clone().oneshot(req)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::service::Service as _;
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Counts its clones and its calls; ready only after `pending` polls.
    struct Counting {
        clones: Arc<AtomicUsize>,
        calls: Arc<AtomicUsize>,
        pending: Arc<AtomicUsize>,
    }

    impl Clone for Counting {
        fn clone(&self) -> Self {
            self.clones.fetch_add(1, Ordering::SeqCst);
            Counting {
                clones: self.clones.clone(),
                calls: self.calls.clone(),
                pending: self.pending.clone(),
            }
        }
    }

    impl tower::Service<u32> for Counting {
        type Response = u32;
        type Error = Infallible;
        type Future = std::future::Ready<Result<u32, Infallible>>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            if self
                .pending
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: u32) -> Self::Future {
            self.calls.fetch_add(1, Ordering::SeqCst);
            std::future::ready(Ok(req * 2))
        }
    }

    fn counting(pending: usize) -> (Counting, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let clones = Arc::new(AtomicUsize::new(0));
        let calls = Arc::new(AtomicUsize::new(0));
        let service = Counting {
            clones: clones.clone(),
            calls: calls.clone(),
            pending: Arc::new(AtomicUsize::new(pending)),
        };
        (service, clones, calls)
    }

    #[tokio::test]
    async fn a_ready_service_answers_every_request_without_a_clone() {
        let (service, clones, calls) = counting(0);
        let connection = PerConnection::new(service);
        for n in 1..=5 {
            assert_eq!(connection.call(n).await, Ok(n * 2));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 5);
        assert_eq!(clones.load(Ordering::SeqCst), 0, "cloned per request");
    }

    #[tokio::test]
    async fn a_service_not_ready_answers_through_a_clone_that_waits_for_it() {
        let (service, clones, calls) = counting(2);
        let connection = PerConnection::new(service);
        // The first poll is refused: the clone is polled again until ready, then called.
        assert_eq!(connection.call(7).await, Ok(14));
        assert_eq!(clones.load(Ordering::SeqCst), 1);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Ready again: the connection's own copy answers.
        assert_eq!(connection.call(8).await, Ok(16));
        assert_eq!(clones.load(Ordering::SeqCst), 1);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
