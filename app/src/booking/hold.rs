//! Picking a time reserves it on the server (" - Reserveret"). The citizen is told how long
//! it is held, warned before it lapses and can extend it (WCAG 2.2.1); picking another time
//! gives the first back; picking the same time again gives it back too.

use super::{new_key, WidgetState};
use crate::domain::{BookingError, Hold, SlotView};
use crate::i18n::{error_text, slot_label, Lang};
use chrono::{DateTime, FixedOffset, Timelike};
use leptos::prelude::*;
use std::time::Duration;

/// A hold as the widget tracks it.
#[derive(Clone, Debug, PartialEq)]
pub struct HeldSlot {
    pub slot_id: String,
    pub token: String,
    /// Browser time (ms) at which the hold lapses, from the server's `seconds_left`.
    pub deadline_ms: f64,
    /// Seconds before the deadline at which the citizen is warned.
    pub warn_secs: f64,
    /// "14:05" in the calendar's time.
    pub until: String,
}

impl HeldSlot {
    fn from_hold(h: Hold) -> Self {
        let total = f64::from(h.seconds_left);
        HeldSlot {
            slot_id: h.slot_id,
            token: h.token,
            deadline_ms: js_sys::Date::now() + total * 1000.0,
            // Two minutes' warning, or half the hold when it is short.
            warn_secs: (total / 2.0).min(120.0),
            until: clock_time(h.expires),
        }
    }
}

fn clock_time(t: DateTime<FixedOffset>) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

pub fn held_until_text(lang: Lang, until: &str) -> String {
    match lang {
        Lang::Da => format!("Tiden er reserveret til dig til kl. {until}."),
        Lang::En => format!("The time is reserved for you until {until}."),
    }
}

pub fn warning_text(lang: Lang, until: &str) -> String {
    match lang {
        Lang::Da => format!(
            "Din reservation udløber kl. {until}. Har du brug for mere tid, så forlæng den."
        ),
        Lang::En => format!("Your reservation ends at {until}. If you need more time, extend it."),
    }
}

pub fn extend_label(lang: Lang) -> &'static str {
    match lang {
        Lang::Da => "Forlæng reservationen",
        Lang::En => "Extend the reservation",
    }
}

impl WidgetState {
    /// Seconds left of the current hold, if any.
    pub fn hold_seconds_left(&self) -> Option<f64> {
        let now = self.now_ms.get();
        self.hold.with(|h| {
            h.as_ref()
                .map(|h| ((h.deadline_ms - now) / 1000.0).max(0.0))
        })
    }

    /// Whether the "about to lapse" warning shows.
    pub fn hold_warning(&self) -> Option<String> {
        if self.booked.get().is_some() {
            return None;
        }
        let left = self.hold_seconds_left()?;
        let h = self.hold.get()?;
        (left <= h.warn_secs).then(|| warning_text(self.lang, &h.until))
    }

    /// Picks a slot and reserves it, or gives it back when it is picked again.
    pub fn choose(&self, slot: SlotView) {
        if self.booked.get_untracked().is_some() || self.busy.get_untracked() {
            return;
        }
        self.error.set(None);
        let same = self
            .selected
            .with_untracked(|s| s.as_ref().is_some_and(|s| s.id == slot.id));
        if same {
            self.give_back();
            return;
        }
        let this = *self;
        let previous = self
            .hold
            .with_untracked(|h| h.as_ref().map(|h| h.slot_id.clone()).unwrap_or_default());
        self.busy.set(true);
        leptos::task::spawn_local(async move {
            let res = this
                .reserve_call(slot.id.clone(), this.token.get_value(), previous)
                .await;
            match res {
                Ok(h) => {
                    this.token.set_value(h.token.clone());
                    this.idempotency_key.set_value(new_key());
                    let held = HeldSlot::from_hold(h);
                    let label = slot_label(
                        this.lang,
                        slot.start.naive_local(),
                        slot.end.naive_local(),
                        slot.state,
                        true,
                    );
                    this.status.set(format!(
                        "{label}. {}",
                        held_until_text(this.lang, &held.until)
                    ));
                    this.hold.set(Some(held));
                    this.selected.set(Some(slot));
                    this.start_ticking();
                }
                Err(e) => {
                    this.show_failure(&e);
                }
            }
        });
    }

    /// Extends the current hold (from the warning's button).
    pub fn extend(&self) {
        let (Some(slot), Some(held)) = (self.selected.get_untracked(), self.hold.get_untracked())
        else {
            return;
        };
        if self.busy.get_untracked() {
            return;
        }
        let this = *self;
        self.busy.set(true);
        leptos::task::spawn_local(async move {
            let res = this
                .reserve_call(slot.id.clone(), held.token.clone(), String::new())
                .await;
            match res {
                Ok(h) => {
                    let held = HeldSlot::from_hold(h);
                    this.status.set(match this.lang {
                        Lang::Da => format!("Reservationen er forlænget til kl. {}.", held.until),
                        Lang::En => format!("The reservation is extended until {}.", held.until),
                    });
                    this.hold.set(Some(held));
                    // The warning (and its button) goes away: keep focus in the element.
                    if let Some(grid) = document().get_element_by_id(&this.id("grid")) {
                        use wasm_bindgen::JsCast;
                        if let Ok(grid) = grid.dyn_into::<web_sys::HtmlElement>() {
                            let _ = grid.focus();
                        }
                    }
                }
                Err(e) => {
                    this.show_failure(&e);
                }
            }
        });
    }

    /// Gives the held slot back and clears the choice.
    fn give_back(&self) {
        let held = self.hold.get_untracked();
        self.selected.set(None);
        self.hold.set(None);
        self.status.set(match self.lang {
            Lang::Da => "Valget er fjernet, og tiden er givet fri.".into(),
            Lang::En => "Selection removed; the time is free again.".into(),
        });
        if let Some(h) = held {
            let this = *self;
            leptos::task::spawn_local(async move {
                // A failed release lapses by itself on the server.
                let _ = super::client::release(
                    this.form.get_value(),
                    this.element.get_value(),
                    h.slot_id,
                    h.token,
                )
                .await;
                this.load_week();
            });
        }
    }

    /// Says why a call failed (shown and announced); when the time itself is gone the week
    /// is refreshed and true is returned. Whatever the citizen holds stays theirs.
    pub(super) fn show_failure(&self, e: &BookingError) -> bool {
        let msg = error_text(self.lang, e);
        self.error.set(Some(msg.clone()));
        self.status.set(msg);
        let gone = e.means_time_gone();
        if gone {
            self.load_week();
        }
        gone
    }

    /// Reserves (or extends) `slot_id` under `token`, giving `release` back once held.
    async fn reserve_call(
        &self,
        slot_id: String,
        token: String,
        release: String,
    ) -> Result<Hold, BookingError> {
        self.busy_with(super::client::reserve(
            self.form.get_value(),
            self.element.get_value(),
            slot_id,
            token,
            release,
            self.session.get_value(),
        ))
        .await
    }

    /// Back from the back/forward cache: asks the server (a week read with the hold token)
    /// whether the held slot is still held for this citizen; if not, the hold ends here too.
    fn check_hold(&self) {
        let (Some(slot), Some(h)) = (self.selected.get_untracked(), self.hold.get_untracked())
        else {
            return;
        };
        let this = *self;
        leptos::task::spawn_local(async move {
            let week = crate::i18n::iso_date(slot.start.date_naive());
            let Ok(w) = super::client::week(
                this.form.get_value(),
                this.element.get_value(),
                week,
                h.token.clone(),
            )
            .await
            else {
                return;
            };
            let lost = w
                .slots
                .iter()
                .any(|s| s.id == h.slot_id && s.state != crate::domain::SlotState::Held);
            if lost && this.booked.get_untracked().is_none() {
                this.hold.update(|h| {
                    if let Some(h) = h {
                        h.deadline_ms = 0.0;
                    }
                });
                this.lapse_if_due();
            }
        });
    }

    /// Gives the hold back when the page is really left (`pagehide`, not when the page only
    /// goes into the back/forward cache, not once booked or while booking), with a request
    /// that outlives the page. Back from that cache (`pageshow`), the hold is checked: by
    /// the clock at once, and against the server by reading the week again.
    pub fn watch_page_life(&self) {
        use wasm_bindgen::closure::Closure;
        use wasm_bindgen::JsCast;
        let Some(window) = web_sys::window() else {
            return;
        };
        let this = *self;
        let on_hide = Closure::<dyn FnMut(web_sys::PageTransitionEvent)>::new(
            move |ev: web_sys::PageTransitionEvent| {
                if ev.persisted()
                    || this.booked.get_untracked().is_some()
                    || this.busy.get_untracked()
                {
                    return;
                }
                if let Some(h) = this.hold.get_untracked() {
                    super::client::release_on_leave(
                        &this.form.get_value(),
                        &this.element.get_value(),
                        &h.slot_id,
                        &h.token,
                    );
                }
            },
        );
        let on_show = Closure::<dyn FnMut(web_sys::PageTransitionEvent)>::new(
            move |ev: web_sys::PageTransitionEvent| {
                if ev.persisted() && this.hold.get_untracked().is_some() {
                    this.now_ms.set(js_sys::Date::now());
                    this.lapse_if_due();
                    this.check_hold();
                }
            },
        );
        let _ =
            window.add_event_listener_with_callback("pagehide", on_hide.as_ref().unchecked_ref());
        let _ =
            window.add_event_listener_with_callback("pageshow", on_show.as_ref().unchecked_ref());
        // They live as long as the page.
        on_hide.forget();
        on_show.forget();
    }

    fn start_ticking(&self) {
        if self.ticker.with_value(Option::is_some) {
            return;
        }
        let this = *self;
        let handle = set_interval_with_handle(
            move || {
                this.now_ms.set(js_sys::Date::now());
                this.lapse_if_due();
            },
            Duration::from_secs(1),
        );
        self.ticker.set_value(handle.ok());
    }

    fn lapse_if_due(&self) {
        if self.booked.get_untracked().is_some() {
            return;
        }
        let due = self.hold.with_untracked(|h| {
            h.as_ref()
                .is_some_and(|h| js_sys::Date::now() >= h.deadline_ms)
        });
        if !due {
            return;
        }
        self.hold.set(None);
        self.selected.set(None);
        let msg = match self.lang {
            Lang::Da => "Reservationen er udløbet. Vælg en tid igen.",
            Lang::En => "The reservation has ended. Choose a time again.",
        };
        self.error.set(Some(msg.into()));
        self.status.set(msg.into());
        self.load_week();
    }
}
