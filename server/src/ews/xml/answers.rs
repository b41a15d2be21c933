//! The answers Booket reads, into typed structs by local element names (the prefixes a
//! server chooses do not matter); only the fields Booket uses.

use crate::exchange::hold_property::{NAME as HOLD_NAME, SET as HOLD_SET};
use chrono::{DateTime, Utc};
use serde::Deserialize;

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
    #[serde(rename = "ContentType", default)]
    pub content_type: Option<String>,
    /// In bytes (Exchange 2010 and later list it).
    #[serde(rename = "Size", default)]
    pub size: Option<u64>,
    /// Base64, in a GetAttachment answer only.
    #[serde(rename = "Content", default)]
    pub content: Option<String>,
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
