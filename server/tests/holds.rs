//! Reservations (" - Reserveret") through the real server against the simulator.

mod support;

use server::booking::hold::HoldInfo;
use server::graph::HOLD_PROPERTY;
use server::sim::model::Faults;
use support::{event_id_of, slot_id, slots_in_state, Answer, Env};

async fn a_free_slot(env: &Env) -> String {
    let week = env.week_ok("demo", "2026-12-02").await;
    slot_id(&week, "free", 0)
}

fn hold_of(env: &Env, slot_id: &str) -> Option<HoldInfo> {
    env.event(&event_id_of(slot_id))
        .properties
        .iter()
        .find(|(id, _)| id == HOLD_PROPERTY)
        .and_then(|(_, v)| HoldInfo::parse(v))
}

#[tokio::test]
async fn picking_a_time_reserves_it_with_an_owner_and_an_expiry() {
    let env = Env::start().await;
    let slot = a_free_slot(&env).await;
    let Answer(s, hold) = env.reserve("demo", &slot, "", "").await;
    assert_eq!(s, 200, "{hold}");
    let token = hold["token"].as_str().unwrap();
    assert_eq!(hold["seconds_left"], 900);
    let event = env.event(&event_id_of(&slot));
    assert_eq!(event.subject, "Borgersamtale - Reserveret");
    let info = hold_of(&env, &slot).expect("hold stored with the event");
    assert!(info.is_owned_by(token));
    assert_eq!(info.expires, env.now + chrono::TimeDelta::seconds(900));
    // The token is never stored, only its hash.
    assert!(!event.properties.iter().any(|(_, v)| v.contains(token)));
    // The holder sees it as theirs, everyone else as taken.
    let Answer(_, mine) = env
        .call(
            "week",
            &[
                ("form", "demo"),
                ("element", "tid"),
                ("week", "2026-12-02"),
                ("hold", token),
            ],
        )
        .await;
    let theirs = env.week_ok("demo", "2026-12-02").await;
    let state = |w: &serde_json::Value| {
        w["slots"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == slot.as_str())
            .unwrap()["state"]
            .clone()
    };
    assert_eq!(state(&mine), "held");
    assert_eq!(state(&theirs), "reserved");
}

#[tokio::test]
async fn two_citizens_reserve_one_slot_and_one_wins() {
    let env = Env::start().await;
    let other = env.second_instance().await;
    let slot = a_free_slot(&env).await;
    env.slow(100);
    let (a, b) = tokio::join!(
        env.reserve("demo", &slot, "", ""),
        other.reserve("demo", &slot, "", "")
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
    let winner = if a.0 == 200 { &a.1 } else { &b.1 };
    assert!(hold_of(&env, &slot)
        .unwrap()
        .is_owned_by(winner["token"].as_str().unwrap()));
    // The loser cannot book it either.
    env.sim.set_faults(Faults::default());
    let Answer(s, body) = env.book("demo", &slot, "loser").await;
    assert_eq!((s, body["error"].as_str()), (409, Some("taken")));
}

#[tokio::test]
async fn the_holder_books_in_two_graph_round_trips() {
    let env = Env::start().await;
    let slot = a_free_slot(&env).await;
    let hold = env.reserve_ok("demo", &slot, "", "").await;
    let token = hold["token"].as_str().unwrap();
    let before = env.sim.stats();
    let Answer(s, receipt) = env.book_held("demo", &slot, "k", token).await;
    assert_eq!(s, 200, "{receipt}");
    let after = env.sim.stats();
    let trips =
        (after.event_gets - before.event_gets) + (after.event_patches - before.event_patches);
    assert_eq!(trips, 2, "GET + PATCH");
    assert_eq!(
        env.event(&event_id_of(&slot)).subject,
        "Borgersamtale - Booket"
    );
    assert_eq!(hold_of(&env, &slot), None, "the hold property is ended");
}

#[tokio::test]
async fn extending_moves_the_expiry_and_keeps_the_owner() {
    let env = Env::start().await;
    let slot = a_free_slot(&env).await;
    let token = env.hold_token("demo", &slot).await;
    env.advance(chrono::TimeDelta::seconds(600));
    let Answer(s, again) = env.reserve("demo", &slot, &token, "").await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["token"], token.as_str());
    let info = hold_of(&env, &slot).unwrap();
    assert_eq!(
        info.expires,
        env.now + chrono::TimeDelta::seconds(600 + 900)
    );
}

#[tokio::test]
async fn choosing_another_time_releases_the_first() {
    let env = Env::start().await;
    let week = env.week_ok("demo", "2026-12-02").await;
    let free = slots_in_state(&week, "free");
    let (first, second) = (
        free[0]["id"].as_str().unwrap(),
        free[1]["id"].as_str().unwrap(),
    );
    let hold = env.reserve_ok("demo", first, "", "").await;
    let token = hold["token"].as_str().unwrap();
    let Answer(s, _) = env.reserve("demo", second, token, first).await;
    assert_eq!(s, 200);
    assert_eq!(env.event(&event_id_of(first)).subject, "Borgersamtale");
    assert_eq!(
        env.event(&event_id_of(second)).subject,
        "Borgersamtale - Reserveret"
    );
}

#[tokio::test]
async fn release_only_touches_the_callers_own_hold() {
    let env = Env::start().await;
    let slot = a_free_slot(&env).await;
    let hold = env.reserve_ok("demo", &slot, "", "").await;
    let stranger = "AAAAAAAAAAAAAAAAAAAAAA";
    let Answer(s, _) = env.release("demo", &slot, stranger).await;
    assert_eq!(s, 200);
    assert_eq!(
        env.event(&event_id_of(&slot)).subject,
        "Borgersamtale - Reserveret"
    );
    let Answer(s, _) = env
        .release("demo", &slot, hold["token"].as_str().unwrap())
        .await;
    assert_eq!(s, 200);
    assert_eq!(env.event(&event_id_of(&slot)).subject, "Borgersamtale");
}

#[tokio::test]
async fn a_lapsed_hold_counts_as_free_and_another_citizen_books() {
    let env = Env::start().await;
    let slot = a_free_slot(&env).await;
    let first = env.hold_token("demo", &slot).await;
    let Answer(s, _) = env.book("demo", &slot, "too-early").await;
    assert_eq!(s, 409, "held: taken for others");
    env.advance(chrono::TimeDelta::seconds(901));
    let week = env.week_ok("demo", "2026-12-02").await;
    let state = week["slots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == slot.as_str())
        .unwrap()["state"]
        .clone();
    assert_eq!(state, "free");
    let Answer(s, receipt) = env.book("demo", &slot, "second-citizen").await;
    assert_eq!(s, 200, "{receipt}");
    // The first citizen's late booking is refused.
    let Answer(s, _) = env.book_held("demo", &slot, "first-citizen", &first).await;
    assert_eq!(s, 409);
}

#[tokio::test]
async fn the_sweep_releases_only_lapsed_holds() {
    let env = Env::start().await;
    let week = env.week_ok("demo", "2026-12-02").await;
    let free = slots_in_state(&week, "free");
    let ids: Vec<String> = free
        .iter()
        .take(3)
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    // Slot 0: held and lapsed. Slot 1: held, lapsed, but booked by its holder meanwhile.
    let h0 = env.reserve_ok("demo", &ids[0], "", "").await;
    let h1 = env.reserve_ok("demo", &ids[1], "", "").await;
    env.advance(chrono::TimeDelta::seconds(600));
    // Slot 2: held later, still active at sweep time.
    let _h2 = env.reserve_ok("demo", &ids[2], "", "").await;
    env.advance(chrono::TimeDelta::seconds(400));
    let Answer(s, _) = env
        .book_held("demo", &ids[1], "k1", h1["token"].as_str().unwrap())
        .await;
    assert_eq!(
        s, 200,
        "an untouched lapsed hold can still be booked by its holder"
    );
    let released = env.booket.sweep_expired_holds().await.unwrap();
    assert_eq!(released, 1);
    assert_eq!(env.event(&event_id_of(&ids[0])).subject, "Borgersamtale");
    assert_eq!(
        env.event(&event_id_of(&ids[1])).subject,
        "Borgersamtale - Booket"
    );
    assert_eq!(
        env.event(&event_id_of(&ids[2])).subject,
        "Borgersamtale - Reserveret"
    );
    let _ = h0;
}

#[tokio::test]
async fn a_hold_made_by_hand_in_outlook_is_never_swept_or_taken() {
    let env = Env::start().await;
    let slot = a_free_slot(&env).await;
    env.sim
        .staff_set_subject(&event_id_of(&slot), "Borgersamtale - Reserveret");
    // Long after any hold of ours would have lapsed.
    env.advance(chrono::TimeDelta::hours(2));
    assert_eq!(env.booket.sweep_expired_holds().await.unwrap(), 0);
    let Answer(s, _) = env.reserve("demo", &slot, "", "").await;
    assert_eq!(s, 409);
}

#[tokio::test]
async fn one_token_holds_one_slot_per_element() {
    let env = Env::start().await;
    let week = env.week_ok("demo", "2026-12-02").await;
    let free = slots_in_state(&week, "free");
    let (a, b) = (
        free[0]["id"].as_str().unwrap(),
        free[1]["id"].as_str().unwrap(),
    );
    let hold = env.reserve_ok("demo", a, "", "").await;
    let token = hold["token"].as_str().unwrap().to_owned();
    // A script that keeps its token and never says what to give back still holds one.
    let Answer(status, _) = env.reserve("demo", b, &token, "").await;
    assert_eq!(status, 200);
    assert_eq!(env.event(&event_id_of(a)).subject, "Borgersamtale");
    assert!(hold_of(&env, b).unwrap().is_owned_by(&token));
}

#[tokio::test]
async fn a_hold_is_extended_at_most_to_its_longest_lifetime() {
    // hold 15 min, at most 30 min in all.
    let env = Env::start().await;
    let slot = a_free_slot(&env).await;
    let hold = env.reserve_ok("demo", &slot, "", "").await;
    let token = hold["token"].as_str().unwrap().to_owned();
    let start = env.now;
    env.advance(chrono::TimeDelta::minutes(14));
    let Answer(status, hold) = env.reserve("demo", &slot, &token, "").await;
    assert_eq!(status, 200);
    assert_eq!(hold["seconds_left"], 900);
    // Near the end of its 30 minutes, an extension reaches only to them.
    env.advance(chrono::TimeDelta::seconds(28 * 60 + 30 - 14 * 60));
    let Answer(status, hold) = env.reserve("demo", &slot, &token, "").await;
    assert_eq!(status, 200);
    assert_eq!(hold["seconds_left"], 90);
    assert_eq!(
        hold_of(&env, &slot).unwrap().expires,
        start + chrono::TimeDelta::minutes(30)
    );
    // With less than a minute left, extending is refused with a clear message.
    env.advance(chrono::TimeDelta::seconds(60));
    let Answer(status, body) = env.reserve("demo", &slot, &token, "").await;
    assert_eq!(
        (status, body),
        (409, serde_json::json!({"error": "hold_limit"}))
    );
    // Booking it still works.
    let Answer(status, _) = env.book_held("demo", &slot, "k", &token).await;
    assert_eq!(status, 200);
}
