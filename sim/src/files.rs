//! Attachments (one POST under 3 MB, upload sessions above), as https://learn.microsoft.com/graph/outlook-large-attachments
//! describes them.
// Helpers return a finished `Response` as their error.
#![allow(clippy::result_large_err)]

use super::common::{find_event, graph_error};
use super::model::{Attachment, UploadSession};
use super::Simulator;
use axum::body::Bytes;
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};

/// Attachments of this size or more must go through an upload session.
pub const SMALL_LIMIT: usize = 3 * 1024 * 1024;

/// Largest chunk an upload session takes in one PUT.
pub const CHUNK_LIMIT: usize = 4 * 1024 * 1024;

/// Largest attachment (Outlook's upper bound with an upload session).
pub const LARGE_LIMIT: usize = 150 * 1024 * 1024;

fn attachment_json(a: &Attachment) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.fileAttachment",
        "id": a.id,
        "name": a.name,
        "contentType": a.content_type,
                "size": a.size,
        "isInline": false,
        "contentId": a.content_id,
    })
}

pub(super) fn post_attachment(
    sim: &Simulator,
    tenant: &str,
    user: &str,
    event_id: &str,
    body: &Bytes,
) -> Response {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidRequest",
            "Cannot read the request body.",
        );
    };
    if v["@odata.type"] != "#microsoft.graph.fileAttachment" {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidRequest",
            "Only file attachments are supported here.",
        );
    }
    let (Some(name), Some(content)) = (v["name"].as_str(), v["contentBytes"].as_str()) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidProperty",
            "name and contentBytes are required.",
        );
    };
    let Ok(bytes) = B64.decode(content) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidProperty",
            "contentBytes is not valid base64.",
        );
    };
    if bytes.len() >= SMALL_LIMIT {
        return graph_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "ErrorRequestEntityTooLarge",
            "The attachment is too large for this request; use an upload session.",
        );
    }
    let content_type = v["contentType"]
        .as_str()
        .unwrap_or("application/octet-stream")
        .to_owned();
    let mut s = sim.lock();
    if let Some(r) = attachment_fault(&mut s) {
        return r;
    }
    s.stats.attachment_posts += 1;
    s.counter += 1;
    let id = format!("AAMkATT{:08}", s.counter);
    let change_key = s.next_change_key();
    let drop_content_id = s.faults.drop_content_id;
    let (_, event) = match find_event(&mut s, tenant, user, event_id) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let a = Attachment {
        id,
        name: name.to_owned(),
        content_type,
        size: bytes.len(),
        via_upload_session: false,
        content_id: if drop_content_id {
            String::new()
        } else {
            v["contentId"].as_str().unwrap_or("").to_owned()
        },
        bytes,
    };
    let out = attachment_json(&a);
    event.attachments.push(a);
    // Adding an attachment changes the item: its change key moves on.
    event.change_key = change_key;
    (StatusCode::CREATED, axum::Json(out)).into_response()
}

pub(super) fn create_upload_session(
    sim: &Simulator,
    tenant: &str,
    user: &str,
    event_id: &str,
    body: &Bytes,
) -> Response {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidRequest",
            "Cannot read the request body.",
        );
    };
    let item = &v["AttachmentItem"];
    let (Some(name), Some(size)) = (item["name"].as_str(), item["size"].as_u64()) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidProperty",
            "AttachmentItem needs name and size.",
        );
    };
    let size = size as usize;
    if size < SMALL_LIMIT {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
            "Attachment size must be greater than the minimum size.",
        );
    }
    if size > LARGE_LIMIT {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "ErrorAttachmentSizeShouldNotBeGreaterThanMaximumSize",
            "Attachment too large.",
        );
    }
    let mut s = sim.lock();
    if let Err(r) = find_event(&mut s, tenant, user, event_id) {
        return r;
    }
    if let Some(r) = attachment_fault(&mut s) {
        return r;
    }
    s.stats.upload_sessions += 1;
    s.counter += 1;
    let session = format!("us{:08}x{:x}", s.counter, rand_u32());
    let expires = chrono::Utc::now() + chrono::TimeDelta::minutes(15);
    s.uploads.insert(
        session.clone(),
        UploadSession {
            tenant: tenant.to_owned(),
            user: user.to_owned(),
            event_id: event_id.to_owned(),
            name: name.to_owned(),
            content_id: item["contentId"].as_str().unwrap_or("").to_owned(),
            size,
            received: Vec::with_capacity(size),
            expires,
        },
    );
    let body = json!({
        "@odata.context": format!("{}/v1.0/$metadata#microsoft.graph.uploadSession", sim.base_url()),
        "uploadUrl": format!("{}/upload/{session}?authtoken=sim", sim.base_url()),
        "expirationDateTime": expires.to_rfc3339(),
        "nextExpectedRanges": ["0-"],
    });
    (StatusCode::CREATED, axum::Json(body)).into_response()
}

/// The injected "attachments start failing" fault.
fn attachment_fault(s: &mut super::model::State) -> Option<Response> {
    match s.faults.attachments_before_failure {
        Some(0) => Some(graph_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ErrorInternalServerError",
            "An internal server error occurred.",
        )),
        Some(n) => {
            s.faults.attachments_before_failure = Some(n - 1);
            None
        }
        None => None,
    }
}

fn rand_u32() -> u32 {
    let mut b = [0u8; 4];
    let _ = getrandom::getrandom(&mut b);
    u32::from_le_bytes(b)
}

/// `Content-Range: bytes 0-4194303/9000000` → (start, end inclusive, total).
fn content_range(headers: &HeaderMap) -> Option<(usize, usize, usize)> {
    let v = headers
        .get("content-range")?
        .to_str()
        .ok()?
        .strip_prefix("bytes ")?;
    let (range, total) = v.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?, total.parse().ok()?))
}

/// `PUT <uploadUrl>`: the URL is pre-authenticated; an Authorization header is refused.
pub(super) async fn upload_chunk(
    AxState(sim): AxState<Simulator>,
    Path(session): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if headers.contains_key("authorization") {
        return graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Do not send an Authorization header to an upload URL.",
        );
    }
    let Some((start, end, total)) = content_range(&headers) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "InvalidContentRange",
            "Content-Range is missing or malformed.",
        );
    };
    let mut s = sim.lock();
    s.stats.upload_chunks += 1;
    if s.faults.throttle_uploads_next > 0 {
        s.faults.throttle_uploads_next -= 1;
        s.stats.throttled += 1;
        let mut r = graph_error(
            StatusCode::TOO_MANY_REQUESTS,
            "ApplicationThrottled",
            "Application is over its upload limit.",
        );
        let after = s.faults.retry_after.clone().unwrap_or_else(|| "1".into());
        if let Ok(v) = axum::http::HeaderValue::from_str(&after) {
            r.headers_mut().insert("retry-after", v);
        }
        return r;
    }
    let Some(up) = s.uploads.get_mut(&session) else {
        return graph_error(
            StatusCode::NOT_FOUND,
            "ErrorItemNotFound",
            "The upload session was not found or has expired.",
        );
    };
    if chrono::Utc::now() > up.expires {
        return graph_error(
            StatusCode::NOT_FOUND,
            "ErrorItemNotFound",
            "The upload session has expired.",
        );
    }
    if body.len() > CHUNK_LIMIT {
        return graph_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "ErrorRequestEntityTooLarge",
            "A chunk must be under 4 MB.",
        );
    }
    if total != up.size || end < start || end - start + 1 != body.len() || end >= total {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "InvalidContentRange",
            "Content-Range does not match the body or the session.",
        );
    }
    if start != up.received.len() {
        let mut r = graph_error(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "InvalidRange",
            "Bytes must be sent in order.",
        );
        if let Ok(v) = HeaderValue::from_str(&format!("{}-", up.received.len())) {
            r.headers_mut().insert("x-next-expected-range", v);
        }
        return r;
    }
    up.received.extend_from_slice(&body);
    if up.received.len() < up.size {
        let body = json!({
            "expirationDateTime": up.expires.to_rfc3339(),
            "nextExpectedRanges": [format!("{}", up.received.len())],
        });
        return axum::Json(body).into_response();
    }
    let Some(up) = s.uploads.remove(&session) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    s.counter += 1;
    let id = format!("AAMkATT{:08}", s.counter);
    let change_key = s.next_change_key();
    let drop_content_id = s.faults.drop_content_id;
    let location_fault = s.faults.upload_location.clone();
    let (_, event) = match find_event(&mut s, &up.tenant, &up.user, &up.event_id) {
        Ok(v) => v,
        Err(r) => return r,
    };
    event.attachments.push(Attachment {
        id: id.clone(),
        name: up.name,
        content_type: "application/octet-stream".into(),
        size: up.size,
        via_upload_session: true,
        content_id: if drop_content_id {
            String::new()
        } else {
            up.content_id
        },
        bytes: up.received,
    });
    event.change_key = change_key;
    // As Microsoft's example shows it (concepts/outlook-large-attachments.md): the Outlook
    // REST form on its own host, capitalised — not the Graph URL the session was made on.
    let location = match location_fault {
        None => Some(format!(
            "https://outlook.office.com/api/v2.0/Users('{}')/Events('{}')/Attachments('{id}')",
            up.user, up.event_id
        )),
        Some(l) if l.is_empty() => None,
        Some(l) => Some(l),
    };
    let mut r = StatusCode::CREATED.into_response();
    if let Some(v) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        r.headers_mut().insert("location", v);
    }
    r
}

pub(super) fn list_attachments(
    sim: &Simulator,
    tenant: &str,
    user: &str,
    event_id: &str,
    sel: &super::odata::Selection,
) -> Response {
    let mut s = sim.lock();
    let (_, event) = match find_event(&mut s, tenant, user, event_id) {
        Ok(v) => v,
        Err(r) => return r,
    };
    // Without `$select` Graph sends every property, contents included.
    let value: Vec<Value> = event
        .attachments
        .iter()
        .map(|a| {
            let mut v = attachment_json(a);
            v["contentBytes"] = json!(B64.encode(&a.bytes));
            sel.project(v)
        })
        .collect();
    axum::Json(json!({ "value": value })).into_response()
}

/// `GET …/attachments/{id}/$value`: a file attachment's raw content, typed with its
/// original content type (https://learn.microsoft.com/graph/api/attachment-get, example 6).
pub(super) fn attachment_value(
    sim: &Simulator,
    tenant: &str,
    user: &str,
    event_id: &str,
    attachment: &str,
) -> Response {
    let mut s = sim.lock();
    s.stats.attachment_reads += 1;
    let (_, event) = match find_event(&mut s, tenant, user, event_id) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(a) = event.attachments.iter().find(|a| a.id == attachment) else {
        return graph_error(
            StatusCode::NOT_FOUND,
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
        );
    };
    let mut r = (StatusCode::OK, a.bytes.clone()).into_response();
    if let Ok(v) = HeaderValue::from_str(&a.content_type) {
        r.headers_mut().insert("content-type", v);
    }
    r
}

pub(super) fn delete_attachment(
    sim: &Simulator,
    tenant: &str,
    user: &str,
    event_id: &str,
    attachment: &str,
) -> Response {
    let mut s = sim.lock();
    if s.faults.attachment_deletes_fail {
        return graph_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ErrorInternalServerError",
            "An internal server error occurred.",
        );
    }
    s.stats.attachment_deletes += 1;
    let change_key = s.next_change_key();
    let gone_is_404 = s.faults.gone_attachment_not_found;
    let (_, event) = match find_event(&mut s, tenant, user, event_id) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let before = event.attachments.len();
    event.attachments.retain(|a| a.id != attachment);
    if event.attachments.len() == before {
        // What Graph answers for an attachment already gone is not documented: 404 is
        // the switch; by default the harsher reading, an answer that is not "not found".
        return if gone_is_404 {
            graph_error(
                StatusCode::NOT_FOUND,
                "ErrorItemNotFound",
                "The attachment was not found.",
            )
        } else {
            graph_error(
                StatusCode::BAD_REQUEST,
                "ErrorInvalidAttachmentId",
                "The attachment id is invalid.",
            )
        };
    }
    event.change_key = change_key;
    StatusCode::NO_CONTENT.into_response()
}
