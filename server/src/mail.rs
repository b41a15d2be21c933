//! The confirmation e-mail: time, place and an `.ics`, sent from the mail mailbox.

use crate::mailbox::{MailAttachment, OutgoingMail};
use chrono::{DateTime, Utc};

pub struct Confirmation<'a> {
    pub to: &'a str,
    pub form_title: &'a str,
    /// e.g. "tirsdag 1. december 2026, 09:00–09:30"
    pub when: &'a str,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub location: &'a str,
    pub calendar: &'a str,
    /// Stable id of the booking (the event id).
    pub uid: &'a str,
    /// Address shown as sender when it differs from the sending mailbox.
    pub from: Option<&'a str>,
    /// The booking's own page (cancel or move), when receipts are signed.
    pub link: Option<&'a str>,
    /// The booking's new time after the citizen moved it.
    pub moved: bool,
}

/// A plausible e-mail address (the citizen typed it; Graph does the real check).
pub fn is_plausible_address(s: &str) -> bool {
    let s = s.trim();
    s.len() <= 254
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
        && matches!(s.split_once('@'), Some((user, host)) if !user.is_empty() && host.contains('.') && !host.starts_with('.') && !host.ends_with('.'))
}

/// Escapes a TEXT value (RFC 5545 §3.3.11).
fn ics_text(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace(';', "\\;")
        .replace(',', "\\,")
        .replace('\r', "")
        .replace('\n', "\\n")
}

/// Folds content lines at 75 octets (RFC 5545 §3.1), never inside a UTF-8 character.
fn fold(line: &str) -> String {
    let mut out = String::new();
    let mut len = 0;
    for c in line.chars() {
        if len + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            len = 1;
        }
        out.push(c);
        len += c.len_utf8();
    }
    out
}

pub fn ics(c: &Confirmation<'_>, stamp: DateTime<Utc>) -> String {
    let t = |d: DateTime<Utc>| d.format("%Y%m%dT%H%M%SZ").to_string();
    let lines = [
        "BEGIN:VCALENDAR".to_string(),
        "VERSION:2.0".into(),
        "PRODID:-//Booket//Booket//DA".into(),
        "METHOD:PUBLISH".into(),
        "BEGIN:VEVENT".into(),
        format!("UID:{}@booket", ics_text(c.uid)),
        format!("DTSTAMP:{}", t(stamp)),
        format!("DTSTART:{}", t(c.start)),
        format!("DTEND:{}", t(c.end)),
        format!("SUMMARY:{}", ics_text(c.form_title)),
        format!("LOCATION:{}", ics_text(c.location)),
        format!(
            "DESCRIPTION:{}",
            ics_text(&format!("{} ({})", c.when, c.calendar))
        ),
        "END:VEVENT".into(),
        "END:VCALENDAR".into(),
    ];
    lines.iter().map(|l| fold(l) + "\r\n").collect()
}

/// The confirmation as a mail any mailbox backend sends (Graph `sendMail`, EWS
/// `CreateItem`).
pub fn confirmation(c: &Confirmation<'_>, stamp: DateTime<Utc>) -> OutgoingMail {
    let place = if c.location.is_empty() {
        c.calendar
    } else {
        c.location
    };
    OutgoingMail {
        to: c.to.trim().to_owned(),
        from: c.from.map(str::to_owned),
        subject: format!(
            "{}: {} – {}",
            if c.moved { "Ny tid" } else { "Bekræftelse" },
            c.form_title,
            c.when
        ),
        text: format!(
            "{}\n\nHvad: {}\nHvornår: {}\nHvor: {}\n\nTiden er vedhæftet som kalenderfil (.ics).\n{}",
            if c.moved {
                "Din tid er flyttet. Den gamle tid er aflyst."
            } else {
                "Din tid er booket."
            },
            c.form_title,
            c.when,
            place,
            c.link
                .map(|l| format!("\nKan du ikke komme? Aflys eller flyt tiden her:\n{l}\n"))
                .unwrap_or_default()
        ),
        attachments: vec![MailAttachment {
            name: "booking.ics".into(),
            content_type: "text/calendar".into(),
            bytes: ics(c, stamp).into_bytes(),
        }],
    }
}

/// A short plain-text mail to the citizen, without attachments.
fn notice(to: &str, from: Option<&str>, subject: String, text: String) -> OutgoingMail {
    OutgoingMail {
        to: to.trim().to_owned(),
        from: from.map(str::to_owned),
        subject,
        text,
        attachments: Vec::new(),
    }
}

/// The lines that name a booking's time and place.
fn booking_lines(form_title: &str, when: &str, place: &str) -> String {
    format!("Hvad: {form_title}\nHvornår: {when}\nHvor: {place}\n")
}

/// Word to the citizen that their booking is cancelled (they asked for it on the booking's
/// own page).
pub fn cancellation(
    to: &str,
    from: Option<&str>,
    form_title: &str,
    when: &str,
    place: &str,
) -> OutgoingMail {
    notice(
        to,
        from,
        format!("Aflyst: {form_title} – {when}"),
        format!(
            "Din tid er aflyst, som du bad om.\n\n{}\nTiden er givet fri til andre. Vil du have en ny tid, så book igen i blanketten.\n",
            booking_lines(form_title, when, place)
        ),
    )
}

/// The reminder before the time, with the link to the booking's own page (to cancel).
pub fn reminder(
    to: &str,
    from: Option<&str>,
    form_title: &str,
    when: &str,
    place: &str,
    link: Option<&str>,
) -> OutgoingMail {
    notice(
        to,
        from,
        format!("Påmindelse: {form_title} – {when}"),
        format!(
            "Husk din tid.\n\n{}{}",
            booking_lines(form_title, when, place),
            link.map(|l| format!("\nKan du ikke komme? Aflys eller flyt tiden her:\n{l}\n"))
                .unwrap_or_default()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn conf() -> Confirmation<'static> {
        Confirmation {
            to: "borger@example.dk",
            form_title: "Ansøgning, om; tid",
            when: "tirsdag 1. december 2026, 09:00–09:30",
            start: Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap(),
            end: Utc.with_ymd_and_hms(2026, 12, 1, 8, 30, 0).unwrap(),
            location: "Rådhuset, lokale 1",
            calendar: "Borgerservice",
            uid: "AAMkAD123",
            from: None,
            link: None,
            moved: false,
        }
    }

    #[test]
    fn the_ics_is_valid_calendar_text() {
        let ics = ics(
            &conf(),
            Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap(),
        );
        assert!(ics.starts_with("BEGIN:VCALENDAR\r\n"));
        assert!(ics.contains("DTSTART:20261201T080000Z\r\n"));
        assert!(ics.contains("DTEND:20261201T083000Z\r\n"));
        assert!(ics.contains("SUMMARY:Ansøgning\\, om\\; tid\r\n"));
        assert!(ics.contains("LOCATION:Rådhuset\\, lokale 1\r\n"));
        assert!(ics.lines().all(|l| l.len() <= 75), "{ics}");
        assert!(ics.ends_with("END:VCALENDAR\r\n"));
    }

    #[test]
    fn addresses_are_checked_loosely() {
        for ok in ["a@b.dk", " jens.hansen+x@kommune.dk "] {
            assert!(is_plausible_address(ok), "{ok}");
        }
        for bad in [
            "",
            "a",
            "a@b",
            "@b.dk",
            "a b@c.dk",
            "a@.dk",
            "<a@b.dk>",
            "a@b.dk\nBcc: x@y.dk",
        ] {
            assert!(!is_plausible_address(bad), "{bad}");
        }
    }
}
