//! `[store]`: the shared store's URL (a secret by reference) and the lease length.

use super::errors;
use crate::config::raw::*;
use crate::config::*;
use secrecy::ExposeSecret;

pub(super) fn store(
    s: StoreSection,
    exchange: &ExchangeConfig,
    file: &str,
    base: &Path,
) -> Result<Option<StoreConfig>, ConfigError> {
    let err = errors(file);
    let Some(url) = &s.url else {
        return Ok(None);
    };
    let url = url.resolve(base, |m| err("[store] url".into(), m))?;
    let scheme = url.expose_secret().split("://").next().unwrap_or_default();
    if !matches!(scheme, "redis" | "rediss" | "redis+unix" | "unix") {
        // (Never the URL itself: it may carry the password.)
        return Err(err(
            "[store] url".into(),
            "must start with redis:// (rediss:// for TLS, redis+unix:// for a socket)".into(),
        ));
    }
    let lease = std::time::Duration::from_secs(s.lease_seconds);
    if lease < exchange.retry_budget * 2 || s.lease_seconds < 2 {
        return Err(err(
            "[store] lease_seconds".into(),
            format!(
                "must be at least twice [exchange] retry_budget_seconds ({} s), so a write always ends well inside its lease",
                exchange.retry_budget.as_secs()
            ),
        ));
    }
    Ok(Some(StoreConfig { url, lease }))
}
