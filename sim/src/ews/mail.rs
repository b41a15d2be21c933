//! CreateItem and SendItem: confirmations into the outbox.

use super::*;

pub(super) fn create_item(sim: &Simulator, caller: &Caller, r: CreateItem) -> Response {
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
            let id = format!("AAMkMSG{:016X}", crate::common::rand_u64());
            s.ews_drafts.push(crate::model::Draft {
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

pub(super) fn send_item(sim: &Simulator, _caller: &Caller, r: SendItem) -> Response {
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
