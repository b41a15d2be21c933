//! CreateAttachment, GetAttachment and DeleteAttachment.

use super::*;

pub(super) fn create_attachment(sim: &Simulator, caller: &Caller, r: CreateAttachment) -> Response {
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
            d.mail.attachments.push(crate::model::MailAttachment {
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
                crate::common::rand_u64(),
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
        let id = format!("AAMkATT{:016X}", crate::common::rand_u64());
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

pub(super) fn delete_attachment(sim: &Simulator, caller: &Caller, r: DeleteAttachment) -> Response {
    const OP: &str = "DeleteAttachment";
    let Some(id) = r.ids.ids.first().map(|i| i.id.clone()) else {
        return error(OP, "ErrorInvalidRequest", "No AttachmentId.");
    };
    let mut s = sim.lock();
    s.stats.ews_attachment_deletes += 1;
    let new_key = s.next_change_key();
    let e = match item_with_attachment(&mut s, caller, OP, &id) {
        Ok(e) => e,
        Err(r) => return r,
    };
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

/// GetAttachment: the file attachment whole, with its content base64-encoded; "all
/// properties will always be included" (getattachment-operation.md).
pub(super) fn get_attachment(sim: &Simulator, caller: &Caller, r: GetAttachment) -> Response {
    use base64::Engine;
    const OP: &str = "GetAttachment";
    let Some(id) = r.ids.ids.first().map(|i| i.id.clone()) else {
        return error(OP, "ErrorInvalidRequest", "No AttachmentId.");
    };
    let mut s = sim.lock();
    s.stats.attachment_reads += 1;
    let e = match item_with_attachment(&mut s, caller, OP, &id) {
        Ok(e) => e,
        Err(r) => return r,
    };
    let Some(a) = e.attachments.iter().find(|a| a.id == id) else {
        return error(
            OP,
            "ErrorInvalidAttachmentId",
            "The attachment could not be found.",
        );
    };
    answer(
        OP,
        &format!(
            r#"<m:Attachments><t:FileAttachment><t:AttachmentId Id="{}"/><t:Name>{}</t:Name><t:ContentType>{}</t:ContentType><t:ContentId>{}</t:ContentId><t:Content>{}</t:Content></t:FileAttachment></m:Attachments>"#,
            escape(&a.id),
            escape(&a.name),
            escape(&a.content_type),
            escape(&a.content_id),
            base64::engine::general_purpose::STANDARD.encode(&a.bytes)
        ),
    )
}

/// The item (of the caller's tenant) that has attachment `id`, if the caller reaches its
/// mailbox: Get/DeleteAttachment name the attachment alone.
#[allow(clippy::result_large_err)]
fn item_with_attachment<'a>(
    s: &'a mut State,
    caller: &'a Caller,
    op: &str,
    id: &str,
) -> Result<&'a mut Event, Response> {
    let found = s
        .events_mut(Some(&caller.tenant))
        .find(|(_, _, e)| e.attachments.iter().any(|a| a.id == id));
    let Some((owner, _, e)) = found else {
        return Err(error(
            op,
            "ErrorInvalidAttachmentId",
            "The attachment could not be found.",
        ));
    };
    if !caller.reaches(&owner) {
        return Err(denied(op));
    }
    Ok(e)
}
