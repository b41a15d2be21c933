//! The form's backend hears of its bookings: with `[[forms]] webhook_url`, Booket POSTs a
//! signed event (`booking.created`, `booking.cancelled`, `booking.moved`) as a compact JWS
//! (`Content-Type: application/jose`; the receipts' key, typed `booket-event+jwt`; the
//! receiver verifies it with `/.well-known/jwks.json`, as a receipt). Sent by the instance
//! that did what it tells of, after the citizen's answer, from a task of its own: a
//! receiver that is slow or down never holds up or undoes a booking. Tried again with
//! exponential back-off (backon) on anything but a 2xx answer, a few times; the outcome is
//! in `booket_webhooks_total` and the log (which names the form, never the URL: it may
//! carry the receiver's own token).

use super::Booket;
use crate::receipts::EventClaims;
use futures::future::BoxFuture;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How the retries wait (tests inject one that does not).
pub type Sleeper = Arc<dyn Fn(Duration) -> BoxFuture<'static, ()> + Send + Sync>;

/// Tries per event, and the first wait between them (doubling, at most a minute).
const TRIES: usize = 6;
const FIRST_WAIT: Duration = Duration::from_secs(2);
const LONGEST_WAIT: Duration = Duration::from_secs(60);
/// One delivery attempt, answer included.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) struct Webhooks {
    http: reqwest::Client,
    sleeper: RwLock<Sleeper>,
}

impl Default for Webhooks {
    fn default() -> Self {
        Webhooks {
            http: reqwest::Client::builder()
                .timeout(ATTEMPT_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("Booket/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default(),
            sleeper: RwLock::new(Arc::new(|d| Box::pin(tokio::time::sleep(d)))),
        }
    }
}

/// What happened to a booking, for its form's webhook.
pub(super) struct Happened<'a> {
    pub kind: &'static str,
    pub form: &'a str,
    pub element: &'a str,
    pub calendar: &'a str,
    pub booking: String,
    /// For `booking.moved`: the booking it replaced.
    pub previous: Option<String>,
    pub start: chrono::DateTime<chrono::FixedOffset>,
    pub end: chrono::DateTime<chrono::FixedOffset>,
}

impl Booket {
    /// Replaces how webhook retries wait (tests).
    pub fn set_webhook_sleeper(&self, sleeper: Sleeper) {
        if let Ok(mut s) = self.webhooks.sleeper.write() {
            *s = sleeper;
        }
    }

    /// Sends `what` to its form's webhook, if it has one, from a task of its own.
    pub(super) fn announce(&self, what: Happened<'_>) {
        let Some(url) = self
            .config
            .forms
            .iter()
            .find(|f| f.id == what.form)
            .and_then(|f| f.webhook_url.clone())
        else {
            return;
        };
        let Some(signer) = &self.receipt_signer else {
            return;
        };
        let Some(jws) = signer.sign_event(&EventClaims {
            iss: String::new(),
            aud: what.form.to_owned(),
            iat: (self.clock)().timestamp(),
            jti: super::hold::new_token(),
            kind: what.kind.to_owned(),
            booking: what.booking,
            previous: what.previous,
            element: what.element.to_owned(),
            calendar: what.calendar.to_owned(),
            start: what.start.to_rfc3339(),
            end: what.end.to_rfc3339(),
        }) else {
            return;
        };
        let http = self.webhooks.http.clone();
        let sleeper = self
            .webhooks
            .sleeper
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|_| Arc::new(|d| Box::pin(tokio::time::sleep(d))));
        let metrics = self.metrics.clone();
        let form = what.form.to_owned();
        let kind = what.kind;
        tokio::spawn(deliver(Delivery {
            http,
            url,
            jws,
            sleeper,
            metrics,
            form,
            kind,
        }));
    }
}

/// One event on its way.
struct Delivery {
    http: reqwest::Client,
    url: url::Url,
    jws: String,
    sleeper: Sleeper,
    metrics: crate::metrics::Metrics,
    form: String,
    kind: &'static str,
}

/// One POST of the event: `Ok` for a 2xx answer; otherwise why not (no URL, no body).
async fn post(http: reqwest::Client, url: url::Url, jws: String) -> Result<(), String> {
    let res = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/jose")
        .body(jws)
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                "no answer in time".to_string()
            } else {
                "no connection".to_string()
            }
        })?;
    if res.status().is_success() {
        Ok(())
    } else {
        Err(format!("answered {}", res.status().as_u16()))
    }
}

async fn deliver(d: Delivery) {
    use backon::BackoffBuilder;
    // backon's policy; the loop is ours, so the wait goes through the injected sleeper.
    let mut waits = backon::ExponentialBuilder::default()
        .with_min_delay(FIRST_WAIT)
        .with_max_delay(LONGEST_WAIT)
        .with_max_times(TRIES - 1)
        .build();
    let (form, kind) = (&d.form, d.kind);
    loop {
        let why = match post(d.http.clone(), d.url.clone(), d.jws.clone()).await {
            Ok(()) => {
                d.metrics.webhooks.with_label_values(&["delivered"]).inc();
                return;
            }
            Err(why) => why,
        };
        let Some(wait) = waits.next() else {
            d.metrics.webhooks.with_label_values(&["failed"]).inc();
            tracing::error!(%form, kind, "webhook given up after {TRIES} tries ({why}); the booking stands");
            return;
        };
        d.metrics.webhooks.with_label_values(&["retried"]).inc();
        tracing::warn!(%form, kind, "webhook not delivered ({why}); again in {wait:?}");
        (d.sleeper)(wait).await;
    }
}
