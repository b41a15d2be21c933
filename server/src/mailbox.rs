//! The seam between Booket and Exchange: what the booking core needs from a mailbox,
//! whichever API reaches it (Microsoft Graph or EWS). Nothing here knows a wire
//! format; each backend turns its answers into these types at its own edge, and says what
//! it can do in [`Capabilities`], which the write path consults instead of guessing.
//!
//! One [`Mailbox`] stands for one mailbox reached with one app's credentials; calendars in
//! it are named as Outlook shows them, and the backend keeps their ids.

use chrono::{DateTime, Utc};

/// A string the backend (or Outlook) gave, typed by what it names so that one cannot be
/// passed where another is meant. Made at a backend's edge (or from configuration) and
/// carried as is; Booket never builds one from a citizen's input without checking it first
/// (a slot id's signature).
macro_rules! exchange_name {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        #[derive(serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                $name(value.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

exchange_name!(
    /// An event's id as the backend gave it (Graph's event id, EWS's ItemId). Opaque.
    EventId
);
exchange_name!(
    /// An attachment's id as the backend gave it. Opaque.
    AttachmentId
);
exchange_name!(
    /// A calendar as Outlook shows its name (`outlook_calendar`); the backend finds and
    /// keeps its id.
    CalendarName
);

/// A calendar event as the booking core sees it (serialisable for the notes instances send
/// each other through the shared store).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Event {
    pub id: EventId,
    /// The version a conditional write is made against (Graph: etag or change key; EWS:
    /// ChangeKey). `None` when the backend gave none: such an event cannot be written.
    pub version: Option<String>,
    pub subject: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub all_day: bool,
    pub cancelled: bool,
    /// Booket's hold record, stored with the event (an extended property).
    pub hold: Option<String>,
    /// Where the meeting is (shown in the confirmation mail); empty when none.
    pub location: String,
}

impl Event {
    /// The event as a write of `change` left it, built from what was sent and the new
    /// version the answer gave: a write's answer is never read for anything else. Graph's
    /// PATCH answer leaves out extended properties (the hold record), EWS's UpdateItem
    /// answer carries the ItemId alone (https://learn.microsoft.com/graph/api/event-update; EWS: https://learn.microsoft.com/exchange/client-developer/web-service-reference/updateitem-operation).
    pub fn written(&self, change: &Change<'_>, version: Option<String>) -> Event {
        let mut written = self.clone();
        if let Some(subject) = change.subject {
            written.subject = subject.to_owned();
        }
        written.hold = Some(change.hold.to_owned());
        written.version = version;
        written
    }
}

/// What a write changes: the subject (when given) and the hold record.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    pub subject: Option<&'a str>,
    pub hold: &'a str,
    /// Whether attendees should get a meeting update. Only a backend whose
    /// [`Capabilities::suppress_attendee_mail`] is true can honour `false`.
    pub notify_attendees: bool,
}

/// What a backend can do, stated once and consulted by the write path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// A write against a version that is no longer current is refused. Graph does not
    /// document it for events: a tenant's conformance check answers it (`if_match_honoured`).
    /// EWS always checks its ChangeKey.
    pub conditional_writes: bool,
    /// Attendees' meeting updates can be switched off per write (EWS
    /// `SendMeetingInvitationsOrCancellations`); Graph has no such switch.
    pub suppress_attendee_mail: bool,
    /// The largest file the backend attaches (Graph: through an upload session; EWS: in one
    /// request).
    pub max_attachment_bytes: usize,
}

/// An event's attachment as listed (without its content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub id: AttachmentId,
    pub name: String,
    /// The tag Booket gave its own files (a content id); `None` when the backend dropped it.
    pub tag: Option<String>,
    pub content_type: Option<String>,
    /// In bytes, when the listing says.
    pub size: Option<u64>,
}

impl Attachment {
    /// Whether its listed size is within `limit` (a larger one is refused before its
    /// content is asked for).
    pub fn check_within(&self, limit: usize) -> Result<(), MailboxError> {
        match self.size {
            Some(size) if size > limit as u64 => Err(too_large(size as usize, limit)),
            _ => Ok(()),
        }
    }
}

/// Content read back that is over the caller's limit.
pub fn too_large(size: usize, limit: usize) -> MailboxError {
    MailboxError::Refused(format!(
        "an attachment of {size} bytes is over the {limit} bytes a booking's file may be"
    ))
}

/// An attachment's content: in memory, or read a piece at a time (a citizen's upload kept
/// in a temporary file), so a large file never has to be in memory whole. Reads are local
/// (memory or the page cache) and made in place.
pub trait AttachmentBody: Sync {
    fn size(&self) -> usize;
    /// `len` bytes from `offset` (fewer at the end).
    fn read(&self, offset: usize, len: usize) -> std::io::Result<Vec<u8>>;
    /// The same content for a request body that outlives this borrow (a stream to
    /// Exchange): the upload's own file handle, or a copy of what is in memory (a summary,
    /// a mail's small files).
    fn to_shared(&self) -> std::sync::Arc<dyn AttachmentBody + Send>;
}

impl AttachmentBody for Vec<u8> {
    fn size(&self) -> usize {
        self.len()
    }

    fn read(&self, offset: usize, len: usize) -> std::io::Result<Vec<u8>> {
        let start = offset.min(self.len());
        Ok(self[start..offset.saturating_add(len).min(self.len())].to_vec())
    }

    fn to_shared(&self) -> std::sync::Arc<dyn AttachmentBody + Send> {
        std::sync::Arc::new(self.clone())
    }
}

impl AttachmentBody for app::api::Upload {
    fn size(&self) -> usize {
        self.len
    }

    fn read(&self, offset: usize, len: usize) -> std::io::Result<Vec<u8>> {
        self.read_at(offset, len)
    }

    fn to_shared(&self) -> std::sync::Arc<dyn AttachmentBody + Send> {
        std::sync::Arc::new(self.clone())
    }
}

/// An attachment's content as read back from Exchange (to move a booking's files to its
/// new time): in a temporary file or, where the backend answers it whole, in memory.
pub struct FileContent {
    /// The type Exchange keeps for it, when its answer said.
    pub content_type: Option<String>,
    pub body: app::api::Upload,
}

/// A file to attach: its name, type, the tag that marks it as Booket's, and its content.
pub struct NewAttachment<'a> {
    pub name: &'a str,
    pub content_type: &'a str,
    pub tag: &'a str,
    pub content: &'a dyn AttachmentBody,
}

/// A plain-text mail with small attachments (the confirmation and its `.ics`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    pub to: String,
    /// The address shown as sender, when it differs from the sending mailbox.
    pub from: Option<String>,
    pub subject: String,
    pub text: String,
    pub attachments: Vec<MailAttachment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailAttachment {
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// Why a mailbox call failed, in the terms the booking core decides by. The message is for
/// the administrator's log (never for a citizen) and carries the backend's likely cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailboxError {
    #[error("not found")]
    NotFound,
    /// The item changed since it was read (someone else wrote first).
    #[error("changed since it was read")]
    Conflict,
    /// Refused for a reason that does not pass by itself (credentials, permissions,
    /// configuration, an answer Booket cannot read).
    #[error("{0}")]
    Refused(String),
    /// Unreachable, throttled beyond the retry budget, or failing for now.
    #[error("{0}")]
    Unavailable(String),
}

impl MailboxError {
    /// Worth trying again later (as opposed to a configuration mistake or a lost race).
    pub fn is_transient(&self) -> bool {
        matches!(self, MailboxError::Unavailable(_))
    }
}

/// What Booket needs from an Exchange mailbox.
#[async_trait::async_trait]
pub trait Mailbox: Send + Sync {
    fn capabilities(&self) -> Capabilities;

    /// Proves the credentials work (a token, a logon), without touching a calendar.
    async fn sign_in(&self) -> Result<(), MailboxError>;

    /// Finds the calendar with exactly this name (kept; found again when reading it
    /// answers that it is gone, as after staff delete and recreate it).
    async fn resolve_calendar(&self, calendar: &CalendarName) -> Result<(), MailboxError>;

    /// Events overlapping `[start, end)`, recurring ones expanded, with their hold records.
    /// Events whose times cannot be read are left out (and logged).
    async fn events(
        &self,
        calendar: &CalendarName,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<Event>, MailboxError>;

    /// One event with its current version and hold record, by an id read from this
    /// calendar's view. Graph looks it up within the calendar (an event of another one is
    /// [`MailboxError::NotFound`]); EWS cannot, and its opaque ids are not compared.
    async fn event(&self, calendar: &CalendarName, id: &EventId) -> Result<Event, MailboxError>;

    /// Writes `change` only if `event` is unchanged since it was read (as far as
    /// [`Capabilities::conditional_writes`] allows); a newer version is
    /// [`MailboxError::Conflict`]. Returns the event as written, with its new version.
    async fn update(&self, event: &Event, change: Change<'_>) -> Result<Event, MailboxError>;

    /// Attaches a file to an event; returns the attachment's id.
    async fn add_attachment(
        &self,
        event: &EventId,
        file: NewAttachment<'_>,
    ) -> Result<AttachmentId, MailboxError>;

    async fn attachments(&self, event: &EventId) -> Result<Vec<Attachment>, MailboxError>;

    /// The content of `attachment`, as [`Mailbox::attachments`] listed it on `event` (only
    /// an attachment the event itself lists is read: EWS names an attachment alone), at
    /// most `limit` bytes (a larger one is [`MailboxError::Refused`]); one gone since is
    /// [`MailboxError::NotFound`].
    async fn attachment_content(
        &self,
        event: &EventId,
        attachment: &Attachment,
        limit: usize,
    ) -> Result<FileContent, MailboxError>;

    /// Removes an attachment; one already gone is [`MailboxError::NotFound`].
    async fn remove_attachment(
        &self,
        event: &EventId,
        attachment: &AttachmentId,
    ) -> Result<(), MailboxError>;

    /// Sends a mail from this mailbox.
    async fn send_mail(&self, mail: &OutgoingMail) -> Result<(), MailboxError>;
}
