//! The "?" button next to the heading: a disclosure for the element's info text.

use super::WidgetState;
use crate::i18n::texts;
use leptos::prelude::*;

#[component]
pub fn InfoDisclosure(text: String) -> impl IntoView {
    let state = expect_context::<WidgetState>();
    let open = RwSignal::new(false);
    let panel_id = state.id("info");
    let t = texts(state.lang);
    (!text.is_empty()).then(|| {
        view! {
            <button
                type="button"
                class="booket-info-toggle"
                data-testid="booket-info-toggle"
                aria-expanded=move || open.get().to_string()
                aria-controls=panel_id.clone()
                on:click=move |_| open.update(|o| *o = !*o)
                on:keydown=move |ev| {
                    if ev.key() == "Escape" {
                        open.set(false);
                    }
                }
            >
                <span aria-hidden="true">"?"</span>
                <span class="booket-visually-hidden">{t.info_button}</span>
            </button>
            <div id=panel_id class="booket-info" data-testid="booket-info" hidden=move || !open.get()>
                {text}
            </div>
        }
    })
}
