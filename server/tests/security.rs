//! Hardening through the real server: origins, rate limits, headers.

mod support;

use support::{event_id_of, slots_in_state, Answer, Env, Options};

async fn reserve_from(env: &Env, origin: Option<&str>, slot: &str) -> reqwest::Response {
    env.reserve_with(origin.map(|o| ("origin", o)), slot).await
}

#[tokio::test]
async fn calls_from_origins_that_are_not_allowed_are_refused_before_anything_runs() {
    let env = Env::start_with(Options::default(), |c| {
        c.server.allowed_origins = vec!["https://selvbetjening.kommune.dk".into()];
    })
    .await;
    let week = env.week_ok("demo", "2026-12-02").await;
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
    let week = env.week_ok("demo", "2026-12-02").await;
    let free = slots_in_state(&week, "free");
    for s in free.iter().take(3) {
        let res = reserve_from(&env, None, s["id"].as_str().unwrap()).await;
        assert_eq!(res.status().as_u16(), 200);
    }
    let res = reserve_from(&env, None, free[3]["id"].as_str().unwrap()).await;
    assert_eq!(res.status().as_u16(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // The answer says when, so the widget can say it in words.
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"error": "rate_limited", "retry_after": retry})
    );
    assert!(!env
        .event(&event_id_of(free[3]["id"].as_str().unwrap()))
        .subject
        .ends_with(" - Reserveret"));
    // Reading stays open.
    let Answer(s, _) = env.week("demo", "2026-12-02").await;
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

/// The two reads are served ahead of the router (web/reads.rs, `ReadsFirst`): they must
/// still carry every answer's headers — the API's (CORS for a listed page, `no-store`) and
/// everyone's (request id, security headers) — by GET and by POST, answered or refused.
/// A path that only resembles a read's goes to the router and is answered there.
#[tokio::test]
async fn the_reads_carry_every_answers_headers() {
    let page = "https://selvbetjening.kommune.dk";
    let env = Env::start_with(Options::default(), |c| {
        c.server.allowed_origins = vec![page.into()];
    })
    .await;
    let base = &env.base;
    let week = "form=demo&element=tid&week=2026-12-02&hold=";
    let calls = [
        ("week", true, week, 200),
        ("week", false, week, 200),
        ("element", true, "form=demo&element=tid", 200),
        ("element", false, "form=demo&element=tid", 200),
        // Refused (an unknown element): the same headers.
        ("element", true, "form=demo&element=nope", 404),
    ];
    for (name, get, args, status) in calls {
        let url = format!("{base}/api/{name}");
        let req = if get {
            env.http.get(format!("{url}?{args}"))
        } else {
            env.http
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(args)
        };
        let res = req.header("origin", page).send().await.unwrap();
        assert_eq!(res.status().as_u16(), status, "{name} {args}");
        let h = res.headers();
        let what = format!(
            "{name} by {} ({args}): {h:?}",
            if get { "GET" } else { "POST" }
        );
        assert_eq!(h["access-control-allow-origin"], page, "{what}");
        assert!(
            h.get_all("vary")
                .iter()
                .any(|v| v.to_str().unwrap().contains("origin")),
            "{what}"
        );
        assert_eq!(h["cache-control"], "no-store", "{what}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
        assert_eq!(h["x-frame-options"], "DENY", "{what}");
        assert_eq!(
            h["referrer-policy"], "strict-origin-when-cross-origin",
            "{what}"
        );
        assert!(h.contains_key("x-request-id"), "{what}");
    }
    // Near misses are the router's: not a read, answered in the API's typed shape.
    for path in ["/api/week/", "/api/weeks", "/api//week"] {
        let res = env
            .http
            .post(format!("{base}{path}"))
            .form(&[("form", "demo"), ("element", "tid")])
            .send()
            .await
            .unwrap();
        let Answer(status, body) = Answer::of(res).await;
        assert_eq!(
            (status, &body),
            (
                400,
                &serde_json::json!({"error": "invalid", "field": "function"})
            ),
            "{path}"
        );
    }
}

async fn post_with(env: &Env, path: &str, headers: &[(&str, &[u8])]) -> reqwest::Response {
    let mut req = env
        .http
        .post(format!("{}{path}", env.base))
        .form(&[("form", "demo"), ("element", "tid")]);
    for (name, value) in headers {
        req = req.header(
            *name,
            reqwest::header::HeaderValue::from_bytes(value).unwrap(),
        );
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn same_origin_comes_from_public_url_not_from_the_host_a_client_names() {
    let env = Env::start_with(Options::default(), |c| {
        c.server.public_url = "https://booking.kommune.dk".into();
        c.server.public_url_configured = true;
    })
    .await;
    // A page on evil.example that names itself as Host is not "same origin".
    let res = post_with(
        &env,
        "/api/element",
        &[
            ("origin", b"https://evil.example"),
            ("host", b"evil.example"),
        ],
    )
    .await;
    assert_eq!(res.status().as_u16(), 403);
    // Booket's own public origin is.
    let res = post_with(
        &env,
        "/api/element",
        &[("origin", b"https://booking.kommune.dk")],
    )
    .await;
    assert_eq!(res.status().as_u16(), 200);
    // An Origin that cannot be read fails closed.
    let res = post_with(&env, "/api/element", &[("origin", b"https://b\xf8ger.dk")]).await;
    assert_eq!(res.status().as_u16(), 403);
    // No Origin at all: not a browser page (curl, a form backend): CORS is not its concern.
    let res = post_with(&env, "/api/element", &[]).await;
    assert_eq!(res.status().as_u16(), 200);
}

#[tokio::test]
async fn a_request_id_is_kept_only_when_it_is_a_short_token() {
    let env = Env::start().await;
    let res = post_with(&env, "/api/element", &[("x-request-id", b"proxy-42.abc")]).await;
    assert_eq!(res.headers()["x-request-id"], "proxy-42.abc");
    let long = "x".repeat(200);
    for bad in [long.as_bytes(), b"a b\tc", b"\"injected\" level=error"] {
        let res = post_with(&env, "/api/element", &[("x-request-id", bad)]).await;
        let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_ne!(id.as_bytes(), bad);
        assert!(id.len() <= 64 && !id.contains(' '), "{id}");
    }
}

#[tokio::test]
async fn metrics_need_the_token_or_the_private_listener() {
    let env = Env::start_with(
        Options {
            serve: true,
            ..Options::default()
        },
        |c| {
            c.server.metrics_token = Some("metrics-token-0123456789abcdef-0123456789".into());
            c.server.private_listen = Some("127.0.0.1:0".parse().unwrap());
        },
    )
    .await;
    let url = format!("{}/metrics", env.base);
    let res = env.http.get(&url).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 401);
    let res = env
        .http
        .get(&url)
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
    let res = env
        .http
        .get(&url)
        .bearer_auth("metrics-token-0123456789abcdef-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert!(res.text().await.unwrap().contains("booket_holds_stuck"));
    let private = format!("http://{}/metrics", env.metrics_addr.unwrap());
    let res = env.http.get(&private).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);

    // Without a token /metrics is not on the public listener at all.
    let env = Env::start_with(
        Options {
            serve: true,
            ..Options::default()
        },
        |_| {},
    )
    .await;
    let res = env.metrics_response().await;
    assert_ne!(res.status().as_u16(), 200);
}

/// Why `booket serve` (no demo) refuses to start with the demo's configuration after
/// `tweak`.
async fn serve_refused(tweak: impl FnOnce(&mut server::config::Config)) -> String {
    let sim = server::sim::Simulator::demo(support::monday_11(), Default::default());
    sim.spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let mut config = server::demo::demo_config(&sim, "127.0.0.1:0".parse().unwrap());
    tweak(&mut config);
    let started = server::Server::build(
        config,
        None,
        std::env::temp_dir(),
        server::booking::system_clock(),
        None,
    )
    .await;
    started
        .err()
        .expect("the server must not start")
        .to_string()
}

#[tokio::test]
async fn booket_serve_refuses_to_start_without_a_slot_key() {
    let err = serve_refused(|c| assert!(c.server.slot_key.is_none())).await;
    assert!(err.contains("slot_key"), "{err}");
}

#[tokio::test]
async fn booket_serve_refuses_to_start_without_a_receipt_key() {
    let err = serve_refused(|c| {
        c.server.slot_key = Some("test-slot-key-0123456789abcdef-0123".into());
        c.receipts.signing_key = None;
    })
    .await;
    assert!(err.contains("[receipts] signing_key"), "{err}");
}
