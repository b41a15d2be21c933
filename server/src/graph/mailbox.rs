//! The Graph backend behind Booket's [`Mailbox`] seam: one mailbox reached with one app's
//! credentials. Graph's wire types end here; the booking core sees [`Event`]s.

use super::attachments::SMALL_ATTACHMENT_LIMIT;
use super::error::GraphError;
use super::wire;
use super::{AppCredentials, GraphClient};
use crate::exchange::CalendarIds;
use crate::mailbox::{
    Attachment, AttachmentId, CalendarName, Capabilities, Change, Event, EventId, FileContent,
    Mailbox, MailboxError, NewAttachment, OutgoingMail,
};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Booket's hold record as a Graph single-value extended property.
pub use crate::exchange::hold_property::GRAPH_ID as HOLD_PROPERTY;

/// The largest attachment Graph takes through an upload session (https://learn.microsoft.com/graph/outlook-large-attachments).
pub const MAX_ATTACHMENT: usize = 150 * 1024 * 1024;

const _: () = assert!(SMALL_ATTACHMENT_LIMIT < MAX_ATTACHMENT);

/// One mailbox through Graph.
pub struct GraphMailbox {
    client: Arc<GraphClient>,
    creds: AppCredentials,
    user: String,
    /// Whether this tenant refuses a PATCH with a stale `If-Match` (the conformance check's
    /// answer, `[exchange] if_match_honoured`): Graph does not document it.
    if_match_honoured: bool,
    ids: CalendarIds,
}

impl GraphMailbox {
    pub fn new(
        client: Arc<GraphClient>,
        creds: AppCredentials,
        user: impl Into<String>,
        if_match_honoured: bool,
    ) -> Self {
        GraphMailbox {
            client,
            creds,
            user: user.into(),
            if_match_honoured,
            ids: CalendarIds::default(),
        }
    }

    async fn lookup(&self, calendar: &CalendarName) -> Result<String, MailboxError> {
        self.client
            .resolve_calendar(&self.creds, &self.user, calendar.as_str())
            .await
            .map_err(MailboxError::from)
    }

    async fn calendar_id(&self, calendar: &CalendarName) -> Result<String, MailboxError> {
        self.ids.get(calendar.as_str(), self.lookup(calendar)).await
    }

    async fn view(
        &self,
        id: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<wire::Event>, GraphError> {
        self.client
            .calendar_view(&self.creds, &self.user, id, start, end, HOLD_PROPERTY)
            .await
    }
}

/// An event as the core sees it; `None` when its times cannot be read.
pub fn to_event(e: wire::Event) -> Option<Event> {
    let (start, end) = match (wire::to_utc(&e.start), wire::to_utc(&e.end)) {
        (Ok(s), Ok(t)) => (s, t),
        _ => {
            tracing::warn!(event = %e.id, "event with unreadable times skipped");
            return None;
        }
    };
    Some(Event {
        version: e.if_match(),
        hold: e.property(HOLD_PROPERTY).map(str::to_owned),
        subject: e.subject.unwrap_or_default(),
        location: e.location.map(|l| l.display_name).unwrap_or_default(),
        all_day: e.is_all_day,
        cancelled: e.is_cancelled,
        id: EventId::new(e.id),
        start,
        end,
    })
}

/// Graph's `message` for `sendMail`.
pub fn message(mail: &OutgoingMail) -> serde_json::Value {
    use base64::Engine;
    let attachments: Vec<serde_json::Value> = mail
        .attachments
        .iter()
        .map(|a| {
            serde_json::json!({
                "@odata.type": "#microsoft.graph.fileAttachment",
                "name": a.name,
                "contentType": a.content_type,
                "contentBytes": base64::engine::general_purpose::STANDARD.encode(&a.bytes),
            })
        })
        .collect();
    let mut m = serde_json::json!({
        "subject": mail.subject,
        "body": { "contentType": "Text", "content": mail.text },
        "toRecipients": [ { "emailAddress": { "address": mail.to } } ],
        "attachments": attachments,
    });
    if let Some(from) = &mail.from {
        m["from"] = serde_json::json!({ "emailAddress": { "address": from } });
    }
    m
}

impl From<GraphError> for MailboxError {
    fn from(e: GraphError) -> Self {
        match e {
            GraphError::NotFound { .. } => MailboxError::NotFound,
            GraphError::Conflict { .. } => MailboxError::Conflict,
            e if e.is_transient() => MailboxError::Unavailable(e.to_string()),
            // (A refused token's message already names its likely cause.)
            e => MailboxError::Refused(e.to_string()),
        }
    }
}

#[async_trait::async_trait]
impl Mailbox for GraphMailbox {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            conditional_writes: self.if_match_honoured,
            // No header or property turns Exchange's meeting updates off (https://learn.microsoft.com/graph/api/event-update).
            suppress_attendee_mail: false,
            max_attachment_bytes: MAX_ATTACHMENT,
        }
    }

    async fn sign_in(&self) -> Result<(), MailboxError> {
        self.client.token(&self.creds).await.map(|_| ())?;
        Ok(())
    }

    async fn resolve_calendar(&self, calendar: &CalendarName) -> Result<(), MailboxError> {
        self.calendar_id(calendar).await.map(|_| ())
    }

    async fn events(
        &self,
        calendar: &CalendarName,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<Event>, MailboxError> {
        // A calendar deleted or recreated is found by name again, once.
        let events = self
            .ids
            .with_id(
                calendar.as_str(),
                || self.lookup(calendar),
                |id| async move { Ok(self.view(&id, start, end).await?) },
            )
            .await?;
        Ok(events.into_iter().filter_map(to_event).collect())
    }

    async fn event(&self, calendar: &CalendarName, id: &EventId) -> Result<Event, MailboxError> {
        let calendar_id = self.calendar_id(calendar).await?;
        let event = self
            .client
            .get_event(
                &self.creds,
                &self.user,
                &calendar_id,
                id.as_str(),
                HOLD_PROPERTY,
            )
            .await?;
        // An event whose times cannot be read is no slot.
        to_event(event).ok_or(MailboxError::NotFound)
    }

    async fn update(&self, event: &Event, change: Change<'_>) -> Result<Event, MailboxError> {
        let Some(version) = &event.version else {
            return Err(MailboxError::Refused(
                "Graph gave the event neither an etag nor a changeKey".into(),
            ));
        };
        // Graph sends attendees an update for every organizer change, whatever
        // `change.notify_attendees` says (see `capabilities`).
        let answer = self
            .client
            .patch_event(
                &self.creds,
                &self.user,
                event.id.as_str(),
                version,
                change.subject,
                Some((HOLD_PROPERTY, change.hold)),
            )
            .await?;
        // The answer is the event without `singleValueExtendedProperties` (https://learn.microsoft.com/graph/api/event-update):
        // only its new version is taken; the rest is what was sent.
        Ok(event.written(&change, answer.if_match()))
    }

    async fn add_attachment(
        &self,
        event_id: &EventId,
        file: NewAttachment<'_>,
    ) -> Result<AttachmentId, MailboxError> {
        let added = self
            .client
            .add_attachment(
                &self.creds,
                &self.user,
                event_id.as_str(),
                file.name,
                file.content_type,
                file.tag,
                file.content,
            )
            .await?;
        if let Some(id) = added.id {
            return Ok(AttachmentId::new(id));
        }
        // An upload session whose `Location` named no id Booket could read: the event's
        // attachments tell it (by name, and by tag where the tag survived). Never an empty
        // id: cleaning up would then delete `…/attachments/`.
        tracing::warn!(location = ?added.location, "no attachment id in the upload session's Location; listing the event's attachments");
        let listed = self.attachments(event_id).await?;
        let mut ours = listed
            .into_iter()
            .filter(|a| a.name == file.name && a.tag.as_deref().is_none_or(|t| t == file.tag));
        match (ours.next(), ours.next()) {
            (Some(one), None) => Ok(one.id),
            (Some(_), Some(_)) => Err(MailboxError::Refused(format!(
                "the attachment id of \"{}\" cannot be told from another file of that name",
                file.name
            ))),
            (None, _) => Err(MailboxError::Refused(format!(
                "\"{}\" was uploaded, but the event does not list it",
                file.name
            ))),
        }
    }

    async fn attachments(&self, event_id: &EventId) -> Result<Vec<Attachment>, MailboxError> {
        let listed = self
            .client
            .list_attachments(&self.creds, &self.user, event_id.as_str())
            .await?;
        Ok(listed
            .into_iter()
            .map(|a| Attachment {
                id: AttachmentId::new(a.id),
                name: a.name,
                tag: a.content_id,
                content_type: a.content_type,
                size: a.size,
            })
            .collect())
    }

    async fn attachment_content(
        &self,
        event_id: &EventId,
        info: &Attachment,
        limit: usize,
    ) -> Result<FileContent, MailboxError> {
        info.check_within(limit)?;
        let bytes = self
            .client
            .attachment_value(&self.creds, &self.user, event_id.as_str(), info.id.as_str())
            .await?;
        if bytes.len() > limit {
            return Err(crate::mailbox::too_large(bytes.len(), limit));
        }
        Ok(FileContent {
            content_type: info.content_type.clone(),
            body: app::api::Upload::in_memory(&info.name, Vec::from(bytes)),
        })
    }

    async fn remove_attachment(
        &self,
        event_id: &EventId,
        attachment_id: &AttachmentId,
    ) -> Result<(), MailboxError> {
        Ok(self
            .client
            .delete_attachment(
                &self.creds,
                &self.user,
                event_id.as_str(),
                attachment_id.as_str(),
            )
            .await?)
    }

    async fn send_mail(&self, mail: &OutgoingMail) -> Result<(), MailboxError> {
        Ok(self
            .client
            .send_mail(&self.creds, &self.user, message(mail))
            .await?)
    }
}
