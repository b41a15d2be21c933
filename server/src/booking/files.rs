//! A booking's files: checked before a byte is read, attached with their ids recorded in
//! the hold, and removed again when a booking fails or its hold lapses.

use super::documents;
use super::hold::{self, HoldInfo};
use super::rules::*;
use super::slot_id::SlotRef;
use super::{unavailable, Booket};
use crate::config::{CalendarConfig, ElementConfig};
use crate::mailbox::{AttachmentId, Event, EventId, MailboxError, NewAttachment};
use app::api::{BookRequest, ElementName, FormId, IdempotencyKey, SlotId};
use app::domain::rules::{marker_of, Marker};
use app::domain::week::monday_of;
use app::domain::BookingError;

/// What the files of one booking may be, once its slot has been checked (the web layer
/// reads the files by it).
pub struct UploadPolicy {
    /// The element attaches documents; otherwise files are read past and dropped.
    pub take_files: bool,
    pub limits: crate::config::UploadLimits,
}

impl Booket {
    /// Records the files added so far in the citizen's hold record: reads the event, checks
    /// the hold is still theirs, and writes the record alone (the subject is left as it is)
    /// with `If-Match` on what was read. A change in between (staff edited the event) is
    /// read again once; a hold that is no longer theirs is [`BookingError::Taken`]. The
    /// conditional write doubles as the check that the slot is still theirs.
    pub(super) async fn record_files(
        &self,
        cal: &CalendarConfig,
        slot: &SlotRef,
        token: &str,
        attached: &[(AttachmentId, String)],
    ) -> Result<Event, BookingError> {
        let files: Vec<AttachmentId> = attached
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
                .hold
                .as_deref()
                .and_then(HoldInfo::parse)
                .filter(|h| h.is_owned_by(token))
            else {
                return Err(BookingError::Taken);
            };
            if marker_of(&event.subject, &self.config.exchange.markers) != Some(Marker::Reserved) {
                return Err(BookingError::Taken);
            }
            info.files = files.clone();
            match self.write_event(cal, &event, None, &info.to_value()).await {
                Ok(updated) => return Ok(updated),
                Err(MailboxError::Conflict) if tries < 2 => continue,
                Err(MailboxError::Conflict | MailboxError::NotFound) => {
                    return Err(BookingError::Taken)
                }
                Err(e) => return Err(unavailable(e)),
            }
        }
    }

    /// Before a booking's files are read: the slot id is genuine, the rules hold, and the
    /// slot is free or this citizen's as far as the cached week knows (no Graph call when
    /// the week is cached). The booking itself checks all of it again against Graph.
    pub async fn precheck_upload(
        &self,
        form: &FormId,
        element: &ElementName,
        slot_id: &SlotId,
        hold: &str,
        idempotency_key: &IdempotencyKey,
    ) -> Result<UploadPolicy, BookingError> {
        let (el, cal, slot) = self.verify(form, element, slot_id)?;
        self.check_rules(&el, cal, slot.start, slot.end)?;
        let monday = monday_of(slot.start.with_timezone(&cal.time_zone).date_naive());
        let (week, _) = self.week_events(cal, monday).await?;
        let event = week
            .events
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
            Claim::Booked
                if event.hold.as_deref().and_then(hold::booked_mark)
                    == Some(booked_value(&key).as_str()) => {}
            Claim::Booked => return Err(BookingError::Taken),
            // Whose hold it is, only a hold record says (the booking reads the event).
            Claim::HeldByOther if event.hold.is_some() => return Err(BookingError::Taken),
            Claim::HeldByOther | Claim::Free | Claim::Mine { .. } => {}
        }
        Ok(UploadPolicy {
            take_files: el.attach_documents,
            limits: self.upload_limits(cal),
        })
    }

    /// Removes the files of a lapsed hold of someone else; true when any were removed.
    pub(super) async fn remove_lapsed_files(
        &self,
        cal: &CalendarConfig,
        event: &Event,
        token: &str,
    ) -> Result<bool, BookingError> {
        let Some(lapsed) = event.hold.as_deref().and_then(HoldInfo::parse) else {
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
    pub(super) async fn delete_if_present(
        &self,
        cal: &CalendarConfig,
        event_id: &EventId,
        attachment_id: &AttachmentId,
    ) -> Result<bool, MailboxError> {
        self.may_write(event_id)?;
        match self
            .mailbox(cal)
            .remove_attachment(event_id, attachment_id)
            .await
        {
            Ok(()) => {
                tracing::info!(event = %event_id, "removed a file left by an unfinished booking");
                Ok(true)
            }
            Err(MailboxError::NotFound) => Ok(false),
            // That a file already gone is answered "not found" is not documented: a refusal
            // is "gone" when the event no longer lists the file.
            Err(MailboxError::Refused(why)) => {
                let listed = self.mailbox(cal).attachments(event_id).await?;
                if listed.iter().any(|a| &a.id == attachment_id) {
                    Err(MailboxError::Refused(why))
                } else {
                    Ok(false)
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Removes the files a hold's booking added, by two signals: the ids recorded in the
    /// hold as each file was added, then any file carrying the owner's `contentId` tag (one
    /// added just before the server died, before its id was recorded). A file already gone
    /// is fine. True when any were removed.
    pub(super) async fn remove_files_of(
        &self,
        cal: &CalendarConfig,
        event_id: &EventId,
        hold: &HoldInfo,
    ) -> Result<bool, MailboxError> {
        let mut removed = false;
        for id in &hold.files {
            removed |= self.delete_if_present(cal, event_id, id).await?;
        }
        let tag = file_tag(&hold.owner);
        let listed = self.mailbox(cal).attachments(event_id).await?;
        for a in listed {
            if a.tag.as_deref() == Some(tag.as_str()) && !hold.files.contains(&a.id) {
                removed |= self.delete_if_present(cal, event_id, &a.id).await?;
            }
        }
        Ok(removed)
    }

    /// Attaches the files and the summary to a slot the citizen holds, recording each file's
    /// id in the hold as it is added ([`Booket::record_files`], which also checks the slot
    /// is still theirs). Returns the event as the last record write left it.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn attach_documents(
        &self,
        req: &BookRequest,
        el: &ElementConfig,
        cal: &CalendarConfig,
        slot: &SlotRef,
        files: &[documents::File<'_>],
        token: &str,
        attached: &mut Vec<(AttachmentId, String)>,
    ) -> Result<Event, BookingError> {
        let mailbox = self.mailbox(cal);
        // Files carry their owner, so files left by a booking that never finished (the
        // server died) can be found and removed before anyone else gets the slot.
        let tag = file_tag(&hold::owner_hash(token));
        let mut fresh = None;
        for f in files {
            let file = NewAttachment {
                name: &f.name,
                content_type: f.content_type,
                tag: &tag,
                content: f.upload,
            };
            self.may_write(&slot.event_id).map_err(unavailable)?;
            let id = mailbox
                .add_attachment(&slot.event_id, file)
                .await
                .map_err(unavailable)?;
            attached.push((id, f.name.clone()));
            fresh = Some(self.record_files(cal, slot, token, attached).await?);
        }
        if el.attach_summary {
            let pdf = documents::summary_pdf(self, req, cal, slot, files, (self.clock)());
            let name = documents::SUMMARY_NAME.to_string();
            let file = NewAttachment {
                name: &name,
                content_type: "application/pdf",
                tag: &tag,
                content: &pdf,
            };
            self.may_write(&slot.event_id).map_err(unavailable)?;
            let id = mailbox
                .add_attachment(&slot.event_id, file)
                .await
                .map_err(unavailable)?;
            attached.push((id, name));
            fresh = Some(self.record_files(cal, slot, token, attached).await?);
        }
        match fresh {
            Some(event) => Ok(event),
            // Nothing to attach after all: check the slot is still theirs.
            None => self.held(cal, slot, token).await,
        }
    }

    /// The slot's event, read, if `token` holds it; otherwise [`BookingError::Taken`].
    pub(super) async fn held(
        &self,
        cal: &CalendarConfig,
        slot: &SlotRef,
        token: &str,
    ) -> Result<Event, BookingError> {
        let event = self.read_slot(cal, slot).await?;
        match claim_of(&event, &self.config.exchange.markers, (self.clock)(), token) {
            Claim::Mine { .. } => Ok(event),
            _ => Err(BookingError::Taken),
        }
    }

    /// Best effort: takes back files added before a failure.
    pub(super) async fn remove_attachments(
        &self,
        cal: &CalendarConfig,
        event_id: &EventId,
        attached: &[(AttachmentId, String)],
    ) {
        if let Err(e) = self.may_write(event_id) {
            tracing::error!(event = %event_id, "attachments of a failed booking are left for the sweep: {e}");
            return;
        }
        for (id, _) in attached {
            if let Err(e) = self.mailbox(cal).remove_attachment(event_id, id).await {
                // (Never the file's name: it may say who the citizen is.)
                tracing::error!(event = %event_id, "could not remove an attachment after a failed booking: {e}");
            }
        }
    }
}
