//! The SOAP requests Booket sends, every value escaped
//! (https://learn.microsoft.com/exchange/client-developer/web-service-reference/ews-operations-in-exchange).

use super::{Acting, MESSAGES_NS, SOAP_NS, TYPES_NS};
use chrono::{DateTime, SecondsFormat, Utc};
use quick_xml::escape::escape;

// Booket's hold record: the same named property (set and name) Graph writes, so a mailbox
// reached through either API shows the same holds.
use crate::exchange::hold_property::{NAME as HOLD_NAME, SET as HOLD_SET};

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The envelope around one operation: server version, time zone context and, when
/// impersonating, the owner.
pub fn envelope(acting: Acting<'_>, body: &str) -> String {
    let impersonation = if acting.impersonate {
        format!(
            "<t:ExchangeImpersonation><t:ConnectingSID><t:SmtpAddress>{}</t:SmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>",
            escape(acting.owner)
        )
    } else {
        String::new()
    };
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="utf-8"?>"#,
            r#"<soap:Envelope xmlns:soap="{soap}" xmlns:m="{m}" xmlns:t="{t}">"#,
            r#"<soap:Header><t:RequestServerVersion Version="Exchange2013_SP1"/>"#,
            r#"<t:TimeZoneContext><t:TimeZoneDefinition Id="UTC"/></t:TimeZoneContext>{imp}</soap:Header>"#,
            r#"<soap:Body>{body}</soap:Body></soap:Envelope>"#
        ),
        soap = SOAP_NS,
        m = MESSAGES_NS,
        t = TYPES_NS,
        imp = impersonation,
        body = body
    )
}

/// The mailbox part of a distinguished folder: always named, so delegate access reaches
/// the owner's folders and impersonation is explicit.
fn mailbox(acting: Acting<'_>) -> String {
    format!(
        "<t:Mailbox><t:EmailAddress>{}</t:EmailAddress></t:Mailbox>",
        escape(acting.owner)
    )
}

fn hold_uri() -> String {
    format!(
        r#"<t:ExtendedFieldURI PropertySetId="{HOLD_SET}" PropertyName="{HOLD_NAME}" PropertyType="String"/>"#
    )
}

/// The properties Booket reads of a calendar item.
fn item_shape(with_attachments: bool) -> String {
    format!(
        concat!(
            "<m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>",
            r#"<t:FieldURI FieldURI="item:Subject"/>"#,
            r#"<t:FieldURI FieldURI="calendar:Start"/><t:FieldURI FieldURI="calendar:End"/>"#,
            r#"<t:FieldURI FieldURI="calendar:IsAllDayEvent"/><t:FieldURI FieldURI="calendar:IsCancelled"/>"#,
            r#"<t:FieldURI FieldURI="calendar:Location"/>{att}{hold}"#,
            "</t:AdditionalProperties></m:ItemShape>"
        ),
        att = if with_attachments {
            r#"<t:FieldURI FieldURI="item:Attachments"/>"#
        } else {
            ""
        },
        hold = hold_uri()
    )
}

/// FindFolder: calendars anywhere under the mailbox's root with exactly this display name.
pub fn find_folder(acting: Acting<'_>, name: &str) -> String {
    envelope(
        acting,
        &format!(
            concat!(
                r#"<m:FindFolder Traversal="Deep"><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape>"#,
                r#"<t:AdditionalProperties><t:FieldURI FieldURI="folder:DisplayName"/><t:FieldURI FieldURI="folder:FolderClass"/></t:AdditionalProperties></m:FolderShape>"#,
                r#"<m:Restriction><t:IsEqualTo><t:FieldURI FieldURI="folder:DisplayName"/>"#,
                r#"<t:FieldURIOrConstant><t:Constant Value="{name}"/></t:FieldURIOrConstant></t:IsEqualTo></m:Restriction>"#,
                r#"<m:ParentFolderIds><t:DistinguishedFolderId Id="msgfolderroot">{mbx}</t:DistinguishedFolderId></m:ParentFolderIds>"#,
                "</m:FindFolder>"
            ),
            name = escape(name),
            mbx = mailbox(acting)
        ),
    )
}

/// FindItem with a CalendarView: occurrences expanded; at most `max` items (no paging: a
/// truncated answer says so and the range is split).
pub fn calendar_view(
    acting: Acting<'_>,
    folder: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    max: usize,
) -> String {
    envelope(
        acting,
        &format!(
            concat!(
                r#"<m:FindItem Traversal="Shallow">{shape}"#,
                r#"<m:CalendarView MaxEntriesReturned="{max}" StartDate="{start}" EndDate="{end}"/>"#,
                r#"<m:ParentFolderIds><t:FolderId Id="{folder}"/></m:ParentFolderIds></m:FindItem>"#
            ),
            shape = item_shape(false),
            max = max,
            start = time(start),
            end = time(end),
            folder = escape(folder)
        ),
    )
}

/// GetItem of one item with its ChangeKey and (optionally) attachments.
pub fn get_item(acting: Acting<'_>, id: &str, with_attachments: bool) -> String {
    envelope(
        acting,
        &format!(
            r#"<m:GetItem>{shape}<m:ItemIds><t:ItemId Id="{id}"/></m:ItemIds></m:GetItem>"#,
            shape = item_shape(with_attachments),
            id = escape(id)
        ),
    )
}

/// UpdateItem against `change_key` (refused when stale: `NeverOverwrite`), setting the
/// subject (when given) and the hold record; attendees get an update only when asked.
pub fn update_item(
    acting: Acting<'_>,
    id: &str,
    change_key: &str,
    subject: Option<&str>,
    hold: &str,
    notify_attendees: bool,
) -> String {
    let send = if notify_attendees {
        "SendToAllAndSaveCopy"
    } else {
        "SendToNone"
    };
    let subject = subject
        .map(|s| {
            format!(
                r#"<t:SetItemField><t:FieldURI FieldURI="item:Subject"/><t:CalendarItem><t:Subject>{}</t:Subject></t:CalendarItem></t:SetItemField>"#,
                escape(s)
            )
        })
        .unwrap_or_default();
    envelope(
        acting,
        &format!(
            concat!(
                r#"<m:UpdateItem ConflictResolution="NeverOverwrite" SendMeetingInvitationsOrCancellations="{send}">"#,
                r#"<m:ItemChanges><t:ItemChange><t:ItemId Id="{id}" ChangeKey="{ck}"/><t:Updates>{subject}"#,
                r#"<t:SetItemField>{uri}<t:CalendarItem><t:ExtendedProperty>{uri}<t:Value>{hold}</t:Value></t:ExtendedProperty></t:CalendarItem></t:SetItemField>"#,
                r#"</t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>"#
            ),
            send = send,
            id = escape(id),
            ck = escape(change_key),
            subject = subject,
            uri = hold_uri(),
            hold = escape(hold)
        ),
    )
}

/// CreateAttachment: one file in one request (EWS has no chunked upload), tagged with a
/// content id.
pub fn create_attachment(
    acting: Acting<'_>,
    item_id: &str,
    name: &str,
    content_type: &str,
    tag: &str,
    base64: &str,
) -> String {
    let (head, tail) = create_attachment_around(acting, item_id, name, content_type, tag);
    format!("{head}{base64}{tail}")
}

/// CreateAttachment as the text before and after the file's base64 `Content`, so a large
/// file can be streamed between them a chunk at a time instead of built into one string.
pub fn create_attachment_around(
    acting: Acting<'_>,
    item_id: &str,
    name: &str,
    content_type: &str,
    tag: &str,
) -> (String, String) {
    const MARK: &str = "\u{0}content\u{0}";
    let whole = envelope(
        acting,
        &format!(
            concat!(
                r#"<m:CreateAttachment><m:ParentItemId Id="{id}"/><m:Attachments><t:FileAttachment>"#,
                "<t:Name>{name}</t:Name><t:ContentType>{ct}</t:ContentType><t:ContentId>{tag}</t:ContentId>",
                "<t:Content>{content}</t:Content></t:FileAttachment></m:Attachments></m:CreateAttachment>"
            ),
            id = escape(item_id),
            name = escape(name),
            ct = escape(content_type),
            tag = escape(tag),
            content = MARK
        ),
    );
    // (Escaped text never holds a NUL, so the mark is found once, where it was put.)
    let (head, tail) = whole.split_once(MARK).unwrap_or((&whole, ""));
    (head.to_owned(), tail.to_owned())
}

/// GetAttachment of one file attachment: its content comes base64 in `Content`
/// (https://learn.microsoft.com/exchange/client-developer/web-service-reference/getattachment-operation).
pub fn get_attachment(acting: Acting<'_>, attachment_id: &str) -> String {
    envelope(
        acting,
        &format!(
            r#"<m:GetAttachment><m:AttachmentIds><t:AttachmentId Id="{}"/></m:AttachmentIds></m:GetAttachment>"#,
            escape(attachment_id)
        ),
    )
}

pub fn delete_attachment(acting: Acting<'_>, attachment_id: &str) -> String {
    envelope(
        acting,
        &format!(
            r#"<m:DeleteAttachment><m:AttachmentIds><t:AttachmentId Id="{}"/></m:AttachmentIds></m:DeleteAttachment>"#,
            escape(attachment_id)
        ),
    )
}

/// CreateItem of a message, saved as a draft (its attachments follow), or sent at once.
pub fn create_message(
    acting: Acting<'_>,
    to: &str,
    from: Option<&str>,
    subject: &str,
    text: &str,
    send_now: bool,
) -> String {
    let from = from
        .map(|f| {
            format!(
                "<t:From><t:Mailbox><t:EmailAddress>{}</t:EmailAddress></t:Mailbox></t:From>",
                escape(f)
            )
        })
        .unwrap_or_default();
    envelope(
        acting,
        &format!(
            concat!(
                r#"<m:CreateItem MessageDisposition="{disp}"><m:SavedItemFolderId><t:DistinguishedFolderId Id="sentitems">{mbx}</t:DistinguishedFolderId></m:SavedItemFolderId>"#,
                r#"<m:Items><t:Message><t:Subject>{subject}</t:Subject><t:Body BodyType="Text">{text}</t:Body>"#,
                "<t:ToRecipients><t:Mailbox><t:EmailAddress>{to}</t:EmailAddress></t:Mailbox></t:ToRecipients>{from}",
                "</t:Message></m:Items></m:CreateItem>"
            ),
            disp = if send_now { "SendAndSaveCopy" } else { "SaveOnly" },
            mbx = mailbox(acting),
            subject = escape(subject),
            text = escape(text),
            to = escape(to),
            from = from
        ),
    )
}

pub fn send_item(acting: Acting<'_>, id: &str, change_key: &str) -> String {
    envelope(
        acting,
        &format!(
            concat!(
                r#"<m:SendItem SaveItemToFolder="true"><m:ItemIds><t:ItemId Id="{id}" ChangeKey="{ck}"/></m:ItemIds>"#,
                r#"<m:SavedItemFolderId><t:DistinguishedFolderId Id="sentitems">{mbx}</t:DistinguishedFolderId></m:SavedItemFolderId></m:SendItem>"#
            ),
            id = escape(id),
            ck = escape(change_key),
            mbx = mailbox(acting)
        ),
    )
}

/// CreateItem of a calendar item in `folder` (for `booket check --conformance`): free, no
/// reminder, one required attendee, and no invitation sent.
pub fn create_calendar_item(
    acting: Acting<'_>,
    folder: &str,
    subject: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    attendee: &str,
) -> String {
    envelope(
        acting,
        &format!(
            concat!(
                r#"<m:CreateItem SendMeetingInvitations="SendToNone"><m:SavedItemFolderId><t:FolderId Id="{folder}"/></m:SavedItemFolderId>"#,
                "<m:Items><t:CalendarItem><t:Subject>{subject}</t:Subject><t:ReminderIsSet>false</t:ReminderIsSet>",
                "<t:Start>{start}</t:Start><t:End>{end}</t:End><t:LegacyFreeBusyStatus>Free</t:LegacyFreeBusyStatus>",
                "<t:RequiredAttendees><t:Attendee><t:Mailbox><t:EmailAddress>{attendee}</t:EmailAddress></t:Mailbox></t:Attendee></t:RequiredAttendees>",
                "</t:CalendarItem></m:Items></m:CreateItem>"
            ),
            folder = escape(folder),
            subject = escape(subject),
            start = time(start),
            end = time(end),
            attendee = escape(attendee)
        ),
    )
}

/// DeleteItem, for good and without a cancellation to anyone.
pub fn delete_item(acting: Acting<'_>, id: &str) -> String {
    envelope(
        acting,
        &format!(
            r#"<m:DeleteItem DeleteType="HardDelete" SendMeetingCancellations="SendToNone"><m:ItemIds><t:ItemId Id="{}"/></m:ItemIds></m:DeleteItem>"#,
            escape(id)
        ),
    )
}

/// FindItem in the mailbox's Sent Items: the items whose subject contains `text`.
pub fn find_sent(acting: Acting<'_>, text: &str) -> String {
    envelope(
        acting,
        &format!(
            concat!(
                r#"<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>"#,
                r#"<t:AdditionalProperties><t:FieldURI FieldURI="item:Subject"/></t:AdditionalProperties></m:ItemShape>"#,
                r#"<m:IndexedPageItemView MaxEntriesReturned="50" Offset="0" BasePoint="Beginning"/>"#,
                r#"<m:Restriction><t:Contains ContainmentMode="Substring" ContainmentComparison="IgnoreCase">"#,
                r#"<t:FieldURI FieldURI="item:Subject"/><t:Constant Value="{text}"/></t:Contains></m:Restriction>"#,
                r#"<m:ParentFolderIds><t:DistinguishedFolderId Id="sentitems">{mbx}</t:DistinguishedFolderId></m:ParentFolderIds></m:FindItem>"#
            ),
            text = escape(text),
            mbx = mailbox(acting)
        ),
    )
}
