//! The backend behind the server functions: looks elements up in configuration, reads
//! weeks through the cache, classifies slots with the shared rules, and books with a
//! conditional write. Every rule is re-checked here against the server's clock.

mod cache;
mod confirm;
pub mod documents;
mod files;
pub mod hold;
mod limits;
mod locks;
mod rules;
mod session;
pub mod slot_id;
mod sweep;
mod write;

use crate::config::{CalendarConfig, Config, ElementConfig};
use crate::graph::{wire, GraphClient, GraphError};
use app::api::{Backend, BookRequest, ReserveRequest};
use app::domain::rules::{classify, is_shown, marker_of};
use app::domain::week::{monday_of, shown_days};
use app::domain::{BookingError, ElementPublic, Hold, Receipt, SlotState, SlotView, WeekView};
use bytes::Bytes;
use cache::WeekCache;
use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use locks::KeyedLocks;
use slot_id::SlotRef;
pub use slot_id::SlotSigner;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The server's clock; injectable so tests can pin "now".
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

/// How far ahead a citizen may look.
const MAX_WEEKS_AHEAD: i64 = 52;
/// How many weeks "next free time" searches.
const NEXT_FREE_SEARCH_WEEKS: u64 = 8;
/// How long a booking receipt answers retries with the same idempotency key.
const RECEIPT_TTL: Duration = Duration::from_secs(24 * 3600);
const RECEIPT_CAP: usize = 10_000;

pub struct Booket {
    config: Arc<Config>,
    graph: Arc<GraphClient>,
    signer: SlotSigner,
    cache: WeekCache,
    locks: KeyedLocks,
    receipts: Mutex<HashMap<String, (Instant, String, Receipt)>>,
    calendar_ids: Mutex<HashMap<String, String>>,
    clock: Clock,
    /// Elements beyond the configuration (the demo designer's drafts).
    extra_elements: Option<Arc<dyn ElementSource>>,
    metrics: crate::metrics::Metrics,
    prepared: Mutex<HashMap<(String, String, NaiveDate), PreparedWeek>>,
    answers: Mutex<HashMap<(String, String, NaiveDate), CachedAnswer>>,
    /// Holds this process wrote, per token and client.
    holds: limits::HoldTracker,
    /// Confirmation mails sent today, per recipient and client.
    mails: limits::DailyCounter,
    /// Graph reads per calendar in the current minute of the clock: (minute, count).
    reads: Mutex<HashMap<String, (i64, u32)>>,
    /// The last week read from Graph per (calendar, Monday): served, marked stale, when
    /// the calendar's read ceiling is reached.
    last_good: Mutex<HashMap<cache::WeekKey, Arc<Vec<wire::Event>>>>,
    /// Signs booked receipts (absent when no key is configured).
    receipt_signer: Option<crate::receipts::ReceiptSigner>,
}

/// Most weeks kept as last good reads per calendar (a year and a bit).
const LAST_GOOD_WEEKS: usize = 60;

/// A week answer as JSON, kept while the week read it came from is current and no slot's
/// state can have changed with the clock.
struct CachedAnswer {
    events: Arc<Vec<wire::Event>>,
    until: DateTime<Utc>,
    json: Bytes,
}

/// A week's prepared slots and the cached read they were made from.
type PreparedWeek = (Arc<Vec<wire::Event>>, Arc<Vec<PreparedSlot>>);

/// A shown slot with what does not change between requests.
struct PreparedSlot {
    id: String,
    start: DateTime<chrono::FixedOffset>,
    end: DateTime<chrono::FixedOffset>,
    marker: Option<app::domain::rules::Marker>,
    hold: Option<hold::HoldInfo>,
}

/// Elements served beside the configured ones (the demo's designer drafts): the core asks
/// it for a form/element it does not know.
pub trait ElementSource: Send + Sync {
    fn element(&self, form: &str, element: &str) -> Option<ElementConfig>;
}

impl Booket {
    pub fn new(
        config: Arc<Config>,
        graph: Arc<GraphClient>,
        signer: SlotSigner,
        clock: Clock,
        metrics: crate::metrics::Metrics,
    ) -> Self {
        Booket {
            cache: WeekCache::new(config.exchange.cache_ttl),
            config,
            graph,
            signer,
            locks: KeyedLocks::default(),
            receipts: Mutex::new(HashMap::new()),
            calendar_ids: Mutex::new(HashMap::new()),
            clock,
            extra_elements: None,
            metrics,
            prepared: Mutex::new(HashMap::new()),
            answers: Mutex::new(HashMap::new()),
            holds: limits::HoldTracker::default(),
            mails: limits::DailyCounter::default(),
            reads: Mutex::new(HashMap::new()),
            last_good: Mutex::new(HashMap::new()),
            receipt_signer: None,
        }
    }

    /// Signs booked receipts with this signer.
    pub fn with_receipt_signer(mut self, signer: crate::receipts::ReceiptSigner) -> Self {
        self.receipt_signer = Some(signer);
        self
    }

    pub fn receipt_signer(&self) -> Option<&crate::receipts::ReceiptSigner> {
        self.receipt_signer.as_ref()
    }

    /// The backend's clock (injected in tests).
    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// Counts one Graph read of `cal` against its ceiling for this minute; false when the
    /// ceiling is reached (nothing may be read from Graph until the next minute).
    fn take_read(&self, cal: &CalendarConfig) -> bool {
        let minute = (self.clock)().timestamp().div_euclid(60);
        let mut reads = self.reads.lock().unwrap_or_else(|e| e.into_inner());
        let entry = reads.entry(cal.name.clone()).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        if entry.1 >= self.config.exchange.max_graph_reads_per_minute {
            return false;
        }
        entry.1 += 1;
        true
    }

    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    pub fn graph(&self) -> &GraphClient {
        &self.graph
    }

    /// Resolves every configured Outlook calendar name to its id; failures are logged with a
    /// hint and retried on first use, so a passing outage does not stop the server.
    pub async fn resolve_calendars(&self) {
        for cal in &self.config.calendars {
            match self.calendar_id(cal).await {
                Ok(_) => tracing::info!(calendar = %cal.name, "Outlook calendar resolved"),
                Err(e) => {
                    tracing::error!(calendar = %cal.name, "cannot resolve Outlook calendar: {e}")
                }
            }
        }
    }

    /// Whether this instance can serve bookings: a token for every calendar's app and every
    /// calendar resolved (cached after the first success, so a probe costs no Graph call
    /// while the token lives). One line per calendar, without secrets or Graph's wording.
    pub async fn readiness(&self) -> (bool, Vec<serde_json::Value>) {
        let mut ready = true;
        let mut lines = Vec::new();
        for cal in &self.config.calendars {
            let problem = match self.graph.token(&cal.credentials()).await {
                Err(e) => Some(if e.is_transient() {
                    "token endpoint unreachable"
                } else {
                    "token refused (run booket check)"
                }),
                Ok(_) => match self.calendar_id(cal).await {
                    Ok(_) => None,
                    Err(e) if e.is_transient() => Some("Graph unreachable"),
                    Err(_) => Some("calendar not resolved (run booket check)"),
                },
            };
            ready &= problem.is_none();
            lines.push(serde_json::json!({
                "calendar": cal.name,
                "ok": problem.is_none(),
                "problem": problem,
            }));
        }
        (ready, lines)
    }

    async fn calendar_id(&self, cal: &CalendarConfig) -> Result<String, GraphError> {
        if let Some(id) = self.lock_ids().get(&cal.name) {
            return Ok(id.clone());
        }
        let id = self
            .graph
            .resolve_calendar(&cal.credentials(), &cal.owner, &cal.outlook_calendar)
            .await?;
        self.lock_ids().insert(cal.name.clone(), id.clone());
        Ok(id)
    }

    fn lock_answers(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(String, String, NaiveDate), CachedAnswer>> {
        self.answers.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_ids(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.calendar_ids.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The element (from configuration, or from the extra source) and its calendar.
    fn lookup(
        &self,
        form: &str,
        element: &str,
    ) -> Result<(Cow<'_, ElementConfig>, &CalendarConfig), BookingError> {
        let el = match self.config.element(form, element) {
            Some((_, el)) => Cow::Borrowed(el),
            None => Cow::Owned(
                self.extra_elements
                    .as_ref()
                    .and_then(|source| source.element(form, element))
                    .ok_or(BookingError::UnknownElement)?,
            ),
        };
        let cal = self
            .config
            .calendar(&el.calendar)
            .ok_or(BookingError::Internal)?;
        Ok((el, cal))
    }

    /// Serves the elements of `source` beside the configured ones.
    pub fn with_element_source(mut self, source: Arc<dyn ElementSource>) -> Self {
        self.extra_elements = Some(source);
        self
    }

    /// The events of one local week, from the cache or Graph; `true` when they are the last
    /// good read served because the calendar's Graph read ceiling is reached (stale: the
    /// write path's own read decides any booking).
    async fn week_events(
        &self,
        cal: &CalendarConfig,
        monday: NaiveDate,
    ) -> Result<(Arc<Vec<wire::Event>>, bool), GraphError> {
        let fetched = std::sync::atomic::AtomicBool::new(false);
        let key = (cal.name.clone(), monday);
        let result = self
            .cache
            .get_or_fetch(key.clone(), || async {
                if !self.take_read(cal) {
                    return Err(GraphError::ReadCeiling);
                }
                fetched.store(true, std::sync::atomic::Ordering::Relaxed);
                let start = local_midnight(cal.time_zone, monday);
                let end = local_midnight(cal.time_zone, monday + Days::new(7));
                let creds = cal.credentials();
                let id = self.calendar_id(cal).await?;
                match self
                    .graph
                    .calendar_view(&creds, &cal.owner, &id, start, end, hold::HOLD_PROPERTY)
                    .await
                {
                    // The calendar was deleted or recreated: resolve the name again once.
                    Err(GraphError::NotFound { .. }) => {
                        self.lock_ids().remove(&cal.name);
                        let id = self.calendar_id(cal).await?;
                        self.graph
                            .calendar_view(&creds, &cal.owner, &id, start, end, hold::HOLD_PROPERTY)
                            .await
                    }
                    other => other,
                }
            })
            .await;
        if fetched.load(std::sync::atomic::Ordering::Relaxed) {
            self.metrics.week_cache_miss.inc();
        } else {
            self.metrics.week_cache_hit.inc();
        }
        // The last good read is touched only when Graph was read or refused: a cached read
        // (the hot path) takes no further lock.
        let last_good = || self.last_good.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(events) => {
                if fetched.load(std::sync::atomic::Ordering::Relaxed) {
                    let mut last_good = last_good();
                    if last_good.len() >= LAST_GOOD_WEEKS * self.config.calendars.len().max(1) {
                        // Weeks in the past go first; should that not be enough, all.
                        let this_week = monday_of((self.clock)().date_naive()) - Days::new(7);
                        last_good.retain(|(_, m), _| *m >= this_week);
                        if last_good.len() >= LAST_GOOD_WEEKS * self.config.calendars.len().max(1) {
                            last_good.clear();
                        }
                    }
                    last_good.insert(key, events.clone());
                }
                Ok((events, false))
            }
            Err(GraphError::ReadCeiling) => match last_good().get(&key).cloned() {
                Some(events) => {
                    self.metrics.week_cache_stale.inc();
                    Ok((events, true))
                }
                None => {
                    tracing::warn!(calendar = %cal.name, "Graph read ceiling reached and no earlier read of the week to serve");
                    Err(GraphError::ReadCeiling)
                }
            },
            Err(e) => Err(e),
        }
    }

    /// The shown slots of a cached week read for one element, with their ids signed and
    /// times converted — the work that does not depend on the clock or the citizen. Kept as
    /// long as the week read it came from.
    fn prepared(
        &self,
        form: &str,
        el: &ElementConfig,
        cal: &CalendarConfig,
        monday: NaiveDate,
        events: &Arc<Vec<wire::Event>>,
    ) -> Arc<Vec<PreparedSlot>> {
        let key = (form.to_owned(), el.name.clone(), monday);
        {
            let memo = self.prepared.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((from, slots)) = memo.get(&key) {
                if Arc::ptr_eq(from, events) {
                    return slots.clone();
                }
            }
        }
        let window = el.window();
        let markers = &self.config.exchange.markers;
        let mut slots: Vec<PreparedSlot> = events
            .iter()
            .filter(|e| !e.is_cancelled && !e.is_all_day)
            .filter_map(|e| {
                let (start, end) = match (wire::to_utc(&e.start), wire::to_utc(&e.end)) {
                    (Ok(s), Ok(t)) => (s, t),
                    _ => {
                        tracing::warn!(event = %e.id, "event with unreadable times skipped");
                        return None;
                    }
                };
                let (ls, le) = (
                    start.with_timezone(&cal.time_zone),
                    end.with_timezone(&cal.time_zone),
                );
                if !is_shown(ls.naive_local(), le.naive_local(), &window) {
                    return None;
                }
                let id = self.signer.issue(
                    form,
                    &el.name,
                    &SlotRef {
                        event_id: e.id.clone(),
                        start,
                        end,
                    },
                );
                Some(PreparedSlot {
                    id,
                    start: ls.fixed_offset(),
                    end: le.fixed_offset(),
                    marker: marker_of(e.subject.as_deref().unwrap_or(""), markers),
                    hold: e
                        .property(hold::HOLD_PROPERTY)
                        .and_then(hold::HoldInfo::parse),
                })
            })
            .collect();
        slots.sort_by_key(|s| (s.start, s.end));
        let slots = Arc::new(slots);
        let mut memo = self.prepared.lock().unwrap_or_else(|e| e.into_inner());
        if memo.len() > 512 {
            memo.clear();
        }
        memo.insert(key, (events.clone(), slots.clone()));
        slots
    }

    /// One week of slots for this moment and this citizen (see [`Backend::week_json`]).
    pub async fn week(
        &self,
        form: &str,
        element: &str,
        week: Option<NaiveDate>,
        hold: &str,
    ) -> Result<(WeekView, bool), BookingError> {
        let (el, cal) = self.lookup(form, element)?;
        if !hold::is_valid_token(hold) {
            return Err(BookingError::invalid("hold"));
        }
        let now = (self.clock)();
        let monday = wanted_monday(cal, week, now)?;
        let (events, stale) = self.week_events(cal, monday).await.map_err(unavailable)?;
        self.build_week(form, &el, cal, monday, &events, now, hold)
            .await
            .map(|view| (view, stale))
    }

    /// The week answer from this week's events (`monday`'s read), for this moment and
    /// this citizen's hold token.
    #[allow(clippy::too_many_arguments)]
    async fn build_week(
        &self,
        form: &str,
        el: &ElementConfig,
        cal: &CalendarConfig,
        monday: NaiveDate,
        events: &Arc<Vec<wire::Event>>,
        now: DateTime<Utc>,
        hold: &str,
    ) -> Result<WeekView, BookingError> {
        let today = now.with_timezone(&cal.time_zone).date_naive();
        let first_week = monday_of(today);
        let slots = self.slots(
            &self.prepared(form, el, cal, monday, events),
            el,
            cal,
            now,
            hold,
        );
        let has_free = |slots: &[SlotView]| {
            slots
                .iter()
                .any(|s| matches!(s.state, SlotState::Free | SlotState::Held))
        };
        let next_free_week = if has_free(&slots) {
            None
        } else {
            let mut found = None;
            for i in 1..=NEXT_FREE_SEARCH_WEEKS {
                let m = monday + Days::new(7 * i);
                if (m - first_week).num_weeks() > MAX_WEEKS_AHEAD {
                    break;
                }
                let (evs, _) = self.week_events(cal, m).await.map_err(unavailable)?;
                if has_free(&self.slots(&self.prepared(form, el, cal, m, &evs), el, cal, now, hold))
                {
                    found = Some(m);
                    break;
                }
            }
            found
        };
        Ok(WeekView {
            week_start: monday,
            first_week,
            today,
            days: shown_days(monday, el.show_weekend),
            slots,
            next_free_week,
        })
    }

    /// Shown slots of a week with their states for this moment and this citizen.
    fn slots(
        &self,
        prepared: &[PreparedSlot],
        el: &ElementConfig,
        cal: &CalendarConfig,
        now: DateTime<Utc>,
        hold_token: &str,
    ) -> Vec<SlotView> {
        let now_local = now.with_timezone(&cal.time_zone).naive_local();
        prepared
            .iter()
            .map(|p| {
                let by_time = || classify(p.start.naive_local(), None, now_local, el.notice_days);
                let state = match rules::claim_from(p.marker, p.hold.as_ref(), now, hold_token) {
                    rules::Claim::Booked => SlotState::Booked,
                    rules::Claim::HeldByOther => SlotState::Reserved,
                    rules::Claim::Free => by_time(),
                    rules::Claim::Mine { active } => match by_time() {
                        SlotState::Free if active => SlotState::Held,
                        other => other,
                    },
                };
                SlotView {
                    id: p.id.clone(),
                    start: p.start,
                    end: p.end,
                    state,
                }
            })
            .collect()
    }

    fn remembered(&self, key: &str, slot_id: &str) -> Result<Option<Receipt>, BookingError> {
        let receipts = self.receipts.lock().unwrap_or_else(|e| e.into_inner());
        match receipts.get(key) {
            Some((at, _, _)) if at.elapsed() > RECEIPT_TTL => Ok(None),
            Some((_, id, r)) if id == slot_id => Ok(Some(r.clone())),
            // The same key for another slot is a client bug, not a retry.
            Some(_) => Err(BookingError::invalid("idempotency_key")),
            None => Ok(None),
        }
    }

    fn remember(&self, key: String, slot_id: String, receipt: Receipt) {
        let mut receipts = self.receipts.lock().unwrap_or_else(|e| e.into_inner());
        if receipts.len() >= RECEIPT_CAP {
            receipts.retain(|_, (at, _, _)| at.elapsed() < RECEIPT_TTL);
            if receipts.len() >= RECEIPT_CAP {
                if let Some(oldest) = receipts
                    .iter()
                    .min_by_key(|(_, (at, _, _))| *at)
                    .map(|(k, _)| k.clone())
                {
                    receipts.remove(&oldest);
                }
            }
        }
        receipts.insert(key, (Instant::now(), slot_id, receipt));
    }

    /// The rules of SPEC §2 for a slot's times against the server clock.
    fn check_rules(
        &self,
        el: &ElementConfig,
        cal: &CalendarConfig,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<(), BookingError> {
        let tz = cal.time_zone;
        let (ls, le) = (
            start.with_timezone(&tz).naive_local(),
            end.with_timezone(&tz).naive_local(),
        );
        if !is_shown(ls, le, &el.window()) {
            return Err(BookingError::OutsideWindow);
        }
        let now_local = (self.clock)().with_timezone(&tz).naive_local();
        match classify(ls, None, now_local, el.notice_days) {
            SlotState::Past => Err(BookingError::Past),
            SlotState::TooSoon => Err(BookingError::TooSoon),
            _ => Ok(()),
        }
    }
}

/// The first instant after `now` at which a slot's state could change by the clock alone:
/// a slot starts (it becomes past), a hold lapses, or the local date changes (notice days).
fn stable_until(
    prepared: &[PreparedSlot],
    cal: &CalendarConfig,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let tomorrow = now.with_timezone(&cal.time_zone).date_naive() + Days::new(1);
    let midnight = local_midnight(cal.time_zone, tomorrow);
    prepared
        .iter()
        .flat_map(|p| {
            [
                Some(p.start.with_timezone(&Utc)),
                p.hold.as_ref().map(|h| h.expires),
            ]
        })
        .flatten()
        .filter(|t| *t > now)
        .fold(midnight, DateTime::min)
}

/// Monday of the wanted week (any day of it; `None` is this week), never before this week
/// and at most [`MAX_WEEKS_AHEAD`] weeks ahead.
fn wanted_monday(
    cal: &CalendarConfig,
    week: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Result<NaiveDate, BookingError> {
    let first_week = monday_of(now.with_timezone(&cal.time_zone).date_naive());
    let monday = week.map(monday_of).unwrap_or(first_week).max(first_week);
    if (monday - first_week).num_weeks() > MAX_WEEKS_AHEAD {
        return Err(BookingError::invalid("week"));
    }
    Ok(monday)
}

pub(crate) fn local_midnight(tz: chrono_tz::Tz, day: NaiveDate) -> DateTime<Utc> {
    let naive = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    // Midnight can fall into a DST gap in some zones; take the first instant after it.
    tz.from_local_datetime(&naive)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(naive + chrono::TimeDelta::hours(1)))
                .earliest()
        })
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_else(|| naive.and_utc())
}

/// Logs a Graph failure for the administrator and gives the citizen the safe variant.
fn unavailable(e: GraphError) -> BookingError {
    match &e {
        GraphError::TokenRefused(r) => {
            tracing::error!(
                "Graph token refused: {e} — likely cause: {}",
                r.likely_cause()
            )
        }
        _ => tracing::error!("Graph call failed: {e}"),
    }
    BookingError::Unavailable
}

#[async_trait::async_trait]
impl Backend for Booket {
    async fn element(&self, form: &str, element: &str) -> Result<ElementPublic, BookingError> {
        let (el, cal) = self.lookup(form, element)?;
        Ok(ElementPublic {
            form: form.to_owned(),
            name: el.name.clone(),
            heading: el.heading.clone(),
            description: el.description.clone(),
            info_text: el.info_text.clone(),
            required: el.required,
            show_weekend: el.show_weekend,
            first_hour: el.first_hour,
            last_hour: el.last_hour,
            calendar: cal.name.clone(),
            sends_form: el.attach_documents
                || el.attach_summary
                || (!matches!(self.config.mail, crate::config::MailConfig::Off)
                    && self
                        .config
                        .form(form)
                        .is_some_and(|f| f.email_field.is_some())),
        })
    }

    /// Most citizens look at the same few weeks without holding anything: their answer is
    /// the same JSON for everyone, kept until the week's read is refreshed or the clock
    /// could change a slot's state (a slot starts, a hold lapses, the date changes).
    async fn week_json(
        &self,
        form: &str,
        element: &str,
        week: Option<NaiveDate>,
        hold: &str,
    ) -> Result<Bytes, BookingError> {
        /// A week answer marked as served from the last good read.
        #[derive(serde::Serialize)]
        struct Stale<'a> {
            #[serde(flatten)]
            view: &'a WeekView,
            stale: bool,
        }
        let serialise = |view: &WeekView, stale: bool| {
            let json = if stale {
                serde_json::to_vec(&Stale { view, stale })
            } else {
                serde_json::to_vec(view)
            };
            json.map(Bytes::from).map_err(|_| BookingError::Internal)
        };
        if !hold.is_empty() {
            // The answer marks this citizen's own hold: theirs alone.
            let (view, stale) = self.week(form, element, week, hold).await?;
            return serialise(&view, stale);
        }
        let (el, cal) = self.lookup(form, element)?;
        let now = (self.clock)();
        let monday = wanted_monday(cal, week, now)?;
        let (events, stale) = self.week_events(cal, monday).await.map_err(unavailable)?;
        if stale {
            let view = self
                .build_week(form, &el, cal, monday, &events, now, hold)
                .await?;
            return serialise(&view, true);
        }
        let key = (form.to_owned(), el.name.clone(), monday);
        if let Some(hit) = self.lock_answers().get(&key) {
            if Arc::ptr_eq(&hit.events, &events) && now < hit.until {
                self.metrics.week_answer_hit.inc();
                return Ok(hit.json.clone());
            }
        }
        self.metrics.week_answer_miss.inc();
        let view = self
            .build_week(form, &el, cal, monday, &events, now, hold)
            .await?;
        let json = serialise(&view, false)?;
        // An empty week's answer also depends on later weeks (the next free one): not kept.
        if view.next_free_week.is_none() {
            let until = stable_until(&self.prepared(form, &el, cal, monday, &events), cal, now);
            let mut answers = self.lock_answers();
            if answers.len() > 512 {
                answers.clear();
            }
            answers.insert(
                key,
                CachedAnswer {
                    events,
                    until,
                    json: json.clone(),
                },
            );
        }
        Ok(json)
    }

    async fn reserve(&self, req: ReserveRequest) -> Result<Hold, BookingError> {
        let (_, cal) = self.lookup(&req.form, &req.element)?;
        let extend = !req.hold.is_empty();
        let week = self.week_of_slot(&req.form, &req.element, &req.slot_id);
        let other = self.week_of_slot(&req.form, &req.element, &req.release_slot_id);
        let result = self.reserve_slot(req).await;
        self.after_write(cal, week, &result);
        if matches!(result, Ok((_, true))) {
            self.after_write(cal, other, &result);
        }
        let result = result.map(|(hold, _)| hold);
        let label = match (&result, extend) {
            (Ok(_), false) => "reserved",
            (Ok(_), true) => "reserved_again",
            (r, _) => crate::metrics::outcome(r),
        };
        self.metrics.holds.with_label_values(&[label]).inc();
        result
    }

    async fn release(
        &self,
        form: &str,
        element: &str,
        slot_id: &str,
        hold: &str,
    ) -> Result<(), BookingError> {
        let (_, cal) = self.lookup(form, element)?;
        let week = self.week_of_slot(form, element, slot_id);
        let result = self.release_slot(form, element, slot_id, hold).await;
        // A release that wrote nothing leaves the cache as it is.
        if !matches!(result, Ok(false)) {
            self.after_write(cal, week, &result);
        }
        if result.is_ok() {
            self.metrics.holds.with_label_values(&["released"]).inc();
        }
        result.map(|_| ())
    }

    async fn book(&self, req: BookRequest) -> Result<Receipt, BookingError> {
        let (_, cal) = self.lookup(&req.form, &req.element)?;
        let week = self.week_of_slot(&req.form, &req.element, &req.slot_id);
        let result = self.book_slot(req).await;
        self.after_write(cal, week, &result);
        let label = if result.is_ok() {
            "booked"
        } else {
            crate::metrics::outcome(&result)
        };
        self.metrics.bookings.with_label_values(&[label]).inc();
        result
    }
}

impl Booket {
    /// Monday of the local week of the slot behind an id issued for this element.
    fn week_of_slot(&self, form: &str, element: &str, slot_id: &str) -> Option<NaiveDate> {
        let (_, cal) = self.lookup(form, element).ok()?;
        let slot = self.signer.verify(form, element, slot_id)?;
        Some(monday_of(
            slot.start.with_timezone(&cal.time_zone).date_naive(),
        ))
    }

    /// When we wrote or found the slot changed, its cached week may now be wrong: only
    /// that week is read again. A refused call (rules, input, rate) changes nothing.
    fn after_write<T>(
        &self,
        cal: &CalendarConfig,
        week: Option<NaiveDate>,
        result: &Result<T, BookingError>,
    ) {
        if let Some(monday) = week {
            if matches!(
                result,
                Ok(_) | Err(BookingError::Taken) | Err(BookingError::Unavailable)
            ) {
                self.cache.invalidate_week(&cal.name, monday);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server's path: an instant, converted to the calendar's zone, then the pure rules.
    fn state_at(now_utc: &str, slot_local: &str, notice: u16) -> SlotState {
        let tz = chrono_tz::Europe::Copenhagen;
        let now = DateTime::parse_from_rfc3339(now_utc)
            .unwrap()
            .with_timezone(&Utc);
        let slot = chrono::NaiveDateTime::parse_from_str(slot_local, "%Y-%m-%d %H:%M").unwrap();
        classify(slot, None, now.with_timezone(&tz).naive_local(), notice)
    }

    #[test]
    fn notice_days_use_the_local_date_across_dst_changes() {
        let table = [
            // 23:30 UTC on Saturday 28 March is already Sunday 29 March (00:30 CET) locally.
            (
                "2026-03-28T23:30:00Z",
                "2026-03-30 09:00",
                1,
                SlotState::Free,
            ),
            (
                "2026-03-28T23:30:00Z",
                "2026-03-30 09:00",
                2,
                SlotState::TooSoon,
            ),
            // 22:30 UTC is still Saturday locally: Monday is two days away.
            (
                "2026-03-28T22:30:00Z",
                "2026-03-30 09:00",
                2,
                SlotState::Free,
            ),
            // After the spring change (CEST, UTC+2): 22:30 UTC on Sunday is 00:30 Monday.
            (
                "2026-03-29T22:30:00Z",
                "2026-03-30 09:00",
                1,
                SlotState::TooSoon,
            ),
            (
                "2026-03-29T21:30:00Z",
                "2026-03-30 09:00",
                1,
                SlotState::Free,
            ),
            // Autumn change, 25 October: 23:30 UTC on the 24th is 01:30 CEST on the 25th.
            (
                "2026-10-24T23:30:00Z",
                "2026-10-26 09:00",
                1,
                SlotState::Free,
            ),
            (
                "2026-10-24T23:30:00Z",
                "2026-10-26 09:00",
                2,
                SlotState::TooSoon,
            ),
            // A slot that started one hour ago locally, measured across the change.
            (
                "2026-10-25T08:30:00Z",
                "2026-10-25 09:00",
                0,
                SlotState::Past,
            ),
            (
                "2026-10-25T07:30:00Z",
                "2026-10-25 09:00",
                0,
                SlotState::Free,
            ),
        ];
        for (now, slot, notice, want) in table {
            assert_eq!(
                state_at(now, slot, notice),
                want,
                "now {now}, slot {slot}, notice {notice}"
            );
        }
    }

    #[test]
    fn week_bounds_follow_local_midnight_across_dst() {
        let cph = chrono_tz::Europe::Copenhagen;
        // Week 13 of 2026 holds the spring change (29 March): the week is 167 hours long.
        let mon = NaiveDate::from_ymd_opt(2026, 3, 23).unwrap();
        let len = local_midnight(cph, mon + Days::new(7)) - local_midnight(cph, mon);
        assert_eq!(len.num_hours(), 167);
        // Week 43 holds the autumn change (25 October): 169 hours.
        let mon = NaiveDate::from_ymd_opt(2026, 10, 19).unwrap();
        let len = local_midnight(cph, mon + Days::new(7)) - local_midnight(cph, mon);
        assert_eq!(len.num_hours(), 169);
        assert_eq!(
            local_midnight(cph, NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()).to_rfc3339(),
            "2026-11-29T23:00:00+00:00"
        );
    }
}
