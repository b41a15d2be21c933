//! The Graph client against the simulator: tokens, errors, throttling, paging, limits.

mod support;

use server::exchange::timer::RecordingTimer;
use server::graph::HOLD_PROPERTY;
use server::graph::{AppCredentials, GraphClient, GraphError};
use server::sim::model::Faults;
use server::sim::seed;
use std::sync::Arc;
use std::time::Duration;
use support::{event_id_of, slots_in_state, Answer, Env, StatusOf};

fn client(env: &Env) -> GraphClient {
    env.graph_client()
}

fn creds(secret: &str) -> AppCredentials {
    AppCredentials {
        tenant_id: seed::DEMO_TENANT.into(),
        client_id: seed::DEMO_CLIENT_ID.into(),
        credential: secret.into(),
    }
}

async fn refusal(c: &GraphClient, creds: &AppCredentials) -> server::graph::TokenRefusal {
    match c.token(creds).await {
        Err(GraphError::TokenRefused(r)) => r,
        Err(other) => panic!("expected a token refusal, got {other}"),
        Ok(_) => panic!("expected a token refusal, got a token"),
    }
}

#[tokio::test]
async fn token_refusals_carry_entra_codes_and_the_likely_mistake() {
    let env = Env::start().await;
    let c = client(&env);
    let r = refusal(&c, &creds(seed::DEMO_SECRET_ID)).await;
    assert_eq!(
        (r.status, r.error.as_str(), r.codes.as_slice()),
        (401, "invalid_client", &[7000215][..])
    );
    assert!(
        r.likely_cause().contains("Secret ID"),
        "{}",
        r.likely_cause()
    );

    let r = refusal(&c, &creds("wrong")).await;
    assert_eq!(r.codes, vec![7000215]);

    let mut unknown_client = creds(seed::DEMO_SECRET);
    unknown_client.client_id = "00000000-0000-0000-0000-000000000000".into();
    let r = refusal(&c, &unknown_client).await;
    assert_eq!(r.codes, vec![700016]);
    assert!(r.likely_cause().contains("client id"));

    let mut unknown_tenant = creds(seed::DEMO_SECRET);
    unknown_tenant.tenant_id = "contoso.onmicrosoft.com".into();
    let r = refusal(&c, &unknown_tenant).await;
    assert_eq!(r.codes, vec![90002]);
    assert!(r.likely_cause().contains("tenant"));

    env.sim.set_secrets_expired(true);
    let r = refusal(&c, &creds(seed::DEMO_SECRET)).await;
    assert_eq!(r.codes, vec![7000222]);
    assert!(r.likely_cause().contains("expired"));
}

#[tokio::test]
async fn tokens_are_cached_and_refreshed_after_expiry() {
    let env = Env::start().await;
    let c = client(&env);
    let cr = creds(seed::DEMO_SECRET);
    c.list_calendars(&cr, seed::DEMO_OWNER).await.unwrap();
    c.list_calendars(&cr, seed::DEMO_OWNER).await.unwrap();
    assert_eq!(
        env.sim.stats().token_requests,
        1,
        "second call reuses the token"
    );
    // Graph now answers 401 for the cached token: the client gets a new one and retries once.
    env.sim.expire_tokens();
    c.list_calendars(&cr, seed::DEMO_OWNER).await.unwrap();
    assert_eq!(env.sim.stats().token_requests, 2);
}

#[tokio::test]
async fn concurrent_first_calls_share_one_token_request() {
    let env = Env::start().await;
    let c = std::sync::Arc::new(client(&env));
    let mut tasks = vec![];
    for _ in 0..20 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            c.token(&creds(seed::DEMO_SECRET)).await.is_ok()
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap());
    }
    assert_eq!(env.sim.stats().token_requests, 1);
}

/// A client whose waits are recorded instead of waited.
fn timed_client(env: &Env) -> (GraphClient, Arc<RecordingTimer>) {
    let timer = Arc::new(RecordingTimer::default());
    (client(env).with_timer(timer.clone()), timer)
}

#[tokio::test]
async fn throttling_and_unavailability_are_retried_honouring_retry_after() {
    let env = Env::start().await;
    let (c, timer) = timed_client(&env);
    let cr = creds(seed::DEMO_SECRET);
    for (retry_after, wait) in [("1", 1000), ("0.25", 250), ("2.128", 2128)] {
        env.sim.set_faults(Faults {
            throttle_next: 2,
            retry_after: Some(retry_after.into()),
            ..Faults::default()
        });
        c.list_calendars(&cr, seed::DEMO_OWNER).await.unwrap();
        assert_eq!(
            timer.take_waits(),
            vec![Duration::from_millis(wait); 2],
            "Retry-After {retry_after}"
        );
    }
    // 503 and 504 without Retry-After: exponential back-off.
    env.sim.set_faults(Faults {
        fail_next: vec![503, 504],
        ..Faults::default()
    });
    c.list_calendars(&cr, seed::DEMO_OWNER).await.unwrap();
    let waits = timer.take_waits();
    assert_eq!(waits.len(), 2, "{waits:?}");
    assert!(waits[1] >= waits[0], "{waits:?}");
}

/// The error of a calendar list while every answer is a 429 with this `Retry-After`.
async fn always_throttled(env: &Env, c: &GraphClient, retry_after: &str) -> GraphError {
    env.sim.set_faults(Faults {
        throttle_next: 100,
        retry_after: Some(retry_after.into()),
        ..Faults::default()
    });
    c.list_calendars(&creds(seed::DEMO_SECRET), seed::DEMO_OWNER)
        .await
        .unwrap_err()
}

#[tokio::test]
async fn throttling_beyond_the_budget_is_a_typed_error() {
    let env = Env::start().await;
    let (c, timer) = timed_client(&env);
    let err = always_throttled(&env, &c, "30").await;
    assert!(
        matches!(err, GraphError::Throttled { retry_after: Some(d) } if d == Duration::from_secs(30)),
        "{err}"
    );
    // 30 s is over the 5 s budget: it gave up at once instead of waiting past it.
    assert_eq!(timer.take_waits(), Vec::<Duration>::new());
    // Within the budget it waits, and gives up when the next wait would pass it.
    let err = always_throttled(&env, &c, "2").await;
    assert!(matches!(err, GraphError::Throttled { .. }), "{err}");
    assert_eq!(timer.take_waits(), vec![Duration::from_secs(2); 2]);
}

#[tokio::test]
async fn upload_chunks_honour_retry_after_too() {
    let env = Env::start().await;
    let (c, timer) = timed_client(&env);
    let cr = creds(seed::DEMO_SECRET);
    let event = env.events()[0].id.clone();
    let token_waits = timer.take_waits();
    assert!(token_waits.is_empty());
    env.sim.set_faults(Faults {
        throttle_uploads_next: 1,
        retry_after: Some("3".into()),
        ..Faults::default()
    });
    let big = vec![b'x'; server::graph::SMALL_ATTACHMENT_LIMIT + 10];
    let id = c
        .add_attachment(
            &cr,
            seed::DEMO_OWNER,
            &event,
            "big.txt",
            "text/plain",
            "t",
            &big,
        )
        .await
        .unwrap();
    // Read from the Location as Microsoft's example shows it (Outlook REST form).
    assert!(id.id.as_deref().is_some_and(|i| !i.is_empty()), "{id:?}");
    assert!(
        id.location
            .as_deref()
            .is_some_and(|l| l.starts_with("https://outlook.office.com/api/v2.0/Users('")),
        "{id:?}"
    );
    assert_eq!(timer.take_waits(), vec![Duration::from_secs(3)]);
    assert_eq!(
        env.sim.attachment_bytes(&event, "big.txt").map(|b| b.len()),
        Some(big.len())
    );
}

#[tokio::test]
async fn dropped_connections_on_reads_are_retried() {
    let env = Env::start().await;
    let c = client(&env);
    env.sim.set_faults(Faults {
        drop_next: 1,
        ..Faults::default()
    });
    let cals = c
        .list_calendars(&creds(seed::DEMO_SECRET), seed::DEMO_OWNER)
        .await
        .unwrap();
    assert_eq!(cals.len(), 3);
}

#[tokio::test]
async fn never_more_than_four_requests_in_flight_per_app() {
    let env = Env::start().await;
    env.slow(40);
    // Twelve different weeks: every read misses the cache and goes to Graph at once.
    let mut tasks = vec![];
    for i in 0..12u64 {
        let week = (chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()
            + chrono::Days::new(7 * i))
        .to_string();
        let (base, http) = (env.base.clone(), env.http.clone());
        tasks.push(tokio::spawn(async move {
            http.post(format!("{base}/api/week"))
                .form(&[
                    ("form", "demo"),
                    ("element", "tid"),
                    ("week", week.as_str()),
                ])
                .status_code()
                .await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let stats = env.sim.stats();
    let max = stats.max_in_flight[seed::DEMO_CLIENT_ID];
    assert!(max <= 4, "{stats:?}");
    assert_eq!(max, 4, "the load was enough to reach the limit: {stats:?}");
    assert_eq!(stats.throttled, 0);
}

#[tokio::test]
async fn identical_concurrent_week_reads_cost_one_graph_read() {
    let env = Env::start().await;
    env.slow(50);
    let mut tasks = vec![];
    for _ in 0..100 {
        let (base, http) = (env.base.clone(), env.http.clone());
        tasks.push(tokio::spawn(async move {
            http.post(format!("{base}/api/week"))
                .form(&[("form", "demo"), ("element", "tid"), ("week", "2026-12-07")])
                .status_code()
                .await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    // One calendarView read (the week fits one 250-event page).
    assert_eq!(env.sim.stats().calendar_view_requests, 1);
}

#[tokio::test]
async fn calendar_names_resolve_exactly_once_or_say_what_exists() {
    let env = Env::start().await;
    let c = client(&env);
    let cr = creds(seed::DEMO_SECRET);
    assert!(c
        .resolve_calendar(&cr, seed::DEMO_OWNER, "Borgerservice")
        .await
        .is_ok());
    match c
        .resolve_calendar(&cr, seed::DEMO_OWNER, "Borgerservise")
        .await
    {
        Err(GraphError::CalendarNotFound { found, .. }) => {
            assert!(found.contains(&"Borgerservice".to_string()), "{found:?}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_patch_with_a_stale_etag_is_a_conflict() {
    let env = Env::start().await;
    let week = env.week_ok("demo", "2026-12-02").await;
    let id = event_id_of(slots_in_state(&week, "free")[0]["id"].as_str().unwrap());
    let c = client(&env);
    let cr = creds(seed::DEMO_SECRET);
    let cal = c
        .resolve_calendar(&cr, seed::DEMO_OWNER, seed::DEMO_CALENDAR)
        .await
        .unwrap();
    let ev = c
        .get_event(&cr, seed::DEMO_OWNER, &cal, &id, HOLD_PROPERTY)
        .await
        .unwrap();
    let etag = ev.if_match().unwrap();
    assert!(etag.starts_with("W/\""));
    // Staff edit the event in Outlook: its change key moves on.
    env.sim.staff_set_subject(&id, "Borgersamtale (lokale 2)");
    let err = c
        .patch_event(&cr, seed::DEMO_OWNER, &id, &etag, Some("x - Booket"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, GraphError::Conflict { status: 412, ref code } if code == "ErrorIrresolvableConflict"),
        "{err}"
    );
    assert_eq!(env.event(&id).subject, "Borgersamtale (lokale 2)");
}

#[tokio::test]
async fn booket_lists_attachments_with_the_cast_or_without_select() {
    let env = Env::start().await;
    let week = env.week_ok("demo", "2026-12-02").await;
    let id = event_id_of(slots_in_state(&week, "free")[0]["id"].as_str().unwrap());
    let c = client(&env);
    let cr = creds(seed::DEMO_SECRET);
    let added = c
        .add_attachment(
            &cr,
            seed::DEMO_OWNER,
            &id,
            "a.pdf",
            "application/pdf",
            "booket-tag",
            &b"%PDF-1.7".to_vec(),
        )
        .await
        .unwrap();
    // Booket's client selects it through the cast, and only what it needs comes back.
    let listed = c
        .list_attachments(&cr, seed::DEMO_OWNER, &id)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].id.as_str(), listed[0].name.as_str()),
        (added.id.as_deref().unwrap(), "a.pdf")
    );
    assert_eq!(listed[0].content_id.as_deref(), Some("booket-tag"));
    assert_eq!(env.sim.stats().rejected_queries, 0);

    // A tenant that refuses the cast as well: the list is read again without `$select`.
    env.sim.set_faults(Faults {
        refuse_select_casts: true,
        ..Faults::default()
    });
    let listed = c
        .list_attachments(&cr, seed::DEMO_OWNER, &id)
        .await
        .unwrap();
    assert_eq!(listed[0].content_id.as_deref(), Some("booket-tag"));
    assert_eq!(env.sim.stats().rejected_queries, 1);
}

#[tokio::test]
async fn a_wrong_secret_gives_the_citizen_a_safe_message_and_no_graph_text() {
    let env = Env::start_with(support::Options::default(), |c| {
        c.calendars[0].graph_app_mut().credential = seed::DEMO_SECRET_ID.into();
    })
    .await;
    let Answer(status, body) = env.week("demo", "").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body, serde_json::json!({"error": "unavailable"}));
}

#[tokio::test]
async fn meeting_updates_are_recorded_when_the_organizer_changes_a_meeting() {
    let env = Env::start().await;
    let week = env.week_ok("demo", "2026-12-02").await;
    // Slot index 2 (10:00) of each day has a colleague as attendee.
    let slot = week["slots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["state"] == "free" && s["start"].as_str().unwrap().contains("T10:00"))
        .unwrap()
        .clone();
    let Answer(status, _) = env.book("demo", slot["id"].as_str().unwrap(), "k").await;
    assert_eq!(status, 200);
    let updates = env.sim.meeting_updates();
    assert_eq!(updates.len(), 1);
    assert_eq!(
        updates[0].recipients,
        vec![seed::DEMO_COLLEAGUE.to_string()]
    );
    assert!(updates[0].subject.ends_with(" - Booket"));
}
