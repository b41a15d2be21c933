//! Hardening through the real server: origins, rate limits, headers.

mod common;

use common::{event_id_of, slots_in_state, Env, Options};

async fn reserve_from(env: &Env, origin: Option<&str>, slot: &str) -> reqwest::Response {
    let mut req = env.http.post(format!("{}/api/reserve", env.base)).form(&[
        ("form", "demo"),
        ("element", "tid"),
        ("slot_id", slot),
    ]);
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn calls_from_origins_that_are_not_allowed_are_refused_before_anything_runs() {
    let env = Env::start_with(Options::default(), |c| {
        c.server.allowed_origins = vec!["https://selvbetjening.kommune.dk".into()];
    })
    .await;
    let (_, week) = env.week("demo", "2026-12-02").await;
    let free = slots_in_state(&week, "free");
    let slot = free[0]["id"].as_str().unwrap();

    let res = reserve_from(&env, Some("https://evil.example"), slot).await;
    assert_eq!(res.status().as_u16(), 403);
    assert!(res.headers().get("access-control-allow-origin").is_none());
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"error": "forbidden_origin"})
    );
    assert_eq!(env.sim.stats().event_patches, 0, "nothing ran");

    // The listed origin may, and gets the CORS answer (without credentials).
    let res = reserve_from(&env, Some("https://selvbetjening.kommune.dk"), slot).await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://selvbetjening.kommune.dk"
    );
    assert!(res
        .headers()
        .get("access-control-allow-credentials")
        .is_none());

    // Same origin (as the Host header names it) needs no listing.
    let host = env.base.trim_start_matches("http://").to_owned();
    let other = free[1]["id"].as_str().unwrap();
    let res = reserve_from(&env, Some(&format!("http://{host}")), other).await;
    assert_eq!(res.status().as_u16(), 200);
    assert!(env
        .event(&event_id_of(other))
        .subject
        .ends_with(" - Reserveret"));
}

#[tokio::test]
async fn writes_are_rate_limited_per_client_with_a_clear_error() {
    let env = Env::start_with(Options::default(), |c| c.server.rate_limit_per_minute = 3).await;
    let (_, week) = env.week("demo", "2026-12-02").await;
    let free = slots_in_state(&week, "free");
    for s in free.iter().take(3) {
        let res = reserve_from(&env, None, s["id"].as_str().unwrap()).await;
        assert_eq!(res.status().as_u16(), 200);
    }
    let res = reserve_from(&env, None, free[3]["id"].as_str().unwrap()).await;
    assert_eq!(res.status().as_u16(), 429);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"error": "rate_limited"})
    );
    assert!(!env
        .event(&event_id_of(free[3]["id"].as_str().unwrap()))
        .subject
        .ends_with(" - Reserveret"));
    // Reading stays open.
    let (s, _) = env.week("demo", "2026-12-02").await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn responses_carry_the_security_headers() {
    let env = Env::start().await;
    let page = env.http.get(format!("{}/", env.base)).send().await.unwrap();
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self' 'wasm-unsafe-eval'")
            && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    let api = env
        .http
        .post(format!("{}/api/element", env.base))
        .form(&[("form", "demo"), ("element", "tid")])
        .send()
        .await
        .unwrap();
    assert_eq!(api.headers()["cache-control"], "no-store");
    assert_eq!(api.headers()["x-content-type-options"], "nosniff");
}
