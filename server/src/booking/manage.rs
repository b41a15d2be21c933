//! After the booking: what its own link (`/booking/<token>`, `receipts.rs`) may see and do.
//! The link's token names the booking; the event in Exchange decides whether it still
//! stands — its record must still be this booking's (the booking id derives from the
//! event and the record's mark) at the time the link names. Nothing is kept here: Exchange
//! is the record, on every instance.
//!
//! Cancelling is one conditional write of the event, as a lapsed hold's release is: the
//! base subject back, and in place of the booking's record a lapsed hold's record that
//! still lists the booking's files. So the slot is free at once, a slot staff changed
//! meanwhile is never overwritten, and whoever claims the slot next removes any of the
//! files this cancellation could not (the write path removes a lapsed hold's files before
//! it writes) — the next citizen never gets them.

use super::hold::{BookedRecord, HoldInfo};
use super::instances::{EventLock, Wait};
use super::slot_id::SlotRef;
use super::{unavailable, Booket, Caller};
use crate::config::CalendarConfig;
use crate::mailbox::{Event, EventId, MailboxError};
use crate::receipts::{LinkClaims, LinkError};
use app::api::{ElementName, FormId};
use app::domain::rules::{base_subject, marker_of, Marker};
use app::domain::BookingError;
use chrono::{DateTime, Utc};

/// A booking as its own page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingView {
    pub form_title: String,
    pub heading: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub time_zone: chrono_tz::Tz,
    /// The event's location, or the calendar's name when it has none.
    pub place: String,
}

/// What a link finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The booking stands.
    Booked(BookingView),
    /// Cancelled, or changed by staff since (moved, deleted, rebooked): not this link's
    /// any more.
    Gone,
}

/// What a cancellation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancelled {
    /// Cancelled now; the slot is free.
    Now(BookingView),
    /// Nothing to do: cancelled before (a second click, another tab) or no longer this
    /// booking.
    Already,
}

/// The booking a link names, checked against the configuration.
pub(super) struct Named<'a> {
    pub(super) form: FormId,
    pub(super) element: ElementName,
    pub(super) cal: &'a CalendarConfig,
    heading: String,
    form_title: String,
    pub(super) event_id: EventId,
    pub(super) start: DateTime<Utc>,
}

impl Booket {
    /// The booking a link's token names, if this server signed it and its time has not
    /// ended.
    pub fn open_link(&self, token: &str) -> Result<LinkClaims, LinkError> {
        let signer = self.receipt_signer.as_ref().ok_or(LinkError::Invalid)?;
        signer.verify_link(token, (self.clock)())
    }

    pub(super) fn named<'a>(&'a self, link: &LinkClaims) -> Result<Named<'a>, LinkError> {
        let form = FormId::parse(&link.aud).map_err(|_| LinkError::Invalid)?;
        let element = ElementName::parse(&link.element).map_err(|_| LinkError::Invalid)?;
        let (el, cal) = self
            .lookup(&form, &element)
            .map_err(|_| LinkError::Invalid)?;
        if cal.name != link.calendar {
            return Err(LinkError::Invalid);
        }
        let start = DateTime::parse_from_rfc3339(&link.start)
            .map_err(|_| LinkError::Invalid)?
            .with_timezone(&Utc);
        let form_title = self
            .config
            .form(&form)
            .map(|f| f.title.clone())
            .unwrap_or_default();
        Ok(Named {
            form,
            element,
            heading: el.heading.clone(),
            cal,
            form_title,
            event_id: EventId::new(link.event.clone()),
            start,
        })
    }

    /// Whether `event` still carries the booking `link` names: booked, its record's mark
    /// giving the link's booking id, at the link's time.
    pub(super) fn is_the_booking(
        &self,
        event: &Event,
        link: &LinkClaims,
        start: DateTime<Utc>,
    ) -> bool {
        let markers = &self.config.exchange.markers;
        let Some(record) = event.hold.as_deref().and_then(BookedRecord::parse) else {
            return false;
        };
        !event.cancelled
            && event.start == start
            && marker_of(&event.subject, markers) == Some(Marker::Booked)
            && crate::receipts::booking_id(event.id.as_str(), &record.mark) == link.jti
    }

    pub(super) fn view(&self, named: &Named<'_>, event: &Event) -> BookingView {
        BookingView {
            form_title: named.form_title.clone(),
            heading: named.heading.clone(),
            start: event.start,
            end: event.end,
            time_zone: named.cal.time_zone,
            place: if event.location.is_empty() {
                named.cal.name.clone()
            } else {
                event.location.clone()
            },
        }
    }

    /// The booking behind a verified link, as the week Booket keeps shows it (read as
    /// citizens' week reads are: at most once per week and cache lifetime, within the
    /// calendar's read ceiling), so a link that got around costs Exchange next to nothing;
    /// cancelling reads the event itself. Only a booked event whose record the view left
    /// out (an occurrence of a series, on tenants that do) is read on its own, within the
    /// same ceiling. A time that has begun is [`BookingError::Past`] without asking.
    pub async fn find_booking(&self, link: &LinkClaims) -> Result<Found, BookingError> {
        let named = self.named(link).map_err(|_| BookingError::InvalidSlot)?;
        if (self.clock)() >= named.start {
            return Err(BookingError::Past);
        }
        let monday = app::domain::week::monday_of(
            named.start.with_timezone(&named.cal.time_zone).date_naive(),
        );
        let (week, _) = self.week_events(named.cal, monday).await?;
        let Some(kept) = week.events.iter().find(|e| e.id == named.event_id) else {
            return Ok(Found::Gone);
        };
        let markers = &self.config.exchange.markers;
        let event =
            if kept.hold.is_none() && marker_of(&kept.subject, markers) == Some(Marker::Booked) {
                if !self.take_read(named.cal).await {
                    return Err(BookingError::Unavailable);
                }
                match self
                    .mailbox(named.cal)
                    .event(&named.cal.outlook_calendar, &named.event_id)
                    .await
                {
                    Ok(event) => event,
                    Err(MailboxError::NotFound) => return Ok(Found::Gone),
                    Err(e) => return Err(unavailable(e)),
                }
            } else {
                kept.clone()
            };
        Ok(if self.is_the_booking(&event, link, named.start) {
            Found::Booked(self.view(&named, &event))
        } else {
            Found::Gone
        })
    }

    /// Cancels the booking a verified link names (see the module's comment). A time that
    /// has begun is not cancelled ([`BookingError::Past`]); a slot staff changed meanwhile
    /// is [`Cancelled::Already`] when it is no longer this booking, and otherwise written
    /// only as the write path writes (a change of anything that decides the claim is never
    /// overwritten: [`BookingError::Taken`]).
    pub async fn cancel_booking(
        &self,
        caller: &Caller,
        link: &LinkClaims,
    ) -> Result<Cancelled, BookingError> {
        let named = self.named(link).map_err(|_| BookingError::InvalidSlot)?;
        let cal = named.cal;
        let now = (self.clock)();
        if now >= named.start {
            return Err(BookingError::Past);
        }
        let Some((_guard, event, record)) = self.lock_booking(&named, link).await? else {
            return Ok(Cancelled::Already);
        };
        let written = self.free_booked(cal, &event, &record, &link.jti).await;
        let offered = super::rules::week_of(cal, &event);
        match written {
            Ok(()) => {}
            Err(BookingError::Taken) => {
                // Changed in a way that decides the claim (staff, or another tab first):
                // as it now stands, either no longer this booking or left alone.
                return match self
                    .mailbox(cal)
                    .event(&cal.outlook_calendar, &named.event_id)
                    .await
                {
                    Ok(now) if self.is_the_booking(&now, link, named.start) => {
                        Err(BookingError::Taken)
                    }
                    Ok(_) | Err(MailboxError::NotFound) => Ok(Cancelled::Already),
                    Err(e) => Err(unavailable(e)),
                };
            }
            Err(e) => {
                // The write's outcome is unknown: the week is read again.
                self.learn_and_tell(cal, None, offered).await;
                return Err(e);
            }
        }
        tracing::info!(calendar = %cal.name, files = record.files.len(), "booking cancelled by its citizen");
        self.metrics
            .bookings
            .with_label_values(&["cancelled"])
            .inc();
        self.remove_freed_files(cal, &event.id, &record, &link.jti)
            .await;
        let view = self.view(&named, &event);
        self.tell_cancelled(caller, cal, &record, &view, &event.id)
            .await;
        self.announce(super::webhooks::Happened {
            kind: "booking.cancelled",
            form: &link.aud,
            element: &link.element,
            calendar: &cal.name,
            booking: link.jti.clone(),
            previous: None,
            start: view.start.with_timezone(&cal.time_zone).fixed_offset(),
            end: view.end.with_timezone(&cal.time_zone).fixed_offset(),
        });
        Ok(Cancelled::Now(view))
    }

    /// The booking a link names, read and locked for a change (a cancellation, a move);
    /// `None` when it no longer stands. A booking the kept week already shows gone
    /// (cancelled or moved here, or so in the notes of another instance) is answered
    /// without asking Exchange, before the lock and again once it is held — a change that
    /// held it first taught the kept week — so a crowd repeating a change costs nothing.
    /// One it shows standing is read.
    pub(super) async fn lock_booking(
        &self,
        named: &Named<'_>,
        link: &LinkClaims,
    ) -> Result<Option<(EventLock, Event, BookedRecord)>, BookingError> {
        if self.find_booking(link).await? == Found::Gone {
            return Ok(None);
        }
        let guard = self
            .lock_event(&named.event_id, Wait::UpToADeadline)
            .await?;
        if self.find_booking(link).await? == Found::Gone {
            return Ok(None);
        }
        let cal = named.cal;
        let event = match self
            .mailbox(cal)
            .event(&cal.outlook_calendar, &named.event_id)
            .await
        {
            Ok(event) => event,
            Err(MailboxError::NotFound) => return Ok(None),
            Err(e) => return Err(unavailable(e)),
        };
        Ok(match event.hold.as_deref().and_then(BookedRecord::parse) {
            Some(record) if self.is_the_booking(&event, link, named.start) => {
                Some((guard, event, record))
            }
            _ => None,
        })
    }

    /// Frees a booked event as a lapsed hold leaves it: the base subject, and in place of
    /// the booking's record a lapsed hold's record that still lists the booking's files
    /// (owned by the booking's holder; `booking_id`'s hash for a record from before owners
    /// were kept). Free for anyone at once, and whoever claims it next removes what is
    /// still attached. A change since `event` was read that decides the claim is
    /// [`BookingError::Taken`].
    pub(super) async fn free_booked(
        &self,
        cal: &CalendarConfig,
        event: &Event,
        record: &BookedRecord,
        booking_id: &str,
    ) -> Result<(), BookingError> {
        let lapsed = lapsed_record(record, booking_id, (self.clock)());
        let subject = base_subject(&event.subject, &self.config.exchange.markers).to_owned();
        self.write_subject(cal, event, &subject, &lapsed.to_value())
            .await
            .map(|_| ())
    }

    /// Removes the files of a booking [`Booket::free_booked`] freed; what cannot be
    /// removed now is left listed for the next claim of the slot.
    pub(super) async fn remove_freed_files(
        &self,
        cal: &CalendarConfig,
        event: &EventId,
        record: &BookedRecord,
        booking_id: &str,
    ) {
        let lapsed = lapsed_record(record, booking_id, (self.clock)());
        if let Err(e) = self.remove_files_of(cal, event, &lapsed).await {
            tracing::warn!(%event, "a freed booking's files are left for the next claim: {e}");
        }
    }

    /// The address a booking recorded (sealed), when mail is on and it opens with the
    /// configured keys and looks like an address.
    pub(super) fn recorded_address(&self, record: &BookedRecord) -> Option<String> {
        let sealed = record.to.as_deref()?;
        self.config.mail.sending()?;
        self.mailboxes.mail.as_ref()?;
        // (A record sealed with a key since retired without its private half: no mail.)
        let Some(to) = self.receipt_signer.as_ref()?.open(sealed) else {
            tracing::warn!(
                "not mailed: the booking's address cannot be opened with the configured keys"
            );
            return None;
        };
        crate::mail::is_plausible_address(&to).then_some(to)
    }

    /// The short mail that the booking is cancelled, to the address the booking recorded
    /// (within the daily limits); a failure is logged, the cancellation stands.
    async fn tell_cancelled(
        &self,
        caller: &Caller,
        cal: &CalendarConfig,
        record: &BookedRecord,
        view: &BookingView,
        event: &EventId,
    ) {
        let (Some(to), Some(mailbox)) =
            (self.recorded_address(record), self.mailboxes.mail.as_ref())
        else {
            return;
        };
        let to = to.as_str();
        if !self.may_mail(caller, to, cal).await {
            tracing::warn!("cancellation not mailed: the daily mail limit is reached");
            return;
        }
        let slot = SlotRef {
            event_id: event.clone(),
            start: view.start,
            end: view.end,
        };
        let when = super::documents::slot_text(cal, &slot);
        let mail = crate::mail::cancellation(
            to,
            self.config.mail.shown_sender(),
            &view.form_title,
            &when,
            &view.place,
        );
        let result = match mailbox.send_mail(&mail).await {
            Ok(()) => "sent",
            Err(e) => {
                tracing::error!("cancellation e-mail failed (the cancellation stands): {e}");
                "failed"
            }
        };
        self.metrics
            .mails
            .with_label_values(&["cancellation", result])
            .inc();
    }
}

/// The record a lapsed hold leaves, naming the booking's owner and files.
fn lapsed_record(record: &BookedRecord, booking_id: &str, now: DateTime<Utc>) -> HoldInfo {
    HoldInfo {
        owner: record
            .owner
            .clone()
            .unwrap_or_else(|| super::hold::owner_hash(booking_id)),
        expires: now,
        since: Some(now),
        files: record.files.clone(),
    }
}
