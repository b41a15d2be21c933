//! `[receipts]`: the signing key, retired keys and how long a receipt is valid.

use super::errors;
use crate::config::raw::*;
use crate::config::*;

pub(super) fn receipts(r: Receipts, file: &str, base: &Path) -> Result<ReceiptConfig, ConfigError> {
    let err = errors(file);
    if !(1..=24 * 366).contains(&r.lifetime_hours) {
        return Err(err(
            "[receipts] lifetime_hours".into(),
            "must be between 1 and 8784 (a year)".into(),
        ));
    }
    let signing_key = match &r.signing_key {
        Some(k) => {
            let key = k.resolve(base, |m| err("[receipts] signing_key".into(), m))?;
            crate::receipts::check_signing_key(&key)
                .map_err(|e| err("[receipts] signing_key".into(), e.to_string()))?;
            Some(key)
        }
        None => None,
    };
    let mut previous_keys = Vec::new();
    for (i, p) in r.previous_keys.iter().enumerate() {
        let place = format!("[receipts] previous_keys[{i}]");
        let key = p.key.resolve(base, |m| err(format!("{place}.key"), m))?;
        crate::receipts::check_public_key(&key)
            .map_err(|e| err(format!("{place}.key"), e.to_string()))?;
        let at = chrono::DateTime::parse_from_rfc3339(&p.retired_at)
            .map_err(|_| {
                err(
                    format!("{place}.retired_at"),
                    format!("`{}` is not a time like 2026-12-01T00:00:00Z", p.retired_at),
                )
            })?
            .with_timezone(&chrono::Utc);
        previous_keys.push((key, at));
    }
    Ok(ReceiptConfig {
        signing_key,
        previous_keys,
        lifetime: std::time::Duration::from_secs(r.lifetime_hours * 3600),
    })
}
