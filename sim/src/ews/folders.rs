//! FindFolder: a calendar found by its display name.

use super::*;

pub(super) fn find_folder(sim: &Simulator, caller: &Caller, r: FindFolder) -> Response {
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
