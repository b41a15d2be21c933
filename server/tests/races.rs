//! Race proof (docs/contributors/testing.md): many citizens on one slot, two server
//! instances, one simulator — exactly one booking (or hold), one marker, nothing lost. One
//! parameterised race: 200 citizens on 20 slots booking and reserving on Graph, 10 on EWS,
//! and two with the simulator slowed so both write with the same etag.

mod support;

use server::booking::hold::HoldInfo;
use server::graph::HOLD_PROPERTY;
use server::sim::model::Faults;
use support::{Answer, Backend, Env, Options, BACKENDS};

async fn two_instances() -> (Env, Env) {
    // One client address sends all of it: lift the per-client limit for this test.
    let env = Env::start_with(Options::default(), |c| {
        c.server.rate_limit_per_minute = 1_000_000
    })
    .await;
    let other = env.second_instance().await;
    (env, other)
}

/// The first `n` free slot ids of `backend` from the week of 2 December on.
async fn free_slots(env: &Env, backend: Backend, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for week in ["2026-12-02", "2026-12-09", "2026-12-16"] {
        let w = env.week_ok(backend.form, week).await;
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

/// Sends the same call for one slot from `r.racers` clients at once, alternating between
/// the two instances; returns each answer.
async fn race(a: &Env, b: &Env, r: &Race, slot: &str, round: usize) -> Vec<Answer> {
    let mut tasks = Vec::with_capacity(r.racers);
    for i in 0..r.racers {
        let (base, http) = if i % 2 == 0 {
            (a.base.clone(), a.http.clone())
        } else {
            (b.base.clone(), b.http.clone())
        };
        let (slot, url) = (slot.to_owned(), format!("{base}/api/{}", r.function));
        let form = r.backend.form;
        tasks.push(tokio::spawn(async move {
            let key = format!("r{round}-c{i}");
            let res = http
                .post(url)
                .form(&[
                    ("form", form),
                    ("element", "tid"),
                    ("slot_id", slot.as_str()),
                    ("idempotency_key", key.as_str()),
                ])
                .send()
                .await
                .unwrap();
            Answer(
                res.status().as_u16(),
                res.json::<serde_json::Value>().await.unwrap(),
            )
        }));
    }
    let mut out = Vec::with_capacity(r.racers);
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// One race: `racers` citizens at once on each of `rounds` slots of `backend`, calling
/// `function` (book or reserve) alternately through two instances; the simulator's calls
/// slowed by `latency_ms` keep every instance's read ahead of every write.
struct Race {
    function: &'static str,
    backend: Backend,
    racers: usize,
    rounds: usize,
    latency_ms: u64,
}

impl Race {
    fn new(
        function: &'static str,
        backend: Backend,
        racers: usize,
        rounds: usize,
        latency_ms: u64,
    ) -> Race {
        Race {
            function,
            backend,
            racers,
            rounds,
            latency_ms,
        }
    }
}

/// Exactly one citizen wins each slot, every other one is told "taken", the event carries
/// one marker (and, for a hold, the winner's record), and nothing is lost or extra.
async fn exactly_one_wins(r: Race) {
    let (a, b) = two_instances().await;
    let slots = free_slots(&a, r.backend, r.rounds).await;
    a.sim.set_faults(Faults {
        latency_ms: r.latency_ms,
        ..Faults::default()
    });
    let marker = if r.function == "book" {
        " - Booket"
    } else {
        " - Reserveret"
    };
    let marked = |env: &Env| {
        env.sim
            .calendar_events(r.backend.calendar)
            .iter()
            .filter(|e| e.subject.ends_with(marker))
            .count()
    };
    let before = marked(&a);
    for (round, slot) in slots.iter().enumerate() {
        let mut winners = Vec::new();
        let mut taken = 0;
        for Answer(status, body) in race(&a, &b, &r, slot, round).await {
            match status {
                200 if r.function == "book" => {
                    assert_eq!(body["state"], "booked");
                    winners.push(String::new());
                }
                200 => winners.push(body["token"].as_str().unwrap().to_owned()),
                409 => {
                    assert_eq!(body["error"], "taken");
                    taken += 1;
                }
                other => panic!("round {round}: unexpected {other} {body}"),
            }
        }
        assert_eq!((winners.len(), taken), (1, r.racers - 1), "round {round}");
        let event = r.backend.event(&a, slot);
        assert_eq!(event.subject.matches(marker).count(), 1, "round {round}");
        if r.function == "reserve" {
            let hold = event
                .properties
                .iter()
                .find(|(id, _)| id == HOLD_PROPERTY)
                .and_then(|(_, v)| HoldInfo::parse(v))
                .expect("a hold");
            assert!(hold.is_owned_by(&winners[0]), "round {round}: the winner's");
        }
    }
    assert_eq!(marked(&a) - before, r.rounds, "nothing lost, nothing extra");
}

/// 200 citizens on each of 20 slots, booking and reserving, on Graph; 10 on one EWS slot
/// (its ChangeKey decides); and two with the simulator slowed so that both instances write
/// with the same etag and the If-Match check lets exactly one through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_citizens_on_one_slot_through_two_instances_exactly_one_wins() {
    for race in [
        Race::new("book", BACKENDS[0], 200, 20, 0),
        Race::new("reserve", BACKENDS[0], 200, 20, 0),
        Race::new("book", BACKENDS[1], 10, 1, 0),
        Race::new("book", BACKENDS[0], 2, 1, 150),
    ] {
        exactly_one_wins(race).await;
    }
}
