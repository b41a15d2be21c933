//! What only `booket check --conformance` asks of the EWS endpoint, on a scratch folder:
//! CreateItem of a calendar item (invitations sent only when asked), DeleteItem, and
//! FindItem in Sent Items (where Exchange keeps the copy of every meeting update it sends
//! with `…AndSaveCopy`, so a check can see whether one went out).

use super::*;

#[derive(Deserialize)]
pub(super) struct CalendarItemEl {
    #[serde(rename = "Subject", default)]
    subject: String,
    #[serde(rename = "Start")]
    start: String,
    #[serde(rename = "End")]
    end: String,
    #[serde(rename = "RequiredAttendees", default)]
    attendees: Option<Attendees>,
}

#[derive(Deserialize)]
struct Attendees {
    #[serde(rename = "Attendee", default)]
    list: Vec<AttendeeEl>,
}

#[derive(Deserialize)]
struct AttendeeEl {
    #[serde(rename = "Mailbox")]
    mailbox: MailboxEl,
}

#[derive(Deserialize)]
pub(super) struct DeleteItem {
    #[serde(rename = "@SendMeetingCancellations", default)]
    send: Option<String>,
    #[serde(rename = "ItemIds")]
    ids: ItemIds,
}

#[derive(Deserialize)]
pub(super) struct ItemRestriction {
    #[serde(rename = "Contains", default)]
    contains: Option<Contains>,
}

#[derive(Deserialize)]
struct Contains {
    #[serde(rename = "Constant")]
    constant: Constant,
}

/// CreateItem of a calendar item in the folder given (`SendMeetingInvitations` required:
/// an invitation is recorded as a meeting update only when it asks for one).
pub(super) fn create_calendar_item(
    sim: &Simulator,
    caller: &Caller,
    item: CalendarItemEl,
    send: Option<String>,
    folder: Option<ParentFolders>,
) -> Response {
    const OP: &str = "CreateItem";
    let Some(send) = send else {
        return error(
            OP,
            "ErrorSendMeetingInvitationsRequired",
            "SendMeetingInvitations is required for calendar items.",
        );
    };
    let Some(folder) = folder.and_then(|f| f.folder).map(|f| f.id) else {
        return error(OP, "ErrorInvalidRequest", "Give the calendar's FolderId.");
    };
    let (Some(start), Some(end)) = (super::parse_time(&item.start), super::parse_time(&item.end))
    else {
        return fault(
            "ErrorSchemaValidation",
            "Start and End must be xs:dateTime.",
            None,
        );
    };
    let attendees: Vec<String> = item
        .attendees
        .map(|a| a.list.into_iter().map(|x| x.mailbox.address).collect())
        .unwrap_or_default();
    let mut s = sim.lock();
    s.stats.ews_creates += 1;
    let key = s.next_change_key();
    let id = format!("AAMkEWS{:016X}", super::super::common::rand_u64());
    let Some((owner, cal)) = s
        .tenants
        .iter_mut()
        .filter(|t| t.id == caller.tenant)
        .flat_map(|t| t.users.iter_mut())
        .find_map(|u| {
            let upn = u.upn.clone();
            let name = u.display_name.clone();
            u.calendars
                .iter_mut()
                .find(|c| c.id == folder)
                .map(|c| ((upn, name), c))
        })
    else {
        return error(
            OP,
            "ErrorFolderNotFound",
            "The specified folder could not be found in the store.",
        );
    };
    if !caller.reaches(&owner.0) {
        return denied(OP);
    }
    cal.events.push(Event {
        id: id.clone(),
        subject: item.subject.clone(),
        start,
        end,
        is_all_day: false,
        is_cancelled: false,
        attendees: attendees
            .iter()
            .map(|a| super::super::model::Person {
                name: a.clone(),
                address: a.clone(),
            })
            .collect(),
        organizer: super::super::model::Person {
            name: owner.1,
            address: owner.0.clone(),
        },
        location: String::new(),
        change_key: key.clone(),
        properties: vec![],
        attachments: vec![],
        kind: "created".into(),
        event_type: "singleInstance".into(),
        series_master_id: None,
    });
    cal.events.sort_by_key(|e| e.start);
    if (send != "SendToNone" || s.faults.ews_updates_always_sent) && !attendees.is_empty() {
        s.meeting_updates.push(MeetingUpdate {
            event_id: id.clone(),
            from: owner.0,
            recipients: attendees,
            subject: item.subject,
            attachments: vec![],
        });
    }
    answer(
        OP,
        &format!(
            r#"<m:Items><t:CalendarItem><t:ItemId Id="{}" ChangeKey="{}"/></t:CalendarItem></m:Items>"#,
            escape(&id),
            escape(&key)
        ),
    )
}

/// DeleteItem (`SendMeetingCancellations` required for calendar items; a cancellation is
/// recorded only when it asks for one).
pub(super) fn delete_item(sim: &Simulator, caller: &Caller, r: DeleteItem) -> Response {
    const OP: &str = "DeleteItem";
    let Some(send) = r.send else {
        return error(
            OP,
            "ErrorSendMeetingCancellationsRequired",
            "SendMeetingCancellations is required for calendar items.",
        );
    };
    let mut s = sim.lock();
    for id in r.ids.ids {
        let (organizer, recipients, subject) = match reachable_item(&mut s, caller, OP, &id.id) {
            Ok((_, e)) => (
                e.organizer.address.clone(),
                e.attendees
                    .iter()
                    .map(|a| a.address.clone())
                    .collect::<Vec<_>>(),
                e.subject.clone(),
            ),
            Err(r) => return r,
        };
        s.stats.ews_deletes += 1;
        for c in s
            .tenants
            .iter_mut()
            .flat_map(|t| t.users.iter_mut())
            .flat_map(|u| u.calendars.iter_mut())
        {
            c.events
                .retain(|e| e.id != id.id && e.series_master_id.as_deref() != Some(&id.id));
        }
        if send != "SendToNone" && !recipients.is_empty() {
            s.meeting_updates.push(MeetingUpdate {
                event_id: id.id,
                from: organizer,
                recipients,
                subject: format!("Canceled: {subject}"),
                attachments: vec![],
            });
        }
    }
    answer(OP, "")
}

/// FindItem in a mailbox's Sent Items: the meeting updates and mails it sent, optionally
/// those whose subject contains a text.
pub(super) fn find_sent(sim: &Simulator, caller: &Caller, r: FindItem) -> Response {
    const OP: &str = "FindItem";
    let Some(mailbox) = mailbox_of(caller, &r.parents) else {
        return error(OP, "ErrorInvalidRequest", "No mailbox given.");
    };
    if !caller.reaches(&mailbox) {
        return denied(OP);
    }
    let wanted = r
        .restriction
        .and_then(|x| x.contains)
        .map(|c| c.constant.value.to_lowercase());
    let s = sim.lock();
    let subjects = s
        .meeting_updates
        .iter()
        .filter(|u| u.from.eq_ignore_ascii_case(&mailbox))
        .map(|u| u.subject.as_str())
        .chain(
            s.outbox
                .iter()
                .filter(|m| m.from.eq_ignore_ascii_case(&mailbox))
                .map(|m| m.subject.as_str()),
        )
        .filter(|subject| {
            wanted
                .as_ref()
                .is_none_or(|w| subject.to_lowercase().contains(w))
        });
    let items: String = subjects
        .enumerate()
        .map(|(n, subject)| {
            format!(
                r#"<t:Message><t:ItemId Id="AAMkSENT{n:08}" ChangeKey="CQAAAA"/><t:Subject>{}</t:Subject></t:Message>"#,
                escape(subject)
            )
        })
        .collect();
    let count = items.matches("<t:Message>").count();
    answer(
        OP,
        &format!(
            r#"<m:RootFolder TotalItemsInView="{count}" IncludesLastItemInRange="true"><t:Items>{items}</t:Items></m:RootFolder>"#
        ),
    )
}
