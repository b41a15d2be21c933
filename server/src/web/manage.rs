//! The booking's own page, `/booking/<token>`: the link in the confirmation mail. Plain
//! server-rendered HTML in the widget's look (its stylesheet), Danish or English
//! (`?lang=en`), working without script: the booked time and place, **Flyt tiden**
//! (`?step=move`: the element's week with its free times as radio buttons, week by week;
//! a POST moves) and **Aflys tiden**, which asks once more (a page of its own, so a
//! keyboard or screen-reader user meets the question as a heading) before a POST cancels.
//!
//! The token is the key, so it is kept out of what could leak it: the answer carries
//! `Referrer-Policy: same-origin` (no other site is ever handed the page's address;
//! `no-referrer` would also make the browser send `Origin: null` with the page's own
//! cancel form, which the origin check rightly refuses), the request log names the route,
//! not the token (mod.rs), and nothing is cached. Every request spends the
//! client's write budget, as a reservation does, before a signature is checked or Exchange
//! is asked; the page itself comes from the week the core keeps (`find_booking`).

use super::clients::{retry_after_secs, Spend};
use super::AppState;
use crate::booking::{BookingView, Caller, Cancelled, Found, LinkError, Moved};
use app::api::SlotId;
use app::domain::BookingError;
use app::i18n::{long_date, time_span, weekday_name, Lang};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use html_escape::{encode_double_quoted_attribute as attr, encode_text as esc};
use std::net::IpAddr;

/// The page's words, in Danish and English.
struct Words {
    lang: &'static str,
    title: &'static str,
    what: &'static str,
    when: &'static str,
    place: &'static str,
    cancel: &'static str,
    cancel_ask: &'static str,
    cancel_yes: &'static str,
    cancel_no: &'static str,
    cancelled: &'static str,
    cancelled_text: &'static str,
    gone: &'static str,
    gone_text: &'static str,
    invalid: &'static str,
    invalid_text: &'static str,
    outdated: &'static str,
    outdated_text: &'static str,
    begun: &'static str,
    begun_text: &'static str,
    changed_text: &'static str,
    busy: &'static str,
    busy_text: &'static str,
    r#move: &'static str,
    move_pick: &'static str,
    move_none: &'static str,
    move_next_free: &'static str,
    move_prev: &'static str,
    move_next: &'static str,
    move_submit: &'static str,
    moved: &'static str,
    moved_text: &'static str,
    moved_mailed: &'static str,
    moved_keep: &'static str,
    moved_link: &'static str,
    move_taken: &'static str,
    move_taken_text: &'static str,
    move_refused: &'static str,
    move_refused_text: &'static str,
    move_again: &'static str,
    move_no_week: &'static str,
    move_no_week_text: &'static str,
    other_lang: &'static str,
    other_code: &'static str,
}

const DA: Words = Words {
    lang: "da",
    title: "Din booking",
    what: "Hvad",
    when: "Hvornår",
    place: "Hvor",
    cancel: "Aflys tiden",
    cancel_ask: "Vil du aflyse tiden?",
    cancel_yes: "Ja, aflys tiden",
    cancel_no: "Nej, behold tiden",
    cancelled: "Tiden er aflyst",
    cancelled_text:
        "Tiden er givet fri til andre. Vil du have en ny tid, så book igen i blanketten.",
    gone: "Tiden er ikke længere booket",
    gone_text:
        "Den er allerede aflyst, eller personalet har ændret den. Kontakt os, hvis du er i tvivl.",
    invalid: "Linket virker ikke",
    invalid_text: "Linket er ikke gyldigt. Brug linket i din bekræftelse, som det står dér.",
    outdated: "Tiden er overstået",
    outdated_text: "Tiden i linket er overstået, så der er intet at aflyse.",
    begun: "Tiden er begyndt",
    begun_text: "Tiden er begyndt, så den kan ikke længere aflyses her.",
    changed_text:
        "Personalet har ændret tiden imens. Den er ikke aflyst; kontakt os for at aflyse den.",
    busy: "Prøv igen om lidt",
    busy_text: "Kalenderen svarer ikke lige nu. Tiden er uændret; prøv igen om lidt.",
    r#move: "Flyt tiden",
    move_pick: "Vælg en ny tid",
    move_none: "Der er ingen ledige tider i denne uge.",
    move_next_free: "Gå til næste uge med ledige tider",
    move_prev: "Forrige uge",
    move_next: "Næste uge",
    move_submit: "Flyt til den valgte tid",
    moved: "Tiden er flyttet",
    moved_text: "Din nye tid er booket, og den gamle er aflyst.",
    moved_mailed: "Du får en bekræftelse på mail med et nyt link.",
    moved_keep: "Gem linket til din nye tid: det gamle link virker ikke længere.",
    moved_link: "Se din nye tid",
    move_taken: "Tiden blev taget",
    move_taken_text: "En anden nåede at tage den tid. Din tid er uændret.",
    move_refused: "Tiden kan ikke vælges",
    move_refused_text: "Den valgte tid kan ikke bookes. Din tid er uændret.",
    move_again: "Vælg en anden tid",
    move_no_week: "Ugen kan ikke vises",
    move_no_week_text: "Der kan kun vælges tider op til et år frem. Din tid er uændret.",
    other_lang: "In English",
    other_code: "en",
};

const EN: Words = Words {
    lang: "en",
    title: "Your booking",
    what: "What",
    when: "When",
    place: "Where",
    cancel: "Cancel the time",
    cancel_ask: "Do you want to cancel the time?",
    cancel_yes: "Yes, cancel the time",
    cancel_no: "No, keep the time",
    cancelled: "The time is cancelled",
    cancelled_text:
        "The time is free for others now. If you want a new time, book again in the form.",
    gone: "The time is no longer booked",
    gone_text: "It has been cancelled already, or staff have changed it. Contact us if in doubt.",
    invalid: "The link does not work",
    invalid_text:
        "The link is not valid. Use the link in your confirmation exactly as it is there.",
    outdated: "The time has passed",
    outdated_text: "The time in the link has passed, so there is nothing to cancel.",
    begun: "The time has begun",
    begun_text: "The time has begun, so it can no longer be cancelled here.",
    changed_text: "Staff changed the time meanwhile. It is not cancelled; contact us to cancel it.",
    busy: "Try again in a moment",
    busy_text:
        "The calendar is not answering right now. Your time is unchanged; try again in a moment.",
    r#move: "Move the time",
    move_pick: "Choose a new time",
    move_none: "There are no free times this week.",
    move_next_free: "Go to the next week with free times",
    move_prev: "Previous week",
    move_next: "Next week",
    move_submit: "Move to the chosen time",
    moved: "The time is moved",
    moved_text: "Your new time is booked and the old one cancelled.",
    moved_mailed: "You will get a confirmation by e-mail with a new link.",
    moved_keep: "Keep the link to your new time: the old link no longer works.",
    moved_link: "See your new time",
    move_taken: "The time was taken",
    move_taken_text: "Someone else took that time first. Your time is unchanged.",
    move_refused: "The time cannot be chosen",
    move_refused_text: "The chosen time cannot be booked. Your time is unchanged.",
    move_again: "Choose another time",
    move_no_week: "The week cannot be shown",
    move_no_week_text: "Times can be chosen up to a year ahead. Your time is unchanged.",
    other_lang: "På dansk",
    other_code: "da",
};

#[derive(serde::Deserialize, Default)]
pub struct PageQuery {
    lang: Option<String>,
    /// `cancel`: the question before cancelling; `move`: the week to move within.
    step: Option<String>,
    /// The week to move within (any day of it, `YYYY-MM-DD`; anything else is this week).
    week: Option<String>,
}

/// The page's forms: cancel (no action), or move to `slot`.
#[derive(serde::Deserialize, Default)]
pub struct ActionForm {
    lang: Option<String>,
    action: Option<String>,
    slot: Option<String>,
}

fn words(lang: Option<&str>) -> &'static Words {
    if lang == Some("en") {
        &EN
    } else {
        &DA
    }
}

/// The page frame: the widget's stylesheet and the page's own, the language switch.
fn page(w: &Words, status: StatusCode, here: &str, heading: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"robots\" content=\"noindex\">\n<title>{page_title}</title>\n\
         <link rel=\"icon\" href=\"data:,\">\n<link rel=\"stylesheet\" href=\"/booket/booket.css\">\n\
         <link rel=\"stylesheet\" href=\"/booket/booking.css\">\n</head>\n<body>\n\
         <main class=\"booket booket-page\">\n<p class=\"booket-page-lang\"><a href=\"{here}?lang={other}\" lang=\"{other}\">{other_name}</a></p>\n\
         <h1 class=\"booket-heading\">{heading}</h1>\n{body}\n</main>\n</body>\n</html>\n",
        lang = w.lang,
        page_title = if heading == w.title {
            esc(w.title).into_owned()
        } else {
            format!("{} – {}", esc(heading), esc(w.title))
        },
        heading = esc(heading),
        here = attr(here),
        other = w.other_code,
        other_name = esc(w.other_lang),
    );
    let mut res = (status, Html(html)).into_response();
    let headers = res.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(super::CSP),
    );
    headers.insert("x-robots-tag", HeaderValue::from_static("noindex"));
    res
}

fn message(w: &Words, status: StatusCode, here: &str, heading: &str, text: &str) -> Response {
    page(
        w,
        status,
        here,
        heading,
        &format!("<p role=\"status\">{}</p>", esc(text)),
    )
}

/// The booking as a description list.
fn details(w: &Words, lang: Lang, v: &BookingView) -> String {
    let start = v.start.with_timezone(&v.time_zone).naive_local();
    let end = v.end.with_timezone(&v.time_zone).naive_local();
    let when = format!(
        "{} {}, {}",
        weekday_name(lang, start.date()),
        long_date(lang, start.date()),
        time_span(start, end)
    );
    let what = if v.form_title.is_empty() {
        v.heading.clone()
    } else {
        v.form_title.clone()
    };
    format!(
        "<dl class=\"booket-page-details\" data-testid=\"booking-details\">\
         <dt>{}</dt><dd>{}</dd><dt>{}</dt><dd data-testid=\"booking-when\">{}</dd><dt>{}</dt><dd>{}</dd></dl>",
        esc(w.what),
        esc(&what),
        esc(w.when),
        esc(&when),
        esc(w.place),
        esc(&v.place)
    )
}

/// Spends one write of the client's budget (here and across instances); `Err` is the
/// answer when it is spent.
async fn spend(state: &AppState, w: &Words, here: &str, client: IpAddr) -> Result<(), Response> {
    let spent = match state.budgets.spend(Spend::Write, client) {
        Ok(()) => state
            .booket
            .spend_shared_write(client)
            .await
            .map_err(std::time::Duration::from_secs),
        other => other,
    };
    match spent {
        Ok(()) => Ok(()),
        Err(wait) => {
            let mut res = message(w, StatusCode::TOO_MANY_REQUESTS, here, w.busy, w.busy_text);
            res.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs(wait)),
            );
            Err(res)
        }
    }
}

fn link_refused(w: &Words, here: &str, e: LinkError) -> Response {
    match e {
        LinkError::Invalid => message(w, StatusCode::NOT_FOUND, here, w.invalid, w.invalid_text),
        LinkError::Outdated => message(w, StatusCode::GONE, here, w.outdated, w.outdated_text),
    }
}

fn failed(w: &Words, here: &str, e: &BookingError) -> Response {
    match e {
        BookingError::Past => message(w, StatusCode::CONFLICT, here, w.begun, w.begun_text),
        BookingError::Taken => message(w, StatusCode::CONFLICT, here, w.gone, w.changed_text),
        _ => message(
            w,
            StatusCode::SERVICE_UNAVAILABLE,
            here,
            w.busy,
            w.busy_text,
        ),
    }
}

fn lang_of(w: &Words) -> Lang {
    if w.lang == "en" {
        Lang::En
    } else {
        Lang::Da
    }
}

/// `GET /booking/<token>`: the booking, or the question before cancelling it.
pub async fn show(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<PageQuery>,
    req: Request,
) -> Response {
    let w = words(q.lang.as_deref());
    let here = format!("/booking/{token}");
    let client = super::requesting_client(&state, &req);
    drop(req);
    if let Err(res) = spend(&state, w, &here, client).await {
        return res;
    }
    let link = match state.booket.open_link(&token) {
        Ok(link) => link,
        Err(e) => return link_refused(w, &here, e),
    };
    let view = match state.booket.find_booking(&link).await {
        Ok(Found::Booked(view)) => view,
        Ok(Found::Gone) => return message(w, StatusCode::OK, &here, w.gone, w.gone_text),
        Err(e) => return failed(w, &here, &e),
    };
    let details = details(w, lang_of(w), &view);
    if q.step.as_deref() == Some("move") {
        let week = q
            .week
            .as_deref()
            .and_then(|w| w.parse::<chrono::NaiveDate>().ok());
        return match state.booket.move_week(&link, week).await {
            Ok(week) => page(
                w,
                StatusCode::OK,
                &here,
                w.r#move,
                &format!("{details}\n{}", move_form(w, &here, &week)),
            ),
            // A week too far ahead (a hand-made address).
            Err(BookingError::Invalid { .. }) => page(
                w,
                StatusCode::BAD_REQUEST,
                &here,
                w.move_no_week,
                &format!(
                    "<p role=\"status\">{}</p>\n<p><a href=\"{}\">{}</a></p>",
                    esc(w.move_no_week_text),
                    attr(&format!("{here}?lang={}&step=move", w.lang)),
                    esc(w.move_again)
                ),
            ),
            Err(e) => failed(w, &here, &e),
        };
    }
    let body = if q.step.as_deref() == Some("cancel") {
        format!(
            "{details}\n<h2>{ask}</h2>\n<form method=\"post\" action=\"{here}\" class=\"booket-page-actions\">\
             <input type=\"hidden\" name=\"lang\" value=\"{lang}\">\
             <button type=\"submit\" class=\"booket-book\" data-testid=\"cancel-yes\">{yes}</button> \
             <a href=\"{here}?lang={lang}\" data-testid=\"cancel-no\">{no}</a></form>",
            ask = esc(w.cancel_ask),
            here = attr(&here),
            lang = w.lang,
            yes = esc(w.cancel_yes),
            no = esc(w.cancel_no),
        )
    } else {
        format!(
            "{details}\n<p class=\"booket-page-actions\">\
             <a class=\"booket-page-button\" href=\"{here}?lang={lang}&amp;step=move\" data-testid=\"move\">{move}</a> \
             <a class=\"booket-page-button\" href=\"{here}?lang={lang}&amp;step=cancel\" data-testid=\"cancel\">{cancel}</a></p>",
            here = attr(&here),
            lang = w.lang,
            move = esc(w.r#move),
            cancel = esc(w.cancel),
        )
    };
    let heading = if q.step.as_deref() == Some("cancel") {
        w.cancel
    } else {
        w.title
    };
    page(w, StatusCode::OK, &here, heading, &body)
}

/// The free times of a week as one group of radio buttons (a fieldset per day), with the
/// week's navigation: a plain form that moves the booking to the chosen time.
fn move_form(w: &Words, here: &str, week: &app::domain::WeekView) -> String {
    use app::domain::SlotState;
    use std::fmt::Write;
    let lang = lang_of(w);
    let last = week.days.last().copied().unwrap_or(week.week_start);
    let week_href = |monday: chrono::NaiveDate| {
        attr(&format!(
            "{here}?lang={}&step=move&week={}",
            w.lang,
            app::i18n::iso_date(monday)
        ))
        .into_owned()
    };
    let mut nav = String::new();
    if week.week_start > week.first_week {
        let _ = write!(
            nav,
            "<a href=\"{}\" data-testid=\"move-prev\">{}</a> ",
            week_href(week.week_start - chrono::Days::new(7)),
            esc(w.move_prev)
        );
    }
    let _ = write!(
        nav,
        "<a href=\"{}\" data-testid=\"move-next\">{}</a>",
        week_href(week.week_start + chrono::Days::new(7)),
        esc(w.move_next)
    );
    let mut days = String::new();
    let mut first = true;
    for day in &week.days {
        let free: Vec<_> = week
            .slots
            .iter()
            .filter(|s| s.start.date_naive() == *day && s.state == SlotState::Free)
            .collect();
        if free.is_empty() {
            continue;
        }
        let _ = write!(
            days,
            "<fieldset class=\"booket-page-day\"><legend>{}</legend>",
            esc(&app::i18n::day_long(lang, *day))
        );
        for slot in free {
            let _ = write!(
                days,
                "<label><input type=\"radio\" name=\"slot\" value=\"{}\"{}> {}</label>",
                attr(&slot.id),
                if first { " required" } else { "" },
                esc(&time_span(slot.start.naive_local(), slot.end.naive_local()))
            );
            first = false;
        }
        days.push_str("</fieldset>");
    }
    let choices = if days.is_empty() {
        let next = week.next_free_week.map_or(String::new(), |monday| {
            format!(
                " <a href=\"{}\" data-testid=\"move-next-free\">{}</a>",
                week_href(monday),
                esc(w.move_next_free)
            )
        });
        format!("<p role=\"status\">{}{next}</p>", esc(w.move_none))
    } else {
        format!(
            "<form method=\"post\" action=\"{here}\" class=\"booket-page-move\">\
             <input type=\"hidden\" name=\"lang\" value=\"{lang}\">\
             <input type=\"hidden\" name=\"action\" value=\"move\">{days}\
             <p class=\"booket-page-actions\"><button type=\"submit\" class=\"booket-book\" data-testid=\"move-submit\">{submit}</button> \
             <a href=\"{here}?lang={lang}\" data-testid=\"move-keep\">{keep}</a></p></form>",
            here = attr(here),
            lang = w.lang,
            submit = esc(w.move_submit),
            keep = esc(w.cancel_no),
        )
    };
    format!(
        "<h2>{pick}</h2>\n<p class=\"booket-page-week\" id=\"move-week\" data-testid=\"move-week\">{label}</p>\n\
         <nav aria-labelledby=\"move-week\" class=\"booket-page-nav\">{nav}</nav>\n{choices}",
        pick = esc(w.move_pick),
        label = esc(&app::i18n::week_label(lang, week.week_start, last)),
    )
}

/// The answer to a move.
fn move_outcome(w: &Words, here: &str, outcome: Result<Moved, BookingError>) -> Response {
    let again = |heading: &str, text: &str, status: StatusCode| {
        page(
            w,
            status,
            here,
            heading,
            &format!(
                "<p role=\"status\">{}</p>\n<p><a href=\"{}\" data-testid=\"move-again\">{}</a></p>",
                esc(text),
                attr(&format!("{here}?lang={}&step=move", w.lang)),
                esc(w.move_again)
            ),
        )
    };
    match outcome {
        Ok(Moved::Now { view, link, mailed }) => {
            let new = link.as_deref().map_or(String::new(), |l| {
                format!(
                    "\n<p><a href=\"{}\" data-testid=\"new-booking\">{}</a></p>",
                    attr(&format!("{l}?lang={}", w.lang)),
                    esc(w.moved_link)
                )
            });
            let body = format!(
                "<p role=\"status\">{} {}</p>\n{}{new}",
                esc(w.moved_text),
                esc(if mailed { w.moved_mailed } else { w.moved_keep }),
                details(w, lang_of(w), &view)
            );
            // (The language switch leads to the new time's page: the old link is spent.)
            page(
                w,
                StatusCode::OK,
                link.as_deref().unwrap_or(here),
                w.moved,
                &body,
            )
        }
        Ok(Moved::Already) => message(w, StatusCode::OK, here, w.gone, w.gone_text),
        Err(BookingError::Taken) => again(w.move_taken, w.move_taken_text, StatusCode::CONFLICT),
        Err(BookingError::Past) => message(w, StatusCode::CONFLICT, here, w.begun, w.begun_text),
        Err(
            BookingError::TooSoon
            | BookingError::OutsideWindow
            | BookingError::InvalidSlot
            | BookingError::Invalid { .. },
        ) => again(
            w.move_refused,
            w.move_refused_text,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(e) => failed(w, here, &e),
    }
}

/// `POST /booking/<token>`: cancels, or (`action=move`) moves to the chosen slot. A
/// second time (or from a second tab) says it is gone already and changes nothing.
pub async fn act(
    State(state): State<AppState>,
    Path(token): Path<String>,
    req: Request,
) -> Response {
    let here = format!("/booking/{token}");
    let origin_ok = super::check_origin(&state, &req).is_ok();
    let client = super::requesting_client(&state, &req);
    // The forms' fields are small (a slot id is the longest); a body that is not one of
    // them counts as none.
    let bytes = axum::body::to_bytes(req.into_body(), 4096)
        .await
        .unwrap_or_default();
    let form: ActionForm = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|text| serde_qs::from_str(text).ok())
        .unwrap_or_default();
    let w = words(form.lang.as_deref());
    // A cross-site form cannot cancel (it would still need the link).
    if !origin_ok {
        return message(w, StatusCode::FORBIDDEN, &here, w.invalid, w.invalid_text);
    }
    // A move is a booking of the new time and a cancellation of the old: it spends two
    // of the client's writes, each before anything else is done.
    let moving = form.action.as_deref() == Some("move");
    for _ in 0..if moving { 2 } else { 1 } {
        if let Err(res) = spend(&state, w, &here, client).await {
            return res;
        }
    }
    let link = match state.booket.open_link(&token) {
        Ok(link) => link,
        Err(e) => return link_refused(w, &here, e),
    };
    if moving {
        let outcome = match form.slot.as_deref().map(SlotId::parse) {
            Some(Ok(slot)) => {
                state
                    .booket
                    .move_booking(&Caller::client(client), &link, &slot)
                    .await
            }
            _ => Err(BookingError::InvalidSlot),
        };
        return move_outcome(w, &here, outcome);
    }
    match state
        .booket
        .cancel_booking(&Caller::client(client), &link)
        .await
    {
        Ok(Cancelled::Now(view)) => {
            let body = format!(
                "<p role=\"status\">{}</p>\n{}",
                esc(w.cancelled_text),
                details(w, lang_of(w), &view)
            );
            page(w, StatusCode::OK, &here, w.cancelled, &body)
        }
        Ok(Cancelled::Already) => message(w, StatusCode::OK, &here, w.gone, w.gone_text),
        Err(e) => failed(w, &here, &e),
    }
}
