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
    pub credential: ClientCredential,
}

impl std::fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppCredentials")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("credential", &self.credential)
            .finish()
    }
}

/// How the app proves who it is: a client secret, or a certificate whose private key signs
/// a client assertion (many municipal security policies forbid secrets).
#[derive(Clone)]
pub enum ClientCredential {
    Secret(SecretString),
    Certificate(Arc<Certificate>),
}

impl std::fmt::Debug for ClientCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientCredential::Secret(_) => f.write_str("Secret([redacted])"),
            ClientCredential::Certificate(c) => write!(f, "Certificate(x5t#S256={})", c.thumbprint),
        }
    }
}

impl From<&str> for ClientCredential {
    fn from(secret: &str) -> Self {
        ClientCredential::Secret(SecretString::from(secret.to_owned()))
    }
}

/// A certificate registered on the app (its public part in Entra ID) and its private key,
/// which signs client assertions (PS256, `x5t#S256`; Microsoft identity platform,
/// "certificate credentials").
pub struct Certificate {
    /// Base64url SHA-256 of the certificate's DER: how Entra finds the registered one.
    pub thumbprint: String,
    key: jsonwebtoken::EncodingKey,
}

/// Lifetime of one client assertion (Entra advises 5–10 minutes).
const ASSERTION_LIFETIME_SECS: i64 = 300;

impl Certificate {
    /// From the certificate (PEM, `BEGIN CERTIFICATE`) and its RSA private key (PEM, PKCS#8
    /// or PKCS#1). The key must belong to the certificate.
    pub fn from_pem(certificate: &str, key: &SecretString) -> Result<Certificate, String> {
        use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
        use jsonwebtoken::Algorithm;
        crate::signing::ensure();
        let parsed = pem::parse(certificate.trim())
            .map_err(|_| "is not a PEM certificate (\"BEGIN CERTIFICATE\")".to_owned())?;
        if parsed.tag() != "CERTIFICATE" {
            return Err(format!(
                "is a PEM \"{}\", not a certificate (\"BEGIN CERTIFICATE\")",
                parsed.tag()
            ));
        }
        let public = jsonwebtoken::DecodingKey::from_rsa_pem(certificate.trim().as_bytes())
            .map_err(|_| {
                "is not an RSA certificate (Entra signs assertions with RSA keys)".to_owned()
            })?;
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(key.expose_secret().as_bytes())
            .map_err(|_| "certificate_key is not an RSA private key in PEM".to_owned())?;
        let components = |jwk: Result<Jwk, _>| match jwk.map(|j| j.algorithm) {
            Ok(AlgorithmParameters::RSA(p)) => Some((p.n, p.e)),
            _ => None,
        };
        let of_cert = components(Jwk::from_decoding_key(&public, Some(Algorithm::PS256)));
        let of_key = components(Jwk::from_encoding_key(&key, Algorithm::PS256));
        if of_cert.is_none() || of_cert != of_key {
            return Err("certificate_key does not belong to this certificate".into());
        }
        use base64::Engine;
        use sha2::{Digest, Sha256};
        let thumbprint = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(parsed.contents()));
        Ok(Certificate { thumbprint, key })
    }

    /// A client assertion for the token endpoint `audience`, valid for five minutes.
    pub fn assertion(&self, client_id: &str, audience: &str) -> Result<String, GraphError> {
        let now = chrono::Utc::now().timestamp();
        let mut jti = [0u8; 16];
        getrandom::getrandom(&mut jti).map_err(|e| GraphError::Decode(e.to_string()))?;
        let claims = serde_json::json!({
            "aud": audience,
            "iss": client_id,
            "sub": client_id,
            "jti": jti.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "nbf": now,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        crate::signing::ensure();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::PS256);
        header.x5t_s256 = Some(self.thumbprint.clone());
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| GraphError::Decode(format!("cannot sign the client assertion: {e}")))
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
pub(super) fn parse_token(status: u16, body: &[u8], now: Instant) -> Result<Token, GraphError> {
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

/// The form body of a client-credentials request to `token_url`: with the secret, or with
/// a client assertion signed by the certificate's key.
pub(super) fn token_form(
    creds: &AppCredentials,
    scope: &str,
    token_url: &str,
) -> Result<Vec<(&'static str, String)>, GraphError> {
    let mut form = vec![
        ("client_id", creds.client_id.clone()),
        ("scope", scope.to_owned()),
        ("grant_type", "client_credentials".to_owned()),
    ];
    match &creds.credential {
        ClientCredential::Secret(s) => form.push(("client_secret", s.expose_secret().to_owned())),
        ClientCredential::Certificate(c) => {
            form.push((
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            ));
            form.push((
                "client_assertion",
                c.assertion(&creds.client_id, token_url)?,
            ));
        }
    }
    Ok(form)
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
        match parse_token(401, body, Instant::now()) {
            Err(GraphError::TokenRefused(r)) => {
                assert_eq!(r.codes, vec![7000215]);
                assert!(r.likely_cause().contains("Secret ID"));
            }
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("accepted a refusal"),
        }
        assert!(matches!(
            parse_token(503, b"", Instant::now()),
            Err(GraphError::Unavailable { status: 503 })
        ));
    }

    #[test]
    fn expires_in_as_number_or_string() {
        let t = parse_token(
            200,
            br#"{"access_token":"x","expires_in":"3599","token_type":"Bearer"}"#,
            Instant::now(),
        )
        .ok()
        .unwrap();
        assert!(t.refresh_at < t.expires_at);
        assert!(parse_token(
            200,
            br#"{"access_token":"x","expires_in":3599}"#,
            Instant::now()
        )
        .is_ok());
    }
}
