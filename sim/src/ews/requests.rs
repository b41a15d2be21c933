//! The requests, read by local element names (Microsoft's request shapes, e.g.
//! https://learn.microsoft.com/exchange/client-developer/web-service-reference/finditem-operation-calendaritem).

use super::*;

#[derive(Deserialize)]
pub(super) struct Envelope {
    #[serde(rename = "Header", default)]
    pub(super) header: ReqHeader,
    #[serde(rename = "Body")]
    pub(super) body: ReqBody,
}

#[derive(Deserialize, Default)]
pub(super) struct ReqHeader {
    #[serde(rename = "ExchangeImpersonation", default)]
    pub(super) impersonation: Option<Impersonation>,
}

#[derive(Deserialize)]
pub(super) struct Impersonation {
    #[serde(rename = "ConnectingSID")]
    pub(super) sid: ConnectingSid,
}

#[derive(Deserialize)]
pub(super) struct ConnectingSid {
    #[serde(rename = "SmtpAddress", alias = "PrimarySmtpAddress", default)]
    pub(super) smtp: String,
}

#[derive(Deserialize)]
pub(super) struct ReqBody {
    #[serde(rename = "$value")]
    pub(super) op: Operation,
}

#[derive(Deserialize)]
pub(super) enum Operation {
    FindFolder(FindFolder),
    FindItem(FindItem),
    GetItem(GetItem),
    UpdateItem(UpdateItem),
    CreateAttachment(CreateAttachment),
    DeleteAttachment(DeleteAttachment),
    GetAttachment(GetAttachment),
    CreateItem(CreateItem),
    SendItem(SendItem),
    DeleteItem(scratch::DeleteItem),
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
pub(super) struct FindFolder {
    #[serde(rename = "Restriction", default)]
    pub(super) restriction: Option<Restriction>,
    #[serde(rename = "ParentFolderIds")]
    pub(super) parents: ParentFolders,
}

#[derive(Deserialize)]
pub(super) struct Restriction {
    #[serde(rename = "IsEqualTo")]
    pub(super) equal: IsEqualTo,
}

#[derive(Deserialize)]
pub(super) struct IsEqualTo {
    #[serde(rename = "FieldURIOrConstant")]
    pub(super) value: FieldOrConstant,
}

#[derive(Deserialize)]
pub(super) struct FieldOrConstant {
    #[serde(rename = "Constant")]
    pub(super) constant: Constant,
}

#[derive(Deserialize)]
pub(super) struct Constant {
    #[serde(rename = "@Value")]
    pub(super) value: String,
}

#[derive(Deserialize)]
pub(super) struct ParentFolders {
    #[serde(rename = "DistinguishedFolderId", default)]
    pub(super) distinguished: Option<Distinguished>,
    #[serde(rename = "FolderId", default)]
    pub(super) folder: Option<IdAttr>,
}

#[derive(Deserialize)]
pub(super) struct Distinguished {
    #[serde(rename = "@Id")]
    pub(super) id: String,
    #[serde(rename = "Mailbox", default)]
    pub(super) mailbox: Option<MailboxEl>,
}

#[derive(Deserialize)]
pub(super) struct MailboxEl {
    #[serde(rename = "EmailAddress")]
    pub(super) address: String,
}

#[derive(Deserialize)]
pub(super) struct IdAttr {
    #[serde(rename = "@Id")]
    pub(super) id: String,
    #[serde(rename = "@ChangeKey", default)]
    pub(super) change_key: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Shape {
    #[serde(rename = "BaseShape", default)]
    pub(super) base: Option<String>,
    #[serde(rename = "AdditionalProperties", default)]
    pub(super) more: Option<Additional>,
}

#[derive(Deserialize, Default)]
pub(super) struct Additional {
    #[serde(rename = "FieldURI", default)]
    pub(super) fields: Vec<FieldUri>,
    #[serde(rename = "ExtendedFieldURI", default)]
    pub(super) extended: Vec<ExtendedUri>,
}

#[derive(Deserialize)]
pub(super) struct FieldUri {
    #[serde(rename = "@FieldURI")]
    pub(super) uri: String,
}

#[derive(Deserialize)]
pub(super) struct ExtendedUri {
    #[serde(rename = "@PropertySetId", default)]
    pub(super) set: String,
    #[serde(rename = "@PropertyName", default)]
    pub(super) name: String,
}

impl ExtendedUri {
    /// The property's id in the simulator's store (Graph's spelling of a named property).
    pub(super) fn key(&self) -> String {
        format!("String {{{}}} Name {}", self.set, self.name)
    }
}

#[derive(Deserialize)]
pub(super) struct FindItem {
    #[serde(rename = "ItemShape")]
    pub(super) shape: Shape,
    #[serde(rename = "CalendarView", default)]
    pub(super) view: Option<CalendarView>,
    #[serde(rename = "Restriction", default)]
    pub(super) restriction: Option<scratch::ItemRestriction>,
    #[serde(rename = "ParentFolderIds")]
    pub(super) parents: ParentFolders,
}

#[derive(Deserialize)]
pub(super) struct CalendarView {
    #[serde(rename = "@MaxEntriesReturned", default)]
    pub(super) max: Option<usize>,
    #[serde(rename = "@StartDate")]
    pub(super) start: String,
    #[serde(rename = "@EndDate")]
    pub(super) end: String,
}

#[derive(Deserialize)]
pub(super) struct GetItem {
    #[serde(rename = "ItemShape")]
    pub(super) shape: Shape,
    #[serde(rename = "ItemIds")]
    pub(super) ids: ItemIds,
}

#[derive(Deserialize)]
pub(super) struct ItemIds {
    #[serde(rename = "ItemId", default)]
    pub(super) ids: Vec<IdAttr>,
}

#[derive(Deserialize)]
pub(super) struct UpdateItem {
    #[serde(rename = "@ConflictResolution", default)]
    pub(super) conflict: Option<String>,
    #[serde(rename = "@SendMeetingInvitationsOrCancellations", default)]
    pub(super) send: Option<String>,
    #[serde(rename = "ItemChanges")]
    pub(super) changes: ItemChanges,
}

#[derive(Deserialize)]
pub(super) struct ItemChanges {
    #[serde(rename = "ItemChange", default)]
    pub(super) list: Vec<ItemChange>,
}

#[derive(Deserialize)]
pub(super) struct ItemChange {
    #[serde(rename = "ItemId")]
    pub(super) id: IdAttr,
    #[serde(rename = "Updates")]
    pub(super) updates: Updates,
}

#[derive(Deserialize)]
pub(super) struct Updates {
    #[serde(rename = "SetItemField", default)]
    pub(super) set: Vec<SetItemField>,
}

#[derive(Deserialize)]
pub(super) struct SetItemField {
    #[serde(rename = "FieldURI", default)]
    pub(super) field: Option<FieldUri>,
    #[serde(rename = "ExtendedFieldURI", default)]
    pub(super) extended: Option<ExtendedUri>,
    #[serde(rename = "CalendarItem")]
    pub(super) item: CalendarItemChange,
}

#[derive(Deserialize)]
pub(super) struct CalendarItemChange {
    #[serde(rename = "Subject", default)]
    pub(super) subject: Option<String>,
    #[serde(rename = "ExtendedProperty", default)]
    pub(super) extended: Option<ExtendedValue>,
}

#[derive(Deserialize)]
pub(super) struct ExtendedValue {
    #[serde(rename = "Value", default)]
    pub(super) value: String,
}

#[derive(Deserialize)]
pub(super) struct CreateAttachment {
    #[serde(rename = "ParentItemId")]
    pub(super) parent: IdAttr,
    #[serde(rename = "Attachments")]
    pub(super) attachments: FileAttachments,
}

#[derive(Deserialize)]
pub(super) struct FileAttachments {
    #[serde(rename = "FileAttachment", default)]
    pub(super) files: Vec<FileAttachment>,
}

#[derive(Deserialize)]
pub(super) struct FileAttachment {
    #[serde(rename = "Name")]
    pub(super) name: String,
    #[serde(rename = "ContentType", default)]
    pub(super) content_type: String,
    #[serde(rename = "ContentId", default)]
    pub(super) content_id: String,
    #[serde(rename = "Content")]
    pub(super) content: String,
}

#[derive(Deserialize)]
pub(super) struct DeleteAttachment {
    #[serde(rename = "AttachmentIds")]
    pub(super) ids: AttachmentIds,
}

#[derive(Deserialize)]
pub(super) struct GetAttachment {
    #[serde(rename = "AttachmentIds")]
    pub(super) ids: AttachmentIds,
}

#[derive(Deserialize)]
pub(super) struct AttachmentIds {
    #[serde(rename = "AttachmentId", default)]
    pub(super) ids: Vec<IdAttr>,
}

#[derive(Deserialize)]
pub(super) struct CreateItem {
    #[serde(rename = "@MessageDisposition", default)]
    pub(super) disposition: String,
    #[serde(rename = "@SendMeetingInvitations", default)]
    pub(super) send: Option<String>,
    #[serde(rename = "SavedItemFolderId", default)]
    pub(super) saved: Option<ParentFolders>,
    #[serde(rename = "Items")]
    pub(super) items: NewItems,
}

#[derive(Deserialize)]
pub(super) struct NewItems {
    #[serde(rename = "Message", default)]
    pub(super) message: Option<MessageEl>,
    #[serde(rename = "CalendarItem", default)]
    pub(super) calendar: Option<scratch::CalendarItemEl>,
}

#[derive(Deserialize)]
pub(super) struct MessageEl {
    #[serde(rename = "Subject", default)]
    pub(super) subject: String,
    #[serde(rename = "Body", default)]
    pub(super) body: Option<TextEl>,
    #[serde(rename = "ToRecipients")]
    pub(super) to: Recipients,
    #[serde(rename = "From", default)]
    pub(super) from: Option<FromEl>,
}

#[derive(Deserialize)]
pub(super) struct TextEl {
    #[serde(rename = "$text", default)]
    pub(super) text: String,
}

#[derive(Deserialize)]
pub(super) struct Recipients {
    #[serde(rename = "Mailbox", default)]
    pub(super) list: Vec<MailboxEl>,
}

#[derive(Deserialize)]
pub(super) struct FromEl {
    #[serde(rename = "Mailbox")]
    pub(super) mailbox: MailboxEl,
}

#[derive(Deserialize)]
pub(super) struct SendItem {
    #[serde(rename = "ItemIds")]
    pub(super) ids: ItemIds,
}
