//! Secrets by reference (`{ env = "VAR" }` or `{ file = "path" }`) and an app's
//! credential (a client secret, or a certificate with its key).

use super::ConfigError;
use crate::graph::ClientCredential;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Where a secret comes from. Exactly one of `env` or `file`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    pub env: Option<String>,
    pub file: Option<PathBuf>,
}

impl SecretRef {
    pub(super) fn resolve(
        &self,
        base: &Path,
        err: impl Fn(String) -> ConfigError,
    ) -> Result<SecretString, ConfigError> {
        match (&self.env, &self.file) {
            (Some(var), None) => match std::env::var(var) {
                Ok(v) if !v.trim().is_empty() => Ok(SecretString::from(v.trim().to_owned())),
                _ => Err(err(format!(
                    "environment variable {var} is not set or empty"
                ))),
            },
            (None, Some(path)) => {
                let full = if path.is_absolute() {
                    path.clone()
                } else {
                    base.join(path)
                };
                match std::fs::read_to_string(&full) {
                    Ok(v) if !v.trim().is_empty() => Ok(SecretString::from(v.trim().to_owned())),
                    Ok(_) => Err(err(format!("secret file {} is empty", full.display()))),
                    Err(e) => Err(err(format!(
                        "secret file {} cannot be read: {e}",
                        full.display()
                    ))),
                }
            }
            _ => Err(err(
                "give exactly one of `env = \"VAR\"` or `file = \"path\"`".into(),
            )),
        }
    }
}

/// An app's credential: `client_secret`, or `certificate` with `certificate_key` (all by
/// reference). `err` takes the field name.
pub(super) fn credential_of(
    secret: Option<&SecretRef>,
    certificate: Option<&SecretRef>,
    key: Option<&SecretRef>,
    base: &Path,
    err: impl Fn(&str, String) -> ConfigError,
) -> Result<ClientCredential, ConfigError> {
    match (secret, certificate, key) {
        (Some(s), None, None) => Ok(ClientCredential::Secret(
            s.resolve(base, |m| err("client_secret", m))?,
        )),
        (None, Some(c), Some(k)) => {
            let cert = c.resolve(base, |m| err("certificate", m))?;
            let key = k.resolve(base, |m| err("certificate_key", m))?;
            crate::graph::Certificate::from_pem(cert.expose_secret(), &key)
                .map(|c| ClientCredential::Certificate(std::sync::Arc::new(c)))
                .map_err(|m| err("certificate", m))
        }
        (None, Some(_), None) => Err(err(
            "certificate_key",
            "is required with certificate (the certificate's private key, by reference)".into(),
        )),
        (None, None, Some(_)) => Err(err(
            "certificate",
            "is required with certificate_key (the certificate registered on the app, PEM)".into(),
        )),
        (Some(_), _, _) => Err(err(
            "client_secret",
            "give either client_secret or certificate + certificate_key, not both".into(),
        )),
        (None, None, None) => Err(err(
            "client_secret",
            "is required (or certificate + certificate_key)".into(),
        )),
    }
}
