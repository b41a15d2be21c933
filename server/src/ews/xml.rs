//! EWS on the wire: the SOAP requests Booket sends, written from Microsoft's documented
//! shapes with every value escaped, and the answers read into typed structs with quick-xml's
//! serde support (it matches elements by local name, so the `m:`/`t:` prefixes a server
//! chooses do not matter). Only the fields Booket uses are read; anything else is skipped.
//!
//! (About 690 lines, 200 of them tests on Microsoft-shaped answers: every request Booket
//! sends and every answer it reads, in one place.)

use chrono::{DateTime, SecondsFormat, Utc};
use quick_xml::escape::escape;
use serde::Deserialize;

pub const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const MESSAGES_NS: &str = "http://schemas.microsoft.com/exchange/services/2006/messages";
pub const TYPES_NS: &str = "http://schemas.microsoft.com/exchange/services/2006/types";

// Booket's hold record: the same named property (set and name) Graph writes, so a mailbox
// reached through either API shows the same holds.
use crate::exchange::hold_property::{NAME as HOLD_NAME, SET as HOLD_SET};

/// Who the request acts for: the owner by impersonation, or the service account itself
/// (delegate access names the owner's mailbox in each folder reference instead).
#[derive(Debug, Clone, Copy)]
pub struct Acting<'a> {
    pub owner: &'a str,
    pub impersonate: bool,
}

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

// ---- Answers ----

#[derive(Debug, Deserialize)]
pub struct Envelope {
    #[serde(rename = "Header", default)]
    pub header: Option<Header>,
    #[serde(rename = "Body")]
    pub body: Body,
}

#[derive(Debug, Default, Deserialize)]
pub struct Header {
    #[serde(rename = "ServerVersionInfo", default)]
    pub version: Option<ServerVersion>,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct ServerVersion {
    #[serde(rename = "@MajorVersion", default)]
    pub major: String,
    #[serde(rename = "@MinorVersion", default)]
    pub minor: String,
    #[serde(rename = "@MajorBuildNumber", default)]
    pub build: String,
    #[serde(rename = "@MinorBuildNumber", default)]
    pub revision: String,
}

#[derive(Debug, Deserialize)]
pub struct Body {
    /// The operation's response, or a SOAP fault.
    #[serde(rename = "$value")]
    pub content: Response,
}

#[derive(Debug, Default, Deserialize)]
pub struct Response {
    #[serde(rename = "ResponseMessages", default)]
    pub messages: Option<Messages>,
    // A SOAP fault:
    #[serde(rename = "faultstring", default)]
    pub fault: Option<String>,
    #[serde(rename = "detail", default)]
    pub detail: Option<FaultDetail>,
}

#[derive(Debug, Default, Deserialize)]
pub struct FaultDetail {
    #[serde(rename = "ResponseCode", default)]
    pub code: Option<String>,
    #[serde(rename = "MessageXml", default)]
    pub xml: Option<MessageXml>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Messages {
    /// `FindFolderResponseMessage`, `GetItemResponseMessage`, … one per request item.
    #[serde(rename = "$value", default)]
    pub list: Vec<Message>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Message {
    #[serde(rename = "@ResponseClass", default)]
    pub class: String,
    #[serde(rename = "ResponseCode", default)]
    pub code: String,
    #[serde(rename = "MessageText", default)]
    pub text: String,
    #[serde(rename = "MessageXml", default)]
    pub xml: Option<MessageXml>,
    #[serde(rename = "RootFolder", default)]
    pub root: Option<RootFolder>,
    #[serde(rename = "Items", default)]
    pub items: Option<Items>,
    #[serde(rename = "Attachments", default)]
    pub attachments: Option<Attachments>,
}

#[derive(Debug, Default, Deserialize)]
pub struct MessageXml {
    #[serde(rename = "Value", default)]
    pub values: Vec<NamedValue>,
}

#[derive(Debug, Default, Deserialize)]
pub struct NamedValue {
    #[serde(rename = "@Name", default)]
    pub name: String,
    #[serde(rename = "$text", default)]
    pub value: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct RootFolder {
    #[serde(rename = "@IncludesLastItemInRange", default = "yes")]
    pub includes_last: bool,
    #[serde(rename = "@TotalItemsInView", default)]
    pub total: Option<usize>,
    #[serde(rename = "Folders", default)]
    pub folders: Option<Folders>,
    #[serde(rename = "Items", default)]
    pub items: Option<Items>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Default, Deserialize)]
pub struct Folders {
    #[serde(rename = "$value", default)]
    pub list: Vec<Folder>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Folder {
    #[serde(rename = "FolderId")]
    pub id: Id,
    #[serde(rename = "DisplayName", default)]
    pub name: String,
    #[serde(rename = "FolderClass", default)]
    pub class: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct Id {
    #[serde(rename = "@Id")]
    pub id: String,
    #[serde(rename = "@ChangeKey", default)]
    pub change_key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Items {
    /// `CalendarItem`, `Message`, … as answered.
    #[serde(rename = "$value", default)]
    pub list: Vec<Item>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Item {
    #[serde(rename = "ItemId")]
    pub id: Option<Id>,
    #[serde(rename = "Subject", default)]
    pub subject: Option<String>,
    #[serde(rename = "Start", default)]
    pub start: Option<String>,
    #[serde(rename = "End", default)]
    pub end: Option<String>,
    #[serde(rename = "IsAllDayEvent", default)]
    pub all_day: Option<bool>,
    #[serde(rename = "IsCancelled", default)]
    pub cancelled: Option<bool>,
    #[serde(rename = "Location", default)]
    pub location: Option<String>,
    #[serde(rename = "ExtendedProperty", default)]
    pub extended: Vec<ExtendedProperty>,
    #[serde(rename = "Attachments", default)]
    pub attachments: Option<Attachments>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ExtendedProperty {
    #[serde(rename = "ExtendedFieldURI")]
    pub uri: FieldUri,
    #[serde(rename = "Value", default)]
    pub value: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct FieldUri {
    #[serde(rename = "@PropertySetId", default)]
    pub set: String,
    #[serde(rename = "@PropertyName", default)]
    pub name: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct Attachments {
    #[serde(rename = "$value", default)]
    pub list: Vec<AttachmentItem>,
}

#[derive(Debug, Default, Deserialize)]
pub struct AttachmentItem {
    #[serde(rename = "AttachmentId")]
    pub id: AttachmentId,
    #[serde(rename = "Name", default)]
    pub name: String,
    #[serde(rename = "ContentId", default)]
    pub content_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct AttachmentId {
    #[serde(rename = "@Id")]
    pub id: String,
    #[serde(rename = "@RootItemChangeKey", default)]
    pub root_change_key: Option<String>,
}

impl Item {
    /// Booket's hold record, if the item has one.
    pub fn hold(&self) -> Option<&str> {
        self.extended
            .iter()
            .find(|p| p.uri.set.eq_ignore_ascii_case(HOLD_SET) && p.uri.name == HOLD_NAME)
            .map(|p| p.value.as_str())
    }
}

/// A time as EWS writes it: with `Z` or an offset, or (some servers) without either, which
/// is then UTC, as the request's time zone context asked.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|n| n.and_utc())
        })
}

/// Reads an answer; `None` when it is not a SOAP envelope Booket can read.
pub fn parse(body: &[u8]) -> Result<Envelope, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the answer is not UTF-8".to_string())?;
    quick_xml::de::from_str(text).map_err(|e| e.to_string())
}

impl Message {
    /// The one item of an answer about one item (GetItem, UpdateItem, CreateItem).
    pub fn into_item(self) -> Option<Item> {
        self.items?.list.into_iter().next()
    }

    pub fn is_error(&self) -> bool {
        self.class == "Error"
    }

    /// `BackOffMilliseconds` of an ErrorServerBusy, if given.
    pub fn back_off(&self) -> Option<std::time::Duration> {
        back_off(self.xml.as_ref())
    }
}

pub fn back_off(xml: Option<&MessageXml>) -> Option<std::time::Duration> {
    xml?.values
        .iter()
        .find(|v| v.name == "BackOffMilliseconds")
        .and_then(|v| v.value.trim().parse::<u64>().ok())
        .map(std::time::Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer shaped like the FindItem example in Microsoft's docs, with other prefixes.
    const FIND_ITEM: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">
  <s:Header>
    <h:ServerVersionInfo MajorVersion="15" MinorVersion="2" MajorBuildNumber="1544" MinorBuildNumber="4"
      xmlns:h="http://schemas.microsoft.com/exchange/services/2006/types"/>
  </s:Header>
  <s:Body>
    <m:FindItemResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
        xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
      <m:ResponseMessages>
        <m:FindItemResponseMessage ResponseClass="Success">
          <m:ResponseCode>NoError</m:ResponseCode>
          <m:RootFolder TotalItemsInView="3" IncludesLastItemInRange="false">
            <t:Items>
              <t:CalendarItem>
                <t:ItemId Id="AAMkA1" ChangeKey="DwAAAB1"/>
                <t:Subject>Samtale &amp; råd</t:Subject>
                <t:Start>2026-12-08T08:00:00Z</t:Start>
                <t:End>2026-12-08T08:30:00Z</t:End>
                <t:IsAllDayEvent>false</t:IsAllDayEvent>
                <t:IsCancelled>false</t:IsCancelled>
                <t:Location>Lokale 1</t:Location>
                <t:ExtendedProperty>
                  <t:ExtendedFieldURI PropertySetId="8E1A3B55-2F6D-4C0E-9B7A-5D4C3B2A1F09" PropertyName="BooketHold" PropertyType="String"/>
                  <t:Value>v2;abc;1;0;</t:Value>
                </t:ExtendedProperty>
              </t:CalendarItem>
              <t:CalendarItem>
                <t:ItemId Id="AAMkA2" ChangeKey="DwAAAB2"/>
                <t:Subject>Kursus</t:Subject>
                <t:Start>2026-12-09T00:00:00</t:Start>
                <t:End>2026-12-10T00:00:00</t:End>
                <t:IsAllDayEvent>true</t:IsAllDayEvent>
              </t:CalendarItem>
            </t:Items>
          </m:RootFolder>
        </m:FindItemResponseMessage>
      </m:ResponseMessages>
    </m:FindItemResponse>
  </s:Body>
</s:Envelope>"#;

    #[test]
    fn a_calendar_view_answer_is_read_by_local_names() {
        let env = parse(FIND_ITEM.as_bytes()).unwrap();
        assert_eq!(env.header.unwrap().version.unwrap().major, "15");
        let messages = env.body.content.messages.unwrap().list;
        assert_eq!(messages.len(), 1);
        let root = messages[0].root.as_ref().unwrap();
        assert!(!root.includes_last);
        assert_eq!(root.total, Some(3));
        let items = &root.items.as_ref().unwrap().list;
        assert_eq!(items.len(), 2);
        let a = &items[0];
        assert_eq!(
            a.id.as_ref().unwrap().change_key.as_deref(),
            Some("DwAAAB1")
        );
        assert_eq!(a.subject.as_deref(), Some("Samtale & råd"));
        assert_eq!(a.hold(), Some("v2;abc;1;0;"));
        assert_eq!(a.all_day, Some(false));
        assert_eq!(
            parse_time(a.start.as_deref().unwrap())
                .unwrap()
                .to_rfc3339(),
            "2026-12-08T08:00:00+00:00"
        );
        // Without an offset: UTC, as the time zone context asked.
        let b = &items[1];
        assert_eq!(b.all_day, Some(true));
        assert_eq!(b.hold(), None);
        assert!(parse_time(b.start.as_deref().unwrap()).is_some());
    }

    #[test]
    fn an_error_and_a_server_busy_fault_are_read() {
        let error = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>
          <m:UpdateItemResponse xmlns:m="m" xmlns:t="t"><m:ResponseMessages>
          <m:UpdateItemResponseMessage ResponseClass="Error">
            <m:MessageText>The change key passed in the request does not match the current change key for the item.</m:MessageText>
            <m:ResponseCode>ErrorIrresolvableConflict</m:ResponseCode>
            <m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>
            <m:Items/>
          </m:UpdateItemResponseMessage></m:ResponseMessages></m:UpdateItemResponse></s:Body></s:Envelope>"#;
        let m = &parse(error.as_bytes())
            .unwrap()
            .body
            .content
            .messages
            .unwrap()
            .list[0];
        assert!(m.is_error());
        assert_eq!(m.code, "ErrorIrresolvableConflict");
        let fault = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>
          <faultcode xmlns:a="a">a:ErrorServerBusy</faultcode>
          <faultstring xml:lang="en-US">The server cannot service this request right now. Try again later.</faultstring>
          <detail><e:ResponseCode xmlns:e="e">ErrorServerBusy</e:ResponseCode>
          <e:Message xmlns:e="e">The server cannot service this request right now. Try again later.</e:Message>
          <t:MessageXml xmlns:t="t"><t:Value Name="BackOffMilliseconds">2500</t:Value></t:MessageXml></detail>
          </s:Fault></s:Body></s:Envelope>"#;
        let r = parse(fault.as_bytes()).unwrap().body.content;
        let d = r.detail.unwrap();
        assert_eq!(d.code.as_deref(), Some("ErrorServerBusy"));
        assert_eq!(
            back_off(d.xml.as_ref()),
            Some(std::time::Duration::from_millis(2500))
        );
    }

    #[test]
    fn requests_escape_what_they_carry() {
        let acting = Acting {
            owner: "a&b@kommune.dk",
            impersonate: true,
        };
        let x = update_item(
            acting,
            "id\"1",
            "ck<",
            Some("Tid <b> - Reserveret"),
            "v2;x",
            false,
        );
        assert!(x.contains("a&amp;b@kommune.dk"));
        assert!(x.contains(r#"Id="id&quot;1" ChangeKey="ck&lt;""#));
        assert!(x.contains("Tid &lt;b&gt; - Reserveret"));
        assert!(x.contains(r#"SendMeetingInvitationsOrCancellations="SendToNone""#));
        assert!(update_item(acting, "i", "c", None, "h", true).contains("SendToAllAndSaveCopy"));
        // Every request is a well-formed document.
        for doc in [
            x,
            find_folder(acting, "Borgerservice"),
            calendar_view(acting, "f", Utc::now(), Utc::now(), 500),
            get_item(acting, "i", true),
            create_attachment(acting, "i", "a.pdf", "application/pdf", "booket-1", "AAAA"),
            delete_attachment(acting, "a"),
            create_message(acting, "to@x.dk", Some("from@x.dk"), "S", "T", false),
            send_item(acting, "i", "c"),
        ] {
            let mut r = quick_xml::Reader::from_str(&doc);
            loop {
                match r.read_event() {
                    Ok(quick_xml::events::Event::Eof) => break,
                    Ok(_) => {}
                    Err(e) => panic!("{e}: {doc}"),
                }
            }
        }
    }
}
