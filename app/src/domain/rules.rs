//! The booking rules (docs/designers/booking.md) as pure functions of local wall-clock times.
//!
//! Callers convert to the calendar's time zone first (the server does it with a real tz
//! database); everything here works on `NaiveDate`/`NaiveDateTime` in that zone.

use super::{Markers, SlotState, Window};
use chrono::{Datelike, Days, NaiveDate, NaiveDateTime, TimeDelta, Weekday};

/// Marker found at the end of an event subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    Booked,
    Reserved,
}

/// Which marker (if any) ends `subject`. Trailing whitespace is ignored, as Outlook users
/// sometimes add it by hand.
pub fn marker_of(subject: &str, markers: &Markers) -> Option<Marker> {
    let s = subject.trim_end();
    if s.ends_with(markers.booked.trim_end()) {
        Some(Marker::Booked)
    } else if s.ends_with(markers.reserved.trim_end()) {
        Some(Marker::Reserved)
    } else {
        None
    }
}

/// The subject without a trailing marker.
pub fn base_subject<'a>(subject: &'a str, markers: &Markers) -> &'a str {
    let s = subject.trim_end();
    for m in [&markers.booked, &markers.reserved] {
        if let Some(stripped) = s.strip_suffix(m.trim_end()) {
            return stripped;
        }
    }
    s
}

/// Whether a weekday is Saturday or Sunday.
pub fn is_weekend(day: NaiveDate) -> bool {
    matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
}

/// True when the slot lies fully inside `[first_hour:00, last_hour:00]` of its start day
/// and on a shown day (weekends only with `show_weekend`).
pub fn is_shown(start: NaiveDateTime, end: NaiveDateTime, w: &Window) -> bool {
    if end <= start {
        return false;
    }
    let day = start.date();
    if is_weekend(day) && !w.show_weekend {
        return false;
    }
    let midnight = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    let open = midnight + TimeDelta::hours(i64::from(w.first_hour));
    let close = midnight + TimeDelta::hours(i64::from(w.last_hour));
    start >= open && end <= close
}

/// First local date on which a slot may start: `today + notice_days` calendar days.
pub fn earliest_bookable_day(today: NaiveDate, notice_days: u16) -> NaiveDate {
    today
        .checked_add_days(Days::new(u64::from(notice_days)))
        .unwrap_or(NaiveDate::MAX)
}

/// State of a shown slot. Markers win (the whole truth lives in Outlook), then time:
/// a started slot is past, one before the notice limit is too soon.
pub fn classify(
    start: NaiveDateTime,
    marker: Option<Marker>,
    now: NaiveDateTime,
    notice_days: u16,
) -> SlotState {
    match marker {
        Some(Marker::Booked) => SlotState::Booked,
        Some(Marker::Reserved) => SlotState::Reserved,
        None if start <= now => SlotState::Past,
        None if start.date() < earliest_bookable_day(now.date(), notice_days) => SlotState::TooSoon,
        None => SlotState::Free,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    fn window(first: u8, last: u8, weekend: bool) -> Window {
        Window {
            first_hour: first,
            last_hour: last,
            show_weekend: weekend,
            notice_days: 0,
        }
    }

    #[test]
    fn hour_window_edges() {
        let w = window(8, 16, false);
        // (start, end, shown)
        let table = [
            ("2026-11-30 08:00", "2026-11-30 08:30", true), // starts exactly at first hour
            ("2026-11-30 07:59", "2026-11-30 08:30", false), // one minute early
            ("2026-11-30 15:30", "2026-11-30 16:00", true), // ends exactly at last hour
            ("2026-11-30 15:45", "2026-11-30 16:15", false), // crosses the last hour
            ("2026-11-30 16:00", "2026-11-30 16:30", false), // after the window
            ("2026-11-30 07:00", "2026-11-30 07:30", false), // before the window
            ("2026-11-30 10:00", "2026-11-30 10:00", false), // empty
            ("2026-11-30 10:00", "2026-11-30 09:00", false), // inverted
        ];
        for (s, e, want) in table {
            assert_eq!(is_shown(dt(s), dt(e), &w), want, "{s}–{e}");
        }
    }

    #[test]
    fn last_hour_24_means_midnight() {
        let w = window(20, 24, false);
        assert!(is_shown(dt("2026-11-30 23:30"), dt("2026-12-01 00:00"), &w));
        assert!(!is_shown(
            dt("2026-11-30 23:30"),
            dt("2026-12-01 00:30"),
            &w
        ));
    }

    #[test]
    fn weekends_only_when_enabled() {
        // 2026-11-28 is a Saturday, 2026-11-29 a Sunday, 2026-11-30 a Monday.
        let table = [
            ("2026-11-28 10:00", false, false),
            ("2026-11-28 10:00", true, true),
            ("2026-11-29 10:00", false, false),
            ("2026-11-29 10:00", true, true),
            ("2026-11-30 10:00", false, true),
        ];
        for (s, weekend, want) in table {
            let start = dt(s);
            let end = start + TimeDelta::minutes(30);
            assert_eq!(is_shown(start, end, &window(8, 16, weekend)), want, "{s}");
        }
    }

    #[test]
    fn notice_days_count_calendar_days_across_month_and_year_ends() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let table = [
            ("2026-11-30", 2, "2026-12-02"), // Monday + 2 = Wednesday
            ("2026-11-29", 2, "2026-12-01"), // across a month end
            ("2026-12-31", 1, "2027-01-01"), // across a year end
            ("2028-02-28", 1, "2028-02-29"), // leap day
            ("2026-02-28", 1, "2026-03-01"), // no leap day
            ("2026-11-27", 0, "2026-11-27"), // no notice: today
            ("2026-11-27", 365, "2027-11-27"),
        ];
        for (today, notice, want) in table {
            assert_eq!(
                earliest_bookable_day(d(today), notice),
                d(want),
                "{today}+{notice}"
            );
        }
    }

    #[test]
    fn classify_orders_markers_then_past_then_notice() {
        let now = dt("2026-11-30 12:00"); // Monday noon
        let table = [
            ("2026-12-02 09:00", None, 2, SlotState::Free),
            ("2026-12-01 16:00", None, 2, SlotState::TooSoon), // Tuesday: before Wednesday
            ("2026-11-30 12:00", None, 0, SlotState::Past),    // starts right now
            ("2026-11-30 12:01", None, 0, SlotState::Free),    // today, no notice
            ("2026-11-30 09:00", None, 0, SlotState::Past),
            (
                "2026-12-02 09:00",
                Some(Marker::Booked),
                2,
                SlotState::Booked,
            ),
            (
                "2026-12-02 09:00",
                Some(Marker::Reserved),
                2,
                SlotState::Reserved,
            ),
            (
                "2026-11-30 09:00",
                Some(Marker::Booked),
                0,
                SlotState::Booked,
            ),
        ];
        for (s, marker, notice, want) in table {
            assert_eq!(classify(dt(s), marker, now, notice), want, "{s} {marker:?}");
        }
    }

    #[test]
    fn markers_are_read_and_stripped() {
        let m = Markers::default();
        assert_eq!(marker_of("Samtale - Booket", &m), Some(Marker::Booked));
        assert_eq!(marker_of("Samtale - Booket  ", &m), Some(Marker::Booked));
        assert_eq!(
            marker_of("Samtale - Reserveret", &m),
            Some(Marker::Reserved)
        );
        assert_eq!(marker_of("Samtale", &m), None);
        assert_eq!(marker_of("Booket samtale", &m), None);
        assert_eq!(base_subject("Samtale - Reserveret", &m), "Samtale");
        assert_eq!(base_subject("Samtale - Booket", &m), "Samtale");
        assert_eq!(base_subject("Samtale", &m), "Samtale");
    }
}
