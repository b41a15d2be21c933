//! The backend behind the server functions: looks elements up in configuration, reads
//! weeks through the cache (`read.rs`), classifies slots with the shared rules, and books
//! with a conditional write (`write.rs`). Every rule is re-checked here against the
//! server's clock. Exchange is reached only through the [`Mailbox`] seam, one per calendar.

mod cache;
mod claims;
pub mod client;
mod confirm;
pub mod documents;
mod files;
pub mod hold;
mod instances;
mod limits;
mod locks;
mod manage;
mod moving;
mod read;
pub(crate) use read::gzipped;
mod remind;
mod rules;
mod session;
mod settings;
pub mod slot_id;
mod sweep;
mod webhooks;
mod write;

use crate::config::{CalendarConfig, ElementConfig};
use crate::exchange::ReadBudget;
use crate::mailbox::{Mailbox, MailboxError};
pub use crate::receipts::LinkError;
use app::api::{Backend, BookRequest, ElementName, FormId, HoldToken, ReserveRequest, SlotId};
use app::domain::week::monday_of;
use app::domain::{BookingError, ElementPublic, Hold, Receipt};
use cache::WeekCache;
use chrono::{DateTime, NaiveDate, Utc};
pub use files::UploadPolicy;
use locks::KeyedLocks;
pub use manage::{BookingView, Cancelled, Found};
pub use moving::Moved;
pub(crate) use read::local_midnight;
pub use settings::Settings;
pub use slot_id::SlotSigner;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
pub use webhooks::Sleeper;

/// Who asks, as far as the core needs to know: the client's key for the per-client caps
/// (the web layer derives it from the connection and trusted proxies; `None` when unknown,
/// as for a call from inside the server).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Caller {
    pub client: Option<std::net::IpAddr>,
}

impl Caller {
    pub fn client(client: std::net::IpAddr) -> Self {
        Caller {
            client: Some(client),
        }
    }
}

/// The server's clock; injectable so tests can pin "now".
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

/// A clock that starts at `start` and moves on in real time (the demo's pinned clock).
pub fn clock_from(start: DateTime<Utc>) -> Clock {
    let began = std::time::Instant::now();
    Arc::new(move || {
        start + chrono::TimeDelta::from_std(began.elapsed()).unwrap_or(chrono::TimeDelta::zero())
    })
}

/// How long a booking receipt answers retries with the same idempotency key.
const RECEIPT_TTL: Duration = Duration::from_secs(24 * 3600);
const RECEIPT_CAP: u64 = 10_000;
/// Most weeks kept as last good reads per calendar (a year and a bit).
const LAST_GOOD_WEEKS: u64 = 60;

/// The mailboxes Booket works with: one per calendar (by its display name), and the one
/// confirmations are sent from.
#[derive(Default, Clone)]
pub struct Mailboxes {
    pub calendars: HashMap<String, Arc<dyn Mailbox>>,
    pub mail: Option<Arc<dyn Mailbox>>,
}

pub struct Booket {
    config: Settings,
    mailboxes: Mailboxes,
    signer: SlotSigner,
    cache: WeekCache<read::WeekRead>,
    /// One write per event at a time in this process.
    locks: KeyedLocks<crate::mailbox::EventId>,
    /// One reservation per hold token and element at a time (form, element, owner hash).
    token_locks: KeyedLocks<(FormId, ElementName, String)>,
    /// Reservations being written from this instance (taken for everyone else meanwhile).
    claims: claims::Claims,
    /// Receipts by idempotency scope, with the slot they were for.
    receipts: moka::sync::Cache<String, (SlotId, Receipt)>,
    clock: Clock,
    /// Elements beyond the configuration (the demo designer's drafts).
    extra_elements: Option<Arc<dyn ElementSource>>,
    metrics: crate::metrics::Metrics,
    /// Holds this process wrote, per token and client.
    holds: limits::HoldTracker,
    /// Confirmation mails sent today, per recipient and client.
    mails: limits::DailyCounter,
    /// Reads per calendar in the current minute of the clock.
    reads: ReadBudget,
    /// The last week read per (calendar, Monday): served, marked stale, when the calendar's
    /// read ceiling is reached.
    last_good: moka::sync::Cache<cache::WeekKey, Arc<read::WeekRead>>,
    /// Signs booked receipts (absent when no key is configured).
    receipt_signer: Option<crate::receipts::ReceiptSigner>,
    /// What several instances share (in this process when there is one).
    store: crate::store::Store,
    /// Delivery of booking events to forms' webhooks.
    webhooks: webhooks::Webhooks,
    /// Moves copy a booking's files one at a time per instance (each read back whole).
    file_copies: tokio::sync::Semaphore,
    /// Booked events the reminder sweep had to read on their own (their record was not in
    /// the view) and found with nothing left to send, by version: not read again while
    /// unchanged.
    reminders_done: moka::sync::Cache<(crate::mailbox::EventId, String), ()>,
}

/// Elements served beside the configured ones (the demo's designer drafts): the core asks
/// it for a form/element it does not know.
pub trait ElementSource: Send + Sync {
    fn element(&self, form: &FormId, element: &ElementName) -> Option<ElementConfig>;
}

impl Booket {
    /// A backend for `config`, reaching each calendar through its mailbox in `mailboxes`
    /// (every configured calendar must have one).
    pub fn new(
        config: Settings,
        mailboxes: Mailboxes,
        signer: SlotSigner,
        clock: Clock,
        metrics: crate::metrics::Metrics,
    ) -> Self {
        debug_assert!(config
            .calendars
            .iter()
            .all(|c| mailboxes.calendars.contains_key(&c.name)));

        Booket {
            reads: ReadBudget::new(config.exchange.max_reads_per_minute),
            cache: WeekCache::new(config.exchange.cache_ttl),
            last_good: moka::sync::Cache::builder()
                .max_capacity(LAST_GOOD_WEEKS * config.calendars.len().max(1) as u64)
                .build(),
            receipts: moka::sync::Cache::builder()
                .max_capacity(RECEIPT_CAP)
                .time_to_live(RECEIPT_TTL)
                .build(),
            config,
            mailboxes,
            signer,
            locks: KeyedLocks::default(),
            token_locks: KeyedLocks::default(),
            claims: claims::Claims::default(),
            clock,
            extra_elements: None,
            metrics,
            holds: limits::HoldTracker::default(),
            mails: limits::DailyCounter::default(),
            receipt_signer: None,
            store: crate::store::Store::in_process(),
            webhooks: webhooks::Webhooks::default(),
            file_copies: tokio::sync::Semaphore::new(1),
            reminders_done: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(2 * 24 * 3600))
                .build(),
        }
    }

    /// Shares leases and cache notes with other instances through `store`.
    pub fn with_store(mut self, store: crate::store::Store) -> Self {
        self.store = store;
        self
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

    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    /// The mailbox a configured calendar is reached through.
    fn mailbox(&self, cal: &CalendarConfig) -> &dyn Mailbox {
        self.mailboxes
            .calendars
            .get(&cal.name)
            .map(|m| m.as_ref())
            .expect("every configured calendar has a mailbox")
    }

    /// Finds every configured Outlook calendar by name; failures are logged with a hint and
    /// retried on first use, so a passing outage does not stop the server.
    pub async fn resolve_calendars(&self) {
        for cal in &self.config.calendars {
            let silent = self
                .config
                .elements_in(&cal.name)
                .any(|e| !e.notify_attendees);
            if silent && !self.mailbox(cal).capabilities().suppress_attendee_mail {
                tracing::warn!(
                    calendar = %cal.name,
                    "an element asks for no attendee updates, but this backend (Graph) always sends them"
                );
            }
            match self
                .mailbox(cal)
                .resolve_calendar(&cal.outlook_calendar)
                .await
            {
                Ok(()) => tracing::info!(calendar = %cal.name, "Outlook calendar resolved"),
                Err(e) => {
                    tracing::error!(calendar = %cal.name, "cannot resolve Outlook calendar: {e}")
                }
            }
        }
    }

    /// Whether this instance can serve bookings: every calendar's app signed in and every
    /// calendar resolved (kept after the first success, so a probe costs no Exchange call
    /// while the token lives). One line per calendar, without secrets or Exchange's wording.
    pub async fn readiness(&self) -> (bool, Vec<serde_json::Value>) {
        let mut ready = true;
        let mut lines = Vec::new();
        for cal in &self.config.calendars {
            let mailbox = self.mailbox(cal);
            let problem = match mailbox.sign_in().await {
                Err(e) => Some(if e.is_transient() {
                    "sign-in unreachable"
                } else {
                    "sign-in refused (run booket check)"
                }),
                Ok(()) => match mailbox.resolve_calendar(&cal.outlook_calendar).await {
                    Ok(()) => None,
                    Err(e) if e.is_transient() => Some("Exchange unreachable"),
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

    /// The element (from configuration, or from the extra source) and its calendar.
    fn lookup(
        &self,
        form: &FormId,
        element: &ElementName,
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

    /// The receipt a booking with idempotency scope `key` was answered with, here or (with
    /// the shared store) on another instance: a retry gets the same answer, files and all.
    async fn remembered(
        &self,
        key: &str,
        slot_id: &SlotId,
    ) -> Result<Option<Receipt>, BookingError> {
        let kept = match self.receipts.get(key) {
            Some(kept) => Some(kept),
            None => self.kept_receipt(key).await,
        };
        same_slot(kept, slot_id)
    }

    /// The same from this instance's memory only: a booking's cheap first look. A retry
    /// of a booking answered on another instance is found after the event's lease
    /// (`remembered`), which costs it one lease; a new booking saves a store round trip.
    fn remembered_here(
        &self,
        key: &str,
        slot_id: &SlotId,
    ) -> Result<Option<Receipt>, BookingError> {
        same_slot(self.receipts.get(key), slot_id)
    }

    /// Keeps the answer to a booking for its retries (on every instance, with the store:
    /// written before the event's lease is given back, so a retry waiting for it finds it).
    async fn remember(&self, key: String, slot_id: SlotId, receipt: Receipt) {
        if self.store.is_shared() {
            let kept = KeptReceipt {
                slot_id: slot_id.to_string(),
                receipt: receipt.clone(),
            };
            match serde_json::to_vec(&kept) {
                Ok(bytes) => {
                    if let Err(e) = self
                        .store
                        .keep(&receipt_name(&key), &bytes, RECEIPT_TTL)
                        .await
                    {
                        // A retry elsewhere is still recognised from the event itself.
                        tracing::warn!("a receipt was not kept for the other instances: {e}");
                    }
                }
                Err(e) => tracing::error!("a receipt could not be written: {e}"),
            }
        }
        self.receipts.insert(key, (slot_id, receipt));
    }

    async fn kept_receipt(&self, key: &str) -> Option<(SlotId, Receipt)> {
        if !self.store.is_shared() {
            return None;
        }
        let bytes = match self.store.kept(&receipt_name(key)).await {
            Ok(bytes) => bytes?,
            Err(e) => {
                tracing::warn!("the other instances' receipts cannot be asked: {e}");
                return None;
            }
        };
        let kept: KeptReceipt = serde_json::from_slice(&bytes).ok()?;
        let slot_id = SlotId::issued(kept.slot_id);
        self.receipts
            .insert(key.to_owned(), (slot_id.clone(), kept.receipt.clone()));
        Some((slot_id, kept.receipt))
    }
}

/// A booking's answer as the store keeps it for retries on other instances.
#[derive(serde::Serialize, serde::Deserialize)]
struct KeptReceipt {
    slot_id: String,
    receipt: Receipt,
}

/// The store's name for the receipt of idempotency scope `key` (hashed: the client's key
/// itself is not kept).
fn receipt_name(key: &str) -> String {
    format!("receipt:{}", hold::owner_hash(key))
}

/// Logs a mailbox failure for the administrator and gives the citizen the safe variant.
fn unavailable(e: MailboxError) -> BookingError {
    tracing::error!("Exchange call failed: {e}");
    BookingError::Unavailable
}

/// The core serving one caller: the web layer's adapter to the server functions' backend.
pub struct ForCaller {
    pub booket: Arc<Booket>,
    pub caller: Caller,
}

#[async_trait::async_trait]
impl Backend for ForCaller {
    async fn element(
        &self,
        form: &FormId,
        element: &ElementName,
    ) -> Result<ElementPublic, BookingError> {
        self.booket.element(form, element)
    }

    async fn week_json(
        &self,
        form: &FormId,
        element: &ElementName,
        week: Option<NaiveDate>,
        hold: &HoldToken,
    ) -> Result<app::api::WeekAnswer, BookingError> {
        self.booket.week_answer(form, element, week, hold).await
    }

    async fn reserve(&self, req: ReserveRequest) -> Result<Hold, BookingError> {
        self.booket.reserve(&self.caller, req).await
    }

    async fn release(
        &self,
        form: &FormId,
        element: &ElementName,
        slot_id: &SlotId,
        hold: &HoldToken,
    ) -> Result<(), BookingError> {
        self.booket
            .release(&self.caller, form, element, slot_id, hold)
            .await
    }

    async fn book(&self, req: BookRequest) -> Result<Receipt, BookingError> {
        self.booket.book(&self.caller, req).await
    }
}

impl Booket {
    /// What the widget shows of an element.
    pub fn element(
        &self,
        form: &FormId,
        element: &ElementName,
    ) -> Result<ElementPublic, BookingError> {
        let (el, cal) = self.lookup(form, element)?;
        Ok(ElementPublic {
            form: form.to_string(),
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

    /// Reserves a slot (see `reserve_slot`), counted and kept in the cache.
    pub async fn reserve(
        &self,
        caller: &Caller,
        req: ReserveRequest,
    ) -> Result<Hold, BookingError> {
        let (_, cal) = self.lookup(&req.form, &req.element)?;
        let extend = !req.hold.is_empty();
        let week = self.week_of_slot(&req.form, &req.element, &req.slot_id);
        let (form, element) = (req.form.clone(), req.element.clone());
        let result = self.reserve_slot(caller, req).await;
        self.after_write(cal, week, &result).await;
        if let Ok((_, Some(released))) = &result {
            let other = self.week_of_slot(&form, &element, released);
            self.after_write(cal, other, &result).await;
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

    /// Gives a held slot back (see `release_slot`).
    pub async fn release(
        &self,
        caller: &Caller,
        form: &FormId,
        element: &ElementName,
        slot_id: &SlotId,
        hold: &HoldToken,
    ) -> Result<(), BookingError> {
        let (_, cal) = self.lookup(form, element)?;
        let week = self.week_of_slot(form, element, slot_id);
        let result = self.release_slot(form, element, slot_id, hold).await;
        if matches!(result, Ok(true)) {
            let member = instances::place_member(form, element, &hold::owner_hash(hold));
            self.give_back_shared_place(caller.client, &member).await;
        }
        // A release that wrote nothing leaves the cache as it is.
        if !matches!(result, Ok(false)) {
            self.after_write(cal, week, &result).await;
        }
        if result.is_ok() {
            self.metrics.holds.with_label_values(&["released"]).inc();
        }
        result.map(|_| ())
    }

    /// Books a slot (see `book_slot`), counted and kept in the cache.
    pub async fn book(&self, caller: &Caller, req: BookRequest) -> Result<Receipt, BookingError> {
        let (_, cal) = self.lookup(&req.form, &req.element)?;
        let week = self.week_of_slot(&req.form, &req.element, &req.slot_id);
        let result = self.book_slot(caller, req).await;
        self.after_write(cal, week, &result).await;
        let label = if result.is_ok() {
            "booked"
        } else {
            crate::metrics::outcome(&result)
        };
        self.metrics.bookings.with_label_values(&[label]).inc();
        result
    }

    /// Monday of the local week of the slot behind an id issued for this element.
    fn week_of_slot(
        &self,
        form: &FormId,
        element: &ElementName,
        slot_id: &SlotId,
    ) -> Option<NaiveDate> {
        let (_, cal) = self.lookup(form, element).ok()?;
        let slot = self.signer.verify(form, element, slot_id)?;
        Some(monday_of(
            slot.start.with_timezone(&cal.time_zone).date_naive(),
        ))
    }

    /// Every write and every read of an event before one already taught the cached week
    /// what Exchange answered (`Booket::learn`); only a write whose outcome is unknown (the
    /// mailbox failed on the way) leaves the week to be read again. A refused call (rules,
    /// input, rate) changes nothing.
    async fn after_write<T>(
        &self,
        cal: &CalendarConfig,
        week: Option<NaiveDate>,
        result: &Result<T, BookingError>,
    ) {
        if let (Some(monday), Err(BookingError::Unavailable | BookingError::Internal)) =
            (week, result)
        {
            self.learn_and_tell(cal, None, monday).await;
        }
    }
}

/// A kept receipt answers a retry for the same slot; the same key for another slot is a
/// client bug, not a retry.
fn same_slot(
    kept: Option<(SlotId, Receipt)>,
    slot_id: &SlotId,
) -> Result<Option<Receipt>, BookingError> {
    match kept {
        Some((id, r)) if &id == slot_id => Ok(Some(r)),
        Some(_) => Err(BookingError::invalid("idempotency_key")),
        None => Ok(None),
    }
}
