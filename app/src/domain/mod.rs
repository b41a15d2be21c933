//! Types shared by the widget and the server, and the pure booking rules.
//!
//! Nothing in here does I/O or reads a clock: `now` and `today` are arguments, so the
//! tests can pin any moment, including daylight-saving changes. The server runs the rules
//! (`rules.rs`) for every week it answers and again before every write; the widget shows
//! the states the server computed and runs no rule of its own (the server's clock decides).

pub mod json;
pub mod rules;
pub mod week;
pub mod wire;

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};

/// The part of a booking element's configuration that the browser may see.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElementPublic {
    /// Form id from the server configuration.
    pub form: String,
    /// Element name: the key of the hidden input in the submitted form.
    pub name: String,
    pub heading: String,
    pub description: String,
    pub info_text: String,
    pub required: bool,
    pub show_weekend: bool,
    /// First hour shown, 0–23 (calendar's local time).
    pub first_hour: u8,
    /// Last hour shown, 1–24, greater than `first_hour`.
    pub last_hour: u8,
    /// Display name of the calendar (never the Outlook id or the owner).
    pub calendar: String,
    /// The booking sends the form's files and fields along (documents, summary or mail
    /// are configured), so the widget uses the multipart booking call.
    #[serde(default)]
    pub sends_form: bool,
}

/// Availability of a slot as the server sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotState {
    Free,
    Booked,
    /// Held by another citizen (" - Reserveret").
    Reserved,
    /// Before `today + notice_days`.
    TooSoon,
    /// Already started.
    Past,
    /// Reserved for the citizen asking (their hold token matches the event's hold).
    Held,
}

/// One slot as the widget shows it. Times carry the calendar's UTC offset at that instant,
/// so the browser needs no time-zone database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotView {
    /// Opaque, tamper-evident id issued by the server for this element.
    pub id: String,
    pub start: DateTime<FixedOffset>,
    pub end: DateTime<FixedOffset>,
    pub state: SlotState,
}

/// One week of an element's slots.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeekView {
    /// Monday of the week shown.
    pub week_start: NaiveDate,
    /// Monday of the current week in the calendar's time zone: the earliest week offered.
    pub first_week: NaiveDate,
    /// The calendar's local date today (server clock).
    pub today: NaiveDate,
    /// Days shown (Monday–Friday, or Monday–Sunday with `show_weekend`).
    pub days: Vec<NaiveDate>,
    /// Slots shown, sorted by start.
    pub slots: Vec<SlotView>,
    /// When this week has no free slot: the Monday of the next week that has one.
    pub next_free_week: Option<NaiveDate>,
}

/// A reservation (" - Reserveret") made for one citizen while they fill in the form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub slot_id: String,
    /// Proof of ownership; the widget sends it with extend, release and book.
    pub token: String,
    /// When the hold lapses, in the calendar's offset.
    pub expires: DateTime<FixedOffset>,
    /// Seconds left when the server answered (the browser's clock may be off).
    pub seconds_left: u32,
}

/// What the hidden input carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub slot_id: String,
    pub start: DateTime<FixedOffset>,
    pub end: DateTime<FixedOffset>,
    /// Display name of the calendar.
    pub calendar: String,
    pub state: ReceiptState,
    /// Names of the files attached to the Outlook event (documents and summary).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<String>,
    /// Confirmation e-mail: `sent`, `failed` (the booking stands) or absent when off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<MailOutcome>,
    /// The booking signed by the server (compact JWS, ES256) for the form's backend to
    /// verify; absent before booking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jws: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailOutcome {
    Sent,
    Failed,
}

/// Why uploaded files were refused (nothing was written).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileProblem {
    TooMany,
    TooLarge,
    TotalTooLarge,
    Type,
    /// The bytes are not what the name says (e.g. a program renamed to .pdf).
    Content,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptState {
    /// Picked in the widget, not yet booked.
    Selected,
    /// Booked in Outlook.
    Booked,
}

/// Errors the widget can show. User-safe: no Graph message, no stack trace, no secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum BookingError {
    #[error("the time was just taken by someone else")]
    Taken,
    #[error("the time can not be booked yet")]
    TooSoon,
    #[error("the time has passed")]
    Past,
    #[error("the time is outside what this element offers")]
    OutsideWindow,
    #[error("unknown form or booking element")]
    UnknownElement,
    #[error("the time is not one this element offered")]
    InvalidSlot,
    #[error("invalid input: {field}")]
    Invalid { field: String },
    #[error("file refused ({problem:?}): {name}")]
    Files {
        problem: FileProblem,
        name: String,
        limit: u64,
    },
    #[error("the calendar is temporarily unavailable")]
    Unavailable,
    /// `retry_after`: seconds until the client may try again (0: not known).
    #[error("too many attempts from this client")]
    RateLimited {
        #[serde(default, skip_serializing_if = "is_zero")]
        retry_after: u32,
    },
    #[error("the hold has reached its longest lifetime")]
    HoldLimit,
    #[error("this page may not use the booking")]
    ForbiddenOrigin,
    #[error("the server could not be reached")]
    Network,
    #[error("something went wrong on the server")]
    Internal,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// An answer: 2xx carries the value, 4xx/5xx a [`BookingError`] as JSON. Anything that is
/// not Booket's own answer (a proxy's error page, say) still becomes an error the widget
/// can explain.
pub fn decode_answer<T: json::FromJson>(status: u16, text: &str) -> Result<T, BookingError> {
    match status {
        200..=299 => json::from_str(text).ok_or(BookingError::Internal),
        _ => Err(decode_error(status, text)),
    }
}

/// The error an answer that is not a success carries (one copy, not one per answer type).
fn decode_error(status: u16, text: &str) -> BookingError {
    match status {
        400..=599 => json::from_str(text).unwrap_or(match status {
            403 => BookingError::ForbiddenOrigin,
            429 => BookingError::RateLimited { retry_after: 0 },
            500 => BookingError::Internal,
            501..=599 => BookingError::Unavailable,
            _ => BookingError::invalid("request"),
        }),
        _ => BookingError::Internal,
    }
}

impl BookingError {
    /// HTTP status the server answers with for this error.
    pub fn http_status(&self) -> u16 {
        match self {
            BookingError::Taken => 409,
            BookingError::TooSoon | BookingError::Past | BookingError::OutsideWindow => 422,
            BookingError::UnknownElement => 404,
            BookingError::InvalidSlot | BookingError::Invalid { .. } => 400,
            BookingError::Files { problem, .. } => match problem {
                FileProblem::Type | FileProblem::Content => 415,
                _ => 413,
            },
            BookingError::HoldLimit => 409,
            BookingError::Unavailable | BookingError::Network => 503,
            BookingError::RateLimited { .. } => 429,
            BookingError::ForbiddenOrigin => 403,
            BookingError::Internal => 500,
        }
    }

    /// The time itself is gone (taken, or no longer bookable): the widget drops it and
    /// shows the week as it is now.
    pub fn means_time_gone(&self) -> bool {
        matches!(
            self,
            BookingError::Taken
                | BookingError::TooSoon
                | BookingError::Past
                | BookingError::InvalidSlot
                | BookingError::OutsideWindow
        )
    }

    pub fn invalid(field: &str) -> Self {
        BookingError::Invalid {
            field: field.to_owned(),
        }
    }
}

impl leptos::server_fn::error::FromServerFnError for BookingError {
    type Encoder = leptos::server_fn::codec::JsonEncoding;

    fn from_server_fn_error(value: leptos::server_fn::error::ServerFnErrorErr) -> Self {
        use leptos::server_fn::error::ServerFnErrorErr as E;
        match value {
            E::Request(_) => BookingError::Network,
            // On the server these mean the request could not be read (bad arguments, a body
            // that is not UTF-8); the client never sees a response it cannot decode.
            E::Args(_) | E::MissingArg(_) | E::Deserialization(_) => {
                BookingError::invalid("request")
            }
            _ => BookingError::Internal,
        }
    }
}

/// The element's rule parameters, shared by the widget and the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub first_hour: u8,
    pub last_hour: u8,
    pub show_weekend: bool,
    pub notice_days: u16,
}

/// Subject markers that carry the booking state in Outlook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Markers {
    pub booked: String,
    pub reserved: String,
}

impl Default for Markers {
    fn default() -> Self {
        Markers {
            booked: " - Booket".into(),
            reserved: " - Reserveret".into(),
        }
    }
}

/// Validated element name: `[a-z0-9_-]+`, at most 64 characters.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_error() -> Vec<BookingError> {
        let mut all = vec![
            BookingError::Taken,
            BookingError::TooSoon,
            BookingError::Past,
            BookingError::OutsideWindow,
            BookingError::UnknownElement,
            BookingError::InvalidSlot,
            BookingError::invalid("slot_id"),
            BookingError::Unavailable,
            BookingError::RateLimited { retry_after: 0 },
            BookingError::RateLimited { retry_after: 42 },
            BookingError::HoldLimit,
            BookingError::ForbiddenOrigin,
            BookingError::Network,
            BookingError::Internal,
        ];
        for problem in [
            FileProblem::TooMany,
            FileProblem::TooLarge,
            FileProblem::TotalTooLarge,
            FileProblem::Type,
            FileProblem::Content,
        ] {
            all.push(BookingError::Files {
                problem,
                name: "søknad.pdf".into(),
                limit: 3 << 20,
            });
        }
        all
    }

    #[test]
    fn every_error_reads_back_as_written() {
        for e in every_error() {
            let text = serde_json::to_string(&e).unwrap();
            let back: BookingError = serde_json::from_str(&text).unwrap();
            assert_eq!(back, e, "{text}");
            assert_eq!(
                json::from_str::<BookingError>(&text),
                Some(e.clone()),
                "{text}"
            );
            assert_eq!(decode_answer::<()>(e.http_status(), &text), Err(e));
        }
    }

    #[test]
    fn malformed_errors_are_refused() {
        for text in [
            r#"{"error":"files","name":"a"}"#,
            r#"{"error":"invalid"}"#,
            r#"{"error":"teapot"}"#,
            r#"{"field":"x"}"#,
            r#""taken""#,
        ] {
            assert_eq!(json::from_str::<BookingError>(text), None, "{text}");
        }
    }

    #[test]
    fn answers_that_are_not_booket_s_still_explain_themselves() {
        let ok: Result<Vec<u8>, _> = decode_answer(200, "[1, 2]");
        assert_eq!(ok, Ok(vec![1, 2]));
        assert_eq!(
            decode_answer::<()>(200, "<html>"),
            Err(BookingError::Internal)
        );
        assert_eq!(
            decode_answer::<()>(502, "Bad Gateway"),
            Err(BookingError::Unavailable)
        );
        assert_eq!(
            decode_answer::<()>(429, ""),
            Err(BookingError::RateLimited { retry_after: 0 })
        );
        assert_eq!(
            decode_answer::<()>(403, "nope"),
            Err(BookingError::ForbiddenOrigin)
        );
        assert_eq!(
            decode_answer::<()>(413, "length limit exceeded"),
            Err(BookingError::invalid("request"))
        );
        assert_eq!(decode_answer::<()>(500, ""), Err(BookingError::Internal));
        assert_eq!(decode_answer::<()>(302, ""), Err(BookingError::Internal));
    }
}
