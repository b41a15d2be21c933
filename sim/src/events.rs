//! Creating and deleting events, with recurring series (what `booket check --conformance`
//! does on a scratch calendar). A series is stored as its master plus one event per
//! occurrence; calendarView shows the occurrences, never the master (https://learn.microsoft.com/graph/api/user-list-calendarview).

// Helpers return a finished `Response` as their error so handlers can return it as is.
#![allow(clippy::result_large_err)]

use super::common::{event_json, find_event, graph_error, user_missing, with_preference, Expand};
use super::model::{Event, Person, State};
use super::Simulator;
use crate::wire::{to_utc, DateTimeTimeZone};
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// Most occurrences a created series may have here (the conformance check makes two).
const MAX_OCCURRENCES: u64 = 50;

fn invalid(message: &str) -> Response {
    graph_error(StatusCode::BAD_REQUEST, "ErrorInvalidRequest", message)
}

fn instant(v: Option<&Value>, name: &str) -> Result<DateTime<Utc>, Response> {
    let t: DateTimeTimeZone = v
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok())
        .ok_or_else(|| invalid(&format!("The event needs a valid '{name}'.")))?;
    to_utc(&t).ok_or_else(|| invalid(&format!("'{name}' is not a valid dateTimeTimeZone.")))
}

/// Days between occurrences and how many, for the one pattern the simulator knows
/// (`daily` with a `numbered` range); other patterns are refused rather than misread.
fn daily_numbered(recurrence: &Value) -> Result<(i64, u64), Response> {
    let pattern = &recurrence["pattern"];
    let range = &recurrence["range"];
    if pattern["type"] != "daily" || range["type"] != "numbered" {
        return Err(graph_error(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidRecurrence",
            "The simulator supports daily patterns with a numbered range only.",
        ));
    }
    let interval = pattern["interval"].as_i64().unwrap_or(1).max(1);
    let count = range["numberOfOccurrences"].as_u64().unwrap_or(0);
    if !(1..=MAX_OCCURRENCES).contains(&count) {
        return Err(invalid("numberOfOccurrences must be between 1 and 50."));
    }
    Ok((interval, count))
}

pub(super) fn create_event(
    sim: &Simulator,
    tenant: &str,
    user: &str,
    calendar: &str,
    body: &Bytes,
    tz: Option<chrono_tz::Tz>,
) -> Response {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return invalid("Cannot read the request body.");
    };
    let (start, end) = match (
        instant(v.get("start"), "start"),
        instant(v.get("end"), "end"),
    ) {
        (Ok(s), Ok(e)) if s < e => (s, e),
        (Ok(_), Ok(_)) => return invalid("The end must be after the start."),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let series = match v.get("recurrence").filter(|r| !r.is_null()) {
        Some(r) => match daily_numbered(r) {
            Ok(p) => Some(p),
            Err(resp) => return resp,
        },
        None => None,
    };
    let subject = v["subject"].as_str().unwrap_or("").to_owned();
    let mut properties = Vec::new();
    if let Some(items) = v["singleValueExtendedProperties"].as_array() {
        for item in items {
            match (item["id"].as_str(), item["value"].as_str()) {
                (Some(id), Some(value)) => properties.push((id.to_owned(), value.to_owned())),
                _ => {
                    return graph_error(
                        StatusCode::BAD_REQUEST,
                        "ErrorInvalidExtendedProperty",
                        "An extended property needs an id and a value.",
                    )
                }
            }
        }
    }
    let mut s = sim.lock();
    s.stats.events_created += 1;
    let key = s.next_change_key();
    s.counter += 1;
    let id = format!("AAMkADNew{:010}-QAAAAA==", s.counter);
    let Some(mb) = s.mailbox_mut(tenant, user) else {
        return user_missing(user);
    };
    let upn = mb.upn.clone();
    let organizer = Person {
        name: mb.display_name.clone(),
        address: mb.upn.clone(),
    };
    let Some(cal) = mb.calendars.iter_mut().find(|c| c.id == calendar) else {
        return graph_error(
            StatusCode::NOT_FOUND,
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
        );
    };
    let base = Event {
        id: id.clone(),
        subject,
        start,
        end,
        is_all_day: false,
        is_cancelled: false,
        attendees: vec![],
        organizer,
        location: v["location"]["displayName"].as_str().unwrap_or("").into(),
        change_key: key.clone(),
        properties,
        attachments: vec![],
        kind: "created".into(),
        event_type: "singleInstance".into(),
        series_master_id: None,
    };
    let master = match series {
        None => base,
        Some((interval, count)) => {
            for n in 0..count {
                let shift = chrono::TimeDelta::days(interval * n as i64);
                cal.events.push(Event {
                    id: format!("{id}-occ{n}"),
                    start: start + shift,
                    end: end + shift,
                    event_type: "occurrence".into(),
                    series_master_id: Some(id.clone()),
                    kind: "created:occurrence".into(),
                    ..base.clone()
                });
            }
            Event {
                event_type: "seriesMaster".into(),
                kind: "created:series".into(),
                ..base
            }
        }
    };
    // Like a PATCH, a POST answers without extended properties (https://learn.microsoft.com/graph/api/event-update).
    let json = event_json(sim, &master, &upn, tz, &Expand::None);
    cal.events.push(master);
    cal.events.sort_by_key(|e| e.start);
    (
        StatusCode::CREATED,
        with_preference(axum::Json(json).into_response(), tz),
    )
        .into_response()
}

/// Deletes an event; deleting a series master deletes its occurrences too.
pub(super) fn delete_event(sim: &Simulator, tenant: &str, user: &str, id: &str) -> Response {
    let mut s = sim.lock();
    if let Err(r) = find_event(&mut s, tenant, user, id) {
        return r;
    }
    s.stats.events_deleted += 1;
    if let Some(mb) = s.mailbox_mut(tenant, user) {
        for c in &mut mb.calendars {
            c.events
                .retain(|e| e.id != id && e.series_master_id.as_deref() != Some(id));
        }
    }
    StatusCode::NO_CONTENT.into_response()
}

/// Gives every event of a series (master, occurrences, exceptions) the same new version.
pub(super) fn bump_series(s: &mut State, master: &str, key: &str) {
    for e in s
        .tenants
        .iter_mut()
        .flat_map(|t| t.users.iter_mut())
        .flat_map(|u| u.calendars.iter_mut())
        .flat_map(|c| c.events.iter_mut())
        .filter(|e| e.id == master || e.series_master_id.as_deref() == Some(master))
    {
        e.change_key = key.to_owned();
    }
}
