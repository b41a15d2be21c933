//! Prometheus metrics, served at `/metrics`: requests by function and outcome, Graph and EWS
//! calls by status, throttles and retries, EWS logons, holds and bookings by outcome,
//! week-cache hits.

use prometheus::{Encoder, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub graph_calls: IntCounterVec,
    pub graph_throttled: IntCounter,
    pub graph_retries: IntCounter,
    pub ews_calls: IntCounterVec,
    /// ErrorServerBusy / ErrorExceededConnectionCount answers (Exchange's throttling).
    pub ews_busy: IntCounter,
    pub ews_retries: IntCounter,
    /// NTLM logons: one per new connection; a rising rate means connections are lost.
    pub ews_logons: IntCounter,
    pub holds: IntCounterVec,
    pub bookings: IntCounterVec,
    /// Mails to citizens after the booking (reminders, cancellations) by kind and result.
    pub mails: IntCounterVec,
    /// Webhook deliveries by result (delivered, retried, failed).
    pub webhooks: IntCounterVec,
    /// Lapsed holds the last sweep could not give back (files not removable, or the write
    /// failed): each keeps a slot away from citizens, possibly with someone's documents.
    pub holds_stuck: IntGauge,
    /// Writes refused for want of a lease (the shared store unreachable, busy, starting, or
    /// a lease with too little left).
    pub store_refusals: IntCounterVec,
    pub week_cache: IntCounterVec,
    pub week_answers: IntCounterVec,
    /// Children of the two week counters, resolved once: they count every week read.
    pub week_cache_hit: IntCounter,
    pub week_cache_miss: IntCounter,
    /// Week reads answered from the last good read (the calendar's Graph read ceiling).
    pub week_cache_stale: IntCounter,
    pub week_answer_hit: IntCounter,
    pub week_answer_miss: IntCounter,
    /// Week answers kept with their gzip, each compressed once for every browser that
    /// reads it before it changes.
    pub week_answer_gzipped: IntCounter,
    /// Connections open on the public listener.
    pub connections_open: IntGauge,
    /// Connections refused at once because `max_connections` were open.
    pub connections_refused: IntCounter,
    /// Bookings reading their files from the client now (upload places in use).
    pub upload_places_reading: IntGauge,
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(c.clone()))
        .expect("registered once");
    c
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("valid metric");
    registry
        .register(Box::new(c.clone()))
        .expect("registered once");
    c
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("valid metric");
    registry
        .register(Box::new(g.clone()))
        .expect("registered once");
    g
}

impl Default for Metrics {
    fn default() -> Self {
        let r = Registry::new();
        let week_cache = counter_vec(
            &r,
            "booket_week_cache_total",
            "Week reads by cache result.",
            &["result"],
        );
        let week_answers = counter_vec(
            &r,
            "booket_week_answers_total",
            "Week answers without a hold: served as kept JSON (hit) or built (miss).",
            &["result"],
        );
        Metrics {
            requests: counter_vec(
                &r,
                "booket_requests_total",
                "Server-function calls by function and HTTP status.",
                &["function", "status"],
            ),
            graph_calls: counter_vec(
                &r,
                "booket_graph_requests_total",
                "Graph requests by HTTP status (0: no answer).",
                &["status"],
            ),
            graph_throttled: counter(&r, "booket_graph_throttled_total", "Graph answers 429."),
            graph_retries: counter(
                &r,
                "booket_graph_retries_total",
                "Graph requests sent again after 429/503/504 or a transport error.",
            ),
            ews_calls: counter_vec(
                &r,
                "booket_ews_requests_total",
                "EWS requests by HTTP status (0: no answer).",
                &["status"],
            ),
            ews_busy: counter(
                &r,
                "booket_ews_busy_total",
                "EWS answers ErrorServerBusy or ErrorExceededConnectionCount.",
            ),
            ews_retries: counter(
                &r,
                "booket_ews_retries_total",
                "EWS requests sent again after a busy answer, 503/504 or a transport error.",
            ),
            ews_logons: counter(
                &r,
                "booket_ews_logons_total",
                "NTLM logons (each authenticates one new connection).",
            ),
            holds: counter_vec(
                &r,
                "booket_holds_total",
                "Reservations by outcome.",
                &["outcome"],
            ),
            bookings: counter_vec(
                &r,
                "booket_bookings_total",
                "Bookings by outcome.",
                &["outcome"],
            ),
            mails: counter_vec(
                &r,
                "booket_mails_total",
                "Reminder and cancellation mails by kind and result (sent, failed).",
                &["kind", "result"],
            ),
            webhooks: counter_vec(
                &r,
                "booket_webhooks_total",
                "Booking events for forms' webhooks: delivered, retried (one per retry), failed (given up).",
                &["result"],
            ),
            store_refusals: counter_vec(
                &r,
                "booket_store_refusals_total",
                "Writes refused for want of a lease on the event, by reason.",
                &["reason"],
            ),
            holds_stuck: gauge(
                &r,
                "booket_holds_stuck",
                "Lapsed holds the last sweep could not give back.",
            ),
            connections_open: gauge(
                &r,
                "booket_connections_open",
                "Connections open on the public listener.",
            ),
            upload_places_reading: gauge(
                &r,
                "booket_upload_places_reading",
                "Bookings reading their files from the client now.",
            ),
            connections_refused: counter(
                &r,
                "booket_connections_refused_total",
                "Connections refused at once because max_connections were open.",
            ),
            week_cache_hit: week_cache.with_label_values(&["hit"]),
            week_cache_miss: week_cache.with_label_values(&["miss"]),
            week_cache_stale: week_cache.with_label_values(&["stale"]),
            week_answer_hit: week_answers.with_label_values(&["hit"]),
            week_answer_miss: week_answers.with_label_values(&["miss"]),
            week_answer_gzipped: counter(
                &r,
                "booket_week_answers_gzipped_total",
                "Week answers kept with their gzip (compressed once, sent to every browser that reads them).",
            ),
            week_cache,
            week_answers,
            registry: r,
        }
    }
}

impl Metrics {
    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .is_err()
        {
            return String::new();
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The label for an outcome of the booking API.
pub fn outcome<T>(r: &Result<T, app::domain::BookingError>) -> &'static str {
    use app::domain::BookingError as E;
    match r {
        Ok(_) => "ok",
        Err(E::Taken) => "taken",
        Err(E::TooSoon | E::Past | E::OutsideWindow) => "refused",
        Err(E::Unavailable) => "unavailable",
        Err(_) => "invalid",
    }
}
