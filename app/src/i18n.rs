//! Every citizen-facing text in Danish and English (hence long); dates without a locale crate.

use crate::domain::{BookingError, SlotState};
use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Da,
    En,
}

impl Lang {
    /// Picks the language from a `lang` value such as `da`, `da-DK`, `en-GB`.
    pub fn from_tag(tag: &str) -> Lang {
        if tag.trim().to_ascii_lowercase().starts_with("en") {
            Lang::En
        } else {
            Lang::Da
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Da => "da",
            Lang::En => "en",
        }
    }
}

/// Static texts of the widget.
pub struct Texts {
    pub prev_week: &'static str,
    pub next_week: &'static str,
    pub this_week: &'static str,
    pub info_button: &'static str,
    pub loading: &'static str,
    pub load_failed: &'static str,
    pub retry: &'static str,
    pub empty_week: &'static str,
    pub next_free: &'static str,
    pub no_free_ahead: &'static str,
    pub required_missing: &'static str,
    pub book_button: &'static str,
    pub booking: &'static str,
    pub in_line: &'static str,
    pub chosen_prefix: &'static str,
    pub booked_prefix: &'static str,
    pub week: &'static str,
    pub slot_legend: &'static str,
}

const DA: Texts = Texts {
    prev_week: "Forrige uge",
    next_week: "Næste uge",
    this_week: "Denne uge",
    info_button: "Mere information",
    loading: "Henter ledige tider …",
    load_failed: "De ledige tider kunne ikke hentes.",
    retry: "Prøv igen",
    empty_week: "Der er ingen ledige tider i denne uge.",
    next_free: "Næste ledige tid",
    no_free_ahead: "Der er ingen ledige tider de kommende uger.",
    required_missing: "Vælg en tid, før du sender.",
    book_button: "Book tid",
    booking: "Booker tiden …",
    in_line: "Mange booker lige nu – din forespørgsel er i kø.",
    chosen_prefix: "Valgt tid:",
    booked_prefix: "Tiden er booket:",
    week: "Uge",
    slot_legend: "Vælg en ledig tid",
};

const EN: Texts = Texts {
    prev_week: "Previous week",
    next_week: "Next week",
    this_week: "This week",
    info_button: "More information",
    loading: "Loading available times …",
    load_failed: "The available times could not be loaded.",
    retry: "Try again",
    empty_week: "There are no available times this week.",
    next_free: "Next available time",
    no_free_ahead: "There are no available times in the coming weeks.",
    required_missing: "Choose a time before you submit.",
    book_button: "Book time",
    booking: "Booking the time …",
    in_line: "Many are booking right now – your request is in line.",
    chosen_prefix: "Chosen time:",
    booked_prefix: "Time booked:",
    week: "Week",
    slot_legend: "Choose an available time",
};

pub fn texts(lang: Lang) -> &'static Texts {
    match lang {
        Lang::Da => &DA,
        Lang::En => &EN,
    }
}

const DA_DAYS: [&str; 7] = [
    "mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag", "søndag",
];
const EN_DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const DA_MONTHS: [&str; 12] = [
    "januar",
    "februar",
    "marts",
    "april",
    "maj",
    "juni",
    "juli",
    "august",
    "september",
    "oktober",
    "november",
    "december",
];
const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

pub fn weekday_name(lang: Lang, day: NaiveDate) -> &'static str {
    let i = day.weekday().num_days_from_monday() as usize;
    match lang {
        Lang::Da => DA_DAYS[i],
        Lang::En => EN_DAYS[i],
    }
}

pub fn month_name(lang: Lang, day: NaiveDate) -> &'static str {
    let i = day.month0() as usize;
    match lang {
        Lang::Da => DA_MONTHS[i],
        Lang::En => EN_MONTHS[i],
    }
}

/// Upper-cases an ASCII first letter (all our day and month names start with one); this
/// keeps Unicode's case tables out of the widget.
fn capitalise(s: &str) -> String {
    let mut out = s.to_owned();
    if let Some(first) = out.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    out
}

/// "24. november 2026" / "24 November 2026".
pub fn long_date(lang: Lang, day: NaiveDate) -> String {
    match lang {
        Lang::Da => format!("{}. {} {}", day.day(), month_name(lang, day), day.year()),
        Lang::En => format!("{} {} {}", day.day(), month_name(lang, day), day.year()),
    }
}

/// Column heading of a day: "Man 24.11." / "Mon 24/11".
pub fn day_heading(lang: Lang, day: NaiveDate) -> String {
    let name: String = capitalise(weekday_name(lang, day))
        .chars()
        .take(3)
        .collect();
    match lang {
        Lang::Da => format!("{name} {}.{}.", day.day(), day.month()),
        Lang::En => format!("{name} {}/{}", day.day(), day.month()),
    }
}

/// Full day name for screen readers and the list layout: "Mandag 24. november".
pub fn day_long(lang: Lang, day: NaiveDate) -> String {
    match lang {
        Lang::Da => format!(
            "{} {}. {}",
            capitalise(weekday_name(lang, day)),
            day.day(),
            month_name(lang, day)
        ),
        Lang::En => format!(
            "{} {} {}",
            weekday_name(lang, day),
            day.day(),
            month_name(lang, day)
        ),
    }
}

/// The week heading: "Uge 48 · 24.–28. november 2026", across months
/// "Uge 49 · 30. november – 4. december 2026", across years with both years.
pub fn week_label(lang: Lang, first: NaiveDate, last: NaiveDate) -> String {
    let week = first.iso_week().week();
    let range = if first.year() != last.year() {
        format!("{} – {}", long_date(lang, first), long_date(lang, last))
    } else if first.month() != last.month() {
        match lang {
            Lang::Da => format!(
                "{}. {} – {}",
                first.day(),
                month_name(lang, first),
                long_date(lang, last)
            ),
            Lang::En => format!(
                "{} {} – {}",
                first.day(),
                month_name(lang, first),
                long_date(lang, last)
            ),
        }
    } else {
        match lang {
            Lang::Da => format!("{}.–{}", first.day(), long_date(lang, last)),
            Lang::En => format!("{}–{}", first.day(), long_date(lang, last)),
        }
    };
    format!("{} {week} · {range}", texts(lang).week)
}

/// "2026-11-30": a date as the server and the page's data attributes write it.
pub fn iso_date(day: NaiveDate) -> String {
    format!("{:04}-{:02}-{:02}", day.year(), day.month(), day.day())
}

/// "2026-11-30T09:00": a local start time to the minute.
pub fn iso_minute(t: NaiveDateTime) -> String {
    format!("{}T{:02}:{:02}", iso_date(t.date()), t.hour(), t.minute())
}

/// "09:00–09:30" (24-hour clock in both languages).
pub fn time_span(start: NaiveDateTime, end: NaiveDateTime) -> String {
    format!(
        "{:02}:{:02}–{:02}:{:02}",
        start.hour(),
        start.minute(),
        end.hour(),
        end.minute()
    )
}

/// The state word in a slot's accessible name.
pub fn state_word(lang: Lang, state: SlotState, selected: bool) -> &'static str {
    if selected {
        return match lang {
            Lang::Da => "valgt",
            Lang::En => "selected",
        };
    }
    match (lang, state) {
        (Lang::Da, SlotState::Free) => "ledig",
        (Lang::Da, SlotState::Booked) => "optaget",
        (Lang::Da, SlotState::Reserved) => "optaget (reserveret)",
        (Lang::Da, SlotState::TooSoon) => "kan ikke bookes endnu",
        (Lang::Da, SlotState::Past) => "tidspunktet er passeret",
        (Lang::En, SlotState::Free) => "available",
        (Lang::En, SlotState::Booked) => "taken",
        (Lang::En, SlotState::Reserved) => "taken (reserved)",
        (Lang::En, SlotState::TooSoon) => "cannot be booked yet",
        (Lang::En, SlotState::Past) => "time has passed",
        (Lang::Da, SlotState::Held) => "reserveret til dig",
        (Lang::En, SlotState::Held) => "reserved for you",
    }
}

/// When a slot is: "Tirsdag 1. december 2026, 09:00–09:30".
pub fn slot_when(lang: Lang, start: NaiveDateTime, end: NaiveDateTime) -> String {
    format!(
        "{} {}, {}",
        capitalise(weekday_name(lang, start.date())),
        long_date(lang, start.date()),
        time_span(start, end)
    )
}

/// Accessible name of a slot button: weekday, date, time span and state.
pub fn slot_label(
    lang: Lang,
    start: NaiveDateTime,
    end: NaiveDateTime,
    state: SlotState,
    selected: bool,
) -> String {
    format!(
        "{}, {}",
        slot_when(lang, start, end),
        state_word(lang, state, selected)
    )
}

/// A sentence for the citizen for each error.
/// A sentence for the citizen for each error, with details where the error has them.
pub fn error_text(lang: Lang, err: &BookingError) -> String {
    use crate::domain::FileProblem;
    let BookingError::Files {
        problem,
        name,
        limit,
    } = err
    else {
        return match err {
            // Say when: "… Prøv igen om 40 sekunder."
            BookingError::RateLimited { retry_after } if *retry_after > 0 => {
                let (n, da, en) = if *retry_after >= 120 {
                    (retry_after.div_ceil(60), "minutter", "minutes")
                } else {
                    (*retry_after, "sekunder", "seconds")
                };
                match lang {
                    Lang::Da => {
                        format!("Du har prøvet mange gange på kort tid. Prøv igen om {n} {da}.")
                    }
                    Lang::En => {
                        format!("Too many attempts in a short time. Try again in {n} {en}.")
                    }
                }
            }
            _ => error_message(lang, err).to_string(),
        };
    };
    let mb = limit / (1024 * 1024);
    match (lang, problem) {
        (Lang::Da, FileProblem::TooMany) => {
            format!("Der kan højst vedhæftes {limit} filer. Fjern nogle, og send igen.")
        }
        (Lang::En, FileProblem::TooMany) => {
            format!("At most {limit} files can be attached. Remove some and submit again.")
        }
        (Lang::Da, FileProblem::TooLarge) => format!("Filen “{name}” er for stor (højst {mb} MB)."),
        (Lang::En, FileProblem::TooLarge) => {
            format!("The file “{name}” is too large (at most {mb} MB).")
        }
        (Lang::Da, FileProblem::TotalTooLarge) => {
            format!("Filerne fylder for meget tilsammen (højst {mb} MB).")
        }
        (Lang::En, FileProblem::TotalTooLarge) => {
            format!("The files are too large together (at most {mb} MB).")
        }
        (Lang::Da, FileProblem::Type) => {
            format!("Filtypen for “{name}” kan ikke modtages. Brug fx PDF, Word eller billeder.")
        }
        (Lang::En, FileProblem::Type) => {
            format!("The file type of “{name}” cannot be accepted. Use e.g. PDF, Word or images.")
        }
        (Lang::Da, FileProblem::Content) => {
            format!("Indholdet af “{name}” passer ikke til filtypen. Gem filen igen i det rigtige format.")
        }
        (Lang::En, FileProblem::Content) => {
            format!("The content of “{name}” does not match its file type. Save it again in the right format.")
        }
    }
}

pub fn error_message(lang: Lang, err: &BookingError) -> &'static str {
    match (lang, err) {
        (Lang::Da, BookingError::Taken) => "Tiden blev netop taget af en anden — vælg en ny.",
        (Lang::En, BookingError::Taken) => {
            "The time was just taken by someone else — choose another."
        }
        (Lang::Da, BookingError::TooSoon) => "Tiden kan ikke bookes endnu — vælg en senere tid.",
        (Lang::En, BookingError::TooSoon) => "That time cannot be booked yet — choose a later one.",
        (Lang::Da, BookingError::Past) => "Tidspunktet er passeret — vælg en ny tid.",
        (Lang::En, BookingError::Past) => "That time has passed — choose another.",
        (Lang::Da, BookingError::OutsideWindow | BookingError::InvalidSlot) => {
            "Tiden kan ikke bookes her — vælg en ny tid."
        }
        (Lang::En, BookingError::OutsideWindow | BookingError::InvalidSlot) => {
            "That time cannot be booked here — choose another."
        }
        (Lang::Da, BookingError::UnknownElement) => "Bookingen er ikke sat korrekt op.",
        (Lang::En, BookingError::UnknownElement) => "This booking element is not set up correctly.",
        (Lang::Da, BookingError::Invalid { .. }) => "Forespørgslen var ugyldig. Prøv igen.",
        (Lang::En, BookingError::Invalid { .. }) => "The request was invalid. Please try again.",
        (Lang::Da, BookingError::Unavailable) => {
            "Kalenderen svarer ikke lige nu. Prøv igen om lidt."
        }
        (Lang::En, BookingError::Unavailable) => {
            "The calendar is not responding right now. Try again shortly."
        }
        (Lang::Da, BookingError::Network) => {
            "Der er ingen forbindelse til serveren. Tjek forbindelsen og prøv igen."
        }
        (Lang::En, BookingError::Network) => {
            "The server could not be reached. Check your connection and try again."
        }
        (Lang::Da, BookingError::RateLimited { .. }) => {
            "Du har prøvet mange gange på kort tid. Vent et øjeblik, og prøv igen."
        }
        (Lang::En, BookingError::RateLimited { .. }) => {
            "Too many attempts in a short time. Wait a moment and try again."
        }
        (Lang::Da, BookingError::HoldLimit) => {
            "Tiden kan ikke holdes længere for dig. Send blanketten nu, eller vælg en tid igen."
        }
        (Lang::En, BookingError::HoldLimit) => {
            "The time cannot be held for you any longer. Send the form now, or pick a time again."
        }
        (Lang::Da, BookingError::ForbiddenOrigin) => {
            "Denne side må ikke bruge bookingen. Kontakt den, der driver siden."
        }
        (Lang::En, BookingError::ForbiddenOrigin) => {
            "This page may not use the booking. Contact whoever runs the page."
        }
        (Lang::Da, BookingError::Files { .. }) => "En vedhæftet fil kunne ikke modtages.",
        (Lang::En, BookingError::Files { .. }) => "An attached file could not be accepted.",
        (Lang::Da, BookingError::Internal) => "Der skete en fejl. Prøv igen om lidt.",
        (Lang::En, BookingError::Internal) => "Something went wrong. Try again shortly.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn week_labels_in_danish_and_english() {
        assert_eq!(
            week_label(Lang::Da, d("2026-11-23"), d("2026-11-27")),
            "Uge 48 · 23.–27. november 2026"
        );
        assert_eq!(
            week_label(Lang::Da, d("2026-11-30"), d("2026-12-04")),
            "Uge 49 · 30. november – 4. december 2026"
        );
        assert_eq!(
            week_label(Lang::Da, d("2026-12-28"), d("2027-01-03")),
            "Uge 53 · 28. december 2026 – 3. januar 2027"
        );
        assert_eq!(
            week_label(Lang::En, d("2026-11-23"), d("2026-11-27")),
            "Week 48 · 23–27 November 2026"
        );
    }

    #[test]
    fn a_rate_limit_says_when_to_try_again() {
        let rl = |retry_after| BookingError::RateLimited { retry_after };
        assert_eq!(
            error_text(Lang::Da, &rl(40)),
            "Du har prøvet mange gange på kort tid. Prøv igen om 40 sekunder."
        );
        assert_eq!(
            error_text(Lang::En, &rl(150)),
            "Too many attempts in a short time. Try again in 3 minutes."
        );
        assert_eq!(
            error_text(Lang::Da, &rl(0)),
            "Du har prøvet mange gange på kort tid. Vent et øjeblik, og prøv igen."
        );
    }

    #[test]
    fn slot_label_names_day_date_time_and_state() {
        let s = d("2026-12-01").and_hms_opt(9, 0, 0).unwrap();
        let e = d("2026-12-01").and_hms_opt(9, 30, 0).unwrap();
        assert_eq!(
            slot_label(Lang::Da, s, e, SlotState::TooSoon, false),
            "Tirsdag 1. december 2026, 09:00–09:30, kan ikke bookes endnu"
        );
        assert_eq!(
            slot_label(Lang::En, s, e, SlotState::Free, true),
            "Tuesday 1 December 2026, 09:00–09:30, selected"
        );
    }

    #[test]
    fn dates_and_minutes_are_zero_padded() {
        let t = d("2027-01-05").and_hms_opt(8, 5, 0).unwrap();
        assert_eq!(iso_date(t.date()), "2027-01-05");
        assert_eq!(iso_minute(t), "2027-01-05T08:05");
        let e = d("2027-01-05").and_hms_opt(10, 0, 0).unwrap();
        assert_eq!(time_span(t, e), "08:05–10:00");
    }

    #[test]
    fn language_follows_tag() {
        assert_eq!(Lang::from_tag("en-GB"), Lang::En);
        assert_eq!(Lang::from_tag("da-DK"), Lang::Da);
        assert_eq!(Lang::from_tag(""), Lang::Da);
    }
}
