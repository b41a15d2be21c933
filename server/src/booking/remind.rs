//! Reminders: one mail per booking `reminder_hours` before its time, with the link to the
//! booking's own page. Booket keeps no list of bookings: the booking's record on the event
//! says when its reminder is due (`remind=`), where it goes (the sealed address) and
//! whether it was sent (`reminded=`). A sweep reads the calendars that remind and claims
//! each due reminder with a conditional write of that record; only the write that
//! succeeds sends. So a reminder goes out once — with several instances sweeping (the
//! store's lease on the event, and the conditional write either way), and sweep after
//! sweep — and never for a cancelled booking (its record is no longer a booking's).

use super::hold::{self, BookedRecord};
use super::instances::Wait;
use super::Booket;
use crate::config::CalendarConfig;
use crate::mailbox::{Event, MailboxError};
use app::domain::rules::{marker_of, Marker};
use chrono::{DateTime, TimeDelta, Utc};

/// Most booked events one sweep reads on their own per calendar (see
/// `with_booking_records`).
const MAX_REMINDER_READS: usize = 16;

impl Booket {
    /// Sends the reminders that are due now (see the module's comment); returns how many
    /// were sent. Nothing without mail, signed receipts (the link) or an element that
    /// reminds.
    pub async fn send_reminders(&self) -> Result<usize, MailboxError> {
        if self.receipt_signer.is_none()
            || self.config.mail.sending().is_none()
            || self.mailboxes.mail.is_none()
        {
            return Ok(0);
        }
        let mut sent = 0;
        for cal in &self.config.calendars {
            let longest = self
                .config
                .elements_in(&cal.name)
                .map(|e| e.reminder_hours)
                .max()
                .unwrap_or(0);
            if longest == 0 {
                continue;
            }
            let now = (self.clock)();
            // (An hour more than the longest lead: a reminder whose time came while the
            // sweep was not running is sent late rather than never, up to the start.)
            let until = now + TimeDelta::hours(i64::from(longest) + 1);
            let events = self
                .mailbox(cal)
                .events(&cal.outlook_calendar, now, until)
                .await?;
            for event in self.with_booking_records(cal, events).await {
                if self.remind(cal, &event, now).await {
                    sent += 1;
                }
            }
        }
        if sent > 0 {
            tracing::info!(sent, "reminders sent");
        }
        Ok(sent)
    }

    /// The booked events among `events`, with their records: where the view left a record
    /// out (occurrences of a series, on tenants that do), the event is read on its own —
    /// within the calendar's read ceiling, at most [`MAX_REMINDER_READS`] a sweep, and not
    /// again while it is unchanged once it had nothing left to send — so the sweep never
    /// spends the reads citizens' weeks need.
    async fn with_booking_records(&self, cal: &CalendarConfig, events: Vec<Event>) -> Vec<Event> {
        let markers = &self.config.exchange.markers;
        let mut out = Vec::new();
        let mut reads = 0;
        for e in events {
            if e.cancelled || marker_of(&e.subject, markers) != Some(Marker::Booked) {
                continue;
            }
            if e.hold.is_some() {
                out.push(e);
                continue;
            }
            let seen = e.version.clone().map(|v| (e.id.clone(), v));
            if seen
                .as_ref()
                .is_some_and(|k| self.reminders_done.contains_key(k))
                || reads >= MAX_REMINDER_READS
                || !self.take_read(cal).await
            {
                continue;
            }
            reads += 1;
            match self.mailbox(cal).event(&cal.outlook_calendar, &e.id).await {
                Ok(read) => {
                    let nothing_to_send = read
                        .hold
                        .as_deref()
                        .and_then(BookedRecord::parse)
                        .is_none_or(|r| {
                            r.reminded.is_some() || r.remind.is_none() || r.to.is_none()
                        });
                    if let (true, Some(k)) = (nothing_to_send, seen) {
                        self.reminders_done.insert(k, ());
                    }
                    out.push(read);
                }
                Err(err) => {
                    tracing::warn!(event = %e.id, "a booked event could not be read for its reminder: {err}")
                }
            }
        }
        out
    }

    /// The reminder of one booked event, if it is due and not sent: claimed by a
    /// conditional write of its record, then mailed. True when sent.
    async fn remind(&self, cal: &CalendarConfig, event: &Event, now: DateTime<Utc>) -> bool {
        let due = |e: &Event| {
            e.hold
                .as_deref()
                .and_then(BookedRecord::parse)
                .filter(|r| r.reminded.is_none() && r.to.is_some())
                .filter(|r| r.remind.is_some_and(|at| at <= now.timestamp()) && now < e.start)
        };
        if due(event).is_none() {
            return false;
        }
        // One instance at a time (the store's lease); another instance on it: next sweep.
        let Ok(_guard) = self.lock_event(&event.id, Wait::Not).await else {
            return false;
        };
        // The event as it is now (the view may be a minute old), then the claim.
        let event = match self
            .mailbox(cal)
            .event(&cal.outlook_calendar, &event.id)
            .await
        {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!("a reminder's event could not be read: {e}");
                return false;
            }
        };
        let Some(mut record) = due(&event) else {
            return false;
        };
        record.reminded = Some(hold::new_token());
        if let Err(e) = self
            .write_event(cal, &event, None, &record.to_value())
            .await
        {
            // Sent by someone else (the record changed), cancelled, or Exchange failing:
            // not sent from here; a failure is tried again by the next sweep.
            if !matches!(e, MailboxError::Conflict | MailboxError::NotFound) {
                tracing::warn!(event = %event.id, "a reminder could not be claimed: {e}");
            }
            return false;
        }
        self.mail_reminder(cal, &event, &record).await
    }

    async fn mail_reminder(
        &self,
        cal: &CalendarConfig,
        event: &Event,
        record: &BookedRecord,
    ) -> bool {
        let (Some(to), Some(mailbox)) =
            (self.recorded_address(record), self.mailboxes.mail.as_ref())
        else {
            return false;
        };
        let (Some(form_id), Some(element)) = (record.form.as_deref(), record.element.as_deref())
        else {
            return false;
        };
        let form_title = self
            .config
            .forms
            .iter()
            .find(|f| f.id == form_id)
            .map(|f| f.title.clone())
            .unwrap_or_default();
        let slot = super::slot_id::SlotRef {
            event_id: event.id.clone(),
            start: event.start,
            end: event.end,
        };
        let link = self.booking_link((form_id, element), cal, &slot, &record.mark);
        let when = super::documents::slot_text(cal, &slot);
        let place = if event.location.is_empty() {
            cal.name.as_str()
        } else {
            event.location.as_str()
        };
        let mail = crate::mail::reminder(
            &to,
            self.config.mail.shown_sender(),
            &form_title,
            &when,
            place,
            link.as_deref(),
        );
        match mailbox.send_mail(&mail).await {
            Ok(()) => {
                self.metrics
                    .mails
                    .with_label_values(&["reminder", "sent"])
                    .inc();
                true
            }
            Err(e) => {
                // Claimed and not sent: it is not tried again (a reminder twice is worse
                // than none); the log and the metric say so.
                self.metrics
                    .mails
                    .with_label_values(&["reminder", "failed"])
                    .inc();
                tracing::error!(event = %event.id, "a reminder e-mail failed: {e}");
                false
            }
        }
    }
}
