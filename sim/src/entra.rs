//! The simulated Entra token endpoint: client secrets and certificate assertions, with
//! Entra's flat errors and AADSTS codes.
// Helpers return a finished `Response` as their error so handlers can return it as is.
#![allow(clippy::result_large_err)]

use super::common::*;
use super::model::IssuedToken;
use super::Simulator;
use axum::body::Bytes;
use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{json, Value};
use std::collections::HashMap;

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
/// `x5t#S256`, for this token endpoint, from this client, within its time range
/// (https://learn.microsoft.com/entra/identity-platform/certificate-credentials). Read
/// here without a JWT library: the signature is checked with the certificate itself.
#[allow(clippy::result_large_err)]
fn verify_assertion(
    app: &super::model::App,
    client_id: &str,
    assertion: &str,
    audience: &str,
) -> Result<(), Response> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;
    let refuse =
        |code: u32, text: &str| entra_error(StatusCode::UNAUTHORIZED, "invalid_client", code, text);
    let malformed = || refuse(50027, "JWT token is invalid or malformed.");
    let bad_signature = || refuse(700027, "Client assertion failed signature validation.");
    let json =
        |part: &str| -> Option<Value> { serde_json::from_slice(&B64.decode(part).ok()?).ok() };
    let mut parts = assertion.split('.');
    let (Some(head), Some(body), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    let (Some(header), Some(claims), Ok(signature)) =
        (json(head), json(body), B64.decode(signature))
    else {
        return Err(malformed());
    };
    let thumbprint = header["x5t#S256"].as_str().unwrap_or_default();
    let registered = app.certificates.iter().find_map(|pem| {
        let p = pem::parse(pem.trim()).ok()?;
        use sha2::{Digest, Sha256};
        (B64.encode(Sha256::digest(p.contents())) == thumbprint).then(|| p.into_contents())
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
    let algorithm = match header["alg"].as_str() {
        Some("PS256") => webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        Some("RS256") => webpki::ring::RSA_PKCS1_2048_8192_SHA256,
        _ => return Err(bad_signature()),
    };
    let der = rustls::pki_types::CertificateDer::from(certificate);
    let cert = webpki::EndEntityCert::try_from(&der).map_err(|_| bad_signature())?;
    let signed = format!("{head}.{body}");
    if cert
        .verify_signature(algorithm, signed.as_bytes(), &signature)
        .is_err()
    {
        return Err(refuse(
            700027,
            "Client assertion contains an invalid signature.",
        ));
    }
    let invalid_claims = || refuse(50012, "Client assertion contains invalid claims.");
    let (Some(nbf), Some(exp)) = (claims["nbf"].as_i64(), claims["exp"].as_i64()) else {
        return Err(invalid_claims());
    };
    // Entra allows a few minutes of clock skew; one minute here.
    let now = chrono::Utc::now().timestamp();
    if now + 60 < nbf || exp + 60 < now {
        return Err(refuse(
            700024,
            "Client assertion is not within its valid time range.",
        ));
    }
    if claims["aud"].as_str() != Some(audience) {
        return Err(refuse(
            50012,
            "Client assertion audience claim does not match Realm issuer.",
        ));
    }
    if claims["iss"].as_str() != Some(client_id) {
        return Err(invalid_claims());
    }
    if claims["sub"].as_str() != Some(client_id) {
        return Err(refuse(
            50012,
            "Client assertion subject does not match the client id.",
        ));
    }
    Ok(())
}
