//! The confirmation mail after a booking, within the daily limits.

use super::documents;
use super::slot_id::SlotRef;
use super::{Booket, Caller};
use crate::config::CalendarConfig;
use crate::mail;
use crate::mailbox::Event;
use app::api::BookRequest;
use app::domain::MailOutcome;

impl Booket {
    /// Sends the confirmation e-mail when mail is on and the form names an e-mail field the
    /// citizen filled in. A failure is logged and reported in the receipt; the booking stands.
    pub(super) async fn confirm_by_mail(
        &self,
        caller: &Caller,
        req: &BookRequest,
        cal: &CalendarConfig,
        slot: &SlotRef,
        event: &Event,
    ) -> Option<MailOutcome> {
        let (sender, user) = self.config.mail.sending()?;
        let mailbox = self.mailboxes.mail.as_ref()?;
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
        let client = caller.client.map(|c| format!("client:{c}"));
        let mut keys = vec![(recipient.as_str(), limits.per_recipient_per_day)];
        if let Some(c) = &client {
            keys.push((c.as_str(), limits.per_client_per_day));
        }
        let today = (self.clock)().with_timezone(&cal.time_zone).date_naive();
        if !self.mails.take(&keys, today) || !self.spend_shared_mail(&keys, today).await {
            tracing::warn!("confirmation not sent: the daily mail limit is reached");
            return Some(MailOutcome::Failed);
        }
        let when = documents::slot_text(cal, slot);
        let location = event.location.as_str();
        let confirmation = mail::Confirmation {
            to: &to,
            form_title: &form.title,
            when: &when,
            start: slot.start,
            end: slot.end,
            location,
            calendar: &cal.name,
            uid: slot.event_id.as_str(),
            from: (!sender.eq_ignore_ascii_case(user)).then_some(sender),
        };
        match mailbox
            .send_mail(&mail::confirmation(&confirmation, (self.clock)()))
            .await
        {
            Ok(()) => Some(MailOutcome::Sent),
            Err(e) => {
                tracing::error!("confirmation e-mail failed (the booking stands): {e}");
                Some(MailOutcome::Failed)
            }
        }
    }
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
