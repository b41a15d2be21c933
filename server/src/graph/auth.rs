//! Client-credentials tokens: one cache entry per (tenant, client id), renewed early and
//! single-flight (concurrent callers wait for the one request in progress).

use super::error::{GraphError, TokenRefusal};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The Entra app that Booket acts as for one calendar or for mail.
#[derive(Clone)]
pub struct AppCredentials {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: SecretString,
}

impl std::fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppCredentials")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .finish()
    }
}

#[derive(Clone)]
pub(super) struct Token {
    pub value: SecretString,
    /// When to fetch a new one (before it expires).
    pub refresh_at: Instant,
    pub expires_at: Instant,
}

/// The current token of one app; its lock is what makes renewal single-flight.
pub(super) type TokenSlot = Arc<tokio::sync::Mutex<Option<Token>>>;

#[derive(Default)]
pub(super) struct TokenCache {
    slots: Mutex<HashMap<(String, String), TokenSlot>>,
}

impl TokenCache {
    pub fn slot(&self, creds: &AppCredentials) -> TokenSlot {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots
            .entry((creds.tenant_id.clone(), creds.client_id.clone()))
            .or_default()
            .clone()
    }
}

/// How long before expiry a token is renewed: five minutes, or a quarter of a short lifetime.
pub(super) fn refresh_margin(lifetime: Duration) -> Duration {
    (lifetime / 4).min(Duration::from_secs(300))
}

#[derive(Deserialize)]
pub(super) struct TokenResponse {
    pub access_token: String,
    pub expires_in: serde_json::Value,
}

#[derive(Deserialize, Default)]
pub(super) struct TokenErrorBody {
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub error_codes: Vec<u32>,
}

/// Reads a token endpoint answer. `expires_in` is a number in the docs but some endpoints
/// send a string; both are accepted.
pub(super) fn parse_token(status: u16, body: &[u8]) -> Result<Token, GraphError> {
    if (200..300).contains(&status) {
        let t: TokenResponse = serde_json::from_slice(body)
            .map_err(|e| GraphError::Decode(format!("token response: {e}")))?;
        let secs = match &t.expires_in {
            serde_json::Value::Number(n) => n.as_u64(),
            serde_json::Value::String(s) => s.parse().ok(),
            _ => None,
        }
        .ok_or_else(|| GraphError::Decode("token response without expires_in".into()))?;
        let lifetime = Duration::from_secs(secs.max(1));
        let now = Instant::now();
        return Ok(Token {
            value: SecretString::from(t.access_token),
            refresh_at: now + lifetime - refresh_margin(lifetime),
            expires_at: now + lifetime,
        });
    }
    if status >= 500 || status == 429 {
        return Err(GraphError::Unavailable { status });
    }
    let b: TokenErrorBody = serde_json::from_slice(body).unwrap_or_default();
    Err(GraphError::TokenRefused(TokenRefusal {
        status,
        error: if b.error.is_empty() {
            format!("http_{status}")
        } else {
            b.error
        },
        codes: b.error_codes,
    }))
}

/// The form body of a client-credentials request.
pub(super) fn token_form<'a>(
    creds: &'a AppCredentials,
    scope: &'a str,
) -> [(&'static str, &'a str); 4] {
    [
        ("client_id", creds.client_id.as_str()),
        ("client_secret", creds.client_secret.expose_secret()),
        ("scope", scope),
        ("grant_type", "client_credentials"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margin_is_five_minutes_or_a_quarter() {
        assert_eq!(
            refresh_margin(Duration::from_secs(3599)),
            Duration::from_secs(300)
        );
        assert_eq!(
            refresh_margin(Duration::from_secs(60)),
            Duration::from_secs(15)
        );
    }

    #[test]
    fn token_errors_keep_the_aadsts_codes() {
        let body = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215]}"#;
        match parse_token(401, body) {
            Err(GraphError::TokenRefused(r)) => {
                assert_eq!(r.codes, vec![7000215]);
                assert!(r.likely_cause().contains("Secret ID"));
            }
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("accepted a refusal"),
        }
        assert!(matches!(
            parse_token(503, b""),
            Err(GraphError::Unavailable { status: 503 })
        ));
    }

    #[test]
    fn expires_in_as_number_or_string() {
        let t = parse_token(
            200,
            br#"{"access_token":"x","expires_in":"3599","token_type":"Bearer"}"#,
        )
        .ok()
        .unwrap();
        assert!(t.refresh_at < t.expires_at);
        assert!(parse_token(200, br#"{"access_token":"x","expires_in":3599}"#).is_ok());
    }
}
