//! What every simulated Graph endpoint shares: Graph's error shape, the event's JSON (in
//! the zone asked for, with the extended properties asked for), finding events and
//! mailboxes. The bottom of the simulator: it imports none of its siblings' endpoints.
// Helpers return a finished `Response` as their error so handlers can return it as is.
#![allow(clippy::result_large_err)]

use super::model::Event;
use super::Simulator;
use crate::wire::{graph_utc, wall_time, DateTimeTimeZone};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::HashMap;

pub(super) fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
                "request-id": format!("{:016x}", rand_u64()),
                "client-request-id": format!("{:016x}", rand_u64()),
            }
        }
    });
    (status, axum::Json(body)).into_response()
}

pub(super) fn user_missing(user: &str) -> Response {
    graph_error(
        StatusCode::NOT_FOUND,
        "ErrorInvalidUser",
        &format!("The requested user '{user}' is invalid."),
    )
}

pub(super) fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// `Prefer: outlook.timezone="X"` (alone or in a comma-separated list). UTC when absent
/// or unknown, as Graph does.
pub(super) fn preferred_zone(headers: &HeaderMap) -> Option<chrono_tz::Tz> {
    for v in headers.get_all("prefer") {
        let Ok(v) = v.to_str() else { continue };
        for part in v.split(',') {
            if let Some(z) = part.trim().strip_prefix("outlook.timezone=") {
                return z.trim_matches('"').parse().ok();
            }
        }
    }
    None
}

pub(super) fn with_preference(mut r: Response, tz: Option<chrono_tz::Tz>) -> Response {
    let zone = tz
        .map(|z| z.name().to_string())
        .unwrap_or_else(|| "UTC".into());
    if let Ok(v) = HeaderValue::from_str(&format!("outlook.timezone=\"{zone}\"")) {
        r.headers_mut().insert("preference-applied", v);
    }
    r
}

pub(super) fn in_zone(d: DateTime<Utc>, tz: Option<chrono_tz::Tz>) -> DateTimeTimeZone {
    match tz {
        None => graph_utc(d),
        Some(z) => DateTimeTimeZone {
            date_time: wall_time(d.with_timezone(&z).naive_local()),
            time_zone: z.name().into(),
        },
    }
}

/// Which single-value extended properties a request asked for with `$expand`. Graph
/// gives one only to a GET or list that names it,
/// `$expand=singleValueExtendedProperties($filter=id eq '<id>')` — "currently the only way"
/// (Microsoft's page "Get singleValueLegacyExtendedProperty"); a bare `$expand` of the
/// collection is not documented, so the simulator takes the harsher reading and gives none.
pub(super) enum Expand {
    None,
    Id(String),
}

impl Expand {
    pub(super) fn from_query(query: &HashMap<String, String>) -> Expand {
        let Some(x) = query.get("$expand") else {
            return Expand::None;
        };
        let Some(inner) = x.trim().strip_prefix("singleValueExtendedProperties") else {
            return Expand::None;
        };
        // `($filter=id eq '<id>')`
        match inner
            .trim()
            .strip_prefix("($filter=id eq '")
            .and_then(|r| r.strip_suffix("')"))
        {
            Some(id) => Expand::Id(id.to_owned()),
            None => Expand::None,
        }
    }

    pub(super) fn pick(&self, e: &Event) -> Option<Value> {
        let Expand::Id(wanted) = self else {
            return None;
        };
        Some(Value::Array(
            e.properties
                .iter()
                .filter(|(id, _)| wanted.eq_ignore_ascii_case(id))
                .map(|(id, value)| json!({"id": id, "value": value}))
                .collect(),
        ))
    }
}

/// Whether an event is part of a recurring series (an occurrence, or one changed into an
/// exception).
pub(super) fn in_series(e: &Event) -> bool {
    matches!(e.event_type.as_str(), "occurrence" | "exception")
}

pub(super) fn event_json(
    sim: &Simulator,
    e: &Event,
    mailbox: &str,
    tz: Option<chrono_tz::Tz>,
    expand: &Expand,
) -> Value {
    let person = |p: &super::model::Person| json!({"name": p.name, "address": p.address});
    let mut v = json!({
        "@odata.etag": format!("W/\"{}\"", e.change_key),
        "id": e.id,
        "changeKey": e.change_key,
        "subject": e.subject,
        "bodyPreview": "",
        "isAllDay": e.is_all_day,
        "isCancelled": e.is_cancelled,
        "isOrganizer": e.organizer.address.eq_ignore_ascii_case(mailbox),
        "type": e.event_type,
        "seriesMasterId": e.series_master_id,
        "showAs": if e.is_cancelled { "free" } else { "busy" },
        "start": in_zone(e.start, tz),
        "end": in_zone(e.end, tz),
        "location": {"displayName": e.location, "locationType": "default"},
        "attendees": e.attendees.iter().map(|a| json!({
            "type": "required",
            "status": {"response": "none", "time": "0001-01-01T00:00:00Z"},
            "emailAddress": person(a),
        })).collect::<Vec<_>>(),
        "organizer": {"emailAddress": person(&e.organizer)},
                "webLink": format!("{}/owa/?itemid={}", sim.base_url(), e.id),
    });
    if let Some(props) = expand.pick(e) {
        v["singleValueExtendedProperties"] = props;
    }
    v
}

pub(super) fn find_event<'a>(
    s: &'a mut super::model::State,
    tenant: &str,
    user: &str,
    id: &str,
) -> Result<(String, &'a mut Event), Response> {
    let mb = s
        .mailbox_mut(tenant, user)
        .ok_or_else(|| user_missing(user))?;
    let upn = mb.upn.clone();
    mb.calendars
        .iter_mut()
        .flat_map(|c| c.events.iter_mut())
        .find(|e| e.id == id)
        .map(|e| (upn, e))
        .ok_or_else(|| {
            graph_error(
                StatusCode::NOT_FOUND,
                "ErrorItemNotFound",
                "The specified object was not found in the store.",
            )
        })
}

pub(super) fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    let _ = getrandom::getrandom(&mut b);
    u64::from_le_bytes(b)
}
