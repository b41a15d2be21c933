//! `[[forms]]` and their `[[forms.elements]]`: ids, names, calendars and session keys.

use crate::config::raw::*;
use crate::config::*;

/// A webhook's address: HTTPS, or plain HTTP only to this machine (a receiver beside
/// Booket, tests).
fn webhook_url(raw: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(raw)
        .map_err(|_| "is not a URL (like https://blanket.kommune.dk/booket-events)".to_string())?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err("must be an https:// URL (plain http only to this machine)".into()),
    }
}

pub(super) fn forms(
    list: Vec<Form>,
    calendars: &[CalendarConfig],
    file: &str,
    base: &Path,
) -> Result<Vec<FormConfig>, ConfigError> {
    let mut forms = Vec::new();
    let mut form_ids = HashSet::new();
    for (i, f) in list.into_iter().enumerate() {
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
        let webhook_url = match f.webhook_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => Some(webhook_url(raw).map_err(|m| {
                ConfigError::new(
                    file,
                    format!("[[forms]] \"{}\" webhook_url", f.id),
                    Some(format!("forms[{i}].webhook_url")),
                    m,
                )
            })?),
        };
        forms.push(FormConfig {
            id: f.id,
            title: f.title,
            email_field: f.email_field,
            elements,
            session_key,
            webhook_url,
        });
    }
    Ok(forms)
}
