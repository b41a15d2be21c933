//! Reading calendar items: how an item is written into an answer (the shape asked for),
//! FindItem with a CalendarView, and GetItem.

use super::*;

/// What a request's `ItemShape` asks for. Exchange answers those properties and no more
/// (web-service-reference/itemshape.md, baseshape.md): `IdOnly` is the ItemId alone plus
/// the `AdditionalProperties`; `Default` and `AllProperties` give the item's ordinary
/// properties (here the ones the simulator keeps), never an extended property that was not
/// named.
pub(super) struct Wanted {
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
pub(super) fn item_xml(
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

pub(super) fn find_item(sim: &Simulator, caller: &Caller, r: FindItem) -> Response {
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

pub(super) fn get_item(sim: &Simulator, caller: &Caller, r: GetItem) -> Response {
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
