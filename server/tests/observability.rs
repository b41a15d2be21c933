//! Metrics and request ids.

mod common;

use common::{slots_in_state, Env};

fn value(metrics: &str, line_start: &str) -> u64 {
    metrics
        .lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn metrics_count_functions_graph_calls_holds_bookings_and_cache_hits() {
    let env = Env::start().await;
    let (_, week) = env.week("demo", "2026-12-02").await;
    env.week("demo", "2026-12-02").await;
    let slot = slots_in_state(&week, "free")[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, hold) = env.reserve("demo", &slot, "", "").await;
    env.book_held("demo", &slot, "k", hold["token"].as_str().unwrap())
        .await;
    env.book("demo", &slot, "other").await;
    let res = env
        .http
        .get(format!("{}/metrics", env.base))
        .send()
        .await
        .unwrap();
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let m = res.text().await.unwrap();
    assert_eq!(
        value(&m, r#"booket_requests_total{function="week",status="200"}"#),
        2,
        "{m}"
    );
    assert_eq!(
        value(&m, r#"booket_requests_total{function="book",status="409"}"#),
        1,
        "{m}"
    );
    assert_eq!(
        value(&m, r#"booket_bookings_total{outcome="booked"}"#),
        1,
        "{m}"
    );
    assert_eq!(
        value(&m, r#"booket_bookings_total{outcome="taken"}"#),
        1,
        "{m}"
    );
    assert_eq!(
        value(&m, r#"booket_holds_total{outcome="reserved"}"#),
        1,
        "{m}"
    );
    assert_eq!(
        value(&m, r#"booket_week_cache_total{result="miss"}"#),
        1,
        "{m}"
    );
    assert_eq!(
        value(&m, r#"booket_week_cache_total{result="hit"}"#),
        1,
        "{m}"
    );
    let graph_200 = value(&m, r#"booket_graph_requests_total{status="200"}"#);
    let sim = env.sim.stats();
    assert_eq!(
        graph_200, sim.graph_requests,
        "every Graph request counted: {m}"
    );
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let env = Env::start().await;
    let element = || {
        env.http
            .post(format!("{}/api/element", env.base))
            .form(&[("form", "demo"), ("element", "tid")])
    };
    let res = element().send().await.unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let (prefix, n) = id.split_once('-').unwrap();
    assert!(
        prefix.len() == 16 && u64::from_str_radix(prefix, 16).is_ok(),
        "{id}"
    );
    assert!(u64::from_str_radix(n, 16).is_ok(), "{id}");
    // The next answer gets another id.
    let next = element().send().await.unwrap();
    assert_ne!(next.headers()["x-request-id"].to_str().unwrap(), id);
    // A proxy's id is kept.
    let res = element()
        .header("x-request-id", "proxy-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "proxy-123");
}
