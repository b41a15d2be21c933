//! `[exchange]`: Graph's URLs and scope, the markers, holds, concurrency and the read
//! budget; and the scope probe, which must be a mailbox Booket does not use.

use super::errors;
use crate::config::raw::*;
use crate::config::*;

pub(super) fn exchange(
    x: Exchange,
    server: &ServerConfig,
    file: &str,
) -> Result<ExchangeConfig, ConfigError> {
    let err = errors(file);
    for (field, value) in [
        ("graph_base_url", &x.graph_base_url),
        ("login_base_url", &x.login_base_url),
    ] {
        match url::Url::parse(value) {
            Ok(u) if u.scheme() == "https" && u.host_str().is_some() => {}
            // Plain http only to this machine (the simulator, a local test proxy):
            // tokens and citizens' documents never cross a network unencrypted.
            Ok(u) if u.scheme() == "http" && is_loopback_ip(&u) => {}
            Ok(u) if u.scheme() == "http" => {
                return Err(err(
                    format!("[exchange] {field}"),
                    format!("`{value}` must use https (plain http only to a loopback IP address such as 127.0.0.1)"),
                ))
            }
            _ => {
                return Err(err(
                    format!("[exchange] {field}"),
                    format!("`{value}` is not an http(s) URL"),
                ))
            }
        }
    }
    if let Some(public) = &server.public_url_configured.then_some(&server.public_url) {
        if url::Url::parse(public)
            .map(|u| !matches!(u.scheme(), "http" | "https") || u.host_str().is_none())
            .unwrap_or(true)
        {
            return Err(err(
                "[server] public_url".into(),
                format!("`{public}` is not a URL like https://booking.kommune.dk"),
            ));
        }
    }
    if x.booked_marker.trim().is_empty()
        || x.reserved_marker.trim().is_empty()
        || x.booked_marker == x.reserved_marker
    {
        return Err(err(
            "[exchange] booked_marker / reserved_marker".into(),
            "markers must be non-empty and different".into(),
        ));
    }
    if !(1..=4).contains(&x.max_concurrency) {
        return Err(err(
            "[exchange] max_concurrency".into(),
            "must be 1–4 (Outlook allows 4 per app)".into(),
        ));
    }
    if !(5..=86_400).contains(&x.hold_seconds) {
        return Err(err(
            "[exchange] hold_seconds".into(),
            format!("must be 5–86400 (got {})", x.hold_seconds),
        ));
    }
    if x.hold_max_seconds < x.hold_seconds || x.hold_max_seconds > 86_400 {
        return Err(err(
            "[exchange] hold_max_seconds".into(),
            format!(
                "must be at least hold_seconds ({}) and at most 86400 (got {})",
                x.hold_seconds, x.hold_max_seconds
            ),
        ));
    }
    if !(1..=10_000).contains(&x.max_reads_per_minute) {
        return Err(err(
            "[exchange] max_reads_per_minute".into(),
            format!("must be 1–10000 (got {})", x.max_reads_per_minute),
        ));
    }
    if !(1..=53).contains(&x.hold_sweep_weeks) {
        return Err(err(
            "[exchange] hold_sweep_weeks".into(),
            format!("must be 1–53 (got {})", x.hold_sweep_weeks),
        ));
    }
    // Any site could then book with the municipality's calendar credentials.
    let loopback_graph = url::Url::parse(&x.graph_base_url)
        .map(|u| is_loopback_ip(&u))
        .unwrap_or(false);
    if server.allowed_origins.iter().any(|o| o == "*") && !loopback_graph {
        return Err(err(
            "[server] allowed_origins".into(),
            "\"*\" would let any web site book with your calendar credentials; list the origins that embed Booket".into(),
        ));
    }
    let graph_scope = match x.graph_scope {
        Some(scope) => {
            let ok = url::Url::parse(&scope).is_ok_and(|u| {
                u.scheme() == "https" && u.host_str().is_some() && u.query().is_none()
            }) && scope.ends_with("/.default");
            if !ok {
                return Err(err(
                    "[exchange] graph_scope".into(),
                    format!("`{scope}` is not a scope like https://graph.microsoft.com/.default (the Graph resource of your cloud, ending in /.default)"),
                ));
            }
            scope
        }
        None => default_graph_scope(&x.graph_base_url, &x.login_base_url),
    };
    let exchange = ExchangeConfig {
        api: x.api,
        graph_scope,
        graph_base_url: x.graph_base_url.trim_end_matches('/').into(),
        login_base_url: x.login_base_url.trim_end_matches('/').into(),
        markers: Markers {
            booked: x.booked_marker,
            reserved: x.reserved_marker,
        },
        cache_ttl: std::time::Duration::from_secs(x.cache_ttl_seconds),
        max_concurrency: x.max_concurrency,
        retry_budget: std::time::Duration::from_secs(x.retry_budget_seconds),
        hold: std::time::Duration::from_secs(x.hold_seconds),
        hold_max: std::time::Duration::from_secs(x.hold_max_seconds),
        hold_sweep: std::time::Duration::from_secs(x.hold_sweep_seconds),
        hold_sweep_weeks: x.hold_sweep_weeks,
        max_reads_per_minute: x.max_reads_per_minute,
        scope_probe_mailbox: x
            .scope_probe_mailbox
            .map(|m| m.trim().to_owned())
            .filter(|m| !m.is_empty()),
        if_match_honoured: x.if_match_honoured,
    };
    Ok(exchange)
}

pub(super) fn scope_probe(
    exchange: &ExchangeConfig,
    calendars: &[CalendarConfig],
    mail: &MailConfig,
    file: &str,
) -> Result<(), ConfigError> {
    let err = errors(file);
    if let Some(probe) = &exchange.scope_probe_mailbox {
        let booking = calendars
            .iter()
            .map(|c| c.owner.as_str())
            .chain(mail.sending().map(|(_, user)| user));
        for m in booking {
            if m.eq_ignore_ascii_case(probe) {
                return Err(err(
                    "[exchange] scope_probe_mailbox".into(),
                    format!("`{probe}` is a mailbox Booket uses; name one the app must NOT reach"),
                ));
            }
        }
        if probe.contains('/') || probe.contains('?') || probe.contains('#') {
            return Err(err(
                "[exchange] scope_probe_mailbox".into(),
                format!("`{probe}` cannot be part of a Graph URL"),
            ));
        }
    }
    Ok(())
}
