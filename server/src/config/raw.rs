//! The configuration file as written (serde), before validation (`validate.rs`).
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
    #[serde(default)]
    pub store: StoreSection,
}

/// `[store]`: the shared store of several instances (none: one instance, in process).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    pub url: Option<SecretRef>,
    pub lease_seconds: u64,
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection {
            url: None,
            lease_seconds: 60,
        }
    }
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
    pub forwarded_header: super::ForwardedHeader,
    pub max_concurrent_uploads: usize,
    pub max_concurrent_upload_reads: usize,
    pub upload_min_rate_bytes_per_second: u64,
    pub upload_rate_grace_seconds: u64,
    pub request_timeout_seconds: u64,
    pub upload_timeout_seconds: u64,
    pub body_timeout_seconds: u64,
    pub header_timeout_seconds: u64,
    pub max_connections: usize,
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
            max_concurrent_upload_reads: 32,
            upload_min_rate_bytes_per_second: 500,
            upload_rate_grace_seconds: 10,
            request_timeout_seconds: 60,
            upload_timeout_seconds: 600,
            body_timeout_seconds: 20,
            header_timeout_seconds: 10,
            max_connections: 4096,
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
    /// `max_graph_reads_per_minute` is its older name (it counts EWS reads too).
    #[serde(alias = "max_graph_reads_per_minute")]
    pub max_reads_per_minute: u32,
    pub scope_probe_mailbox: Option<String>,
    pub if_match_honoured: bool,
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
            max_reads_per_minute: 120,
            scope_probe_mailbox: None,
            if_match_honoured: true,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calendar {
    pub name: String,
    pub outlook_calendar: String,
    pub owner: String,
    /// This calendar's API; `[exchange] api` when not given.
    pub api: Option<ExchangeApi>,
    // Graph:
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<SecretRef>,
    /// Instead of a secret: the certificate registered on the app (PEM) and its key.
    pub certificate: Option<SecretRef>,
    pub certificate_key: Option<SecretRef>,
    // EWS:
    pub ews_url: Option<String>,
    pub auth: Option<EwsAuth>,
    pub username: Option<String>,
    pub domain: Option<String>,
    pub password: Option<SecretRef>,
    pub access: Option<EwsAccess>,
    pub ews_request_limit_mb: Option<u32>,
    /// The organisation's root CA (PEM) when Exchange's certificate is not from a public CA.
    pub ews_ca_file: Option<std::path::PathBuf>,
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
    // protocol = "ews" with an account of its own (instead of credentials_from_calendar):
    pub ews_url: Option<String>,
    pub auth: Option<EwsAuth>,
    pub username: Option<String>,
    pub domain: Option<String>,
    pub password: Option<SecretRef>,
    pub access: Option<EwsAccess>,
    pub ews_request_limit_mb: Option<u32>,
    pub ews_ca_file: Option<std::path::PathBuf>,
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
    /// Where Booket POSTs the form's signed booking events (optional).
    pub webhook_url: Option<String>,
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
    #[serde(default)]
    pub reminder_hours: i64,
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
        if !(0..=MAX_REMINDER_HOURS).contains(&self.reminder_hours) {
            return Err((
                "reminder_hours",
                format!(
                    "must be 0 (no reminder) to {MAX_REMINDER_HOURS} (got {})",
                    self.reminder_hours
                ),
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
            reminder_hours: self.reminder_hours as u16,
        })
    }
}

/// The longest a reminder may come before its time: a week.
pub const MAX_REMINDER_HOURS: i64 = 168;

pub(super) fn default_first() -> i64 {
    8
}
pub(super) fn default_last() -> i64 {
    16
}

/// The EWS fields of a raw table that has them all (`[[calendars]]`, `[mail]`).
macro_rules! ews_fields {
    ($t:expr) => {
        EwsFields {
            ews_url: $t.ews_url.as_deref(),
            auth: $t.auth,
            username: $t.username.as_deref(),
            domain: $t.domain.as_deref(),
            password: $t.password.as_ref(),
            access: $t.access,
            ews_request_limit_mb: $t.ews_request_limit_mb,
            ews_ca_file: $t.ews_ca_file.as_deref(),
        }
    };
}

/// The EWS service-account fields of a `[[calendars]]` entry or of `[mail]`.
pub struct EwsFields<'a> {
    pub ews_url: Option<&'a str>,
    pub auth: Option<EwsAuth>,
    pub username: Option<&'a str>,
    pub domain: Option<&'a str>,
    pub password: Option<&'a SecretRef>,
    pub access: Option<EwsAccess>,
    pub ews_request_limit_mb: Option<u32>,
    pub ews_ca_file: Option<&'a std::path::Path>,
}

impl Calendar {
    pub fn ews_fields(&self) -> EwsFields<'_> {
        ews_fields!(self)
    }
}

impl Mail {
    pub fn ews_fields(&self) -> EwsFields<'_> {
        ews_fields!(self)
    }

    /// Whether any field of an own EWS account is given.
    pub fn has_ews_account(&self) -> bool {
        self.ews_url.is_some()
            || self.auth.is_some()
            || self.username.is_some()
            || self.domain.is_some()
            || self.password.is_some()
            || self.access.is_some()
            || self.ews_request_limit_mb.is_some()
            || self.ews_ca_file.is_some()
    }
}
