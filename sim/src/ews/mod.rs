//! The simulated EWS endpoint (`POST /EWS/Exchange.asmx`): SOAP over the same tenant data
//! the Graph side serves, written from Microsoft's documented request and response shapes.
//! Service accounts log on with NTLM (per connection, `ntlm.rs`, with Extended Protection as
//! a switch) or Basic, each of which can be switched off; impersonation needs the
//! ApplicationImpersonation role, delegate access Full Access to the mailbox. Operations:
//! FindFolder by display name, FindItem with a CalendarView (truncated at
//! `MaxEntriesReturned` or the server's cap, `IncludesLastItemInRange="false"`), GetItem,
//! UpdateItem (ChangeKey checked under `NeverOverwrite`, ErrorIrresolvableConflict when
//! stale, `SendMeetingInvitationsOrCancellations` required and obeyed), CreateAttachment,
//! DeleteAttachment, CreateItem and SendItem (the outbox). Every write changes the item's
//! ChangeKey, attachments included. Faults: latency, ErrorServerBusy with
//! BackOffMilliseconds (`throttle_next`), HTTP statuses (`fail_next`), dropped connections
//! (`drop_next`), a write carried out whose answer is lost (`drop_answer_of_next_write`),
//! the server's view cap (`ews_view_cap`) and request size limit (`ews_request_limit`).
//!
//! Here: the envelope, the answers and the front door (who calls, as whom); the requests'
//! shapes and each family of operations in a file of their own; NTLM's handshake in
//! `ntlm.rs`.

// Helpers return a finished `Response` as their error so handlers can return it as is.
#![allow(clippy::result_large_err)]

mod attachments;
mod folders;
mod items;
mod mail;
mod requests;
mod scratch;
mod update;

use attachments::*;
use folders::*;
use items::*;
use mail::*;
use requests::*;
use update::*;

use super::model::{Attachment, Event, MeetingUpdate, SentMail, ServiceAccount, State};
use super::ntlm;
use super::Simulator;

use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use quick_xml::escape::escape;
use serde::Deserialize;

/// The SOAP envelope's and EWS's namespaces (https://learn.microsoft.com/exchange/client-developer/web-service-reference/ews-xml-elements-in-exchange).
const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const MESSAGES_NS: &str = "http://schemas.microsoft.com/exchange/services/2006/messages";
const TYPES_NS: &str = "http://schemas.microsoft.com/exchange/services/2006/types";

/// An `xs:dateTime` with an offset or `Z` (Booket always sends one).
pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Exchange's default cap on items in one FindItem answer (EWSFindCountLimit).
pub const VIEW_CAP: usize = 1000;
/// The default request size limit of the EWS virtual directory.
pub const REQUEST_LIMIT: usize = 64 * 1024 * 1024;

// ---- Answers ----

fn soap(body: &str) -> String {
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{soap}"><s:Header>"#,
            r#"<h:ServerVersionInfo MajorVersion="15" MinorVersion="2" MajorBuildNumber="1748" MinorBuildNumber="10" Version="V2017_07_11" xmlns:h="{t}"/>"#,
            r#"</s:Header><s:Body>{body}</s:Body></s:Envelope>"#
        ),
        soap = SOAP_NS,
        t = TYPES_NS,
        body = body
    )
}

fn xml_response(status: StatusCode, body: String) -> Response {
    (status, [("content-type", "text/xml; charset=utf-8")], body).into_response()
}

/// One operation's answer with one response message (`inner` goes inside it).
fn answer(op: &str, inner: &str) -> Response {
    xml_response(
        StatusCode::OK,
        soap(&format!(
            concat!(
                r#"<m:{op}Response xmlns:m="{m}" xmlns:t="{t}"><m:ResponseMessages>"#,
                r#"<m:{op}ResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>{inner}</m:{op}ResponseMessage>"#,
                r#"</m:ResponseMessages></m:{op}Response>"#
            ),
            op = op,
            m = MESSAGES_NS,
            t = TYPES_NS,
            inner = inner
        )),
    )
}

/// An error response message (HTTP 200), as EWS reports most failures.
fn error(op: &str, code: &str, text: &str) -> Response {
    xml_response(
        StatusCode::OK,
        soap(&format!(
            concat!(
                r#"<m:{op}Response xmlns:m="{m}" xmlns:t="{t}"><m:ResponseMessages>"#,
                r#"<m:{op}ResponseMessage ResponseClass="Error"><m:MessageText>{text}</m:MessageText>"#,
                r#"<m:ResponseCode>{code}</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey></m:{op}ResponseMessage>"#,
                r#"</m:ResponseMessages></m:{op}Response>"#
            ),
            op = op,
            m = MESSAGES_NS,
            t = TYPES_NS,
            code = code,
            text = escape(text)
        )),
    )
}

/// A SOAP fault (HTTP 500), as EWS reports busy servers, denied impersonation and
/// requests it cannot read.
fn fault(code: &str, text: &str, back_off_ms: Option<u64>) -> Response {
    let xml = back_off_ms
        .map(|ms| {
            format!(r#"<t:MessageXml xmlns:t="{TYPES_NS}"><t:Value Name="BackOffMilliseconds">{ms}</t:Value></t:MessageXml>"#)
        })
        .unwrap_or_default();
    xml_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        soap(&format!(
            concat!(
                r#"<s:Fault><faultcode xmlns:a="{t}">a:{code}</faultcode><faultstring xml:lang="en-US">{text}</faultstring>"#,
                r#"<detail><e:ResponseCode xmlns:e="{t}">{code}</e:ResponseCode><e:Message xmlns:e="{t}">{text}</e:Message>{xml}</detail></s:Fault>"#
            ),
            t = TYPES_NS,
            code = code,
            text = escape(text),
            xml = xml
        )),
    )
}

/// 401 naming the logons the virtual directory has switched on.
fn unauthorized(s: &mut State) -> Response {
    s.stats.ews_unauthorized += 1;
    let mut r = StatusCode::UNAUTHORIZED.into_response();
    let h = r.headers_mut();
    if !s.faults.ews_ntlm_off {
        h.append("www-authenticate", "Negotiate".parse().expect("static"));
        h.append("www-authenticate", "NTLM".parse().expect("static"));
    }
    if !s.faults.ews_basic_off {
        h.append(
            "www-authenticate",
            r#"Basic realm="mail.demo.booket.dk""#.parse().expect("static"),
        );
    }
    r
}

/// Who is calling: an NTLM step on this connection (which may answer for itself: the
/// challenge), the account this connection logged on as, or a Basic logon.
fn front_door(
    s: &mut State,
    conn: Option<ntlm::Conn>,
    headers: &HeaderMap,
) -> Result<(String, ServiceAccount), Response> {
    if let (Some(token), Some(conn), false) = (ntlm::token(headers), conn, s.faults.ews_ntlm_off) {
        return ntlm::step(s, conn, token).map_err(|r| r.unwrap_or_else(|| unauthorized(s)));
    }
    if let Some(who) = conn.and_then(|c| ntlm::session(s, c)) {
        return Ok(who);
    }
    match logon(s, headers) {
        Some(who) if !s.faults.ews_basic_off => Ok(who),
        _ => Err(unauthorized(s)),
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

// ---- The front door ----

/// Who is calling, and as whom.
struct Caller {
    tenant: String,
    account: ServiceAccount,
    /// The impersonated mailbox, when the request asked for one.
    acting_as: Option<String>,
}

impl Caller {
    /// Whether the caller may work in `mailbox`.
    fn reaches(&self, mailbox: &str) -> bool {
        match &self.acting_as {
            Some(m) => m.eq_ignore_ascii_case(mailbox),
            None => self
                .account
                .full_access
                .iter()
                .any(|f| f.eq_ignore_ascii_case(mailbox)),
        }
    }
}

/// The account for a Basic `Authorization` header (`DOMAIN\user`, `user@domain` or `user`).
fn logon(s: &State, headers: &HeaderMap) -> Option<(String, ServiceAccount)> {
    use base64::Engine;
    let value = headers.get("authorization")?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    let (domain, name) = match user.split_once('\\') {
        Some((d, n)) => (Some(d), n),
        None => match user.split_once('@') {
            Some((n, _)) => (None, n),
            None => (None, user),
        },
    };
    s.tenants.iter().find_map(|t| {
        t.service_accounts
            .iter()
            .find(|a| {
                a.username.eq_ignore_ascii_case(name)
                    && domain.is_none_or(|d| a.domain.eq_ignore_ascii_case(d))
                    && a.password == password
            })
            .map(|a| (t.id.clone(), a.clone()))
    })
}

/// `POST /EWS/Exchange.asmx`.
pub(super) async fn endpoint(
    AxState(sim): AxState<Simulator>,
    conn: Option<axum::Extension<ntlm::Conn>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (caller, latency, injected, drop_answer) = {
        let mut s = sim.lock();
        s.stats.ews_requests += 1;
        let limit = s.faults.ews_request_limit.unwrap_or(REQUEST_LIMIT);
        if body.len() > limit {
            // IIS refuses it before EWS sees it.
            return StatusCode::PAYLOAD_TOO_LARGE.into_response();
        }
        // An HTTP status (503 while the application pool restarts, say) comes from IIS,
        // before any logon: an NTLM negotiation can get it too.
        if s.faults.drop_next == 0 && s.faults.throttle_next == 0 && !s.faults.fail_next.is_empty()
        {
            let status = s.faults.fail_next.remove(0);
            return StatusCode::from_u16(status)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
                .into_response();
        }
        let (tenant, account) = match front_door(&mut s, conn.map(|c| c.0), &headers) {
            Ok(who) => who,
            Err(r) => return r,
        };
        let injected = if s.faults.drop_next > 0 {
            s.faults.drop_next -= 1;
            Some(super::graph::broken_response())
        } else if s.faults.throttle_next > 0 {
            s.faults.throttle_next -= 1;
            s.stats.throttled += 1;
            let ms = s
                .faults
                .retry_after
                .as_deref()
                .and_then(|r| r.parse::<f64>().ok())
                .map(|secs| (secs * 1000.0) as u64)
                .unwrap_or(500);
            Some(fault(
                "ErrorServerBusy",
                "The server cannot service this request right now. Try again later.",
                Some(ms),
            ))
        } else {
            None
        };
        // Whether the next write's answer is lost (decided once the operation is known).
        let drop_answer = s.faults.drop_answer_of_next_write > 0;
        (
            Caller {
                tenant,
                account,
                acting_as: None,
            },
            s.faults.latency_ms,
            injected,
            drop_answer,
        )
    };
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    if let Some(r) = injected {
        return r;
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        return fault("ErrorSchemaValidation", "The request is not UTF-8.", None);
    };
    let envelope: Envelope = match quick_xml::de::from_str(text) {
        Ok(e) => e,
        Err(e) => {
            return fault(
                "ErrorSchemaValidation",
                &format!("The request failed schema validation: {e}"),
                None,
            )
        }
    };
    let mut caller = caller;
    if let Some(imp) = envelope.header.impersonation {
        if !caller.account.impersonation {
            return fault(
                "ErrorImpersonateUserDenied",
                "The account does not have permission to impersonate the requested user.",
                None,
            );
        }
        let exists = sim
            .lock()
            .mailbox_mut(&caller.tenant, &imp.sid.smtp)
            .is_some();
        if !exists {
            return fault(
                "ErrorNonExistentMailbox",
                &format!(
                    "The SMTP address has no mailbox associated with it: {}",
                    imp.sid.smtp
                ),
                None,
            );
        }
        caller.acting_as = Some(imp.sid.smtp);
    }
    let is_write = matches!(
        envelope.body.op,
        Operation::UpdateItem(_)
            | Operation::CreateAttachment(_)
            | Operation::DeleteAttachment(_)
            | Operation::CreateItem(_)
            | Operation::SendItem(_)
            | Operation::DeleteItem(_)
    );
    if is_write && drop_answer {
        let mut s = sim.lock();
        s.faults.drop_answer_of_next_write = s.faults.drop_answer_of_next_write.saturating_sub(1);
    }
    let answer = match envelope.body.op {
        Operation::FindFolder(r) => find_folder(&sim, &caller, r),
        Operation::FindItem(r) => find_item(&sim, &caller, r),
        Operation::GetItem(r) => get_item(&sim, &caller, r),
        Operation::UpdateItem(r) => update_item(&sim, &caller, r),
        Operation::CreateAttachment(r) => create_attachment(&sim, &caller, r),
        Operation::DeleteAttachment(r) => delete_attachment(&sim, &caller, r),
        Operation::GetAttachment(r) => get_attachment(&sim, &caller, r),
        Operation::CreateItem(r) => create_item(&sim, &caller, r),
        Operation::SendItem(r) => send_item(&sim, &caller, r),
        Operation::DeleteItem(r) => scratch::delete_item(&sim, &caller, r),
        Operation::Other => fault(
            "ErrorInvalidRequest",
            "The simulator does not serve this operation.",
            None,
        ),
    };
    if is_write && drop_answer {
        // Carried out; only its answer is lost.
        return super::graph::broken_response();
    }
    answer
}

// ---- Operations ----

/// The mailbox a distinguished folder names (or, impersonating, the impersonated one).
fn mailbox_of(caller: &Caller, parents: &ParentFolders) -> Option<String> {
    parents
        .distinguished
        .as_ref()
        .and_then(|d| d.mailbox.as_ref().map(|m| m.address.clone()))
        .or_else(|| caller.acting_as.clone())
}

/// Item `id` of the caller's organisation, with its mailbox's folder, when the caller may
/// work in that mailbox; else the answer that says why not.
fn reachable_item<'a>(
    s: &'a mut State,
    caller: &'a Caller,
    op: &str,
    id: &str,
) -> Result<(String, &'a mut Event), Response> {
    let Some((owner, folder, e)) = s
        .events_mut(Some(&caller.tenant))
        .find(|(_, _, e)| e.id == id)
    else {
        return Err(error(
            op,
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
        ));
    };
    if !caller.reaches(&owner) {
        return Err(denied(op));
    }
    Ok((folder, e))
}

fn denied(op: &str) -> Response {
    error(
        op,
        "ErrorAccessDenied",
        "Access is denied. Check credentials and try again.",
    )
}
