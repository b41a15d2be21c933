//! `GraphError`: every way a Graph or token call can fail, typed so callers can decide
//! (lost race, retry later, configuration mistake) and never show raw Graph text to citizens.

use std::time::Duration;

/// A refusal from the Entra token endpoint (flat OAuth error body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRefusal {
    pub status: u16,
    /// OAuth error string, e.g. `invalid_client`.
    pub error: String,
    /// AADSTS numbers from `error_codes`.
    pub codes: Vec<u32>,
}

impl TokenRefusal {
    /// The most likely configuration mistake behind the refusal, for administrators.
    pub fn likely_cause(&self) -> &'static str {
        let has = |c: u32| self.codes.contains(&c);
        if has(7_000_215) {
            "the client secret is wrong — often the portal's \"Secret ID\" was pasted instead of its \"Value\""
        } else if has(7_000_222) {
            "the client secret has expired — create a new one in Entra ID and update the configuration"
        } else if has(7_000_218) {
            "no client secret was sent — set client_secret"
        } else if has(700_016) {
            "the client id is not an app in this tenant — check client_id and tenant_id"
        } else if has(90_002) || has(900_023) {
            "the tenant was not found — check tenant_id (a GUID or a verified domain) and the login base URL"
        } else if has(70_011) || has(1_002_012) {
            "the scope is invalid — set [exchange] graph_scope to the Graph resource of your cloud (…/.default)"
        } else if has(700_027) {
            "the certificate is not the one registered on the app, or the key does not belong to it"
        } else if has(700_024) {
            "the client assertion is outside its valid time — this machine's clock is off"
        } else if has(1_000_502) {
            "the certificate is outside its validity window (expired) — register a new one"
        } else if has(50_012) {
            "the client assertion was refused — check tenant_id and login_base_url (the cloud)"
        } else if has(7_000_112) {
            "the application is disabled in Entra ID"
        } else if self.error == "invalid_client" {
            "the client credentials were refused — check client_id and the client secret value"
        } else {
            "the token request was refused — check tenant_id, client_id and client secret"
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum GraphError {
    #[error("token refused ({} {}, AADSTS{:?}): {}", .0.status, .0.error, .0.codes, .0.likely_cause())]
    TokenRefused(TokenRefusal),
    #[error("Graph refused the token (401 {code})")]
    Unauthorized { code: String },
    #[error("access denied (403 {code})")]
    Forbidden { code: String },
    #[error("not found (404 {code})")]
    NotFound { code: String },
    /// 409/412: the item changed since it was read (someone else won).
    #[error("conflict ({status} {code})")]
    Conflict { status: u16, code: String },
    #[error("throttled by Graph beyond the retry budget (last Retry-After {retry_after:?})")]
    Throttled { retry_after: Option<Duration> },
    #[error("Graph unavailable ({status})")]
    Unavailable { status: u16 },
    /// Waited the whole retry budget for a place among the app's requests in flight (a
    /// crowd): nothing was sent.
    #[error("no place among the app's Graph requests in flight within the retry budget")]
    Queued,
    #[error("Graph rejected the request ({status} {code})")]
    Rejected { status: u16, code: String },
    #[error("could not reach {what}: {message}")]
    Transport { what: &'static str, message: String },
    #[error("unexpected response from Graph: {0}")]
    Decode(String),
    #[error("Outlook calendar \"{name}\" not found; calendars found: {found:?}")]
    CalendarNotFound { name: String, found: Vec<String> },
    #[error("Outlook calendar name \"{name}\" matches {count} calendars; rename one")]
    CalendarAmbiguous { name: String, count: usize },
}

impl GraphError {
    /// Worth trying again later (as opposed to a configuration mistake or a lost race).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            GraphError::Throttled { .. }
                | GraphError::Unavailable { .. }
                | GraphError::Queued
                | GraphError::Transport { .. }
        )
    }
}
