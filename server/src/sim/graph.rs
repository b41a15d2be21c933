//! The simulated endpoints: Entra's token endpoint and the Graph calendar calls, with
//! Graph's error shapes, the per-app concurrency limit and injected faults.
// Helpers return a finished `Response` as their error so handlers can `?`/return it as is.
#![allow(clippy::result_large_err)]

use super::model::{Event, IssuedToken, MeetingUpdate};
use super::odata;
use super::Simulator;
use crate::graph::wire::{graph_utc, wall_time, DateTimeTimeZone};
use axum::body::{Body, Bytes};
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::HashMap;

// ---------------------------------------------------------------- token endpoint

/// The resource the simulated Entra issues Graph tokens for.
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";

fn entra_error(status: StatusCode, error: &str, code: u32, text: &str) -> Response {
    let now = Utc::now();
    let trace = format!(
        "{:08x}-sim0-4000-8000-{:012x}",
        code,
        now.timestamp_subsec_nanos()
    );
    let body = json!({
        "error": error,
        "error_description": format!(
            "AADSTS{code}: {text}\r\nTrace ID: {trace}\r\nCorrelation ID: {trace}\r\nTimestamp: {}",
            now.format("%Y-%m-%d %H:%M:%SZ")
        ),
        "error_codes": [code],
        "timestamp": now.format("%Y-%m-%d %H:%M:%SZ").to_string(),
        "trace_id": trace,
        "correlation_id": trace,
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    });
    (status, axum::Json(body)).into_response()
}

pub(super) async fn token(
    AxState(sim): AxState<Simulator>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let mut s = sim.lock();
    s.stats.token_requests += 1;
    if s.faults.token_down {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"error": "temporarily_unavailable"})),
        )
            .into_response();
    }
    if field("grant_type") != "client_credentials" {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        );
    }
    let Some(t) = s
        .tenants
        .iter()
        .find(|t| t.id.eq_ignore_ascii_case(&tenant))
    else {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
        );
    };
    let client_id = field("client_id");
    if client_id.is_empty() {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    }
    let Some(app) = t.apps.iter().find(|a| a.client_id == client_id) else {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'."),
        );
    };
    let assertion = field("client_assertion");
    if !assertion.is_empty() {
        if field("client_assertion_type")
            != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        {
            return entra_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                90014,
                "The request body must contain the following parameter: 'client_assertion_type'.",
            );
        }
        let audience = format!("{}/{tenant}/oauth2/v2.0/token", sim.base_url());
        if let Err(refused) = verify_assertion(app, client_id, assertion, &audience) {
            return refused;
        }
    } else if let Some(refused) = check_secret(app, client_id, field("client_secret")) {
        return refused;
    }
    let scope = field("scope");
    // Client credentials need `<resource>/.default`, and the resource is Graph's name in
    // the cloud the simulator stands in for (the global one) — never the address Graph is
    // called at, which may be a gateway.
    let resource = scope.strip_suffix("/.default").unwrap_or("");
    if resource != GRAPH_RESOURCE {
        return entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            &format!("The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid: '{scope}'."),
        );
    }
    let tenant_id = t.id.clone();
    let roles = app.roles.clone();
    if !assertion.is_empty() {
        s.stats.tokens_by_certificate += 1;
    }
    s.counter += 1;
    let lifetime = sim.options().token_lifetime;
    // Shaped like Entra's access tokens (a JWT whose payload carries `roles`), so tools can
    // read the granted application permissions the same way. The signature is a dummy.
    let value = {
        use base64::Engine;
        let b64 = |v: &serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let header = json!({"typ": "JWT", "alg": "none", "kid": "sim"});
        let payload = json!({
            "aud": "https://graph.microsoft.com",
            "tid": tenant_id,
            "appid": client_id,
            "roles": roles,
            "exp": chrono::Utc::now().timestamp() + lifetime.as_secs() as i64,
            "jti": format!("{}-{:x}", s.counter, rand_u64()),
        });
        if s.faults.opaque_tokens {
            format!("opaque-{:x}", rand_u64())
        } else {
            format!("{}.{}.c2lt", b64(&header), b64(&payload))
        }
    };
    s.tokens.insert(
        value.clone(),
        IssuedToken {
            tenant: tenant_id,
            client_id: client_id.to_owned(),
            roles,
            expires_at: tokio::time::Instant::now() + lifetime,
        },
    );
    axum::Json(json!({
        "token_type": "Bearer",
        "expires_in": lifetime.as_secs(),
        "ext_expires_in": lifetime.as_secs(),
        "access_token": value,
    }))
    .into_response()
}

/// A client secret: sent, its Value (not its ID), not expired.
fn check_secret(app: &super::model::App, client_id: &str, secret: &str) -> Option<Response> {
    if secret.is_empty() {
        return Some(entra_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        ));
    }
    if secret != app.secret_value {
        let hint = if secret == app.secret_id {
            " Ensure the secret being sent in the request is the client secret value, not the client secret ID,"
        } else {
            ""
        };
        return Some(entra_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            &format!(
                "Invalid client secret provided.{hint} for a secret added to app '{client_id}'."
            ),
        ));
    }
    if app.secret_expired {
        return Some(entra_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000222,
            &format!("The provided client secret keys for app '{client_id}' are expired."),
        ));
    }
    None
}

/// A client assertion (Microsoft identity platform, "certificate credentials"): signed
/// (PS256 or RS256) by the key of a certificate registered on the app, found by its
/// `x5t#S256`, for this token endpoint, from this client, within its time range.
#[allow(clippy::result_large_err)]
fn verify_assertion(
    app: &super::model::App,
    client_id: &str,
    assertion: &str,
    audience: &str,
) -> Result<(), Response> {
    use jsonwebtoken::errors::ErrorKind;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    let refuse =
        |code: u32, text: &str| entra_error(StatusCode::UNAUTHORIZED, "invalid_client", code, text);
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|_| refuse(50027, "JWT token is invalid or malformed."))?;
    let thumbprint = header.x5t_s256.clone().unwrap_or_default();
    let registered = app.certificates.iter().find(|pem| {
        pem::parse(pem.trim()).is_ok_and(|p| {
            use base64::Engine;
            use sha2::{Digest, Sha256};
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(p.contents()))
                == thumbprint
        })
    });
    let Some(certificate) = registered else {
        return Err(refuse(700027, &format!("The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{thumbprint}']")));
    };
    if app.certificates_expired {
        return Err(refuse(
            1000502,
            "The provided certificate is not within its specified validity window.",
        ));
    }
    if !matches!(header.alg, Algorithm::PS256 | Algorithm::RS256) {
        return Err(refuse(
            700027,
            "Client assertion failed signature validation.",
        ));
    }
    let key = DecodingKey::from_rsa_pem(certificate.trim().as_bytes())
        .map_err(|_| refuse(700027, "Client assertion failed signature validation."))?;
    let mut v = Validation::new(header.alg);
    v.set_audience(&[audience]);
    v.set_issuer(&[client_id]);
    v.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
    v.validate_nbf = true;
    v.leeway = 60;
    let claims =
        jsonwebtoken::decode::<Value>(assertion, &key, &v).map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => {
                refuse(700027, "Client assertion contains an invalid signature.")
            }
            ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => refuse(
                700024,
                "Client assertion is not within its valid time range.",
            ),
            ErrorKind::InvalidAudience => refuse(
                50012,
                "Client assertion audience claim does not match Realm issuer.",
            ),
            _ => refuse(50012, "Client assertion contains invalid claims."),
        })?;
    if claims.claims["sub"] != client_id {
        return Err(refuse(
            50012,
            "Client assertion subject does not match the client id.",
        ));
    }
    Ok(())
}

fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    let _ = getrandom::getrandom(&mut b);
    u64::from_le_bytes(b)
}

// ---------------------------------------------------------------- Graph

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
            list_calendars(sim, tenant, user, &query, uri, &sel)
        }
        (Method::GET, ["users", user, "calendars", cal, "calendarView"]) => {
            calendar_view(sim, tenant, user, cal, &query, uri, tz, &sel)
        }
        (Method::GET, ["users", user, "events", id]) => {
            get_event(sim, tenant, user, None, id, tz, &query, &sel)
        }
        (Method::GET, ["users", user, "calendars", cal, "events", id]) => {
            get_event(sim, tenant, user, Some(cal), id, tz, &query, &sel)
        }
        (Method::PATCH, ["users", user, "events", id])
        | (Method::PATCH, ["users", user, "calendars", _, "events", id]) => {
            patch_event(sim, tenant, user, id, headers, body, tz)
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
            super::files::send_mail(sim, tenant, user, body)
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

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// `Prefer: outlook.timezone="X"` (alone or in a comma-separated list). UTC when absent
/// or unknown, as Graph does.
fn preferred_zone(headers: &HeaderMap) -> Option<chrono_tz::Tz> {
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

pub(super) fn user_missing(user: &str) -> Response {
    graph_error(
        StatusCode::NOT_FOUND,
        "ErrorInvalidUser",
        &format!("The requested user '{user}' is invalid."),
    )
}

fn page_bounds(
    sim: &Simulator,
    query: &HashMap<String, String>,
) -> Result<(usize, usize), Response> {
    let opts = sim.options();
    let top = match query.get("$top") {
        None => opts.default_page_size,
        Some(t) => match t.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                return Err(graph_error(
                    StatusCode::BAD_REQUEST,
                    "ErrorInvalidParameter",
                    "The value of the parameter '$top' is invalid.",
                ))
            }
        },
    };
    let skip = query.get("$skip").and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok((top.min(opts.max_page_size).max(1), skip))
}

fn next_link(sim: &Simulator, uri: &Uri, query: &HashMap<String, String>, skip: usize) -> String {
    let mut q: Vec<(String, String)> = query
        .iter()
        .filter(|(k, _)| k.as_str() != "$skip")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    q.sort();
    q.push(("$skip".into(), skip.to_string()));
    let qs = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(q)
        .finish();
    format!("{}{}?{}", sim.base_url(), uri.path(), qs)
}

fn list_calendars(
    sim: &Simulator,
    tenant: &str,
    user: &str,
    query: &HashMap<String, String>,
    uri: &Uri,
    sel: &odata::Selection,
) -> Response {
    let (top, skip) = match page_bounds(sim, query) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut s = sim.lock();
    s.stats.calendar_list_requests += 1;
    let Some(mb) = s.mailbox_mut(tenant, user) else {
        return user_missing(user);
    };
    let all: Vec<Value> = mb
        .calendars
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({
                "id": c.id,
                "name": c.name,
                "color": "auto",
                "hexColor": "",
                "isDefaultCalendar": i == 0,
                "changeKey": format!("cal{i}"),
                "canShare": true,
                "canViewPrivateItems": true,
                "canEdit": true,
                "owner": {"name": mb.display_name, "address": mb.upn},
            })
        })
        .map(|c| sel.project(c))
        .collect();
    let total = all.len();
    let page: Vec<Value> = all.into_iter().skip(skip).take(top).collect();
    let mut body = json!({
        "@odata.context": format!("{}/v1.0/$metadata#users('{user}')/calendars", sim.base_url()),
        "value": page,
    });
    if skip + top < total {
        body["@odata.nextLink"] = json!(next_link(sim, uri, query, skip + top));
    }
    axum::Json(body).into_response()
}

fn parse_bound(query: &HashMap<String, String>, name: &str) -> Result<DateTime<Utc>, Response> {
    let bad = || {
        graph_error(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidParameter",
            &format!("This request requires a time window specified by the query string parameters {name}."),
        )
    };
    let v = query.get(name).ok_or_else(bad)?;
    if let Ok(d) = DateTime::parse_from_rfc3339(v) {
        return Ok(d.with_timezone(&Utc));
    }
    // No offset: Graph reads it as UTC.
    crate::graph::wire::parse_wall_time(v)
        .map(|n| n.and_utc())
        .map_err(|_| bad())
}

#[allow(clippy::too_many_arguments)]
fn calendar_view(
    sim: &Simulator,
    tenant: &str,
    user: &str,
    cal: &str,
    query: &HashMap<String, String>,
    uri: &Uri,
    tz: Option<chrono_tz::Tz>,
    sel: &odata::Selection,
) -> Response {
    let start = match parse_bound(query, "startDateTime") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let end = match parse_bound(query, "endDateTime") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (top, skip) = match page_bounds(sim, query) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let expand = Expand::from_query(query);
    let mut s = sim.lock();
    s.stats.calendar_view_requests += 1;
    if let Some(code) = s.faults.calendar_view_status {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return graph_error(
            status,
            "ErrorInternalServerError",
            "The calendar view could not be read.",
        );
    }
    let Some(mb) = s.mailbox_mut(tenant, user) else {
        return user_missing(user);
    };
    let organizer = mb.upn.clone();
    let Some(c) = mb.calendars.iter().find(|c| c.id == cal) else {
        return graph_error(
            StatusCode::NOT_FOUND,
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
        );
    };
    let mut hits: Vec<&Event> = c
        .events
        .iter()
        .filter(|e| e.start < end && e.end > start && e.event_type != "seriesMaster")
        .collect();
    hits.sort_by_key(|e| (e.start, e.id.clone()));
    let total = hits.len();
    let page: Vec<Value> = hits
        .into_iter()
        .skip(skip)
        .take(top)
        .map(|e| sel.project(event_json(sim, e, &organizer, tz, &expand)))
        .collect();
    let mut body = json!({
        "@odata.context": format!("{}/v1.0/$metadata#users('{user}')/calendars('{cal}')/calendarView", sim.base_url()),
        "value": page,
    });
    if skip + top < total {
        body["@odata.nextLink"] = json!(next_link(sim, uri, query, skip + top));
    }
    with_preference(axum::Json(body).into_response(), tz)
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

/// Which single-value extended properties a request asked for with `$expand`.
pub(super) enum Expand {
    None,
    All,
    Id(String),
}

impl Expand {
    fn from_query(query: &HashMap<String, String>) -> Expand {
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
            None => Expand::All,
        }
    }

    fn pick(&self, e: &Event) -> Option<Value> {
        let wanted = |id: &str| match self {
            Expand::None => false,
            Expand::All => true,
            Expand::Id(w) => w.eq_ignore_ascii_case(id),
        };
        if matches!(self, Expand::None) {
            return None;
        }
        Some(Value::Array(
            e.properties
                .iter()
                .filter(|(id, _)| wanted(id))
                .map(|(id, value)| json!({"id": id, "value": value}))
                .collect(),
        ))
    }
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

#[allow(clippy::too_many_arguments)]
fn get_event(
    sim: &Simulator,
    tenant: &str,
    user: &str,
    calendar: Option<&str>,
    id: &str,
    tz: Option<chrono_tz::Tz>,
    query: &HashMap<String, String>,
    sel: &odata::Selection,
) -> Response {
    let expand = Expand::from_query(query);
    let mut s = sim.lock();
    s.stats.event_gets += 1;
    if let Some(cal) = calendar {
        // Through a calendar, only that calendar's events are found.
        let in_calendar = s
            .mailbox_mut(tenant, user)
            .and_then(|mb| mb.calendars.iter().find(|c| c.id == cal))
            .is_some_and(|c| c.events.iter().any(|e| e.id == id));
        if !in_calendar {
            return graph_error(
                StatusCode::NOT_FOUND,
                "ErrorItemNotFound",
                "The specified object was not found in the store.",
            );
        }
    }
    match find_event(&mut s, tenant, user, id) {
        Ok((upn, e)) => with_preference(
            axum::Json(sel.project(event_json(sim, e, &upn, tz, &expand))).into_response(),
            tz,
        ),
        Err(r) => r,
    }
}

fn patch_event(
    sim: &Simulator,
    tenant: &str,
    user: &str,
    id: &str,
    headers: &HeaderMap,
    body: &Bytes,
    tz: Option<chrono_tz::Tz>,
) -> Response {
    let Ok(Value::Object(changes)) = serde_json::from_slice::<Value>(body) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidRequest",
            "Cannot read the request body.",
        );
    };
    let subject = match changes.get("subject") {
        None => None,
        Some(Value::String(s)) if s.chars().count() <= 255 => Some(s.clone()),
        Some(_) => {
            return graph_error(
                StatusCode::BAD_REQUEST,
                "ErrorInvalidProperty",
                "The subject is invalid.",
            );
        }
    };
    let mut properties = Vec::new();
    match changes.get("singleValueExtendedProperties") {
        None => {}
        Some(Value::Array(items)) => {
            for item in items {
                match (
                    item.get("id").and_then(Value::as_str),
                    item.get("value").and_then(Value::as_str),
                ) {
                    (Some(id), Some(value)) if !id.is_empty() => {
                        properties.push((id.to_owned(), value.to_owned()))
                    }
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
        Some(_) => {
            return graph_error(
                StatusCode::BAD_REQUEST,
                "ErrorInvalidRequest",
                "singleValueExtendedProperties must be an array.",
            );
        }
    }
    let if_match = headers
        .get("if-match")
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.trim()
                .trim_start_matches("W/")
                .trim_matches('"')
                .to_owned()
        });
    let mut s = sim.lock();
    s.stats.event_patches += 1;
    let s_if_match_ignored = s.faults.if_match_ignored;
    let shared_series = s.faults.shared_series_etag;
    let new_key = s.next_change_key();
    let (upn, e) = match find_event(&mut s, tenant, user, id) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let honour_if_match = !s_if_match_ignored;
    if let Some(m) = if_match.filter(|_| honour_if_match) {
        if m != "*" && m != e.change_key {
            return graph_error(
                StatusCode::PRECONDITION_FAILED,
                "ErrorIrresolvableConflict",
                "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.",
            );
        }
    }
    if let Some(sub) = subject {
        e.subject = sub;
    }
    for (id, value) in properties {
        match e
            .properties
            .iter_mut()
            .find(|(pid, _)| pid.eq_ignore_ascii_case(&id))
        {
            Some(p) => p.1 = value,
            None => e.properties.push((id, value)),
        }
    }
    e.change_key = new_key.clone();
    // A changed occurrence becomes an exception of its series.
    if e.event_type == "occurrence" {
        e.event_type = "exception".into();
    }
    let series = e.series_master_id.clone();
    let json = event_json(sim, e, &upn, tz, &Expand::All);
    // The organizer changed a meeting: Exchange sends the attendees an update itself.
    let update =
        (!e.attendees.is_empty() && e.organizer.address.eq_ignore_ascii_case(&upn)).then(|| {
            MeetingUpdate {
                event_id: e.id.clone(),
                recipients: e.attendees.iter().map(|a| a.address.clone()).collect(),
                subject: e.subject.clone(),
                attachments: e.attachments.iter().map(|a| a.name.clone()).collect(),
            }
        });
    if let Some(u) = update {
        s.meeting_updates.push(u);
    }
    if let (Some(master), true) = (series, shared_series) {
        super::events::bump_series(&mut s, &master, &new_key);
    }
    with_preference(axum::Json(json).into_response(), tz)
}
