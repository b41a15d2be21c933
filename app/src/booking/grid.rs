//! The week grid: one column per shown day, slots placed by start and end, overlapping
//! slots side by side. Under ~600 px the stylesheet turns it into a list of days.

use super::{nav::label_for, Load, WidgetState};
use crate::domain::{week::lanes, SlotState, SlotView, WeekView};
use crate::i18n::{day_heading, day_long, slot_label, state_word, texts, time_span};
use chrono::{NaiveDate, Timelike};
use leptos::prelude::*;

#[component]
pub fn Grid(grid_ref: NodeRef<leptos::html::Div>) -> impl IntoView {
    let state = expect_context::<WidgetState>();
    let t = texts(state.lang);
    // Re-render the columns only when the week or the hours change, never on selection,
    // so the focused button survives a click.
    let content = move || {
        let config = match state.config.get() {
            Load::Ready(c) => c,
            Load::Failed(_) => return None,
            Load::Loading => return Some(skeleton(t.loading).into_any()),
        };
        Some(match state.week.get() {
            Load::Loading => skeleton(t.loading).into_any(),
            Load::Failed(e) => view! {
                <div class="booket-load-error" data-testid="booket-load-error">
                    <p>{t.load_failed} " " {crate::i18n::error_message(state.lang, &e)}</p>
                    <button type="button" on:click=move |_| state.load_week()>
                        {t.retry}
                    </button>
                </div>
            }
            .into_any(),
            Load::Ready(week) => {
                week_view(state, &week, config.first_hour, config.last_hour).into_any()
            }
        })
    };
    view! {
        <div
            class="booket-grid-region"
            role="group"
            aria-labelledby=state.id("week")
            aria-describedby=state.id("error")
                        tabindex="-1"
            id=state.id("grid")
            node_ref=grid_ref
            data-testid="booket-grid"
        >
            {content}
        </div>
    }
}

fn skeleton(text: &'static str) -> impl IntoView {
    view! {
        <div class="booket-skeleton" data-testid="booket-loading">
            <p>{text}</p>
            <div class="booket-skeleton-bars" aria-hidden="true">
                <span></span>
                <span></span>
                <span></span>
            </div>
        </div>
    }
}

fn week_view(state: WidgetState, week: &WeekView, first_hour: u8, last_hour: u8) -> impl IntoView {
    let t = texts(state.lang);
    let any_free = week.slots.iter().any(|s| s.state == SlotState::Free);
    let empty = (!any_free).then(|| {
        let next = week.next_free_week;
        view! {
            <div class="booket-empty" data-testid="booket-empty">
                <p>{t.empty_week}</p>
                {match next {
                    Some(monday) => view! {
                        <button
                            type="button"
                            class="booket-next-free"
                            data-testid="booket-next-free"
                            on:click=move |_| {
                                state.go_to_week(Some(monday));
                                state.status.set(label_for(state, monday));
                            }
                        >
                            {t.next_free}
                        </button>
                    }
                    .into_any(),
                    None => view! { <p>{t.no_free_ahead}</p> }.into_any(),
                }}
            </div>
        }
    });
    let span_minutes = (i64::from(last_hour) - i64::from(first_hour)).max(1) * 60;
    // 4 rem per hour: a 30-minute slot is 2 rem high, enough for two lines of text.
    let body_height = format!("{}rem", span_minutes / 15);
    let hours = (first_hour..last_hour)
        .map(|h| {
            let top = percent(i64::from(h - first_hour) * 60, span_minutes);
            view! { <span class="booket-hour" style:top=top>{format!("{h:02}:00")}</span> }
        })
        .collect_view();
    let days = week
        .days
        .iter()
        .map(|&day| {
            let slots: Vec<SlotView> = week
                .slots
                .iter()
                .filter(|s| s.start.date_naive() == day)
                .cloned()
                .collect();
            day_column(
                state,
                day,
                slots,
                first_hour,
                span_minutes,
                body_height.clone(),
            )
        })
        .collect_view();
    view! {
        {empty}
        <div class="booket-grid">
            <div class="booket-hours" aria-hidden="true" style:height=body_height.clone()>
                {hours}
            </div>
            {days}
        </div>
    }
}

fn minutes_from(first_hour: u8, slot: &SlotView) -> (i64, i64) {
    let start = slot.start.naive_local();
    let end = slot.end.naive_local();
    let base = i64::from(first_hour) * 60;
    let s = i64::from(start.hour() * 60 + start.minute()) - base;
    let days = (end.date() - start.date()).num_days();
    let e = days * 24 * 60 + i64::from(end.hour() * 60 + end.minute()) - base;
    (s, e)
}

fn day_column(
    state: WidgetState,
    day: NaiveDate,
    slots: Vec<SlotView>,
    first_hour: u8,
    span_minutes: i64,
    body_height: String,
) -> impl IntoView {
    let day_id = state.id(&format!("day-{day}"));
    let intervals: Vec<(i64, i64)> = slots.iter().map(|s| minutes_from(first_hour, s)).collect();
    let placement = lanes(&intervals);
    let lang = state.lang;
    let no_slots = slots.is_empty().then(|| {
        view! {
            <p class="booket-day-empty">
                {match lang {
                    crate::i18n::Lang::Da => "Ingen tider",
                    crate::i18n::Lang::En => "No times",
                }}
            </p>
        }
    });
    let buttons = slots
        .into_iter()
        .zip(intervals)
        .zip(placement)
        .map(|((slot, (s, e)), (lane, lane_count))| {
            let geometry = Geometry {
                top: percent(s, span_minutes),
                height: percent(e - s, span_minutes),
                left: percent(lane as i64, lane_count as i64),
                width: percent(1, lane_count as i64),
            };
            view! { <SlotButton item=slot geometry=geometry /> }
        })
        .collect_view();
    let labelled_by = day_id.clone();
    view! {
        <div class="booket-day" role="group" aria-labelledby=labelled_by data-date=crate::i18n::iso_date(day)>
            <h4 class="booket-day-heading" id=day_id>
                <span class="booket-day-short">{day_heading(lang, day)}</span>
                <span class="booket-day-long">{day_long(lang, day)}</span>
            </h4>
            <div class="booket-day-body" style:height=body_height>
                {no_slots}
                {buttons}
            </div>
        </div>
    }
}

/// Where a slot sits in its day column, as CSS lengths.
#[derive(Clone)]
struct Geometry {
    top: String,
    height: String,
    left: String,
    width: String,
}

/// `part / whole` of the column as a CSS length. The browser does the division, so the
/// widget needs no floating-point formatting (which would add ~10 KB to the download).
fn percent(part: i64, whole: i64) -> String {
    format!("calc(100% * {part} / {})", whole.max(1))
}

#[component]
fn SlotButton(item: SlotView, geometry: Geometry) -> impl IntoView {
    let slot = item;
    let state = expect_context::<WidgetState>();
    let lang = state.lang;
    // A slot held for this citizen stays pressable: pressing it again gives it back.
    let bookable = matches!(slot.state, SlotState::Free | SlotState::Held);
    let id = slot.id.clone();
    let is_selected = Memo::new(move |_| {
        state
            .selected
            .with(|s| s.as_ref().is_some_and(|s| s.id == id))
    });
    let start = slot.start.naive_local();
    let end = slot.end.naive_local();
    let slot_state = slot.state;
    let state_name = match slot_state {
        SlotState::Free => "free",
        SlotState::Booked => "booked",
        SlotState::Reserved => "reserved",
        SlotState::TooSoon => "too-soon",
        SlotState::Past => "past",
        SlotState::Held => "held",
    };
    let label = move || slot_label(lang, start, end, slot_state, is_selected.get());
    let class = move || {
        format!(
            "booket-slot booket-slot-{state_name}{}",
            if is_selected.get() {
                " is-selected"
            } else {
                ""
            }
        )
    };
    let visible_state = move || {
        if is_selected.get() {
            format!("✓ {}", state_word(lang, slot_state, true))
        } else if bookable {
            String::new()
        } else {
            state_word(lang, slot_state, false).to_string()
        }
    };
    let on_click = move |_| {
        if bookable {
            state.choose(slot.clone());
        }
    };
    view! {
        <button
            type="button"
            class=class
            data-testid="booket-slot"
            data-state=state_name
            data-start=crate::i18n::iso_minute(start)
            aria-label=label
            aria-pressed=move || bookable.then(|| is_selected.get().to_string())
            aria-disabled=(!bookable).then_some("true")
                        style:top=geometry.top
            style:height=geometry.height
            style:left=geometry.left
            style:width=geometry.width
            on:click=on_click
        >
            <span class="booket-slot-time">{time_span(start, end)}</span>
            <span class="booket-slot-state" aria-hidden="true">{visible_state}</span>
        </button>
    }
}
