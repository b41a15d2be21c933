//! The read path: a week of events from the cache or the mailbox (within the calendar's
//! read ceiling, else the last good read), its shown slots prepared once per read, and the
//! week answer for this moment and this citizen — kept as JSON while nothing can change it.
//!
//! (About 725 lines: the read path, what writes teach the kept week, and the
//! daylight-saving tests of the week bounds, a sixth of it.)

use super::hold;
use super::rules;
use super::slot_id::SlotRef;
use super::{unavailable, Booket};
use crate::config::{CalendarConfig, ElementConfig};
use crate::mailbox::{Event, EventId, MailboxError};
use app::api::{ElementName, FormId, SlotId};
use app::domain::rules::{classify, is_shown, marker_of};
use app::domain::week::{monday_of, shown_days};
use app::domain::{BookingError, SlotState, SlotView, WeekView};
use bytes::Bytes;
use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};

/// Reserved events per week read whose hold record is read one by one when the view left
/// it out (see `complete_holds`).
const MAX_HOLD_READS: usize = 16;
/// How far ahead a citizen may look.
const MAX_WEEKS_AHEAD: i64 = 52;
/// How many weeks "next free time" searches.
const NEXT_FREE_SEARCH_WEEKS: u64 = 8;

/// Why a week could not be read from the mailbox.
#[derive(Debug, Clone)]
pub(super) enum ReadError {
    /// Booket's own ceiling on reads per calendar and minute: nothing was sent.
    Ceiling,
    Mailbox(MailboxError),
}

impl From<ReadError> for BookingError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Ceiling => BookingError::Unavailable,
            ReadError::Mailbox(e) => unavailable(e),
        }
    }
}

/// A week read from the mailbox, with what was made from it for each form and element:
/// its prepared slots and the kept answer. Both go with the read when it is dropped or
/// replaced, so they never outlive the events they came from, and a cached week answer
/// costs one cache look-up.
pub(super) struct WeekRead {
    pub(super) events: Vec<Event>,
    /// By form, then element.
    memo: RwLock<HashMap<String, HashMap<String, Memo>>>,
}

#[derive(Clone, Default)]
struct Memo {
    prepared: Option<Arc<Vec<PreparedSlot>>>,
    answer: Option<Arc<CachedAnswer>>,
    /// The answer made from this read while it is served as the last good one (marked
    /// stale: the calendar's read ceiling is reached).
    stale: Option<Arc<CachedAnswer>>,
}

/// A week answer as JSON, kept while no slot's state can have changed with the clock.
struct CachedAnswer {
    until: DateTime<Utc>,
    /// The claims in flight it was made with ([`super::claims::Claims::generation`]).
    claims: u64,
    /// A week without a free slot names the next week with one: the later weeks' reads
    /// it looked through, each by its Monday. The answer stands only while every one of
    /// them is still the read the cache keeps (weak: it keeps none of them alive).
    later: Vec<(NaiveDate, Weak<WeekRead>)>,
    json: Bytes,
    /// The JSON gzipped, made once with it: every browser asks for gzip, and compressing
    /// a week's ~11 KB for each of them took most of a cached read's time (issue 26).
    gzip: Bytes,
}

/// `json` gzipped at `level`. A kept answer is made at zlib's default level, once, and sent
/// to every browser that reads it, so a few hundred bytes fewer than the fastest level are
/// worth its ~20 µs more; an answer made for one reader is made at the fastest
/// (web/reads.rs). Writing to memory does not fail; if it did, the answer would go plain
/// (and not be kept).
pub(crate) fn gzipped(json: &[u8], level: flate2::Compression) -> Option<Bytes> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(json.len() / 3), level);
    encoder.write_all(json).ok()?;
    encoder.finish().ok().map(Bytes::from)
}

/// A shown slot with what does not change between requests.
pub(super) struct PreparedSlot {
    id: SlotId,
    event_id: EventId,
    start: DateTime<chrono::FixedOffset>,
    end: DateTime<chrono::FixedOffset>,
    marker: Option<app::domain::rules::Marker>,
    hold: Option<hold::HoldInfo>,
}

impl WeekRead {
    fn new(events: Vec<Event>) -> WeekRead {
        WeekRead {
            events,
            memo: RwLock::new(HashMap::new()),
        }
    }

    /// This read with `event` as Exchange last answered it (a write's answer, or a read of
    /// the event before a write); `None` when the event is not in this week's read.
    pub(super) fn with_event(&self, event: &Event) -> Option<WeekRead> {
        let at = self.events.iter().position(|e| e.id == event.id)?;
        let mut events = self.events.clone();
        events[at] = event.clone();
        Some(WeekRead::new(events))
    }

    fn memo(&self, form: &FormId, element: &ElementName) -> Memo {
        let memo = self.memo.read().unwrap_or_else(|e| e.into_inner());
        memo.get(form.as_str())
            .and_then(|m| m.get(element.as_str()))
            .cloned()
            .unwrap_or_default()
    }

    fn update(&self, form: &FormId, element: &ElementName, change: impl FnOnce(&mut Memo)) {
        let mut memo = self.memo.write().unwrap_or_else(|e| e.into_inner());
        change(
            memo.entry(form.to_string())
                .or_default()
                .entry(element.to_string())
                .or_default(),
        );
    }
}

impl Booket {
    /// Keeps the cached week right after Exchange answered with `event` (a write, or the
    /// read before one): its slot shows what Exchange said, without reading the week again.
    /// The week the slot was offered in (`offered`) is read again if the event left it.
    /// The other instances' caches learn it too (through the shared store, if any).
    pub(super) async fn learn(&self, cal: &CalendarConfig, event: &Event, offered: NaiveDate) {
        self.learn_and_tell(cal, Some(event), offered).await;
    }

    /// The cached week's view of one event, without reading anything (`None` when the week
    /// is not kept): a cached "taken" may refuse a write, a cached "free" never allows one.
    pub(super) async fn cached_event(
        &self,
        cal: &CalendarConfig,
        week: NaiveDate,
        id: &EventId,
    ) -> Option<Event> {
        let read = self.cache.peek(&(cal.name.clone(), week)).await?;
        read.events.iter().find(|e| &e.id == id).cloned()
    }

    /// Counts one read of `cal` against its ceiling for this minute; false when the
    /// ceiling is reached (nothing may be read until the next minute).
    /// With several instances the ceiling is theirs together, counted in the store; a store
    /// that cannot be reached leaves this instance its share of it.
    pub(super) async fn take_read(&self, cal: &CalendarConfig) -> bool {
        let now = (self.clock)();
        if !self.reads.take(&cal.name, now) {
            return false;
        }
        if !self.store.is_shared() {
            return true;
        }
        let limit = self.config.exchange.max_reads_per_minute;
        let name = format!("exchange-reads:{}", cal.name);
        match self
            .store
            .count(&[(&name, limit)], std::time::Duration::from_secs(60))
            .await
        {
            Ok(spent) => spent.is_none(),
            Err(e) => {
                tracing::debug!("reads not counted across instances: {e}");
                let share = (limit / self.instances_sharing().max(1) as u32).max(1);
                self.reads.counted(&cal.name, now) <= share
            }
        }
    }

    /// Reads again, one by one, the reserved events a view gave without their hold record.
    /// A view of a series' occurrences is reported to leave extended properties out
    /// (microsoft-graph-docs#13385; EWS documents nothing either way), and a hold only the
    /// event itself carries must not read as someone else's. Events marked by hand (no
    /// record at all) stay as the view gave them; at most [`MAX_HOLD_READS`] per week read,
    /// within the calendar's read ceiling.
    pub(super) async fn complete_holds(
        &self,
        cal: &CalendarConfig,
        mut events: Vec<Event>,
    ) -> Vec<Event> {
        let markers = &self.config.exchange.markers;
        let mailbox = self.mailbox(cal);
        let unknown = events.iter_mut().filter(|e| {
            e.hold.is_none()
                && !e.cancelled
                && marker_of(&e.subject, markers) == Some(app::domain::rules::Marker::Reserved)
        });
        for e in unknown.take(MAX_HOLD_READS) {
            // Each counts against the calendar's read ceiling, as a week read does: past
            // it the view's answer stands (shown reserved; a write reads the event itself).
            if !self.take_read(cal).await {
                break;
            }
            match mailbox.event(&cal.outlook_calendar, &e.id).await {
                Ok(read) if read.start == e.start && read.end == e.end => *e = read,
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(event = %e.id, "a reserved event's hold could not be read: {err}")
                }
            }
        }
        events
    }

    /// The events of one local week, from the cache or the mailbox; `true` when they are
    /// the last good read served because the calendar's read ceiling is reached (stale: the
    /// write path's own read decides any booking).
    pub(super) async fn week_events(
        &self,
        cal: &CalendarConfig,
        monday: NaiveDate,
    ) -> Result<(Arc<WeekRead>, bool), ReadError> {
        let fetched = std::sync::atomic::AtomicBool::new(false);
        let key = (cal.name.clone(), monday);
        let result = self
            .cache
            .get_or_fetch(&key, || async {
                if !self.take_read(cal).await {
                    return Err(ReadError::Ceiling);
                }
                fetched.store(true, std::sync::atomic::Ordering::Relaxed);
                let start = local_midnight(cal.time_zone, monday);
                let end = local_midnight(cal.time_zone, monday + Days::new(7));
                let events = self
                    .mailbox(cal)
                    .events(&cal.outlook_calendar, start, end)
                    .await
                    .map_err(ReadError::Mailbox)?;
                Ok(WeekRead::new(self.complete_holds(cal, events).await))
            })
            .await;
        let fetched = fetched.load(std::sync::atomic::Ordering::Relaxed);
        if fetched {
            self.metrics.week_cache_miss.inc();
        } else {
            self.metrics.week_cache_hit.inc();
        }
        match result {
            Ok(events) => {
                // Only a read from the mailbox is remembered: a cached one (the hot path)
                // touches nothing more.
                if fetched {
                    self.last_good.insert(key, events.clone());
                }
                Ok((events, false))
            }
            Err(ReadError::Ceiling) => match self.last_good.get(&key) {
                Some(events) => {
                    self.metrics.week_cache_stale.inc();
                    Ok((events, true))
                }
                None => {
                    tracing::warn!(calendar = %cal.name, "read ceiling reached and no earlier read of the week to serve");
                    Err(ReadError::Ceiling)
                }
            },
            Err(e) => Err(e),
        }
    }

    /// The shown slots of a cached week read for one element, with their ids signed and
    /// times converted — the work that does not depend on the clock or the citizen. Kept
    /// with the week read it came from.
    fn prepared(
        &self,
        (form, element): (&FormId, &ElementName),
        el: &ElementConfig,
        cal: &CalendarConfig,
        read: &WeekRead,
    ) -> Arc<Vec<PreparedSlot>> {
        if let Some(slots) = read.memo(form, element).prepared {
            return slots;
        }
        let window = el.window();
        let markers = &self.config.exchange.markers;
        let mut slots: Vec<PreparedSlot> = read
            .events
            .iter()
            .filter(|e| !e.cancelled && !e.all_day)
            .filter_map(|e| {
                let (ls, le) = (
                    e.start.with_timezone(&cal.time_zone),
                    e.end.with_timezone(&cal.time_zone),
                );
                if !is_shown(ls.naive_local(), le.naive_local(), &window) {
                    return None;
                }
                let id = self.signer.issue(
                    form,
                    element,
                    &SlotRef {
                        event_id: e.id.clone(),
                        start: e.start,
                        end: e.end,
                    },
                );
                Some(PreparedSlot {
                    id,
                    event_id: e.id.clone(),
                    start: ls.fixed_offset(),
                    end: le.fixed_offset(),
                    marker: marker_of(&e.subject, markers),
                    hold: e.hold.as_deref().and_then(hold::HoldInfo::parse),
                })
            })
            .collect();
        slots.sort_by_key(|s| (s.start, s.end));
        let slots = Arc::new(slots);
        read.update(form, element, |m| m.prepared = Some(slots.clone()));
        slots
    }

    /// One week of slots for this moment and this citizen (see [`Backend::week_json`]).
    ///
    /// [`Backend::week_json`]: app::api::Backend::week_json
    pub(super) async fn week(
        &self,
        form: &FormId,
        element: &ElementName,
        week: Option<NaiveDate>,
        hold: &str,
    ) -> Result<(WeekView, bool), BookingError> {
        let (el, cal) = self.lookup(form, element)?;
        let now = (self.clock)();
        let monday = wanted_monday(cal, week, now)?;
        let (read, stale) = self.week_events(cal, monday).await?;
        self.build_week((form, element), &el, cal, monday, &read, now, hold)
            .await
            .map(|(view, _)| (view, stale))
    }

    /// The week answer from this week's events (`monday`'s read), for this moment and
    /// this citizen's hold token; with the later weeks it looked through for the next free
    /// one (none when this week has a free slot).
    #[allow(clippy::too_many_arguments)]
    async fn build_week(
        &self,
        (form, element): (&FormId, &ElementName),
        el: &ElementConfig,
        cal: &CalendarConfig,
        monday: NaiveDate,
        read: &WeekRead,
        now: DateTime<Utc>,
        hold: &str,
    ) -> Result<(WeekView, Vec<LaterWeek>), BookingError> {
        let today = now.with_timezone(&cal.time_zone).date_naive();
        let first_week = monday_of(today);
        let slots = self.slots(
            &self.prepared((form, element), el, cal, read),
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
        let mut looked = Vec::new();
        let next_free_week = if has_free(&slots) {
            None
        } else {
            let mut found = None;
            for i in 1..=NEXT_FREE_SEARCH_WEEKS {
                let m = monday + Days::new(7 * i);
                if (m - first_week).num_weeks() > MAX_WEEKS_AHEAD {
                    break;
                }
                let (read, stale) = self.week_events(cal, m).await?;
                let free = has_free(&self.slots(
                    &self.prepared((form, element), el, cal, &read),
                    el,
                    cal,
                    now,
                    hold,
                ));
                looked.push(LaterWeek {
                    monday: m,
                    read,
                    stale,
                });
                if free {
                    found = Some(m);
                    break;
                }
            }
            found
        };
        let view = WeekView {
            week_start: monday,
            first_week,
            today,
            days: shown_days(monday, el.show_weekend),
            slots,
            next_free_week,
        };
        Ok((view, looked))
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
        // Whose reservations in flight are someone else's (only asked when there are any).
        let owner = (!self.claims.is_empty()).then(|| hold::owner_hash(hold_token));
        let claimed = |p: &PreparedSlot| {
            owner
                .as_ref()
                .is_some_and(|o| self.claims.by_other(&p.event_id, o))
        };
        prepared
            .iter()
            .map(|p| {
                let by_time = || classify(p.start.naive_local(), None, now_local, el.notice_days);
                let state = match rules::claim_from(p.marker, p.hold.as_ref(), now, hold_token) {
                    rules::Claim::Booked => SlotState::Booked,
                    rules::Claim::HeldByOther => SlotState::Reserved,
                    rules::Claim::Free if claimed(p) => SlotState::Reserved,
                    rules::Claim::Free => by_time(),
                    rules::Claim::Mine { active } => match by_time() {
                        SlotState::Free if active => SlotState::Held,
                        other => other,
                    },
                };
                SlotView {
                    id: p.id.to_string(),
                    start: p.start,
                    end: p.end,
                    state,
                }
            })
            .collect()
    }

    /// Most citizens look at the same few weeks without holding anything: their answer is
    /// the same JSON for everyone, kept until the week's read is refreshed or the clock
    /// could change a slot's state (a slot starts, a hold lapses, the date changes).
    pub(super) async fn week_answer(
        &self,
        form: &FormId,
        element: &ElementName,
        week: Option<NaiveDate>,
        hold: &str,
    ) -> Result<app::api::WeekAnswer, BookingError> {
        use app::api::WeekAnswer;
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
            json.map(|json| WeekAnswer {
                json: Bytes::from(json),
                gzip: None,
            })
            .map_err(|_| BookingError::Internal)
        };
        if !hold.is_empty() {
            // The answer marks this citizen's own hold: theirs alone.
            let (view, stale) = self.week(form, element, week, hold).await?;
            return serialise(&view, stale);
        }
        let (el, cal) = self.lookup(form, element)?;
        let now = (self.clock)();
        let monday = wanted_monday(cal, week, now)?;
        let (read, stale) = self.week_events(cal, monday).await?;
        let claims = self.claims.generation();
        let memo = read.memo(form, element);
        if let Some(hit) = if stale { memo.stale } else { memo.answer } {
            if now < hit.until && hit.claims == claims && self.still_kept(cal, &hit.later).await {
                self.metrics.week_answer_hit.inc();
                return Ok(WeekAnswer {
                    json: hit.json.clone(),
                    gzip: Some(hit.gzip.clone()),
                });
            }
        }
        self.metrics.week_answer_miss.inc();
        let (view, looked) = self
            .build_week((form, element), &el, cal, monday, &read, now, hold)
            .await?;
        let mut answer = serialise(&view, stale)?;
        // A week without a free slot also shows what the later weeks it looked through
        // hold (the next free one): its answer is kept like any other, and stands only while
        // those reads are the cache's and none of their slots can have changed by the
        // clock either. At opening hour, when every slot of the week is gone, every
        // citizen reads such a week; built for each of them it cost several times a kept
        // read (bench/results.md). One made while the calendar's read ceiling holds is
        // kept apart, marked stale, with the last good read it came from: every reader
        // gets it until the ceiling lifts, and making it for each of them would cost the
        // most just when reads are refused. One that looked through a later week's last
        // good read is not kept (the cache no longer holds that read to check against).
        if looked.iter().all(|l| !l.stale) {
            if let Some(gzip) = gzipped(&answer.json, flate2::Compression::default()) {
                self.metrics.week_answer_gzipped.inc();
                let prepared = |read: &WeekRead| self.prepared((form, element), &el, cal, read);
                let until = looked
                    .iter()
                    .map(|l| stable_until(&prepared(&l.read), cal, now))
                    .fold(stable_until(&prepared(&read), cal, now), DateTime::min);
                let kept = Arc::new(CachedAnswer {
                    until,
                    claims,
                    later: looked
                        .iter()
                        .map(|l| (l.monday, Arc::downgrade(&l.read)))
                        .collect(),
                    json: answer.json.clone(),
                    gzip: gzip.clone(),
                });
                read.update(form, element, |m| {
                    let slot = if stale { &mut m.stale } else { &mut m.answer };
                    *slot = Some(kept);
                });
                answer.gzip = Some(gzip);
            }
        }
        Ok(answer)
    }

    /// Whether each later week a kept answer looked through is still the read the cache
    /// keeps (a write or a new read of one replaces it; its time to live may have ended).
    async fn still_kept(
        &self,
        cal: &CalendarConfig,
        later: &[(NaiveDate, Weak<WeekRead>)],
    ) -> bool {
        for (monday, kept) in later {
            match self.cache.peek(&(cal.name.clone(), *monday)).await {
                Some(read) if std::ptr::eq(Arc::as_ptr(&read), kept.as_ptr()) => {}
                _ => return false,
            }
        }
        true
    }
}

/// A later week a week without a free slot looked through for the next free one.
struct LaterWeek {
    monday: NaiveDate,
    read: Arc<WeekRead>,
    /// Served from the last good read (the calendar's read ceiling was reached).
    stale: bool,
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
