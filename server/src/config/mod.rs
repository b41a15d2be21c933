//! Typed configuration: one TOML file, secrets by reference (env var or file), validated
//! at start-up with messages that name the file, the section and the field.
//!
//! (Long because the validated types carry the documentation of every setting.)

use crate::graph::ClientCredential;
use app::domain::{is_valid_name, Markers, Window};
use secrecy::SecretString;
use serde::Deserialize;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;

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

mod locate;
mod secrets;

use secrets::credential_of;
pub use secrets::SecretRef;

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
    /// The store several instances share (`[store]`); `None`: one instance, in process.
    pub store: Option<StoreConfig>,
    /// Older names of settings this file still uses, with their new names (`booket check`
    /// says so).
    pub deprecated: Vec<(&'static str, &'static str)>,
}

/// Settings renamed, still accepted under their older names: (table, old, new).
pub const RENAMED: [(&str, &str, &str); 2] = [
    ("server", "metrics_listen", "private_listen"),
    (
        "exchange",
        "max_graph_reads_per_minute",
        "max_reads_per_minute",
    ),
];

/// The older names `text` uses (a file that parsed).
fn deprecated_in(text: &str) -> Vec<(&'static str, &'static str)> {
    let Ok(table) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    RENAMED
        .iter()
        .filter(|(t, old, _)| {
            table
                .get(*t)
                .and_then(|v| v.as_table())
                .is_some_and(|t| t.contains_key(*old))
        })
        .map(|(_, old, new)| (*old, *new))
        .collect()
}

/// `[receipts]`: the key receipts are signed with, keys retired from signing, and how long
/// a receipt is valid.
/// The header a trusted proxy names the client in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx, Caddy, HAProxy, most load
    /// balancers).
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    Forwarded,
}

/// `[store]`: where several instances keep what they must agree on.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `redis://`, `rediss://` (TLS) or `redis+unix://`, password included (a secret).
    pub url: SecretString,
    /// How long a lease on an event lasts unless renewed (at least twice the retry budget).
    pub lease: std::time::Duration,
}

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
    pub forwarded_header: ForwardedHeader,
    /// Bookings with files sent on to Exchange at once; more wait briefly, then are told
    /// to try again.
    pub max_concurrent_uploads: usize,
    /// Bookings reading their files from the client at once (two per client at most).
    pub max_concurrent_upload_reads: usize,
    /// Bytes a second a booking's body must keep arriving at, on average, once
    /// `upload_rate_grace` has passed.
    pub upload_min_rate: u64,
    pub upload_rate_grace: std::time::Duration,
    /// Longest time for a whole request, and for a booking with files.
    pub request_timeout: std::time::Duration,
    pub upload_timeout: std::time::Duration,
    /// Longest wait for the next piece of a request body.
    pub body_timeout: std::time::Duration,
    /// Longest time a client may take to send a request's headers.
    pub header_timeout: std::time::Duration,
    /// Connections open at once on the public listener; a new one past it is refused.
    pub max_connections: usize,
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
            // by staff in Outlook. An administrator may add them (docs/operators/security.md, Hardening).
            allowed_types: [
                "pdf", "png", "jpg", "jpeg", "gif", "heic", "tif", "tiff", "txt", "docx", "odt",
                "xlsx", "ods", "csv",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// The API a calendar's mailbox is reached through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExchangeApi {
    /// Microsoft Graph (Exchange Online).
    Graph,
    /// Exchange Web Services (Exchange Server on premises). `"on-premise"` is what the
    /// product Booket replaces called it.
    #[serde(alias = "on-premise")]
    Ews,
}

/// How Booket reaches one calendar's mailbox.
#[derive(Debug, Clone)]
pub enum CalendarAccess {
    /// Graph, signed in as an Entra app.
    Graph(crate::graph::AppCredentials),
    /// EWS, logged on as a service account.
    Ews(EwsAccount),
}

/// A service account on an on-premises Exchange server.
#[derive(Clone)]
pub struct EwsAccount {
    /// `https://mail.<domain>/EWS/Exchange.asmx`.
    pub url: String,
    pub auth: EwsAuth,
    pub username: String,
    /// The Windows domain for NTLM (`None`: part of `username`, or not needed).
    pub domain: Option<String>,
    pub password: SecretString,
    pub access: EwsAccess,
    /// The largest request the EWS virtual directory accepts (an attachment travels in
    /// one request, base64-encoded).
    pub request_limit: usize,
    /// Root certificates (DER) trusted beside the web's, from `ews_ca_file`: an
    /// organisation's own CA.
    pub extra_roots: Vec<Vec<u8>>,
}

impl std::fmt::Debug for EwsAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EwsAccount")
            .field("url", &self.url)
            .field("auth", &self.auth)
            .field("username", &self.username)
            .field("domain", &self.domain)
            .field("access", &self.access)
            .field("request_limit", &self.request_limit)
            .field("extra_roots", &self.extra_roots.len())
            .finish_non_exhaustive()
    }
}

/// How the service account authenticates (Negotiate/Kerberos is not built).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EwsAuth {
    Ntlm,
    /// Only over TLS.
    Basic,
}

/// Whose rights the service account uses on the calendar's mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EwsAccess {
    /// ApplicationImpersonation: acts as the owner (`ExchangeImpersonation` header).
    Impersonation,
    /// Full Access or folder permissions granted to the service account itself.
    Delegate,
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
    pub max_reads_per_minute: u32,
    /// A mailbox the app must NOT reach: `booket check` proves the app is restricted to
    /// the booking mailboxes by being refused there.
    pub scope_probe_mailbox: Option<String>,
    /// Whether this tenant refuses a PATCH with a stale `If-Match` (`booket check
    /// --conformance` answers it; Graph does not document it). When false, the write path
    /// reads every write back before it answers, and only one instance should run.
    pub if_match_honoured: bool,
}

#[derive(Debug, Clone)]
pub struct CalendarConfig {
    /// Display name (Navn): what elements refer to and what receipts show.
    pub name: String,
    /// The calendar's name as Outlook shows it (Kalendernavn).
    pub outlook_calendar: crate::mailbox::CalendarName,
    /// Owner mailbox (UPN or object id; for EWS its primary SMTP address).
    pub owner: String,
    /// Graph with an app's credentials, or EWS with a service account.
    pub access: CalendarAccess,
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
    /// Through EWS with an EWS calendar's service account (`credentials_from_calendar`).
    Ews {
        account: EwsAccount,
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
    /// Where the form's backend hears of bookings, cancellations (signed events).
    pub webhook_url: Option<url::Url>,
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
    /// Hours before the time a reminder mail goes out (0: none).
    pub reminder_hours: u16,
}

impl CalendarConfig {
    /// The app Booket signs in as for this calendar (`None`: it is reached through EWS).
    pub fn credentials(&self) -> Option<crate::graph::AppCredentials> {
        match &self.access {
            CalendarAccess::Graph(app) => Some(app.clone()),
            CalendarAccess::Ews(_) => None,
        }
    }

    /// The Graph app of this calendar, to change in tests.
    #[doc(hidden)]
    pub fn graph_app_mut(&mut self) -> &mut crate::graph::AppCredentials {
        match &mut self.access {
            CalendarAccess::Graph(app) => app,
            CalendarAccess::Ews(_) => panic!("calendar {} is reached through EWS", self.name),
        }
    }
}

impl MailConfig {
    /// The app that sends mail, when mail is on.
    pub fn credentials(&self) -> Option<crate::graph::AppCredentials> {
        match self {
            MailConfig::Graph {
                tenant_id,
                client_id,
                credential,
                ..
            } => Some(crate::graph::AppCredentials {
                tenant_id: tenant_id.clone(),
                client_id: client_id.clone(),
                credential: credential.clone(),
            }),
            MailConfig::Ews { .. } | MailConfig::Off => None,
        }
    }

    /// The address shown as sender and the mailbox that sends, when mail is on.
    pub fn sending(&self) -> Option<(&str, &str)> {
        match self {
            MailConfig::Graph { sender, user, .. } | MailConfig::Ews { sender, user, .. } => {
                Some((sender, user))
            }
            MailConfig::Off => None,
        }
    }

    /// The address shown as sender, when it differs from the mailbox that sends.
    pub fn shown_sender(&self) -> Option<&str> {
        let (sender, user) = self.sending()?;
        (!sender.eq_ignore_ascii_case(user)).then_some(sender)
    }
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

/// The element `element` of form `form` among `forms`, with its form.
pub fn element_in<'a>(
    forms: &'a [FormConfig],
    form: &str,
    element: &str,
) -> Option<(&'a FormConfig, &'a ElementConfig)> {
    let f = forms.iter().find(|f| f.id == form)?;
    f.elements
        .iter()
        .find(|e| e.name == element)
        .map(|e| (f, e))
}

impl Config {
    pub fn form(&self, id: &str) -> Option<&FormConfig> {
        self.forms.iter().find(|f| f.id == id)
    }

    pub fn element(&self, form: &str, element: &str) -> Option<(&FormConfig, &ElementConfig)> {
        element_in(&self.forms, form, element)
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
        let error = |key: String, inner: toml::de::Error| {
            let mut key = key;
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
        };
        let de = toml::Deserializer::parse(text).map_err(|e| error(".".into(), e))?;
        let raw: raw::File = serde_path_to_error::deserialize(de)
            .map_err(|e| error(e.path().to_string(), e.into_inner()))?;
        let mut config = raw.validate(file, base).map_err(|e| e.located(text))?;
        config.deprecated = deprecated_in(text);
        Ok(config)
    }
}

/// `[mail] protocol`: how confirmations are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MailProtocol {
    Graph,
    /// Through an on-premises mailbox (EWS CreateItem/SendItem), as the original product.
    Ews,
    Off,
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
/// authority are reached at (https://learn.microsoft.com/graph/deployments).
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

mod raw;
mod validate;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod example_tests;
