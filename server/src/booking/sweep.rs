//! The sweep: lapsed holds given back in Outlook, with the files they brought.

use super::hold::{HoldInfo, ENDED};
use super::rules::*;
use super::Booket;
use crate::mailbox::MailboxError;
use app::domain::rules::{base_subject, marker_of, Marker};
use app::domain::week::monday_of;
use app::domain::BookingError;
use chrono::Days;

impl Booket {
    /// Gives back every lapsed hold from the start of this week through `sweep_weeks`
    /// ahead, each with a conditional write, so a slot booked or re-reserved meanwhile is
    /// never touched. Returns how many holds were released.
    pub async fn sweep_expired_holds(&self) -> Result<usize, MailboxError> {
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
            let mailbox = self.mailbox(cal);
            let events = mailbox.events(&cal.outlook_calendar, start, end).await?;
            // (Occurrences' hold records, where the view left them out.)
            let events = self.complete_holds(cal, events).await;
            let markers = &self.config.exchange.markers;
            let mut changed = std::collections::BTreeSet::new();
            for event in events {
                let subject = event.subject.clone();
                let lapsed = marker_of(&subject, markers) == Some(Marker::Reserved)
                    && event
                        .hold
                        .as_deref()
                        .and_then(HoldInfo::parse)
                        .is_some_and(|h| !h.is_active(now));
                if !lapsed {
                    continue;
                }
                // (Another instance sweeping or writing it, or no store: next sweep.)
                let Ok(_guard) = self
                    .lock_event(&event.id, super::instances::Wait::UpToADeadline)
                    .await
                else {
                    stuck += 1;
                    continue;
                };
                // Files of the booking that never finished go first.
                let event = match self.remove_lapsed_files(cal, &event, "").await {
                    Ok(false) => event,
                    Ok(true) => match mailbox.event(&cal.outlook_calendar, &event.id).await {
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
            for monday in changed {
                self.learn_and_tell(cal, None, monday).await;
            }
        }
        self.metrics.holds_stuck.set(stuck);
        if released > 0 {
            tracing::info!(released, "lapsed holds released");
        }
        Ok(released)
    }

    /// Runs [`Booket::sweep_expired_holds`], then [`Booket::send_reminders`], every
    /// `every` until the process ends.
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
                if let Err(e) = self.send_reminders().await {
                    tracing::warn!("reminder sweep failed: {e}");
                }
            }
        });
    }
}
