//! The simulated EWS endpoint (`POST /EWS/Exchange.asmx`): SOAP over the same tenant data
//! the Graph side serves, written from Microsoft's documented request and response shapes.
//! Service accounts log on with NTLM (per connection, `ntlm.rs`, with Extended Protection as
//! a switch) or Basic, each of which can be switched off; impersonation needs the
//! ApplicationImpersonation role, delegate access Full Access to the mailbox. Operations:
//! FindFolder by display name, FindItem with a CalendarView (truncated at
//! `MaxEntriesReturned` or the server's cap, `IncludesLastItemInRange="false"`), GetItem,
//! UpdateItem (ChangeKey checked under `NeverOverwrite`, ErrorIrresolvableConflict when
//! stale, `SendMeetingInvitationsOrCancellations` required and obeyed), CreateAttachment,
//! DeleteAttachment, CreateItem and SendItem (the outbox). Every write changes the item's
//! ChangeKey, attachments included. Faults: latency, ErrorServerBusy with
//! BackOffMilliseconds (`throttle_next`), HTTP statuses (`fail_next`), dropped connections
//! (`drop_next`), a write carried out whose answer is lost (`drop_answer_of_next_write`),
//! the server's view cap (`ews_view_cap`) and request size limit (`ews_request_limit`).
//!
//! (About 1,200 lines, a third of them the typed request structs: the requests, the front
//! door and eight operations belong together as the one SOAP endpoint; NTLM's handshake is
//! in a file of its own.)

// Helpers return a finished `Response` as their error so handlers can return it as is.
#![allow(clippy::result_large_err)]

mod scratch;

use super::model::{Attachment, Event, MeetingUpdate, SentMail, ServiceAccount, State};
use super::ntlm;
use super::Simulator;

use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use quick_xml::escape::escape;
use serde::Deserialize;

/// The SOAP envelope's and EWS's namespaces (https://learn.microsoft.com/exchange/client-developer/web-service-reference/ews-xml-elements-in-exchange).
const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const MESSAGES_NS: &str = "http://schemas.microsoft.com/exchange/services/2006/messages";
const TYPES_NS: &str = "http://schemas.microsoft.com/exchange/services/2006/types";

/// An `xs:dateTime` with an offset or `Z` (Booket always sends one).
pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Exchange's default cap on items in one FindItem answer (EWSFindCountLimit).
pub const VIEW_CAP: usize = 1000;
/// The default request size limit of the EWS virtual directory.
pub const REQUEST_LIMIT: usize = 64 * 1024 * 1024;

// ---- Requests (read by local element names) ----

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "Header", default)]
    header: ReqHeader,
    #[serde(rename = "Body")]
    body: ReqBody,
}

#[derive(Deserialize, Default)]
struct ReqHeader {
    #[serde(rename = "ExchangeImpersonation", default)]
    impersonation: Option<Impersonation>,
}

#[derive(Deserialize)]
struct Impersonation {
    #[serde(rename = "ConnectingSID")]
    sid: ConnectingSid,
}

#[derive(Deserialize)]
struct ConnectingSid {
    #[serde(rename = "SmtpAddress", alias = "PrimarySmtpAddress", default)]
    smtp: String,
}

#[derive(Deserialize)]
struct ReqBody {
    #[serde(rename = "$value")]
    op: Operation,
}

#[derive(Deserialize)]
enum Operation {
    FindFolder(FindFolder),
    FindItem(FindItem),
    GetItem(GetItem),
    UpdateItem(UpdateItem),
    CreateAttachment(CreateAttachment),
    DeleteAttachment(DeleteAttachment),
    CreateItem(CreateItem),
    SendItem(SendItem),
    DeleteItem(scratch::DeleteItem),
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct FindFolder {
    #[serde(rename = "Restriction", default)]
    restriction: Option<Restriction>,
    #[serde(rename = "ParentFolderIds")]
    parents: ParentFolders,
}

#[derive(Deserialize)]
struct Restriction {
    #[serde(rename = "IsEqualTo")]
    equal: IsEqualTo,
}

#[derive(Deserialize)]
struct IsEqualTo {
    #[serde(rename = "FieldURIOrConstant")]
    value: FieldOrConstant,
}

#[derive(Deserialize)]
struct FieldOrConstant {
    #[serde(rename = "Constant")]
    constant: Constant,
}

#[derive(Deserialize)]
struct Constant {
    #[serde(rename = "@Value")]
    value: String,
}

#[derive(Deserialize)]
struct ParentFolders {
    #[serde(rename = "DistinguishedFolderId", default)]
    distinguished: Option<Distinguished>,
    #[serde(rename = "FolderId", default)]
    folder: Option<IdAttr>,
}

#[derive(Deserialize)]
struct Distinguished {
    #[serde(rename = "@Id")]
    id: String,
    #[serde(rename = "Mailbox", default)]
    mailbox: Option<MailboxEl>,
}

#[derive(Deserialize)]
struct MailboxEl {
    #[serde(rename = "EmailAddress")]
    address: String,
}

#[derive(Deserialize)]
struct IdAttr {
    #[serde(rename = "@Id")]
    id: String,
    #[serde(rename = "@ChangeKey", default)]
    change_key: Option<String>,
}

#[derive(Deserialize)]
struct Shape {
    #[serde(rename = "BaseShape", default)]
    base: Option<String>,
    #[serde(rename = "AdditionalProperties", default)]
    more: Option<Additional>,
}

#[derive(Deserialize, Default)]
struct Additional {
    #[serde(rename = "FieldURI", default)]
    fields: Vec<FieldUri>,
    #[serde(rename = "ExtendedFieldURI", default)]
    extended: Vec<ExtendedUri>,
}

#[derive(Deserialize)]
struct FieldUri {
    #[serde(rename = "@FieldURI")]
    uri: String,
}

#[derive(Deserialize)]
struct ExtendedUri {
    #[serde(rename = "@PropertySetId", default)]
    set: String,
    #[serde(rename = "@PropertyName", default)]
    name: String,
}

impl ExtendedUri {
    /// The property's id in the simulator's store (Graph's spelling of a named property).
    fn key(&self) -> String {
        format!("String {{{}}} Name {}", self.set, self.name)
    }
}

#[derive(Deserialize)]
struct FindItem {
    #[serde(rename = "ItemShape")]
    shape: Shape,
    #[serde(rename = "CalendarView", default)]
    view: Option<CalendarView>,
    #[serde(rename = "Restriction", default)]
    restriction: Option<scratch::ItemRestriction>,
    #[serde(rename = "ParentFolderIds")]
    parents: ParentFolders,
}

#[derive(Deserialize)]
struct CalendarView {
    #[serde(rename = "@MaxEntriesReturned", default)]
    max: Option<usize>,
    #[serde(rename = "@StartDate")]
    start: String,
    #[serde(rename = "@EndDate")]
    end: String,
}

#[derive(Deserialize)]
struct GetItem {
    #[serde(rename = "ItemShape")]
    shape: Shape,
    #[serde(rename = "ItemIds")]
    ids: ItemIds,
}

#[derive(Deserialize)]
struct ItemIds {
    #[serde(rename = "ItemId", default)]
    ids: Vec<IdAttr>,
}

#[derive(Deserialize)]
struct UpdateItem {
    #[serde(rename = "@ConflictResolution", default)]
    conflict: Option<String>,
    #[serde(rename = "@SendMeetingInvitationsOrCancellations", default)]
    send: Option<String>,
    #[serde(rename = "ItemChanges")]
    changes: ItemChanges,
}

#[derive(Deserialize)]
struct ItemChanges {
    #[serde(rename = "ItemChange", default)]
    list: Vec<ItemChange>,
}

#[derive(Deserialize)]
struct ItemChange {
    #[serde(rename = "ItemId")]
    id: IdAttr,
    #[serde(rename = "Updates")]
    updates: Updates,
}

#[derive(Deserialize)]
struct Updates {
    #[serde(rename = "SetItemField", default)]
    set: Vec<SetItemField>,
}

#[derive(Deserialize)]
struct SetItemField {
    #[serde(rename = "FieldURI", default)]
    field: Option<FieldUri>,
    #[serde(rename = "ExtendedFieldURI", default)]
    extended: Option<ExtendedUri>,
    #[serde(rename = "CalendarItem")]
    item: CalendarItemChange,
}

#[derive(Deserialize)]
struct CalendarItemChange {
    #[serde(rename = "Subject", default)]
    subject: Option<String>,
    #[serde(rename = "ExtendedProperty", default)]
    extended: Option<ExtendedValue>,
}

#[derive(Deserialize)]
struct ExtendedValue {
    #[serde(rename = "Value", default)]
    value: String,
}

#[derive(Deserialize)]
struct CreateAttachment {
    #[serde(rename = "ParentItemId")]
    parent: IdAttr,
    #[serde(rename = "Attachments")]
    attachments: FileAttachments,
}

#[derive(Deserialize)]
struct FileAttachments {
    #[serde(rename = "FileAttachment", default)]
    files: Vec<FileAttachment>,
}

#[derive(Deserialize)]
struct FileAttachment {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "ContentType", default)]
    content_type: String,
    #[serde(rename = "ContentId", default)]
    content_id: String,
    #[serde(rename = "Content")]
    content: String,
}

#[derive(Deserialize)]
struct DeleteAttachment {
    #[serde(rename = "AttachmentIds")]
    ids: AttachmentIds,
}

#[derive(Deserialize)]
struct AttachmentIds {
    #[serde(rename = "AttachmentId", default)]
    ids: Vec<IdAttr>,
}

#[derive(Deserialize)]
struct CreateItem {
    #[serde(rename = "@MessageDisposition", default)]
    disposition: String,
    #[serde(rename = "@SendMeetingInvitations", default)]
    send: Option<String>,
    #[serde(rename = "SavedItemFolderId", default)]
    saved: Option<ParentFolders>,
    #[serde(rename = "Items")]
    items: NewItems,
}

#[derive(Deserialize)]
struct NewItems {
    #[serde(rename = "Message", default)]
    message: Option<MessageEl>,
    #[serde(rename = "CalendarItem", default)]
    calendar: Option<scratch::CalendarItemEl>,
}

#[derive(Deserialize)]
struct MessageEl {
    #[serde(rename = "Subject", default)]
    subject: String,
    #[serde(rename = "Body", default)]
    body: Option<TextEl>,
    #[serde(rename = "ToRecipients")]
    to: Recipients,
    #[serde(rename = "From", default)]
    from: Option<FromEl>,
}

#[derive(Deserialize)]
struct TextEl {
    #[serde(rename = "$text", default)]
    text: String,
}

#[derive(Deserialize)]
struct Recipients {
    #[serde(rename = "Mailbox", default)]
    list: Vec<MailboxEl>,
}

#[derive(Deserialize)]
struct FromEl {
    #[serde(rename = "Mailbox")]
    mailbox: MailboxEl,
}

#[derive(Deserialize)]
struct SendItem {
    #[serde(rename = "ItemIds")]
    ids: ItemIds,
}

// ---- Answers ----

fn soap(body: &str) -> String {
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{soap}"><s:Header>"#,
            r#"<h:ServerVersionInfo MajorVersion="15" MinorVersion="2" MajorBuildNumber="1748" MinorBuildNumber="10" Version="V2017_07_11" xmlns:h="{t}"/>"#,
            r#"</s:Header><s:Body>{body}</s:Body></s:Envelope>"#
        ),
        soap = SOAP_NS,
        t = TYPES_NS,
        body = body
    )
}

fn xml_response(status: StatusCode, body: String) -> Response {
    (status, [("content-type", "text/xml; charset=utf-8")], body).into_response()
}

/// One operation's answer with one response message (`inner` goes inside it).
fn answer(op: &str, inner: &str) -> Response {
    xml_response(
        StatusCode::OK,
        soap(&format!(
            concat!(
                r#"<m:{op}Response xmlns:m="{m}" xmlns:t="{t}"><m:ResponseMessages>"#,
                r#"<m:{op}ResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>{inner}</m:{op}ResponseMessage>"#,
                r#"</m:ResponseMessages></m:{op}Response>"#
            ),
            op = op,
            m = MESSAGES_NS,
            t = TYPES_NS,
            inner = inner
        )),
    )
}

/// An error response message (HTTP 200), as EWS reports most failures.
fn error(op: &str, code: &str, text: &str) -> Response {
    xml_response(
        StatusCode::OK,
        soap(&format!(
            concat!(
                r#"<m:{op}Response xmlns:m="{m}" xmlns:t="{t}"><m:ResponseMessages>"#,
                r#"<m:{op}ResponseMessage ResponseClass="Error"><m:MessageText>{text}</m:MessageText>"#,
                r#"<m:ResponseCode>{code}</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey></m:{op}ResponseMessage>"#,
                r#"</m:ResponseMessages></m:{op}Response>"#
            ),
            op = op,
            m = MESSAGES_NS,
            t = TYPES_NS,
            code = code,
            text = escape(text)
        )),
    )
}

/// A SOAP fault (HTTP 500), as EWS reports busy servers, denied impersonation and
/// requests it cannot read.
fn fault(code: &str, text: &str, back_off_ms: Option<u64>) -> Response {
    let xml = back_off_ms
        .map(|ms| {
            format!(r#"<t:MessageXml xmlns:t="{TYPES_NS}"><t:Value Name="BackOffMilliseconds">{ms}</t:Value></t:MessageXml>"#)
        })
        .unwrap_or_default();
    xml_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        soap(&format!(
            concat!(
                r#"<s:Fault><faultcode xmlns:a="{t}">a:{code}</faultcode><faultstring xml:lang="en-US">{text}</faultstring>"#,
                r#"<detail><e:ResponseCode xmlns:e="{t}">{code}</e:ResponseCode><e:Message xmlns:e="{t}">{text}</e:Message>{xml}</detail></s:Fault>"#
            ),
            t = TYPES_NS,
            code = code,
            text = escape(text),
            xml = xml
        )),
    )
}

/// 401 naming the logons the virtual directory has switched on.
fn unauthorized(s: &mut State) -> Response {
    s.stats.ews_unauthorized += 1;
    let mut r = StatusCode::UNAUTHORIZED.into_response();
    let h = r.headers_mut();
    if !s.faults.ews_ntlm_off {
        h.append("www-authenticate", "Negotiate".parse().expect("static"));
        h.append("www-authenticate", "NTLM".parse().expect("static"));
    }
    if !s.faults.ews_basic_off {
        h.append(
            "www-authenticate",
            r#"Basic realm="mail.demo.booket.dk""#.parse().expect("static"),
        );
    }
    r
}

/// Who is calling: an NTLM step on this connection (which may answer for itself: the
/// challenge), the account this connection logged on as, or a Basic logon.
fn front_door(
    s: &mut State,
    conn: Option<ntlm::Conn>,
    headers: &HeaderMap,
) -> Result<(String, ServiceAccount), Response> {
    if let (Some(token), Some(conn), false) = (ntlm::token(headers), conn, s.faults.ews_ntlm_off) {
        return ntlm::step(s, conn, token).map_err(|r| r.unwrap_or_else(|| unauthorized(s)));
    }
    if let Some(who) = conn.and_then(|c| ntlm::session(s, c)) {
        return Ok(who);
    }
    match logon(s, headers) {
        Some(who) if !s.faults.ews_basic_off => Ok(who),
        _ => Err(unauthorized(s)),
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// What a request's `ItemShape` asks for. Exchange answers those properties and no more
/// (web-service-reference/itemshape.md, baseshape.md): `IdOnly` is the ItemId alone plus
/// the `AdditionalProperties`; `Default` and `AllProperties` give the item's ordinary
/// properties (here the ones the simulator keeps), never an extended property that was not
/// named.
struct Wanted {
    ordinary: bool,
    fields: Vec<String>,
    extended: Vec<String>,
}

impl Wanted {
    fn of(shape: &Shape) -> Wanted {
        Wanted {
            ordinary: shape.base.as_deref().is_some_and(|b| b != "IdOnly"),
            fields: shape
                .more
                .as_ref()
                .map(|m| m.fields.iter().map(|f| f.uri.clone()).collect())
                .unwrap_or_default(),
            extended: shape
                .more
                .as_ref()
                .map(|m| m.extended.iter().map(ExtendedUri::key).collect())
                .unwrap_or_default(),
        }
    }

    fn has(&self, uri: &str) -> bool {
        self.fields.iter().any(|f| f == uri) || (self.ordinary && uri != "item:Attachments")
    }
}

/// A calendar item with what the request's shape asked for. `series_properties`: whether
/// an occurrence or exception carries the extended properties asked for (a calendar view
/// gives them only with the fault `view_carries_occurrence_properties`).
/// `content_ids`: whether listed attachments show their `ContentId` (the switch
/// `ews_attachment_content_ids`; by default not: the documented GetItem answers list an
/// attachment by id, name and type).
fn item_xml(
    e: &Event,
    folder: &str,
    wanted: &Wanted,
    series_properties: bool,
    content_ids: bool,
) -> String {
    let in_series = matches!(e.event_type.as_str(), "occurrence" | "exception");
    let props: String = e
        .properties
        .iter()
        .filter(|_| series_properties || !in_series)
        .filter(|(id, _)| wanted.extended.iter().any(|x| x.eq_ignore_ascii_case(id)))
        .filter_map(|(id, value)| {
            // "String {set} Name name"
            let rest = id.strip_prefix("String {")?;
            let (set, name) = rest.split_once("} Name ")?;
            Some(format!(
                r#"<t:ExtendedProperty><t:ExtendedFieldURI PropertySetId="{}" PropertyName="{}" PropertyType="String"/><t:Value>{}</t:Value></t:ExtendedProperty>"#,
                escape(set),
                escape(name),
                escape(value)
            ))
        })
        .collect();
    let attachments = if wanted.has("item:Attachments") && !e.attachments.is_empty() {
        let list: String = e
            .attachments
            .iter()
            .map(|a| {
                let content_id = if content_ids {
                    format!("<t:ContentId>{}</t:ContentId>", escape(&a.content_id))
                } else {
                    String::new()
                };
                format!(
                    r#"<t:FileAttachment><t:AttachmentId Id="{}"/><t:Name>{}</t:Name><t:ContentType>{}</t:ContentType>{content_id}<t:Size>{}</t:Size></t:FileAttachment>"#,
                    escape(&a.id),
                    escape(&a.name),
                    escape(&a.content_type),
                    a.size
                )
            })
            .collect();
        format!("<t:Attachments>{list}</t:Attachments>")
    } else {
        String::new()
    };
    let kind = match e.event_type.as_str() {
        "occurrence" => "Occurrence",
        "exception" => "Exception",
        _ => "Single",
    };
    let mut out = format!(
        r#"<t:CalendarItem><t:ItemId Id="{}" ChangeKey="{}"/>"#,
        escape(&e.id),
        escape(&e.change_key)
    );
    let mut field = |uri: &str, element: &str, value: &str| {
        if wanted.has(uri) {
            out.push_str(&format!("<t:{element}>{value}</t:{element}>"));
        }
    };
    field("item:Subject", "Subject", &escape(&e.subject));
    let start = time(e.start);
    let end = time(e.end);
    field("calendar:Start", "Start", &start);
    field("calendar:End", "End", &end);
    field(
        "calendar:IsAllDayEvent",
        "IsAllDayEvent",
        &e.is_all_day.to_string(),
    );
    field(
        "calendar:IsCancelled",
        "IsCancelled",
        &e.is_cancelled.to_string(),
    );
    field("calendar:Location", "Location", &escape(&e.location));
    field("calendar:CalendarItemType", "CalendarItemType", kind);
    if wanted.has("item:ParentFolderId") {
        out.push_str(&format!(r#"<t:ParentFolderId Id="{}"/>"#, escape(folder)));
    }
    out.push_str(&attachments);
    out.push_str(&props);
    out.push_str("</t:CalendarItem>");
    out
}

// ---- The front door ----

/// Who is calling, and as whom.
struct Caller {
    tenant: String,
    account: ServiceAccount,
    /// The impersonated mailbox, when the request asked for one.
    acting_as: Option<String>,
}

impl Caller {
    /// Whether the caller may work in `mailbox`.
    fn reaches(&self, mailbox: &str) -> bool {
        match &self.acting_as {
            Some(m) => m.eq_ignore_ascii_case(mailbox),
            None => self
                .account
                .full_access
                .iter()
                .any(|f| f.eq_ignore_ascii_case(mailbox)),
        }
    }
}

/// The account for a Basic `Authorization` header (`DOMAIN\user`, `user@domain` or `user`).
fn logon(s: &State, headers: &HeaderMap) -> Option<(String, ServiceAccount)> {
    use base64::Engine;
    let value = headers.get("authorization")?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    let (domain, name) = match user.split_once('\\') {
        Some((d, n)) => (Some(d), n),
        None => match user.split_once('@') {
            Some((n, _)) => (None, n),
            None => (None, user),
        },
    };
    s.tenants.iter().find_map(|t| {
        t.service_accounts
            .iter()
            .find(|a| {
                a.username.eq_ignore_ascii_case(name)
                    && domain.is_none_or(|d| a.domain.eq_ignore_ascii_case(d))
                    && a.password == password
            })
            .map(|a| (t.id.clone(), a.clone()))
    })
}

/// `POST /EWS/Exchange.asmx`.
pub(super) async fn endpoint(
    AxState(sim): AxState<Simulator>,
    conn: Option<axum::Extension<ntlm::Conn>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (caller, latency, injected, drop_answer) = {
        let mut s = sim.lock();
        s.stats.ews_requests += 1;
        let limit = s.faults.ews_request_limit.unwrap_or(REQUEST_LIMIT);
        if body.len() > limit {
            // IIS refuses it before EWS sees it.
            return StatusCode::PAYLOAD_TOO_LARGE.into_response();
        }
        // An HTTP status (503 while the application pool restarts, say) comes from IIS,
        // before any logon: an NTLM negotiation can get it too.
        if s.faults.drop_next == 0 && s.faults.throttle_next == 0 && !s.faults.fail_next.is_empty()
        {
            let status = s.faults.fail_next.remove(0);
            return StatusCode::from_u16(status)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
                .into_response();
        }
        let (tenant, account) = match front_door(&mut s, conn.map(|c| c.0), &headers) {
            Ok(who) => who,
            Err(r) => return r,
        };
        let injected = if s.faults.drop_next > 0 {
            s.faults.drop_next -= 1;
            Some(super::graph::broken_response())
        } else if s.faults.throttle_next > 0 {
            s.faults.throttle_next -= 1;
            s.stats.throttled += 1;
            let ms = s
                .faults
                .retry_after
                .as_deref()
                .and_then(|r| r.parse::<f64>().ok())
                .map(|secs| (secs * 1000.0) as u64)
                .unwrap_or(500);
            Some(fault(
                "ErrorServerBusy",
                "The server cannot service this request right now. Try again later.",
                Some(ms),
            ))
        } else {
            None
        };
        // Whether the next write's answer is lost (decided once the operation is known).
        let drop_answer = s.faults.drop_answer_of_next_write > 0;
        (
            Caller {
                tenant,
                account,
                acting_as: None,
            },
            s.faults.latency_ms,
            injected,
            drop_answer,
        )
    };
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    if let Some(r) = injected {
        return r;
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        return fault("ErrorSchemaValidation", "The request is not UTF-8.", None);
    };
    let envelope: Envelope = match quick_xml::de::from_str(text) {
        Ok(e) => e,
        Err(e) => {
            return fault(
                "ErrorSchemaValidation",
                &format!("The request failed schema validation: {e}"),
                None,
            )
        }
    };
    let mut caller = caller;
    if let Some(imp) = envelope.header.impersonation {
        if !caller.account.impersonation {
            return fault(
                "ErrorImpersonateUserDenied",
                "The account does not have permission to impersonate the requested user.",
                None,
            );
        }
        let exists = sim
            .lock()
            .mailbox_mut(&caller.tenant, &imp.sid.smtp)
            .is_some();
        if !exists {
            return fault(
                "ErrorNonExistentMailbox",
                &format!(
                    "The SMTP address has no mailbox associated with it: {}",
                    imp.sid.smtp
                ),
                None,
            );
        }
        caller.acting_as = Some(imp.sid.smtp);
    }
    let is_write = matches!(
        envelope.body.op,
        Operation::UpdateItem(_)
            | Operation::CreateAttachment(_)
            | Operation::DeleteAttachment(_)
            | Operation::CreateItem(_)
            | Operation::SendItem(_)
            | Operation::DeleteItem(_)
    );
    if is_write && drop_answer {
        let mut s = sim.lock();
        s.faults.drop_answer_of_next_write = s.faults.drop_answer_of_next_write.saturating_sub(1);
    }
    let answer = match envelope.body.op {
        Operation::FindFolder(r) => find_folder(&sim, &caller, r),
        Operation::FindItem(r) => find_item(&sim, &caller, r),
        Operation::GetItem(r) => get_item(&sim, &caller, r),
        Operation::UpdateItem(r) => update_item(&sim, &caller, r),
        Operation::CreateAttachment(r) => create_attachment(&sim, &caller, r),
        Operation::DeleteAttachment(r) => delete_attachment(&sim, &caller, r),
        Operation::CreateItem(r) => create_item(&sim, &caller, r),
        Operation::SendItem(r) => send_item(&sim, &caller, r),
        Operation::DeleteItem(r) => scratch::delete_item(&sim, &caller, r),
        Operation::Other => fault(
            "ErrorInvalidRequest",
            "The simulator does not serve this operation.",
            None,
        ),
    };
    if is_write && drop_answer {
        // Carried out; only its answer is lost.
        return super::graph::broken_response();
    }
    answer
}

// ---- Operations ----

/// The mailbox a distinguished folder names (or, impersonating, the impersonated one).
fn mailbox_of(caller: &Caller, parents: &ParentFolders) -> Option<String> {
    parents
        .distinguished
        .as_ref()
        .and_then(|d| d.mailbox.as_ref().map(|m| m.address.clone()))
        .or_else(|| caller.acting_as.clone())
}

fn find_folder(sim: &Simulator, caller: &Caller, r: FindFolder) -> Response {
    const OP: &str = "FindFolder";
    if r.parents
        .distinguished
        .as_ref()
        .is_none_or(|d| d.id != "msgfolderroot")
    {
        return error(
            OP,
            "ErrorInvalidRequest",
            "The simulator searches msgfolderroot only.",
        );
    }
    let Some(mailbox) = mailbox_of(caller, &r.parents) else {
        return error(OP, "ErrorInvalidRequest", "No mailbox given.");
    };
    if !caller.reaches(&mailbox) {
        return denied(OP);
    }
    let mut s = sim.lock();
    s.stats.ews_find_folders += 1;
    let Some(mb) = s.mailbox_mut(&caller.tenant, &mailbox) else {
        return error(
            OP,
            "ErrorNonExistentMailbox",
            &format!("The SMTP address has no mailbox associated with it: {mailbox}"),
        );
    };
    // IsEqualTo on the display name matches without regard to case, as Exchange does.
    let wanted = r.restriction.map(|x| x.equal.value.constant.value);
    let folders: String = mb
        .calendars
        .iter()
        .filter(|c| wanted.as_ref().is_none_or(|w| c.name.eq_ignore_ascii_case(w)))
        .map(|c| {
            format!(
                r#"<t:CalendarFolder><t:FolderId Id="{}" ChangeKey="AgAAAB"/><t:DisplayName>{}</t:DisplayName><t:FolderClass>IPF.Appointment</t:FolderClass></t:CalendarFolder>"#,
                escape(&c.id),
                escape(&c.name)
            )
        })
        .collect();
    let count = folders.matches("<t:CalendarFolder>").count();
    answer(
        OP,
        &format!(
            r#"<m:RootFolder TotalItemsInView="{count}" IncludesLastItemInRange="true"><t:Folders>{folders}</t:Folders></m:RootFolder>"#
        ),
    )
}

/// Item `id` of the caller's organisation, with its mailbox's folder, when the caller may
/// work in that mailbox; else the answer that says why not.
fn reachable_item<'a>(
    s: &'a mut State,
    caller: &'a Caller,
    op: &str,
    id: &str,
) -> Result<(String, &'a mut Event), Response> {
    let Some((owner, folder, e)) = s
        .events_mut(Some(&caller.tenant))
        .find(|(_, _, e)| e.id == id)
    else {
        return Err(error(
            op,
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
        ));
    };
    if !caller.reaches(&owner) {
        return Err(denied(op));
    }
    Ok((folder, e))
}

fn denied(op: &str) -> Response {
    error(
        op,
        "ErrorAccessDenied",
        "Access is denied. Check credentials and try again.",
    )
}

fn find_item(sim: &Simulator, caller: &Caller, r: FindItem) -> Response {
    const OP: &str = "FindItem";
    if r.view.is_none()
        && r.parents
            .distinguished
            .as_ref()
            .is_some_and(|d| d.id == "sentitems")
    {
        return scratch::find_sent(sim, caller, r);
    }
    let Some(view) = r.view else {
        return error(
            OP,
            "ErrorInvalidRequest",
            "The simulator serves CalendarView searches and Sent Items only.",
        );
    };
    let (Ok(start), Ok(end)) = (
        DateTime::parse_from_rfc3339(&view.start),
        DateTime::parse_from_rfc3339(&view.end),
    ) else {
        return fault(
            "ErrorSchemaValidation",
            "StartDate and EndDate must be xs:dateTime.",
            None,
        );
    };
    let (start, end) = (start.with_timezone(&Utc), end.with_timezone(&Utc));
    if end - start > chrono::TimeDelta::days(730) {
        return error(
            OP,
            "ErrorCalendarViewRangeTooBig",
            "The duration specified for CalendarView exceeds the maximum allowed (2 years).",
        );
    }
    let Some(folder) = r.parents.folder.map(|f| f.id) else {
        return error(OP, "ErrorInvalidRequest", "Give the calendar's FolderId.");
    };
    let wanted = Wanted::of(&r.shape);
    let mut s = sim.lock();
    s.stats.ews_find_items += 1;
    let series_properties = s.faults.view_carries_occurrence_properties;
    let cap = s.faults.ews_view_cap.unwrap_or(VIEW_CAP);
    let found = s
        .tenants
        .iter()
        .filter(|t| t.id == caller.tenant)
        .flat_map(|t| t.users.iter())
        .find_map(|u| {
            u.calendars
                .iter()
                .find(|c| c.id == folder)
                .map(|c| (u.upn.clone(), c))
        });
    let Some((owner, cal)) = found else {
        return error(
            OP,
            "ErrorFolderNotFound",
            "The specified folder could not be found in the store.",
        );
    };
    if !caller.reaches(&owner) {
        return denied(OP);
    }
    let hits = cal.view(start, end);
    let total = hits.len();
    let take = view.max.unwrap_or(cap).min(cap);
    let items: String = hits
        .iter()
        .take(take)
        .map(|e| item_xml(e, &folder, &wanted, series_properties, false))
        .collect();
    answer(
        OP,
        &format!(
            r#"<m:RootFolder TotalItemsInView="{total}" IncludesLastItemInRange="{}"><t:Items>{items}</t:Items></m:RootFolder>"#,
            total <= take
        ),
    )
}

fn get_item(sim: &Simulator, caller: &Caller, r: GetItem) -> Response {
    const OP: &str = "GetItem";
    let Some(id) = r.ids.ids.first() else {
        return error(OP, "ErrorInvalidRequest", "No ItemId.");
    };
    let wanted = Wanted::of(&r.shape);
    let mut s = sim.lock();
    s.stats.ews_get_items += 1;
    let content_ids = s.faults.ews_attachment_content_ids;
    let (folder, e) = match reachable_item(&mut s, caller, OP, &id.id) {
        Ok(found) => found,
        Err(r) => return r,
    };
    let item = item_xml(e, &folder, &wanted, true, content_ids);
    answer(OP, &format!("<m:Items>{item}</m:Items>"))
}

fn update_item(sim: &Simulator, caller: &Caller, r: UpdateItem) -> Response {
    const OP: &str = "UpdateItem";
    // Required for calendar items (ErrorSendMeetingInvitationsOrCancellationsRequired).
    let Some(send) = r.send else {
        return error(
            OP,
            "ErrorSendMeetingInvitationsOrCancellationsRequired",
            "SendMeetingInvitationsOrCancellations is required for calendar items.",
        );
    };
    let notify = match send.as_str() {
        "SendToNone" => false,
        "SendOnlyToAll"
        | "SendToAllAndSaveCopy"
        | "SendOnlyToChanged"
        | "SendToChangedAndSaveCopy" => true,
        _ => {
            return fault(
                "ErrorSchemaValidation",
                "Unknown SendMeetingInvitationsOrCancellations.",
                None,
            )
        }
    };
    let Some(change) = r.changes.list.into_iter().next() else {
        return error(OP, "ErrorInvalidRequest", "No ItemChange.");
    };
    let mut s = sim.lock();
    s.stats.ews_updates += 1;
    let new_key = s.next_change_key();
    let notify = notify || s.faults.ews_updates_always_sent;
    let check_key = !s.faults.ews_change_keys_ignored;
    let staff_edit = s.staff_edits_now().then(|| s.next_change_key());
    let (_, e) = match reachable_item(&mut s, caller, OP, &change.id.id) {
        Ok(found) => found,
        Err(r) => return r,
    };
    if let Some(key) = staff_edit {
        e.subject = format!("{} (ændret)", e.subject);
        e.change_key = key;
    }
    // ConflictResolution defaults to AutoResolve (web-service-reference/updateitem.md):
    // only a request that says NeverOverwrite has a stale ChangeKey refused. (What
    // AutoResolve does with a stale key Microsoft leaves open; the simulator lets the
    // change through, the reading that protects nothing.)
    let never_overwrite = r.conflict.as_deref() == Some("NeverOverwrite");
    match change.id.change_key.as_deref() {
        None => {
            return error(
                OP,
                "ErrorChangeKeyRequiredForWriteOperations",
                "The ChangeKey is required for this operation.",
            )
        }
        Some(ck) if check_key && never_overwrite && ck != e.change_key => {
            return error(
                OP,
                "ErrorIrresolvableConflict",
                "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.",
            )
        }
        Some(_) => {}
    }
    for set in change.updates.set {
        match (set.field, set.extended) {
            (Some(f), None) if f.uri == "item:Subject" => {
                if let Some(subject) = set.item.subject {
                    e.subject = subject;
                }
            }
            (None, Some(x)) => {
                let key = x.key();
                let value = set.item.extended.map(|v| v.value).unwrap_or_default();
                match e
                    .properties
                    .iter_mut()
                    .find(|(id, _)| id.eq_ignore_ascii_case(&key))
                {
                    Some(p) => p.1 = value,
                    None => e.properties.push((key, value)),
                }
            }
            _ => {
                return error(
                    OP,
                    "ErrorInvalidPropertySet",
                    "The simulator sets item:Subject and string extended properties only.",
                )
            }
        }
    }
    e.change_key = new_key.clone();
    if e.event_type == "occurrence" {
        e.event_type = "exception".into();
    }
    let update = (notify && !e.attendees.is_empty()).then(|| MeetingUpdate {
        event_id: e.id.clone(),
        from: e.organizer.address.clone(),
        recipients: e.attendees.iter().map(|a| a.address.clone()).collect(),
        subject: e.subject.clone(),
        attachments: e.attachments.iter().map(|a| a.name.clone()).collect(),
    });
    let id = e.id.clone();
    if let Some(u) = update {
        s.meeting_updates.push(u);
    }
    s.stats.last_write_unix_ms = Some(Utc::now().timestamp_millis());
    answer(
        OP,
        &format!(
            r#"<m:Items><t:CalendarItem><t:ItemId Id="{}" ChangeKey="{}"/></t:CalendarItem></m:Items><m:ConflictResults><t:Count>0</t:Count></m:ConflictResults>"#,
            escape(&id),
            escape(&new_key)
        ),
    )
}

fn create_attachment(sim: &Simulator, caller: &Caller, r: CreateAttachment) -> Response {
    use base64::Engine;
    const OP: &str = "CreateAttachment";
    let mut s = sim.lock();
    s.stats.ews_attachment_creates += 1;
    let new_key = s.next_change_key();
    // A draft message (mail with attachments) or a calendar item.
    if let Some(d) = s.ews_drafts.iter_mut().find(|d| d.id == r.parent.id) {
        let mut out = String::new();
        for f in r.attachments.files {
            let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(f.content.trim())
            else {
                return fault("ErrorSchemaValidation", "Content is not base64.", None);
            };
            d.mail.attachments.push(super::model::MailAttachment {
                name: f.name.clone(),
                text: if f.content_type.starts_with("text/") {
                    String::from_utf8_lossy(&bytes).into_owned()
                } else {
                    String::new()
                },
                content_type: f.content_type,
                size: bytes.len(),
            });
            d.change_key = new_key.clone();
            out.push_str(&format!(
                r#"<t:FileAttachment><t:AttachmentId Id="{}" RootItemId="{}" RootItemChangeKey="{}"/></t:FileAttachment>"#,
                super::common::rand_u64(),
                escape(&d.id),
                escape(&new_key)
            ));
        }
        return answer(OP, &format!("<m:Attachments>{out}</m:Attachments>"));
    }
    let (_, e) = match reachable_item(&mut s, caller, OP, &r.parent.id) {
        Ok(found) => found,
        Err(r) => return r,
    };
    let mut out = String::new();
    for f in r.attachments.files {
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(f.content.trim()) else {
            return fault("ErrorSchemaValidation", "Content is not base64.", None);
        };
        let id = format!("AAMkATT{:016X}", super::common::rand_u64());
        e.attachments.push(Attachment {
            id: id.clone(),
            name: f.name,
            content_type: f.content_type,
            size: bytes.len(),
            via_upload_session: false,
            content_id: f.content_id,
            bytes,
        });
        e.change_key = new_key.clone();
        out.push_str(&format!(
            r#"<t:FileAttachment><t:AttachmentId Id="{}" RootItemId="{}" RootItemChangeKey="{}"/></t:FileAttachment>"#,
            escape(&id),
            escape(&e.id),
            escape(&new_key)
        ));
    }
    answer(OP, &format!("<m:Attachments>{out}</m:Attachments>"))
}

fn delete_attachment(sim: &Simulator, caller: &Caller, r: DeleteAttachment) -> Response {
    const OP: &str = "DeleteAttachment";
    let Some(id) = r.ids.ids.first().map(|i| i.id.clone()) else {
        return error(OP, "ErrorInvalidRequest", "No AttachmentId.");
    };
    let mut s = sim.lock();
    s.stats.ews_attachment_deletes += 1;
    let new_key = s.next_change_key();
    let found = s
        .events_mut(Some(&caller.tenant))
        .find(|(_, _, e)| e.attachments.iter().any(|a| a.id == id));
    let Some((owner, _, e)) = found else {
        return error(
            OP,
            "ErrorInvalidAttachmentId",
            "The attachment could not be found.",
        );
    };
    if !caller.reaches(&owner) {
        return denied(OP);
    }
    e.attachments.retain(|a| a.id != id);
    e.change_key = new_key.clone();
    let root = e.id.clone();
    answer(
        OP,
        &format!(
            r#"<m:RootItemId RootItemId="{}" RootItemChangeKey="{}"/>"#,
            escape(&root),
            escape(&new_key)
        ),
    )
}

fn create_item(sim: &Simulator, caller: &Caller, r: CreateItem) -> Response {
    const OP: &str = "CreateItem";
    let Some(from) = caller
        .acting_as
        .clone()
        .or_else(|| caller.account.full_access.first().cloned())
    else {
        return error(
            OP,
            "ErrorAccessDenied",
            "The account has no mailbox to send from.",
        );
    };
    if let Some(item) = r.items.calendar {
        return scratch::create_calendar_item(sim, caller, item, r.send, r.saved);
    }
    let Some(m) = r.items.message else {
        return error(OP, "ErrorInvalidRequest", "No item to create.");
    };
    let mail = SentMail {
        from: m.from.map(|f| f.mailbox.address).unwrap_or(from),
        to: m.to.list.into_iter().map(|t| t.address).collect(),
        subject: m.subject,
        body: m.body.map(|b| b.text).unwrap_or_default(),
        attachments: vec![],
    };
    let mut s = sim.lock();
    let key = s.next_change_key();
    match r.disposition.as_str() {
        "SendAndSaveCopy" | "SendOnly" => {
            s.stats.mails_sent += 1;
            s.outbox.push(mail);
            answer(OP, "<m:Items/>")
        }
        "SaveOnly" => {
            let id = format!("AAMkMSG{:016X}", super::common::rand_u64());
            s.ews_drafts.push(super::model::Draft {
                id: id.clone(),
                change_key: key.clone(),
                mail,
            });
            answer(
                OP,
                &format!(
                    r#"<m:Items><t:Message><t:ItemId Id="{}" ChangeKey="{}"/></t:Message></m:Items>"#,
                    escape(&id),
                    escape(&key)
                ),
            )
        }
        _ => fault(
            "ErrorSchemaValidation",
            "MessageDisposition is required.",
            None,
        ),
    }
}

fn send_item(sim: &Simulator, _caller: &Caller, r: SendItem) -> Response {
    const OP: &str = "SendItem";
    let Some(id) = r.ids.ids.into_iter().next() else {
        return error(OP, "ErrorInvalidRequest", "No ItemId.");
    };
    let mut s = sim.lock();
    let Some(at) = s.ews_drafts.iter().position(|d| d.id == id.id) else {
        return error(
            OP,
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
        );
    };
    if id.change_key.as_deref() != Some(s.ews_drafts[at].change_key.as_str()) {
        return error(
            OP,
            "ErrorIrresolvableConflict",
            "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.",
        );
    }
    let draft = s.ews_drafts.remove(at);
    s.stats.mails_sent += 1;
    s.outbox.push(draft.mail);
    answer(OP, "")
}
