//! The write path's pure rules: who may claim an event, when a hold began and lapses,
//! the marks Booket leaves in Outlook. No I/O; tested beside the code.

use super::hold::{self, HoldInfo};
use crate::config::CalendarConfig;
use crate::mailbox::Event;
use app::domain::rules::{marker_of, Marker};
use app::domain::week::monday_of;
use app::domain::{BookingError, Markers};
use chrono::{DateTime, Utc};

/// What the hold property says once a booking request booked the event: a hash of the
/// request's idempotency scope, so a retry can recognise its own booking.
pub(super) fn booked_value(idempotency_scope: &str) -> String {
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

pub(super) fn claim_of(event: &Event, markers: &Markers, now: DateTime<Utc>, token: &str) -> Claim {
    let marker = marker_of(&event.subject, markers);
    claim_from(
        marker,
        event.hold.as_deref().and_then(HoldInfo::parse).as_ref(),
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

/// When `token`'s hold on this event began: kept across extensions of an active hold
/// (records without it count from their expiry less one hold); now for a new hold.
pub(super) fn hold_since(
    event: &Event,
    markers: &app::domain::Markers,
    token: &str,
    now: DateTime<Utc>,
    hold_for: chrono::TimeDelta,
) -> DateTime<Utc> {
    if marker_of(&event.subject, markers) != Some(Marker::Reserved) {
        return now;
    }
    match event.hold.as_deref().and_then(HoldInfo::parse) {
        Some(h) if h.is_owned_by(token) && h.is_active(now) => {
            h.since.unwrap_or(h.expires - hold_for).min(now)
        }
        _ => now,
    }
}

/// When a hold begun at `since` and (re)written at `now` lapses: one hold from now, but
/// never past `since + hold_max`. Cut short by that limit to less than a minute (or than one
/// hold, if holds are shorter), it is not worth giving: [`BookingError::HoldLimit`].
pub(super) fn hold_expiry(
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
pub(super) fn week_of(cal: &CalendarConfig, event: &Event) -> chrono::NaiveDate {
    monday_of(event.start.with_timezone(&cal.time_zone).date_naive())
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

    fn event(subject: &str, hold: Option<&HoldInfo>) -> Event {
        event_with_record(subject, hold.map(HoldInfo::to_value))
    }

    fn event_with_record(subject: &str, record: Option<String>) -> Event {
        Event {
            id: crate::mailbox::EventId::new("e1"),
            version: Some("W/\"1\"".into()),
            subject: subject.into(),
            start: Utc.with_ymd_and_hms(2026, 12, 7, 8, 0, 0).unwrap(),
            end: Utc.with_ymd_and_hms(2026, 12, 7, 8, 30, 0).unwrap(),
            all_day: false,
            cancelled: false,
            hold: record,
            location: String::new(),
        }
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
