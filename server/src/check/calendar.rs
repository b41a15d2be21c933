//! One calendar: token, permission, mailbox, the Outlook calendar by name, a week read,
//! and lapsed holds the sweep has not given back.

use super::report::*;
use super::token::*;
use crate::booking::hold::HoldInfo;
use crate::config::{CalendarConfig, ExchangeConfig};
use crate::graph::wire::Event;
use crate::graph::HOLD_PROPERTY;
use crate::graph::{GraphClient, GraphError};
use app::domain::rules::{marker_of, Marker};
use app::domain::week::monday_of;
use app::i18n::Lang;
use chrono::{DateTime, Days, Utc};
use secrecy::ExposeSecret;

pub(super) async fn check_calendar(
    graph: &GraphClient,
    cal: &CalendarConfig,
    creds: &crate::graph::AppCredentials,
    exchange: &ExchangeConfig,
    lang: Lang,
    now: DateTime<Utc>,
) -> Section {
    let mut lines = vec![pass(t(lang, "Konfiguration gyldig", "Configuration valid"))];
    let title = format!("{} \"{}\":", t(lang, "Kalender", "Calendar"), cal.name);
    let creds = creds.clone();
    let Some(token) = token_check(graph, &creds, lang, &mut lines).await else {
        return Section { title, lines };
    };
    match token_roles(token.expose_secret()) {
        Some(roles) if !roles.iter().any(|r| r == "Calendars.ReadWrite") => {
            lines.push(fail(
                t(lang, "Tilladelsen Calendars.ReadWrite mangler i tokenet", "The Calendars.ReadWrite permission is missing from the token"),
                t(lang, "Giv app'en Calendars.ReadWrite (Application) og admin consent i Entra ID.", "Give the app Calendars.ReadWrite (Application) and grant admin consent in Entra ID."),
            ));
        }
        Some(_) => {}
        // Microsoft documents access tokens as opaque to clients: not reading it is no fault.
        None => lines.push(unreadable_token(lang, "Calendars.ReadWrite")),
    }
    let calendars = match graph.list_calendars(&creds, &cal.owner).await {
        Ok(c) => {
            lines.push(pass(format!(
                "{} {} {}",
                t(lang, "Postkassen", "Mailbox"),
                cal.owner,
                t(lang, "kan nås", "is reachable")
            )));
            c
        }
        Err(GraphError::Forbidden { code }) => {
            lines.push(fail(
                format!("{} {}: {} (403 {code})", t(lang, "Postkassen", "Mailbox"), cal.owner, t(lang, "adgang nægtet — en application access policy udelukker formentlig postkassen, eller tilladelsen mangler", "access denied — an application access policy probably keeps the app out of it, or the permission is missing")),
                t(lang, "Tilføj postkassen til gruppen i app'ens New-ApplicationAccessPolicy og tjek med Test-ApplicationAccessPolicy (ændringer kan tage over en time).", "Add the mailbox to the group in the app's New-ApplicationAccessPolicy and verify with Test-ApplicationAccessPolicy (changes can take over an hour)."),
            ));
            return Section { title, lines };
        }
        Err(GraphError::NotFound { .. }) => {
            lines.push(fail(
                format!(
                    "{} {}: {}",
                    t(lang, "Postkassen", "Mailbox"),
                    cal.owner,
                    t(lang, "findes ikke", "does not exist")
                ),
                t(
                    lang,
                    "Tjek owner: brugerens UPN (fx navn@kommune.dk) eller objekt-id.",
                    "Check owner: the user's UPN (e.g. name@municipality.dk) or object id.",
                ),
            ));
            return Section { title, lines };
        }
        Err(e) => {
            lines.push(transient_line(lang, &t(lang, "Postkassen", "Mailbox"), &e));
            return Section { title, lines };
        }
    };
    let matching: Vec<&crate::graph::wire::Calendar> = calendars
        .iter()
        .filter(|c| c.name == cal.outlook_calendar.as_str())
        .collect();
    let names: Vec<&str> = calendars.iter().map(|c| c.name.as_str()).collect();
    let calendar_id = match matching.as_slice() {
        [one] => {
            lines.push(pass(format!(
                "{} \"{}\" {}",
                t(lang, "Outlook-kalenderen", "Outlook calendar"),
                cal.outlook_calendar,
                t(lang, "fundet (præcis én)", "found (exactly one)")
            )));
            one.id.clone()
        }
        [] => {
            lines.push(fail(
                format!(
                    "{} \"{}\" {}; {}: {}",
                    t(lang, "Outlook-kalenderen", "Outlook calendar"),
                    cal.outlook_calendar,
                    t(lang, "findes ikke", "not found"),
                    t(lang, "fundet", "found"),
                    names.join(", ")
                ),
                t(
                    lang,
                    "Sæt outlook_calendar til kalenderens navn præcis som Outlook viser det.",
                    "Set outlook_calendar to the calendar's name exactly as Outlook shows it.",
                ),
            ));
            return Section { title, lines };
        }
        many => {
            lines.push(fail(
                format!(
                    "{} \"{}\" {} {} {}",
                    t(lang, "Outlook-kalendernavnet", "Outlook calendar name"),
                    cal.outlook_calendar,
                    t(lang, "passer på", "matches"),
                    many.len(),
                    t(lang, "kalendere", "calendars")
                ),
                t(
                    lang,
                    "Omdøb de andre kalendere i Outlook, så navnet er entydigt.",
                    "Rename the other calendars in Outlook so the name is unique.",
                ),
            ));
            return Section { title, lines };
        }
    };
    let monday = monday_of(now.with_timezone(&cal.time_zone).date_naive());
    let start = crate::booking::local_midnight(cal.time_zone, monday);
    let end = crate::booking::local_midnight(cal.time_zone, monday + Days::new(7));
    match graph
        .calendar_view(&creds, &cal.owner, &calendar_id, start, end, HOLD_PROPERTY)
        .await
    {
        Ok(events) => lines.push(pass(format!(
            "{} ({} {})",
            t(lang, "Kalendervisning læst", "Calendar view read"),
            events.len(),
            t(lang, "begivenheder i denne uge", "events this week")
        ))),
        Err(e) => {
            lines.push(transient_line(
                lang,
                &t(lang, "Kalendervisning", "Calendar view"),
                &e,
            ));
            return Section { title, lines };
        }
    }
    let end = crate::booking::local_midnight(
        cal.time_zone,
        monday + Days::new(7 * exchange.hold_sweep_weeks),
    );
    match graph
        .calendar_view(&creds, &cal.owner, &calendar_id, start, end, HOLD_PROPERTY)
        .await
    {
        Ok(events) => lines.push(stuck_holds_line(lang, cal, exchange, &events, now)),
        Err(e) => lines.push(transient_line(lang, &t(lang, "Reservationer", "Holds"), &e)),
    }
    Section { title, lines }
}

/// Lapsed holds still standing well after the sweep should have given them back: each
/// keeps a time from citizens, and may carry an unfinished booking's documents.
fn stuck_holds_line(
    lang: Lang,
    cal: &CalendarConfig,
    exchange: &ExchangeConfig,
    events: &[Event],
    now: DateTime<Utc>,
) -> Line {
    let sweep = chrono::TimeDelta::from_std(exchange.hold_sweep).unwrap_or_default();
    let grace = (sweep * 3).max(chrono::TimeDelta::minutes(2));
    let stuck: Vec<(&Event, HoldInfo)> = events
        .iter()
        .filter(|e| {
            marker_of(e.subject.as_deref().unwrap_or(""), &exchange.markers)
                == Some(Marker::Reserved)
        })
        .filter_map(|e| Some((e, e.property(HOLD_PROPERTY).and_then(HoldInfo::parse)?)))
        .filter(|(_, h)| h.expires + grace < now)
        .collect();
    let Some((first, _)) = stuck.first() else {
        return pass(t(
            lang,
            "Ingen udløbne reservationer hænger",
            "No lapsed holds are left standing",
        ));
    };
    let with_files = stuck.iter().filter(|(_, h)| !h.files.is_empty()).count();
    let when = crate::graph::wire::to_utc(&first.start)
        .map(|d| {
            d.with_timezone(&cal.time_zone)
                .format("%d.%m.%Y %H:%M")
                .to_string()
        })
        .unwrap_or_default();
    let text = match lang {
        Lang::Da => format!("{} udløbne reservationer er ikke givet tilbage ({with_files} med en ufærdig bookings filer), den første kl. {when}", stuck.len()),
        Lang::En => format!("{} lapsed holds have not been given back ({with_files} with an unfinished booking's files), the first at {when}", stuck.len()),
    };
    if exchange.hold_sweep.is_zero() {
        return warn(
            text,
            t(lang, "Oprydningen er slået fra (hold_sweep_seconds = 0): tiderne kan bookes, men filerne bliver liggende, til nogen vælger tiden. Sæt hold_sweep_seconds, fx 60.", "The sweep is off (hold_sweep_seconds = 0): the times can be booked, but the files stay until someone picks the time. Set hold_sweep_seconds, e.g. 60."),
        );
    }
    fail(
        text,
        t(lang, "Oprydningen kan ikke fjerne filerne eller give tiden tilbage: se booket_holds_stuck i /metrics og serverens log (\"could not remove files of a lapsed hold\"). Tjek at Booket kører, og at app'en har Calendars.ReadWrite.", "The sweep cannot remove the files or give the time back: see booket_holds_stuck in /metrics and the server log (\"could not remove files of a lapsed hold\"). Check that Booket is running and that the app has Calendars.ReadWrite."),
    )
}
