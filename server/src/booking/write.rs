//! The write path: reserve, extend, release and book, and the sweep of lapsed holds.
//!
//! Every write is the same shape, serialised per event in this process and settled between
//! processes by Graph: read the event (with its hold property), decide from its subject and
//! hold whether this citizen may have it, then PATCH with `If-Match` on the etag just read.
//! A 409/412 means someone else changed it first: the citizen is told the time was taken.

use super::documents;
use super::hold::{self, HoldInfo, ENDED, HOLD_PROPERTY};
use super::slot_id::SlotRef;
use super::{unavailable, Booket};
use crate::config::{CalendarConfig, ElementConfig, MailConfig};
use crate::graph::{wire, AppCredentials, GraphError};
use crate::mail;
use app::api::{BookRequest, ReserveRequest};
use app::domain::rules::{base_subject, marker_of, Marker};
use app::domain::week::monday_of;
use app::domain::{BookingError, Hold, MailOutcome, Markers, Receipt, ReceiptState};
use chrono::{DateTime, Days, Utc};
use std::borrow::Cow;

/// What the hold property says once a booking request booked the event: a hash of the
/// request's idempotency scope, so a retry can recognise its own booking.
fn booked_value(idempotency_scope: &str) -> String {
    format!("booked;{}", hold::owner_hash(idempotency_scope))
}

/// The `contentId` Booket gives the files it attaches for one hold owner.
pub(super) fn file_tag(owner_hash: &str) -> String {
    format!("booket-{owner_hash}")
}

/// What one citizen (by hold token) may do with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Claim {
    /// No marker, or a reservation whose hold has lapsed.
    Free,
    /// Reserved with this citizen's token (`active` false once it lapsed; still untouched).
    Mine {
        active: bool,
    },
    /// Reserved by someone else and still held, or marked " - Reserveret" by hand.
    HeldByOther,
    Booked,
}

pub(super) fn claim_of(
    event: &wire::Event,
    markers: &Markers,
    now: DateTime<Utc>,
    token: &str,
) -> Claim {
    let marker = marker_of(event.subject.as_deref().unwrap_or(""), markers);
    claim_from(
        marker,
        event
            .property(HOLD_PROPERTY)
            .and_then(HoldInfo::parse)
            .as_ref(),
        now,
        token,
    )
}

/// [`claim_of`] from an event's marker and hold, already read.
pub(super) fn claim_from(
    marker: Option<Marker>,
    hold: Option<&HoldInfo>,
    now: DateTime<Utc>,
    token: &str,
) -> Claim {
    match marker {
        None => Claim::Free,
        Some(Marker::Booked) => Claim::Booked,
        Some(Marker::Reserved) => match hold {
            Some(h) if h.is_owned_by(token) => Claim::Mine {
                active: h.is_active(now),
            },
            Some(h) if !h.is_active(now) => Claim::Free,
            _ => Claim::HeldByOther,
        },
    }
}

/// A citizen session token as a form's backend signs it (HS256): who, for which form,
/// until when.
#[derive(serde::Deserialize)]
struct SessionClaims {
    sub: String,
    exp: i64,
}

/// The longest a session token may be valid for, from now.
const MAX_SESSION_SECONDS: i64 = 12 * 3600;

impl Booket {
    /// The citizen a session token names (a hash of the form and its `sub`), if one came
    /// and the form has a key; a token that does not verify — wrong key, another form's,
    /// expired, or valid for too long — is refused.
    fn citizen_of(
        &self,
        form: &str,
        session: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, BookingError> {
        if session.is_empty() {
            return Ok(None);
        }
        let refuse = || BookingError::invalid("session");
        let key = self
            .config
            .form(form)
            .and_then(|f| f.session_key.as_ref())
            .ok_or_else(refuse)?;
        let key = jsonwebtoken::DecodingKey::from_secret(
            secrecy::ExposeSecret::expose_secret(key).as_bytes(),
        )
        .map_err(|_| refuse())?;
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.set_audience(&[form]);
        validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        // Expiry is judged by Booket's clock, below.
        validation.validate_exp = false;
        let claims = jsonwebtoken::decode::<SessionClaims>(session, &key, &validation)
            .map_err(|e| {
                tracing::warn!("a session token was refused: {:?}", e.kind());
                refuse()
            })?
            .claims;
        let left = claims.exp - now.timestamp();
        if left <= 0 || left > MAX_SESSION_SECONDS || claims.sub.is_empty() {
            return Err(refuse());
        }
        Ok(Some(hold::owner_hash(&format!(
            "{form}\u{1f}{}",
            claims.sub
        ))))
    }
}

/// When `token`'s hold on this event began: kept across extensions of an active hold
/// (records without it count from their expiry less one hold); now for a new hold.
fn hold_since(
    event: &wire::Event,
    markers: &app::domain::Markers,
    token: &str,
    now: DateTime<Utc>,
    hold_for: chrono::TimeDelta,
) -> DateTime<Utc> {
    if marker_of(event.subject.as_deref().unwrap_or(""), markers) != Some(Marker::Reserved) {
        return now;
    }
    match event.property(HOLD_PROPERTY).and_then(HoldInfo::parse) {
        Some(h) if h.is_owned_by(token) && h.is_active(now) => {
            h.since.unwrap_or(h.expires - hold_for).min(now)
        }
        _ => now,
    }
}

/// When a hold begun at `since` and (re)written at `now` lapses: one hold from now, but
/// never past `since + hold_max`. Cut short by that limit to less than a minute (or than one
/// hold, if holds are shorter), it is not worth giving: [`BookingError::HoldLimit`].
fn hold_expiry(
    now: DateTime<Utc>,
    since: DateTime<Utc>,
    hold_for: chrono::TimeDelta,
    hold_max: chrono::TimeDelta,
) -> Result<DateTime<Utc>, BookingError> {
    let expires = (now + hold_for).min(since + hold_max);
    let least = hold_for.min(chrono::TimeDelta::minutes(1));
    if expires < now + hold_for && expires - now < least {
        return Err(BookingError::HoldLimit);
    }
    Ok(expires)
}

/// Monday of the local week an event starts in.
fn week_of(cal: &CalendarConfig, event: &wire::Event) -> Option<chrono::NaiveDate> {
    wire::to_utc(&event.start)
        .ok()
        .map(|s| monday_of(s.with_timezone(&cal.time_zone).date_naive()))
}

impl Booket {
    /// Reads the event behind a slot id and checks it is still the slot that was offered:
    /// not cancelled, not all-day, not moved.
    async fn read_slot(
        &self,
        cal: &CalendarConfig,
        slot: &SlotRef,
    ) -> Result<wire::Event, BookingError> {
        // Only an event of the configured calendar is a slot.
        let calendar_id = self.calendar_id(cal).await.map_err(unavailable)?;
        let event = self
            .graph
            .get_event(
                &Self::credentials(cal),
                &cal.owner,
                &calendar_id,
                &slot.event_id,
                HOLD_PROPERTY,
            )
            .await
            .map_err(|e| match e {
                GraphError::NotFound { .. } => BookingError::Taken,
                other => unavailable(other),
            })?;
        let unchanged = matches!(
            (wire::to_utc(&event.start), wire::to_utc(&event.end)),
            (Ok(s), Ok(e)) if s == slot.start && e == slot.end
        );
        if event.is_cancelled || event.is_all_day || !unchanged {
            return Err(BookingError::Taken);
        }
        Ok(event)
    }

    /// The conditional write. A lost race is [`BookingError::Taken`].
    async fn write_subject(
        &self,
        cal: &CalendarConfig,
        event: &wire::Event,
        subject: &str,
        hold_value: &str,
    ) -> Result<wire::Event, BookingError> {
        let etag = event.if_match().ok_or_else(|| {
            tracing::error!(event = %event.id, "event without etag or changeKey");
            BookingError::Internal
        })?;
        let updated = self
            .graph
            .patch_event(
                &Self::credentials(cal),
                &cal.owner,
                &event.id,
                &etag,
                Some(subject),
                Some((HOLD_PROPERTY, hold_value)),
            )
            .await
            .map_err(|e| match e {
                GraphError::Conflict { .. } | GraphError::NotFound { .. } => BookingError::Taken,
                other => unavailable(other),
            })?;
        if updated.subject.as_deref() != Some(subject) {
            tracing::error!(event = %updated.id, "subject after the write is not the one written");
            return Err(BookingError::Internal);
        }
        Ok(updated)
    }

    /// Records the files added so far in the citizen's hold record: reads the event, checks
    /// the hold is still theirs, and writes the record alone (the subject is left as it is)
    /// with `If-Match` on what was read. A change in between (staff edited the event) is
    /// read again once; a hold that is no longer theirs is [`BookingError::Taken`]. The
    /// conditional write doubles as the check that the slot is still theirs.
    async fn record_files(
        &self,
        cal: &CalendarConfig,
        slot: &SlotRef,
        token: &str,
        attached: &[(String, String)],
    ) -> Result<wire::Event, BookingError> {
        let files: Vec<String> = attached
            .iter()
            .map(|(id, _)| id.clone())
            .filter(|id| {
                let ok = hold::is_recordable_attachment_id(id);
                if !ok {
                    tracing::warn!(event = %slot.event_id, "an attachment id cannot be recorded; its contentId tag is left to find it");
                }
                ok
            })
            .take(hold::MAX_RECORDED_FILES)
            .collect();
        let mut tries = 0;
        loop {
            tries += 1;
            let event = self.read_slot(cal, slot).await?;
            let Some(mut info) = event
                .property(HOLD_PROPERTY)
                .and_then(HoldInfo::parse)
                .filter(|h| h.is_owned_by(token))
            else {
                return Err(BookingError::Taken);
            };
            if marker_of(
                event.subject.as_deref().unwrap_or(""),
                &self.config.exchange.markers,
            ) != Some(Marker::Reserved)
            {
                return Err(BookingError::Taken);
            }
            info.files = files.clone();
            let etag = event.if_match().ok_or(BookingError::Internal)?;
            match self
                .graph
                .patch_event(
                    &Self::credentials(cal),
                    &cal.owner,
                    &event.id,
                    &etag,
                    None,
                    Some((HOLD_PROPERTY, &info.to_value())),
                )
                .await
            {
                Ok(updated) => return Ok(updated),
                Err(GraphError::Conflict { .. }) if tries < 2 => continue,
                Err(GraphError::Conflict { .. } | GraphError::NotFound { .. }) => {
                    return Err(BookingError::Taken)
                }
                Err(e) => return Err(unavailable(e)),
            }
        }
    }

    /// The element, its calendar and the slot behind an id issued for that element.
    #[allow(clippy::type_complexity)]
    fn verify(
        &self,
        form: &str,
        element: &str,
        slot_id: &str,
    ) -> Result<(Cow<'_, ElementConfig>, &CalendarConfig, SlotRef), BookingError> {
        let (el, cal) = self.lookup(form, element)?;
        let slot = self
            .signer
            .verify(form, element, slot_id)
            .ok_or(BookingError::InvalidSlot)?;
        Ok((el, cal, slot))
    }

    /// Reserves (or extends) a slot for the holder of `req.hold` (a new holder when empty),
    /// then gives back `req.release_slot_id` if that was theirs. Also says whether that
    /// second slot was written.
    pub(super) async fn reserve_slot(
        &self,
        req: ReserveRequest,
    ) -> Result<(Hold, bool), BookingError> {
        let (el, cal, slot) = self.verify(&req.form, &req.element, &req.slot_id)?;
        if !hold::is_valid_token(&req.hold) {
            return Err(BookingError::invalid("hold"));
        }
        self.check_rules(&el, cal, slot.start, slot.end)?;
        let token = if req.hold.is_empty() {
            hold::new_token()
        } else {
            req.hold.clone()
        };
        let now = (self.clock)();
        let owner = hold::owner_hash(&token);
        let client = crate::clients::current();
        // A citizen the form's backend vouches for holds one slot per element, under
        // whatever token; the address cap is for anonymous use only.
        let citizen = self.citizen_of(&req.form, &req.session, now)?;
        // One active hold per token and element: the slot this token holds now is given
        // back in this same call (the widget says which; the server knows it too).
        let held = self.holds.held_by(&req.form, &req.element, &owner, now);
        let mut release = if req.release_slot_id.is_empty() {
            held.clone().unwrap_or_default()
        } else {
            req.release_slot_id.clone()
        };
        let mut release_token = token.clone();
        match &citizen {
            Some(c) => {
                if let Some((slot_id, their_token)) = self
                    .holds
                    .citizen_holds(&req.form, &req.element, c, now)
                    .filter(|(slot_id, _)| *slot_id != req.slot_id)
                {
                    release = slot_id;
                    release_token = their_token;
                }
            }
            // A new hold (not an extension or a move of this token's hold) counts against
            // the client's cap.
            None if held.is_none() => {
                if let Some(c) = client {
                    if self.holds.active_for(c, now) >= self.config.server.max_holds_per_client {
                        tracing::warn!("a client reached max_holds_per_client");
                        return Err(BookingError::RateLimited { retry_after: 0 });
                    }
                }
            }
            None => {}
        }
        let expires;
        {
            let _guard = self.locks.lock(&slot.event_id).await;
            let event = self.claimable(cal, &slot, &token).await?;
            expires = self.write_hold(cal, &event, &token).await?;
        }
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
                now,
            ),
        }
        let mut released = false;
        if !release.is_empty() && release != req.slot_id {
            match self
                .release_slot(&req.form, &req.element, &release, &release_token)
                .await
            {
                Ok(wrote) => released = wrote,
                // The old hold lapses by itself; the new one stands.
                Err(e) => tracing::warn!("could not give back the previous hold: {e}"),
            }
        }
        let hold = Hold {
            slot_id: req.slot_id,
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
        form: &str,
        element: &str,
        slot_id: &str,
        token: &str,
    ) -> Result<bool, BookingError> {
        let (_, cal, slot) = self.verify(form, element, slot_id)?;
        if token.is_empty() || !hold::is_valid_token(token) {
            return Err(BookingError::invalid("hold"));
        }
        let now = (self.clock)();
        let markers = &self.config.exchange.markers;
        let monday = monday_of(slot.start.with_timezone(&cal.time_zone).date_naive());
        let (week, _) = self.week_events(cal, monday).await.map_err(unavailable)?;
        let held = week.iter().any(|e| {
            e.id == slot.event_id && matches!(claim_of(e, markers, now, token), Claim::Mine { .. })
        });
        if !held {
            return Ok(false);
        }
        let _guard = self.locks.lock(&slot.event_id).await;
        let event = match self.read_slot(cal, &slot).await {
            Ok(e) => e,
            // Gone, moved or cancelled: nothing of ours to give back.
            Err(BookingError::Taken) => return Ok(false),
            Err(e) => return Err(e),
        };
        if !matches!(claim_of(&event, markers, now, token), Claim::Mine { .. }) {
            return Ok(false);
        }
        let subject = base_subject(event.subject.as_deref().unwrap_or(""), markers).to_owned();
        self.holds.forget(form, element, &hold::owner_hash(token));
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
    pub(super) async fn book_slot(&self, req: BookRequest) -> Result<Receipt, BookingError> {
        let (el, cal, slot) = self.verify(&req.form, &req.element, &req.slot_id)?;
        if !hold::is_valid_token(&req.hold) {
            return Err(BookingError::invalid("hold"));
        }
        let files: Vec<documents::File<'_>> = if el.attach_documents {
            documents::checked(&req.files, &self.config.server.uploads)?
        } else {
            Vec::new()
        };
        let key = format!(
            "{}\u{1f}{}\u{1f}{}",
            req.form, req.element, req.idempotency_key
        );
        if let Some(r) = self.remembered(&key, &req.slot_id)? {
            return Ok(r);
        }
        // One write per event at a time in this process; the conditional writes settle
        // races between processes.
        let _guard = self.locks.lock(&slot.event_id).await;
        if let Some(r) = self.remembered(&key, &req.slot_id)? {
            return Ok(r);
        }
        self.check_rules(&el, cal, slot.start, slot.end)?;
        let event = self.read_slot(cal, &slot).await?;
        // A retry of a booking whose answer was lost (a timeout, a restart, another
        // instance): the event itself says this request booked it.
        let booked_mark = booked_value(&key);
        if event.property(HOLD_PROPERTY) == Some(booked_mark.as_str()) {
            let receipt = self.receipt(&req, cal, &slot, &booked_mark, Vec::new());
            self.remember(key, req.slot_id, receipt.clone());
            return Ok(receipt);
        }
        // Without a hold of their own, the citizen's request holds the slot under a token
        // derived from its idempotency key, so a resubmission finds it again.
        let token = if req.hold.is_empty() {
            hold::token_for(&key)
        } else {
            req.hold.clone()
        };
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
                .property(HOLD_PROPERTY)
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
            base_subject(event.subject.as_deref().unwrap_or(""), markers),
            markers.booked
        );
        if let Err(e) = self
            .write_subject(cal, &event, &subject, &booked_mark)
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
        self.holds
            .forget(&req.form, &req.element, &hold::owner_hash(&token));
        receipt.mail = self.confirm_by_mail(&req, cal, &slot, &event).await;
        self.remember(key, req.slot_id, receipt.clone());
        Ok(receipt)
    }

    /// Before a booking's files are read: the slot id is genuine, the rules hold, and the
    /// slot is free or this citizen's as far as the cached week knows (no Graph call when
    /// the week is cached). The booking itself checks all of it again against Graph.
    pub async fn precheck_upload(
        &self,
        form: &str,
        element: &str,
        slot_id: &str,
        hold: &str,
        idempotency_key: &str,
    ) -> Result<crate::uploads::UploadPolicy, BookingError> {
        let (el, cal, slot) = self.verify(form, element, slot_id)?;
        if !hold::is_valid_token(hold) {
            return Err(BookingError::invalid("hold"));
        }
        self.check_rules(&el, cal, slot.start, slot.end)?;
        let monday = monday_of(slot.start.with_timezone(&cal.time_zone).date_naive());
        let (week, _) = self.week_events(cal, monday).await.map_err(unavailable)?;
        let event = week
            .iter()
            .find(|e| e.id == slot.event_id)
            .ok_or(BookingError::Taken)?;
        let key = format!("{form}\u{1f}{element}\u{1f}{idempotency_key}");
        let token = if hold.is_empty() {
            hold::token_for(&key)
        } else {
            hold.to_owned()
        };
        match claim_of(event, &self.config.exchange.markers, (self.clock)(), &token) {
            // A retry of this very booking (its answer was lost) is let through.
            Claim::Booked if event.property(HOLD_PROPERTY) == Some(booked_value(&key).as_str()) => {
            }
            Claim::Booked | Claim::HeldByOther => return Err(BookingError::Taken),
            Claim::Free | Claim::Mine { .. } => {}
        }
        Ok(crate::uploads::UploadPolicy {
            take_files: el.attach_documents,
            limits: self.config.server.uploads.clone(),
        })
    }

    /// Reads the slot's event and checks `token`'s holder may claim it; files a lapsed
    /// hold's owner left behind (their booking never finished) are removed first, so they
    /// never reach another citizen's booking.
    async fn claimable(
        &self,
        cal: &CalendarConfig,
        slot: &SlotRef,
        token: &str,
    ) -> Result<wire::Event, BookingError> {
        let event = self.read_slot(cal, slot).await?;
        self.claimable_from(cal, slot, event, token).await
    }

    /// [`Booket::claimable`] for an event already read.
    async fn claimable_from(
        &self,
        cal: &CalendarConfig,
        slot: &SlotRef,
        event: wire::Event,
        token: &str,
    ) -> Result<wire::Event, BookingError> {
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

    /// Removes the files of a lapsed hold of someone else; true when any were removed.
    async fn remove_lapsed_files(
        &self,
        cal: &CalendarConfig,
        event: &wire::Event,
        token: &str,
    ) -> Result<bool, BookingError> {
        let Some(lapsed) = event.property(HOLD_PROPERTY).and_then(HoldInfo::parse) else {
            return Ok(false);
        };
        if lapsed.is_owned_by(token) {
            return Ok(false);
        }
        self.remove_files_of(cal, &event.id, &lapsed)
            .await
            .map_err(unavailable)
    }

    /// Deletes a file an unfinished booking left; true if it was there (already gone is
    /// fine).
    async fn delete_if_present(
        &self,
        creds: &AppCredentials,
        cal: &CalendarConfig,
        event_id: &str,
        attachment_id: &str,
    ) -> Result<bool, GraphError> {
        match self
            .graph
            .delete_attachment(creds, &cal.owner, event_id, attachment_id)
            .await
        {
            Ok(()) => {
                tracing::info!(event = %event_id, "removed a file left by an unfinished booking");
                Ok(true)
            }
            Err(GraphError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Removes the files a hold's booking added, by two signals: the ids recorded in the
    /// hold as each file was added, then any file carrying the owner's `contentId` tag (one
    /// added just before the server died, before its id was recorded). A file already gone
    /// is fine. True when any were removed.
    async fn remove_files_of(
        &self,
        cal: &CalendarConfig,
        event_id: &str,
        hold: &HoldInfo,
    ) -> Result<bool, GraphError> {
        let creds = Self::credentials(cal);
        let mut removed = false;
        for id in &hold.files {
            removed |= self.delete_if_present(&creds, cal, event_id, id).await?;
        }
        let tag = file_tag(&hold.owner);
        let listed = self
            .graph
            .list_attachments(&creds, &cal.owner, event_id)
            .await?;
        for a in listed {
            if a.content_id.as_deref() == Some(tag.as_str()) && !hold.files.contains(&a.id) {
                removed |= self.delete_if_present(&creds, cal, event_id, &a.id).await?;
            }
        }
        Ok(removed)
    }

    fn receipt(
        &self,
        req: &BookRequest,
        cal: &CalendarConfig,
        slot: &SlotRef,
        booked_mark: &str,
        attachments: Vec<String>,
    ) -> Receipt {
        let mut receipt = Receipt {
            slot_id: req.slot_id.clone(),
            start: slot.start.with_timezone(&cal.time_zone).fixed_offset(),
            end: slot.end.with_timezone(&cal.time_zone).fixed_offset(),
            calendar: cal.name.clone(),
            state: ReceiptState::Booked,
            attachments,
            mail: None,
            jws: None,
        };
        if let Some(signer) = &self.receipt_signer {
            let id = crate::receipts::booking_id(&slot.event_id, booked_mark);
            receipt.jws = signer.sign(&req.form, &req.element, &id, &receipt, (self.clock)());
        }
        receipt
    }

    /// PATCHes " - Reserveret" with a hold for `token`; returns when the hold lapses. An
    /// extension keeps the time the hold began, and no hold outlives `hold_max`: near it,
    /// extending is refused with [`BookingError::HoldLimit`].
    async fn write_hold(
        &self,
        cal: &CalendarConfig,
        event: &wire::Event,
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
            base_subject(event.subject.as_deref().unwrap_or(""), markers),
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

    /// Attaches the files and the summary to a slot the citizen holds, recording each file's
    /// id in the hold as it is added ([`Booket::record_files`], which also checks the slot
    /// is still theirs). Returns the event as the last record write left it.
    #[allow(clippy::too_many_arguments)]
    async fn attach_documents(
        &self,
        req: &BookRequest,
        el: &ElementConfig,
        cal: &CalendarConfig,
        slot: &SlotRef,
        files: &[documents::File<'_>],
        token: &str,
        attached: &mut Vec<(String, String)>,
    ) -> Result<wire::Event, BookingError> {
        let creds = Self::credentials(cal);
        // Files carry their owner, so files left by a booking that never finished (the
        // server died) can be found and removed before anyone else gets the slot.
        let tag = file_tag(&hold::owner_hash(token));
        let mut fresh = None;
        for f in files {
            let id = self
                .graph
                .add_attachment(
                    &creds,
                    &cal.owner,
                    &slot.event_id,
                    &f.name,
                    f.content_type,
                    &tag,
                    f.upload,
                )
                .await
                .map_err(unavailable)?;
            attached.push((id, f.name.clone()));
            fresh = Some(self.record_files(cal, slot, token, attached).await?);
        }
        if el.attach_summary {
            let pdf = documents::summary_pdf(self, req, cal, slot, files, (self.clock)());
            let name = documents::SUMMARY_NAME.to_string();
            let id = self
                .graph
                .add_attachment(
                    &creds,
                    &cal.owner,
                    &slot.event_id,
                    &name,
                    "application/pdf",
                    &tag,
                    &pdf,
                )
                .await
                .map_err(unavailable)?;
            attached.push((id, name));
            fresh = Some(self.record_files(cal, slot, token, attached).await?);
        }
        match fresh {
            Some(event) => Ok(event),
            // Nothing to attach after all: check the slot is still theirs.
            None => {
                let event = self.read_slot(cal, slot).await?;
                match claim_of(&event, &self.config.exchange.markers, (self.clock)(), token) {
                    Claim::Mine { .. } => Ok(event),
                    _ => Err(BookingError::Taken),
                }
            }
        }
    }

    /// Best effort: takes back files added before a failure.
    async fn remove_attachments(
        &self,
        cal: &CalendarConfig,
        event_id: &str,
        attached: &[(String, String)],
    ) {
        let creds = Self::credentials(cal);
        for (id, _) in attached {
            if let Err(e) = self
                .graph
                .delete_attachment(&creds, &cal.owner, event_id, id)
                .await
            {
                // (Never the file's name: it may say who the citizen is.)
                tracing::error!(event = %event_id, "could not remove an attachment after a failed booking: {e}");
            }
        }
    }

    /// Sends the confirmation e-mail when mail is on and the form names an e-mail field the
    /// citizen filled in. A failure is logged and reported in the receipt; the booking stands.
    async fn confirm_by_mail(
        &self,
        req: &BookRequest,
        cal: &CalendarConfig,
        slot: &SlotRef,
        event: &wire::Event,
    ) -> Option<MailOutcome> {
        let MailConfig::Graph {
            tenant_id,
            client_id,
            credential,
            sender,
            user,
        } = &self.config.mail
        else {
            return None;
        };
        let form = self.config.form(&req.form)?;
        let field = form.email_field.as_deref()?;
        let to = req
            .fields
            .iter()
            .find(|f| f.name == field)
            .map(|f| f.value.trim().to_owned())?;
        if to.is_empty() {
            return None;
        }
        if !mail::is_plausible_address(&to) {
            tracing::warn!("confirmation not sent: the e-mail field does not hold an address");
            return Some(MailOutcome::Failed);
        }
        // The municipality's mailbox must not become a way to send mail to anyone: a few
        // confirmations per recipient and per client a day.
        let limits = self.config.mail_limits;
        let recipient = format!("to:{}", to.to_lowercase());
        let client = crate::clients::current().map(|c| format!("client:{c}"));
        let mut keys = vec![(recipient.as_str(), limits.per_recipient_per_day)];
        if let Some(c) = &client {
            keys.push((c.as_str(), limits.per_client_per_day));
        }
        let today = (self.clock)().with_timezone(&cal.time_zone).date_naive();
        if !self.mails.take(&keys, today) {
            tracing::warn!("confirmation not sent: the daily mail limit is reached");
            return Some(MailOutcome::Failed);
        }
        let when = documents::slot_text(cal, slot);
        let location = event
            .location
            .as_ref()
            .map(|l| l.display_name.as_str())
            .unwrap_or("");
        let confirmation = mail::Confirmation {
            to: &to,
            form_title: &form.title,
            when: &when,
            start: slot.start,
            end: slot.end,
            location,
            calendar: &cal.name,
            uid: &slot.event_id,
            from: (!sender.eq_ignore_ascii_case(user)).then_some(sender.as_str()),
        };
        let creds = AppCredentials {
            tenant_id: tenant_id.clone(),
            client_id: client_id.clone(),
            credential: credential.clone(),
        };
        match self
            .graph
            .send_mail(&creds, user, mail::message(&confirmation, (self.clock)()))
            .await
        {
            Ok(()) => Some(MailOutcome::Sent),
            Err(e) => {
                tracing::error!("confirmation e-mail failed (the booking stands): {e}");
                Some(MailOutcome::Failed)
            }
        }
    }

    /// Gives back every lapsed hold from the start of this week through `sweep_weeks`
    /// ahead, each with a conditional write, so a slot booked or re-reserved meanwhile is
    /// never touched. Returns how many holds were released.
    pub async fn sweep_expired_holds(&self) -> Result<usize, GraphError> {
        let mut released = 0;
        // Lapsed holds this sweep could not give back (their files could not be removed, or
        // the write failed): shown in metrics, and by `booket check`.
        let mut stuck = 0;
        for cal in &self.config.calendars {
            let now = (self.clock)();
            let monday = monday_of(now.with_timezone(&cal.time_zone).date_naive());
            let start = super::local_midnight(cal.time_zone, monday);
            let end = super::local_midnight(
                cal.time_zone,
                monday + Days::new(7 * self.config.exchange.hold_sweep_weeks),
            );
            let creds = Self::credentials(cal);
            let id = self.calendar_id(cal).await?;
            let events = self
                .graph
                .calendar_view(&creds, &cal.owner, &id, start, end, HOLD_PROPERTY)
                .await?;
            let markers = &self.config.exchange.markers;
            let mut changed = std::collections::BTreeSet::new();
            for event in events {
                let subject = event.subject.clone().unwrap_or_default();
                let lapsed = marker_of(&subject, markers) == Some(Marker::Reserved)
                    && event
                        .property(HOLD_PROPERTY)
                        .and_then(HoldInfo::parse)
                        .is_some_and(|h| !h.is_active(now));
                if !lapsed {
                    continue;
                }
                let _guard = self.locks.lock(&event.id).await;
                // Files of the booking that never finished go first.
                let event = match self.remove_lapsed_files(cal, &event, "").await {
                    Ok(false) => event,
                    Ok(true) => match self
                        .graph
                        .get_event(&creds, &cal.owner, &id, &event.id, HOLD_PROPERTY)
                        .await
                    {
                        Ok(fresh) => fresh,
                        Err(e) => {
                            stuck += 1;
                            tracing::warn!(event = %event.id, "could not re-read after removing files: {e}");
                            continue;
                        }
                    },
                    Err(e) => {
                        stuck += 1;
                        tracing::warn!(event = %event.id, "could not remove files of a lapsed hold: {e}");
                        continue;
                    }
                };
                match self
                    .write_subject(cal, &event, base_subject(&subject, markers), ENDED)
                    .await
                {
                    Ok(_) => {
                        released += 1;
                        changed.insert(week_of(cal, &event));
                    }
                    Err(BookingError::Taken) => {
                        changed.insert(week_of(cal, &event));
                    }
                    Err(e) => {
                        stuck += 1;
                        tracing::warn!(event = %event.id, "could not release a lapsed hold: {e}")
                    }
                }
            }
            for monday in changed.into_iter().flatten() {
                self.cache.invalidate_week(&cal.name, monday);
            }
        }
        self.metrics.holds_stuck.set(stuck);
        if released > 0 {
            tracing::info!(released, "lapsed holds released");
        }
        Ok(released)
    }

    /// Runs [`Booket::sweep_expired_holds`] every `every` until the process ends.
    pub fn spawn_sweeper(self: std::sync::Arc<Self>, every: std::time::Duration) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = self.sweep_expired_holds().await {
                    tracing::warn!("hold sweep failed: {e}");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone};

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, h, m, 0).unwrap()
    }

    fn hold(token: &str, expires: DateTime<Utc>, since: Option<DateTime<Utc>>) -> HoldInfo {
        HoldInfo {
            owner: hold::owner_hash(token),
            expires,
            since,
            files: vec![],
        }
    }

    fn event(subject: &str, hold: Option<&HoldInfo>) -> wire::Event {
        event_with_record(subject, hold.map(HoldInfo::to_value))
    }

    fn event_with_record(subject: &str, record: Option<String>) -> wire::Event {
        let mut v = serde_json::json!({
            "id": "e1",
            "subject": subject,
            "start": {"dateTime": "2026-12-07T08:00:00.0000000", "timeZone": "UTC"},
            "end": {"dateTime": "2026-12-07T08:30:00.0000000", "timeZone": "UTC"},
        });
        if let Some(r) = record {
            v["singleValueExtendedProperties"] =
                serde_json::json!([{"id": HOLD_PROPERTY, "value": r}]);
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn who_may_claim_an_event() {
        let now = at(9, 0);
        let mine = hold("me", at(9, 10), None);
        let lapsed = hold("other", at(8, 59), None);
        let theirs = hold("other", at(9, 10), None);
        let reserved = Some(Marker::Reserved);
        assert_eq!(claim_from(None, None, now, "me"), Claim::Free);
        // A hold record without the marker (the marker was removed by hand): free.
        assert_eq!(claim_from(None, Some(&theirs), now, "me"), Claim::Free);
        assert_eq!(
            claim_from(Some(Marker::Booked), Some(&mine), now, "me"),
            Claim::Booked
        );
        assert_eq!(
            claim_from(reserved, Some(&mine), now, "me"),
            Claim::Mine { active: true }
        );
        assert_eq!(
            claim_from(reserved, Some(&hold("me", at(8, 0), None)), now, "me"),
            Claim::Mine { active: false }
        );
        assert_eq!(claim_from(reserved, Some(&lapsed), now, "me"), Claim::Free);
        assert_eq!(
            claim_from(reserved, Some(&theirs), now, "me"),
            Claim::HeldByOther
        );
        // " - Reserveret" typed by hand, without a record: nobody's to take.
        assert_eq!(claim_from(reserved, None, now, "me"), Claim::HeldByOther);
        // A hold lapses at its expiry exactly.
        assert_eq!(
            claim_from(reserved, Some(&hold("other", now, None)), now, "me"),
            Claim::Free
        );
    }

    #[test]
    fn claim_of_reads_the_marker_and_the_record_from_the_event() {
        let m = Markers::default();
        let now = at(9, 0);
        let h = hold("me", at(9, 10), None);
        assert_eq!(
            claim_of(&event("Samtale - Reserveret", Some(&h)), &m, now, "me"),
            Claim::Mine { active: true }
        );
        assert_eq!(
            claim_of(&event("Samtale - Reserveret", Some(&h)), &m, now, "you"),
            Claim::HeldByOther
        );
        assert_eq!(
            claim_of(&event("Samtale", None), &m, now, "me"),
            Claim::Free
        );
        assert_eq!(
            claim_of(&event("Samtale - Booket", None), &m, now, "me"),
            Claim::Booked
        );
    }

    #[test]
    fn an_extended_hold_keeps_when_it_began_and_never_passes_the_maximum() {
        let m = Markers::default();
        let hold_for = TimeDelta::minutes(15);
        let hold_max = TimeDelta::minutes(30);
        let now = at(9, 0);
        // A new hold begins now.
        assert_eq!(
            hold_since(&event("Samtale", None), &m, "me", now, hold_for),
            now
        );
        // Extending my active hold keeps its start.
        let mine = hold("me", at(9, 5), Some(at(8, 50)));
        let e = event("Samtale - Reserveret", Some(&mine));
        assert_eq!(hold_since(&e, &m, "me", now, hold_for), at(8, 50));
        // A v1 record (from before `since` was kept) counts from its expiry less one hold.
        let v1 = format!("v1;{};{}", hold::owner_hash("me"), at(9, 5).timestamp());
        let e = event_with_record("Samtale - Reserveret", Some(v1));
        assert_eq!(hold_since(&e, &m, "me", now, hold_for), at(8, 50));
        // Someone else's hold, or my lapsed one: a new hold.
        let e = event("Samtale - Reserveret", Some(&hold("other", at(9, 5), None)));
        assert_eq!(hold_since(&e, &m, "me", now, hold_for), now);

        assert_eq!(
            hold_expiry(now, now, hold_for, hold_max).unwrap(),
            at(9, 15)
        );
        // Begun 20 minutes ago: cut to the 30-minute maximum.
        assert_eq!(
            hold_expiry(now, at(8, 40), hold_for, hold_max).unwrap(),
            at(9, 10)
        );
        // Less than a minute left under the maximum: refused.
        assert!(matches!(
            hold_expiry(now, at(8, 30) + TimeDelta::seconds(30), hold_for, hold_max),
            Err(BookingError::HoldLimit)
        ));
        // Exactly a minute left: still given.
        assert_eq!(
            hold_expiry(now, at(8, 31), hold_for, hold_max).unwrap(),
            at(9, 1)
        );
    }

    #[test]
    fn marks_and_tags_name_their_owner_without_revealing_it() {
        assert_ne!(booked_value("k1"), booked_value("k2"));
        assert_eq!(booked_value("k1"), booked_value("k1"));
        assert!(!booked_value("secret-key").contains("secret-key"));
        assert!(booked_value("k").starts_with("booked;"));
        assert!(file_tag(&hold::owner_hash("t")).starts_with("booket-"));
    }
}
