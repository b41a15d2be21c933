//! Simulator faults through the real server: the citizen is told the truth and the
//! calendar stays consistent. (More rows of the fault matrix (docs/contributors/testing.md) live in backends.rs
//! — on both backends — graph.rs, documents.rs, bad_input.rs and processes.rs.)

mod support;

use server::sim::model::Faults;
use support::{event_id_of, slot_id, Answer, Env};

#[tokio::test]
async fn the_token_endpoint_down_is_reported_and_recovered_from() {
    let env = Env::start().await;
    env.sim.set_faults(Faults {
        token_down: true,
        ..Faults::default()
    });
    let Answer(s, body) = env.week("demo", "2026-12-02").await;
    assert_eq!(
        (s, body),
        (503, serde_json::json!({"error": "unavailable"}))
    );
    env.sim.set_faults(Faults::default());
    let Answer(s, week) = env.week("demo", "2026-12-02").await;
    assert_eq!(s, 200);
    let slot = slot_id(&week, "free", 0);
    let Answer(s, _) = env.book("demo", &slot, "k").await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn a_secret_that_expires_while_running_stops_writes_cleanly() {
    let env = Env::start().await;
    let slot = env.free_slot("demo", 0).await;
    // The cached token dies and the secret can no longer get a new one.
    env.sim.set_secrets_expired(true);
    env.sim.expire_tokens();
    let Answer(s, body) = env.book("demo", &slot, "k").await;
    assert_eq!(
        (s, body),
        (503, serde_json::json!({"error": "unavailable"}))
    );
    assert_eq!(env.event(&event_id_of(&slot)).subject, "Borgersamtale");
    assert_eq!(env.sim.stats().event_patches, 0);
}
