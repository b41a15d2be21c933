//! The confirmation mail after a booking (with the link to the booking's own page), within
//! the daily limits.

use super::documents;
use super::slot_id::SlotRef;
use super::{Booket, Caller};
use crate::config::CalendarConfig;
use crate::mail;
use crate::mailbox::Event;
use crate::receipts::LinkClaims;
use app::api::BookRequest;
use app::domain::MailOutcome;

impl Booket {
    /// The address the form's e-mail field holds, when mail is on and the form names one
    /// the citizen filled in with something like an address.
    pub(super) fn citizen_address(&self, req: &BookRequest) -> Option<String> {
        self.config.mail.sending()?;
        let field = self.config.form(&req.form)?.email_field.as_deref()?;
        let to = req
            .fields
            .iter()
            .find(|f| f.name == field)
            .map(|f| f.value.trim().to_owned())?;
        mail::is_plausible_address(&to).then_some(to)
    }

    /// Whether one more mail to `to` is within the daily limits (per recipient, and per
    /// client when known): the municipality's mailbox must not become a way to send mail
    /// to anyone. Counts it when it is.
    pub(super) async fn may_mail(&self, caller: &Caller, to: &str, cal: &CalendarConfig) -> bool {
        let limits = self.config.mail_limits;
        let recipient = format!("to:{}", to.to_lowercase());
        let client = caller.client.map(|c| format!("client:{c}"));
        let mut keys = vec![(recipient.as_str(), limits.per_recipient_per_day)];
        if let Some(c) = &client {
            keys.push((c.as_str(), limits.per_client_per_day));
        }
        let today = (self.clock)().with_timezone(&cal.time_zone).date_naive();
        self.mails.take(&keys, today) && self.spend_shared_mail(&keys, today).await
    }

    /// The booking's own page (`/booking/<token>`) for the booking `booked_mark` names on
    /// `slot`'s event, made through `form`'s `element`, when receipts are signed.
    pub(super) fn booking_link(
        &self,
        (form, element): (&str, &str),
        cal: &CalendarConfig,
        slot: &SlotRef,
        booked_mark: &str,
    ) -> Option<String> {
        let signer = self.receipt_signer.as_ref()?;
        signer.link_url(&LinkClaims {
            iss: String::new(),
            aud: form.to_owned(),
            exp: slot.end.timestamp(),
            jti: crate::receipts::booking_id(slot.event_id.as_str(), booked_mark),
            element: element.to_owned(),
            calendar: cal.name.clone(),
            event: slot.event_id.to_string(),
            start: slot.start.to_rfc3339(),
        })
    }

    /// Sends the confirmation e-mail when mail is on and the form names an e-mail field the
    /// citizen filled in, with the link to the booking's own page. A failure is logged and
    /// reported in the receipt; the booking stands.
    pub(super) async fn confirm_by_mail(
        &self,
        caller: &Caller,
        req: &BookRequest,
        cal: &CalendarConfig,
        slot: &SlotRef,
        event: &Event,
        booked_mark: &str,
    ) -> Option<MailOutcome> {
        self.config.mail.sending()?;
        self.mailboxes.mail.as_ref()?;
        let form = self.config.form(&req.form)?;
        let field = form.email_field.as_deref()?;
        let typed = req
            .fields
            .iter()
            .find(|f| f.name == field)
            .map(|f| f.value.trim())?;
        if typed.is_empty() {
            return None;
        }
        let Some(to) = self.citizen_address(req) else {
            tracing::warn!("confirmation not sent: the e-mail field does not hold an address");
            return Some(MailOutcome::Failed);
        };
        if !self.may_mail(caller, &to, cal).await {
            tracing::warn!("confirmation not sent: the daily mail limit is reached");
            return Some(MailOutcome::Failed);
        }
        Some(
            self.send_confirmation(Confirm {
                to: &to,
                form: (req.form.as_str(), req.element.as_str()),
                cal,
                slot,
                location: event.location.as_str(),
                booked_mark,
                moved: false,
            })
            .await,
        )
    }

    /// Sends the confirmation of a booking (or of its new time) to an address already
    /// checked and counted, with the link to the booking's own page.
    pub(super) async fn send_confirmation(&self, c: Confirm<'_>) -> MailOutcome {
        let Some(mailbox) = self.mailboxes.mail.as_ref() else {
            return MailOutcome::Failed;
        };
        let form_title = self
            .config
            .forms
            .iter()
            .find(|f| f.id == c.form.0)
            .map(|f| f.title.as_str())
            .unwrap_or_default();
        let when = documents::slot_text(c.cal, c.slot);
        let link = self.booking_link(c.form, c.cal, c.slot, c.booked_mark);
        let confirmation = mail::Confirmation {
            to: c.to,
            form_title,
            when: &when,
            start: c.slot.start,
            end: c.slot.end,
            location: c.location,
            calendar: &c.cal.name,
            uid: c.slot.event_id.as_str(),
            from: self.config.mail.shown_sender(),
            link: link.as_deref(),
            moved: c.moved,
        };
        match mailbox
            .send_mail(&mail::confirmation(&confirmation, (self.clock)()))
            .await
        {
            Ok(()) => MailOutcome::Sent,
            Err(e) => {
                tracing::error!("confirmation e-mail failed (the booking stands): {e}");
                MailOutcome::Failed
            }
        }
    }
}

/// A confirmation to send: to whom, of which booking.
pub(super) struct Confirm<'a> {
    pub to: &'a str,
    /// Form and element ids.
    pub form: (&'a str, &'a str),
    pub cal: &'a CalendarConfig,
    pub slot: &'a SlotRef,
    pub location: &'a str,
    pub booked_mark: &'a str,
    /// The booking's new time after a move.
    pub moved: bool,
}

impl Booket {
    /// With several instances, the daily mail limits are counted for them together in the
    /// store (recipients and clients by hash: no address is kept), per calendar day. A
    /// store that cannot be reached leaves each instance's own count.
    async fn spend_shared_mail(&self, keys: &[(&str, u32)], today: chrono::NaiveDate) -> bool {
        if !self.store.is_shared() {
            return true;
        }
        let names: Vec<(String, u32)> = keys
            .iter()
            .map(|(k, limit)| {
                (
                    format!("mail:{today}:{}", super::hold::owner_hash(k)),
                    *limit,
                )
            })
            .collect();
        let windows: Vec<(&str, u32)> = names.iter().map(|(n, l)| (n.as_str(), *l)).collect();
        match self
            .store
            .count(&windows, std::time::Duration::from_secs(25 * 3600))
            .await
        {
            Ok(spent) => spent.is_none(),
            Err(e) => {
                tracing::warn!("mails not counted across instances: {e}");
                true
            }
        }
    }
}
