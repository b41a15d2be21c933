//! What a booking does must not depend on how the calendar's mailbox is reached. Every case
//! here runs from one table against both backends of the demo organisation: the Graph
//! calendar "Borgerservice" (form `demo`) and the EWS calendar "Jobcenter" (form
//! `jobcenter`), seeded with the same slots. Listing, rules, holds, booking and
//! idempotency, documents with the summary and the mail, races over two instances, and the
//! faults both APIs share. (Graph-only and EWS-only behaviour: `booking.rs`, `holds.rs`,
//! `documents.rs`, `graph.rs` and `ews.rs`.)

mod support;

use server::booking::hold::HoldInfo;
use server::config::{CalendarAccess, MailConfig};
use server::sim::model::Faults;
use server::sim::seed;
use support::*;
use support::{slot_id, Answer};

// `Backend`, `BACKENDS` and `WEEK` are common (tests/common/mod.rs); what only this table
// asks of a backend is here.
impl Backend {
    fn hold(&self, env: &Env, slot_id: &str) -> Option<HoldInfo> {
        self.event(env, slot_id)
            .properties
            .iter()
            .find(|(id, _)| id.contains("BooketHold"))
            .and_then(|(_, v)| HoldInfo::parse(v))
    }

    async fn free(&self, env: &Env) -> Vec<String> {
        let Answer(status, week) = env.week(self.form, WEEK).await;
        assert_eq!(status, 200, "{self:?}: {week}");
        free_ids(&week)
    }

    async fn state(&self, env: &Env, slot_id: &str, hold: &str) -> String {
        state_of(&self.week(env, hold).await, slot_id)
    }

    /// Round trips to this backend so far (Graph requests and upload chunks, or EWS
    /// requests).
    fn writes(&self, env: &Env) -> u64 {
        let s = env.sim.stats();
        s.event_patches + s.ews_updates
    }
}

#[tokio::test]
async fn listing_shows_the_same_slots_and_states_on_both_backends() {
    let mut shapes = vec![];
    for b in BACKENDS {
        let env = Env::start().await;
        let Answer(status, week) = env.week(b.form, WEEK).await;
        assert_eq!(status, 200, "{b:?}: {week}");
        let shape: Vec<(String, String, String)> = week["slots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["start"].as_str().unwrap().to_owned(),
                    s["end"].as_str().unwrap().to_owned(),
                    s["state"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        // Never an event outside the window, all day or cancelled.
        for s in week["slots"].as_array().unwrap() {
            let kind = b.event(&env, s["id"].as_str().unwrap()).kind;
            assert!(!kind.starts_with("noise:"), "{b:?}: {kind} shown");
        }
        for state in ["free", "booked", "too_soon"] {
            assert!(shape.iter().any(|s| s.2 == state), "{b:?}: no {state} slot");
        }
        shapes.push(shape);
    }
    assert_eq!(shapes[0], shapes[1], "both backends list the same week");
}

#[tokio::test]
async fn rules_refuse_too_soon_and_unknown_slots_without_writing() {
    for b in BACKENDS {
        let env = Env::start().await;
        let week = env.week_ok(b.form, WEEK).await;
        let too_soon = slot_id(&week, "too_soon", 0);
        let writes = b.writes(&env);
        let Answer(s, body) = env.book(b.form, &too_soon, "k-soon").await;
        assert_eq!(
            (s, body["error"].as_str()),
            (422, Some("too_soon")),
            "{b:?}"
        );
        let Answer(s, _) = env.reserve(b.form, "not-a-slot-id", "", "").await;
        assert_eq!(s, 400, "{b:?}");
        assert_eq!(b.writes(&env), writes, "{b:?}: nothing written");
    }
}

#[tokio::test]
async fn a_hold_is_reserved_extended_released_and_lapses() {
    for b in BACKENDS {
        let env = Env::start().await;
        let free = b.free(&env).await;
        let slot = &free[0];
        let Answer(s, hold) = env.reserve(b.form, slot, "", "").await;
        assert_eq!(s, 200, "{b:?}: {hold}");
        let token = hold["token"].as_str().unwrap().to_owned();
        assert!(
            b.event(&env, slot).subject.ends_with(" - Reserveret"),
            "{b:?}"
        );
        let info = b
            .hold(&env, slot)
            .expect("the hold record is stored with the event");
        assert!(info.is_owned_by(&token), "{b:?}");
        assert_eq!(b.state(&env, slot, &token).await, "held", "{b:?}");
        assert_eq!(b.state(&env, slot, "").await, "reserved", "{b:?}");
        // Extended: a later expiry, the same owner.
        env.advance(chrono::TimeDelta::seconds(60));
        let Answer(s, _) = env.reserve(b.form, slot, &token, "").await;
        assert_eq!(s, 200, "{b:?}");
        assert!(b.hold(&env, slot).unwrap().expires > info.expires, "{b:?}");
        // Moved to another time: the first is given back.
        let Answer(s, _) = env.reserve(b.form, &free[1], &token, slot).await;
        assert_eq!(s, 200, "{b:?}");
        assert!(!b.event(&env, slot).subject.contains(" - "), "{b:?}");
        // Released by its holder only.
        let other = env.reserve_ok(b.form, &free[3], "", "").await;
        let stranger = other["token"].as_str().unwrap();
        let Answer(s, _) = env.release(b.form, &free[1], stranger).await;
        assert_eq!(s, 200, "{b:?}");
        assert!(
            b.event(&env, &free[1]).subject.ends_with(" - Reserveret"),
            "{b:?}"
        );
        // Lapsed: free again for others; the sweep gives it back in the calendar.
        env.advance(chrono::TimeDelta::seconds(2000));
        assert_eq!(b.state(&env, &free[1], "").await, "free", "{b:?}");
        env.booket.sweep_expired_holds().await.unwrap();
        assert!(!b.event(&env, &free[1]).subject.contains(" - "), "{b:?}");
    }
}

#[tokio::test]
async fn booking_is_idempotent_and_a_time_taken_in_outlook_is_reported_taken() {
    for b in BACKENDS {
        let env = Env::start().await;
        let free = b.free(&env).await;
        let Answer(s, first) = env.book(b.form, &free[0], "k-same").await;
        assert_eq!(s, 200, "{b:?}: {first}");
        assert_eq!(first["calendar"], b.calendar);
        assert!(
            b.event(&env, &free[0]).subject.ends_with(" - Booket"),
            "{b:?}"
        );
        let writes = b.writes(&env);
        let Answer(s, again) = env.book(b.form, &free[0], "k-same").await;
        assert_eq!((s, &again), (200, &first), "{b:?}: the same receipt");
        assert_eq!(b.writes(&env), writes, "{b:?}: written once");
        // Staff book another time in Outlook after the citizen saw it free.
        assert!(env
            .sim
            .staff_set_subject(&event_id_of(&free[1]), "Samtale - Booket"));
        let Answer(s, body) = env.book(b.form, &free[1], "k-late").await;
        assert_eq!(
            (s, body),
            (409, serde_json::json!({"error": "taken"})),
            "{b:?}"
        );
    }
}

#[tokio::test]
async fn documents_the_summary_and_the_mail_go_with_the_booking() {
    for b in BACKENDS {
        let env = Env::start_with(Default::default(), |c| {
            for f in &mut c.forms {
                f.email_field = Some("email".into());
                for el in &mut f.elements {
                    el.attach_documents = true;
                    el.attach_summary = true;
                }
            }
            // Mail from the booking calendar's own side.
            if b.calendar == seed::DEMO_EWS_CALENDAR {
                let CalendarAccess::Ews(account) = &c.calendars[1].access else {
                    panic!("the demo's second calendar is EWS");
                };
                c.mail = MailConfig::Ews {
                    account: account.clone(),
                    sender: seed::DEMO_EWS_OWNER.into(),
                    user: seed::DEMO_EWS_OWNER.into(),
                };
            } else {
                mail_on(c);
            }
        })
        .await;
        let free = b.free(&env).await;
        let pdf = [b"%PDF-1.7\n".as_slice(), &[7u8; 4000]].concat();
        let Answer(status, receipt) = env
            .book_form(b.form, &free[0], "k-docs", "", &[("lønseddel.pdf", pdf)])
            .await;
        assert_eq!(status, 200, "{b:?}: {receipt}");
        let e = b.event(&env, &free[0]);
        assert!(e.subject.ends_with(" - Booket"), "{b:?}");
        let names: Vec<&str> = e.attachments.iter().map(|a| a.name.as_str()).collect();
        assert!(names.contains(&"lønseddel.pdf"), "{b:?}: {names:?}");
        assert!(
            names.contains(&"Resumé af blanketten.pdf"),
            "{b:?}: {names:?}"
        );
        assert_eq!(receipt["mail"], "sent", "{b:?}: {receipt}");
        let mail = env
            .sim
            .outbox()
            .into_iter()
            .find(|m| m.to.iter().any(|t| t == "soren@example.dk"))
            .unwrap_or_else(|| panic!("{b:?}: the confirmation is in the outbox"));
        assert!(
            mail.attachments.iter().any(|a| a.name.ends_with(".ics")),
            "{b:?}"
        );
    }
}

#[tokio::test]
async fn a_busy_or_failing_exchange_is_waited_out_and_a_lasting_one_changes_nothing() {
    for b in BACKENDS {
        let env = Env::start().await;
        let free = b.free(&env).await;
        // Graph: 429 with Retry-After; EWS: ErrorServerBusy with BackOffMilliseconds.
        env.sim.set_faults(Faults {
            throttle_next: 1,
            retry_after: Some("0.2".into()),
            ..Faults::default()
        });
        let Answer(s, body) = env.book(b.form, &free[0], "k-busy").await;
        assert_eq!(s, 200, "{b:?}: {body}");
        // 503 once: retried.
        env.sim.set_faults(Faults {
            fail_next: vec![503],
            ..Faults::default()
        });
        let Answer(s, body) = env.book(b.form, &free[1], "k-503").await;
        assert_eq!(s, 200, "{b:?}: {body}");
        // Busy beyond the retry budget (5 s in tests): "try again", nothing changed.
        env.sim.set_faults(Faults {
            throttle_next: 100,
            retry_after: Some("3".into()),
            ..Faults::default()
        });
        let Answer(s, body) = env.book(b.form, &free[2], "k-lasting").await;
        assert_eq!(s, 503, "{b:?}: {body}");
        env.sim.set_faults(Faults::default());
        assert!(!b.event(&env, &free[2]).subject.contains(" - "), "{b:?}");
    }
}

#[tokio::test]
async fn a_dropped_read_is_retried_and_a_write_whose_answer_was_lost_is_recognised() {
    for b in BACKENDS {
        let env = Env::start().await;
        let other = env.second_instance().await;
        // The connection breaks mid-answer on the week's first read: read again.
        env.sim.set_faults(Faults {
            drop_next: 1,
            ..Faults::default()
        });
        let free = b.free(&env).await;
        assert_eq!(
            env.sim.snapshot()["faults"]["drop_next"],
            0,
            "{b:?}: the read met it"
        );
        // The write is carried out but its answer never arrives: not replayed blindly.
        env.sim.set_faults(Faults {
            drop_answer_of_next_write: 1,
            ..Faults::default()
        });
        let Answer(s, body) = env.book(b.form, &free[0], "k").await;
        assert_eq!(
            (s, body),
            (503, serde_json::json!({"error": "unavailable"})),
            "{b:?}"
        );
        assert!(
            b.event(&env, &free[0]).subject.ends_with(" - Booket"),
            "{b:?}"
        );
        // The citizen's retry (same key), even on another instance, learns it is theirs.
        let Answer(s, receipt) = other.book(b.form, &free[0], "k").await;
        assert_eq!(
            (s, receipt["state"].as_str()),
            (200, Some("booked")),
            "{b:?}: {receipt}"
        );
        // Anyone else is told it is taken; one marker.
        let Answer(s, _) = other.book(b.form, &free[0], "someone-else").await;
        assert_eq!(s, 409, "{b:?}");
        assert_eq!(
            b.event(&env, &free[0]).subject.matches(" - Booket").count(),
            1
        );
    }
}
