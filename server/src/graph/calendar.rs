//! The calendar calls: calendars by name, a window of events, one event, the conditional
//! update of subject and hold record, and (for the conformance check) creating and deleting
//! test events.

use super::client::Req;
use super::error::GraphError;
use super::wire::{Calendar, Event};
use super::{AppCredentials, GraphClient};
use chrono::{DateTime, Utc};
use reqwest::Method;

/// The event fields Booket reads, and no more: an attendee or organizer Booket never
/// reads cannot fail a page (one without `emailAddress` would), nor cost bytes.
pub const EVENT_FIELDS: &str = "id,subject,start,end,isAllDay,isCancelled,location,changeKey";

/// `$expand` for one single-value extended property.
fn expand_property(id: &str) -> String {
    format!("singleValueExtendedProperties($filter=id eq '{id}')")
}

impl GraphClient {
    /// All calendars of a mailbox (every page).
    pub async fn list_calendars(
        &self,
        creds: &AppCredentials,
        user: &str,
    ) -> Result<Vec<Calendar>, GraphError> {
        let url = self.url(
            &["users", user, "calendars"],
            &[("$select", "id,name"), ("$top", "100")],
        );
        self.get_all(creds, url).await
    }

    /// The id of the calendar with exactly this name.
    pub async fn resolve_calendar(
        &self,
        creds: &AppCredentials,
        user: &str,
        name: &str,
    ) -> Result<String, GraphError> {
        let all = self.list_calendars(creds, user).await?;
        let matches: Vec<&Calendar> = all.iter().filter(|c| c.name == name).collect();
        match matches.as_slice() {
            [one] => Ok(one.id.clone()),
            [] => Err(GraphError::CalendarNotFound {
                name: name.into(),
                found: all.iter().map(|c| c.name.clone()).collect(),
            }),
            many => Err(GraphError::CalendarAmbiguous {
                name: name.into(),
                count: many.len(),
            }),
        }
    }

    /// Events overlapping `[start, end)`, all pages, times in UTC, with the single-value
    /// extended property `expand`.
    pub async fn calendar_view(
        &self,
        creds: &AppCredentials,
        user: &str,
        calendar_id: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        expand: &str,
    ) -> Result<Vec<Event>, GraphError> {
        let s = start.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let e = end.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let url = self.url(
            &["users", user, "calendars", calendar_id, "calendarView"],
            &[
                ("startDateTime", &s),
                ("endDateTime", &e),
                ("$top", "250"),
                ("$select", EVENT_FIELDS),
                ("$expand", &expand_property(expand)),
            ],
        );
        self.get_all(creds, url).await
    }

    /// One event of one calendar (Graph answers 404 for an event in another calendar), with
    /// the single-value extended property `expand`.
    pub async fn get_event(
        &self,
        creds: &AppCredentials,
        user: &str,
        calendar_id: &str,
        id: &str,
        expand: &str,
    ) -> Result<Event, GraphError> {
        let url = self.url(
            &["users", user, "calendars", calendar_id, "events", id],
            &[
                ("$select", EVENT_FIELDS),
                ("$expand", &expand_property(expand)),
            ],
        );
        self.get_json(creds, url).await
    }

    /// Sets the subject (when given) and one single-value extended property (when given)
    /// only if the event is unchanged since `if_match` was read. A conflict comes back as
    /// [`GraphError::Conflict`]. The answer carries the new etag.
    pub async fn patch_event(
        &self,
        creds: &AppCredentials,
        user: &str,
        id: &str,
        if_match: &str,
        subject: Option<&str>,
        property: Option<(&str, &str)>,
    ) -> Result<Event, GraphError> {
        let mut json = serde_json::json!({});
        if let Some(subject) = subject {
            json["subject"] = serde_json::json!(subject);
        }
        if let Some((pid, value)) = property {
            json["singleValueExtendedProperties"] =
                serde_json::json!([{ "id": pid, "value": value }]);
        }
        let body = self
            .send(
                creds,
                Req {
                    method: Method::PATCH,
                    url: self.url(&["users", user, "events", id], &[]),
                    if_match: Some(if_match.to_owned()),
                    json: Some(json),
                    replayable: false,
                },
            )
            .await?;
        serde_json::from_slice(&body).map_err(|e| GraphError::Decode(e.to_string()))
    }

    /// Creates an event in a calendar (`body` as Graph's event resource). Used by the
    /// conformance check on a scratch calendar only; Booket never creates slots.
    pub async fn create_event(
        &self,
        creds: &AppCredentials,
        user: &str,
        calendar_id: &str,
        body: serde_json::Value,
    ) -> Result<Event, GraphError> {
        let body = self
            .send(
                creds,
                Req {
                    method: Method::POST,
                    url: self.url(&["users", user, "calendars", calendar_id, "events"], &[]),
                    if_match: None,
                    json: Some(body),
                    replayable: false,
                },
            )
            .await?;
        serde_json::from_slice(&body).map_err(|e| GraphError::Decode(e.to_string()))
    }

    /// Deletes an event (a series master with its occurrences).
    pub async fn delete_event(
        &self,
        creds: &AppCredentials,
        user: &str,
        id: &str,
    ) -> Result<(), GraphError> {
        self.send(
            creds,
            Req {
                method: Method::DELETE,
                url: self.url(&["users", user, "events", id], &[]),
                if_match: None,
                json: None,
                replayable: true,
            },
        )
        .await
        .map(|_| ())
    }
}
