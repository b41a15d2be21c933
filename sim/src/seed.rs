//! The demo tenant, seeded deterministically relative to "now": calendar "Borgerservice"
//! with 30-minute weekday slots for the current and the next three weeks (some booked,
//! some with an attendee), plus events that must never be offered.

use super::model::{App, Calendar, Event, Mailbox, Person, ServiceAccount, Tenant};
use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Europe::Copenhagen;

pub const DEMO_TENANT: &str = "7d1f5c2e-4b8a-4e36-9a51-0c2d8e6f4b10";
pub const DEMO_CLIENT_ID: &str = "3f6b9a14-2c7d-4e58-8b90-d1e2f3a4b5c6";
/// The demo app's secret Value. Only the simulator accepts it.
pub const DEMO_SECRET: &str = "demo~Sim.Secret-Value_0123456789abcdef";
/// The demo app's secret ID: pasting this instead of the Value is the classic mistake.
pub const DEMO_SECRET_ID: &str = "9b8c7d6e-5f40-4a3b-8c2d-1e0f9a8b7c6d";
pub const DEMO_OWNER: &str = "borgerservice@demo.booket.dk";
pub const DEMO_CALENDAR: &str = "Borgerservice";
pub const DEMO_COLLEAGUE: &str = "sagsbehandler@demo.booket.dk";
/// A mailbox outside the demo app's scope: reading it must be refused
/// (`scope_probe_mailbox`).
pub const DEMO_OUTSIDE: &str = "direktion@demo.booket.dk";
pub const DEMO_LOCATION: &str = "Borgerservice, Rådhuset, lokale 1";
/// The on-premises side of the demo organisation (EWS): a service account with
/// ApplicationImpersonation, and a mailbox whose calendar has the same slots.
pub const DEMO_EWS_USER: &str = "svc-booket";
pub const DEMO_EWS_DOMAIN: &str = "DEMO";
/// Only the simulator accepts it.
pub const DEMO_EWS_PASSWORD: &str = "demo~Ews.Password-0123456789";
pub const DEMO_EWS_OWNER: &str = "jobcenter@demo.booket.dk";
pub const DEMO_EWS_CALENDAR: &str = "Jobcenter";

/// Slot start times on a weekday (local time): 09:00–12:00 and 13:00–15:30.
const SLOT_STARTS: [(u32, u32); 11] = [
    (9, 0),
    (9, 30),
    (10, 0),
    (10, 30),
    (11, 0),
    (11, 30),
    (13, 0),
    (13, 30),
    (14, 0),
    (14, 30),
    (15, 0),
];

/// Whether the seed books slot `i` of day `d` (counted from the first Monday).
pub fn seeded_booked(day_index: u64, slot_index: usize) -> bool {
    (day_index * 3 + slot_index as u64).is_multiple_of(7)
}

fn at(day: NaiveDate, h: u32, m: u32) -> DateTime<Utc> {
    let naive = day.and_time(NaiveTime::from_hms_opt(h, m, 0).expect("valid time"));
    Copenhagen
        .from_local_datetime(&naive)
        .earliest()
        .expect("seed times avoid the DST gap")
        .with_timezone(&Utc)
}

struct Ids(u64);

impl Ids {
    /// Graph-looking ids (base64url alphabet, long) that are stable for a given seed.
    fn next(&mut self, prefix: &str) -> String {
        self.0 += 1;
        format!(
            "AAMkAD{prefix}{:016X}-QAAAAA_{:08x}==",
            self.0 * 7919,
            self.0
        )
    }
}

/// Builds the demo tenant for the week of `now` and the three weeks after it.
pub fn demo_tenant(now: DateTime<Utc>) -> Tenant {
    let today = now.with_timezone(&Copenhagen).date_naive();
    let first_monday = today - Days::new(u64::from(today.weekday().num_days_from_monday()));
    let owner = Person {
        name: "Borgerservice".into(),
        address: DEMO_OWNER.into(),
    };
    let colleague = Person {
        name: "Sagsbehandler Hansen".into(),
        address: DEMO_COLLEAGUE.into(),
    };
    let mut ids = Ids(0);
    let mut key = 0u64;
    let mut ev = |ids: &mut Ids, subject: &str, start, end, kind: &str| {
        key += 1;
        use base64::Engine;
        Event {
            id: ids.next("Ev"),
            subject: subject.into(),
            start,
            end,
            is_all_day: false,
            is_cancelled: false,
            attendees: vec![],
            organizer: owner.clone(),
            location: DEMO_LOCATION.into(),
            change_key: base64::engine::general_purpose::STANDARD.encode(format!("seed-{key:06}")),
            properties: vec![],
            attachments: vec![],
            kind: kind.into(),
            event_type: "singleInstance".into(),
            series_master_id: None,
        }
    };

    let mut slots = Vec::new();
    let mut private = Vec::new();
    for day_index in 0..28u64 {
        let day = first_monday + Days::new(day_index);
        let weekday = day.weekday();
        if matches!(weekday, Weekday::Sat | Weekday::Sun) {
            if weekday == Weekday::Sat {
                // A Saturday slot: only shown when an element enables weekends.
                slots.push(ev(
                    &mut ids,
                    "Lørdagsåbent",
                    at(day, 10, 0),
                    at(day, 10, 30),
                    "noise:weekend",
                ));
            }
            continue;
        }
        for (i, &(h, m)) in SLOT_STARTS.iter().enumerate() {
            let start = at(day, h, m);
            let end = start + chrono::TimeDelta::minutes(30);
            let booked = seeded_booked(day_index, i);
            let subject = if booked {
                "Borgersamtale - Booket"
            } else {
                "Borgersamtale"
            };
            let mut e = ev(
                &mut ids,
                subject,
                start,
                end,
                if booked { "booked" } else { "slot" },
            );
            if i == 2 {
                e.attendees.push(colleague.clone());
                e.kind.push_str("+attendee");
            }
            slots.push(e);
        }
        match weekday {
            Weekday::Tue => {
                slots.push(ev(
                    &mut ids,
                    "Morgenmøde",
                    at(day, 7, 0),
                    at(day, 7, 30),
                    "noise:before-window",
                ));
                slots.push(ev(
                    &mut ids,
                    "Aftenvagt",
                    at(day, 16, 0),
                    at(day, 16, 30),
                    "noise:after-window",
                ));
                slots.push(ev(
                    &mut ids,
                    "Overlapper lukketid",
                    at(day, 15, 45),
                    at(day, 16, 15),
                    "noise:crosses-window",
                ));
            }
            Weekday::Wed => {
                let mut all_day = ev(
                    &mut ids,
                    "Kursusdag",
                    at(day, 0, 0),
                    at(day + Days::new(1), 0, 0),
                    "noise:all-day",
                );
                all_day.is_all_day = true;
                slots.push(all_day);
            }
            Weekday::Thu => {
                let mut cancelled = ev(
                    &mut ids,
                    "Aflyst: Borgersamtale",
                    at(day, 12, 0),
                    at(day, 12, 30),
                    "noise:cancelled",
                );
                cancelled.is_cancelled = true;
                slots.push(cancelled);
            }
            Weekday::Fri => {
                private.push(ev(
                    &mut ids,
                    "Tandlæge",
                    at(day, 12, 0),
                    at(day, 12, 30),
                    "noise:other-calendar",
                ));
            }
            _ => {}
        }
    }
    slots.sort_by_key(|e| e.start);
    // The on-premises mailbox's calendar: the same times and cases, its own ids and keys.
    let jobcenter: Vec<Event> = slots
        .iter()
        .enumerate()
        .map(|(i, e)| {
            use base64::Engine;
            let mut e = e.clone();
            e.id = ids.next("Jc");
            e.change_key =
                base64::engine::general_purpose::STANDARD.encode(format!("seed-j{i:05}"));
            e.organizer = Person {
                name: "Jobcenter".into(),
                address: DEMO_EWS_OWNER.into(),
            };
            e.location = "Jobcenter, Rådhuset, lokale 7".into();
            e
        })
        .collect();
    let outside_meeting = ev(
        &mut ids,
        "Direktionsmøde",
        at(first_monday, 9, 0),
        at(first_monday, 10, 0),
        "noise:other-mailbox",
    );

    Tenant {
        id: DEMO_TENANT.into(),
        apps: vec![App {
            client_id: DEMO_CLIENT_ID.into(),
            secret_value: DEMO_SECRET.into(),
            secret_id: DEMO_SECRET_ID.into(),
            secret_expired: false,
            certificates: vec![],
            certificates_expired: false,
            roles: vec!["Calendars.ReadWrite".into(), "Mail.Send".into()],
        }],
        // Set up as docs/operators/graph-setup.md asks: the app reaches the booking mailbox only.
        app_scope: Some(vec![DEMO_OWNER.into()]),
        service_accounts: vec![ServiceAccount {
            username: DEMO_EWS_USER.into(),
            domain: DEMO_EWS_DOMAIN.into(),
            password: DEMO_EWS_PASSWORD.into(),
            impersonation: true,
            full_access: vec![DEMO_EWS_OWNER.into()],
        }],
        users: vec![
            Mailbox {
                upn: DEMO_OWNER.into(),
                display_name: "Borgerservice".into(),
                calendars: vec![
                    Calendar {
                        id: ids.next("Ca"),
                        name: "Kalender".into(),
                        events: vec![],
                    },
                    Calendar {
                        id: ids.next("Ca"),
                        name: DEMO_CALENDAR.into(),
                        events: slots,
                    },
                    Calendar {
                        id: ids.next("Ca"),
                        name: "Privat".into(),
                        events: private,
                    },
                ],
            },
            Mailbox {
                upn: DEMO_OUTSIDE.into(),
                display_name: "Direktionen".into(),
                calendars: vec![Calendar {
                    id: ids.next("Ca"),
                    name: "Kalender".into(),
                    events: vec![outside_meeting],
                }],
            },
            Mailbox {
                upn: DEMO_EWS_OWNER.into(),
                display_name: "Jobcenter".into(),
                calendars: vec![
                    Calendar {
                        id: ids.next("Ca"),
                        name: "Kalender".into(),
                        events: vec![],
                    },
                    Calendar {
                        id: ids.next("Ca"),
                        name: DEMO_EWS_CALENDAR.into(),
                        events: jobcenter,
                    },
                ],
            },
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_is_deterministic_and_spans_four_weeks() {
        let now = Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap();
        let a = demo_tenant(now);
        let b = demo_tenant(now);
        let cal = |t: &Tenant| t.users[0].calendars[1].events.clone();
        let (ea, eb) = (cal(&a), cal(&b));
        assert_eq!(ea.len(), eb.len());
        assert!(ea
            .iter()
            .zip(&eb)
            .all(|(x, y)| x.id == y.id && x.start == y.start));
        // 20 weekdays × 11 slots + 4 Saturdays + 4×(3 + 1 + 1) noise events.
        assert_eq!(ea.len(), 20 * 11 + 4 + 4 * 5);
        assert!(ea.iter().any(|e| e.kind == "booked"));
        assert!(ea.iter().any(|e| e.kind.ends_with("+attendee")));
        for kind in [
            "noise:before-window",
            "noise:after-window",
            "noise:all-day",
            "noise:cancelled",
            "noise:weekend",
        ] {
            assert!(ea.iter().any(|e| e.kind == kind), "{kind}");
        }
        // Starts on the Monday of the current week, in Copenhagen time (UTC+1 in November).
        assert_eq!(
            ea[0].start,
            Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap()
        );
    }
}
