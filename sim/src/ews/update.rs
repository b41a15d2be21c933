//! UpdateItem: the subject and the hold record, under the ChangeKey.

use super::*;

pub(super) fn update_item(sim: &Simulator, caller: &Caller, r: UpdateItem) -> Response {
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
