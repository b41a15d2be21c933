//! Moving a booking to another time of the same element, from its own link ("Flyt
//! tiden"). The new time is claimed first, exactly as a booking claims a slot (the kept
//! week refuses what it knows is taken without a call; under the event's lock the slot is
//! read, decided and written with `If-Match`), the booking's files and summary are copied
//! to it under a hold, and it is booked; only then is the old time released as a
//! cancellation releases it (`manage.rs`). A failure before that leaves the old booking as
//! it was and gives the new slot back, and so does a release Exchange refuses while the old
//! time is still the booking; the citizen is told their time is unchanged.
//!
//! The old booking's event stays locked for the whole move, so a second move or a
//! cancellation from another tab waits for it and then finds the booking gone.
//!
//! Files are read back from Exchange whole (Graph `$value`, EWS GetAttachment), one at a
//! time per instance ([`Booket::file_copies`]), each at most the largest file a citizen may
//! upload: a move holds at most one such file in memory.

use super::hold::{self, BookedRecord, HoldInfo};
use super::instances::Wait;
use super::manage::{BookingView, Named};
use super::rules::{booked_value, claim_of, file_tag, Claim};
use super::slot_id::SlotRef;
use super::{unavailable, Booket, Caller};
use crate::config::CalendarConfig;
use crate::mailbox::{Attachment, AttachmentId, Event, EventId, MailboxError, NewAttachment};
use crate::receipts::LinkClaims;
use app::api::SlotId;
use app::domain::rules::base_subject;
use app::domain::{BookingError, WeekView};
use chrono::NaiveDate;

/// What a move did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Moved {
    /// Moved: the booking at its new time, and the new time's own link (when receipts
    /// are signed).
    Now {
        view: BookingView,
        link: Option<String>,
        /// The new time's confirmation went to the citizen's address.
        mailed: bool,
    },
    /// Nothing to move: the booking was cancelled or moved before (another tab), or staff
    /// changed it.
    Already,
}

impl Booket {
    /// The week of the link's element to move the booking within: the same week a citizen
    /// of the form sees (its rules, window and notice days), free times selectable.
    pub async fn move_week(
        &self,
        link: &LinkClaims,
        week: Option<NaiveDate>,
    ) -> Result<WeekView, BookingError> {
        let named = self.named(link).map_err(|_| BookingError::InvalidSlot)?;
        self.week(&named.form, &named.element, week, "")
            .await
            .map(|(view, _)| view)
    }

    /// Moves the booking a verified link names to the slot `to` of the same element (see
    /// the module's comment). A slot someone else took first is [`BookingError::Taken`],
    /// and the old booking stands.
    pub async fn move_booking(
        &self,
        caller: &Caller,
        link: &LinkClaims,
        to: &SlotId,
    ) -> Result<Moved, BookingError> {
        let named = self.named(link).map_err(|_| BookingError::InvalidSlot)?;
        let (el, cal, slot) = self.verify(&named.form, &named.element, to)?;
        let now = (self.clock)();
        if now >= named.start {
            return Err(BookingError::Past);
        }
        if slot.event_id == named.event_id {
            return Err(BookingError::invalid("slot"));
        }
        self.check_rules(&el, cal, slot.start, slot.end)?;
        // The old booking stays locked for the whole move.
        let Some((_old_guard, old, record)) = self.lock_booking(&named, link).await? else {
            return Ok(Moved::Already);
        };
        let token = hold::new_token();
        if self.known_taken(cal, &slot, &token, now, None).await {
            return Err(BookingError::Taken);
        }
        let files = self.files_of(cal, &old.id, &record, &link.jti).await?;

        // The new time: claimed and booked as a booking is, under its own lock.
        let (new_event, new_record) = {
            let _new_guard = self.lock_event(&slot.event_id, Wait::UpToADeadline).await?;
            self.book_moved(
                cal,
                &slot,
                &token,
                (&old.id, &files),
                (&record, el.reminder_hours),
                &named,
            )
            .await?
        };
        let new_id = crate::receipts::booking_id(slot.event_id.as_str(), &new_record.mark);

        // Only now the old time is released; if that fails while it is still the booking,
        // the new one is given back. One staff changed meanwhile is left as they made it
        // (files included): the booking is at its new time.
        let released = self.free_booked(cal, &old, &record, &link.jti).await;
        if let Err(e) = &released {
            let still_booked = match self
                .mailbox(cal)
                .event(&cal.outlook_calendar, &old.id)
                .await
            {
                Ok(now) => self.is_the_booking(&now, link, named.start),
                Err(MailboxError::NotFound) => false,
                // Unknown (Exchange is not answering, so the release most likely did
                // not land either): the old is taken to stand.
                Err(_) => true,
            };
            if still_booked {
                tracing::warn!(event = %old.id, "the old time could not be released; the move is undone: {e}");
                self.undo_booked(cal, &new_event, &new_record, &new_id)
                    .await;
                return Err(e.clone());
            }
        }
        if released.is_ok() {
            self.remove_freed_files(cal, &old.id, &record, &link.jti)
                .await;
        }
        tracing::info!(calendar = %cal.name, files = new_record.files.len(), "booking moved by its citizen");
        self.metrics.bookings.with_label_values(&["moved"]).inc();
        let view = self.view(&named, &new_event);
        let link_url = self.booking_link(
            (named.form.as_str(), named.element.as_str()),
            cal,
            &slot,
            &new_record.mark,
        );
        let mailed = self
            .tell_moved(
                caller,
                cal,
                &record,
                &slot,
                &new_event,
                &new_record.mark,
                &named,
            )
            .await;
        self.announce(super::webhooks::Happened {
            kind: "booking.moved",
            form: named.form.as_str(),
            element: named.element.as_str(),
            calendar: &cal.name,
            booking: new_id,
            previous: Some(link.jti.clone()),
            start: slot.start.with_timezone(&cal.time_zone).fixed_offset(),
            end: slot.end.with_timezone(&cal.time_zone).fixed_offset(),
        });
        Ok(Moved::Now {
            view,
            link: link_url,
            mailed,
        })
    }

    /// The booking's own files on its event: those its record names, and those carrying
    /// its owner's tag (a file whose id could not be recorded). Staff's files stay.
    async fn files_of(
        &self,
        cal: &CalendarConfig,
        event: &EventId,
        record: &BookedRecord,
        booking_id: &str,
    ) -> Result<Vec<Attachment>, BookingError> {
        let owner = record
            .owner
            .clone()
            .unwrap_or_else(|| hold::owner_hash(booking_id));
        let tag = file_tag(&owner);
        let listed = self
            .mailbox(cal)
            .attachments(event)
            .await
            .map_err(unavailable)?;
        Ok(listed
            .into_iter()
            .filter(|a| record.files.contains(&a.id) || a.tag.as_deref() == Some(tag.as_str()))
            .collect())
    }

    /// Claims the new slot for `token` (read, decide, conditional write, as booking does),
    /// copies the files to it under a hold when there are any, and books it with a record
    /// that carries the old booking's address and the element's reminder (`reminder_hours`
    /// before the new time). On failure the
    /// copies are removed and the slot is given back.
    async fn book_moved(
        &self,
        cal: &CalendarConfig,
        slot: &SlotRef,
        token: &str,
        (from, files): (&EventId, &[Attachment]),
        (old, reminder_hours): (&BookedRecord, u16),
        named: &Named<'_>,
    ) -> Result<(Event, BookedRecord), BookingError> {
        let event = self.claimable(cal, slot, token).await?;
        let mut attached = Vec::new();
        let event = if files.is_empty() {
            event
        } else {
            self.write_hold(cal, &event, token).await?;
            match self
                .copy_files(cal, from, files, slot, token, &mut attached)
                .await
            {
                Ok(fresh) => fresh,
                Err(e) => {
                    self.give_back_moved(cal, slot, token, &attached).await;
                    return Err(e);
                }
            }
        };
        let markers = &self.config.exchange.markers;
        let subject = format!(
            "{}{}",
            base_subject(&event.subject, markers),
            markers.booked
        );
        let remind = (reminder_hours > 0 && old.to.is_some()).then(|| {
            (slot.start - chrono::TimeDelta::hours(i64::from(reminder_hours))).timestamp()
        });
        let record = BookedRecord {
            mark: booked_value(&format!(
                "{}\u{1f}{}\u{1f}moved\u{1f}{token}",
                named.form, named.element
            )),
            owner: Some(hold::owner_hash(token)),
            files: attached
                .iter()
                .map(|(id, _)| id.clone())
                .filter(hold::is_recordable_attachment_id)
                .take(hold::MAX_RECORDED_FILES)
                .collect(),
            to: old.to.clone(),
            remind,
            form: remind.map(|_| named.form.to_string()),
            element: remind.map(|_| named.element.to_string()),
            reminded: None,
        };
        match self
            .write_subject(cal, &event, &subject, &record.to_value())
            .await
        {
            Ok(written) => Ok((written, record)),
            Err(e) => {
                self.give_back_moved(cal, slot, token, &attached).await;
                Err(e)
            }
        }
    }

    /// Copies the booking's files from `from` to the slot `token` holds, tagged as the
    /// new holder's and recorded in the hold one by one (which also checks the slot is
    /// still held). A file gone meanwhile (staff removed it) is left out.
    async fn copy_files(
        &self,
        cal: &CalendarConfig,
        from: &EventId,
        files: &[Attachment],
        slot: &SlotRef,
        token: &str,
        attached: &mut Vec<(AttachmentId, String)>,
    ) -> Result<Event, BookingError> {
        let _turn = self
            .file_copies
            .acquire()
            .await
            .map_err(|_| BookingError::Unavailable)?;
        let mailbox = self.mailbox(cal);
        let limit = self.upload_limits(cal).max_file_bytes;
        let tag = file_tag(&hold::owner_hash(token));
        let mut fresh = None;
        for f in files {
            let content = match mailbox.attachment_content(from, f, limit).await {
                Ok(content) => content,
                Err(MailboxError::NotFound) => continue,
                Err(e) => return Err(unavailable(e)),
            };
            self.may_write(&slot.event_id).map_err(unavailable)?;
            let id = mailbox
                .add_attachment(
                    &slot.event_id,
                    NewAttachment {
                        name: &f.name,
                        content_type: content
                            .content_type
                            .as_deref()
                            .unwrap_or("application/octet-stream"),
                        tag: &tag,
                        content: &content.body,
                    },
                )
                .await
                .map_err(unavailable)?;
            attached.push((id, f.name.clone()));
            fresh = Some(self.record_files(cal, slot, token, attached).await?);
        }
        match fresh {
            Some(event) => Ok(event),
            // Every file was gone: the hold is checked as booking checks it.
            None => self.held(cal, slot, token).await,
        }
    }

    /// Best effort, after a failed move: the copies are removed and the new slot's hold
    /// ends at once (its record listing the copies, so that the next claim removes any
    /// still there).
    async fn give_back_moved(
        &self,
        cal: &CalendarConfig,
        slot: &SlotRef,
        token: &str,
        attached: &[(AttachmentId, String)],
    ) {
        self.remove_attachments(cal, &slot.event_id, attached).await;
        let Ok(event) = self.read_slot(cal, slot).await else {
            return;
        };
        let markers = &self.config.exchange.markers;
        if !matches!(
            claim_of(&event, markers, (self.clock)(), token),
            Claim::Mine { .. }
        ) {
            return;
        }
        let now = (self.clock)();
        let ended = HoldInfo {
            owner: hold::owner_hash(token),
            expires: now,
            since: Some(now),
            files: attached.iter().map(|(id, _)| id.clone()).collect(),
        };
        let subject = base_subject(&event.subject, markers).to_owned();
        if let Err(e) = self
            .write_subject(cal, &event, &subject, &ended.to_value())
            .await
        {
            tracing::warn!(event = %slot.event_id, "a failed move's hold is left to lapse: {e}");
        }
    }

    /// Best effort: the new time booked by a move whose old time could not be released is
    /// freed again, with its files.
    async fn undo_booked(
        &self,
        cal: &CalendarConfig,
        event: &Event,
        record: &BookedRecord,
        booking_id: &str,
    ) {
        match self.free_booked(cal, event, record, booking_id).await {
            Ok(()) => {
                self.remove_freed_files(cal, &event.id, record, booking_id)
                    .await
            }
            Err(e) => {
                tracing::error!(event = %event.id, "a move's new time could not be freed again; the citizen has two bookings: {e}")
            }
        }
    }

    /// The confirmation of the new time, with its own link, to the address the booking
    /// recorded (within the daily limits); a failure is logged, the move stands. True when
    /// it was sent.
    #[allow(clippy::too_many_arguments)]
    async fn tell_moved(
        &self,
        caller: &Caller,
        cal: &CalendarConfig,
        old: &BookedRecord,
        slot: &SlotRef,
        event: &Event,
        booked_mark: &str,
        named: &Named<'_>,
    ) -> bool {
        let Some(to) = self.recorded_address(old) else {
            return false;
        };
        if !self.may_mail(caller, &to, cal).await {
            tracing::warn!("new time not mailed: the daily mail limit is reached");
            return false;
        }
        let outcome = self
            .send_confirmation(super::confirm::Confirm {
                to: &to,
                form: (named.form.as_str(), named.element.as_str()),
                cal,
                slot,
                location: &event.location,
                booked_mark,
                moved: true,
            })
            .await;
        let sent = outcome == app::domain::MailOutcome::Sent;
        self.metrics
            .mails
            .with_label_values(&["moved", if sent { "sent" } else { "failed" }])
            .inc();
        sent
    }
}
