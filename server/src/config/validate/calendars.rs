//! `[[calendars]]`: names, the API of each, and its credentials (a Graph app or an EWS
//! service account), never the other API's settings.

use super::ews_account;
use crate::config::raw::*;
use crate::config::*;

pub(super) fn calendars(
    list: Vec<Calendar>,
    default_api: ExchangeApi,
    file: &str,
    base: &Path,
) -> Result<Vec<CalendarConfig>, ConfigError> {
    let mut calendars = Vec::new();
    let mut names = HashSet::new();
    for (i, c) in list.into_iter().enumerate() {
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
        let api = c.api.unwrap_or(default_api);
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
            outlook_calendar: crate::mailbox::CalendarName::new(c.outlook_calendar),
            owner: c.owner,
            access,
            time_zone,
        });
    }
    Ok(calendars)
}
