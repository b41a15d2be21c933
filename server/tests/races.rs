//! Race proof (docs/contributors/testing.md): many citizens on one slot, two server instances, one simulator —
//! exactly one booking (or hold), one marker, nothing lost. Repeated on 20 slots.

mod common;

use common::{event_id_of, Env, Options};
use server::booking::hold::HoldInfo;
use server::graph::HOLD_PROPERTY;

const CITIZENS: usize = 200;
const ROUNDS: usize = 20;

async fn two_instances() -> (Env, Env) {
    // One client address sends all of it: lift the per-client limit for this test.
    let env = Env::start_with(Options::default(), |c| {
        c.server.rate_limit_per_minute = 1_000_000
    })
    .await;
    let other = env.second_instance().await;
    (env, other)
}

/// The first `n` free slot ids from the week of 2 December on.
async fn free_slots(env: &Env, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for week in ["2026-12-02", "2026-12-09", "2026-12-16"] {
        let w = env.week_ok("demo", week).await;
        out.extend(
            w["slots"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["state"] == "free")
                .map(|s| s["id"].as_str().unwrap().to_owned()),
        );
    }
    assert!(out.len() >= n, "only {} free slots", out.len());
    out.truncate(n);
    out
}

/// Sends the same call for one slot from `CITIZENS` clients at once, alternating between the
/// two instances; returns each (status, body).
async fn race(
    a: &Env,
    b: &Env,
    function: &str,
    slot: &str,
    round: usize,
) -> Vec<(u16, serde_json::Value)> {
    let mut tasks = Vec::with_capacity(CITIZENS);
    for i in 0..CITIZENS {
        let (base, http) = if i % 2 == 0 {
            (a.base.clone(), a.http.clone())
        } else {
            (b.base.clone(), b.http.clone())
        };
        let (slot, url) = (slot.to_owned(), format!("{base}/api/{function}"));
        tasks.push(tokio::spawn(async move {
            let key = format!("r{round}-c{i}");
            let res = http
                .post(url)
                .form(&[
                    ("form", "demo"),
                    ("element", "tid"),
                    ("slot_id", slot.as_str()),
                    ("idempotency_key", key.as_str()),
                ])
                .send()
                .await
                .unwrap();
            (
                res.status().as_u16(),
                res.json::<serde_json::Value>().await.unwrap(),
            )
        }));
    }
    let mut out = Vec::with_capacity(CITIZENS);
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_citizens_book_one_slot_through_two_instances_exactly_once() {
    let (a, b) = two_instances().await;
    let slots = free_slots(&a, ROUNDS).await;
    let booked_before = a
        .events()
        .iter()
        .filter(|e| e.subject.ends_with(" - Booket"))
        .count();
    for (round, slot) in slots.iter().enumerate() {
        let mut ok = 0;
        let mut taken = 0;
        for answer in race(&a, &b, "book", slot, round).await {
            match answer {
                (200, body) => {
                    assert_eq!(body["state"], "booked");
                    ok += 1;
                }
                (409, body) => {
                    assert_eq!(body["error"], "taken");
                    taken += 1;
                }
                other => panic!("round {round}: unexpected {other:?}"),
            }
        }
        assert_eq!((ok, taken), (1, CITIZENS - 1), "round {round}");
        let event = a.event(&event_id_of(slot));
        assert_eq!(
            event.subject, "Borgersamtale - Booket",
            "round {round}: one marker"
        );
    }
    let booked_after = a
        .events()
        .iter()
        .filter(|e| e.subject.ends_with(" - Booket"))
        .count();
    assert_eq!(
        booked_after - booked_before,
        ROUNDS,
        "nothing lost, nothing extra"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_citizens_reserve_one_slot_through_two_instances_exactly_once() {
    let (a, b) = two_instances().await;
    let slots = free_slots(&a, ROUNDS).await;
    for (round, slot) in slots.iter().enumerate() {
        let mut winners = Vec::new();
        let mut taken = 0;
        for answer in race(&a, &b, "reserve", slot, round).await {
            match answer {
                (200, body) => winners.push(body["token"].as_str().unwrap().to_owned()),
                (409, _) => taken += 1,
                other => panic!("round {round}: unexpected {other:?}"),
            }
        }
        assert_eq!((winners.len(), taken), (1, CITIZENS - 1), "round {round}");
        let event = a.event(&event_id_of(slot));
        assert_eq!(
            event.subject, "Borgersamtale - Reserveret",
            "round {round}: one marker"
        );
        let hold = event
            .properties
            .iter()
            .find(|(id, _)| id == HOLD_PROPERTY)
            .and_then(|(_, v)| HoldInfo::parse(v))
            .expect("a hold");
        assert!(
            hold.is_owned_by(&winners[0]),
            "round {round}: the hold is the winner's"
        );
    }
}
