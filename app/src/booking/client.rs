//! How the widget calls Booket's server functions: one `fetch` per call, speaking the
//! endpoints' stable wire format directly (arguments form-encoded or multipart, answers and
//! errors as JSON, errors with a 4xx/5xx status). The server side is the `#[server]`
//! functions in [`crate::api`]; the end-to-end tests exercise both together. Linking
//! server_fn's generic client instead added about 15 KB (brotli) to the download. Answers
//! are read with [`crate::domain::json`].

use crate::contract::{self, arg, Endpoint};
use crate::domain::json::FromJson;
use crate::domain::{BookingError, ElementPublic, Hold, Receipt, WeekView};
use std::sync::OnceLock;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// Origin of the Booket server when the page is elsewhere (set once at start-up).
static SERVER: OnceLock<String> = OnceLock::new();

/// Points every call at `url` (e.g. `https://booking.example.dk`). Without it calls go to
/// the page's own origin.
pub fn set_server(url: &str) {
    let _ = SERVER.set(url.trim_end_matches('/').to_owned());
}

pub async fn element(form: String, element: String) -> Result<ElementPublic, BookingError> {
    post(
        &contract::ELEMENT,
        &[(arg::FORM, form.as_str()), (arg::ELEMENT, element.as_str())],
    )
    .await
}

pub async fn week(
    form: String,
    element: String,
    week: String,
    hold: String,
) -> Result<WeekView, BookingError> {
    let args = [
        (arg::FORM, form.as_str()),
        (arg::ELEMENT, element.as_str()),
        (arg::WEEK, week.as_str()),
        (arg::HOLD, hold.as_str()),
    ];
    post(&contract::WEEK, &args).await
}

pub async fn reserve(
    form: String,
    element: String,
    slot_id: String,
    hold: String,
    release_slot_id: String,
    session: String,
) -> Result<Hold, BookingError> {
    let args = [
        (arg::FORM, form.as_str()),
        (arg::ELEMENT, element.as_str()),
        (arg::SLOT_ID, slot_id.as_str()),
        (arg::HOLD, hold.as_str()),
        (arg::RELEASE_SLOT_ID, release_slot_id.as_str()),
        (arg::SESSION, session.as_str()),
    ];
    post(&contract::RESERVE, &args).await
}

pub async fn release(
    form: String,
    element: String,
    slot_id: String,
    hold: String,
) -> Result<(), BookingError> {
    let args = [
        (arg::FORM, form.as_str()),
        (arg::ELEMENT, element.as_str()),
        (arg::SLOT_ID, slot_id.as_str()),
        (arg::HOLD, hold.as_str()),
    ];
    post(&contract::RELEASE, &args).await
}

pub async fn book(
    form: String,
    element: String,
    slot_id: String,
    idempotency_key: String,
    hold: String,
) -> Result<Receipt, BookingError> {
    let args = [
        (arg::FORM, form.as_str()),
        (arg::ELEMENT, element.as_str()),
        (arg::SLOT_ID, slot_id.as_str()),
        (arg::IDEMPOTENCY_KEY, idempotency_key.as_str()),
        (arg::HOLD, hold.as_str()),
    ];
    post(&contract::BOOK, &args).await
}

/// Books with the form's files and fields: the booking's own parts first, then the fields, then
/// the files (the server checks the slot before it reads a byte of the files).
pub async fn book_form(data: web_sys::FormData) -> Result<Receipt, BookingError> {
    send(contract::BOOK_FORM.name, &data, None).await
}

/// Calls `endpoint` with its arguments, which must be the contract's, in its order (a
/// call that drifted from the contract fails at once instead of sending something else).
async fn post<T: FromJson>(endpoint: &Endpoint, args: &[(&str, &str)]) -> Result<T, BookingError> {
    let body = encode(endpoint, args).ok_or(BookingError::Internal)?;
    send(endpoint.name, &body, Some(FORM_ENCODED)).await
}

const FORM_ENCODED: &str = "application/x-www-form-urlencoded";

/// The form-encoded body, if `args` are the endpoint's (one copy, not one per answer type).
fn encode(endpoint: &Endpoint, args: &[(&str, &str)]) -> Option<JsValue> {
    if args.len() != endpoint.args.len()
        || args
            .iter()
            .zip(endpoint.args)
            .any(|((n, _), want)| n != want)
    {
        return None;
    }
    let params = web_sys::UrlSearchParams::new().ok()?;
    for (name, value) in args {
        params.append(name, value);
    }
    Some(JsValue::from(params.to_string()))
}

/// Gives a hold back as the page is left: a `keepalive` request, which the browser
/// completes after the page is gone. Nobody waits for its answer.
pub fn release_on_leave(form: &str, element: &str, slot_id: &str, hold: &str) {
    let args = [
        (arg::FORM, form),
        (arg::ELEMENT, element),
        (arg::SLOT_ID, slot_id),
        (arg::HOLD, hold),
    ];
    let Some(body) = encode(&contract::RELEASE, &args) else {
        return;
    };
    let release = contract::RELEASE.name;
    if let Ok(init) = request(release, &body, Some(FORM_ENCODED)) {
        // (web-sys has no setter for it: RequestInit is a plain JS object.)
        let _ = js_sys::Reflect::set(&init.1, &JsValue::from_str("keepalive"), &JsValue::TRUE);
        if let Some(w) = web_sys::window() {
            let _ = w.fetch_with_str_and_init(&init.0, &init.1);
        }
    }
}

async fn send<T: FromJson>(
    endpoint: &str,
    body: &JsValue,
    content_type: Option<&str>,
) -> Result<T, BookingError> {
    let (status, text) = fetch(endpoint, body, content_type)
        .await
        .map_err(|_| BookingError::Network)?;
    crate::domain::decode_answer(status, &text)
}

/// The URL and the request for a call to `endpoint`.
fn request(
    endpoint: &str,
    body: &JsValue,
    content_type: Option<&str>,
) -> Result<(String, web_sys::RequestInit), JsValue> {
    let server = SERVER.get().map_or("", String::as_str);
    let url = format!("{server}{}/{endpoint}", contract::PREFIX);
    let headers = web_sys::Headers::new()?;
    headers.set("Accept", "application/json")?;
    if let Some(ct) = content_type {
        headers.set("Content-Type", ct)?;
    }
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_body(body);
    Ok((url, init))
}

/// The answer to this very call that the loader (public/booket.js) asked for before the
/// widget had started, if there is one; each is taken once. It resolves to an object with
/// the answer's `status` and a `text()` that resolves at once.
fn early(endpoint: &str, body: &JsValue) -> Option<js_sys::Promise> {
    let early = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("booketEarly")).ok()?;
    let early: js_sys::Map = early.dyn_into().ok()?;
    let key = JsValue::from(format!("{endpoint}?{}", body.as_string()?));
    let answer = early.get(&key);
    early.delete(&key);
    answer.dyn_into().ok()
}

async fn fetch(
    endpoint: &str,
    body: &JsValue,
    content_type: Option<&str>,
) -> Result<(u16, String), JsValue> {
    let pending = match early(endpoint, body) {
        Some(answer) => answer,
        None => {
            let (url, init) = request(endpoint, body, content_type)?;
            let window = web_sys::window().ok_or(JsValue::NULL)?;
            window.fetch_with_str_and_init(&url, &init)
        }
    };
    // A fetch answers a Response; the loader's early answers are already read to the end
    // and offer the two members used here, `status` and `text()` (public/booket.js).
    let res: web_sys::Response = JsFuture::from(pending).await?.unchecked_into();
    let text = JsFuture::from(res.text()?)
        .await?
        .as_string()
        .unwrap_or_default();
    Ok((res.status(), text))
}
