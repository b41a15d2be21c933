//! Typed configuration: one TOML file, secrets by reference (env var or file), validated
//! at start-up with messages that name the file, the section and the field.

use crate::graph::ClientCredential;
use app::domain::{is_valid_name, Markers, Window};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// A configuration problem, phrased for the administrator who has to fix it: the file,
/// the line where it can be seen, the section and field in words and as a key path
/// (`server.listen`, `calendars[1].outlook_calendar`), and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {place}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default(), key.as_ref().filter(|k| *k != place).map(|k| format!(" ({k})")).unwrap_or_default())]
pub struct ConfigError {
    pub file: String,
    pub place: String,
    /// Where in the file's structure, as a key path.
    pub key: Option<String>,
    /// 1-based line of the key (or of its table when the key is missing).
    pub line: Option<usize>,
    pub message: String,
}

impl ConfigError {
    fn new(file: &str, place: String, key: Option<String>, message: String) -> ConfigError {
        ConfigError {
            file: file.into(),
            place,
            key,
            line: None,
            message,
        }
    }

    /// Fills in the line from the key path, when the key (or its table) is in `text`.
    fn located(mut self, text: &str) -> ConfigError {
        if self.line.is_none() {
            if let Some(key) = &self.key {
                self.line = locate::line_of(text, key);
            }
        }
        self
    }
}

/// `[server] listen` → `server.listen` (sections without entries; entries of
/// `[[calendars]]` and `[[forms]]` give their key path themselves).
fn key_of_place(place: &str) -> Option<String> {
    let rest = place.strip_prefix('[')?;
    let (section, field) = rest.split_once("] ")?;
    let field = field.split(" / ").next()?;
    (!section.starts_with('[')).then(|| format!("{section}.{field}"))
}

mod locate {
    //! Finds the line of a key path in the TOML text, for messages.

    /// `calendars[1].outlook_calendar` → `[Key("calendars"), Index(1), Key("outlook_calendar")]`
    fn steps(path: &str) -> Vec<Result<&str, usize>> {
        let mut out = Vec::new();
        for part in path.split('.') {
            let mut rest = part;
            if let Some(i) = rest.find('[') {
                out.push(Ok(&rest[..i]));
                rest = &rest[i..];
                while let Some(close) = rest.find(']') {
                    if let Ok(n) = rest[1..close].parse() {
                        out.push(Err(n));
                    }
                    rest = &rest[close + 1..];
                }
            } else {
                out.push(Ok(rest));
            }
        }
        out
    }

    /// The line of the deepest part of `path` found in `text`.
    pub fn line_of(text: &str, path: &str) -> Option<usize> {
        let doc = toml_edit::ImDocument::parse(text).ok()?;
        let mut item: &toml_edit::Item = doc.as_item();
        let mut span = None;
        for step in steps(path) {
            let next = match step {
                Ok(key) => item.get(key),
                Err(i) => item.get(i),
            };
            match next {
                Some(n) => {
                    item = n;
                    let here = match n {
                        toml_edit::Item::Table(t) => t.span(),
                        toml_edit::Item::Value(v) => v.span(),
                        _ => None,
                    };
                    span = here.or(span);
                }
                None => break,
            }
        }
        let start = span?.start.min(text.len());
        Some(text[..start].matches('\n').count() + 1)
    }
}

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub exchange: ExchangeConfig,
    pub calendars: Vec<CalendarConfig>,
    pub mail: MailConfig,
    /// Confirmation mails per day at most (`[mail]`).
    pub mail_limits: MailLimits,
    pub forms: Vec<FormConfig>,
    /// How receipts are signed (`[receipts]`).
    pub receipts: ReceiptConfig,
}

/// `[receipts]`: the key receipts are signed with, keys retired from signing, and how long
/// a receipt is valid.
#[derive(Debug, Clone)]
pub struct ReceiptConfig {
    /// P-256 private key (PKCS#8 PEM). Without one, receipts are not signed (`booket
    /// check` fails on it; the demo generates one).
    pub signing_key: Option<SecretString>,
    /// Keys that signed before, with when they stopped: published until their receipts
    /// have expired.
    pub previous_keys: Vec<(SecretString, chrono::DateTime<chrono::Utc>)>,
    pub lifetime: std::time::Duration,
}

impl Default for ReceiptConfig {
    fn default() -> Self {
        ReceiptConfig {
            signing_key: None,
            previous_keys: Vec::new(),
            lifetime: std::time::Duration::from_secs(7 * 24 * 3600),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailLimits {
    pub per_recipient_per_day: u32,
    pub per_client_per_day: u32,
}

impl Default for MailLimits {
    fn default() -> Self {
        MailLimits {
            per_recipient_per_day: 3,
            per_client_per_day: 10,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// The address citizens' browsers reach Booket at; its origin is Booket's own.
    pub public_url: String,
    /// Whether `public_url` was configured (else it follows the bound listener).
    pub public_url_configured: bool,
    /// Origins allowed to embed the widget (CORS). Same-origin needs none.
    pub allowed_origins: Vec<String>,
    /// Largest request body accepted, in bytes (all calls but the one with files).
    pub max_body_bytes: usize,
    /// Limits on the files a booking sends along.
    pub uploads: UploadLimits,
    /// Reserve, release and book calls allowed per client per minute.
    pub rate_limit_per_minute: u32,
    /// Active holds one client (address; IPv6 /64) may have at once.
    pub max_holds_per_client: usize,
    /// Element and week reads allowed per client per minute.
    pub read_rate_limit_per_minute: u32,
    /// Reverse proxies whose forwarding header names the client (addresses or CIDRs).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Which forwarding header they write.
    pub forwarded_header: crate::clients::ForwardedHeader,
    /// Bookings that read files at once; more wait briefly, then are told to try again.
    pub max_concurrent_uploads: usize,
    /// Longest time for a whole request, and for a booking with files.
    pub request_timeout: std::time::Duration,
    pub upload_timeout: std::time::Duration,
    /// Longest wait for the next piece of a request body.
    pub body_timeout: std::time::Duration,
    /// Longest time a client may take to send a request's headers.
    pub header_timeout: std::time::Duration,
    /// Key that signs slot ids (at least 32 bytes). All instances behind one load balancer
    /// need the same key; `booket serve` requires one (the demo makes a random one).
    pub slot_key: Option<SecretString>,
    /// Earlier keys, still accepted for ids they signed, so a key can be rotated without
    /// refusing the ids citizens' open pages hold.
    pub previous_slot_keys: Vec<SecretString>,
    /// Bearer token that `/metrics` on the public listener requires (without one it is
    /// not served there).
    pub metrics_token: Option<SecretString>,
    /// The private listener: `/metrics` (no token needed there), `/healthz`, `/readyz`.
    pub private_listen: Option<SocketAddr>,
    /// How long requests under way may take to finish after SIGTERM.
    pub shutdown_grace: std::time::Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadLimits {
    pub max_files: usize,
    /// Per file.
    pub max_file_bytes: usize,
    /// All files of one booking together (Exchange's default message limit is 35 MB).
    pub max_total_bytes: usize,
    /// Allowed file name extensions, lower case, without the dot.
    pub allowed_types: Vec<String>,
}

impl Default for UploadLimits {
    fn default() -> Self {
        UploadLimits {
            max_files: 10,
            max_file_bytes: 25 * 1024 * 1024,
            max_total_bytes: 30 * 1024 * 1024,
            // Not doc, xls or rtf: legacy formats that can carry macros or exploits, opened
            // by staff in Outlook. An administrator may add them (README, Hardening).
            allowed_types: [
                "pdf", "png", "jpg", "jpeg", "gif", "heic", "tif", "tiff", "txt", "docx", "odt",
                "xlsx", "ods", "csv",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExchangeApi {
    Graph,
    OnPremise,
}

#[derive(Debug, Clone)]
pub struct ExchangeConfig {
    pub api: ExchangeApi,
    pub graph_base_url: String,
    pub login_base_url: String,
    /// The resource Entra issues tokens for (`<Graph resource>/.default`), independent of
    /// the address Graph is called at (a gateway or egress proxy may stand in between).
    pub graph_scope: String,
    pub markers: Markers,
    /// How long a week of events is served from memory.
    pub cache_ttl: std::time::Duration,
    /// Graph requests in flight per app (client id); Outlook allows 4.
    pub max_concurrency: usize,
    /// Upper bound on the time spent waiting for throttled or unavailable Graph calls.
    pub retry_budget: std::time::Duration,
    /// How long a reservation (" - Reserveret") holds a slot for a citizen.
    pub hold: std::time::Duration,
    /// The longest a citizen may hold one slot, extensions included.
    pub hold_max: std::time::Duration,
    /// How often lapsed holds are given back in Outlook (zero: never).
    pub hold_sweep: std::time::Duration,
    /// How many weeks ahead (from this week) the sweep looks.
    pub hold_sweep_weeks: u64,
    /// Graph reads per calendar and minute at most; past it, the last good week is served.
    pub max_graph_reads_per_minute: u32,
    /// A mailbox the app must NOT reach: `booket check` proves the app is restricted to
    /// the booking mailboxes by being refused there.
    pub scope_probe_mailbox: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CalendarConfig {
    /// Display name (Navn): what elements refer to and what receipts show.
    pub name: String,
    /// The calendar's name as Outlook shows it (Kalendernavn).
    pub outlook_calendar: String,
    /// Owner mailbox (UPN or object id).
    pub owner: String,
    pub tenant_id: String,
    pub client_id: String,
    /// A client secret, or a certificate with its key.
    pub credential: ClientCredential,
    pub time_zone: chrono_tz::Tz,
}

#[derive(Debug, Clone)]
pub enum MailConfig {
    Off,
    Graph {
        tenant_id: String,
        client_id: String,
        credential: ClientCredential,
        sender: String,
        user: String,
    },
}

#[derive(Debug, Clone)]
pub struct FormConfig {
    pub id: String,
    pub title: String,
    pub email_field: Option<String>,
    pub elements: Vec<ElementConfig>,
    /// The key this form's backend signs citizen session tokens with (HS256, at least 32
    /// bytes). With a valid token the limits on holds count per citizen.
    pub session_key: Option<SecretString>,
}

#[derive(Debug, Clone)]
pub struct ElementConfig {
    pub name: String,
    pub heading: String,
    pub description: String,
    pub info_text: String,
    pub required: bool,
    pub show_weekend: bool,
    pub attach_documents: bool,
    pub notify_attendees: bool,
    pub attach_summary: bool,
    pub calendar: String,
    pub first_hour: u8,
    pub last_hour: u8,
    pub notice_days: u16,
}

impl ElementConfig {
    pub fn window(&self) -> Window {
        Window {
            first_hour: self.first_hour,
            last_hour: self.last_hour,
            show_weekend: self.show_weekend,
            notice_days: self.notice_days,
        }
    }
}

impl Config {
    pub fn form(&self, id: &str) -> Option<&FormConfig> {
        self.forms.iter().find(|f| f.id == id)
    }

    pub fn element(&self, form: &str, element: &str) -> Option<(&FormConfig, &ElementConfig)> {
        let f = self.form(form)?;
        f.elements
            .iter()
            .find(|e| e.name == element)
            .map(|e| (f, e))
    }

    pub fn calendar(&self, name: &str) -> Option<&CalendarConfig> {
        self.calendars.iter().find(|c| c.name == name)
    }

    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(&file, "file".into(), None, format!("cannot be read: {e}"))
        })?;
        Self::parse(&text, &file, path.parent().unwrap_or(Path::new(".")))
    }

    /// Parses configuration text; `file` names it in messages, `base` resolves relative
    /// secret file paths.
    pub fn parse(text: &str, file: &str, base: &Path) -> Result<Config, ConfigError> {
        let de = toml::Deserializer::new(text);
        let raw: raw::File = serde_path_to_error::deserialize(de).map_err(|e| {
            let mut key = e.path().to_string();
            let inner = e.into_inner();
            let mut message = inner.message().to_string();
            // A missing field is reported at its table; name the field in the path too.
            if let Some(field) = message
                .strip_prefix("missing field `")
                .and_then(|r| r.strip_suffix('`'))
            {
                key = if key == "." {
                    field.to_owned()
                } else {
                    format!("{key}.{field}")
                };
                message = "is required".into();
            }
            let line = inner
                .span()
                .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
            let key = (key != ".").then_some(key);
            let mut error = ConfigError::new(
                file,
                key.clone().unwrap_or_else(|| "syntax".into()),
                key,
                message,
            );
            error.line = line;
            error.located(text)
        })?;
        raw.validate(file, base).map_err(|e| e.located(text))
    }
}

/// Where a secret comes from. Exactly one of `env` or `file`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    pub env: Option<String>,
    pub file: Option<PathBuf>,
}

impl SecretRef {
    fn resolve(
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

/// `[mail] protocol`: how confirmations are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MailProtocol {
    Graph,
    Off,
}

/// An app's credential: `client_secret`, or `certificate` with `certificate_key` (all by
/// reference). `err` takes the field name.
fn credential_of(
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

/// Whether a URL's host is a loopback IP address (parsed, so `127.evil.example` is not).
fn is_loopback_ip(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    }
}

/// The Graph resource of each national cloud, by the hosts its Graph root and its token
/// authority are reached at (graph-notes §9).
const CLOUDS: [(&str, &str, &str); 4] = [
    // (Graph host, login host, scope)
    (
        "graph.microsoft.com",
        "login.microsoftonline.com",
        "https://graph.microsoft.com/.default",
    ),
    (
        "graph.microsoft.us",
        "login.microsoftonline.us",
        "https://graph.microsoft.us/.default",
    ),
    (
        "dod-graph.microsoft.us",
        "",
        "https://dod-graph.microsoft.us/.default",
    ),
    (
        "microsoftgraph.chinacloudapi.cn",
        "login.chinacloudapi.cn",
        "https://microsoftgraph.chinacloudapi.cn/.default",
    ),
];

/// The scope to ask Entra for when `graph_scope` is not set: the cloud whose Graph host
/// `graph_base_url` names, else the cloud of `login_base_url` (Graph behind a gateway or
/// proxy), else the global cloud. Never the address itself: Entra issues tokens for the
/// resource, not for whatever host relays the calls.
pub fn default_graph_scope(graph_base_url: &str, login_base_url: &str) -> String {
    let host = |u: &str| {
        url::Url::parse(u)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
            .unwrap_or_default()
    };
    let (graph, login) = (host(graph_base_url), host(login_base_url));
    CLOUDS
        .iter()
        .find(|(g, _, _)| *g == graph)
        .or_else(|| CLOUDS.iter().find(|(_, l, _)| !l.is_empty() && *l == login))
        .map_or(CLOUDS[0].2, |(_, _, scope)| scope)
        .to_owned()
}

pub use raw::Element as ElementDraft;

mod raw {
    //! The file as written, before validation.
    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct File {
        #[serde(default)]
        pub server: Server,
        #[serde(default)]
        pub exchange: Exchange,
        #[serde(default)]
        pub calendars: Vec<Calendar>,
        #[serde(default)]
        pub mail: Option<Mail>,
        #[serde(default)]
        pub forms: Vec<Form>,
        #[serde(default)]
        pub receipts: Receipts,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, default)]
    pub struct Receipts {
        pub signing_key: Option<SecretRef>,
        pub lifetime_hours: u64,
        pub previous_keys: Vec<PreviousKey>,
    }

    impl Default for Receipts {
        fn default() -> Self {
            Receipts {
                signing_key: None,
                lifetime_hours: 7 * 24,
                previous_keys: Vec::new(),
            }
        }
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct PreviousKey {
        pub key: SecretRef,
        pub retired_at: String,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, default)]
    pub struct Server {
        pub listen: String,
        pub public_url: Option<String>,
        pub allowed_origins: Vec<String>,
        pub max_body_bytes: usize,
        pub slot_key: Option<SecretRef>,
        pub previous_slot_keys: Vec<SecretRef>,
        pub metrics_token: Option<SecretRef>,
        /// `metrics_listen` is its older name.
        #[serde(alias = "metrics_listen")]
        pub private_listen: Option<String>,
        pub shutdown_grace_seconds: u64,
        pub max_files: usize,
        pub max_file_mb: usize,
        pub max_total_mb: usize,
        pub allowed_file_types: Vec<String>,
        pub rate_limit_per_minute: u32,
        pub max_holds_per_client: usize,
        pub read_rate_limit_per_minute: u32,
        pub trusted_proxies: Vec<String>,
        pub forwarded_header: crate::clients::ForwardedHeader,
        pub max_concurrent_uploads: usize,
        pub request_timeout_seconds: u64,
        pub upload_timeout_seconds: u64,
        pub body_timeout_seconds: u64,
        pub header_timeout_seconds: u64,
    }

    impl Default for Server {
        fn default() -> Self {
            Server {
                listen: "127.0.0.1:3000".into(),
                public_url: None,
                allowed_origins: vec![],
                max_body_bytes: 64 * 1024,
                slot_key: None,
                previous_slot_keys: vec![],
                metrics_token: None,
                private_listen: None,
                shutdown_grace_seconds: 25,
                max_files: UploadLimits::default().max_files,
                max_file_mb: 25,
                max_total_mb: 30,
                allowed_file_types: UploadLimits::default().allowed_types,
                rate_limit_per_minute: 30,
                max_holds_per_client: 20,
                read_rate_limit_per_minute: 240,
                trusted_proxies: vec![],
                forwarded_header: Default::default(),
                max_concurrent_uploads: 8,
                request_timeout_seconds: 60,
                upload_timeout_seconds: 600,
                body_timeout_seconds: 20,
                header_timeout_seconds: 10,
            }
        }
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, default)]
    pub struct Exchange {
        pub api: ExchangeApi,
        pub graph_base_url: String,
        pub login_base_url: String,
        pub graph_scope: Option<String>,
        pub booked_marker: String,
        pub reserved_marker: String,
        pub cache_ttl_seconds: u64,
        pub max_concurrency: usize,
        pub retry_budget_seconds: u64,
        pub hold_seconds: u64,
        pub hold_max_seconds: u64,
        pub hold_sweep_seconds: u64,
        pub hold_sweep_weeks: u64,
        pub max_graph_reads_per_minute: u32,
        pub scope_probe_mailbox: Option<String>,
    }

    impl Default for Exchange {
        fn default() -> Self {
            Exchange {
                api: ExchangeApi::Graph,
                graph_base_url: "https://graph.microsoft.com/v1.0".into(),
                login_base_url: "https://login.microsoftonline.com".into(),
                graph_scope: None,
                booked_marker: Markers::default().booked,
                reserved_marker: Markers::default().reserved,
                cache_ttl_seconds: 10,
                max_concurrency: 4,
                retry_budget_seconds: 20,
                hold_seconds: 900,
                hold_max_seconds: 1800,
                hold_sweep_seconds: 60,
                hold_sweep_weeks: 8,
                max_graph_reads_per_minute: 120,
                scope_probe_mailbox: None,
            }
        }
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Calendar {
        pub name: String,
        pub outlook_calendar: String,
        pub owner: String,
        pub tenant_id: String,
        pub client_id: String,
        pub client_secret: Option<SecretRef>,
        /// Instead of a secret: the certificate registered on the app (PEM) and its key.
        pub certificate: Option<SecretRef>,
        pub certificate_key: Option<SecretRef>,
        #[serde(default = "default_tz")]
        pub time_zone: String,
    }

    fn default_tz() -> String {
        "Europe/Copenhagen".into()
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Mail {
        pub protocol: MailProtocol,
        pub tenant_id: Option<String>,
        pub client_id: Option<String>,
        pub client_secret: Option<SecretRef>,
        pub certificate: Option<SecretRef>,
        pub certificate_key: Option<SecretRef>,
        /// Reuse the credentials of this calendar (by display name).
        pub credentials_from_calendar: Option<String>,
        pub sender: Option<String>,
        pub user: Option<String>,
        pub max_per_recipient_per_day: Option<u32>,
        pub max_per_client_per_day: Option<u32>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Form {
        pub id: String,
        pub title: String,
        pub email_field: Option<String>,
        #[serde(default)]
        pub elements: Vec<Element>,
        pub session_key: Option<SecretRef>,
    }

    /// A booking element as written in the file (or drafted in the designer preview).
    #[derive(Deserialize, Clone, Debug, Default)]
    #[serde(deny_unknown_fields)]
    pub struct Element {
        pub name: String,
        #[serde(default)]
        pub heading: String,
        #[serde(default)]
        pub description: String,
        #[serde(default)]
        pub info_text: String,
        #[serde(default)]
        pub required: bool,
        #[serde(default)]
        pub show_weekend: bool,
        #[serde(default)]
        pub attach_documents: bool,
        #[serde(default)]
        pub notify_attendees: bool,
        #[serde(default)]
        pub attach_summary: bool,
        pub calendar: String,
        #[serde(default = "default_first")]
        pub first_hour: i64,
        #[serde(default = "default_last")]
        pub last_hour: i64,
        #[serde(default)]
        pub notice_days: i64,
    }

    impl Element {
        /// Checks the element on its own (names, hours, notice, calendar); errors name the
        /// field and say what is allowed.
        pub fn validate(self, calendars: &[&str]) -> Result<ElementConfig, (&'static str, String)> {
            if !is_valid_name(&self.name) {
                return Err(("name", "must match [a-z0-9_-]+ (at most 64)".into()));
            }
            if !calendars.contains(&self.calendar.as_str()) {
                return Err((
                    "calendar",
                    format!("no calendar named \"{}\" in [[calendars]]", self.calendar),
                ));
            }
            if !(0..=23).contains(&self.first_hour) {
                return Err((
                    "first_hour",
                    format!("must be 0–23 (got {})", self.first_hour),
                ));
            }
            if !(1..=24).contains(&self.last_hour) || self.last_hour <= self.first_hour {
                return Err((
                    "last_hour",
                    format!(
                        "must be 1–24 and greater than first_hour (got {})",
                        self.last_hour
                    ),
                ));
            }
            if !(0..=365).contains(&self.notice_days) {
                return Err((
                    "notice_days",
                    format!("must be 0–365 (got {})", self.notice_days),
                ));
            }
            Ok(ElementConfig {
                name: self.name,
                heading: self.heading,
                description: self.description,
                info_text: self.info_text,
                required: self.required,
                show_weekend: self.show_weekend,
                attach_documents: self.attach_documents,
                notify_attendees: self.notify_attendees,
                attach_summary: self.attach_summary,
                calendar: self.calendar,
                first_hour: self.first_hour as u8,
                last_hour: self.last_hour as u8,
                notice_days: self.notice_days as u16,
            })
        }
    }

    pub(super) fn default_first() -> i64 {
        8
    }
    pub(super) fn default_last() -> i64 {
        16
    }

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
                request_timeout: std::time::Duration::from_secs(s.request_timeout_seconds),
                upload_timeout: std::time::Duration::from_secs(s.upload_timeout_seconds),
                body_timeout: std::time::Duration::from_secs(s.body_timeout_seconds),
                header_timeout: std::time::Duration::from_secs(s.header_timeout_seconds),
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
            if !(1..=10_000).contains(&x.max_graph_reads_per_minute) {
                return Err(err(
                    "[exchange] max_graph_reads_per_minute".into(),
                    format!("must be 1–10000 (got {})", x.max_graph_reads_per_minute),
                ));
            }
            if !(1..=53).contains(&x.hold_sweep_weeks) {
                return Err(err(
                    "[exchange] hold_sweep_weeks".into(),
                    format!("must be 1–53 (got {})", x.hold_sweep_weeks),
                ));
            }
            if x.api == ExchangeApi::OnPremise {
                return Err(err(
                    "[exchange] api".into(),
                    "\"on-premise\" (EWS) is not built yet; use \"graph\"".into(),
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
                max_graph_reads_per_minute: x.max_graph_reads_per_minute,
                scope_probe_mailbox: x
                    .scope_probe_mailbox
                    .map(|m| m.trim().to_owned())
                    .filter(|m| !m.is_empty()),
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
                for (f, v) in [
                    ("outlook_calendar", &c.outlook_calendar),
                    ("owner", &c.owner),
                    ("tenant_id", &c.tenant_id),
                    ("client_id", &c.client_id),
                ] {
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
                let time_zone: chrono_tz::Tz = c.time_zone.parse().map_err(|_| {
                    err(
                        "time_zone",
                        format!(
                            "`{}` is not an IANA time zone such as Europe/Copenhagen",
                            c.time_zone
                        ),
                    )
                })?;
                let credential = credential_of(
                    c.client_secret.as_ref(),
                    c.certificate.as_ref(),
                    c.certificate_key.as_ref(),
                    base,
                    |f, m| err(f, m),
                )?;
                calendars.push(CalendarConfig {
                    name: c.name.clone(),
                    outlook_calendar: c.outlook_calendar,
                    owner: c.owner,
                    tenant_id: c.tenant_id,
                    client_id: c.client_id,
                    credential,
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
                Some(m) => {
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
                            let c =
                                calendars.iter().find(|c| &c.name == name).ok_or_else(|| {
                                    err(
                                        "[mail] credentials_from_calendar".into(),
                                        format!("no calendar named \"{name}\""),
                                    )
                                })?;
                            (
                                c.tenant_id.clone(),
                                c.client_id.clone(),
                                c.credential.clone(),
                            )
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
                    .chain(match &mail {
                        MailConfig::Graph { user, .. } => Some(user.as_str()),
                        MailConfig::Off => None,
                    });
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
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[server]
listen = "127.0.0.1:3100"

[[calendars]]
name = "Borgerservice"
outlook_calendar = "Borgerservice"
owner = "booking@kommune.dk"
tenant_id = "t"
client_id = "c"
client_secret = { env = "BOOKET_TEST_SECRET_CFG" }

[[forms]]
id = "ansoegning"
title = "Ansøgning"

[[forms.elements]]
name = "tid"
heading = "Vælg tid"
calendar = "Borgerservice"
first_hour = 8
last_hour = 16
notice_days = 2
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        std::env::set_var("BOOKET_TEST_SECRET_CFG", "s3cret");
        Config::parse(text, "booket.toml", Path::new("."))
    }

    #[test]
    fn receipt_keys_are_checked_at_load_and_openssl_keys_work() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("receipt.pem");
        // What the README tells administrators to run.
        let made = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
            ])
            .arg(&key)
            .status()
            .expect("openssl is installed (scripts/setup.sh)");
        assert!(made.success());
        let with =
            |extra: &str| Config::parse(&format!("{GOOD}\n{extra}"), "booket.toml", dir.path());
        std::env::set_var("BOOKET_TEST_SECRET_CFG", "s3cret");
        let c = with("[receipts]\nsigning_key = { file = \"receipt.pem\" }\nlifetime_hours = 48")
            .unwrap();
        assert!(c.receipts.signing_key.is_some());
        assert_eq!(c.receipts.lifetime.as_secs(), 48 * 3600);
        std::fs::write(
            dir.path().join("bad.pem"),
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let e = with("[receipts]\nsigning_key = { file = \"bad.pem\" }").unwrap_err();
        assert!(e.to_string().contains("[receipts] signing_key"), "{e}");
        assert!(e.to_string().contains("P-256"), "{e}");
        let e = with("[receipts]\nsigning_key = { file = \"receipt.pem\" }\n[[receipts.previous_keys]]\nkey = { file = \"receipt.pem\" }\nretired_at = \"yesterday\"").unwrap_err();
        assert!(e.to_string().contains("previous_keys[0].retired_at"), "{e}");
    }

    #[test]
    fn an_unknown_mail_protocol_names_the_key_and_the_choices() {
        let e = parse(&format!("{GOOD}\n[mail]\nprotocol = \"smtp\"\n")).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("mail.protocol"), "{text}");
        assert!(text.contains("graph") && text.contains("off"), "{text}");
    }

    #[test]
    fn the_private_listener_keeps_its_old_name() {
        let c = parse(&GOOD.replace(
            "listen = \"127.0.0.1:3100\"",
            "listen = \"127.0.0.1:3100\"\nmetrics_listen = \"127.0.0.1:9100\"",
        ))
        .unwrap();
        assert_eq!(c.server.private_listen.map(|a| a.port()), Some(9100));
    }

    #[test]
    fn the_scope_probe_must_be_a_mailbox_booket_does_not_use() {
        let e = parse(&GOOD.replace(
            "[[calendars]]",
            "[exchange]\nscope_probe_mailbox = \"Booking@Kommune.dk\"\n\n[[calendars]]",
        ))
        .unwrap_err();
        assert!(e.to_string().contains("scope_probe_mailbox"), "{e}");
        assert!(e.to_string().contains("must NOT reach"), "{e}");
        let c = parse(&GOOD.replace(
            "[[calendars]]",
            "[exchange]\nscope_probe_mailbox = \"direktion@kommune.dk\"\n\n[[calendars]]",
        ))
        .unwrap();
        assert_eq!(
            c.exchange.scope_probe_mailbox.as_deref(),
            Some("direktion@kommune.dk")
        );
    }

    #[test]
    fn a_good_file_parses() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.server.listen.port(), 3100);
        assert_eq!(c.calendars[0].time_zone, chrono_tz::Europe::Copenhagen);
        let (_, e) = c.element("ansoegning", "tid").unwrap();
        assert_eq!(e.notice_days, 2);
        assert!(matches!(c.mail, MailConfig::Off));
    }

    #[test]
    fn errors_name_file_section_and_field() {
        let table = [
            (
                "first_hour = 8",
                "first_hour = 25",
                "element \"tid\" first_hour",
                "0–23",
            ),
            (
                "last_hour = 16",
                "last_hour = 8",
                "element \"tid\" last_hour",
                "greater than first_hour",
            ),
            (
                "notice_days = 2",
                "notice_days = 400",
                "notice_days",
                "0–365",
            ),
            (
                "name = \"tid\"",
                "name = \"Tid!\"",
                "element \"Tid!\" name",
                "[a-z0-9_-]",
            ),
            (
                "calendar = \"Borgerservice\"\nfirst",
                "calendar = \"Nope\"\nfirst",
                "calendar",
                "no calendar named",
            ),
            (
                "BOOKET_TEST_SECRET_CFG",
                "BOOKET_TEST_UNSET_VAR",
                "client_secret",
                "not set",
            ),
            (
                "listen = \"127.0.0.1:3100\"",
                "listen = \"nowhere\"",
                "[server] listen",
                "not an address",
            ),
            (
                "listen = \"127.0.0.1:3100\"",
                "listen = \"127.0.0.1:3100\"\nallowed_origins = [\"*\"]",
                "[server] allowed_origins",
                "any web site",
            ),
            (
                "listen = \"127.0.0.1:3100\"",
                "listen = \"127.0.0.1:3100\"\nallowed_origins = [\"https://x.dk/path\"]",
                "[server] allowed_origins",
                "not an origin",
            ),
        ];
        for (from, to, place, msg) in table {
            assert!(GOOD.contains(from), "{from}");
            let e = parse(&GOOD.replacen(from, to, 1)).unwrap_err();
            let text = e.to_string();
            assert!(text.starts_with("booket.toml:"), "{text}");
            assert!(e.key.is_some() && e.line.is_some(), "{text}");
            assert!(text.contains(place), "{text} should name {place}");
            assert!(text.contains(msg), "{text} should say {msg}");
        }
    }

    #[test]
    fn type_errors_and_missing_fields_name_their_key_path_and_line() {
        let e = parse(&GOOD.replace("listen = \"127.0.0.1:3100\"", "listen = 42")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("server.listen"), "{e}");
        assert_eq!(e.line, Some(3), "{e}");
        let text = e.to_string();
        assert!(
            text.starts_with("booket.toml:3: server.listen: invalid type: integer `42`"),
            "{text}"
        );

        // A second [[calendars]] entry without its outlook_calendar.
        let second = "\n[[calendars]]\nname = \"Anden\"\nowner = \"b@kommune.dk\"\ntenant_id = \"t\"\nclient_id = \"c\"\nclient_secret = { env = \"BOOKET_TEST_SECRET_CFG\" }\n";
        let text = GOOD.replacen("\n[[forms]]", &format!("{second}\n[[forms]]"), 1);
        let e = parse(&text).unwrap_err();
        assert_eq!(
            e.key.as_deref(),
            Some("calendars[1].outlook_calendar"),
            "{e}"
        );
        let line = text.lines().position(|l| l == "name = \"Anden\"").unwrap();
        assert!(
            e.line.is_some_and(|l| l == line || l == line + 1),
            "line {:?} for the entry at {line}: {e}",
            e.line
        );
        assert!(e.to_string().contains("is required"), "{e}");

        // Errors found by validation carry the key path and line too.
        let e = parse(&GOOD.replace("last_hour = 16", "last_hour = 8")).unwrap_err();
        assert_eq!(
            e.key.as_deref(),
            Some("forms[0].elements[0].last_hour"),
            "{e}"
        );
        let line = GOOD.lines().position(|l| l == "last_hour = 16").unwrap() + 1;
        assert_eq!(e.line, Some(line), "{e}");
        let e = parse(&GOOD.replace(
            "client_id = \"c\"",
            "client_id = \"c\"\ntime_zone = \"Mars/Olympus\"",
        ))
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("calendars[0].time_zone"), "{e}");
        assert!(e.line.is_some(), "{e}");
    }

    #[test]
    fn the_token_scope_is_the_graph_resource_not_the_address_called() {
        let scope = |extra: &str| {
            parse(&GOOD.replacen(
                "[[calendars]]",
                &format!("[exchange]\n{extra}\n\n[[calendars]]"),
                1,
            ))
            .map(|c| c.exchange.graph_scope)
        };
        assert_eq!(scope("").unwrap(), "https://graph.microsoft.com/.default");
        // Through a gateway or egress proxy with its own address.
        assert_eq!(
            scope("graph_base_url = \"https://graph-gw.kommune.dk/v1.0\"").unwrap(),
            "https://graph.microsoft.com/.default"
        );
        // National clouds, by their Graph host or, behind a gateway, their login host.
        assert_eq!(
            scope("graph_base_url = \"https://graph.microsoft.us/v1.0\"").unwrap(),
            "https://graph.microsoft.us/.default"
        );
        assert_eq!(
            scope("graph_base_url = \"https://dod-graph.microsoft.us/v1.0\"").unwrap(),
            "https://dod-graph.microsoft.us/.default"
        );
        assert_eq!(
            scope("graph_base_url = \"https://gw.example/v1.0\"\nlogin_base_url = \"https://login.chinacloudapi.cn\"").unwrap(),
            "https://microsoftgraph.chinacloudapi.cn/.default"
        );
        // Said outright, it wins.
        assert_eq!(
            scope("graph_base_url = \"https://gw.example/v1.0\"\ngraph_scope = \"https://graph.microsoft.us/.default\"").unwrap(),
            "https://graph.microsoft.us/.default"
        );
        let e = scope("graph_scope = \"https://graph.microsoft.com\"").unwrap_err();
        assert!(e.to_string().contains("[exchange] graph_scope"), "{e}");
        assert_eq!(e.key.as_deref(), Some("exchange.graph_scope"));
    }

    #[test]
    fn slot_keys_are_long_and_plain_http_goes_only_to_loopback_addresses() {
        let with = |server: &str, exchange: &str| {
            parse(
                &GOOD
                    .replacen(
                        "listen = \"127.0.0.1:3100\"",
                        &format!("listen = \"127.0.0.1:3100\"\n{server}"),
                        1,
                    )
                    .replacen(
                        "[[calendars]]",
                        &format!("[exchange]\n{exchange}\n\n[[calendars]]"),
                        1,
                    ),
            )
        };
        std::env::set_var("BOOKET_TEST_SHORT_KEY", "short");
        std::env::set_var("BOOKET_TEST_LONG_KEY", "k".repeat(32));
        let e = with("slot_key = { env = \"BOOKET_TEST_SHORT_KEY\" }", "").unwrap_err();
        assert!(e.to_string().contains("at least 32 bytes"), "{e}");
        let e = with(
            "slot_key = { env = \"BOOKET_TEST_LONG_KEY\" }\nprevious_slot_keys = [{ env = \"BOOKET_TEST_SHORT_KEY\" }]",
            "",
        )
        .unwrap_err();
        assert!(e.to_string().contains("previous_slot_keys"), "{e}");
        let c = with(
            "slot_key = { env = \"BOOKET_TEST_LONG_KEY\" }\nprevious_slot_keys = [{ env = \"BOOKET_TEST_LONG_KEY\" }]",
            "",
        )
        .unwrap();
        assert_eq!(c.server.previous_slot_keys.len(), 1);
        for ok in [
            "graph_base_url = \"http://127.0.0.1:3001/v1.0\"",
            "graph_base_url = \"http://[::1]:3001/v1.0\"",
            "login_base_url = \"http://127.1.2.3\"",
        ] {
            assert!(with("", ok).is_ok(), "{ok}");
        }
        for bad in [
            "graph_base_url = \"http://127.evil.example/v1.0\"",
            "graph_base_url = \"http://localhost:3001/v1.0\"",
            "login_base_url = \"http://login.microsoftonline.com\"",
            "graph_base_url = \"http://10.0.0.5/v1.0\"",
        ] {
            let e = with("", bad).unwrap_err();
            assert!(e.to_string().contains("must use https"), "{bad}: {e}");
        }
    }

    #[test]
    fn unknown_fields_and_syntax_errors_are_reported_with_a_line() {
        let e = parse(&GOOD.replace("notice_days = 2", "notice_dayz = 2")).unwrap_err();
        assert!(e.to_string().contains("notice_dayz"), "{e}");
        assert!(e.line.is_some(), "{e}");
        let e = parse("[server\nlisten = 1").unwrap_err();
        assert_eq!(e.line, Some(1), "{e}");
    }

    #[test]
    fn secrets_never_print() {
        let c = parse(GOOD).unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("s3cret"), "{dbg}");
    }
}

#[cfg(test)]
mod example_tests {
    use super::*;

    #[test]
    fn the_shipped_example_config_is_valid() {
        std::env::set_var("BOOKET_SLOT_KEY", "example-slot-key-0123456789abcdef-0123");
        std::env::set_var("BOOKET_BORGERSERVICE_SECRET", "example-secret");
        std::env::set_var(
            "BOOKET_RECEIPT_KEY",
            crate::receipts::generate_key_pem().expose_secret(),
        );
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../booket.example.toml"
        ));
        let c = Config::load(path).unwrap();
        assert_eq!(c.forms[0].elements[0].notice_days, 2);
        assert!(
            matches!(&c.mail, MailConfig::Graph { client_id, .. } if *client_id == c.calendars[0].client_id)
        );
        assert_eq!(c.server.uploads.max_total_bytes, 30 * 1024 * 1024);
        assert!(c.receipts.signing_key.is_some());
        assert_eq!(
            c.exchange.scope_probe_mailbox.as_deref(),
            Some("direktion@kommune.dk")
        );
        assert!(c.server.private_listen.is_some());
        assert_eq!(
            c.server.allowed_origins,
            vec!["https://selvbetjening.kommune.dk".to_string()]
        );
    }
}
