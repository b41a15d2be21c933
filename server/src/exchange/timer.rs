//! The Graph client's sense of time: when it is, and waiting. Injected so tests can see
//! exactly which waits the client chose (Retry-After honoured, back-off, budget) without
//! waiting them or bounding the wall clock.

use futures::future::BoxFuture;
use std::time::Duration;
use tokio::time::Instant;

pub trait Timer: Send + Sync + 'static {
    fn now(&self) -> Instant;
    fn sleep(&self, wait: Duration) -> BoxFuture<'static, ()>;
}

/// Real time (tokio's clock).
pub struct TokioTimer;

impl Timer for TokioTimer {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep(&self, wait: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(wait))
    }
}

/// A clock that moves only when the client waits, and remembers each wait (tests).
pub struct RecordingTimer {
    now: std::sync::Mutex<Instant>,
    waits: std::sync::Mutex<Vec<Duration>>,
}

impl Default for RecordingTimer {
    fn default() -> Self {
        RecordingTimer {
            now: std::sync::Mutex::new(Instant::now()),
            waits: std::sync::Mutex::new(Vec::new()),
        }
    }
}

impl RecordingTimer {
    /// The waits so far, and forgets them.
    pub fn take_waits(&self) -> Vec<Duration> {
        std::mem::take(&mut *self.waits.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Moves the clock on without a wait (e.g. past a token's lifetime).
    pub fn advance(&self, by: Duration) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }
}

impl Timer for RecordingTimer {
    fn now(&self) -> Instant {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sleep(&self, wait: Duration) -> BoxFuture<'static, ()> {
        self.waits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(wait);
        self.advance(wait);
        Box::pin(std::future::ready(()))
    }
}
