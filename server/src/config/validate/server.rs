//! `[server]`: listeners, origins, keys, limits, time-outs and proxies.

use super::errors;
use crate::config::raw::*;
use crate::config::*;

pub(super) fn server(s: Server, file: &str, base: &Path) -> Result<ServerConfig, ConfigError> {
    let err = errors(file);
    let listen: SocketAddr = s.listen.parse().map_err(|_| {
        err(
            "[server] listen".into(),
            format!("`{}` is not an address like 127.0.0.1:3000", s.listen),
        )
    })?;
    for o in &s.allowed_origins {
        if o != "*"
            && url::Url::parse(o)
                .map(|u| u.origin().ascii_serialization() != *o)
                .unwrap_or(true)
        {
            return Err(err(
                "[server] allowed_origins".into(),
                format!("`{o}` is not an origin like https://selvbetjening.kommune.dk (scheme, host and port only)"),
            ));
        }
    }
    if s.max_body_bytes < 1024 {
        return Err(err(
            "[server] max_body_bytes".into(),
            "must be at least 1024".into(),
        ));
    }
    let long_enough = |field: &str, key: SecretString| {
        use secrecy::ExposeSecret;
        if key.expose_secret().len() < 32 {
            Err(err(
                format!("[server] {field}"),
                "must be at least 32 bytes (e.g. `openssl rand -base64 48`)".into(),
            ))
        } else {
            Ok(key)
        }
    };
    let slot_key = match &s.slot_key {
        Some(r) => Some(long_enough(
            "slot_key",
            r.resolve(base, |m| err("[server] slot_key".into(), m))?,
        )?),
        None => None,
    };
    let mut previous_slot_keys = Vec::new();
    for r in &s.previous_slot_keys {
        previous_slot_keys.push(long_enough(
            "previous_slot_keys",
            r.resolve(base, |m| err("[server] previous_slot_keys".into(), m))?,
        )?);
    }
    let metrics_token = match &s.metrics_token {
        Some(r) => Some(long_enough(
            "metrics_token",
            r.resolve(base, |m| err("[server] metrics_token".into(), m))?,
        )?),
        None => None,
    };
    if !(1..=600).contains(&s.shutdown_grace_seconds) {
        return Err(err(
            "[server] shutdown_grace_seconds".into(),
            "must be between 1 and 600 (keep it under the stop time-out of systemd or the orchestrator)".into(),
        ));
    }
    let private_listen = match &s.private_listen {
        Some(a) => Some(a.parse::<SocketAddr>().map_err(|_| {
            err(
                "[server] private_listen".into(),
                format!("`{a}` is not an address like 127.0.0.1:9100"),
            )
        })?),
        None => None,
    };
    if s.max_files > 50
        || !(1..=150).contains(&s.max_file_mb)
        || !(1..=150).contains(&s.max_total_mb)
    {
        return Err(err(
            "[server] max_files / max_file_mb / max_total_mb".into(),
            "must be at most 50 files and 1–150 MB (Outlook's attachment limit)".into(),
        ));
    }
    let uploads = UploadLimits {
        max_files: s.max_files,
        max_file_bytes: s.max_file_mb * 1024 * 1024,
        max_total_bytes: s.max_total_mb * 1024 * 1024,
        allowed_types: s
            .allowed_file_types
            .iter()
            .map(|t| t.trim_start_matches('.').to_ascii_lowercase())
            .collect(),
    };
    for (field, value) in [
        ("rate_limit_per_minute", s.rate_limit_per_minute),
        ("read_rate_limit_per_minute", s.read_rate_limit_per_minute),
    ] {
        if value == 0 {
            return Err(err(
                format!("[server] {field}"),
                "must be at least 1".into(),
            ));
        }
    }
    for (field, value, range) in [
        (
            "max_concurrent_uploads",
            s.max_concurrent_uploads as u64,
            1..=256,
        ),
        (
            "max_concurrent_upload_reads",
            s.max_concurrent_upload_reads as u64,
            1..=4096,
        ),
        (
            "upload_min_rate_bytes_per_second",
            s.upload_min_rate_bytes_per_second,
            1..=10_000_000,
        ),
        (
            "upload_rate_grace_seconds",
            s.upload_rate_grace_seconds,
            1..=600,
        ),
        (
            "max_holds_per_client",
            s.max_holds_per_client as u64,
            1..=10_000,
        ),
        (
            "request_timeout_seconds",
            s.request_timeout_seconds,
            1..=3600,
        ),
        ("upload_timeout_seconds", s.upload_timeout_seconds, 1..=7200),
        ("body_timeout_seconds", s.body_timeout_seconds, 1..=600),
        ("header_timeout_seconds", s.header_timeout_seconds, 1..=600),
        ("max_connections", s.max_connections as u64, 16..=1_000_000),
    ] {
        if !range.contains(&value) {
            return Err(err(
                format!("[server] {field}"),
                format!("must be {}–{} (got {value})", range.start(), range.end()),
            ));
        }
    }
    let mut trusted_proxies = Vec::new();
    for p in &s.trusted_proxies {
        let net = p
            .parse::<ipnet::IpNet>()
            .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| {
                err(
                    "[server] trusted_proxies".into(),
                    format!("`{p}` is not an address or CIDR like 10.0.0.5 or 10.0.0.0/24"),
                )
            })?;
        trusted_proxies.push(net);
    }
    let server = ServerConfig {
        rate_limit_per_minute: s.rate_limit_per_minute,
        max_holds_per_client: s.max_holds_per_client,
        read_rate_limit_per_minute: s.read_rate_limit_per_minute,
        trusted_proxies,
        forwarded_header: s.forwarded_header,
        max_concurrent_uploads: s.max_concurrent_uploads,
        max_concurrent_upload_reads: s.max_concurrent_upload_reads,
        upload_min_rate: s.upload_min_rate_bytes_per_second,
        upload_rate_grace: std::time::Duration::from_secs(s.upload_rate_grace_seconds),
        request_timeout: std::time::Duration::from_secs(s.request_timeout_seconds),
        upload_timeout: std::time::Duration::from_secs(s.upload_timeout_seconds),
        body_timeout: std::time::Duration::from_secs(s.body_timeout_seconds),
        header_timeout: std::time::Duration::from_secs(s.header_timeout_seconds),
        max_connections: s.max_connections,
        uploads,
        public_url_configured: s.public_url.is_some(),
        public_url: s.public_url.unwrap_or_else(|| format!("http://{listen}")),
        listen,
        allowed_origins: s.allowed_origins,
        max_body_bytes: s.max_body_bytes,
        slot_key,
        previous_slot_keys,
        metrics_token,
        private_listen,
        shutdown_grace: std::time::Duration::from_secs(s.shutdown_grace_seconds),
    };
    Ok(server)
}
