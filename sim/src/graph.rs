//! The simulated Graph API in one place: its routes (axum), and the front door every
//! request passes first — authentication, application access policy and permissions, the
//! per-app concurrency limit and injected faults. The endpoints themselves are in
//! calendars.rs, events.rs, files.rs and mail.rs.
//!
//! (About 480 lines: every route with its small handler, and the front door with the
//! faults it can inject, are the simulator's whole surface in one place.)
// Helpers return a finished `Response` as their error so handlers can return it as is.
#![allow(clippy::result_large_err)]

use super::common::*;
use super::odata;
use super::Simulator;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, OriginalUri, Path, Request, State as AxState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
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
pub(super) fn broken_response() -> Response {
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

/// The Graph routes under `/v1.0`, behind the front door.
pub(super) fn routes(sim: Simulator) -> Router<Simulator> {
    Router::new()
        .route("/users/{user}/calendars", get(list_calendars))
        .route(
            "/users/{user}/calendars/{cal}/calendarView",
            get(calendar_view),
        )
        .route("/users/{user}/calendars/{cal}/events", post(create_event))
        .route(
            "/users/{user}/events/{id}",
            get(get_event).patch(patch_event).delete(delete_event),
        )
        .route(
            "/users/{user}/calendars/{cal}/events/{id}",
            get(get_calendar_event)
                .patch(patch_calendar_event)
                .delete(delete_calendar_event),
        )
        .route(
            "/users/{user}/events/{id}/attachments",
            get(list_attachments).post(post_attachment),
        )
        .route(
            "/users/{user}/events/{id}/attachments/createUploadSession",
            post(create_upload_session),
        )
        .route(
            "/users/{user}/events/{id}/attachments/{attachment}",
            delete(delete_attachment),
        )
        .route(
            "/users/{user}/events/{id}/attachments/{attachment}/$value",
            get(attachment_value),
        )
        .route("/users/{user}/sendMail", post(send_mail))
        .fallback(unknown_segment)
        .method_not_allowed_fallback(unknown_segment)
        .layer(axum::middleware::from_fn_with_state(sim, front_door))
}

/// The caller's tenant, as the front door found it from the token.
#[derive(Clone)]
struct Caller {
    tenant: String,
}

/// What a simulated endpoint works with: the caller, the query, the preferred time zone,
/// headers, the full URI (for next links) and the body.
struct Call {
    sim: Simulator,
    tenant: String,
    query: HashMap<String, String>,
    tz: Option<chrono_tz::Tz>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
}

impl FromRequest<Simulator> for Call {
    type Rejection = Response;

    async fn from_request(req: Request, sim: &Simulator) -> Result<Self, Response> {
        let tenant = req
            .extensions()
            .get::<Caller>()
            .map(|c| c.tenant.clone())
            .unwrap_or_default();
        let uri = req
            .extensions()
            .get::<OriginalUri>()
            .map(|u| u.0.clone())
            .unwrap_or_else(|| req.uri().clone());
        let query = uri
            .query()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        let headers = req.headers().clone();
        let body = Bytes::from_request(req, sim)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Call {
            sim: sim.clone(),
            tenant,
            tz: preferred_zone(&headers),
            query,
            headers,
            uri,
            body,
        })
    }
}

impl Call {
    /// The query options checked against the type read, as Graph does before anything
    /// else (400 `RequestBroker--ParseUri`).
    fn selection(&self, ty: &odata::EntityType) -> Result<odata::Selection, Response> {
        let refuse_casts = self.sim.lock().faults.refuse_select_casts;
        let checked = match self.query.get("$select") {
            Some(list) if refuse_casts && list.contains('/') => Err(format!(
                "Could not find a property named '{list}' on type '{}'.",
                ty.name
            )),
            _ => odata::check(ty, &self.query),
        };
        checked.map_err(|message| {
            self.sim.lock().stats.rejected_queries += 1;
            graph_error(StatusCode::BAD_REQUEST, "RequestBroker--ParseUri", &message)
        })
    }
}

async fn list_calendars(Path(user): Path<String>, c: Call) -> Response {
    match c.selection(&odata::CALENDAR) {
        Ok(sel) => {
            super::calendars::list_calendars(&c.sim, &c.tenant, &user, &c.query, &c.uri, &sel)
        }
        Err(r) => r,
    }
}

async fn calendar_view(Path((user, cal)): Path<(String, String)>, c: Call) -> Response {
    match c.selection(&odata::EVENT) {
        Ok(sel) => super::calendars::calendar_view(
            &c.sim, &c.tenant, &user, &cal, &c.query, &c.uri, c.tz, &sel,
        ),
        Err(r) => r,
    }
}

async fn get_event(Path((user, id)): Path<(String, String)>, c: Call) -> Response {
    match c.selection(&odata::EVENT) {
        Ok(sel) => {
            super::calendars::get_event(&c.sim, &c.tenant, &user, None, &id, c.tz, &c.query, &sel)
        }
        Err(r) => r,
    }
}

async fn get_calendar_event(
    Path((user, cal, id)): Path<(String, String, String)>,
    c: Call,
) -> Response {
    match c.selection(&odata::EVENT) {
        Ok(sel) => super::calendars::get_event(
            &c.sim,
            &c.tenant,
            &user,
            Some(&cal),
            &id,
            c.tz,
            &c.query,
            &sel,
        ),
        Err(r) => r,
    }
}

async fn patch_event(Path((user, id)): Path<(String, String)>, c: Call) -> Response {
    super::calendars::patch_event(&c.sim, &c.tenant, &user, &id, &c.headers, &c.body, c.tz)
}

async fn patch_calendar_event(
    Path((user, _, id)): Path<(String, String, String)>,
    c: Call,
) -> Response {
    super::calendars::patch_event(&c.sim, &c.tenant, &user, &id, &c.headers, &c.body, c.tz)
}

async fn create_event(Path((user, cal)): Path<(String, String)>, c: Call) -> Response {
    super::events::create_event(&c.sim, &c.tenant, &user, &cal, &c.body, c.tz)
}

async fn delete_event(Path((user, id)): Path<(String, String)>, c: Call) -> Response {
    super::events::delete_event(&c.sim, &c.tenant, &user, &id)
}

async fn delete_calendar_event(
    Path((user, _, id)): Path<(String, String, String)>,
    c: Call,
) -> Response {
    super::events::delete_event(&c.sim, &c.tenant, &user, &id)
}

async fn list_attachments(Path((user, id)): Path<(String, String)>, c: Call) -> Response {
    match c.selection(&odata::ATTACHMENT) {
        Ok(sel) => super::files::list_attachments(&c.sim, &c.tenant, &user, &id, &sel),
        Err(r) => r,
    }
}

async fn post_attachment(Path((user, id)): Path<(String, String)>, c: Call) -> Response {
    super::files::post_attachment(&c.sim, &c.tenant, &user, &id, &c.body)
}

async fn create_upload_session(Path((user, id)): Path<(String, String)>, c: Call) -> Response {
    super::files::create_upload_session(&c.sim, &c.tenant, &user, &id, &c.body)
}

async fn delete_attachment(
    Path((user, id, attachment)): Path<(String, String, String)>,
    c: Call,
) -> Response {
    super::files::delete_attachment(&c.sim, &c.tenant, &user, &id, &attachment)
}

async fn attachment_value(
    Path((user, id, attachment)): Path<(String, String, String)>,
    c: Call,
) -> Response {
    super::files::attachment_value(&c.sim, &c.tenant, &user, &id, &attachment)
}

async fn send_mail(Path(user): Path<String>, c: Call) -> Response {
    super::mail::send_mail(&c.sim, &c.tenant, &user, &c.body)
}

/// Any other path or method, as Graph answers it.
async fn unknown_segment(uri: Uri) -> Response {
    graph_error(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        &format!(
            "Resource not found for the segment '{}'.",
            uri.path()
                .rsplit('/')
                .next()
                .map(percent_decode)
                .unwrap_or_default()
        ),
    )
}

/// The front door: every Graph request passes it before its route.
async fn front_door(AxState(sim): AxState<Simulator>, mut req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    // Authentication.
    let token = req
        .headers()
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
        if let Some(denied) = permission_problem(&s, &tenant, &method, &path, &roles) {
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
    req.extensions_mut().insert(Caller { tenant });
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
                return next.run(req).await;
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
            let _ = next.run(req).await;
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
    next.run(req).await
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
        .trim_start_matches('/')
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
