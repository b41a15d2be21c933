//! Metrics and request ids.

mod support;

use support::{metric_value as value, slot_id, Answer, Env};

#[tokio::test]
async fn metrics_count_functions_graph_calls_holds_bookings_and_cache_hits() {
    let env = Env::start().await;
    let Answer(status, week) = env.week("demo", "2026-12-02").await;
    assert_eq!(status, 200, "{week}");
    assert_eq!(env.week("demo", "2026-12-02").await.0, 200);
    let slot = slot_id(&week, "free", 0);
    let Answer(status, hold) = env.reserve("demo", &slot, "", "").await;
    assert_eq!(status, 200, "{hold}");
    let Answer(status, receipt) = env
        .book_held("demo", &slot, "k", hold["token"].as_str().unwrap())
        .await;
    assert_eq!(status, 200, "{receipt}");
    let Answer(status, body) = env.book("demo", &slot, "other").await;
    assert_eq!(status, 409, "{body}");
    let res = env.metrics_response().await;
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let m = res.text().await.unwrap();
    for (series, want) in [
        (r#"booket_requests_total{function="week",status="200"}"#, 2),
        (r#"booket_requests_total{function="book",status="409"}"#, 1),
        (r#"booket_bookings_total{outcome="booked"}"#, 1),
        (r#"booket_bookings_total{outcome="taken"}"#, 1),
        (r#"booket_holds_total{outcome="reserved"}"#, 1),
        (r#"booket_week_cache_total{result="miss"}"#, 1),
        (r#"booket_week_cache_total{result="hit"}"#, 1),
    ] {
        assert_eq!(value(&m, series), want, "{series}\n{m}");
    }
    let graph_200 = value(&m, r#"booket_graph_requests_total{status="200"}"#);
    let sim = env.sim.stats();
    assert_eq!(
        graph_200, sim.graph_requests,
        "every Graph request counted: {m}"
    );
}

/// EWS calls are counted beside Graph's: by status, busy answers, retries and NTLM logons.
#[tokio::test]
async fn metrics_count_ews_calls_busy_answers_retries_and_logons() {
    let env = Env::start().await;
    let Answer(status, week) = env.week("jobcenter", "2026-12-02").await;
    assert_eq!(status, 200, "{week}");
    let slot = slot_id(&week, "free", 0);
    // Exchange is busy once: waited out and sent again.
    env.sim.set_faults(server::sim::model::Faults {
        throttle_next: 1,
        retry_after: Some("0".into()),
        ..Default::default()
    });
    let Answer(status, _) = env.book("jobcenter", &slot, "k-ews-metrics").await;
    assert_eq!(status, 200);
    let m = env.metrics().await;
    let sim = env.sim.stats();
    let ok = value(&m, r#"booket_ews_requests_total{status="200"}"#);
    let busy = value(&m, r#"booket_ews_requests_total{status="500"}"#);
    assert_eq!(busy, 1, "the busy answer is a SOAP fault with 500: {m}");
    assert_eq!(value(&m, "booket_ews_busy_total"), 1, "{m}");
    assert_eq!(value(&m, "booket_ews_retries_total"), 1, "{m}");
    assert!(value(&m, "booket_ews_logons_total") >= 1, "{m}");
    assert_eq!(
        value(&m, "booket_ews_logons_total"),
        sim.ews_logons,
        "every logon counted: {m}"
    );
    // Every EWS request the simulator answered past its front door, counted once.
    assert_eq!(ok + busy, sim.ews_requests - sim.ews_unauthorized, "{m}");
    assert_eq!(
        value(&m, r#"booket_graph_requests_total{status="200"}"#),
        0,
        "{m}"
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
