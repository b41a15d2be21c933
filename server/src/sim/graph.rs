//! The simulated Graph front door: authentication, application access policy and
//! permissions, the per-app concurrency limit and injected faults, then the dispatch to
//! the endpoint modules (calendars, events, files, mail).
// Helpers return a finished `Response` as their error so handlers can return it as is.
#![allow(clippy::result_large_err)]

use super::common::*;
use super::odata;
use super::Simulator;
use axum::body::{Body, Bytes};
use axum::extract::State as AxState;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;

/// Releases an in-flight place when the request ends, however it ends.
struct InFlight {
    sim: Simulator,
    client_id: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut s = self.sim.lock();
        if let Some(n) = s.in_flight.get_mut(&self.client_id) {
            *n = n.saturating_sub(1);
        }
    }
}

enum Injected {
    Throttle(String),
    Status(u16),
    Drop,
    DropAfter,
    Stall,
}

/// Headers go out, then the connection breaks mid-body.
fn broken_response() -> Response {
    let stream = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "dropped by simulator",
        ))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

pub(super) async fn graph(
    AxState(sim): AxState<Simulator>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Authentication.
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_owned();
    let (tenant, client_id, latency, injected) = {
        let mut s = sim.lock();
        s.stats.graph_requests += 1;
        let Some(t) = s.tokens.get(&token) else {
            return graph_error(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                if token.is_empty() {
                    "Access token is empty."
                } else {
                    "CompactToken parsing failed with error code: 80049217"
                },
            );
        };
        if tokio::time::Instant::now() >= t.expires_at {
            return graph_error(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Access token has expired or is not yet valid.",
            );
        }
        let (tenant, client_id, roles) = (t.tenant.clone(), t.client_id.clone(), t.roles.clone());
        if let Some(denied) = permission_problem(&s, &tenant, &method, uri.path(), &roles) {
            return denied;
        }
        // The Outlook concurrency limit: 4 requests in flight per app.
        let max = sim.options().max_concurrency;
        let n = s.in_flight.entry(client_id.clone()).or_insert(0);
        let arriving = *n + 1;
        let too_many = *n >= max;
        if !too_many {
            *n += 1;
        }
        let seen = s.stats.max_in_flight.entry(client_id.clone()).or_insert(0);
        *seen = (*seen).max(arriving);
        if too_many {
            s.stats.throttled += 1;
            let mut r = graph_error(
                StatusCode::TOO_MANY_REQUESTS,
                "ApplicationThrottled",
                "Application is over its MailboxConcurrency limit.",
            );
            r.headers_mut()
                .insert("retry-after", HeaderValue::from_static("1"));
            return r;
        }
        let is_write = method != Method::GET;
        let stall = match s.faults.stall_after_writes.as_mut() {
            Some(0) if is_write => true,
            Some(n) if is_write => {
                *n -= 1;
                false
            }
            _ => false,
        };
        let injected = if stall {
            Some(Injected::Stall)
        } else if s.faults.drop_next > 0 {
            s.faults.drop_next -= 1;
            Some(Injected::Drop)
        } else if is_write && s.faults.drop_answer_of_next_write > 0 {
            s.faults.drop_answer_of_next_write -= 1;
            Some(Injected::DropAfter)
        } else if s.faults.throttle_next > 0 {
            s.faults.throttle_next -= 1;
            s.stats.throttled += 1;
            Some(Injected::Throttle(
                s.faults.retry_after.clone().unwrap_or_else(|| "1".into()),
            ))
        } else if !s.faults.fail_next.is_empty() {
            Some(Injected::Status(s.faults.fail_next.remove(0)))
        } else {
            None
        };
        (tenant, client_id, s.faults.latency_ms, injected)
    };
    let _place = InFlight {
        sim: sim.clone(),
        client_id,
    };
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    match injected {
        Some(Injected::Stall) => {
            while sim.lock().faults.stall_after_writes == Some(0) {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            if sim.lock().faults.stall_resumes {
                return route(&sim, &tenant, &method, &uri, &headers, &body);
            }
            return graph_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "serviceNotAvailable",
                "The service is temporarily unavailable.",
            );
        }
        Some(Injected::Drop) => return broken_response(),
        Some(Injected::DropAfter) => {
            // The request is carried out; only its answer is lost.
            let _ = route(&sim, &tenant, &method, &uri, &headers, &body);
            return broken_response();
        }
        Some(Injected::Throttle(after)) => {
            let mut r = graph_error(
                StatusCode::TOO_MANY_REQUESTS,
                "ApplicationThrottled",
                "Application is over its MailboxConcurrency limit.",
            );
            if let Ok(v) = HeaderValue::from_str(&after) {
                r.headers_mut().insert("retry-after", v);
            }
            return r;
        }
        Some(Injected::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let mut r = graph_error(
                status,
                "serviceNotAvailable",
                "The service is temporarily unavailable.",
            );
            r.headers_mut()
                .insert("retry-after", HeaderValue::from_static("0.1"));
            return r;
        }
        None => {}
    }
    route(&sim, &tenant, &method, &uri, &headers, &body)
}

/// Application access policies and missing permissions, as Graph reports them.
fn permission_problem(
    s: &super::model::State,
    tenant: &str,
    method: &Method,
    path: &str,
    roles: &[String],
) -> Option<Response> {
    let seg: Vec<String> = path
        .trim_start_matches("/v1.0/")
        .split('/')
        .map(percent_decode)
        .collect();
    if seg.first().map(String::as_str) != Some("users") {
        return None;
    }
    let user = seg.get(1)?;
    if s.blocked_mailboxes
        .iter()
        .any(|b| b.eq_ignore_ascii_case(user))
    {
        return Some(graph_error(
            StatusCode::FORBIDDEN,
            "ErrorAccessDenied",
            "Access to OData is disabled.",
        ));
    }
    // Outside the scope the app is limited to (an existing mailbox only: an unknown one is
    // still 404).
    let outside_scope = s.tenants.iter().find(|t| t.id == tenant).is_some_and(|t| {
        t.users.iter().any(|u| u.upn.eq_ignore_ascii_case(user))
            && t.app_scope
                .as_ref()
                .is_some_and(|scope| !scope.iter().any(|m| m.eq_ignore_ascii_case(user)))
    });
    if outside_scope {
        return Some(graph_error(
            StatusCode::FORBIDDEN,
            "ErrorAccessDenied",
            "Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy settings.",
        ));
    }
    let has = |r: &str| roles.iter().any(|x| x == r);
    let allowed = match seg.get(2).map(String::as_str) {
        Some("sendMail") => has("Mail.Send"),
        Some(_) if *method == Method::GET => has("Calendars.Read") || has("Calendars.ReadWrite"),
        Some(_) => has("Calendars.ReadWrite"),
        None => true,
    };
    (!allowed).then(|| {
        graph_error(
            StatusCode::FORBIDDEN,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        )
    })
}

fn route(
    sim: &Simulator,
    tenant: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let path = uri.path().trim_start_matches("/v1.0/");
    let segments: Vec<String> = path.split('/').map(percent_decode).collect();
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    let query: HashMap<String, String> = uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let tz = preferred_zone(headers);
    // Graph checks the query options against the type it reads before anything else.
    let read_type = match (method.clone(), seg.as_slice()) {
        (Method::GET, ["users", _, "calendars"]) => Some(&odata::CALENDAR),
        (Method::GET, ["users", _, "calendars", _, "calendarView"])
        | (Method::GET, ["users", _, "events", _])
        | (Method::GET, ["users", _, "calendars", _, "events", _]) => Some(&odata::EVENT),
        (Method::GET, ["users", _, "events", _, "attachments"]) => Some(&odata::ATTACHMENT),
        _ => None,
    };
    let refuse_casts = sim.lock().faults.refuse_select_casts;
    let checked = read_type.map(|ty| match query.get("$select") {
        Some(list) if refuse_casts && list.contains('/') => Err(format!(
            "Could not find a property named '{list}' on type '{}'.",
            ty.name
        )),
        _ => odata::check(ty, &query),
    });
    let sel = match checked {
        None => odata::Selection::all(),
        Some(Ok(sel)) => sel,
        Some(Err(message)) => {
            sim.lock().stats.rejected_queries += 1;
            return graph_error(StatusCode::BAD_REQUEST, "RequestBroker--ParseUri", &message);
        }
    };
    match (method.clone(), seg.as_slice()) {
        (Method::GET, ["users", user, "calendars"]) => {
            super::calendars::list_calendars(sim, tenant, user, &query, uri, &sel)
        }
        (Method::GET, ["users", user, "calendars", cal, "calendarView"]) => {
            super::calendars::calendar_view(sim, tenant, user, cal, &query, uri, tz, &sel)
        }
        (Method::GET, ["users", user, "events", id]) => {
            super::calendars::get_event(sim, tenant, user, None, id, tz, &query, &sel)
        }
        (Method::GET, ["users", user, "calendars", cal, "events", id]) => {
            super::calendars::get_event(sim, tenant, user, Some(cal), id, tz, &query, &sel)
        }
        (Method::PATCH, ["users", user, "events", id])
        | (Method::PATCH, ["users", user, "calendars", _, "events", id]) => {
            super::calendars::patch_event(sim, tenant, user, id, headers, body, tz)
        }
        (Method::POST, ["users", user, "calendars", cal, "events"]) => {
            super::events::create_event(sim, tenant, user, cal, body, tz)
        }
        (Method::DELETE, ["users", user, "events", id])
        | (Method::DELETE, ["users", user, "calendars", _, "events", id]) => {
            super::events::delete_event(sim, tenant, user, id)
        }
        (Method::GET, ["users", user, "events", id, "attachments"]) => {
            super::files::list_attachments(sim, tenant, user, id, &sel)
        }
        (Method::POST, ["users", user, "events", id, "attachments"]) => {
            super::files::post_attachment(sim, tenant, user, id, body)
        }
        (Method::POST, ["users", user, "events", id, "attachments", "createUploadSession"]) => {
            super::files::create_upload_session(sim, tenant, user, id, body)
        }
        (Method::DELETE, ["users", user, "events", id, "attachments", attachment]) => {
            super::files::delete_attachment(sim, tenant, user, id, attachment)
        }
        (Method::POST, ["users", user, "sendMail"]) => {
            super::mail::send_mail(sim, tenant, user, body)
        }
        _ => graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!(
                "Resource not found for the segment '{}'.",
                seg.last().unwrap_or(&"")
            ),
        ),
    }
}
