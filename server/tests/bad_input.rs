//! Malformed and hostile requests get a clear 4xx and change nothing.

mod support;

use server::sim::model::Faults;
use support::{slot_id, Answer, Env};

#[tokio::test]
async fn bad_input_gives_4xx_and_changes_nothing() {
    let env = Env::start().await;
    let week = env.week_ok("demo", "2026-12-02").await;
    let free = slot_id(&week, "free", 0);
    let weekend_week = env.week_ok("weekend", "2026-12-02").await;
    let foreign = slot_id(&weekend_week, "free", 0);
    let forged = {
        let mut parts: Vec<String> = free.split('.').map(str::to_owned).collect();
        parts[1] = (parts[1].parse::<i64>().unwrap() + 1800).to_string();
        parts.join(".")
    };
    let before = env.events();
    let long = "x".repeat(5000);

    // (function, arguments, expected status, expected error)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        ("book", book_args(&forged, "k1"), 400, "invalid_slot"),
        ("book", book_args(&foreign, "k2"), 400, "invalid_slot"),
        ("book", book_args("not-a-slot", "k3"), 400, "invalid_slot"),
        (
            "book",
            vec![
                ("form", "nope"),
                ("element", "tid"),
                ("slot_id", &free),
                ("idempotency_key", "k4"),
            ],
            404,
            "unknown_element",
        ),
        (
            "book",
            vec![("form", "demo"), ("element", "tid"), ("slot_id", &free)],
            400,
            "invalid",
        ),
        ("book", book_args(&free, ""), 400, "invalid"),
        (
            "book",
            vec![
                ("form", "demo\u{0}"),
                ("element", "tid"),
                ("slot_id", &free),
                ("idempotency_key", "k5"),
            ],
            400,
            "invalid",
        ),
        (
            "week",
            vec![("form", "demo"), ("element", "tid"), ("week", "2026-13-45")],
            400,
            "invalid",
        ),
        (
            "week",
            vec![("form", "demo"), ("element", "<script>"), ("week", "")],
            404,
            "unknown_element",
        ),
        ("week", vec![("form", "demo")], 400, "invalid"),
        (
            "element",
            vec![("form", long.as_str()), ("element", "tid")],
            400,
            "invalid",
        ),
        ("nonexistent", vec![("form", "demo")], 400, "invalid"),
    ];
    for (function, args, status, error) in cases {
        let Answer(s, body) = env.call(function, &args).await;
        assert_eq!(s, status, "{function} {args:?} → {body}");
        assert_eq!(body["error"], error, "{function} {args:?} → {body}");
    }

    // A body over the limit is refused before it is read.
    let huge = "a".repeat(200 * 1024);
    let res = env
        .http
        .post(format!("{}/api/book", env.base))
        .form(&[
            ("form", "demo"),
            ("element", "tid"),
            ("slot_id", &huge),
            ("idempotency_key", "k"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 413);

    // Invalid UTF-8 and a wrong content type.
    for (ct, body) in [
        (
            "application/x-www-form-urlencoded",
            b"form=%FF%FE&element=tid".to_vec(),
        ),
        ("application/json", br#"{"form":"demo"}"#.to_vec()),
    ] {
        let res = env
            .http
            .post(format!("{}/api/element", env.base))
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_client_error(), "{ct}: {}", res.status());
    }

    // The same idempotency key may not book a second slot.
    let Answer(s, _) = env.book("demo", &free, "reused").await;
    assert_eq!(s, 200);
    let other = slot_id(&week, "free", 1);
    let Answer(s, body) = env.book("demo", &other, "reused").await;
    assert_eq!(
        (s, body["error"].as_str()),
        (400, Some("invalid")),
        "{body}"
    );

    // Exactly one write happened: the valid booking.
    assert_eq!(env.sim.stats().event_patches, 1);
    let changed: Vec<_> = env
        .events()
        .into_iter()
        .zip(before)
        .filter(|(after, before)| after.subject != before.subject)
        .collect();
    assert_eq!(changed.len(), 1);
}

#[tokio::test]
async fn a_throttled_graph_is_waited_out_behind_the_server() {
    let env = Env::start().await;
    env.sim.set_faults(Faults {
        throttle_next: 2,
        retry_after: Some("0.2".into()),
        ..Faults::default()
    });
    let Answer(s, week) = env.week("demo", "").await;
    assert_eq!(s, 200, "{week}");
    assert_eq!(env.sim.stats().throttled, 2);
}

#[tokio::test]
async fn a_lasting_outage_is_reported_as_temporarily_unavailable() {
    let env = Env::start().await;
    env.sim.set_faults(Faults {
        fail_next: vec![503; 20],
        ..Faults::default()
    });
    let Answer(s, body) = env.week("demo", "").await;
    assert_eq!(
        (s, body),
        (503, serde_json::json!({"error": "unavailable"}))
    );
}

/// A booking's arguments for `slot` with idempotency key `key`.
fn book_args<'a>(slot: &'a str, key: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("form", "demo"),
        ("element", "tid"),
        ("slot_id", slot),
        ("idempotency_key", key),
    ]
}
