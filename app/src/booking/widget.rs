//! The root of one booking element: heading, navigation, grid, texts, hidden input.

use super::hold::extend_label;
use super::{form, grid::Grid, info::InfoDisclosure, nav::WeekNav, Load, WidgetState};
use crate::i18n::{error_message, texts};
use leptos::html::Input;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

#[component]
pub fn Widget(state: WidgetState, host: web_sys::HtmlElement) -> impl IntoView {
    provide_context(state);
    let t = texts(state.lang);
    leptos::task::spawn_local(async move {
        let res = super::client::element(state.form.get_value(), state.element.get_value()).await;
        state.config.set(match res {
            Ok(c) => Load::Ready(c),
            Err(e) => Load::Failed(e),
        });
    });
    state.load_week();

    let input_ref = NodeRef::<Input>::new();
    let host_form = host
        .closest("form")
        .ok()
        .flatten()
        .and_then(|f| f.dyn_into::<web_sys::HtmlFormElement>().ok());
    let in_form = host_form.is_some();
    let grid_ref = NodeRef::<leptos::html::Div>::new();
    if let Some(f) = host_form {
        form::intercept(state, f, host.clone(), input_ref, grid_ref);
    }

    // Keep the hidden input and the host informed whenever the choice changes.
    let host_for_effect = host.clone();
    Effect::new(move |_| {
        let value = form::receipt_json(&state);
        if let Some(input) = input_ref.get() {
            input.set_value(&value);
        }
        form::dispatch(&host_for_effect, "booket:change", &value);
    });

    let heading_id = state.id("heading");
    let error_id = state.id("error");
    let header = move || match state.config.get() {
        Load::Ready(c) => view! {
            <div class="booket-header">
                <h2 class="booket-heading" id=state.id("heading")>{c.heading.clone()}</h2>
                <InfoDisclosure text=c.info_text.clone() />
            </div>
        }
        .into_any(),
        Load::Loading => view! {
            <div class="booket-header">
                <h2 class="booket-heading" id=state.id("heading")>{t.loading}</h2>
            </div>
        }
        .into_any(),
        Load::Failed(e) => view! {
            <div class="booket-header">
                <h2 class="booket-heading" id=state.id("heading")>{t.book_button}</h2>
                <p class="booket-error">{error_message(state.lang, &e)}</p>
            </div>
        }
        .into_any(),
    };
    let description = move || match state.config.get() {
        Load::Ready(c) if !c.description.is_empty() => {
            Some(view! { <p class="booket-description">{c.description}</p> })
        }
        _ => None,
    };
    let standalone_button = (!in_form).then(|| {
        let host = host.clone();
        view! {
            <button
                type="button"
                class="booket-book"
                data-testid="booket-book"
                aria-disabled=move || {
                    (state.selected.get().is_none() || state.booked.get().is_some()).to_string()
                }
                on:click=move |_| {
                    if state.selected.get_untracked().is_some()
                        && state.booked.get_untracked().is_none()
                    {
                        let host = host.clone();
                        leptos::task::spawn_local(async move {
                            let _ = form::book_selected(state, &host, input_ref).await;
                        });
                    }
                }
            >
                {move || if state.busy.get() { t.booking } else { t.book_button }}
            </button>
        }
    });
    let element_name = state.element.get_value();
    // A memo, so the alert is inserted once (and announced once), not on every tick.
    let hold_warning = Memo::new(move |_| state.hold_warning());

    view! {
        <section
            class="booket"
            aria-labelledby=heading_id
            lang=state.lang.code()
            data-testid="booket-widget"
            aria-busy=move || state.busy.get().to_string()
        >
            {header}
            <WeekNav />
                        <Grid grid_ref=grid_ref />
            {move || {
                hold_warning
                    .get()
                    .map(|text| {
                        view! {
                            <div class="booket-hold-warning" role="alert" data-testid="booket-hold-warning">
                                <p>{text}</p>
                                <button
                                    type="button"
                                    class="booket-extend"
                                    data-testid="booket-extend"
                                    on:click=move |_| state.extend()
                                >
                                    {extend_label(state.lang)}
                                </button>
                            </div>
                        }
                    })
            }}
            {description}
            <p class="booket-error" id=error_id data-testid="booket-error" role="alert">
                {move || state.error.get().unwrap_or_default()}
            </p>
            <p class="booket-chosen" data-testid="booket-chosen">
                {move || form::chosen_text(&state)}
            </p>
            {standalone_button}
            <div class="booket-visually-hidden" role="status" data-testid="booket-status">
                {move || state.status.get()}
            </div>
            <input type="hidden" name=element_name node_ref=input_ref />
        </section>
    }
}
