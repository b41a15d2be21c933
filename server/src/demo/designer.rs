//! The designer preview (demo mode): pick a configured element or edit a draft, see it live
//! against the simulated calendar, and copy the embed snippet and the config block.

use super::drafts::PREVIEW_FORM;
use super::layout::{nav, DemoPages};
use crate::config::{ElementConfig, ElementDraft};
use axum::extract::{Query, State};
use axum::response::Response;
use html_escape::{encode_double_quoted_attribute as attr, encode_text as esc};
use std::collections::HashMap;
use std::fmt::Write;

/// Every option, its Danish name from the setup guide, and what it does.
const OPTIONS: &[(&str, &str, &str)] = &[
    ("name", "Elementnavn", "Nøglen for bookingen i blankettens data (et skjult felt med dette navn). Kun a–z, 0–9, - og _. Skift det ikke, når blanketten er i brug."),
    ("heading", "Overskrift", "Vises over kalenderen."),
    ("description", "Kort beskrivelse", "Vises under kalenderen."),
    ("info_text", "Infotekst", "Vises, når borgeren trykker på ?-knappen ved overskriften."),
    ("required", "Booking påkrævet", "Blanketten kan ikke sendes uden en valgt tid."),
    ("show_weekend", "Vis weekend", "Viser lørdag og søndag og aftaler på de dage."),
    ("attach_documents", "Tilføj dokumenter", "Filer fra upload-felterne i samme blanket vedhæftes aftalen i Outlook."),
    ("notify_attendees", "Send kalenderopdatering til deltagere ved reservation", "Med Microsoft Graph sender Exchange selv en mødeopdatering til deltagerne, når arrangøren ændrer aftalen — også når feltet er slået fra; Graph kan ikke undertrykke den. Booket lægger dokumenterne på før emnet ændres, så opdateringen ved booking har dem med."),
    ("attach_summary", "Tilføj resumé", "En PDF af blanketten (titel, tidspunkt, felter og filnavne) vedhæftes aftalen i Outlook."),
    ("calendar", "Kalender", "Hvilken kalender (fra administrationens opsætning) tiderne kommer fra."),
    ("first_hour", "Første time", "0–23. Kun aftaler, der starter fra denne time, vises."),
    ("last_hour", "Sidste time", "1–24, efter første time. Kun aftaler, der slutter senest denne time, vises."),
    ("notice_days", "Antal dage før aftale", "0–365. Tider før i dag + dette antal kalenderdage vises som optaget (\"kan ikke bookes endnu\")."),
    ("reminder_hours", "Påmindelse (timer før)", "0–168. Så mange timer før tiden får borgeren en påmindelse på e-mail med link til at aflyse; 0 = ingen påmindelse. Kræver e-mail og signerede kvitteringer."),
];

const CHECKBOXES: &[&str] = &[
    "required",
    "show_weekend",
    "attach_documents",
    "notify_attendees",
    "attach_summary",
];

fn draft_from(q: &HashMap<String, String>) -> Result<ElementDraft, (&'static str, String)> {
    let text = |k: &str| q.get(k).cloned().unwrap_or_default();
    let number = |k: &'static str| -> Result<i64, (&'static str, String)> {
        text(k)
            .trim()
            .parse()
            .map_err(|_| (k, "skal være et helt tal".to_string()))
    };
    let flag = |k: &str| q.get(k).is_some_and(|v| v == "on" || v == "true");
    Ok(ElementDraft {
        name: text("name").trim().to_owned(),
        heading: text("heading"),
        description: text("description"),
        info_text: text("info_text"),
        required: flag("required"),
        show_weekend: flag("show_weekend"),
        attach_documents: flag("attach_documents"),
        notify_attendees: flag("notify_attendees"),
        attach_summary: flag("attach_summary"),
        calendar: text("calendar"),
        first_hour: number("first_hour")?,
        last_hour: number("last_hour")?,
        notice_days: number("notice_days")?,
        reminder_hours: number("reminder_hours")?,
    })
}

fn values_of(el: &ElementConfig) -> HashMap<&'static str, String> {
    HashMap::from([
        ("name", el.name.clone()),
        ("heading", el.heading.clone()),
        ("description", el.description.clone()),
        ("info_text", el.info_text.clone()),
        ("required", el.required.to_string()),
        ("show_weekend", el.show_weekend.to_string()),
        ("attach_documents", el.attach_documents.to_string()),
        ("notify_attendees", el.notify_attendees.to_string()),
        ("attach_summary", el.attach_summary.to_string()),
        ("calendar", el.calendar.clone()),
        ("first_hour", el.first_hour.to_string()),
        ("last_hour", el.last_hour.to_string()),
        ("notice_days", el.notice_days.to_string()),
        ("reminder_hours", el.reminder_hours.to_string()),
    ])
}

/// The element as a `[[forms.elements]]` block to paste under its `[[forms]]`, written by
/// toml_edit (quoting and escapes are the library's).
pub fn config_block(el: &ElementConfig) -> String {
    use toml_edit::{value, ArrayOfTables, DocumentMut, Item, Table};
    let mut t = Table::new();
    t["name"] = value(el.name.as_str());
    t["heading"] = value(el.heading.as_str());
    t["description"] = value(el.description.as_str());
    t["info_text"] = value(el.info_text.as_str());
    t["required"] = value(el.required);
    t["show_weekend"] = value(el.show_weekend);
    t["attach_documents"] = value(el.attach_documents);
    t["notify_attendees"] = value(el.notify_attendees);
    t["attach_summary"] = value(el.attach_summary);
    t["calendar"] = value(el.calendar.as_str());
    t["first_hour"] = value(i64::from(el.first_hour));
    t["last_hour"] = value(i64::from(el.last_hour));
    t["notice_days"] = value(i64::from(el.notice_days));
    t["reminder_hours"] = value(i64::from(el.reminder_hours));
    let mut elements = ArrayOfTables::new();
    elements.push(t);
    let mut forms = Table::new();
    forms.set_implicit(true);
    forms.insert("elements", Item::ArrayOfTables(elements));
    let mut doc = DocumentMut::new();
    doc.insert("forms", Item::Table(forms));
    doc.to_string()
}

pub fn snippet(public_url: &str, form: &str, element: &str) -> String {
    format!(
        "<script type=\"module\" src=\"{}/booket/booket.js\"></script>\n<div data-booket-form=\"{form}\" data-booket-element=\"{element}\"></div>",
        public_url.trim_end_matches('/')
    )
}

/// What the preview mounts: form id, element id, and the element itself.
type Preview = (String, String, ElementConfig);

pub async fn page(
    State(d): State<DemoPages>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let config = &d.config;
    let mut error: Option<(&'static str, String)> = None;
    // What the editor shows, and what the preview mounts.
    let (values, preview): (HashMap<&str, String>, Option<Preview>) = if q.contains_key("draft") {
        let names: Vec<&str> = config.calendars.iter().map(|c| c.name.as_str()).collect();
        let raw: HashMap<&str, String> = OPTIONS
            .iter()
            .map(|(k, _, _)| (*k, q.get(*k).cloned().unwrap_or_default()))
            .map(|(k, v)| {
                if CHECKBOXES.contains(&k) {
                    (k, (v == "on").to_string())
                } else {
                    (k, v)
                }
            })
            .collect();
        match draft_from(&q).and_then(|draft| draft.validate(&names)) {
            Ok(el) => {
                let id = d.drafts.put(el.clone());
                (raw, Some((PREVIEW_FORM.to_string(), id, el)))
            }
            Err(e) => {
                error = Some(e);
                (raw, None)
            }
        }
    } else {
        let form = q.get("form").map(String::as_str).unwrap_or("demo");
        let element = q.get("element").map(String::as_str).unwrap_or("tid");
        match config.element(form, element) {
            Some((f, el)) => (
                values_of(el),
                Some((f.id.clone(), el.name.clone(), el.clone())),
            ),
            None => (HashMap::new(), None),
        }
    };

    let mut body = String::new();
    let _ = write!(
        body,
        "{}\n<main class=\"designer\">\n<h1>Designer: bookingelementet</h1>\n\
         <p>Vælg et konfigureret element, eller ret i et udkast, og se det med det samme mod den simulerede kalender.</p>\n",
        nav()
    );
    // Picker.
    body.push_str("<section aria-labelledby=\"pick\"><h2 id=\"pick\">Konfigurerede elementer</h2><ul data-testid=\"designer-elements\">\n");
    for f in &config.forms {
        for el in &f.elements {
            let _ = writeln!(
                body,
                "<li><a href=\"/designer?form={}&amp;element={}\">{} — {} ({})</a></li>",
                attr(&f.id),
                attr(&el.name),
                esc(&f.title),
                esc(&el.heading),
                esc(&el.name)
            );
        }
    }
    body.push_str("</ul></section>\n");

    // Editor.
    body.push_str("<section aria-labelledby=\"edit\"><h2 id=\"edit\">Udkast</h2>\n<form method=\"get\" action=\"/designer\" data-testid=\"designer-editor\">\n<input type=\"hidden\" name=\"draft\" value=\"1\">\n");
    if let Some((field, message)) = &error {
        let label = OPTIONS
            .iter()
            .find(|(k, _, _)| k == field)
            .map(|(_, l, _)| *l)
            .unwrap_or(field);
        let _ = writeln!(
            body,
            "<p class=\"designer-error\" role=\"alert\" data-testid=\"designer-error\">{}: {}</p>",
            esc(label),
            esc(message)
        );
    }
    for (key, label, help) in OPTIONS {
        let id = format!("opt-{key}");
        let value = values.get(key).cloned().unwrap_or_default();
        let invalid = if error.as_ref().is_some_and(|(f, _)| f == key) {
            " aria-invalid=\"true\""
        } else {
            ""
        };
        let described = format!("help-{key}");
        let control = if CHECKBOXES.contains(key) {
            let checked = if value == "true" { " checked" } else { "" };
            format!("<input type=\"checkbox\" id=\"{id}\" name=\"{key}\"{checked} aria-describedby=\"{described}\"{invalid}> <label for=\"{id}\">{}</label>", esc(label))
        } else if *key == "calendar" {
            let mut options = String::new();
            for c in &config.calendars {
                let selected = if c.name == value { " selected" } else { "" };
                let _ = write!(options, "<option{selected}>{}</option>", esc(&c.name));
            }
            format!("<label for=\"{id}\">{}</label><br><select id=\"{id}\" name=\"{key}\" aria-describedby=\"{described}\"{invalid}>{options}</select>", esc(label))
        } else if matches!(
            *key,
            "first_hour" | "last_hour" | "notice_days" | "reminder_hours"
        ) {
            format!(
                "<label for=\"{id}\">{}</label><br><input type=\"number\" id=\"{id}\" name=\"{key}\" value=\"{}\" aria-describedby=\"{described}\"{invalid}>",
                esc(label),
                attr(&value)
            )
        } else if matches!(*key, "description" | "info_text") {
            format!(
                "<label for=\"{id}\">{}</label><br><textarea id=\"{id}\" name=\"{key}\" rows=\"2\" aria-describedby=\"{described}\"{invalid}>{}</textarea>",
                esc(label),
                esc(&value)
            )
        } else {
            format!(
                "<label for=\"{id}\">{}</label><br><input id=\"{id}\" name=\"{key}\" value=\"{}\" aria-describedby=\"{described}\"{invalid}>",
                esc(label),
                attr(&value)
            )
        };
        let _ = writeln!(
            body,
            "<p>{control}<br><span class=\"designer-help\" id=\"{described}\">{}</span></p>",
            esc(help)
        );
    }
    body.push_str("<p><button type=\"submit\" data-testid=\"designer-apply\">Vis forhåndsvisning</button></p>\n</form></section>\n");

    // Preview, snippet and config block.
    if let Some((form, element, el)) = &preview {
        let _ = write!(
            body,
            "<section aria-labelledby=\"preview\"><h2 id=\"preview\">Forhåndsvisning</h2>\n\
             <form method=\"post\" action=\"/receipt\" enctype=\"multipart/form-data\" data-testid=\"designer-preview\">\n\
             <input type=\"hidden\" name=\"form\" value=\"{}\">\n\
             <div data-booket-form=\"{}\" data-booket-element=\"{}\"></div>\n\
             <p><button type=\"submit\">Send (prøve)</button></p>\n</form></section>\n",
            attr(form),
            attr(form),
            attr(element)
        );
        // A draft's preview id is internal: the snippet and the block use the typed name.
        let mut shown = el.clone();
        let snippet_form = if form == PREVIEW_FORM {
            shown.name = values.get("name").cloned().unwrap_or_default();
            "DIN-BLANKET".to_string()
        } else {
            form.clone()
        };
        let _ = write!(
            body,
            "<section aria-labelledby=\"embed\"><h2 id=\"embed\">Indlejring</h2>\n<pre data-testid=\"designer-snippet\"><code>{}</code></pre>\n\
             <h2>Konfiguration</h2>\n<pre data-testid=\"designer-config\"><code>{}</code></pre></section>\n",
            esc(&snippet(&config.server.public_url, &snippet_form, &shown.name)),
            esc(&config_block(&shown))
        );
    }
    body.push_str("</main>");
    super::layout::page("Designer", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_block_is_valid_toml_that_round_trips() {
        let el = ElementConfig {
            name: "tid".into(),
            heading: "Book \"en\" tid\\nu".into(),
            description: "linje 1\nlinje 2".into(),
            info_text: "æøå".into(),
            required: true,
            show_weekend: false,
            attach_documents: true,
            notify_attendees: false,
            attach_summary: true,
            calendar: "Borgerservice".into(),
            first_hour: 8,
            last_hour: 16,
            notice_days: 2,
            reminder_hours: 24,
        };
        #[derive(serde::Deserialize)]
        struct Doc {
            forms: Vec<Form>,
        }
        #[derive(serde::Deserialize)]
        struct Form {
            elements: Vec<ElementDraft>,
        }
        let doc: Doc = toml::from_str(&format!("[[forms]]\n{}", config_block(&el))).unwrap();
        let back = doc
            .forms
            .into_iter()
            .next()
            .unwrap()
            .elements
            .into_iter()
            .next()
            .unwrap();
        assert_eq!(back.heading, el.heading);
        assert_eq!(back.description, el.description);
        let back = back.validate(&["Borgerservice"]).unwrap();
        assert_eq!((back.notice_days, back.reminder_hours), (2, 24));
    }
}
