//! The OData query options Graph checks before it runs a query: every property named in
//! `$select`, `$expand`, `$filter` or `$orderby` must exist on the collection's type, and a
//! property of a derived type only counts when reached through its cast
//! (`microsoft.graph.fileAttachment/contentId`). Anything else is refused the way live
//! tenants refuse it: 400 `RequestBroker--ParseUri` "Could not find a property named 'X'
//! on type 'microsoft.graph.Y'" (https://learn.microsoft.com/graph/outlook-large-attachments). So a client tested here can only send
//! queries Graph accepts.

use serde_json::Value;
use std::collections::HashMap;

/// An entity type as far as the simulator serves it.
pub struct EntityType {
    pub name: &'static str,
    /// Structural properties (selectable, filterable).
    pub properties: &'static [&'static str],
    /// Navigation properties (expandable; selectable too, as Graph allows).
    pub navigation: &'static [&'static str],
    /// Derived types reachable by a cast, with their own properties.
    pub derived: &'static [(&'static str, &'static [&'static str])],
}

pub const EVENT: EntityType = EntityType {
    name: "microsoft.graph.event",
    properties: &[
        "id",
        "changeKey",
        "categories",
        "createdDateTime",
        "lastModifiedDateTime",
        "subject",
        "body",
        "bodyPreview",
        "start",
        "end",
        "originalStart",
        "originalStartTimeZone",
        "originalEndTimeZone",
        "isAllDay",
        "isCancelled",
        "isDraft",
        "isOrganizer",
        "isOnlineMeeting",
        "isReminderOn",
        "hasAttachments",
        "hideAttendees",
        "attendees",
        "organizer",
        "location",
        "locations",
        "showAs",
        "type",
        "seriesMasterId",
        "iCalUId",
        "importance",
        "sensitivity",
        "recurrence",
        "responseStatus",
        "responseRequested",
        "reminderMinutesBeforeStart",
        "webLink",
        "onlineMeeting",
        "onlineMeetingProvider",
        "onlineMeetingUrl",
        "allowNewTimeProposals",
        "transactionId",
    ],
    navigation: &[
        "attachments",
        "calendar",
        "extensions",
        "instances",
        "singleValueExtendedProperties",
        "multiValueExtendedProperties",
    ],
    derived: &[],
};

pub const CALENDAR: EntityType = EntityType {
    name: "microsoft.graph.calendar",
    properties: &[
        "id",
        "name",
        "color",
        "hexColor",
        "isDefaultCalendar",
        "changeKey",
        "canShare",
        "canViewPrivateItems",
        "canEdit",
        "isRemovable",
        "isTallyingResponses",
        "owner",
        "allowedOnlineMeetingProviders",
        "defaultOnlineMeetingProvider",
    ],
    navigation: &[
        "events",
        "calendarView",
        "calendarPermissions",
        "singleValueExtendedProperties",
        "multiValueExtendedProperties",
    ],
    derived: &[],
};

pub const ATTACHMENT: EntityType = EntityType {
    name: "microsoft.graph.attachment",
    properties: &[
        "id",
        "name",
        "contentType",
        "size",
        "isInline",
        "lastModifiedDateTime",
    ],
    navigation: &[],
    derived: &[
        (
            "microsoft.graph.fileAttachment",
            &["contentBytes", "contentId", "contentLocation"],
        ),
        ("microsoft.graph.itemAttachment", &["item"]),
        (
            "microsoft.graph.referenceAttachment",
            &["sourceUrl", "providerType", "permission", "isFolder"],
        ),
    ],
};

/// One selected property: a plain one, or one of a derived type (`cast/property`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selected {
    Plain(String),
    Cast { cast: String, property: String },
}

/// What a query selected (`None`: everything), and the type's navigation properties,
/// which appear only when expanded and then always.
pub struct Selection(Option<Vec<Selected>>, &'static [&'static str]);

impl Selection {
    /// Keeps only what was selected of one item (Graph always sends `id` and the
    /// `@odata.*` annotations; a cast property only for items of that type).
    pub fn project(&self, item: Value) -> Value {
        let Some(selected) = &self.0 else {
            return item;
        };
        let Value::Object(map) = item else {
            return item;
        };
        let item_type = map
            .get("@odata.type")
            .and_then(Value::as_str)
            .map(|t| t.trim_start_matches('#').to_owned());
        let keep = |key: &str| {
            key == "id"
                || key.starts_with("@odata.")
                || self.1.contains(&key)
                || selected.iter().any(|s| match s {
                    Selected::Plain(p) => p == key,
                    Selected::Cast { cast, property } => {
                        property == key && item_type.as_deref() == Some(cast.as_str())
                    }
                })
        };
        Value::Object(map.into_iter().filter(|(k, _)| keep(k)).collect())
    }
}

fn not_found(name: &str, ty: &str) -> String {
    format!("Could not find a property named '{name}' on type '{ty}'.")
}

fn find_derived<'a>(ty: &'a EntityType, cast: &str) -> Option<&'a [&'static str]> {
    ty.derived
        .iter()
        .find(|(name, _)| *name == cast)
        .map(|(_, props)| *props)
}

/// One `$select` entry.
fn select_item(ty: &EntityType, item: &str) -> Result<Selected, String> {
    match item.split_once('/') {
        Some((cast, property)) => {
            let props = find_derived(ty, cast).ok_or_else(|| {
                format!("The type '{cast}' is not compatible with the base type '{}' of the given entity set.", ty.name)
            })?;
            if props.contains(&property) || ty.properties.contains(&property) {
                Ok(Selected::Cast {
                    cast: cast.to_owned(),
                    property: property.to_owned(),
                })
            } else {
                Err(not_found(property, cast))
            }
        }
        None if ty.properties.contains(&item) || ty.navigation.contains(&item) => {
            Ok(Selected::Plain(item.to_owned()))
        }
        None => Err(not_found(item, ty.name)),
    }
}

/// The identifiers a `$filter` or `$orderby` expression names as properties (words that
/// are not operators, literals or functions).
fn filter_properties(expr: &str) -> Vec<String> {
    const WORDS: [&str; 15] = [
        "eq", "ne", "gt", "ge", "lt", "le", "and", "or", "not", "true", "false", "null", "asc",
        "desc", "in",
    ];
    let mut out = Vec::new();
    let mut chars = expr.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            // A string literal ('' escapes a quote).
            while let Some((_, c)) = chars.next() {
                if c == '\'' {
                    if chars.peek().map(|(_, c)| *c) == Some('\'') {
                        chars.next();
                    } else {
                        break;
                    }
                }
            }
            continue;
        }
        if c.is_ascii_alphabetic() {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = chars.peek() {
                if d.is_ascii_alphanumeric() || d == '_' || d == '/' || d == '.' {
                    end = j + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let word = &expr[i..end];
            let is_function = chars.peek().map(|(_, c)| *c) == Some('(');
            if !is_function && !WORDS.contains(&word) {
                out.push(word.to_owned());
            }
        }
    }
    out
}

fn filter_item(ty: &EntityType, word: &str) -> Result<(), String> {
    // A navigation path (`start/dateTime`) names its first segment here.
    let head = word.split('/').next().unwrap_or(word);
    if ty.properties.contains(&head) || ty.navigation.contains(&head) {
        return Ok(());
    }
    match word.split_once('/') {
        Some((cast, property)) if find_derived(ty, cast).is_some() => {
            select_item(ty, &format!("{cast}/{property}")).map(|_| ())
        }
        _ => Err(not_found(head, ty.name)),
    }
}

/// One `$expand` entry: a navigation property, optionally with nested options.
fn expand_item(ty: &EntityType, item: &str) -> Result<(), String> {
    let name = item.split('(').next().unwrap_or(item).trim();
    if ty.navigation.contains(&name) {
        Ok(())
    } else {
        Err(not_found(name, ty.name))
    }
}

/// Splits a list at commas outside parentheses and quotes.
fn split_top(list: &str) -> Vec<&str> {
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    let mut out = Vec::new();
    for (i, c) in list.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                out.push(list[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(list[start..].trim());
    out.into_iter().filter(|s| !s.is_empty()).collect()
}

/// Checks a request's query options against the type of the collection (or entity) it
/// reads, and returns what `$select` asked for. `Err` holds Graph's error message.
pub fn check(ty: &EntityType, query: &HashMap<String, String>) -> Result<Selection, String> {
    let selection = match query.get("$select") {
        None => Selection(None, ty.navigation),
        Some(list) => Selection(
            Some(
                split_top(list)
                    .into_iter()
                    .map(|item| select_item(ty, item))
                    .collect::<Result<_, _>>()?,
            ),
            ty.navigation,
        ),
    };
    if let Some(list) = query.get("$expand") {
        for item in split_top(list) {
            expand_item(ty, item)?;
        }
    }
    for option in ["$filter", "$orderby"] {
        if let Some(expr) = query.get(option) {
            for word in filter_properties(expr) {
                filter_item(ty, &word)?;
            }
        }
    }
    Ok(selection)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_derived_property_needs_its_cast() {
        let err = check(&ATTACHMENT, &q(&[("$select", "id,name,contentId")]))
            .err()
            .unwrap();
        assert_eq!(
            err,
            "Could not find a property named 'contentId' on type 'microsoft.graph.attachment'."
        );
        assert!(check(
            &ATTACHMENT,
            &q(&[(
                "$select",
                "id,name,microsoft.graph.fileAttachment/contentId"
            )])
        )
        .is_ok());
        assert!(check(
            &ATTACHMENT,
            &q(&[("$select", "microsoft.graph.fileAttachment/nope")])
        )
        .is_err());
        assert!(check(&ATTACHMENT, &q(&[("$select", "microsoft.graph.event/id")])).is_err());
    }

    #[test]
    fn expand_filter_and_orderby_name_real_properties() {
        let expand = "singleValueExtendedProperties($filter=id eq 'String {8e1a} Name X')";
        assert!(check(&EVENT, &q(&[("$expand", expand)])).is_ok());
        assert!(check(&EVENT, &q(&[("$expand", "nope")])).is_err());
        assert!(check(
            &EVENT,
            &q(&[("$filter", "subject eq 'a eq b' and isAllDay eq false")])
        )
        .is_ok());
        assert!(check(&EVENT, &q(&[("$filter", "contentId eq 'x'")])).is_err());
        assert!(check(&EVENT, &q(&[("$filter", "startswith(subject,'x')")])).is_ok());
        assert!(check(&EVENT, &q(&[("$orderby", "start/dateTime desc")])).is_ok());
        assert!(check(
            &ATTACHMENT,
            &q(&[("$filter", "microsoft.graph.fileAttachment/contentId eq 'x'")])
        )
        .is_ok());
    }

    #[test]
    fn a_selection_keeps_id_annotations_and_casts_of_the_right_type() {
        let sel = check(
            &ATTACHMENT,
            &q(&[("$select", "name,microsoft.graph.fileAttachment/contentId")]),
        )
        .unwrap();
        let file = serde_json::json!({
            "@odata.type": "#microsoft.graph.fileAttachment",
            "id": "a", "name": "n", "size": 3, "contentId": "c", "contentBytes": "AAA="
        });
        assert_eq!(
            sel.project(file),
            serde_json::json!({
                "@odata.type": "#microsoft.graph.fileAttachment",
                "id": "a", "name": "n", "contentId": "c"
            })
        );
        let item = serde_json::json!({
            "@odata.type": "#microsoft.graph.itemAttachment", "id": "b", "name": "m", "contentId": "x"
        });
        assert_eq!(
            sel.project(item),
            serde_json::json!({"@odata.type": "#microsoft.graph.itemAttachment", "id": "b", "name": "m"})
        );
    }
}
