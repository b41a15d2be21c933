//! `sendMail` into the simulator's outbox (https://learn.microsoft.com/graph/api/user-sendmail).
// Helpers return a finished `Response` as their error.
#![allow(clippy::result_large_err)]

use super::common::graph_error;
use super::model::{MailAttachment, SentMail};
use super::Simulator;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::Value;

pub(super) fn send_mail(sim: &Simulator, tenant: &str, user: &str, body: &Bytes) -> Response {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidRequest",
            "Cannot read the request body.",
        );
    };
    let m = &v["message"];
    let to: Vec<String> = m["toRecipients"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["emailAddress"]["address"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if to.is_empty() {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidRecipients",
            "At least one recipient is required.",
        );
    }
    let mut attachments = Vec::new();
    for a in m["attachments"].as_array().into_iter().flatten() {
        let Some(bytes) = a["contentBytes"].as_str().and_then(|c| B64.decode(c).ok()) else {
            return graph_error(
                StatusCode::BAD_REQUEST,
                "ErrorInvalidProperty",
                "contentBytes is not valid base64.",
            );
        };
        let content_type = a["contentType"]
            .as_str()
            .unwrap_or("application/octet-stream")
            .to_owned();
        attachments.push(MailAttachment {
            name: a["name"].as_str().unwrap_or("").to_owned(),
            text: if content_type.starts_with("text/") {
                String::from_utf8_lossy(&bytes).into_owned()
            } else {
                String::new()
            },
            content_type,
            size: bytes.len(),
        });
    }
    let mut s = sim.lock();
    if s.faults.mail_down {
        return graph_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ErrorInternalServerError",
            "An internal server error occurred.",
        );
    }
    if s.mailbox_mut(tenant, user).is_none() {
        return graph_error(
            StatusCode::NOT_FOUND,
            "ErrorInvalidUser",
            &format!("The requested user '{user}' is invalid."),
        );
    }
    s.stats.mails_sent += 1;
    s.outbox.push(SentMail {
        from: user.to_owned(),
        to,
        subject: m["subject"].as_str().unwrap_or("").to_owned(),
        body: m["body"]["content"].as_str().unwrap_or("").to_owned(),
        attachments,
    });
    StatusCode::ACCEPTED.into_response()
}
