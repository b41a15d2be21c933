//! The booking element in the browser: mounting, per-instance state and its components.

pub mod client;
mod form;
mod grid;
mod hold;
mod info;
mod nav;
mod widget;

use crate::domain::{BookingError, ElementPublic, Receipt, ReceiptState, SlotView, WeekView};
use crate::i18n::Lang;
use chrono::NaiveDate;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

pub use widget::Widget;

/// How long a reservation or booking may go unanswered before the widget says it is in
/// line (a lone call to Exchange answers well within it).
const IN_LINE_AFTER: std::time::Duration = std::time::Duration::from_millis(1500);

/// A value that is fetched from the server.
#[derive(Clone, Debug, PartialEq)]
pub enum Load<T> {
    Loading,
    Ready(T),
    Failed(BookingError),
}

/// State of one widget instance, shared with its components through context.
#[derive(Clone, Copy)]
pub struct WidgetState {
    pub form: StoredValue<String>,
    pub element: StoredValue<String>,
    pub lang: Lang,
    /// Element configuration (public part).
    pub config: RwSignal<Load<ElementPublic>>,
    /// Any day of the week to show; `None` = the current week.
    pub week_wanted: RwSignal<Option<NaiveDate>>,
    pub week: RwSignal<Load<WeekView>>,
    pub selected: RwSignal<Option<SlotView>>,
    /// Set once the server has booked the selected slot.
    pub booked: RwSignal<Option<Receipt>>,
    /// Key of the current booking attempt; a new one per selected slot.
    pub idempotency_key: StoredValue<String>,
    /// Validation or booking error shown under the grid.
    pub error: RwSignal<Option<String>>,
    /// Text announced through the polite live region.
    pub status: RwSignal<String>,
    pub busy: RwSignal<bool>,
    /// The call under way has waited long enough to say it is in line.
    pub in_line: RwSignal<bool>,
    /// Unique prefix for ids inside this instance.
    pub id_prefix: StoredValue<String>,
    /// The reservation held for the selected slot.
    pub hold: RwSignal<Option<hold::HeldSlot>>,
    /// This citizen's hold token (from the first reservation on), sent with every call.
    pub token: StoredValue<String>,
    /// A session token from the host form's backend (`data-booket-session`), or empty.
    pub session: StoredValue<String>,
    /// Browser clock in ms, ticking once a second while a hold runs.
    pub now_ms: RwSignal<f64>,
    pub ticker: StoredValue<Option<IntervalHandle>, LocalStorage>,
}

impl WidgetState {
    fn new(form: String, element: String, session: String, lang: Lang, index: usize) -> Self {
        WidgetState {
            id_prefix: StoredValue::new(format!("booket-{index}-{element}")),
            form: StoredValue::new(form),
            element: StoredValue::new(element),
            lang,
            config: RwSignal::new(Load::Loading),
            week_wanted: RwSignal::new(None),
            week: RwSignal::new(Load::Loading),
            selected: RwSignal::new(None),
            booked: RwSignal::new(None),
            idempotency_key: StoredValue::new(String::new()),
            error: RwSignal::new(None),
            status: RwSignal::new(String::new()),
            busy: RwSignal::new(false),
            in_line: RwSignal::new(false),
            hold: RwSignal::new(None),
            token: StoredValue::new(String::new()),
            session: StoredValue::new(session),
            now_ms: RwSignal::new(js_sys::Date::now()),
            ticker: StoredValue::new_local(None),
        }
    }

    /// Runs a reservation or booking call with the widget busy. When bookings open, the
    /// server serves calls to Exchange in turn (writes first, each within a deadline), so
    /// one still unanswered after `IN_LINE_AFTER` is waiting in that line: the citizen is
    /// told so (shown and announced) instead of watching nothing happen.
    pub async fn busy_with<T>(&self, call: impl std::future::Future<Output = T>) -> T {
        self.busy.set(true);
        let this = *self;
        let timer = set_timeout_with_handle(
            move || {
                this.in_line.set(true);
                this.status
                    .set(crate::i18n::texts(this.lang).in_line.to_string());
            },
            IN_LINE_AFTER,
        );
        let out = call.await;
        if let Ok(t) = timer {
            t.clear();
        }
        self.in_line.set(false);
        self.busy.set(false);
        out
    }

    pub fn id(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.id_prefix.get_value())
    }

    /// The receipt that the hidden input carries right now (empty when nothing is chosen).
    pub fn receipt(&self) -> Option<Receipt> {
        if let Some(r) = self.booked.get() {
            return Some(r);
        }
        let calendar = match self.config.get() {
            Load::Ready(c) => c.calendar,
            _ => String::new(),
        };
        self.selected.get().map(|s| Receipt {
            slot_id: s.id,
            start: s.start,
            end: s.end,
            calendar,
            state: ReceiptState::Selected,
            attachments: Vec::new(),
            mail: None,
            jws: None,
        })
    }

    /// Loads the configuration and the wanted week.
    pub fn load_week(&self) {
        let this = *self;
        let wanted = self.week_wanted.get_untracked();
        self.week.set(Load::Loading);
        leptos::task::spawn_local(async move {
            let week = wanted.map(crate::i18n::iso_date).unwrap_or_default();
            let res = client::week(
                this.form.get_value(),
                this.element.get_value(),
                week,
                this.token.get_value(),
            )
            .await;
            // A later navigation may have superseded this request.
            if this.week_wanted.get_untracked() != wanted {
                return;
            }
            match res {
                Ok(w) => this.week.set(Load::Ready(w)),
                Err(e) => this.week.set(Load::Failed(e)),
            }
        });
    }

    pub fn go_to_week(&self, day: Option<NaiveDate>) {
        self.week_wanted.set(day);
        self.load_week();
    }
}

thread_local! {
    /// How many widgets this page has mounted.
    static MOUNTED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// An idempotency key: 128 bits from the browser's cryptographic random source, so no
/// other citizen's request can share it (Math.random is neither unique nor unpredictable).
pub(crate) fn new_key() -> String {
    let mut b = [0u8; 16];
    let crypto = web_sys::window().and_then(|w| w.crypto().ok());
    if crypto
        .and_then(|c| c.get_random_values_with_u8_array(&mut b).ok())
        .is_none()
    {
        // No crypto source (a very old browser): time and Math.random, as before.
        let t = js_sys::Date::now().to_bits().to_le_bytes();
        for (i, x) in b.iter_mut().enumerate() {
            *x = t[i % 8] ^ (js_sys::Math::random() * 256.0) as u8;
        }
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    b.iter()
        .flat_map(|x| [HEX[usize::from(x >> 4)], HEX[usize::from(x & 15)]])
        .map(char::from)
        .collect()
}

/// Mounts a widget into every `[data-booket-form][data-booket-element]` placeholder that
/// is not mounted yet: at start, and again whenever the loader sees placeholders added to
/// the page later (public/booket.js).
pub fn mount_all() {
    let document = document();
    let Ok(list) = document.query_selector_all("[data-booket-form][data-booket-element]") else {
        return;
    };
    for i in 0..list.length() {
        let Some(el) = list
            .item(i)
            .and_then(|n| n.dyn_into::<web_sys::HtmlElement>().ok())
        else {
            continue;
        };
        if el.has_attribute("data-booket-mounted") {
            continue;
        }
        let _ = el.set_attribute("data-booket-mounted", "");
        let form = el.get_attribute("data-booket-form").unwrap_or_default();
        let element = el.get_attribute("data-booket-element").unwrap_or_default();
        let lang = el
            .get_attribute("data-booket-lang")
            .or_else(|| {
                el.closest("[lang]")
                    .ok()
                    .flatten()
                    .and_then(|e| e.get_attribute("lang"))
            })
            .map(|t| Lang::from_tag(&t))
            .unwrap_or_default();
        let session = el.get_attribute("data-booket-session").unwrap_or_default();
        // Numbered in mounting order, so ids stay unique however later placeholders land.
        let index = MOUNTED.replace(MOUNTED.get() + 1);
        let state = WidgetState::new(form, element, session, lang, index);
        state.watch_page_life();
        let host = el.clone();
        leptos::mount::mount_to(el, move || view! { <Widget state=state host=host /> }).forget();
    }
}
