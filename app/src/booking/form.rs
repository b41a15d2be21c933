//! Working inside the host's `<form>`: the hidden input's receipt, submit interception
//! (book first, then let the submission continue) and DOM events for host scripts.

use super::{Load, WidgetState};
use crate::domain::{json, BookingError, Receipt};
use crate::i18n::{slot_when, texts};
use leptos::html::{Div, Input};
use leptos::prelude::*;
use wasm_bindgen::prelude::*;

/// JSON of the current receipt, or an empty string when nothing is chosen.
pub fn receipt_json(state: &WidgetState) -> String {
    state
        .receipt()
        .map(|r| json::to_string(&r))
        .unwrap_or_default()
}

/// The visible line under the grid that repeats the choice in words.
pub fn chosen_text(state: &WidgetState) -> String {
    let t = texts(state.lang);
    let describe = |start: chrono::DateTime<chrono::FixedOffset>,
                    end: chrono::DateTime<chrono::FixedOffset>| {
        slot_when(state.lang, start.naive_local(), end.naive_local())
    };
    if let Some(r) = state.booked.get() {
        return format!("{} {}", t.booked_prefix, describe(r.start, r.end));
    }
    if state.in_line.get() {
        return t.in_line.into();
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
    state.error.set(None);
    state.status.set(t.booking.to_string());
    let hold = state
        .hold
        .with_untracked(|h| h.as_ref().map(|h| h.token.clone()).unwrap_or_default());
    let sends_form = matches!(state.config.get_untracked(), Load::Ready(c) if c.sends_form);
    let host_form = host
        .closest("form")
        .ok()
        .flatten()
        .and_then(|f| f.dyn_into::<web_sys::HtmlFormElement>().ok());
    let call = async {
        match host_form.filter(|_| sends_form) {
            Some(form) => match form_payload(&state, &form, &slot.id, &hold) {
                Ok(data) => super::client::book_form(data).await,
                Err(_) => Err(BookingError::Internal),
            },
            None => {
                super::client::book(
                    state.form.get_value(),
                    state.element.get_value(),
                    slot.id.clone(),
                    state.idempotency_key.get_value(),
                    hold,
                )
                .await
            }
        }
    };
    let res = state.busy_with(call).await;
    match res {
        Ok(receipt) => {
            let json = json::to_string(&receipt);
            if let Some(el) = input.get_untracked() {
                el.set_value(&json);
            }
            state.status.set(format!(
                "{} {}",
                t.booked_prefix,
                slot_when(
                    state.lang,
                    receipt.start.naive_local(),
                    receipt.end.naive_local()
                )
            ));
            state.booked.set(Some(receipt.clone()));
            dispatch(host, "booket:booked", &json);
            Ok(receipt)
        }
        Err(e) => {
            if state.show_failure(&e) {
                // The time is gone: drop the choice (the week is being refreshed).
                state.selected.set(None);
                state.hold.set(None);
            }
            let detail = json::to_string(&e);
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
            if state.busy.get_untracked() {
                // A reservation is on its way: submit again once it has landed.
                ev.prevent_default();
                let form = form_for_submit.clone();
                let submitter = ev.submitter();
                set_timeout(
                    move || {
                        let _ = match &submitter {
                            Some(s) => form.request_submit_with_submitter(Some(s)),
                            None => form.request_submit(),
                        };
                    },
                    std::time::Duration::from_millis(150),
                );
                return;
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

/// The host form as multipart data for `/api/book_form`: the booking's own parts, every
/// file of its upload fields (`file`) and its filled-in fields with their labels (`field`).
fn form_payload(
    state: &WidgetState,
    form: &web_sys::HtmlFormElement,
    slot_id: &str,
    hold: &str,
) -> Result<web_sys::FormData, JsValue> {
    let data = web_sys::FormData::new()?;
    use crate::contract::{arg, BOOK_FORM};
    let own = [
        (arg::FORM, state.form.get_value()),
        (arg::ELEMENT, state.element.get_value()),
        (arg::SLOT_ID, slot_id.to_owned()),
        (arg::IDEMPOTENCY_KEY, state.idempotency_key.get_value()),
        (arg::HOLD, hold.to_owned()),
    ];
    for ((name, value), want) in own.iter().zip(BOOK_FORM.args) {
        if name != want {
            return Err(JsValue::NULL);
        }
        data.append_with_str(name, value)?;
    }
    let add_field =
        |name: String, labels: Option<web_sys::NodeList>, value: String| -> Result<(), JsValue> {
            let label = labels
                .and_then(|l| l.item(0))
                .and_then(|n| n.text_content())
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| name.clone());
            let mut json = String::new();
            json::Object::new(&mut json)
                .field("name", &name)
                .field("label", &label)
                .field("value", &value)
                .end();
            data.append_with_str(crate::contract::FIELD_PART, &json)
        };
    let elements = form.elements();
    for i in 0..elements.length() {
        let Some(el) = elements.item(i) else { continue };
        if let Some(input) = el.dyn_ref::<web_sys::HtmlInputElement>() {
            let name = input.name();
            if name.is_empty() || input.disabled() {
                continue;
            }
            match input.type_().as_str() {
                "file" => {
                    if let Some(files) = input.files() {
                        for j in 0..files.length() {
                            if let Some(f) = files.get(j) {
                                data.append_with_blob_and_filename(
                                    crate::contract::FILE_PART,
                                    &f,
                                    &f.name(),
                                )?;
                            }
                        }
                    }
                }
                // Booking receipts, buttons and secrets are not part of the summary.
                "hidden" | "submit" | "button" | "reset" | "image" | "password" => {}
                "checkbox" | "radio" if !input.checked() => {}
                _ => add_field(name, input.labels(), input.value())?,
            }
        } else if let Some(area) = el.dyn_ref::<web_sys::HtmlTextAreaElement>() {
            if !area.name().is_empty() && !area.disabled() {
                add_field(area.name(), Some(area.labels()), area.value())?;
            }
        } else if let Some(select) = el.dyn_ref::<web_sys::HtmlSelectElement>() {
            if !select.name().is_empty() && !select.disabled() {
                add_field(select.name(), Some(select.labels()), select.value())?;
            }
        }
    }
    Ok(data)
}
