//! The one retry policy of both Exchange backends, for requests, tokens, upload chunks and
//! EWS calls alike (backon): exponential back-off from 0.5 s doubling up to 8 s, at most [`MAX_ATTEMPTS`]
//! tries, the wait Graph, Entra or Exchange asks for with `Retry-After` in place of the back-off, and
//! never a wait that would end past the retry budget. Waits go through the injected
//! [`Timer`], so tests see exactly which waits were chosen.

use super::timer::Timer;
use backon::{ExponentialBuilder, Retryable};
use hyper::header::HeaderValue;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Most tries of one call (the first one included).
pub(crate) const MAX_ATTEMPTS: usize = 6;

/// How one try ended, when it did not succeed.
pub(crate) enum Failure<E> {
    /// Worth another try: after `retry_after` when the answer asked for a wait, else after
    /// the back-off.
    Again {
        error: E,
        retry_after: Option<Duration>,
    },
    /// Not worth another try (a refusal, a lost race, a write that cannot be replayed).
    Final(E),
}

impl<E> Failure<E> {
    fn into_error(self) -> E {
        match self {
            Failure::Again { error, .. } | Failure::Final(error) => error,
        }
    }
}

/// Waiting through the client's timer.
struct TimerSleeper(Arc<dyn Timer>);

impl backon::Sleeper for TimerSleeper {
    type Sleep = futures::future::BoxFuture<'static, ()>;

    fn sleep(&self, dur: Duration) -> Self::Sleep {
        self.0.sleep(dur)
    }
}

/// Runs `attempt` until it succeeds, fails for good, runs out of tries (`max_attempts`), or
/// the next wait would end past `budget` (counted from the first try).
pub(crate) async fn retrying<T, E, F, Fut>(
    timer: &Arc<dyn Timer>,
    budget: Duration,
    max_attempts: usize,
    attempt: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure<E>>>,
{
    let started = timer.now();
    let backoff = ExponentialBuilder::new()
        .with_min_delay(Duration::from_millis(500))
        .with_factor(2.0)
        .with_max_delay(Duration::from_secs(8))
        .with_max_times(max_attempts.saturating_sub(1));
    attempt
        .retry(backoff)
        .sleep(TimerSleeper(timer.clone()))
        .when(|f| matches!(f, Failure::Again { .. }))
        .adjust(|f, backoff| {
            // No back-off left: the tries are used up, whatever the answer asked for.
            let backoff = backoff?;
            let wait = match f {
                Failure::Again {
                    retry_after: Some(asked),
                    ..
                } => *asked,
                _ => backoff,
            };
            let spent = timer.now().saturating_duration_since(started);
            (wait <= budget.saturating_sub(spent)).then_some(wait)
        })
        .await
        .map_err(Failure::into_error)
}

/// `Retry-After` as seconds (integer or fractional, rounded up to the millisecond) or as
/// an HTTP date. Negative, absurd or unreadable values give `None`.
pub fn parse_retry_after(v: Option<&HeaderValue>, now: SystemTime) -> Option<Duration> {
    let s = v?.to_str().ok()?.trim();
    if let Ok(secs) = s.parse::<f64>() {
        if secs.is_finite() && (0.0..=86_400.0).contains(&secs) {
            return Some(Duration::from_millis((secs * 1000.0).ceil() as u64));
        }
        return None;
    }
    let when = httpdate::parse_http_date(s).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::timer::RecordingTimer;
    use std::sync::Mutex;

    /// Runs the policy over a scripted sequence of outcomes; returns the result, the number
    /// of tries and the waits chosen.
    async fn run(
        script: Vec<Result<u32, Failure<&'static str>>>,
        budget: Duration,
    ) -> (Result<u32, &'static str>, usize, Vec<Duration>) {
        let recording = Arc::new(RecordingTimer::default());
        let timer: Arc<dyn Timer> = recording.clone();
        let script = Mutex::new(script.into_iter());
        let tries = Mutex::new(0);
        let result = retrying(&timer, budget, MAX_ATTEMPTS, || {
            *tries.lock().unwrap() += 1;
            let next = script.lock().unwrap().next().expect("script too short");
            async move { next }
        })
        .await;
        let tries = *tries.lock().unwrap();
        (result, tries, recording.take_waits())
    }

    fn again(retry_after: Option<u64>) -> Result<u32, Failure<&'static str>> {
        Err(Failure::Again {
            error: "again",
            retry_after: retry_after.map(Duration::from_secs),
        })
    }

    #[tokio::test]
    async fn back_off_doubles_and_retry_after_replaces_it() {
        let (r, tries, waits) = run(
            vec![again(None), again(None), again(Some(3)), again(None), Ok(7)],
            Duration::from_secs(60),
        )
        .await;
        assert_eq!((r, tries), (Ok(7), 5));
        let ms = |m| Duration::from_millis(m);
        assert_eq!(waits, vec![ms(500), ms(1000), ms(3000), ms(4000)]);
    }

    #[tokio::test]
    async fn back_off_is_capped_at_eight_seconds() {
        let script = (0..MAX_ATTEMPTS).map(|_| again(None)).collect();
        let (r, tries, waits) = run(script, Duration::from_secs(600)).await;
        assert_eq!((r, tries), (Err("again"), MAX_ATTEMPTS));
        let ms = |m| Duration::from_millis(m);
        assert_eq!(waits, vec![ms(500), ms(1000), ms(2000), ms(4000), ms(8000)]);
    }

    #[tokio::test]
    async fn final_failures_are_not_retried() {
        let (r, tries, waits) = run(vec![Err(Failure::Final("no"))], Duration::from_secs(60)).await;
        assert_eq!((r, tries), (Err("no"), 1));
        assert!(waits.is_empty());
    }

    #[tokio::test]
    async fn tries_are_bounded_even_when_the_answer_asks_for_short_waits() {
        let script = (0..MAX_ATTEMPTS).map(|_| again(Some(0))).collect();
        let (r, tries, waits) = run(script, Duration::from_secs(60)).await;
        assert_eq!((r, tries), (Err("again"), MAX_ATTEMPTS));
        assert_eq!(waits.len(), MAX_ATTEMPTS - 1);
    }

    #[tokio::test]
    async fn no_wait_ends_past_the_budget() {
        // 2 s + 2 s fit in 5 s; a third 2 s wait would not.
        let script = (0..MAX_ATTEMPTS).map(|_| again(Some(2))).collect();
        let (r, tries, waits) = run(script, Duration::from_secs(5)).await;
        assert_eq!((r, tries), (Err("again"), 3));
        assert_eq!(waits, vec![Duration::from_secs(2); 2]);
    }

    #[test]
    fn retry_after_integer_fraction_and_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let h = |s: &str| HeaderValue::from_str(s).unwrap();
        assert_eq!(
            parse_retry_after(Some(&h("10")), now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after(Some(&h("2.128")), now),
            Some(Duration::from_millis(2128))
        );
        assert_eq!(
            parse_retry_after(Some(&h("0.0001")), now),
            Some(Duration::from_millis(1))
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(
            parse_retry_after(Some(&h(&date)), now),
            Some(Duration::from_secs(7))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(7));
        assert_eq!(
            parse_retry_after(Some(&h(&past)), now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after(Some(&h("-1")), now), None);
        assert_eq!(parse_retry_after(Some(&h("soon")), now), None);
        assert_eq!(parse_retry_after(None, now), None);
    }
}
