//! Listing and booking through the real server against the Graph simulator.

mod support;

use server::sim::model::SimOptions;
use support::{event_id_of, slot_id, slots_in_state, Answer, Env, Options};

#[tokio::test]
async fn a_week_lists_exactly_the_shown_slots_and_follows_paging() {
    // Pages of 7 events force several calendarView pages per week.
    let env = Env::start_with(
        Options {
            sim: SimOptions {
                max_page_size: 7,
                ..SimOptions::default()
            },
            ..Options::default()
        },
        |_| {},
    )
    .await;
    let Answer(status, week) = env.week("demo", "").await;
    assert_eq!(status, 200, "{week}");
    assert_eq!(week["week_start"], "2026-11-30");
    assert_eq!(week["days"].as_array().unwrap().len(), 5);
    let slots = week["slots"].as_array().unwrap();
    // 5 weekdays × 11 slots; no noise event (outside hours, all-day, cancelled, Saturday,
    // other calendar) is ever offered.
    assert_eq!(slots.len(), 55);
    let events = env.events();
    for s in slots {
        let id = event_id_of(s["id"].as_str().unwrap());
        let e = events
            .iter()
            .find(|e| e.id == id)
            .expect("slot is a calendar event");
        assert!(
            e.kind == "slot" || e.kind == "booked" || e.kind.ends_with("+attendee"),
            "{}",
            e.kind
        );
    }
    let stats = env.sim.stats();
    // The week holds 55 slots + 4 Saturday/noise events in range: at 7 per page that is 9 pages.
    assert!(stats.calendar_view_requests >= 8, "{stats:?}");
}

#[tokio::test]
async fn states_follow_markers_the_clock_and_notice_days() {
    let env = Env::start().await;
    let week = env.week_ok("demo", "").await;
    // Now is Monday 11:00: 09:00–11:00 have started, the rest of Monday is before the
    // one-day notice, seeded " - Booket" events are booked, the rest is free.
    let monday = |s: &serde_json::Value| s["start"].as_str().unwrap().starts_with("2026-11-30");
    for s in week["slots"].as_array().unwrap() {
        let start = s["start"].as_str().unwrap();
        let state = s["state"].as_str().unwrap();
        let id = event_id_of(s["id"].as_str().unwrap());
        let booked = env.event(&id).subject.ends_with(" - Booket");
        let want = if booked {
            "booked"
        } else if monday(s) && start[11..16] <= *"11:00" {
            "past"
        } else if monday(s) {
            "too_soon"
        } else {
            "free"
        };
        assert_eq!(state, want, "{start}");
        // Times carry Copenhagen's winter offset.
        assert!(start.ends_with("+01:00"), "{start}");
    }
    assert!(!slots_in_state(&week, "free").is_empty());
}

#[tokio::test]
async fn weekends_and_wider_hours_only_where_the_element_says_so() {
    let env = Env::start().await;
    let demo = env.week_ok("demo", "").await;
    let weekend = env.week_ok("weekend", "").await;
    let days = |w: &serde_json::Value| w["days"].as_array().unwrap().len();
    assert_eq!(days(&demo), 5);
    assert_eq!(days(&weekend), 7);
    let has = |w: &serde_json::Value, prefix: &str| {
        w["slots"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["start"].as_str().unwrap().starts_with(prefix))
    };
    assert!(
        !has(&demo, "2026-12-05"),
        "no Saturday without show_weekend"
    );
    assert!(
        has(&weekend, "2026-12-05T10:00"),
        "Saturday slot with show_weekend"
    );
    // 07:00 is before the demo's 8–16 window but inside the weekend form's 7–17 window.
    assert!(!has(&demo, "2026-12-01T07:00"));
    assert!(has(&weekend, "2026-12-01T07:00"));
    // 15:45–16:15 crosses 16:00: never in the 8–16 window.
    assert!(!has(&demo, "2026-12-01T15:45"));
}

#[tokio::test]
async fn booking_marks_the_event_and_the_next_read_shows_it() {
    let env = Env::start().await;
    let week = env.week_ok("demo", "2026-12-02").await;
    let slot = slots_in_state(&week, "free")[0].clone();
    let id = slot["id"].as_str().unwrap();
    let Answer(status, receipt) = env.book("demo", id, "key-1").await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["state"], "booked");
    assert_eq!(receipt["calendar"], "Borgerservice");
    assert_eq!(receipt["start"], slot["start"]);
    let event = env.event(&event_id_of(id));
    assert_eq!(event.subject, "Borgersamtale - Booket");
    let again = env.week_ok("demo", "2026-12-02").await;
    let same = again["slots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["start"] == slot["start"] && event_id_of(s["id"].as_str().unwrap()) == event.id)
        .unwrap()
        .clone();
    assert_eq!(same["state"], "booked");
}

#[tokio::test]
async fn a_retry_with_the_same_key_returns_the_same_receipt_and_writes_once() {
    let env = Env::start().await;
    let id = env.free_slot("demo", 0).await;
    let Answer(s1, r1) = env.book("demo", &id, "same-key").await;
    let Answer(s2, r2) = env.book("demo", &id, "same-key").await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(r1, r2);
    assert_eq!(env.sim.stats().event_patches, 1);
    // Another citizen (another key) is told the truth.
    let Answer(s3, r3) = env.book("demo", &id, "other-key").await;
    assert_eq!(s3, 409, "{r3}");
    assert_eq!(r3["error"], "taken");
}

#[tokio::test]
async fn a_slot_taken_in_outlook_after_viewing_is_reported_taken() {
    let env = Env::start().await;
    let id = env.free_slot("demo", 0).await;
    assert!(env
        .sim
        .staff_set_subject(&event_id_of(&id), "Borgersamtale - Booket"));
    let Answer(status, body) = env.book("demo", &id, "k").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "taken");
    assert_eq!(env.sim.stats().event_patches, 0);
}

#[tokio::test]
async fn too_soon_past_and_unknown_are_refused_without_writing() {
    let env = Env::start().await;
    let week = env.week_ok("demo", "").await;
    let too_soon = slot_id(&week, "too_soon", 0);
    let past = slot_id(&week, "past", 0);
    // A booked slot later in the week (an early one has passed, which is checked first).
    let booked = slots_in_state(&week, "booked")
        .into_iter()
        .find(|s| s["start"].as_str().unwrap() > "2026-12-01")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let Answer(s, b) = env.book("demo", &too_soon, "a").await;
    assert_eq!((s, b["error"].as_str()), (422, Some("too_soon")));
    let Answer(s, b) = env.book("demo", &past, "b").await;
    assert_eq!((s, b["error"].as_str()), (422, Some("past")));
    let Answer(s, b) = env.book("demo", &booked, "c").await;
    assert_eq!((s, b["error"].as_str()), (409, Some("taken")));
    assert_eq!(env.sim.stats().event_patches, 0);
}

#[tokio::test]
async fn navigation_clamps_to_the_current_week_and_offers_the_next_free_one() {
    let env = Env::start().await;
    let earlier = env.week_ok("demo", "2026-11-02").await;
    assert_eq!(
        earlier["week_start"], "2026-11-30",
        "never before the current week"
    );
    // Four seeded weeks: the fifth is empty and nothing follows it.
    let empty = env.week_ok("demo", "2026-12-28").await;
    assert_eq!(empty["slots"].as_array().unwrap().len(), 0);
    assert_eq!(empty["next_free_week"], serde_json::Value::Null);
    let Answer(s, far) = env.week("demo", "2028-01-03").await;
    assert_eq!(s, 400, "{far}");
}

#[tokio::test]
async fn an_empty_week_points_to_the_next_week_with_a_free_slot() {
    let env = Env::start_at(support::friday_16(), |_| {}).await;
    let week = env.week_ok("demo", "").await;
    assert_eq!(week["week_start"], "2026-11-30");
    assert!(slots_in_state(&week, "free").is_empty());
    assert_eq!(week["next_free_week"], "2026-12-07");
}

/// A week without a free slot names the next week with one, so its answer depends on the
/// later weeks too. It is kept all the same — at opening hour, once a week is gone, every
/// citizen who opens the form reads it — and must still equal a fresh one whenever a
/// later week changes: a write there replaces that week's read, or a hold there lapses by
/// the clock alone.
#[tokio::test]
async fn a_full_weeks_kept_answer_follows_the_later_weeks() {
    let env = Env::start_at(support::friday_16(), |c| {
        // One test client takes every free slot of a week.
        c.server.max_holds_per_client = 1000;
        c.server.rate_limit_per_minute = 100_000;
    })
    .await;
    let unused = "AAAAAAAAAAAAAAAAAAAAAA";
    let read = |hold: &'static str| env.week_held("demo", "", hold);
    let hits = || env.metric("booket_week_answers_total{result=\"hit\"}");
    // Read twice as anyone reads it, then as one whose answer is never kept: the three
    // agree, and the second came from the kept answer.
    let kept_and_fresh = |label: &'static str, next_free: &'static str| {
        let (read, hits) = (&read, &hits);
        async move {
            let first = read("").await;
            let before = hits().await;
            let again = read("").await;
            assert_eq!(
                hits().await,
                before + 1,
                "{label}: served from the kept answer"
            );
            let fresh = read(unused).await;
            assert_eq!(fresh["next_free_week"], next_free, "{label}: fresh");
            assert_eq!(first["next_free_week"], next_free, "{label}: kept");
            assert!(slots_in_state(&first, "free").is_empty(), "{label}");
            // Compared whole without printing them (each answer is ~11 KB).
            assert!(
                first == again && first == fresh,
                "{label}: the kept answer differs"
            );
        }
    };
    kept_and_fresh("at the start", "2026-12-07").await;

    // Every free slot of the next week is held by someone: the one after is the next free.
    let next = env.week_ok("demo", "2026-12-07").await;
    let mut holds = Vec::new();
    for slot in support::free_ids(&next) {
        let token = env.hold_token("demo", &slot).await;
        holds.push((slot, token));
    }
    assert!(holds.len() > 1, "the next week has free slots to hold");
    kept_and_fresh("the next week held", "2026-12-14").await;

    // One of those holds is given back: a write to the next week, no reservation in flight.
    let (slot, token) = holds.pop().unwrap();
    let Answer(status, body) = env.release("demo", &slot, &token).await;
    assert_eq!(status, 200, "{body}");
    kept_and_fresh("a hold given back", "2026-12-07").await;

    // Held again, then every hold of the next week lapses by the clock alone.
    let hold = env.reserve_ok("demo", &slot, "", "").await;
    kept_and_fresh("held again", "2026-12-14").await;
    env.advance(chrono::TimeDelta::seconds(
        hold["seconds_left"].as_i64().unwrap() + 1,
    ));
    kept_and_fresh("the holds lapsed", "2026-12-07").await;
}

/// Week answers without a hold are kept as JSON between requests. Whatever happens — the
/// clock passes slot starts, a hold is taken and lapses, the date changes, someone books —
/// the kept answer must equal the one built fresh (a read with an unused hold token is
/// never kept), and repeated reads must actually be served from the kept answer.
#[tokio::test]
async fn kept_week_answers_always_equal_fresh_ones() {
    let env = Env::start().await;
    let unused = "AAAAAAAAAAAAAAAAAAAAAA";
    let read = |week: &'static str, hold: &'static str| env.week_held("demo", week, hold);
    let hits = || env.metric("booket_week_answers_total{result=\"hit\"}");
    let same = |label: &str| {
        let label = label.to_owned();
        async move {
            for week in ["", "2026-12-07"] {
                let kept = read(week, "").await;
                let again = read(week, "").await;
                let fresh = read(week, unused).await;
                assert_eq!(kept, again, "{label}: {week}");
                assert_eq!(kept, fresh, "{label}: {week}");
            }
        }
    };

    same("at the start").await;
    let before = hits().await;
    same("unchanged").await;
    assert!(
        hits().await >= before + 4,
        "repeated reads are served from kept answers"
    );

    // The clock passes the start of the next slot (Monday 11:30 local).
    env.advance(chrono::TimeDelta::minutes(45));
    same("a slot has started").await;

    // A hold shows as reserved to others, and lapses by the clock alone.
    let week = env.week_ok("demo", "").await;
    let free = slots_in_state(&week, "free");
    let slot = free[0]["id"].as_str().unwrap();
    let Answer(status, hold) = env.reserve("demo", slot, "", "").await;
    assert_eq!(status, 200, "{hold}");
    same("held").await;
    let week = env.week_ok("demo", "").await;
    assert!(week["slots"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["id"] == slot && s["state"] == "reserved"));
    env.advance(chrono::TimeDelta::seconds(
        hold["seconds_left"].as_i64().unwrap() + 1,
    ));
    same("the hold lapsed").await;
    let week = env.week_ok("demo", "").await;
    assert!(week["slots"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["id"] == slot && s["state"] == "free"));

    // Someone books; the next read shows it.
    let slot = slot_id(&week, "free", 1);
    let Answer(status, receipt) = env.book("demo", &slot, "k-kept-answers").await;
    assert_eq!(status, 200, "{receipt}");
    same("booked").await;
    let week = env.week_ok("demo", "").await;
    assert!(week["slots"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["id"] == slot && s["state"] == "booked"));

    // The date changes: Tuesday's slots are no longer before the one-day notice.
    env.advance(chrono::TimeDelta::hours(13));
    same("a new day").await;
}
