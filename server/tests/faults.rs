//! Simulator faults through the real server: the citizen is told the truth and the
//! calendar stays consistent. (More rows of the README's fault matrix live in graph.rs,
//! documents.rs, bad_input.rs and processes.rs.)

mod common;

use common::{event_id_of, slots_in_state, Env};
use server::sim::model::Faults;

#[tokio::test]
async fn the_token_endpoint_down_is_reported_and_recovered_from() {
    let env = Env::start().await;
    env.sim.set_faults(Faults {
        token_down: true,
        ..Faults::default()
    });
    let (s, body) = env.week("demo", "2026-12-02").await;
    assert_eq!(
        (s, body),
        (503, serde_json::json!({"error": "unavailable"}))
    );
    env.sim.set_faults(Faults::default());
    let (s, week) = env.week("demo", "2026-12-02").await;
    assert_eq!(s, 200);
    let slot = slots_in_state(&week, "free")[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, _) = env.book("demo", &slot, "k").await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn a_secret_that_expires_while_running_stops_writes_cleanly() {
    let env = Env::start().await;
    let (_, week) = env.week("demo", "2026-12-02").await;
    let slot = slots_in_state(&week, "free")[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The cached token dies and the secret can no longer get a new one.
    env.sim.set_secrets_expired(true);
    env.sim.expire_tokens();
    let (s, body) = env.book("demo", &slot, "k").await;
    assert_eq!(
        (s, body),
        (503, serde_json::json!({"error": "unavailable"}))
    );
    assert_eq!(env.event(&event_id_of(&slot)).subject, "Borgersamtale");
    assert_eq!(env.sim.stats().event_patches, 0);
}

#[tokio::test]
async fn a_booking_whose_answer_was_lost_is_recognised_on_the_retry() {
    let env = Env::start().await;
    let other = env.second_instance().await;
    let (_, week) = env.week("demo", "2026-12-02").await;
    let slot = slots_in_state(&week, "free")[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The PATCH is carried out but its answer never arrives.
    env.sim.set_faults(Faults {
        drop_answer_of_next_write: 1,
        ..Faults::default()
    });
    let (s, body) = env.book("demo", &slot, "k").await;
    assert_eq!(
        (s, body),
        (503, serde_json::json!({"error": "unavailable"})),
        "not replayed blindly"
    );
    assert_eq!(
        env.event(&event_id_of(&slot)).subject,
        "Borgersamtale - Booket"
    );
    // The citizen's retry (same key) — even on another instance — learns it is booked for them.
    let (s, receipt) = other.book("demo", &slot, "k").await;
    assert_eq!(s, 200, "{receipt}");
    assert_eq!(receipt["state"], "booked");
    // Anyone else is told it is taken.
    let (s, _) = other.book("demo", &slot, "someone-else").await;
    assert_eq!(s, 409);
    assert_eq!(
        env.event(&event_id_of(&slot))
            .subject
            .matches(" - Booket")
            .count(),
        1
    );
}
