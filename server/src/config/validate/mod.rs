//! From the file as written to the validated [`Config`]: every value checked, every secret
//! resolved, each mistake named by file, line, section, field and key path. One file per
//! section of the file; parsing is in `raw.rs`.

mod calendars;
mod exchange;
mod forms;
mod mail;
mod receipts;
mod server;
mod store;

use super::raw::*;
use super::*;

impl File {
    pub fn validate(self, file: &str, base: &Path) -> Result<Config, ConfigError> {
        let server = server::server(self.server, file, base)?;
        let default_api = self.exchange.api;
        let exchange = exchange::exchange(self.exchange, &server, file)?;
        let calendars = calendars::calendars(self.calendars, default_api, file, base)?;
        let (mail, mail_limits) = mail::mail(self.mail, &calendars, file, base)?;
        exchange::scope_probe(&exchange, &calendars, &mail, file)?;
        let forms = forms::forms(self.forms, &calendars, file, base)?;
        let receipts = receipts::receipts(self.receipts, file, base)?;
        if let Some(f) = forms.iter().find(|f| f.webhook_url.is_some()) {
            if receipts.signing_key.is_none() {
                return Err(ConfigError::new(
                    file,
                    format!("[[forms]] \"{}\" webhook_url", f.id),
                    None,
                    "needs [receipts] signing_key: the events are signed with it".into(),
                ));
            }
        }
        let store = store::store(self.store, &exchange, file, base)?;
        Ok(Config {
            server,
            exchange,
            calendars,
            mail,
            mail_limits,
            forms,
            receipts,
            store,
            deprecated: Vec::new(),
        })
    }
}

/// A mistake at `place` (`[section] key`), with the key path worked out from it.
fn errors(file: &str) -> impl Fn(String, String) -> ConfigError + '_ {
    move |place: String, message: String| {
        let key = key_of_place(&place);
        ConfigError::new(file, place, key, message)
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
                let added = if crate::der::is_certificate(der) {
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
