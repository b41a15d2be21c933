//! Week navigation: previous / this week / next, and the week heading.

use super::{Load, WidgetState};
use crate::domain::week::{monday_of, shown_days};
use crate::i18n::{texts, week_label};
use leptos::prelude::*;

#[component]
pub fn WeekNav() -> impl IntoView {
    let state = expect_context::<WidgetState>();
    let t = texts(state.lang);
    // The Monday currently wanted or shown, once known.
    let shown_monday = Memo::new(move |_| match (state.week_wanted.get(), state.week.get()) {
        (Some(d), _) => Some(monday_of(d)),
        (None, Load::Ready(w)) => Some(w.week_start),
        _ => None,
    });
    let first_week =
        Memo::new(
            move |prev: Option<&Option<chrono::NaiveDate>>| match state.week.get() {
                Load::Ready(w) => Some(w.first_week),
                _ => prev.cloned().flatten(),
            },
        );
    let at_first = move || match (shown_monday.get(), first_week.get()) {
        (Some(s), Some(f)) => s <= f,
        _ => true,
    };
    let label = move || {
        let show_weekend = matches!(state.config.get(), Load::Ready(c) if c.show_weekend);
        match shown_monday.get() {
            Some(monday) => {
                let days = shown_days(monday, show_weekend);
                week_label(state.lang, days[0], days[days.len() - 1])
            }
            None => t.loading.to_string(),
        }
    };
    let step = move |weeks: i64| {
        if let Some(monday) = shown_monday.get_untracked() {
            let target = monday + chrono::TimeDelta::weeks(weeks);
            state.go_to_week(Some(target));
            state.status.set(label_for(state, target));
        }
    };
    view! {
        <div class="booket-nav">
            <button
                type="button"
                class="booket-nav-prev"
                data-testid="booket-prev"
                aria-disabled=move || at_first().to_string()
                on:click=move |_| {
                    if !at_first() {
                        step(-1)
                    }
                }
            >
                <span aria-hidden="true">"‹ "</span>
                {t.prev_week}
            </button>
            <h3 class="booket-week-label" id=state.id("week") data-testid="booket-week-label">
                {label}
            </h3>
            <button
                type="button"
                class="booket-nav-today"
                data-testid="booket-today"
                on:click=move |_| {
                    state.go_to_week(None);
                    state.status.set(t.this_week.to_string());
                }
            >
                {t.this_week}
            </button>
            <button
                type="button"
                class="booket-nav-next"
                data-testid="booket-next"
                on:click=move |_| step(1)
            >
                {t.next_week}
                <span aria-hidden="true">" ›"</span>
            </button>
        </div>
    }
}

pub(super) fn label_for(state: WidgetState, monday: chrono::NaiveDate) -> String {
    let show_weekend = matches!(state.config.get_untracked(), Load::Ready(c) if c.show_weekend);
    let days = shown_days(monday, show_weekend);
    week_label(state.lang, days[0], days[days.len() - 1])
}
