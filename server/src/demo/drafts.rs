//! The designer's draft elements: kept in memory for the demo's preview, and served to the
//! widget as form [`PREVIEW_FORM`] through the core's [`ElementSource`] seam — the booking
//! core knows nothing of drafts.

use crate::booking::ElementSource;
use crate::config::ElementConfig;
use app::api::{ElementName, FormId};

/// The form id under which drafts are served.
pub const PREVIEW_FORM: &str = "preview";
/// Most drafts kept; past it the least used go (a demo, not a database).
const MAX_DRAFTS: u64 = 500;

pub struct Drafts {
    drafts: moka::sync::Cache<String, ElementConfig>,
}

impl Default for Drafts {
    fn default() -> Self {
        Drafts {
            drafts: moka::sync::Cache::new(MAX_DRAFTS),
        }
    }
}

impl Drafts {
    /// Keeps a draft element and returns its id, under which the widget finds it as form
    /// [`PREVIEW_FORM`]. The same draft always gets the same id.
    pub fn put(&self, el: ElementConfig) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!("{el:?}").as_bytes());
        let id = format!(
            "d{}",
            digest[..8]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        self.drafts.insert(
            id.clone(),
            ElementConfig {
                name: id.clone(),
                ..el
            },
        );
        id
    }
}

impl ElementSource for Drafts {
    fn element(&self, form: &FormId, element: &ElementName) -> Option<ElementConfig> {
        if form.as_str() != PREVIEW_FORM {
            return None;
        }
        self.drafts.get(element.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_draft_is_served_under_the_preview_form_only_and_keeps_its_id() {
        let d = Drafts::default();
        let el = ElementConfig {
            name: "tid".into(),
            heading: "Vælg".into(),
            description: String::new(),
            info_text: String::new(),
            required: true,
            show_weekend: false,
            attach_documents: false,
            notify_attendees: false,
            attach_summary: false,
            calendar: "Borgerservice".into(),
            first_hour: 8,
            last_hour: 16,
            notice_days: 1,
            reminder_hours: 0,
        };
        let id = d.put(el.clone());
        assert_eq!(d.put(el), id);
        let get = |form: &str, element: &str| {
            d.element(
                &FormId::parse(form).unwrap(),
                &ElementName::parse(element).unwrap(),
            )
        };
        assert_eq!(get(PREVIEW_FORM, &id).map(|e| e.name), Some(id.clone()));
        assert!(get("demo", &id).is_none());
        assert!(get(PREVIEW_FORM, "other").is_none());
    }
}
