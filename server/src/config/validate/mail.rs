//! `[mail]`: how confirmations are sent (Graph, EWS or off), with whose credentials,
//! and how many a day.

use super::{errors, ews_account};
use crate::config::raw::*;
use crate::config::*;

pub(super) fn mail(
    mail: Option<Mail>,
    calendars: &[CalendarConfig],
    file: &str,
    base: &Path,
) -> Result<(MailConfig, MailLimits), ConfigError> {
    let err = errors(file);
    let defaults = MailLimits::default();
    let mail_limits = MailLimits {
        per_recipient_per_day: mail
            .as_ref()
            .and_then(|m| m.max_per_recipient_per_day)
            .unwrap_or(defaults.per_recipient_per_day),
        per_client_per_day: mail
            .as_ref()
            .and_then(|m| m.max_per_client_per_day)
            .unwrap_or(defaults.per_client_per_day),
    };
    let mail = match mail {
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
    Ok((mail, mail_limits))
}
