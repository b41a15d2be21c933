//! Sending EWS requests as the service account: SOAP over HTTPS, at most N in flight per
//! mailbox (the same writes-first gate as Graph), ErrorServerBusy and 503 waited out with the
//! one retry policy (`BackOffMilliseconds` honoured, within the retry budget), no
//! redirects, time-outs, and requests over the server's size limit refused before sending.
//!
//! Authentication: NTLMv2 with Extended Protection's channel binding over TLS, or Basic
//! (only over TLS; the configuration refuses it otherwise), on connections of its own
//! (`connection.rs`: NTLM authenticates a connection, not a request).
//!
//! (About 430 lines with the tests of how each answer is taken.)

use super::connection::{Connections, RequestBody, TransportError};
use super::xml::{self, Message};
use crate::config::{EwsAccount, EwsAuth};
use crate::exchange::gate::{Class, Gate, Permit};
use crate::exchange::retry::{retrying, Failure, MAX_ATTEMPTS};
use crate::exchange::timer::{Timer, TokioTimer};
use crate::mailbox::MailboxError;
use hyper::StatusCode;
use std::sync::Arc;
use std::time::Duration;

/// Exchange's default limit on one EWS request (`maxAllowedContentLength` of the EWS
/// virtual directory; an attachment travels inside one request, base64-encoded).
pub const DEFAULT_REQUEST_LIMIT: usize = 64 * 1024 * 1024;

/// Why an EWS call failed. Messages are for the administrator's log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EwsError {
    #[error("EWS refused the service account's {auth} logon (401){why}")]
    Logon {
        auth: &'static str,
        why: &'static str,
    },
    #[error("EWS does not accept {auth} logons (401; it offers {offered})")]
    NotOffered { auth: &'static str, offered: String },
    #[error("{code}: {text} (the service account needs ApplicationImpersonation, or Full Access to the mailbox for access = \"delegate\")")]
    Denied { code: String, text: String },
    #[error("not found ({0})")]
    NotFound(String),
    #[error("changed since it was read ({0})")]
    Conflict(String),
    #[error("Exchange stayed busy (ErrorServerBusy) beyond the retry budget")]
    Busy,
    #[error("EWS unavailable (HTTP {0})")]
    Unavailable(u16),
    #[error("no place among the mailbox's EWS requests in flight within the retry budget")]
    Queued,
    #[error("could not reach EWS: {0}")]
    Transport(String),
    #[error("unexpected answer from EWS: {0}")]
    Decode(String),
    #[error("EWS refused the request ({code}): {text}")]
    Rejected { code: String, text: String },
    #[error("the request is {size} bytes, over the EWS request limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
}

impl EwsError {
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            EwsError::Busy | EwsError::Unavailable(_) | EwsError::Queued | EwsError::Transport(_)
        )
    }

    /// What an error response code means for Booket.
    pub fn from_code(code: &str, text: &str) -> EwsError {
        match code {
            "ErrorIrresolvableConflict" | "ErrorStaleObject" => EwsError::Conflict(code.into()),
            // A folder that went (staff deleted or recreated the calendar) is "not found"
            // like an item, so the cached folder id is dropped and the name resolved again.
            "ErrorItemNotFound"
            | "ErrorFolderNotFound"
            | "ErrorInvalidIdMalformed"
            | "ErrorInvalidAttachmentId"
            | "ErrorAttachmentNotFound" => EwsError::NotFound(code.into()),
            "ErrorImpersonateUserDenied"
            | "ErrorImpersonationDenied"
            | "ErrorNonExistentMailbox"
            | "ErrorAccessDenied" => EwsError::Denied {
                code: code.into(),
                text: text.into(),
            },
            "ErrorServerBusy" | "ErrorExceededConnectionCount" => EwsError::Busy,
            _ => EwsError::Rejected {
                code: code.into(),
                text: text.into(),
            },
        }
    }
}

impl From<EwsError> for MailboxError {
    fn from(e: EwsError) -> Self {
        match e {
            EwsError::NotFound(_) => MailboxError::NotFound,
            EwsError::Conflict(_) => MailboxError::Conflict,
            e if e.is_transient() => MailboxError::Unavailable(e.to_string()),
            e => MailboxError::Refused(e.to_string()),
        }
    }
}

/// One service account against one EWS endpoint.
pub struct EwsClient {
    http: Connections,
    account: EwsAccount,
    timer: Arc<dyn Timer>,
    gate: Gate,
    gate_places: usize,
    retry_budget: Duration,
    /// What the server said it is in its last answer (`ServerVersionInfo`).
    version: std::sync::Mutex<Option<xml::ServerVersion>>,
    metrics: Option<crate::metrics::Metrics>,
}

impl EwsClient {
    pub fn new(
        account: EwsAccount,
        max_concurrency: usize,
        retry_budget: Duration,
    ) -> Result<Self, EwsError> {
        let max_concurrency = max_concurrency.max(1);
        let http = Connections::new(&account, max_concurrency).map_err(EwsError::Transport)?;
        Ok(EwsClient {
            http,
            account,
            timer: Arc::new(TokioTimer),
            gate: Gate::new(max_concurrency),
            gate_places: max_concurrency,
            retry_budget,
            version: std::sync::Mutex::new(None),
            metrics: None,
        })
    }

    /// Shares the places in flight with the instances `share` counts.
    pub fn with_share(mut self, share: crate::exchange::gate::Share) -> Self {
        let name = format!("ews:{}@{}", self.account.username, self.account.url);
        self.gate = Gate::shared(&name, self.gate_places, share);
        self
    }

    /// Uses `timer` for the time and for every wait.
    pub fn with_timer(mut self, timer: Arc<dyn Timer>) -> Self {
        self.timer = timer;
        self
    }

    /// Counts EWS requests, busy answers, retries and logons in `metrics`.
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> Self {
        self.http.count_logons(metrics.ews_logons.clone());
        self.metrics = Some(metrics);
        self
    }

    fn observe(&self, status: u16, busy: bool, retried: bool) {
        if let Some(m) = &self.metrics {
            m.ews_calls.with_label_values(&[&status.to_string()]).inc();
            if busy {
                m.ews_busy.inc();
            }
            if retried {
                m.ews_retries.inc();
            }
        }
    }

    pub fn account(&self) -> &EwsAccount {
        &self.account
    }

    /// The largest request this endpoint takes (`ews_request_limit_mb`).
    pub fn request_limit(&self) -> usize {
        self.account.request_limit
    }

    /// The Exchange version the server reported in its last answer, e.g. `15.2.1748.10`.
    pub fn server_version(&self) -> Option<String> {
        let v = self.version.lock().unwrap_or_else(|e| e.into_inner());
        v.as_ref()
            .filter(|v| !v.major.is_empty())
            .map(|v| format!("{}.{}.{}.{}", v.major, v.minor, v.build, v.revision))
    }

    /// How many times the service account has logged on (new NTLM sessions).
    pub fn logons(&self) -> u64 {
        self.http.logons()
    }

    /// What a 401 means: this kind of logon is not offered, or it was refused (with why
    /// that may be, for NTLM: Extended Protection).
    fn refusal(&self, offered: &[String]) -> EwsError {
        let auth = match self.account.auth {
            EwsAuth::Ntlm => "NTLM",
            EwsAuth::Basic => "Basic",
        };
        if !offered.is_empty() && !offered.iter().any(|o| o.eq_ignore_ascii_case(auth)) {
            return EwsError::NotOffered {
                auth,
                offered: offered.join(", "),
            };
        }
        let why = match (self.account.auth, self.http.is_tls()) {
            (EwsAuth::Basic, _) => "",
            (EwsAuth::Ntlm, true) => ": the password, or Extended Protection refusing the channel binding (a TLS-inspecting proxy between Booket and Exchange changes the certificate)",
            (EwsAuth::Ntlm, false) => ": the password, or Extended Protection, which refuses NTLM without TLS",
        };
        EwsError::Logon { auth, why }
    }

    async fn place(&self, class: Class, started: tokio::time::Instant) -> Result<Permit, EwsError> {
        if let Some(p) = self.gate.try_acquire() {
            return Ok(p);
        }
        let left = self
            .retry_budget
            .saturating_sub(self.timer.now().saturating_duration_since(started));
        tokio::select! {
            biased;
            permit = self.gate.acquire(class) => Ok(permit),
            () = self.timer.sleep(left) => Err(EwsError::Queued),
        }
    }

    /// Sends one SOAP request (`anchor`: the mailbox it concerns, for `X-AnchorMailbox`) and
    /// returns its one response message. A read is resent after a transport error; a write
    /// is not (its outcome is unknown, which the caller treats as such).
    pub async fn call(
        &self,
        class: Class,
        anchor: &str,
        body: String,
    ) -> Result<Message, EwsError> {
        self.send(class, anchor, RequestBody::Whole(body.into()))
            .await
    }

    /// [`EwsClient::call`] with a body that may be streamed (a file's base64).
    pub async fn send(
        &self,
        class: Class,
        anchor: &str,
        body: RequestBody,
    ) -> Result<Message, EwsError> {
        if body.len() > self.request_limit() {
            return Err(EwsError::TooLarge {
                size: body.len(),
                limit: self.request_limit(),
            });
        }
        let started = self.timer.now();
        let body = &body;
        let attempts = &std::sync::atomic::AtomicU32::new(0);
        retrying(
            &self.timer,
            self.retry_budget,
            MAX_ATTEMPTS,
            move || async move {
                let answer = {
                    let _permit = self.place(class, started).await.map_err(Failure::Final)?;
                    self.http.post(anchor, body).await
                };
                let retried = attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed) > 0;
                let reply = match answer {
                    Ok(r) => r,
                    Err(TransportError::Refused { offered }) => {
                        self.observe(401, false, retried);
                        return Err(Failure::Final(self.refusal(&offered)));
                    }
                    Err(e) => {
                        self.observe(0, false, retried);
                        // A certificate this server does not trust stays untrusted; a
                        // write whose outcome is unknown is not sent twice.
                        let sent = !matches!(e, TransportError::NotSent(_));
                        let message = e.to_string();
                        let untrusted = message.to_lowercase().contains("certificate");
                        let error = EwsError::Transport(message);
                        return Err(if (class == Class::Read || !sent) && !untrusted {
                            Failure::Again {
                                error,
                                retry_after: None,
                            }
                        } else {
                            Failure::Final(error)
                        });
                    }
                };
                let (status, retry_after, bytes) = (reply.status, reply.retry_after, reply.body);
                let interpreted = interpret(status, retry_after, &bytes, class == Class::Read);
                let busy = matches!(
                    interpreted,
                    Err(Failure::Again {
                        error: EwsError::Busy,
                        ..
                    })
                );
                self.observe(status.as_u16(), busy, retried);
                let (message, version) = interpreted?;
                if let Some(v) = version {
                    *self.version.lock().unwrap_or_else(|e| e.into_inner()) = Some(v);
                }
                Ok(message)
            },
        )
        .await
    }
}

/// Exchange asks for a wait: busy, or too many connections of this account
/// (EWSMaxConcurrency) — both pass, neither was carried out.
fn is_busy(code: &str) -> bool {
    matches!(code, "ErrorServerBusy" | "ErrorExceededConnectionCount")
}

/// What one HTTP answer means: the response message (with the server's version when it
/// said), a wait, or a final error.
/// `replayable`: a read, safe to send again when the server failed without saying why.
fn interpret(
    status: StatusCode,
    retry_after: Option<Duration>,
    bytes: &[u8],
    replayable: bool,
) -> Result<(Message, Option<xml::ServerVersion>), Failure<EwsError>> {
    match status.as_u16() {
        503 | 504 => {
            return Err(Failure::Again {
                error: EwsError::Unavailable(status.as_u16()),
                retry_after,
            })
        }
        200 | 500 => {}
        other => return Err(Failure::Final(EwsError::Unavailable(other))),
    }
    let envelope = xml::parse(bytes).map_err(|e| match status.as_u16() {
        // A 500 that is not SOAP is the server failing, not an answer: a read is tried
        // again; a write's outcome is unknown, and it is not sent twice.
        500 if replayable => Failure::Again {
            error: EwsError::Unavailable(500),
            retry_after: None,
        },
        500 => Failure::Final(EwsError::Unavailable(500)),
        _ => Failure::Final(EwsError::Decode(e)),
    })?;
    let version = envelope.header.and_then(|h| h.version);
    let response = envelope.body.content;
    if let Some(detail) = response.detail {
        let code = detail.code.unwrap_or_default();
        if is_busy(&code) {
            return Err(Failure::Again {
                error: EwsError::Busy,
                retry_after: xml::back_off(detail.xml.as_ref()),
            });
        }
        let text = response.fault.unwrap_or_default();
        return Err(Failure::Final(EwsError::from_code(&code, &text)));
    }
    let message = response
        .messages
        .and_then(|m| m.list.into_iter().next())
        .ok_or_else(|| Failure::Final(EwsError::Decode("no response message".into())))?;
    if message.is_error() {
        if is_busy(&message.code) {
            return Err(Failure::Again {
                error: EwsError::Busy,
                retry_after: message.back_off(),
            });
        }
        return Err(Failure::Final(EwsError::from_code(
            &message.code,
            &message.text,
        )));
    }
    Ok((message, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(code: &str, back_off: Option<u64>) -> String {
        let xml = back_off
            .map(|ms| format!(r#"<t:MessageXml xmlns:t="t"><t:Value Name="BackOffMilliseconds">{ms}</t:Value></t:MessageXml>"#))
            .unwrap_or_default();
        format!(
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>a:{code}</faultcode><faultstring>busy</faultstring><detail><e:ResponseCode xmlns:e="e">{code}</e:ResponseCode>{xml}</detail></s:Fault></s:Body></s:Envelope>"#
        )
    }

    fn message(class: &str, code: &str) -> String {
        format!(
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:GetItemResponse xmlns:m="m"><m:ResponseMessages><m:GetItemResponseMessage ResponseClass="{class}"><m:MessageText>text</m:MessageText><m:ResponseCode>{code}</m:ResponseCode></m:GetItemResponseMessage></m:ResponseMessages></m:GetItemResponse></s:Body></s:Envelope>"#
        )
    }

    fn outcome(status: u16, body: &str) -> Result<String, (bool, EwsError, Option<Duration>)> {
        match interpret(
            StatusCode::from_u16(status).unwrap(),
            None,
            body.as_bytes(),
            true,
        ) {
            Ok((m, _)) => Ok(m.code),
            Err(Failure::Again { error, retry_after }) => Err((true, error, retry_after)),
            Err(Failure::Final(error)) => Err((false, error, None)),
        }
    }

    #[test]
    fn answers_map_to_what_booket_does_about_them() {
        assert_eq!(
            outcome(200, &message("Success", "NoError")),
            Ok("NoError".into())
        );
        // Busy: wait what Exchange asks, as a fault or as a message.
        assert_eq!(
            outcome(500, &fault("ErrorServerBusy", Some(1500))),
            Err((true, EwsError::Busy, Some(Duration::from_millis(1500))))
        );
        assert_eq!(
            outcome(200, &message("Error", "ErrorServerBusy")),
            Err((true, EwsError::Busy, None))
        );
        assert_eq!(
            outcome(200, &message("Error", "ErrorExceededConnectionCount")),
            Err((true, EwsError::Busy, None))
        );
        assert_eq!(
            outcome(503, ""),
            Err((true, EwsError::Unavailable(503), None))
        );
        // A lost race, a missing item, denied impersonation.
        assert_eq!(
            outcome(200, &message("Error", "ErrorIrresolvableConflict")),
            Err((
                false,
                EwsError::Conflict("ErrorIrresolvableConflict".into()),
                None
            ))
        );
        assert!(matches!(
            outcome(200, &message("Error", "ErrorItemNotFound")),
            Err((false, EwsError::NotFound(_), None))
        ));
        assert!(matches!(
            outcome(200, &message("Error", "ErrorImpersonateUserDenied")),
            Err((false, EwsError::Denied { .. }, None))
        ));
        // Not SOAP: a 500 is the server failing (a read again, a write not: its outcome is
        // unknown), a 200 cannot be read (final).
        assert!(matches!(
            outcome(500, "<html/>"),
            Err((true, EwsError::Unavailable(500), None))
        ));
        assert!(matches!(
            interpret(StatusCode::INTERNAL_SERVER_ERROR, None, b"<html/>", false),
            Err(Failure::Final(EwsError::Unavailable(500)))
        ));
        assert!(matches!(
            outcome(200, "oops"),
            Err((false, EwsError::Decode(_), None))
        ));
        assert_eq!(
            MailboxError::from(EwsError::Conflict("x".into())),
            MailboxError::Conflict
        );
        assert!(MailboxError::from(EwsError::Busy).is_transient());
    }
}
