//! The write path: reserve, extend, release and book. Its pure rules are in `rules.rs`,
//! a booking's files in `files.rs`, the confirmation in `confirm.rs`, the sweep of lapsed
//! holds in `sweep.rs`, signed-in citizens in `session.rs`.
//!
//! Every write is the same shape, serialised per event in this process, between instances
//! by the shared store's lease (`instances.rs`; without a store, by Exchange's `If-Match`
//! alone): read the event (with its hold property), decide from its subject and hold
//! whether this citizen may have it, then PATCH with `If-Match` on the etag just read.
//! A 409/412 means the event changed first: read again, it is a lost race ("taken") when its
//! subject, hold or times changed, and written once more when only something else did.
//! What Exchange answers teaches the cached week (no week read after a write), and a slot
//! the cached week knows is taken is refused without a call.
//!
//! (About 670 lines: reserve, release and book share the read-decide-write steps and their
//! lost races; split, each would carry a copy of them. The files, the rules, the
//! confirmation and the tests are apart.)

use super::documents;
use super::hold::{self, HoldInfo, ENDED};
use super::instances::Wait;
use super::rules::*;
use super::slot_id::SlotRef;
use super::{unavailable, Booket, Caller};
use crate::config::{CalendarConfig, ElementConfig};
use crate::mailbox::{Change, Event, MailboxError};
use app::api::{BookRequest, ElementName, FormId, ReserveRequest, SlotId};
use app::domain::rules::{base_subject, classify, is_shown};
use app::domain::week::monday_of;
use app::domain::{BookingError, Hold, Receipt, ReceiptState, SlotState};
use chrono::{DateTime, Utc};
use std::borrow::Cow;

impl Booket {
    /// Reads the event behind a slot id and checks it is still the slot that was offered:
    /// not cancelled, not all-day, not moved.
    pub(super) async fn read_slot(
        &self,
        cal: &CalendarConfig,
        slot: &SlotRef,
    ) -> Result<Event, BookingError> {
        // Only an event of the configured calendar is a slot.
        let offered = monday_of(slot.start.with_timezone(&cal.time_zone).date_naive());
        let event = match self
            .mailbox(cal)
            .event(&cal.outlook_calendar, &slot.event_id)
            .await
        {
            Ok(event) => event,
            Err(MailboxError::NotFound) => {
                self.learn_and_tell(cal, None, offered).await;
                return Err(BookingError::Taken);
            }
            Err(e) => return Err(unavailable(e)),
        };
        // What Exchange just said about the slot is what the cached week shows from now on.
        self.learn(cal, &event, offered).await;
        let unchanged = event.start == slot.start && event.end == slot.end;
        if event.cancelled || event.all_day || !unchanged {
            return Err(BookingError::Taken);
        }
        Ok(event)
    }

    /// The conditional write of subject (when given) and hold record. Where the backend
    /// does not enforce conditional writes (a tenant that ignores `If-Match`), the write is
    /// read back, and one that another writer overwrote meanwhile is a lost race too. That
    /// narrows the window between instances without closing it, so such a tenant runs one
    /// instance (docs/operators/check.md, `booket check --conformance`). A lost race is [`BookingError::Taken`].
    pub(super) async fn write_event(
        &self,
        cal: &CalendarConfig,
        event: &Event,
        subject: Option<&str>,
        hold_value: &str,
    ) -> Result<Event, MailboxError> {
        let mailbox = self.mailbox(cal);
        let offered = week_of(cal, event);
        let change = Change {
            subject,
            hold: hold_value,
            notify_attendees: self.notify_attendees(cal),
        };
        self.may_write(&event.id)?;
        let updated = match mailbox.update(event, change).await {
            // The event changed since it was read. A lost race only if what decides the
            // claim changed (subject, hold record, times); a change of anything else (staff
            // edited the text or location, a sibling occurrence of a series moved the shared
            // version) is read once more and written once more.
            Err(MailboxError::Conflict) => {
                let now = match mailbox.event(&cal.outlook_calendar, &event.id).await {
                    Ok(now) => now,
                    Err(MailboxError::NotFound) => {
                        self.learn_and_tell(cal, None, offered).await;
                        return Err(MailboxError::NotFound);
                    }
                    Err(e) => return Err(e),
                };
                self.learn(cal, &now, offered).await;
                let same_claim = now.subject == event.subject
                    && now.hold == event.hold
                    && now.start == event.start
                    && now.end == event.end
                    && !now.cancelled;
                if !same_claim {
                    return Err(MailboxError::Conflict);
                }
                tracing::info!(event = %event.id, "the event changed in another way since it was read; written again");
                self.may_write(&event.id)?;
                mailbox.update(&now, change).await?
            }
            other => other?,
        };
        if mailbox.capabilities().conditional_writes {
            self.learn(cal, &updated, offered).await;
            return Ok(updated);
        }
        let now = mailbox.event(&cal.outlook_calendar, &event.id).await?;
        self.learn(cal, &now, offered).await;
        let ours =
            now.hold.as_deref() == Some(hold_value) && subject.is_none_or(|s| now.subject == s);
        if ours {
            Ok(now)
        } else {
            tracing::warn!(event = %event.id, "a write was overwritten at once (this tenant does not enforce If-Match)");
            Err(MailboxError::Conflict)
        }
    }

    /// The upload limits for a booking in this calendar: the configured ones, no file
    /// larger than its mailbox's backend attaches.
    pub(super) fn upload_limits(&self, cal: &CalendarConfig) -> crate::config::UploadLimits {
        let mut limits = self.config.uploads.clone();
        let largest = self.mailbox(cal).capabilities().max_attachment_bytes;
        limits.max_file_bytes = limits.max_file_bytes.min(largest);
        limits
    }

    /// Whether attendees of this calendar's events hear of Booket's writes: yes when any
    /// element booking in it asks for it, and always where the backend cannot suppress
    /// meeting updates (Graph; `Booket::resolve_calendars` warns of it at start).
    fn notify_attendees(&self, cal: &CalendarConfig) -> bool {
        if !self.mailbox(cal).capabilities().suppress_attendee_mail {
            return true;
        }
        self.config
            .elements_in(&cal.name)
            .any(|e| e.notify_attendees)
    }

    /// The conditional write of subject and hold record. A lost race is
    /// [`BookingError::Taken`].
    pub(super) async fn write_subject(
        &self,
        cal: &CalendarConfig,
        event: &Event,
        subject: &str,
        hold_value: &str,
    ) -> Result<Event, BookingError> {
        let updated = self
            .write_event(cal, event, Some(subject), hold_value)
            .await
            .map_err(|e| match e {
                MailboxError::Conflict | MailboxError::NotFound => BookingError::Taken,
                other => unavailable(other),
            })?;
        if updated.subject != subject {
            tracing::error!(event = %updated.id, "subject after the write is not the one written");
            return Err(BookingError::Internal);
        }
        Ok(updated)
    }

    /// Whether the cached week (if kept) shows this slot booked or held by someone other
    /// than `token`'s holder (a booking marked `mine` is this request's own).
    pub(super) async fn known_taken(
        &self,
        cal: &CalendarConfig,
        slot: &SlotRef,
        token: &str,
        now: DateTime<Utc>,
        mine: Option<&str>,
    ) -> bool {
        let week = monday_of(slot.start.with_timezone(&cal.time_zone).date_naive());
        self.cached_event(cal, week, &slot.event_id)
            .await
            .is_some_and(|e| {
                e.start == slot.start
                    && e.end == slot.end
                    && (mine.is_none() || e.hold.as_deref().and_then(hold::booked_mark) != mine)
                    && match claim_of(&e, &self.config.exchange.markers, now, token) {
                        Claim::Booked => true,
                        // Only a hold record the cache has seen says whose hold it is; a
                        // reservation known without one is decided by reading the event.
                        Claim::HeldByOther => e.hold.is_some(),
                        Claim::Free | Claim::Mine { .. } => false,
                    }
            })
    }

    /// A new hold written without reading the event first, where the kept week shows the
    /// slot free and Exchange enforces `If-Match` ([`Booket::free_in_cache`]): one call.
    /// Refused as stale, the read that followed taught the kept week the event as it is,
    /// and that decides — free, it is written once more against it; otherwise "taken".
    /// `None`: not possible here, the caller reads the event first.
    async fn hold_at_once(
        &self,
        cal: &CalendarConfig,
        slot: &SlotRef,
        token: &str,
        now: DateTime<Utc>,
    ) -> Option<Result<DateTime<Utc>, BookingError>> {
        let kept = self.free_in_cache(cal, slot, token, now).await?;
        match self.write_hold(cal, &kept, token).await {
            Err(BookingError::Taken) => {}
            written => return Some(written),
        }
        let week = monday_of(slot.start.with_timezone(&cal.time_zone).date_naive());
        let read = self
            .cached_event(cal, week, &slot.event_id)
            .await
            .filter(|read| read.version != kept.version)?;
        if read.cancelled || read.all_day || read.start != slot.start || read.end != slot.end {
            return Some(Err(BookingError::Taken));
        }
        Some(match self.claimable_from(cal, slot, read, token).await {
            Ok(event) => self.write_hold(cal, &event, token).await,
            Err(e) => Err(e),
        })
    }

    /// The slot's event as the kept week shows it, when a new hold may be written against
    /// it without reading it first: the week shows it free (no hold whose files are still
    /// on it), unmoved, with a version, and the mailbox refuses a write against an older
    /// version (`If-Match` enforced; where it is not, the write path reads and reads back).
    async fn free_in_cache(
        &self,
        cal: &CalendarConfig,
        slot: &SlotRef,
        token: &str,
        now: DateTime<Utc>,
    ) -> Option<Event> {
        if !self.mailbox(cal).capabilities().conditional_writes {
            return None;
        }
        let week = monday_of(slot.start.with_timezone(&cal.time_zone).date_naive());
        let kept = self.cached_event(cal, week, &slot.event_id).await?;
        let unmoved = kept.start == slot.start
            && kept.end == slot.end
            && !kept.cancelled
            && !kept.all_day
            && kept.version.is_some();
        let no_files_left = kept
            .hold
            .as_deref()
            .and_then(HoldInfo::parse)
            .is_none_or(|h| h.files.is_empty());
        let free = matches!(
            claim_of(&kept, &self.config.exchange.markers, now, token),
            Claim::Free
        );
        (unmoved && no_files_left && free).then_some(kept)
    }

    /// The booking rules (docs/designers/booking.md) for a slot's times against the server clock.
    pub(super) fn check_rules(
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

    /// The element, its calendar and the slot behind an id issued for that element.
    #[allow(clippy::type_complexity)]
    pub(super) fn verify(
        &self,
        form: &FormId,
        element: &ElementName,
        slot_id: &SlotId,
    ) -> Result<(Cow<'_, ElementConfig>, &CalendarConfig, SlotRef), BookingError> {
        let (el, cal) = self.lookup(form, element)?;
        let slot = self
            .signer
            .verify(form, element, slot_id)
            .ok_or(BookingError::InvalidSlot)?;
        Ok((el, cal, slot))
    }

    /// Reserves (or extends) a slot for the holder of `req.hold` (a new holder when empty),
    /// then gives back the slot that holder had for this element. Also says which slot was
    /// given back (written), if any.
    pub(super) async fn reserve_slot(
        &self,
        caller: &Caller,
        req: ReserveRequest,
    ) -> Result<(Hold, Option<SlotId>), BookingError> {
        let (el, cal, slot) = self.verify(&req.form, &req.element, &req.slot_id)?;
        self.check_rules(&el, cal, slot.start, slot.end)?;
        let token = if req.hold.is_empty() {
            hold::new_token()
        } else {
            req.hold.to_string()
        };
        let now = (self.clock)();
        let owner = hold::owner_hash(&token);
        let client = caller.client;
        // A citizen the form's backend vouches for holds one slot per element, under
        // whatever token; the address cap is for anonymous use only.
        let citizen = self.citizen_of(&req.form, &req.session, now)?;
        // One reservation per token and element at a time, so what the token holds is
        // decided here and not raced by its own concurrent requests.
        let _token = self
            .token_locks
            .lock(&(req.form.clone(), req.element.clone(), owner.clone()))
            .await;
        // With several instances, the holder's reservations are decided one at a time
        // across them too: the citizen's (whatever token), or the token's.
        let who = match &citizen {
            Some(c) => format!("citizen:{c}"),
            None => owner.clone(),
        };
        // A token made in this very call is held by no one and can be raced by no one: only
        // an existing token or a signed-in citizen needs the lease and the store's record.
        let new_holder = req.hold.is_empty() && citizen.is_none();
        let _holder = if new_holder {
            None
        } else {
            Some(self.lock_holder(&req.form, &req.element, &who).await?)
        };
        // One active hold per token and element: the slot this token holds is given back
        // in this same call — the one the server knows of (here, or on another instance
        // through the store), whatever the client names. The client's `release_slot_id`
        // counts only when no instance knows of a hold (they restarted); giving it back
        // then checks on the event that the token holds it.
        let held = match self.holds.held_by((&req.form, &req.element, &owner), now) {
            Some(held) => Some(held),
            None if citizen.is_none() && !new_holder => self
                .shared_holder(&req.form, &req.element, &owner)
                .await
                .map(|(slot, _)| slot),
            None => None,
        };
        let mut release = match (&held, &req.release_slot_id) {
            (Some(held), _) => Some(held.clone()),
            (None, Some(hint)) => Some(hint.clone()),
            (None, None) => None,
        };
        let mut release_token = token.clone();
        let mut place = None;
        match &citizen {
            Some(c) => {
                let theirs = match self.holds.citizen_holds((&req.form, &req.element, c), now) {
                    Some(theirs) => Some(theirs),
                    None => self.shared_holder(&req.form, &req.element, &who).await,
                };
                if let Some((slot_id, their_token)) =
                    theirs.filter(|(slot_id, _)| slot_id != &req.slot_id)
                {
                    release = Some(slot_id);
                    release_token = their_token;
                }
            }
            // A new hold (not an extension or a move of this token's hold) takes one of
            // the client's places under the cap, checked and counted in one step; a write
            // that fails gives it back.
            None if held.is_none() => {
                if let Some(c) = client {
                    let cap = self.config.max_holds_per_client;
                    match self.holds.take_place(c, cap, now) {
                        Some(p) => place = Some(p),
                        None => {
                            tracing::warn!("a client reached max_holds_per_client");
                            return Err(BookingError::RateLimited { retry_after: 0 });
                        }
                    }
                }
            }
            None => {}
        }
        // The same cap across every instance (the shared store; in process nothing here).
        let member = super::instances::place_member(&req.form, &req.element, &owner);
        let shared_place = if citizen.is_none() {
            let until = now + self.config.exchange.hold;
            self.take_shared_place(client, &member, now, until).await?
        } else {
            crate::store::Place::Kept
        };
        // A slot the cached week already knows is taken is refused without asking Exchange,
        // before waiting for the event's lock and again after it (whoever held the lock
        // wrote, and the cache learnt what Exchange answered). A cached "free" decides
        // nothing: the write path reads the event itself.
        if self.known_taken(cal, &slot, &token, now, None).await {
            return Err(BookingError::Taken);
        }
        // Another citizen's reservation of it is on its way to Exchange from here: it will
        // almost surely win, so this one does not queue behind it (see `claims.rs`).
        let written = async {
            let Some(claim) = self.claims.claim(&slot.event_id, &owner) else {
                return Err(BookingError::Taken);
            };
            // A new hold loses at once to another instance writing the slot; a citizen's
            // own hold (extended or moved) waits its turn.
            let wait = if req.hold.is_empty() {
                Wait::Not
            } else {
                Wait::UpToADeadline
            };
            let _guard = self.lock_event(&slot.event_id, wait).await?;
            if self.known_taken(cal, &slot, &token, now, None).await {
                return Err(BookingError::Taken);
            }
            // Free in the kept week, and Exchange enforces `If-Match`: one call, the write
            // against the kept version. Refused (someone wrote the event since, or the kept
            // week was behind), the event is read and decided as always.
            let expires = match self.hold_at_once(cal, &slot, &token, now).await {
                Some(written) => written,
                None => {
                    let event = self.claimable(cal, &slot, &token).await?;
                    self.write_hold(cal, &event, &token).await
                }
            };
            drop(claim);
            expires
        }
        .await;
        let expires = match written {
            Ok(expires) => expires,
            Err(e) => {
                if shared_place == crate::store::Place::New {
                    self.give_back_shared_place(client, &member).await;
                }
                return Err(e);
            }
        };
        if citizen.is_none() {
            // The place lasts as long as the hold.
            let _ = self.take_shared_place(client, &member, now, expires).await;
        }
        self.keep_holder(
            (&req.form, &req.element, &who),
            &req.slot_id,
            &token,
            expires,
            now,
        )
        .await;
        match &citizen {
            Some(c) => self.holds.record_citizen(
                (&req.form, &req.element, c),
                &req.slot_id,
                &token,
                expires,
                now,
            ),
            None => self.holds.record(
                (&req.form, &req.element, &owner),
                &req.slot_id,
                expires,
                client,
                place,
                now,
            ),
        }
        let mut released = None;
        if let Some(release) = release.filter(|r| r != &req.slot_id) {
            match self
                .release_slot(&req.form, &req.element, &release, &release_token)
                .await
            {
                Ok(wrote) => released = wrote.then_some(release),
                // The old hold lapses by itself; the new one stands.
                Err(e) => tracing::warn!("could not give back the previous hold: {e}"),
            }
        }
        let hold = Hold {
            slot_id: req.slot_id.to_string(),
            token,
            expires: expires.with_timezone(&cal.time_zone).fixed_offset(),
            seconds_left: (expires - now).num_seconds().clamp(0, i64::from(u32::MAX)) as u32,
        };
        Ok((hold, released))
    }

    /// Gives a slot back if `token` holds it; anything else is left alone. True when
    /// Graph was written to. Whether the token holds the slot is judged from the week as
    /// cached first (one read per week and cache lifetime at most), so a release with a
    /// made-up token costs no Graph call and clears no cache.
    pub(super) async fn release_slot(
        &self,
        form: &FormId,
        element: &ElementName,
        slot_id: &SlotId,
        token: &str,
    ) -> Result<bool, BookingError> {
        let (_, cal, slot) = self.verify(form, element, slot_id)?;
        if token.is_empty() {
            return Err(BookingError::invalid("hold"));
        }
        let now = (self.clock)();
        let markers = &self.config.exchange.markers;
        let monday = monday_of(slot.start.with_timezone(&cal.time_zone).date_naive());
        let (week, _) = self.week_events(cal, monday).await?;
        let held = week.events.iter().any(|e| {
            e.id == slot.event_id && matches!(claim_of(e, markers, now, token), Claim::Mine { .. })
        });
        if !held {
            return Ok(false);
        }
        let _guard = self.lock_event(&slot.event_id, Wait::UpToADeadline).await?;
        let event = match self.read_slot(cal, &slot).await {
            Ok(e) => e,
            // Gone, moved or cancelled: nothing of ours to give back.
            Err(BookingError::Taken) => return Ok(false),
            Err(e) => return Err(e),
        };
        if !matches!(claim_of(&event, markers, now, token), Claim::Mine { .. }) {
            return Ok(false);
        }
        let subject = base_subject(&event.subject, markers).to_owned();
        let owner = hold::owner_hash(token);
        self.holds.forget_slot((form, element, &owner), slot_id);
        self.forget_holder(form, element, &owner, Some(slot_id))
            .await;
        match self.write_subject(cal, &event, &subject, ENDED).await {
            Ok(_) => Ok(true),
            // Changed since we read it: no longer ours to touch.
            Err(BookingError::Taken) => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// Books a slot: the citizen's own hold, or a free slot claimed directly. With
    /// documents or a summary the slot is claimed (reserved) first, the files attached,
    /// ownership verified again, and only then " - Booket" written, so a citizen's files
    /// never land on an event someone else holds and attendees get one update that already
    /// carries the files. If anything fails after the claim, the files added are removed
    /// again and the slot stays reserved for the citizen until the hold lapses.
    pub(super) async fn book_slot(
        &self,
        caller: &Caller,
        req: BookRequest,
    ) -> Result<Receipt, BookingError> {
        let (el, cal, slot) = self.verify(&req.form, &req.element, &req.slot_id)?;
        let files: Vec<documents::File<'_>> = if el.attach_documents {
            documents::checked(&req.files, &self.upload_limits(cal))?
        } else {
            Vec::new()
        };
        let key = format!(
            "{}\u{1f}{}\u{1f}{}",
            req.form, req.element, req.idempotency_key
        );
        if let Some(r) = self.remembered_here(&key, &req.slot_id)? {
            return Ok(r);
        }
        let booked_mark = booked_value(&key);
        // Without a hold of their own, the citizen's request holds the slot under a token
        // derived from its idempotency key, so a resubmission finds it again.
        let token = if req.hold.is_empty() {
            hold::token_for(&key)
        } else {
            req.hold.to_string()
        };
        self.check_rules(&el, cal, slot.start, slot.end)?;
        // Known taken by someone else (not booked by this very request): no call.
        let now = (self.clock)();
        if self
            .known_taken(cal, &slot, &token, now, Some(&booked_mark))
            .await
        {
            return Err(BookingError::Taken);
        }
        // One write per event at a time in this process; the conditional writes settle
        // races between processes.
        let _guard = self.lock_event(&slot.event_id, Wait::UpToADeadline).await?;
        if let Some(r) = self.remembered(&key, &req.slot_id).await? {
            return Ok(r);
        }
        let event = self.read_slot(cal, &slot).await?;
        // A retry of a booking whose answer was lost (a timeout, a restart, another
        // instance): the event itself says this request booked it.
        if event.hold.as_deref().and_then(hold::booked_mark) == Some(booked_mark.as_str()) {
            let receipt = self.receipt(&req, cal, &slot, &booked_mark, Vec::new());
            self.remember(key, req.slot_id.clone(), receipt.clone())
                .await;
            return Ok(receipt);
        }
        let event = self.claimable_from(cal, &slot, event, &token).await?;
        let claim = claim_of(
            &event,
            &self.config.exchange.markers,
            (self.clock)(),
            &token,
        );
        let with_documents = !files.is_empty() || el.attach_summary;
        let mut attached = Vec::new();
        let event = if with_documents {
            // Files an earlier, unfinished attempt of this citizen recorded (their server
            // died mid-booking) go first, so the booking carries each file once.
            let earlier = event
                .hold
                .as_deref()
                .and_then(HoldInfo::parse)
                .filter(|h| h.is_owned_by(&token) && !h.files.is_empty());
            let event = match earlier {
                Some(h) => {
                    self.remove_files_of(cal, &slot.event_id, &h)
                        .await
                        .map_err(unavailable)?;
                    self.read_slot(cal, &slot).await?
                }
                None => event,
            };
            // Claim first (unless the citizen's hold is already in place).
            if !matches!(claim, Claim::Mine { active: true }) {
                self.write_hold(cal, &event, &token).await?;
            }
            match self
                .attach_documents(&req, &el, cal, &slot, &files, &token, &mut attached)
                .await
            {
                Ok(fresh) => fresh,
                Err(e) => {
                    self.remove_attachments(cal, &slot.event_id, &attached)
                        .await;
                    return Err(e);
                }
            }
        } else {
            event
        };
        let markers = &self.config.exchange.markers;
        let subject = format!(
            "{}{}",
            base_subject(&event.subject, markers),
            markers.booked
        );
        // The record names the booking and keeps what cancelling it and reminding of it
        // need: whose files are on the event, where word of it goes, and when the reminder
        // is due (`BookedRecord`; the reminder sweep, `remind.rs`).
        let to = self
            .citizen_address(&req)
            .and_then(|to| self.receipt_signer.as_ref()?.seal(&to));
        let remind = (el.reminder_hours > 0 && to.is_some()).then(|| {
            (slot.start - chrono::TimeDelta::hours(i64::from(el.reminder_hours))).timestamp()
        });
        let record = hold::BookedRecord {
            mark: booked_mark.clone(),
            owner: Some(hold::owner_hash(&token)),
            files: attached
                .iter()
                .map(|(id, _)| id.clone())
                .filter(hold::is_recordable_attachment_id)
                .take(hold::MAX_RECORDED_FILES)
                .collect(),
            to,
            remind,
            form: remind.map(|_| req.form.to_string()),
            element: remind.map(|_| req.element.to_string()),
            reminded: None,
        };
        if let Err(e) = self
            .write_subject(cal, &event, &subject, &record.to_value())
            .await
        {
            self.remove_attachments(cal, &slot.event_id, &attached)
                .await;
            return Err(e);
        }
        let mut receipt = self.receipt(
            &req,
            cal,
            &slot,
            &booked_mark,
            attached.iter().map(|(_, name)| name.clone()).collect(),
        );
        tracing::info!(calendar = %cal.name, start = %receipt.start, files = attached.len(), "slot booked");
        let owner = hold::owner_hash(&token);
        self.holds.forget((&req.form, &req.element, &owner));
        self.forget_holder(&req.form, &req.element, &owner, None)
            .await;
        let member = super::instances::place_member(&req.form, &req.element, &owner);
        self.give_back_shared_place(caller.client, &member).await;
        receipt.mail = self
            .confirm_by_mail(caller, &req, cal, &slot, &event, &booked_mark)
            .await;
        self.announce(super::webhooks::Happened {
            kind: "booking.created",
            form: req.form.as_str(),
            element: req.element.as_str(),
            calendar: &cal.name,
            booking: crate::receipts::booking_id(slot.event_id.as_str(), &booked_mark),
            previous: None,
            start: receipt.start,
            end: receipt.end,
        });
        self.remember(key, req.slot_id.clone(), receipt.clone())
            .await;
        Ok(receipt)
    }

    /// Reads the slot's event and checks `token`'s holder may claim it; files a lapsed
    /// hold's owner left behind (their booking never finished) are removed first, so they
    /// never reach another citizen's booking.
    pub(super) async fn claimable(
        &self,
        cal: &CalendarConfig,
        slot: &SlotRef,
        token: &str,
    ) -> Result<Event, BookingError> {
        let event = self.read_slot(cal, slot).await?;
        self.claimable_from(cal, slot, event, token).await
    }

    /// [`Booket::claimable`] for an event already read.
    pub(super) async fn claimable_from(
        &self,
        cal: &CalendarConfig,
        slot: &SlotRef,
        event: Event,
        token: &str,
    ) -> Result<Event, BookingError> {
        match claim_of(&event, &self.config.exchange.markers, (self.clock)(), token) {
            Claim::Booked | Claim::HeldByOther => Err(BookingError::Taken),
            Claim::Mine { .. } => Ok(event),
            Claim::Free => {
                if self.remove_lapsed_files(cal, &event, token).await? {
                    // The deletions moved the etag on: read again for the conditional write.
                    self.read_slot(cal, slot).await
                } else {
                    Ok(event)
                }
            }
        }
    }

    pub(super) fn receipt(
        &self,
        req: &BookRequest,
        cal: &CalendarConfig,
        slot: &SlotRef,
        booked_mark: &str,
        attachments: Vec<String>,
    ) -> Receipt {
        let mut receipt = Receipt {
            slot_id: req.slot_id.to_string(),
            start: slot.start.with_timezone(&cal.time_zone).fixed_offset(),
            end: slot.end.with_timezone(&cal.time_zone).fixed_offset(),
            calendar: cal.name.clone(),
            state: ReceiptState::Booked,
            attachments,
            mail: None,
            jws: None,
        };
        if let Some(signer) = &self.receipt_signer {
            let id = crate::receipts::booking_id(slot.event_id.as_str(), booked_mark);
            receipt.jws = signer.sign(&req.form, &req.element, &id, &receipt, (self.clock)());
        }
        receipt
    }

    /// PATCHes " - Reserveret" with a hold for `token`; returns when the hold lapses. An
    /// extension keeps the time the hold began, and no hold outlives `hold_max`: near it,
    /// extending is refused with [`BookingError::HoldLimit`].
    pub(super) async fn write_hold(
        &self,
        cal: &CalendarConfig,
        event: &Event,
        token: &str,
    ) -> Result<DateTime<Utc>, BookingError> {
        let now = (self.clock)();
        let hold_for = chrono::TimeDelta::from_std(self.config.exchange.hold)
            .unwrap_or(chrono::TimeDelta::minutes(15));
        let hold_max =
            chrono::TimeDelta::from_std(self.config.exchange.hold_max).unwrap_or(hold_for);
        let since = hold_since(event, &self.config.exchange.markers, token, now, hold_for);
        let expires = hold_expiry(now, since, hold_for, hold_max)?;
        let markers = &self.config.exchange.markers;
        let subject = format!(
            "{}{}",
            base_subject(&event.subject, markers),
            markers.reserved
        );
        let info = HoldInfo {
            owner: hold::owner_hash(token),
            expires,
            since: Some(since),
            files: Vec::new(),
        };
        self.write_subject(cal, event, &subject, &info.to_value())
            .await?;
        Ok(expires)
    }
}

#[cfg(test)]
#[path = "write_tests.rs"]
mod tests;
