//! The simulator's data: tenants, apps, mailboxes, calendars, events, issued tokens,
//! injected faults and what it observed (for tests and benchmarks).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;

#[derive(Debug, Clone, Serialize)]
pub struct Tenant {
    pub id: String,
    pub apps: Vec<App>,
    pub users: Vec<Mailbox>,
    /// The mailboxes the apps are limited to (Exchange Online RBAC for Applications, or an
    /// application access policy); `None`: a tenant-wide grant, every mailbox.
    pub app_scope: Option<Vec<String>>,
    /// On-premises service accounts (EWS).
    pub service_accounts: Vec<ServiceAccount>,
}

/// A service account that logs on to EWS, with its rights.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceAccount {
    pub username: String,
    pub domain: String,
    #[serde(skip)]
    pub password: String,
    /// Holds the ApplicationImpersonation role (may act as any mailbox).
    pub impersonation: bool,
    /// Mailboxes it has Full Access to (delegate access).
    pub full_access: Vec<String>,
}

/// A message saved by EWS CreateItem (`SaveOnly`), sent later by SendItem.
#[derive(Debug, Clone)]
pub struct Draft {
    pub id: String,
    pub change_key: String,
    pub mail: SentMail,
}

#[derive(Debug, Clone, Serialize)]
pub struct App {
    pub client_id: String,
    /// The secret's Value (what belongs in the configuration).
    #[serde(skip)]
    pub secret_value: String,
    /// The secret's ID (what administrators sometimes paste by mistake).
    pub secret_id: String,
    pub secret_expired: bool,
    /// Certificates registered on the app (PEM), whose keys may sign client assertions.
    #[serde(skip)]
    pub certificates: Vec<String>,
    /// The registered certificates are outside their validity window.
    pub certificates_expired: bool,
    /// Application permissions with admin consent (the token's `roles`).
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Mailbox {
    pub upn: String,
    pub display_name: String,
    pub calendars: Vec<Calendar>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Calendar {
    pub id: String,
    pub name: String,
    pub events: Vec<Event>,
}

impl Calendar {
    /// A calendar view of `[start, end)`: occurrences of series, never their master, in
    /// order of start (as both Graph's calendarView and EWS's CalendarView answer).
    pub fn view(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<&Event> {
        let mut hits: Vec<&Event> = self
            .events
            .iter()
            .filter(|e| e.start < end && e.end > start && e.event_type != "seriesMaster")
            .collect();
        hits.sort_by_key(|e| (e.start, e.id.clone()));
        hits
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    pub address: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub id: String,
    pub subject: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub is_all_day: bool,
    pub is_cancelled: bool,
    pub attendees: Vec<Person>,
    pub organizer: Person,
    pub location: String,
    pub change_key: String,
    /// Single-value extended properties (id, value).
    pub properties: Vec<(String, String)>,
    pub attachments: Vec<Attachment>,
    /// What the seed meant this event to be (`slot`, `booked`, `noise:before-window`, …).
    /// Not part of the Graph shape; only in `/_sim/state`.
    pub kind: String,
    /// Graph's `type`: `singleInstance`, `seriesMaster`, `occurrence` or `exception`.
    pub event_type: String,
    /// The series an occurrence or exception belongs to.
    pub series_master_id: Option<String>,
}

/// A file attached to an event.
#[derive(Debug, Clone, Serialize)]
pub struct Attachment {
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub size: usize,
    /// Whether it came through an upload session (large file) rather than one POST.
    pub via_upload_session: bool,
    /// `contentId` as the client set it (Booket marks its own files with it).
    pub content_id: String,
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

/// An upload session in progress (`createUploadSession`).
pub struct UploadSession {
    pub tenant: String,
    pub user: String,
    pub event_id: String,
    pub name: String,
    pub content_id: String,
    pub size: usize,
    pub received: Vec<u8>,
    pub expires: chrono::DateTime<chrono::Utc>,
}

/// A mail accepted by `sendMail`.
#[derive(Debug, Clone, Serialize)]
pub struct SentMail {
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
    pub attachments: Vec<MailAttachment>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MailAttachment {
    pub name: String,
    pub content_type: String,
    /// The content when it is text (e.g. an .ics), else empty.
    pub text: String,
    pub size: usize,
}

/// A meeting update Exchange would have sent because the organizer changed a meeting
/// that has attendees.
#[derive(Debug, Clone, Serialize)]
pub struct MeetingUpdate {
    pub event_id: String,
    /// The organizer's mailbox (where Exchange saves its copy).
    pub from: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub attachments: Vec<String>,
}

/// Faults the tests can inject through `POST /_sim/faults`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Added to every Graph request while it holds its in-flight place.
    pub latency_ms: u64,
    /// The next N Graph requests are answered 429 `ApplicationThrottled`.
    pub throttle_next: u32,
    /// The next N upload-session chunks are answered 429 (with `retry_after`).
    pub throttle_uploads_next: u32,
    /// `Retry-After` sent with injected 429s (e.g. "1", "0.25", an HTTP date).
    pub retry_after: Option<String>,
    /// The next Graph requests are answered with these statuses, in order (503, 504, …).
    pub fail_next: Vec<u16>,
    /// The next N Graph requests have their connection dropped mid-response.
    pub drop_next: u32,
    /// The next N writes (PATCH/POST/DELETE) are carried out, but their answer is lost.
    pub drop_answer_of_next_write: u32,
    /// The token endpoint answers 503.
    pub token_down: bool,
    /// After this many more attachments are accepted, further ones fail with 500.
    pub attachments_before_failure: Option<u32>,
    /// `sendMail` fails with 500.
    pub mail_down: bool,
    /// `calendarView` answers with this status.
    pub calendar_view_status: Option<u16>,
    /// Tokens are opaque strings instead of JWTs (their roles cannot be read).
    pub opaque_tokens: bool,
    /// Attachments lose the `contentId` they were created with. That it survives (on
    /// upload sessions especially) is not documented, so the other behaviour is tested too.
    pub drop_content_id: bool,
    /// After this many more writes (PATCH/POST/DELETE) are carried out, every further write
    /// stalls: neither carried out nor answered until the faults change (then it is answered
    /// 503). Lets a test stop a client between two writes, e.g. to kill it there.
    pub stall_after_writes: Option<u32>,
    /// When the stall is lifted by faults that set this, the stalled writes are carried out
    /// and answered as usual (a slow write rather than a failed one).
    pub stall_resumes: bool,
    /// Deleting an attachment fails with 500.
    pub attachment_deletes_fail: bool,
    /// Type casts in `$select` are refused too (400 ParseUri), as a stricter tenant might.
    pub refuse_select_casts: bool,
    /// `If-Match` on a PATCH is not checked (Microsoft documents no `If-Match` for event
    /// updates, so a tenant that ignores it is as plausible as one that honours it).
    pub if_match_ignored: bool,
    /// The occurrences of a recurring series share one version: changing one makes the
    /// others' etags stale (as the event-list-instances example suggests).
    pub shared_series_etag: bool,
    /// A calendar view (Graph calendarView, EWS FindItem with a CalendarView) carries the
    /// extended properties asked for on occurrences and exceptions of a series too. Off by
    /// default: reported not to (microsoft-graph-docs#13385), documented nowhere.
    pub view_carries_occurrence_properties: bool,
    /// Graph: where the last chunk of an upload session points (`Location`). `None` as
    /// Microsoft's example shows it (Outlook REST host, capitalised segments);
    /// `Some("")` no `Location` at all; any other value is sent as it is.
    pub upload_location: Option<String>,
    /// After this many more event writes (Graph PATCH, EWS UpdateItem) are carried out,
    /// staff edit the event's subject just before the next write arrives, so that write
    /// meets a moved version (a booking whose final write fails).
    pub staff_edit_before_write: Option<u32>,
    /// Graph: deleting an attachment that is no longer there answers 404
    /// `ErrorItemNotFound`. Off by default: Microsoft does not say, and the simulator then
    /// answers 400 `ErrorInvalidAttachmentId`, which Booket must also read as "gone".
    pub gone_attachment_not_found: bool,
    /// EWS: GetItem lists attachments with their `ContentId`. Off by default: the
    /// documented answers do not show it, so Booket must not need it (it records each
    /// file's id in the hold).
    pub ews_attachment_content_ids: bool,
    /// EWS: the server's cap on items in one FindItem answer (default 1000).
    pub ews_view_cap: Option<usize>,
    /// EWS: the largest request accepted, in bytes (default 64 MB); larger ones get 413.
    pub ews_request_limit: Option<usize>,
    /// EWS: Basic authentication is off on the virtual directory (as many admins leave it).
    pub ews_basic_off: bool,
    /// EWS: Windows authentication (NTLM, Negotiate) is off on the virtual directory.
    pub ews_ntlm_off: bool,
    /// EWS: Extended Protection set to "Require": an NTLM logon must carry the channel
    /// binding of the connection's TLS certificate.
    pub ews_channel_binding: bool,
    /// EWS: the server requires a MIC in NTLM logons (`MsvAvFlags` with the MIC bit and a
    /// MIC that verifies), as servers hardened against NTLM relay do. A MIC that is sent is
    /// always checked.
    pub ews_require_mic: bool,
    /// EWS: ChangeKeys are not checked (a server that would break `NeverOverwrite`; not
    /// documented anywhere, so that the conformance check's other answer is tested).
    pub ews_change_keys_ignored: bool,
    /// EWS: meeting updates go out whatever `SendMeetingInvitationsOrCancellations` says
    /// (a transport rule or add-in that would; likewise for the conformance check).
    pub ews_updates_always_sent: bool,
}

/// What the simulator observed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub token_requests: u64,
    /// Tokens issued for a verified client assertion (certificate credentials).
    pub tokens_by_certificate: u64,
    pub graph_requests: u64,
    pub calendar_view_requests: u64,
    pub calendar_list_requests: u64,
    pub event_gets: u64,
    pub event_patches: u64,
    /// When the last PATCH of an event was carried out (Unix milliseconds).
    pub last_write_unix_ms: Option<i64>,
    pub attachment_posts: u64,
    pub upload_sessions: u64,
    pub upload_chunks: u64,
    pub attachment_deletes: u64,
    /// Attachment contents read (Graph `$value`, EWS GetAttachment).
    pub attachment_reads: u64,
    pub mails_sent: u64,
    pub events_created: u64,
    pub events_deleted: u64,
    pub throttled: u64,
    /// Reads refused for naming a property the type does not have (400 ParseUri).
    pub rejected_queries: u64,
    /// EWS requests (each SOAP call), and by operation.
    pub ews_requests: u64,
    /// NTLM logons accepted (one per authenticated connection).
    pub ews_logons: u64,
    /// EWS requests answered 401.
    pub ews_unauthorized: u64,
    pub ews_find_folders: u64,
    pub ews_find_items: u64,
    pub ews_get_items: u64,
    pub ews_updates: u64,
    pub ews_attachment_creates: u64,
    pub ews_attachment_deletes: u64,
    pub ews_creates: u64,
    pub ews_deletes: u64,
    /// Highest number of Graph requests from one app that were in flight at once,
    /// counting the one arriving (so a client that exceeds the limit shows up here).
    pub max_in_flight: HashMap<String, usize>,
}

pub struct IssuedToken {
    pub tenant: String,
    pub client_id: String,
    pub roles: Vec<String>,
    pub expires_at: tokio::time::Instant,
}

pub struct State {
    pub tenants: Vec<Tenant>,
    pub tokens: HashMap<String, IssuedToken>,
    pub in_flight: HashMap<String, usize>,
    pub stats: Stats,
    pub meeting_updates: Vec<MeetingUpdate>,
    pub faults: Faults,
    pub counter: u64,
    pub uploads: HashMap<String, UploadSession>,
    pub outbox: Vec<SentMail>,
    /// EWS drafts waiting for SendItem.
    pub ews_drafts: Vec<Draft>,
    /// NTLM state of each open connection (by the accept loop's connection number).
    pub ews_logons: HashMap<u64, super::ntlm::Logon>,
    /// Mailboxes an application access policy keeps the app out of.
    pub blocked_mailboxes: Vec<String>,
}

impl State {
    pub fn new(tenants: Vec<Tenant>) -> Self {
        State {
            tenants,
            tokens: HashMap::new(),
            in_flight: HashMap::new(),
            stats: Stats::default(),
            meeting_updates: Vec::new(),
            faults: Faults::default(),
            counter: 1000,
            uploads: HashMap::new(),
            outbox: Vec::new(),
            ews_drafts: Vec::new(),
            ews_logons: HashMap::new(),
            blocked_mailboxes: Vec::new(),
        }
    }

    pub fn next_change_key(&mut self) -> String {
        self.counter += 1;
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("ck-{:012}", self.counter))
    }

    /// The first calendar of any mailbox with this name (the tests' and the demo's handle).
    pub fn calendar_named_mut(&mut self, name: &str) -> Option<&mut Calendar> {
        self.tenants
            .iter_mut()
            .flat_map(|t| t.users.iter_mut())
            .flat_map(|u| u.calendars.iter_mut())
            .find(|c| c.name == name)
    }

    pub fn mailbox_mut(&mut self, tenant: &str, upn: &str) -> Option<&mut Mailbox> {
        self.tenants
            .iter_mut()
            .find(|t| t.id == tenant)?
            .users
            .iter_mut()
            .find(|u| u.upn.eq_ignore_ascii_case(upn))
    }

    /// Finds an event anywhere (for the test control endpoints), with its mailbox's UPN.
    /// Whether staff edit the event before this write (the `staff_edit_before_write`
    /// fault counts writes down to it).
    pub fn staff_edits_now(&mut self) -> bool {
        match self.faults.staff_edit_before_write {
            Some(0) => {
                self.faults.staff_edit_before_write = None;
                true
            }
            Some(n) => {
                self.faults.staff_edit_before_write = Some(n - 1);
                false
            }
            None => false,
        }
    }

    pub fn event_mut(&mut self, id: &str) -> Option<(String, &mut Event)> {
        self.events_mut(None)
            .find(|(_, _, e)| e.id == id)
            .map(|(upn, _, e)| (upn, e))
    }

    /// Every event of `tenant` (of all tenants when `None`), with its mailbox's UPN and its
    /// calendar's id.
    pub fn events_mut<'a>(
        &'a mut self,
        tenant: Option<&'a str>,
    ) -> impl Iterator<Item = (String, String, &'a mut Event)> + 'a {
        self.tenants
            .iter_mut()
            .filter(move |t| tenant.is_none_or(|id| t.id == id))
            .flat_map(|t| t.users.iter_mut())
            .flat_map(|u| {
                let upn = u.upn.clone();
                u.calendars.iter_mut().flat_map(move |c| {
                    let (upn, calendar) = (upn.clone(), c.id.clone());
                    c.events
                        .iter_mut()
                        .map(move |e| (upn.clone(), calendar.clone(), e))
                })
            })
    }
}

/// Options that shape the simulator's behaviour.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub token_lifetime: Duration,
    pub max_concurrency: usize,
    /// Page size when the client gives no `$top`.
    pub default_page_size: usize,
    /// Largest page served whatever `$top` says (lower it to force paging).
    pub max_page_size: usize,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            token_lifetime: Duration::from_secs(3599),
            max_concurrency: 4,
            default_page_size: 10,
            max_page_size: 1000,
        }
    }
}
