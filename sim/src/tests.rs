//! The simulator's own answers, checked over HTTP against what Microsoft documents: the
//! shapes of Entra's and Graph's errors and events, and its routing. (Booket against the
//! simulator is tested through the server in `server/tests/`.)

use super::seed::*;
use super::{SimOptions, Simulator};
use chrono::TimeZone;
use serde_json::Value;

struct Running {
    sim: Simulator,
    http: reqwest::Client,
}

async fn running() -> Running {
    let now = chrono::Utc
        .with_ymd_and_hms(2026, 11, 30, 10, 0, 0)
        .unwrap();
    let sim = Simulator::demo(now, SimOptions::default());
    sim.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    Running {
        sim,
        http: reqwest::Client::new(),
    }
}

impl Running {
    async fn token_answer(&self, scope: &str) -> (u16, Value) {
        let res = self
            .http
            .post(format!(
                "{}/{DEMO_TENANT}/oauth2/v2.0/token",
                self.sim.base_url()
            ))
            .form(&[
                ("client_id", DEMO_CLIENT_ID),
                ("client_secret", DEMO_SECRET),
                ("scope", scope),
                ("grant_type", "client_credentials"),
            ])
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.json().await.unwrap())
    }

    async fn token(&self) -> String {
        let (status, body) = self
            .token_answer("https://graph.microsoft.com/.default")
            .await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// A request to Graph with a token (or with `token` as given).
    async fn graph(&self, method: reqwest::Method, path: &str, token: &str) -> (u16, Value) {
        let res = self
            .http
            .request(method, format!("{}{path}", self.sim.graph_base_url()))
            .bearer_auth(token)
            .header("Prefer", "outlook.timezone=\"Europe/Copenhagen\"")
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    fn some_event(&self) -> String {
        self.sim.calendar_events(DEMO_CALENDAR)[0].id.clone()
    }
}

#[tokio::test]
async fn the_token_endpoint_speaks_entra_flat_errors() {
    let r = running().await;
    let (status, body) = r
        .token_answer("https://graph.microsoft.com/User.Read")
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_scope");
    assert_eq!(body["error_codes"][0], 70011);
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .starts_with("AADSTS70011:"));
    assert!(body.get("trace_id").is_some() && body.get("correlation_id").is_some());
}

#[tokio::test]
async fn events_come_in_the_documented_shape() {
    let r = running().await;
    let token = r.token().await;
    let id = r.some_event();
    let (status, raw) = r
        .graph(
            reqwest::Method::GET,
            &format!("/users/{DEMO_OWNER}/events/{id}"),
            &token,
        )
        .await;
    assert_eq!(status, 200, "{raw}");
    let dt = raw["start"]["dateTime"].as_str().unwrap();
    assert_eq!(dt.len(), "2026-12-02T09:00:00.0000000".len(), "{dt}");
    assert!(!dt.contains('+') && !dt.ends_with('Z'));
    assert_eq!(raw["start"]["timeZone"], "Europe/Copenhagen");
    assert_eq!(
        raw["@odata.etag"],
        format!("W/\"{}\"", raw["changeKey"].as_str().unwrap())
    );
    for field in [
        "isCancelled",
        "isAllDay",
        "attendees",
        "organizer",
        "location",
        "subject",
    ] {
        assert!(raw.get(field).is_some(), "{field}");
    }
}

#[tokio::test]
async fn a_derived_property_by_its_bare_name_is_refused_as_graph_does() {
    let r = running().await;
    let token = r.token().await;
    let id = r.some_event();
    let path = format!("/users/{DEMO_OWNER}/events/{id}/attachments");
    let (status, body) = r
        .graph(
            reqwest::Method::GET,
            &format!("{path}?$select=id,name,contentId"),
            &token,
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "RequestBroker--ParseUri");
    // Through the derived type's cast it is accepted.
    let (status, _) = r
        .graph(
            reqwest::Method::GET,
            &format!("{path}?$select=id,name,microsoft.graph.fileAttachment/contentId"),
            &token,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(r.sim.stats().rejected_queries, 1);
}

#[tokio::test]
async fn the_front_door_comes_before_any_route() {
    let r = running().await;
    let id = r.some_event();
    let path = format!("/users/{DEMO_OWNER}/events/{id}");
    let (status, body) = r.graph(reqwest::Method::GET, &path, "").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    // Also for a path Graph does not have.
    let (status, _) = r.graph(reqwest::Method::GET, "/nowhere", "").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn unknown_paths_and_methods_are_answered_as_graph_does() {
    let r = running().await;
    let token = r.token().await;
    let id = r.some_event();
    for (method, path) in [
        (
            reqwest::Method::GET,
            format!("/users/{DEMO_OWNER}/nothingHere"),
        ),
        (
            reqwest::Method::PUT,
            format!("/users/{DEMO_OWNER}/events/{id}"),
        ),
    ] {
        let (status, body) = r.graph(method.clone(), &path, &token).await;
        assert_eq!(status, 400, "{method} {path}: {body}");
        assert_eq!(body["error"]["code"], "BadRequest");
        let last = path.rsplit('/').next().unwrap();
        assert_eq!(
            body["error"]["message"],
            format!("Resource not found for the segment '{last}'.")
        );
    }
}

/// Extended properties come back only from a read that names one with
/// `$expand=singleValueExtendedProperties($filter=id eq '…')` — never in a PATCH answer,
/// even for the property the PATCH set, and not for a bare `$expand`.
#[tokio::test]
async fn extended_properties_come_only_from_a_read_that_names_them() {
    let r = running().await;
    let token = r.token().await;
    let id = r.some_event();
    let property = "String {8e1a3b55-2f6d-4c0e-9b7a-5d4c3b2a1f09} Name BooketHold";
    let res = r
        .http
        .patch(format!(
            "{}/users/{DEMO_OWNER}/events/{id}",
            r.sim.graph_base_url()
        ))
        .bearer_auth(&token)
        .json(&serde_json::json!({
            "subject": "Samtale - Reserveret",
            "singleValueExtendedProperties": [{"id": property, "value": "v1"}],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["subject"], "Samtale - Reserveret");
    assert!(answer["@odata.etag"].is_string());
    assert!(
        answer.get("singleValueExtendedProperties").is_none(),
        "{answer}"
    );
    let path = format!("/users/{DEMO_OWNER}/events/{id}");
    for (query, carries) in [
        (String::new(), false),
        ("?$expand=singleValueExtendedProperties".to_owned(), false),
        (
            format!("?$expand=singleValueExtendedProperties($filter=id eq '{property}')"),
            true,
        ),
    ] {
        let (status, read) = r
            .graph(reqwest::Method::GET, &format!("{path}{query}"), &token)
            .await;
        assert_eq!(status, 200, "{query}: {read}");
        let value = read["singleValueExtendedProperties"][0]["value"].as_str();
        assert_eq!(value == Some("v1"), carries, "{query}: {read}");
    }
}
