//! Working inside the host's `<form>`: the hidden input's receipt, submit interception
//! (book first, then let the submission continue) and DOM events for host scripts.

use super::{Load, WidgetState};
use crate::domain::{BookingError, Receipt};
use crate::i18n::{error_message, slot_label, texts};
use leptos::html::{Div, Input};
use leptos::prelude::*;
use wasm_bindgen::prelude::*;

/// JSON of the current receipt, or an empty string when nothing is chosen.
pub fn receipt_json(state: &WidgetState) -> String {
    state
        .receipt()
        .and_then(|r| serde_json::to_string(&r).ok())
        .unwrap_or_default()
}

/// The visible line under the grid that repeats the choice in words.
pub fn chosen_text(state: &WidgetState) -> String {
    let t = texts(state.lang);
    let describe = |start: chrono::DateTime<chrono::FixedOffset>,
                    end: chrono::DateTime<chrono::FixedOffset>| {
        let full = slot_label(
            state.lang,
            start.naive_local(),
            end.naive_local(),
            crate::domain::SlotState::Free,
            false,
        );
        // Drop the trailing state word: the prefix says it.
        full.rsplit_once(", ")
            .map(|(a, _)| a.to_string())
            .unwrap_or(full)
    };
    if let Some(r) = state.booked.get() {
        return format!("{} {}", t.booked_prefix, describe(r.start, r.end));
    }
    match (state.selected.get(), state.hold.get()) {
        (Some(s), Some(h)) => format!(
            "{} {}. {}",
            t.chosen_prefix,
            describe(s.start, s.end),
            super::hold::held_until_text(state.lang, &h.until)
        ),
        (Some(s), None) => format!("{} {}", t.chosen_prefix, describe(s.start, s.end)),
        (None, _) => String::new(),
    }
}

/// Fires a bubbling `CustomEvent` on the host element with a string detail.
pub fn dispatch(host: &web_sys::HtmlElement, name: &str, detail: &str) {
    let init = web_sys::CustomEventInit::new();
    init.set_bubbles(true);
    init.set_detail(&JsValue::from_str(detail));
    if let Ok(ev) = web_sys::CustomEvent::new_with_event_init_dict(name, &init) {
        let _ = host.dispatch_event(&ev);
    }
}

/// Books the selected slot. On success the receipt is written to the hidden input at once
/// (not on the next render) so a submission that follows carries it.
pub async fn book_selected(
    state: WidgetState,
    host: &web_sys::HtmlElement,
    input: NodeRef<Input>,
) -> Result<Receipt, BookingError> {
    let Some(slot) = state.selected.get_untracked() else {
        return Err(BookingError::InvalidSlot);
    };
    let t = texts(state.lang);
    state.busy.set(true);
    state.error.set(None);
    state.status.set(t.booking.to_string());
    let res = crate::api::book_slot(
        state.form.get_value(),
        state.element.get_value(),
        slot.id.clone(),
        state.idempotency_key.get_value(),
        state
            .hold
            .with_untracked(|h| h.as_ref().map(|h| h.token.clone()).unwrap_or_default()),
    )
    .await;
    state.busy.set(false);
    match res {
        Ok(receipt) => {
            let json = serde_json::to_string(&receipt).unwrap_or_default();
            if let Some(el) = input.get_untracked() {
                el.set_value(&json);
            }
            state.status.set(format!(
                "{} {}",
                t.booked_prefix,
                slot_label(
                    state.lang,
                    receipt.start.naive_local(),
                    receipt.end.naive_local(),
                    crate::domain::SlotState::Free,
                    false
                )
                .rsplit_once(", ")
                .map(|(a, _)| a.to_string())
                .unwrap_or_default()
            ));
            state.booked.set(Some(receipt.clone()));
            dispatch(host, "booket:booked", &json);
            Ok(receipt)
        }
        Err(e) => {
            let msg = error_message(state.lang, &e).to_string();
            state.error.set(Some(msg.clone()));
            state.status.set(msg);
            if matches!(
                e,
                BookingError::Taken
                    | BookingError::TooSoon
                    | BookingError::Past
                    | BookingError::InvalidSlot
                    | BookingError::OutsideWindow
            ) {
                // The time is gone: drop the choice and show the week as it is now.
                state.selected.set(None);
                state.hold.set(None);
                state.load_week();
            }
            let detail = serde_json::to_string(&e).unwrap_or_default();
            dispatch(host, "booket:error", &detail);
            Err(e)
        }
    }
}

/// Hooks the host form's submit event.
pub fn intercept(
    state: WidgetState,
    form: web_sys::HtmlFormElement,
    host: web_sys::HtmlElement,
    input: NodeRef<Input>,
    grid: NodeRef<Div>,
) {
    let form_for_submit = form.clone();
    let on_submit =
        Closure::<dyn FnMut(web_sys::SubmitEvent)>::new(move |ev: web_sys::SubmitEvent| {
            if state.booked.get_untracked().is_some() {
                return; // already booked: let the host's submission go on
            }
            let required = match state.config.get_untracked() {
                Load::Ready(c) => c.required,
                // Unknown yet: do not let a form that may require a booking go without one.
                _ => true,
            };
            match state.selected.get_untracked() {
                None if !required => {}
                None => {
                    ev.prevent_default();
                    let msg = texts(state.lang).required_missing.to_string();
                    state.error.set(Some(msg.clone()));
                    dispatch(&host, "booket:error", "{\"error\":\"required\"}");
                    if let Some(g) = grid.get_untracked() {
                        let _ = g.focus();
                    }
                }
                Some(_) => {
                    ev.prevent_default();
                    if state.busy.get_untracked() {
                        return;
                    }
                    let submitter = ev.submitter();
                    let form = form_for_submit.clone();
                    let host = host.clone();
                    leptos::task::spawn_local(async move {
                        match book_selected(state, &host, input).await {
                            Ok(_) => {
                                let _ = match submitter {
                                    Some(s) => form.request_submit_with_submitter(Some(&s)),
                                    None => form.request_submit(),
                                };
                            }
                            Err(_) => {
                                if let Some(g) = grid.get_untracked() {
                                    let _ = g.focus();
                                }
                            }
                        }
                    });
                }
            }
        });
    let _ = form.add_event_listener_with_callback("submit", on_submit.as_ref().unchecked_ref());
    // The listener lives as long as the page.
    on_submit.forget();
}
