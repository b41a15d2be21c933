//! From the file as written to the validated [`Config`]: every value checked, every secret
//! resolved, each mistake named by file, line, section, field and key path.
//!
//! (Long because each key has its own check and message; parsing is in `raw.rs`.)

use super::raw::*;
use super::*;

impl File {
    pub fn validate(self, file: &str, base: &Path) -> Result<Config, ConfigError> {
        let err = |place: String, message: String| {
            let key = key_of_place(&place);
            ConfigError::new(file, place, key, message)
        };
        let s = self.server;
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

        let x = self.exchange;
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

        let mut calendars = Vec::new();
        let mut names = HashSet::new();
        for (i, c) in self.calendars.into_iter().enumerate() {
            let err = |f: &str, message: String| {
                let place = if c.name.trim().is_empty() {
                    format!("[[calendars]] {f}")
                } else {
                    format!("[[calendars]] \"{}\" {f}", c.name)
                };
                ConfigError::new(file, place, Some(format!("calendars[{i}].{f}")), message)
            };
            if c.name.trim().is_empty() {
                return Err(err("name", "must not be empty".into()));
            }
            if !names.insert(c.name.clone()) {
                return Err(err("name", "is used by two calendars".into()));
            }
            let api = c.api.unwrap_or(x.api);
            let empty = String::new();
            let mut fields = vec![
                ("outlook_calendar", &c.outlook_calendar),
                ("owner", &c.owner),
            ];
            if api == ExchangeApi::Graph {
                fields.push(("tenant_id", c.tenant_id.as_ref().unwrap_or(&empty)));
                fields.push(("client_id", c.client_id.as_ref().unwrap_or(&empty)));
            }
            for (f, v) in fields {
                if v.trim().is_empty() {
                    return Err(err(f, "must not be empty".into()));
                }
                if v.contains('/') || v.contains('?') || v.contains('#') {
                    return Err(err(
                        f,
                        format!("`{v}` contains characters that cannot be part of a Graph URL"),
                    ));
                }
            }
            // Settings of the other API are a mistake worth naming, not something to ignore.
            let graph_only = [
                ("tenant_id", c.tenant_id.is_some()),
                ("client_id", c.client_id.is_some()),
                ("client_secret", c.client_secret.is_some()),
                ("certificate", c.certificate.is_some()),
                ("certificate_key", c.certificate_key.is_some()),
            ];
            let ews_only = [
                ("ews_url", c.ews_url.is_some()),
                ("auth", c.auth.is_some()),
                ("username", c.username.is_some()),
                ("domain", c.domain.is_some()),
                ("password", c.password.is_some()),
                ("access", c.access.is_some()),
                ("ews_request_limit_mb", c.ews_request_limit_mb.is_some()),
                ("ews_ca_file", c.ews_ca_file.is_some()),
            ];
            let (other, other_api): (&[(&str, bool)], _) = match api {
                ExchangeApi::Graph => (&ews_only, "ews"),
                ExchangeApi::Ews => (&graph_only, "graph"),
            };
            if let Some((f, _)) = other.iter().find(|(_, given)| *given) {
                return Err(err(
                    f,
                    format!(
                        "belongs to api = \"{other_api}\"; this calendar uses api = \"{}\"",
                        match api {
                            ExchangeApi::Graph => "graph",
                            ExchangeApi::Ews => "ews",
                        }
                    ),
                ));
            }
            let time_zone: chrono_tz::Tz = c.time_zone.parse().map_err(|_| {
                err(
                    "time_zone",
                    format!(
                        "`{}` is not an IANA time zone such as Europe/Copenhagen",
                        c.time_zone
                    ),
                )
            })?;
            let access = match api {
                ExchangeApi::Graph => CalendarAccess::Graph(crate::graph::AppCredentials {
                    credential: credential_of(
                        c.client_secret.as_ref(),
                        c.certificate.as_ref(),
                        c.certificate_key.as_ref(),
                        base,
                        |f, m| err(f, m),
                    )?,
                    tenant_id: c.tenant_id.clone().unwrap_or_default(),
                    client_id: c.client_id.clone().unwrap_or_default(),
                }),
                ExchangeApi::Ews => CalendarAccess::Ews(ews_account(c.ews_fields(), base, &err)?),
            };
            calendars.push(CalendarConfig {
                name: c.name.clone(),
                outlook_calendar: c.outlook_calendar,
                owner: c.owner,
                access,
                time_zone,
            });
        }

        let defaults = MailLimits::default();
        let mail_limits = MailLimits {
            per_recipient_per_day: self
                .mail
                .as_ref()
                .and_then(|m| m.max_per_recipient_per_day)
                .unwrap_or(defaults.per_recipient_per_day),
            per_client_per_day: self
                .mail
                .as_ref()
                .and_then(|m| m.max_per_client_per_day)
                .unwrap_or(defaults.per_client_per_day),
        };
        let mail = match self.mail {
            None => MailConfig::Off,
            Some(m) if m.protocol == MailProtocol::Off => MailConfig::Off,
            Some(m) if m.protocol == MailProtocol::Ews => {
                let need = |f: &str, v: Option<String>| {
                    v.filter(|v| !v.trim().is_empty()).ok_or_else(|| {
                        err(
                            format!("[mail] {f}"),
                            "is required when protocol = \"ews\"".into(),
                        )
                    })
                };
                let graph_fields = [
                    ("tenant_id", m.tenant_id.is_some()),
                    ("client_id", m.client_id.is_some()),
                    ("client_secret", m.client_secret.is_some()),
                    ("certificate", m.certificate.is_some()),
                    ("certificate_key", m.certificate_key.is_some()),
                ];
                if let Some((f, _)) = graph_fields.iter().find(|(_, given)| *given) {
                    return Err(err(
                        format!("[mail] {f}"),
                        "belongs to protocol = \"graph\"; this mail uses protocol = \"ews\"".into(),
                    ));
                }
                let own = m.has_ews_account();
                let account = match m.credentials_from_calendar.clone() {
                    Some(_) if own => {
                        return Err(err(
                            "[mail] credentials_from_calendar".into(),
                            "give either credentials_from_calendar or the mail's own ews_url, username and password, not both".into(),
                        ))
                    }
                    None => ews_account(m.ews_fields(), base, &|f: &str, msg| {
                        err(format!("[mail] {f}"), msg)
                    })?,
                    Some(name) => match calendars.iter().find(|c| c.name == name).map(|c| &c.access) {
                    Some(CalendarAccess::Ews(a)) => a.clone(),
                    Some(CalendarAccess::Graph(_)) => {
                        return Err(err(
                            "[mail] credentials_from_calendar".into(),
                            format!("calendar \"{name}\" uses Graph; protocol = \"ews\" sends with an EWS calendar's service account"),
                        ))
                    }
                    None => {
                        return Err(err(
                            "[mail] credentials_from_calendar".into(),
                            format!("no calendar named \"{name}\""),
                        ))
                    }
                    },
                };
                MailConfig::Ews {
                    account,
                    sender: need("sender", m.sender)?,
                    user: need("user", m.user)?,
                }
            }
            Some(m) => {
                if m.has_ews_account() {
                    return Err(err(
                        "[mail] ews_url".into(),
                        "and the other EWS account fields belong to protocol = \"ews\"; this mail uses protocol = \"graph\"".into(),
                    ));
                }
                let need = |f: &str, v: Option<String>| {
                    v.filter(|v| !v.trim().is_empty()).ok_or_else(|| {
                        err(
                            format!("[mail] {f}"),
                            "is required when protocol = \"graph\"".into(),
                        )
                    })
                };
                let (tenant_id, client_id, credential) = match &m.credentials_from_calendar {
                    Some(name) => {
                        let c = calendars.iter().find(|c| &c.name == name).ok_or_else(|| {
                            err(
                                "[mail] credentials_from_calendar".into(),
                                format!("no calendar named \"{name}\""),
                            )
                        })?;
                        let app = c.credentials().ok_or_else(|| {
                            err(
                                "[mail] credentials_from_calendar".into(),
                                format!("calendar \"{name}\" is reached through EWS; mail through Graph needs an Entra app"),
                            )
                        })?;
                        (app.tenant_id, app.client_id, app.credential)
                    }
                    None => (
                        need("tenant_id", m.tenant_id)?,
                        need("client_id", m.client_id)?,
                        credential_of(
                            m.client_secret.as_ref(),
                            m.certificate.as_ref(),
                            m.certificate_key.as_ref(),
                            base,
                            |f, msg| err(format!("[mail] {f}"), msg),
                        )?,
                    ),
                };
                MailConfig::Graph {
                    tenant_id,
                    client_id,
                    credential,
                    sender: need("sender", m.sender)?,
                    user: need("user", m.user)?,
                }
            }
        };

        if let Some(probe) = &exchange.scope_probe_mailbox {
            let booking = calendars
                .iter()
                .map(|c| c.owner.as_str())
                .chain(mail.sending().map(|(_, user)| user));
            for m in booking {
                if m.eq_ignore_ascii_case(probe) {
                    return Err(err(
                        "[exchange] scope_probe_mailbox".into(),
                        format!(
                            "`{probe}` is a mailbox Booket uses; name one the app must NOT reach"
                        ),
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

        let mut forms = Vec::new();
        let mut form_ids = HashSet::new();
        for (i, f) in self.forms.into_iter().enumerate() {
            let form_err = |message: &str| {
                ConfigError::new(
                    file,
                    format!("[[forms]] \"{}\" id", f.id),
                    Some(format!("forms[{i}].id")),
                    message.into(),
                )
            };
            if !is_valid_name(&f.id) {
                return Err(form_err("must match [a-z0-9_-]+ (at most 64)"));
            }
            if !form_ids.insert(f.id.clone()) {
                return Err(form_err("is used by two forms"));
            }
            let mut elements = Vec::new();
            let mut el_names = HashSet::new();
            for (j, e) in f.elements.into_iter().enumerate() {
                let err = |field: &str, message: String| {
                    ConfigError::new(
                        file,
                        format!("[[forms]] \"{}\" element \"{}\" {field}", f.id, e.name),
                        Some(format!("forms[{i}].elements[{j}].{field}")),
                        message,
                    )
                };
                if !el_names.insert(e.name.clone()) {
                    return Err(err("name", "is used twice in this form".into()));
                }
                let names: Vec<&str> = calendars.iter().map(|c| c.name.as_str()).collect();
                let element = e
                    .clone()
                    .validate(&names)
                    .map_err(|(field, message)| err(field, message))?;
                elements.push(element);
            }
            let session_key = match &f.session_key {
                Some(r) => {
                    let key = r.resolve(base, |m| {
                        ConfigError::new(
                            file,
                            format!("[[forms]] \"{}\" session_key", f.id),
                            Some(format!("forms[{i}].session_key")),
                            m,
                        )
                    })?;
                    if secrecy::ExposeSecret::expose_secret(&key).len() < 32 {
                        return Err(ConfigError::new(
                            file,
                            format!("[[forms]] \"{}\" session_key", f.id),
                            Some(format!("forms[{i}].session_key")),
                            "must be at least 32 bytes".into(),
                        ));
                    }
                    Some(key)
                }
                None => None,
            };
            forms.push(FormConfig {
                id: f.id,
                title: f.title,
                email_field: f.email_field,
                elements,
                session_key,
            });
        }
        let r = self.receipts;
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
        Ok(Config {
            server,
            exchange,
            calendars,
            mail,
            mail_limits,
            forms,
            receipts: ReceiptConfig {
                signing_key,
                previous_keys,
                lifetime: std::time::Duration::from_secs(r.lifetime_hours * 3600),
            },
            deprecated: Vec::new(),
        })
    }
}

/// An EWS service account (a calendar's, or `[mail]`'s own): `ews_url` over TLS (plain HTTP only to this machine,
/// for the simulator), `auth` (NTLM by default), `username`, optional `domain`, `password`
/// by reference, `access` (impersonation by default).
fn ews_account(
    c: super::raw::EwsFields<'_>,
    base: &Path,
    err: &impl Fn(&str, String) -> ConfigError,
) -> Result<EwsAccount, ConfigError> {
    let Some(raw_url) = c.ews_url.map(str::trim).filter(|u| !u.is_empty()) else {
        return Err(err(
            "ews_url",
            "is required for EWS (like https://mail.kommune.dk/EWS/Exchange.asmx)".into(),
        ));
    };
    let url = url::Url::parse(raw_url)
        .ok()
        .filter(|u| u.host_str().is_some() && u.query().is_none() && u.fragment().is_none())
        .ok_or_else(|| {
            err(
                "ews_url",
                format!("`{raw_url}` is not a URL like https://mail.kommune.dk/EWS/Exchange.asmx"),
            )
        })?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_ip(&url) => {}
        _ => {
            return Err(err(
                "ews_url",
                format!("`{raw_url}` must use https: the password and the calendar travel over it"),
            ))
        }
    }
    let username = c
        .username
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| {
            err(
                "username",
                "is required for EWS (the service account)".into(),
            )
        })?;
    let password = c
        .password
        .ok_or_else(|| {
            err(
                "password",
                "is required for EWS, by reference: { env = \"VAR\" } or { file = \"path\" }"
                    .into(),
            )
        })?
        .resolve(base, |m| err("password", m))?;
    let auth = c.auth.unwrap_or(EwsAuth::Ntlm);
    let extra_roots = match c.ews_ca_file {
        None => Vec::new(),
        Some(path) => {
            let path = base.join(path);
            let text = std::fs::read(&path).map_err(|e| {
                err(
                    "ews_ca_file",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            let roots: Vec<Vec<u8>> = pem::parse_many(&text)
                .map_err(|e| err("ews_ca_file", format!("{} is not PEM: {e}", path.display())))?
                .into_iter()
                .filter(|p| p.tag() == "CERTIFICATE")
                .map(|p| p.into_contents())
                .collect();
            if roots.is_empty() {
                return Err(err(
                    "ews_ca_file",
                    format!(
                        "{} holds no certificate (-----BEGIN CERTIFICATE-----)",
                        path.display()
                    ),
                ));
            }
            let mut store = rustls::RootCertStore::empty();
            for der in &roots {
                let added = if super::certificates::is_certificate(der) {
                    store
                        .add(rustls::pki_types::CertificateDer::from(der.as_slice()))
                        .map_err(|e| e.to_string())
                } else {
                    Err("not X.509".into())
                };
                added.map_err(|e| {
                    err(
                        "ews_ca_file",
                        format!(
                            "{} is not a certificate a TLS client can trust: {e}",
                            path.display()
                        ),
                    )
                })?;
            }
            roots
        }
    };
    let limit_mb = c.ews_request_limit_mb.unwrap_or(64);
    if !(1..=2048).contains(&limit_mb) {
        return Err(err(
            "ews_request_limit_mb",
            format!("must be 1–2048 (the EWS virtual directory's maxAllowedContentLength in MB; got {limit_mb})"),
        ));
    }
    Ok(EwsAccount {
        request_limit: limit_mb as usize * 1024 * 1024,
        url: url.as_str().to_owned(),
        auth,
        username: username.to_owned(),
        domain: c
            .domain
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_owned),
        password,
        access: c.access.unwrap_or(EwsAccess::Impersonation),
        extra_roots,
    })
}
