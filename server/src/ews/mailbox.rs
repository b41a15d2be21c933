//! One on-premises mailbox through EWS, behind the seam: calendars found by display name
//! (exactly one), weeks read with a CalendarView (split when truncated: EWS does not page
//! it), conditional writes by ChangeKey (`NeverOverwrite`; a stale key is refused with
//! ErrorIrresolvableConflict), attendee updates only when asked (`SendToNone` otherwise),
//! attachments in one request each, mail through CreateItem/SendItem.

use super::client::{EwsClient, EwsError};
use super::connection::RequestBody;
use super::xml::{self, Acting, Item};
use crate::config::EwsAccess;
use crate::exchange::{CalendarIds, Class};
use crate::mailbox::*;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Items asked for per CalendarView (Exchange caps it at 1000 by default).
const VIEW_PAGE: usize = 500;
/// A truncated view is split no finer than this.
const SMALLEST_SPLIT: chrono::TimeDelta = chrono::TimeDelta::minutes(15);
/// SOAP around an attachment's base64 (name, type and envelope), with room to spare.
const ATTACHMENT_OVERHEAD: usize = 8 * 1024;

pub struct EwsMailbox {
    client: Arc<EwsClient>,
    owner: String,
    /// Calendar folder ids by display name.
    ids: CalendarIds,
}

impl EwsMailbox {
    pub fn new(client: Arc<EwsClient>, owner: impl Into<String>) -> Self {
        EwsMailbox {
            client,
            owner: owner.into(),
            ids: CalendarIds::default(),
        }
    }

    pub(crate) fn acting(&self) -> Acting<'_> {
        Acting {
            owner: &self.owner,
            impersonate: self.client.account().access == EwsAccess::Impersonation,
        }
    }

    pub(crate) async fn call(&self, class: Class, body: String) -> Result<xml::Message, EwsError> {
        self.client.call(class, &self.owner, body).await
    }

    /// The calendar folder's id (looked up once).
    pub(crate) async fn folder_id(&self, calendar: &CalendarName) -> Result<String, MailboxError> {
        self.ids.get(calendar.as_str(), self.lookup(calendar)).await
    }

    /// The calendar folder's id by display name (exactly one folder).
    async fn lookup(&self, calendar: &CalendarName) -> Result<String, MailboxError> {
        let m = self
            .call(
                Class::Read,
                xml::find_folder(self.acting(), calendar.as_str()),
            )
            .await
            .map_err(MailboxError::from)?;
        let folders: Vec<_> = m
            .root
            .and_then(|r| r.folders)
            .map(|f| f.list)
            .unwrap_or_default()
            .into_iter()
            // The restriction matches case-insensitively; Outlook names are exact.
            .filter(|f| f.name == calendar.as_str())
            .filter(|f| {
                f.class
                    .as_deref()
                    .is_none_or(|c| c.starts_with("IPF.Appointment"))
            })
            .collect();
        match folders.as_slice() {
                    [one] => Ok(one.id.id.clone()),
                    [] => Err(MailboxError::Refused(format!(
                        "Outlook calendar \"{calendar}\" not found in {} (EWS FindFolder under the mailbox root)",
                        self.owner
                    ))),
                    more => Err(MailboxError::Refused(format!(
                        "Outlook calendar name \"{calendar}\" matches {} folders in {}; rename one",
                        more.len(),
                        self.owner
                    ))),
                }
    }

    /// One CalendarView, split in halves while Exchange says it left items out.
    async fn view(
        &self,
        folder: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<Item>, MailboxError> {
        let mut out = Vec::new();
        let mut ranges = vec![(start, end)];
        while let Some((from, to)) = ranges.pop() {
            let m = self
                .call(
                    Class::Read,
                    xml::calendar_view(self.acting(), folder, from, to, VIEW_PAGE),
                )
                .await?;
            let root = m.root.unwrap_or_default();
            if !root.includes_last {
                let half = (to - from) / 2;
                if half < SMALLEST_SPLIT {
                    return Err(MailboxError::Refused(format!(
                        "more than {VIEW_PAGE} calendar items between {from} and {to}"
                    )));
                }
                // Later half first on the stack: the earlier half is read first.
                ranges.push((from + half, to));
                ranges.push((from, from + half));
                continue;
            }
            // An item that spans a split point comes in both halves. It is kept from the
            // part its start falls in (the first part keeps what began before the window),
            // so no two answers' ids are compared: EWS ids are opaque, and Microsoft
            // defines no equality for them.
            let items = root.items.map(|i| i.list).unwrap_or_default();
            out.extend(items.into_iter().filter(|i| {
                from == start
                    || i.start
                        .as_deref()
                        .and_then(xml::parse_time)
                        .is_none_or(|s| s >= from)
            }));
        }
        Ok(out)
    }
}

/// The seam's event from an EWS calendar item; `None` when its times cannot be read.
fn to_event(item: Item) -> Option<Event> {
    let id = item.id.as_ref()?;
    let (Some(start), Some(end)) = (
        item.start.as_deref().and_then(xml::parse_time),
        item.end.as_deref().and_then(xml::parse_time),
    ) else {
        tracing::warn!(event = %id.id, "calendar item with unreadable times skipped");
        return None;
    };
    Some(Event {
        id: EventId::new(id.id.clone()),
        version: id.change_key.clone(),
        hold: item.hold().map(str::to_owned),
        subject: item.subject.unwrap_or_default(),
        location: item.location.unwrap_or_default(),
        all_day: item.all_day.unwrap_or(false),
        cancelled: item.cancelled.unwrap_or(false),
        start,
        end,
    })
}

#[async_trait::async_trait]
impl Mailbox for EwsMailbox {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            // A stale ChangeKey is always refused (ConflictResolution="NeverOverwrite").
            conditional_writes: true,
            // SendMeetingInvitationsOrCancellations="SendToNone".
            suppress_attendee_mail: true,
            // One request carries the whole file, base64-encoded.
            max_attachment_bytes: self
                .client
                .request_limit()
                .saturating_sub(ATTACHMENT_OVERHEAD)
                / 4
                * 3,
        }
    }

    async fn sign_in(&self) -> Result<(), MailboxError> {
        // FindFolder for a name no calendar has proves logon and rights without reading one.
        self.call(
            Class::Read,
            xml::find_folder(self.acting(), "booket sign-in probe"),
        )
        .await?;
        Ok(())
    }

    async fn resolve_calendar(&self, calendar: &CalendarName) -> Result<(), MailboxError> {
        self.folder_id(calendar).await.map(|_| ())
    }

    async fn events(
        &self,
        calendar: &CalendarName,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<Event>, MailboxError> {
        // A folder gone (ErrorFolderNotFound: deleted, or recreated under the same name) is
        // found by name again, once.
        let items = self
            .ids
            .with_id(
                calendar.as_str(),
                || self.lookup(calendar),
                |folder| async move { self.view(&folder, start, end).await },
            )
            .await?;
        Ok(items.into_iter().filter_map(to_event).collect())
    }

    async fn event(&self, _calendar: &CalendarName, id: &EventId) -> Result<Event, MailboxError> {
        // GetItem cannot be asked within a folder, and EWS ids are opaque (Microsoft
        // defines no equality for them), so the item's parent folder is not compared with
        // the calendar's. The id itself is only ever one Booket signed into a slot id for
        // an element of this calendar, after reading it from this calendar's view, and
        // the write path checks the slot's times against the item's.
        let m = self
            .call(
                Class::Read,
                xml::get_item(self.acting(), id.as_str(), false),
            )
            .await?;
        let item = m.into_item().ok_or(MailboxError::NotFound)?;
        to_event(item).ok_or_else(|| MailboxError::Refused("an item without readable times".into()))
    }

    async fn update(&self, event: &Event, change: Change<'_>) -> Result<Event, MailboxError> {
        let Some(change_key) = event.version.as_deref() else {
            return Err(MailboxError::Refused("an item without a ChangeKey".into()));
        };
        let m = self
            .call(
                Class::Write,
                xml::update_item(
                    self.acting(),
                    event.id.as_str(),
                    change_key,
                    change.subject,
                    change.hold,
                    change.notify_attendees,
                ),
            )
            .await?;
        let new_key = m
            .into_item()
            .and_then(|i| i.id)
            .and_then(|id| id.change_key);
        // (Exchange answers the new key; were it missing, this copy could not be written
        // again — every write path reads the item first anyway.)
        Ok(event.written(&change, new_key))
    }

    async fn add_attachment(
        &self,
        event_id: &EventId,
        file: NewAttachment<'_>,
    ) -> Result<AttachmentId, MailboxError> {
        let limit = self.capabilities().max_attachment_bytes;
        if file.content.size() > limit {
            return Err(MailboxError::Refused(format!(
                "\"{}\" is {} bytes, over what one EWS request carries ({limit} bytes)",
                file.name,
                file.content.size()
            )));
        }
        // The file's base64 is streamed between the envelope's text from where it lies (a
        // citizen's upload: its temporary file), never built in memory.
        let (head, tail) = xml::create_attachment_around(
            self.acting(),
            event_id.as_str(),
            file.name,
            file.content_type,
            file.tag,
        );
        let body = RequestBody::Streamed {
            head: head.into(),
            file: file.content.to_shared(),
            tail: tail.into(),
        };
        let m = self.client.send(Class::Write, &self.owner, body).await?;
        m.attachments
            .and_then(|a| a.list.into_iter().next())
            .map(|a| AttachmentId::new(a.id.id))
            .ok_or_else(|| {
                MailboxError::Refused("CreateAttachment answered no attachment id".into())
            })
    }

    async fn attachments(&self, event_id: &EventId) -> Result<Vec<Attachment>, MailboxError> {
        let m = self
            .call(
                Class::Read,
                xml::get_item(self.acting(), event_id.as_str(), true),
            )
            .await?;
        let item = m.into_item().ok_or(MailboxError::NotFound)?;
        Ok(item
            .attachments
            .map(|a| a.list)
            .unwrap_or_default()
            .into_iter()
            .map(|a| Attachment {
                id: AttachmentId::new(a.id.id),
                name: a.name,
                tag: a.content_id.filter(|c| !c.is_empty()),
                content_type: a.content_type,
                size: a.size,
            })
            .collect())
    }

    async fn attachment_content(
        &self,
        _event_id: &EventId,
        info: &Attachment,
        limit: usize,
    ) -> Result<FileContent, MailboxError> {
        use base64::Engine;
        // (GetAttachment names the attachment alone: `info` comes from this item's listing.)
        info.check_within(limit)?;
        // The answer carries the content whole, as base64 (EWS has no ranged read).
        let m = self
            .call(
                Class::Read,
                xml::get_attachment(self.acting(), info.id.as_str()),
            )
            .await?;
        let file = m
            .attachments
            .and_then(|a| a.list.into_iter().next())
            .ok_or(MailboxError::NotFound)?;
        let content = file.content.unwrap_or_default();
        // (Line breaks in the base64 are allowed by XML Schema; a copy only when there are.)
        let text: std::borrow::Cow<'_, str> = if content.contains(|c: char| c.is_ascii_whitespace())
        {
            content
                .chars()
                .filter(|c| !c.is_ascii_whitespace())
                .collect::<String>()
                .into()
        } else {
            content.as_str().into()
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map_err(|_| {
                MailboxError::Refused("GetAttachment answered content that is not base64".into())
            })?;
        if bytes.len() > limit {
            return Err(crate::mailbox::too_large(bytes.len(), limit));
        }
        Ok(FileContent {
            content_type: file.content_type.or_else(|| info.content_type.clone()),
            body: app::api::Upload::in_memory(&info.name, bytes),
        })
    }

    async fn remove_attachment(
        &self,
        event_id: &EventId,
        attachment_id: &AttachmentId,
    ) -> Result<(), MailboxError> {
        // DeleteAttachment names the attachment alone, wherever it is: a copy of an item
        // whose hold record names the original's files must not remove them. Only an
        // attachment this item lists (as the server spelt its id there) is deleted.
        let listed = self.attachments(event_id).await?;
        if !listed.iter().any(|a| &a.id == attachment_id) {
            return Err(MailboxError::NotFound);
        }
        self.call(
            Class::Write,
            xml::delete_attachment(self.acting(), attachment_id.as_str()),
        )
        .await?;
        Ok(())
    }

    async fn send_mail(&self, mail: &OutgoingMail) -> Result<(), MailboxError> {
        use base64::Engine;
        let acting = self.acting();
        let draft = |send_now| {
            xml::create_message(
                acting,
                &mail.to,
                mail.from.as_deref(),
                &mail.subject,
                &mail.text,
                send_now,
            )
        };
        if mail.attachments.is_empty() {
            self.call(Class::Write, draft(true)).await?;
            return Ok(());
        }
        // With attachments: a draft, its files, then send (each write moves the ChangeKey).
        let m = self.call(Class::Write, draft(false)).await?;
        let id = m
            .into_item()
            .and_then(|i| i.id)
            .ok_or_else(|| MailboxError::Refused("CreateItem answered no item id".into()))?;
        let mut change_key = id.change_key.unwrap_or_default();
        for a in &mail.attachments {
            let encoded = base64::engine::general_purpose::STANDARD.encode(&a.bytes);
            let m = self
                .call(
                    Class::Write,
                    xml::create_attachment(acting, &id.id, &a.name, &a.content_type, "", &encoded),
                )
                .await?;
            if let Some(ck) = m
                .attachments
                .and_then(|l| l.list.into_iter().next())
                .and_then(|a| a.id.root_change_key)
            {
                change_key = ck;
            }
        }
        self.call(Class::Write, xml::send_item(acting, &id.id, &change_key))
            .await?;
        Ok(())
    }
}
