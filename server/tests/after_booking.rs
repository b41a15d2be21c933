//! After the booking (issue 27): the link in the confirmation mail opens the booking's own
//! page, which cancels it. Through the real server against the simulator, on both backends.

mod support;

use server::config::Config;
use support::*;

/// Documents, the summary and mail on (the confirmation carries the link).
fn full(c: &mut Config) {
    for form in &mut c.forms {
        for el in &mut form.elements {
            el.attach_documents = true;
            el.attach_summary = true;
        }
    }
    mail_on(c);
}

fn pdf(seed: u8) -> Vec<u8> {
    let mut bytes = b"%PDF-1.7\n".to_vec();
    bytes.extend((0..200u8).map(|i| i.wrapping_mul(31).wrapping_add(seed)));
    bytes
}

/// The booking page's path in the last mail sent (its confirmation).
fn link_in_mail(env: &Env) -> String {
    let outbox = env.sim.outbox();
    let body = &outbox.last().expect("a confirmation was sent").body;
    let at = body
        .find("/booking/")
        .unwrap_or_else(|| panic!("no link in {body}"));
    body[at..].split_whitespace().next().unwrap().to_owned()
}

async fn get(env: &Env, path: &str) -> (u16, String) {
    let res = env
        .http
        .get(format!("{}{path}", env.base))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.text().await.unwrap())
}

async fn post_cancel(env: &Env, path: &str) -> (u16, String) {
    let res = env
        .http
        .post(format!("{}{path}", env.base))
        .form(&[("lang", "da")])
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.text().await.unwrap())
}

/// Books a free slot of `b` with two files (and the summary); returns the slot id.
async fn booked(env: &Env, b: Backend, key: &str) -> String {
    let slot = free_ids(&b.week(env, "").await)[0].clone();
    let Answer(status, receipt) = env
        .book_form(
            b.form,
            &slot,
            key,
            "",
            &[("a.pdf", pdf(1)), ("b.pdf", pdf(2))],
        )
        .await;
    assert_eq!(status, 200, "{b:?}: {receipt}");
    assert_eq!(b.event(env, &slot).attachments.len(), 3, "{b:?}");
    slot
}

#[tokio::test]
async fn the_mails_link_cancels_the_booking_and_removes_exactly_its_files() {
    for b in BACKENDS {
        let env = Env::start_with(Options::default(), full).await;
        // A file staff put on the event themselves stays.
        let slot = free_ids(&b.week(&env, "").await)[0].clone();
        let id = event_id_of(&slot);
        env.sim.edit_event(&id, |e| {
            e.attachments.push(server::sim::model::Attachment {
                id: "staff-note".into(),
                name: "staff note.txt".into(),
                content_type: "text/plain".into(),
                size: 4,
                via_upload_session: false,
                content_id: String::new(),
                bytes: b"note".to_vec(),
            })
        });
        let Answer(status, receipt) = env
            .book_form(
                b.form,
                &slot,
                "k1",
                "",
                &[("a.pdf", pdf(1)), ("b.pdf", pdf(2))],
            )
            .await;
        assert_eq!(status, 200, "{b:?}: {receipt}");
        assert_eq!(b.event(&env, &slot).attachments.len(), 4, "{b:?}");
        // The booking's record keeps the address for the cancellation, sealed: nothing in
        // it reads as the citizen's (nor as its base64).
        let record: Vec<String> = b
            .event(&env, &slot)
            .properties
            .iter()
            .map(|(_, v)| v.clone())
            .collect();
        assert!(
            record
                .iter()
                .any(|v| v.starts_with("booked;") && v.contains(";to=s1.")),
            "{record:?}"
        );
        assert!(
            !record
                .iter()
                .any(|v| v.contains("soren") || v.contains("c29yZW")),
            "{record:?}"
        );
        let link = link_in_mail(&env);

        // The page shows the booking and offers to cancel it; the question comes first.
        let (status, page) = get(&env, &link).await;
        assert_eq!(status, 200, "{b:?}: {page}");
        assert!(page.contains("Aflys tiden"), "{page}");
        assert!(
            page.contains("tirsdag 1. december 2026, 09:00–09:30"),
            "{b:?}: {page}"
        );
        let (status, ask) = get(&env, &format!("{link}?step=cancel")).await;
        assert_eq!(status, 200);
        assert!(ask.contains("Vil du aflyse tiden?"), "{ask}");
        assert!(
            b.event(&env, &slot).subject.ends_with(" - Booket"),
            "asking changes nothing"
        );

        let (status, done) = post_cancel(&env, &link).await;
        assert_eq!(status, 200, "{b:?}: {done}");
        assert!(done.contains("Tiden er aflyst"), "{done}");
        let event = b.event(&env, &slot);
        assert!(!event.subject.contains(" - "), "{b:?}: {}", event.subject);
        let left: Vec<&str> = event.attachments.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(left, vec!["staff note.txt"], "{b:?}");
        // The slot is free for the next citizen at once.
        assert_eq!(state_of(&b.week(&env, "").await, &slot), "free", "{b:?}");
        // The citizen hears of it.
        let outbox = env.sim.outbox();
        assert_eq!(outbox.len(), 2, "{b:?}");
        assert!(
            outbox[1].subject.starts_with("Aflyst:"),
            "{}",
            outbox[1].subject
        );
        assert_eq!(outbox[1].to, vec!["soren@example.dk".to_string()]);

        // Twice is harmless: nothing written, nothing sent, and the page says so.
        let stats = env.sim.stats();
        let (status, again) = post_cancel(&env, &link).await;
        assert_eq!(status, 200);
        assert!(again.contains("ikke længere booket"), "{again}");
        let after = env.sim.stats();
        assert_eq!(
            (after.event_patches + after.ews_updates, after.mails_sent),
            (stats.event_patches + stats.ews_updates, stats.mails_sent),
            "{b:?}"
        );
        let (_, page) = get(&env, &link).await;
        assert!(page.contains("ikke længere booket"), "{page}");
    }
}

#[tokio::test]
async fn the_next_citizen_never_gets_files_a_cancellation_left() {
    let b = BACKENDS[0];
    let env = Env::start_with(Options::default(), full).await;
    let slot = booked(&env, b, "k1").await;
    let link = link_in_mail(&env);
    // Deleting attachments fails while the citizen cancels: the slot is freed all the
    // same, and the files stay listed in the event's record.
    env.sim.set_faults(server::sim::model::Faults {
        attachment_deletes_fail: true,
        ..Default::default()
    });
    let (status, done) = post_cancel(&env, &link).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(b.event(&env, &slot).attachments.len(), 3);
    env.sim.set_faults(Default::default());
    // The next booking of the slot removes them before its own go on.
    let Answer(status, receipt) = env
        .book_form(b.form, &slot, "k2", "", &[("c.pdf", pdf(3))])
        .await;
    assert_eq!(status, 200, "{receipt}");
    let names: Vec<String> = b
        .event(&env, &slot)
        .attachments
        .iter()
        .map(|a| a.name.clone())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"c.pdf".to_string()), "{names:?}");
    assert!(
        !names.iter().any(|n| n == "a.pdf" || n == "b.pdf"),
        "{names:?}"
    );
}

#[tokio::test]
async fn a_slot_staff_changed_meanwhile_is_never_overwritten() {
    for b in BACKENDS {
        let env = Env::start_with(Options::default(), full).await;
        let slot = booked(&env, b, "k1").await;
        let link = link_in_mail(&env);
        // Staff moved the meeting half an hour: no longer the time the link names.
        let id = event_id_of(&slot);
        env.sim.edit_event(&id, |e| {
            e.start += chrono::TimeDelta::minutes(30);
            e.end += chrono::TimeDelta::minutes(30);
        });
        let before = b.event(&env, &slot);
        let (status, page) = post_cancel(&env, &link).await;
        assert_eq!(status, 200, "{b:?}: {page}");
        assert!(page.contains("ikke længere booket"), "{page}");
        let after = b.event(&env, &slot);
        assert_eq!(after.subject, before.subject, "{b:?}");
        assert_eq!(after.attachments.len(), 3, "{b:?}");
        // Staff edit the event just before the cancellation's write arrives: the write
        // meets a newer version and loses; staff's edit stands, files and all.
        let env = Env::start_with(Options::default(), full).await;
        let slot = booked(&env, b, "k1").await;
        let link = link_in_mail(&env);
        env.sim.set_faults(server::sim::model::Faults {
            staff_edit_before_write: Some(0),
            ..Default::default()
        });
        let (status, page) = post_cancel(&env, &link).await;
        assert_eq!(status, 200, "{b:?}: {page}");
        assert!(page.contains("ikke længere booket"), "{page}");
        let after = b.event(&env, &slot);
        assert!(
            after.subject.ends_with(" - Booket (ændret)"),
            "{b:?}: {}",
            after.subject
        );
        assert_eq!(after.attachments.len(), 3, "{b:?}");
        assert_eq!(env.sim.outbox().len(), 1, "no cancellation mail");
    }
}

#[tokio::test]
async fn links_that_are_not_this_servers_get_nothing_and_cost_no_exchange_call() {
    let env = Env::start_with(Options::default(), full).await;
    let b = BACKENDS[0];
    let slot = booked(&env, b, "k1").await;
    let link = link_in_mail(&env);
    let token = link.trim_start_matches("/booking/").to_owned();
    let receipt_jws = {
        // A receipt is signed by the same key, but is no link.
        let Answer(_, receipt) = env
            .book_form(b.form, &free_ids(&b.week(&env, "").await)[0], "k2", "", &[])
            .await;
        receipt["jws"].as_str().unwrap().to_owned()
    };
    let mut altered = token.clone().into_bytes();
    let mid = altered.len() / 2;
    altered[mid] = if altered[mid] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    let calls = env.sim.stats().graph_requests;
    for bad in [
        "garbage".to_string(),
        altered,
        receipt_jws,
        format!("{token}x"),
        "a.b.c".into(),
    ] {
        let (status, page) = get(&env, &format!("/booking/{bad}")).await;
        assert_eq!(status, 404, "{bad}: {page}");
        assert!(page.contains("Linket virker ikke"), "{page}");
        let (status, _) = post_cancel(&env, &format!("/booking/{bad}")).await;
        assert_eq!(status, 404, "{bad}");
    }
    assert_eq!(
        env.sim.stats().graph_requests,
        calls,
        "no Exchange call for a bad link"
    );
    assert!(b.event(&env, &slot).subject.ends_with(" - Booket"));
    // The page is in English when asked; the token never leaves through a Referer.
    let res = env
        .http
        .get(format!("{}{link}?lang=en", env.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["referrer-policy"], "same-origin");
    assert_eq!(res.headers()["cache-control"], "no-store");
    let page = res.text().await.unwrap();
    assert!(page.contains("lang=\"en\""), "{page}");
    assert!(page.contains("Cancel the time"), "{page}");
    // Once the time has begun, it can no longer be cancelled (and Exchange is not asked).
    let start = chrono::DateTime::parse_from_rfc3339(
        b.week(&env, "").await["slots"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == slot.as_str())
            .unwrap()["start"]
            .as_str()
            .unwrap(),
    )
    .unwrap()
    .with_timezone(&chrono::Utc);
    let calls = env.sim.stats().graph_requests;
    env.advance(start - env.booket.now() + chrono::TimeDelta::minutes(1));
    let (status, page) = get(&env, &link).await;
    assert_eq!(status, 409, "{page}");
    assert!(page.contains("Tiden er begyndt"), "{page}");
    let (status, _) = post_cancel(&env, &link).await;
    assert_eq!(status, 409);
    assert_eq!(env.sim.stats().graph_requests, calls);
    // Once the slot has ended, the link says so and does nothing.
    env.advance(chrono::TimeDelta::days(3));
    let (status, page) = get(&env, &link).await;
    assert_eq!(status, 410, "{page}");
    assert!(page.contains("Tiden er overstået"), "{page}");
    let (status, _) = post_cancel(&env, &link).await;
    assert_eq!(status, 410);
    assert!(b.event(&env, &slot).subject.ends_with(" - Booket"));
}

#[tokio::test]
async fn a_cross_site_form_cannot_cancel() {
    let env = Env::start_with(Options::default(), full).await;
    let b = BACKENDS[0];
    let slot = booked(&env, b, "k1").await;
    let link = link_in_mail(&env);
    let status = env
        .http
        .post(format!("{}{link}", env.base))
        .header("origin", "https://evil.example")
        .form(&[("lang", "da")])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(status, 403);
    assert!(b.event(&env, &slot).subject.ends_with(" - Booket"));
}

#[tokio::test]
async fn the_page_spends_the_clients_write_budget() {
    let env = Env::start_with(Options::default(), |c| {
        full(c);
        c.server.rate_limit_per_minute = 3;
    })
    .await;
    let b = BACKENDS[0];
    booked(&env, b, "k1").await;
    let link = link_in_mail(&env);
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(get(&env, &link).await.0);
    }
    // The booking spent one of the three writes; two pages, then "try again in a moment".
    assert_eq!(statuses, [200, 200, 429, 429, 429, 429]);
}

#[tokio::test]
async fn a_move_spends_two_of_the_clients_writes() {
    // A move is a booking and a cancellation: with four writes a minute, the booking (one),
    // the move's page (one) and the move (two) spend them all.
    let env = Env::start_with(Options::default(), |c| {
        full(c);
        c.server.rate_limit_per_minute = 4;
    })
    .await;
    let old = booked(&env, BACKENDS[0], "k1").await;
    let link = link_in_mail(&env);
    let (_, target) = move_target(&env, &link, &old).await;
    let (status, done) = post_move(&env, &link, &target).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(get(&env, &link).await.0, 429);
}

/// [`full`], and every element reminds a day before.
fn reminding(c: &mut Config) {
    full(c);
    for form in &mut c.forms {
        for el in &mut form.elements {
            el.reminder_hours = 24;
        }
    }
}

/// Books the first free slot of `b` that starts on Thursday 3 December (three days after
/// the tests' Monday): its reminder is due on Wednesday at the same time.
async fn booked_thursday(
    env: &Env,
    b: Backend,
    key: &str,
) -> (String, chrono::DateTime<chrono::Utc>) {
    let week = b.week(env, "").await;
    let slot = week["slots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["state"] == "free" && s["start"].as_str().unwrap().starts_with("2026-12-03"))
        .expect("a free slot on Thursday");
    let id = slot["id"].as_str().unwrap().to_owned();
    let start = chrono::DateTime::parse_from_rfc3339(slot["start"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    let Answer(status, receipt) = env.book_form(b.form, &id, key, "", &[]).await;
    assert_eq!(status, 200, "{b:?}: {receipt}");
    (id, start)
}

fn reminders(env: &Env) -> Vec<server::sim::model::SentMail> {
    env.sim
        .outbox()
        .into_iter()
        .filter(|m| m.subject.starts_with("Påmindelse:"))
        .collect()
}

#[tokio::test]
async fn a_reminder_goes_out_once_when_due_with_the_link() {
    for b in BACKENDS {
        let env = Env::start_with(Options::default(), reminding).await;
        let (_, start) = booked_thursday(&env, b, "k1").await;
        // Not yet due.
        assert_eq!(env.booket.send_reminders().await.unwrap(), 0, "{b:?}");
        assert!(reminders(&env).is_empty());
        // 23 hours before the start: due.
        env.advance(start - chrono::TimeDelta::hours(23) - env.booket.now());
        assert_eq!(env.booket.send_reminders().await.unwrap(), 1, "{b:?}");
        let sent = reminders(&env);
        assert_eq!(sent.len(), 1, "{b:?}");
        assert_eq!(sent[0].to, vec!["soren@example.dk".to_string()]);
        assert!(sent[0].body.contains("/booking/"), "{}", sent[0].body);
        // Its link opens the booking.
        let at = sent[0].body.find("/booking/").unwrap();
        let link = sent[0].body[at..]
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned();
        let (status, page) = get(&env, &link).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("Aflys tiden"), "{page}");
        // Never twice.
        assert_eq!(env.booket.send_reminders().await.unwrap(), 0, "{b:?}");
        env.advance(chrono::TimeDelta::hours(1));
        assert_eq!(env.booket.send_reminders().await.unwrap(), 0, "{b:?}");
        assert_eq!(reminders(&env).len(), 1, "{b:?}");
    }
}

#[tokio::test]
async fn two_instances_send_a_reminder_once() {
    let b = BACKENDS[0];
    let env = Env::start_with(Options::default(), reminding).await;
    let other = env.second_instance().await;
    let (_, start) = booked_thursday(&env, b, "k1").await;
    let (_, start2) = booked_thursday(&env, b, "k2").await;
    let due = start.max(start2) - chrono::TimeDelta::hours(23) - env.booket.now();
    env.advance(due);
    other.advance(due);
    let (a, z) = tokio::join!(env.booket.send_reminders(), other.booket.send_reminders());
    assert_eq!(a.unwrap() + z.unwrap(), 2);
    assert_eq!(reminders(&env).len(), 2);
    let (a, z) = tokio::join!(env.booket.send_reminders(), other.booket.send_reminders());
    assert_eq!((a.unwrap(), z.unwrap()), (0, 0));
    assert_eq!(reminders(&env).len(), 2);
}

#[tokio::test]
async fn a_cancelled_booking_gets_no_reminder() {
    let b = BACKENDS[0];
    let env = Env::start_with(Options::default(), reminding).await;
    let (_, start) = booked_thursday(&env, b, "k1").await;
    let link = link_in_mail(&env);
    let (status, done) = post_cancel(&env, &link).await;
    assert_eq!(status, 200, "{done}");
    env.advance(start - chrono::TimeDelta::hours(23) - env.booket.now());
    assert_eq!(env.booket.send_reminders().await.unwrap(), 0);
    assert!(reminders(&env).is_empty());
}

/// A form's backend: answers `failures` POSTs with 500, then 200; hands each POST it took
/// (content type, body) to the test.
async fn receiver(
    failures: usize,
) -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<(String, String)>,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let seen = std::sync::Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new().route(
        "/events",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let (tx, seen) = (tx.clone(), seen.clone());
            async move {
                if seen.fetch_add(1, Ordering::SeqCst) < failures {
                    return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                }
                let ct = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let _ = tx.send((ct, body));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

/// Webhook retries wait for nothing; the waits asked for are kept.
fn recorded_waits(env: &Env) -> Waits {
    let waits = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = waits.clone();
    env.booket
        .set_webhook_sleeper(std::sync::Arc::new(move |d| {
            kept.lock().unwrap().push(d);
            Box::pin(async {})
        }));
    waits
}

/// An event's claims, verified as a form's backend would: the published keys, ES256, the
/// event type, this form.
async fn verified(env: &Env, jws: &str) -> serde_json::Value {
    let header = jsonwebtoken::decode_header(jws).unwrap();
    assert_eq!(header.typ.as_deref(), Some("booket-event+jwt"));
    let jwks: jsonwebtoken::jwk::JwkSet = env
        .http
        .get(format!("{}/.well-known/jwks.json", env.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    v.set_audience(&["demo"]);
    v.required_spec_claims = ["iss", "aud"].iter().map(|c| c.to_string()).collect();
    server::signing::ensure();
    jsonwebtoken::decode::<serde_json::Value>(
        jws,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &v,
    )
    .unwrap()
    .claims
}

async fn next_event(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<(String, String)>,
) -> (String, String) {
    tokio::time::timeout(std::time::Duration::from_secs(30), rx.recv())
        .await
        .expect("the webhook was called")
        .unwrap()
}

type Waits = std::sync::Arc<std::sync::Mutex<Vec<std::time::Duration>>>;

/// The demo form with a webhook to a [`receiver`] that fails `failures` times, retries
/// waiting for nothing (the waits kept); a free slot booked. The slot and the receipt.
async fn booked_with_webhook(
    failures: usize,
) -> (
    Env,
    tokio::sync::mpsc::UnboundedReceiver<(String, String)>,
    Waits,
    String,
    serde_json::Value,
) {
    let (url, rx) = receiver(failures).await;
    let env = Env::start_with(Options::default(), |c| {
        full(c);
        c.forms[0].webhook_url = Some(url.parse().unwrap());
    })
    .await;
    let waits = recorded_waits(&env);
    let slot = free_ids(&BACKENDS[0].week(&env, "").await)[0].clone();
    let Answer(status, receipt) = env.book_form("demo", &slot, "k1", "", &[]).await;
    assert_eq!(status, 200, "{receipt}");
    (env, rx, waits, slot, receipt)
}

#[tokio::test]
async fn the_forms_backend_hears_of_booking_and_cancelling_signed_and_retried() {
    let (env, mut rx, waits, _, receipt) = booked_with_webhook(2).await;
    let (content_type, body) = next_event(&mut rx).await;
    assert_eq!(content_type, "application/jose");
    let created = verified(&env, &body).await;
    assert_eq!(created["type"], "booking.created");
    assert_eq!(created["element"], "tid");
    assert_eq!(created["start"], receipt["start"]);
    // The booking is the receipt's: the same id.
    let receipt_id = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(
        receipt["jws"].as_str().unwrap(),
    )
    .unwrap()
    .claims["jti"]
        .clone();
    assert_eq!(created["booking"], receipt_id);
    // Two refusals, then delivered: waits that grow.
    let asked = waits.lock().unwrap().clone();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(asked[1] > asked[0], "{asked:?}");
    let metrics = env.metrics().await;
    assert!(
        metrics.contains("booket_webhooks_total{result=\"retried\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("booket_webhooks_total{result=\"delivered\"} 1"),
        "{metrics}"
    );

    let link = link_in_mail(&env);
    let (status, _) = post_cancel(&env, &link).await;
    assert_eq!(status, 200);
    let (_, body) = next_event(&mut rx).await;
    let cancelled = verified(&env, &body).await;
    assert_eq!(cancelled["type"], "booking.cancelled");
    assert_eq!(cancelled["booking"], created["booking"]);
    assert_ne!(
        cancelled["jti"], created["jti"],
        "each event has its own id"
    );
}

#[tokio::test]
async fn a_webhook_that_never_answers_well_undoes_nothing() {
    let (env, _rx, waits, slot, _) = booked_with_webhook(usize::MAX).await;
    // Given up after its tries; the failure is counted, the booking stands. (The
    // delivery runs in its own task: looked for until it is counted, for up to 30 s.)
    let mut metrics = String::new();
    for _ in 0..3000 {
        metrics = env.metrics().await;
        if metrics.contains("booket_webhooks_total{result=\"failed\"} 1") {
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(
        metrics.contains("booket_webhooks_total{result=\"failed\"} 1"),
        "{metrics}"
    );
    assert_eq!(waits.lock().unwrap().len(), 5);
    assert!(BACKENDS[0]
        .event(&env, &slot)
        .subject
        .ends_with(" - Booket"));
}

/// 200 clients (each from its own address, so each within its own budget) open `link`,
/// or POST its cancel form; what that cost Exchange (reads and writes).
async fn crowd(env: &Env, link: &str, cancel: bool) -> u64 {
    let before = env.sim.stats();
    for i in 0..200u32 {
        let url = format!("{}{link}", env.base);
        let req = if cancel {
            env.http.post(url).form(&[("lang", "da")])
        } else {
            env.http.get(url)
        };
        let res = req
            .header("x-forwarded-for", format!("10.{}.{}.1", i / 250, i % 250))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let after = env.sim.stats();
    (after.event_gets - before.event_gets)
        + (after.calendar_view_requests - before.calendar_view_requests)
        + (after.event_patches - before.event_patches)
}

#[tokio::test]
async fn a_crowd_on_one_link_costs_exchange_next_to_nothing() {
    // A link that got around (forwarded, posted) and many clients open it: what they see
    // comes from the week Booket keeps; Exchange is not asked once per visit.
    let env = Env::behind_proxy(full).await;
    booked(&env, BACKENDS[0], "k1").await;
    let link = link_in_mail(&env);
    let asked = crowd(&env, &link, false).await;
    assert!(asked <= 2, "{asked} Exchange calls for 200 visits");
}

#[tokio::test]
async fn a_crowd_cancelling_a_cancelled_booking_costs_exchange_next_to_nothing() {
    let env = Env::behind_proxy(full).await;
    booked(&env, BACKENDS[0], "k1").await;
    let link = link_in_mail(&env);
    let (status, _) = post_cancel(&env, &link).await;
    assert_eq!(status, 200);
    let asked = crowd(&env, &link, true).await;
    assert!(
        asked <= 2,
        "{asked} Exchange calls for 200 repeated cancellations"
    );
}

#[tokio::test]
async fn reminders_for_occurrences_read_each_booking_once_not_every_sweep() {
    // Slots made as a daily series: Graph's view leaves the occurrences' records out
    // (documented nowhere; the simulator's default), so the sweep reads booked ones on
    // their own — and, once a booking has nothing left to send, not again while unchanged.
    let b = BACKENDS[0];
    let env = Env::start_with(Options::default(), reminding).await;
    assert!(env.sim.make_series(b.calendar));
    let (_, start) = booked_thursday(&env, b, "k1").await;
    env.advance(start - chrono::TimeDelta::hours(23) - env.booket.now());
    assert_eq!(env.booket.send_reminders().await.unwrap(), 1);
    assert_eq!(reminders(&env).len(), 1);
    // The next sweep reads it once more (the claim changed its version), then no more.
    env.booket.send_reminders().await.unwrap();
    let gets = env.sim.stats().event_gets;
    for _ in 0..5 {
        assert_eq!(env.booket.send_reminders().await.unwrap(), 0);
    }
    assert_eq!(env.sim.stats().event_gets, gets, "no read per sweep");
    assert_eq!(reminders(&env).len(), 1);
}

/// The slot ids the move page offers (its radio buttons), in order.
fn offered(page: &str) -> Vec<String> {
    page.split("name=\"slot\" value=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_owned())
        .collect()
}

async fn post_move(env: &Env, path: &str, slot: &str) -> (u16, String) {
    let res = env
        .http
        .post(format!("{}{path}", env.base))
        .form(&[("lang", "da"), ("action", "move"), ("slot", slot)])
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.text().await.unwrap())
}

/// The move page of `link`, and a time it offers that is not the booking's own.
async fn move_target(env: &Env, link: &str, booked: &str) -> (String, String) {
    let (status, page) = get(env, &format!("{link}?step=move")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Vælg en ny tid"), "{page}");
    let ids = offered(&page);
    assert!(
        !ids.iter().any(|id| event_id_of(id) == event_id_of(booked)),
        "the booking's own time is not offered"
    );
    (page, ids.first().expect("free times are offered").clone())
}

/// A booking of `b` with two files and the summary, its link, and a time to move it to.
async fn ready_to_move(b: Backend) -> (Env, String, String, String) {
    let env = Env::start_with(Options::default(), full).await;
    let old = booked(&env, b, "k1").await;
    let link = link_in_mail(&env);
    let (_, target) = move_target(&env, &link, &old).await;
    (env, old, link, target)
}

#[tokio::test]
async fn a_booking_moves_with_its_files_and_the_old_time_is_freed() {
    for b in BACKENDS {
        let env = Env::start_with(Options::default(), |c| {
            full(c);
            reminding(c);
        })
        .await;
        let old = booked(&env, b, "k1").await;
        let link = link_in_mail(&env);
        let (page, target) = move_target(&env, &link, &old).await;
        // Only free times are offered: every one of them is free in the citizen's week.
        for id in offered(&page) {
            assert_eq!(state_of(&b.week(&env, "").await, &id), "free", "{b:?}");
        }
        let before: Vec<(String, Vec<u8>)> = b
            .event(&env, &old)
            .attachments
            .iter()
            .map(|a| (a.name.clone(), a.bytes.clone()))
            .collect();

        let (status, done) = post_move(&env, &link, &target).await;
        assert_eq!(status, 200, "{b:?}: {done}");
        assert!(done.contains("Tiden er flyttet"), "{done}");
        assert!(done.contains("Du får en bekræftelse på mail"), "{done}");

        // The new time is booked and carries the booking's files, byte for byte.
        let new = b.event(&env, &target);
        assert!(new.subject.ends_with(" - Booket"), "{b:?}: {}", new.subject);
        let mut moved: Vec<(String, Vec<u8>)> = new
            .attachments
            .iter()
            .map(|a| (a.name.clone(), a.bytes.clone()))
            .collect();
        let mut expected = before.clone();
        moved.sort();
        expected.sort();
        assert_eq!(moved, expected, "{b:?}");
        // Its record keeps the address (sealed) and the reminder, for the new time.
        assert!(
            new.properties.iter().any(|(_, v)| v.starts_with("booked;")
                && v.contains(";to=s1.")
                && v.contains(";remind=")),
            "{b:?}: {:?}",
            new.properties
        );
        // The old time is free, without the booking's files.
        let freed = b.event(&env, &old);
        assert!(!freed.subject.contains(" - "), "{b:?}: {}", freed.subject);
        assert!(freed.attachments.is_empty(), "{b:?}");
        let week = b.week(&env, "").await;
        assert_eq!(state_of(&week, &old), "free", "{b:?}");
        assert_eq!(state_of(&week, &target), "booked", "{b:?}");

        // A confirmation of the new time with a link of its own; the old link is spent.
        let outbox = env.sim.outbox();
        assert_eq!(outbox.len(), 2, "{b:?}");
        assert!(
            outbox[1].subject.starts_with("Ny tid:"),
            "{}",
            outbox[1].subject
        );
        assert_eq!(outbox[1].to, vec!["soren@example.dk".to_string()]);
        let new_link = link_in_mail(&env);
        assert_ne!(new_link, link);
        // The page links to the same new booking (ECDSA signs each token afresh: the
        // claims are compared).
        let claims = new_link.split('.').nth(1).unwrap();
        assert!(done.contains(claims), "{done}");
        let (_, page) = get(&env, &link).await;
        assert!(page.contains("ikke længere booket"), "{page}");
        let (status, page) = get(&env, &new_link).await;
        assert_eq!(status, 200);
        assert!(
            page.contains("Flyt tiden") && page.contains("Aflys tiden"),
            "{page}"
        );

        // Moving again with the spent link changes nothing.
        let stats = env.sim.stats();
        let (status, again) = post_move(&env, &link, &target).await;
        assert_eq!(status, 200);
        assert!(again.contains("ikke længere booket"), "{again}");
        let after = env.sim.stats();
        assert_eq!(
            (after.event_patches + after.ews_updates, after.mails_sent),
            (stats.event_patches + stats.ews_updates, stats.mails_sent),
            "{b:?}"
        );
        let metrics = env.metrics().await;
        assert!(
            metrics.contains("booket_bookings_total{outcome=\"moved\"} 1"),
            "{metrics}"
        );
    }
}

#[tokio::test]
async fn a_move_to_a_time_another_citizen_took_first_leaves_the_old_booking_intact() {
    for b in BACKENDS {
        // Three ways to lose the new time: another instance booked it (this one's week
        // does not know); someone wrote it just before the hold's write; someone wrote it
        // while the files were being copied.
        for race in 0..3 {
            let (env, old, link, target) = ready_to_move(b).await;
            let before = b.event(&env, &old);
            match race {
                0 => {
                    env.sim
                        .edit_event(&event_id_of(&target), |e| e.subject.push_str(" - Booket"));
                }
                1 => env.sim.set_faults(server::sim::model::Faults {
                    staff_edit_before_write: Some(0),
                    ..Default::default()
                }),
                _ => env.sim.set_faults(server::sim::model::Faults {
                    staff_edit_before_write: Some(1),
                    ..Default::default()
                }),
            }
            let (status, page) = post_move(&env, &link, &target).await;
            assert_eq!(status, 409, "{b:?} race {race}: {page}");
            assert!(page.contains("Din tid er uændret"), "{page}");
            env.sim.set_faults(Default::default());
            let after = b.event(&env, &old);
            assert_eq!(after.subject, before.subject, "{b:?} race {race}");
            assert_eq!(after.properties, before.properties, "{b:?} race {race}");
            assert_eq!(after.attachments.len(), 3, "{b:?} race {race}");
            // None of the citizen's files stay on the time they did not get.
            assert!(
                b.event(&env, &target).attachments.is_empty(),
                "{b:?} race {race}"
            );
            assert_eq!(
                env.sim.outbox().len(),
                1,
                "no mail but the first confirmation"
            );
            // The old link still works.
            let (status, page) = get(&env, &link).await;
            assert_eq!(status, 200);
            assert!(page.contains("Flyt tiden"), "{page}");
        }
    }
}

#[tokio::test]
async fn a_move_whose_mail_fails_tells_the_citizen_to_keep_the_new_link() {
    let (env, _, link, target) = ready_to_move(BACKENDS[0]).await;
    env.sim.set_faults(server::sim::model::Faults {
        mail_down: true,
        ..Default::default()
    });
    let (status, done) = post_move(&env, &link, &target).await;
    assert_eq!(status, 200, "{done}");
    assert!(done.contains("Tiden er flyttet"), "{done}");
    assert!(!done.contains("Du får en bekræftelse"), "{done}");
    assert!(done.contains("Gem linket til din nye tid"), "{done}");
    assert!(done.contains("data-testid=\"new-booking\""), "{done}");
    let metrics = env.metrics().await;
    assert!(
        metrics.contains("booket_mails_total{kind=\"moved\",result=\"failed\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_move_never_overwrites_what_staff_changed_on_the_old_time() {
    let b = BACKENDS[0];
    let (env, old, link, target) = ready_to_move(b).await;
    // Staff edit the old event just before its release is written (the sixth event
    // write: the new time's hold, a record per file (three), its booking, the release).
    env.sim.set_faults(server::sim::model::Faults {
        staff_edit_before_write: Some(5),
        ..Default::default()
    });
    let (status, page) = post_move(&env, &link, &target).await;
    env.sim.set_faults(Default::default());
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Tiden er flyttet"), "{page}");
    // Staff's change stands, with the files they see on it; the booking is at its new
    // time with its own copies.
    let after = b.event(&env, &old);
    assert!(
        after.subject.ends_with(" - Booket (ændret)"),
        "{}",
        after.subject
    );
    assert_eq!(after.attachments.len(), 3);
    let new = b.event(&env, &target);
    assert!(new.subject.ends_with(" - Booket"), "{}", new.subject);
    assert_eq!(new.attachments.len(), 3);
}

#[tokio::test]
async fn a_move_whose_old_time_cannot_be_released_is_undone() {
    use server::sim::model::Faults;
    let b = BACKENDS[0];
    let (env, old, link, target) = ready_to_move(b).await;
    let before = b.event(&env, &old);
    // The new time is held, gets its three copies and is booked (eight writes); the
    // old time's release then stalls, and Exchange refuses it.
    env.sim.set_faults(Faults {
        stall_after_writes: Some(8),
        ..Faults::default()
    });
    let patches = env.sim.stats().event_patches;
    let moving = post_move(&env, &link, &target);
    let meanwhile = async {
        until("the new time to be booked", || {
            env.sim.stats().event_patches == patches + 5
        })
        .await;
        assert!(b.event(&env, &target).subject.ends_with(" - Booket"));
        env.sim.set_faults(Faults {
            fail_next: vec![403],
            ..Faults::default()
        });
    };
    let ((status, page), ()) = tokio::join!(moving, meanwhile);
    assert_eq!(status, 503, "{page}");
    assert!(page.contains("Tiden er uændret"), "{page}");
    // The citizen keeps the old time as it was; the new one is free again, no copies.
    let after = b.event(&env, &old);
    assert_eq!(after.subject, before.subject);
    assert_eq!(after.properties, before.properties);
    assert_eq!(after.attachments.len(), 3);
    let new = b.event(&env, &target);
    assert!(!new.subject.contains(" - "), "{}", new.subject);
    assert!(new.attachments.is_empty());
    assert_eq!(state_of(&b.week(&env, "").await, &target), "free");
    assert_eq!(env.sim.outbox().len(), 1, "no 'Ny tid' mail");
}

#[tokio::test]
async fn the_forms_backend_hears_of_a_move() {
    let (env, mut rx, _waits, slot, _) = booked_with_webhook(0).await;
    let created = verified(&env, &next_event(&mut rx).await.1).await;
    let link = link_in_mail(&env);
    let (_, target) = move_target(&env, &link, &slot).await;
    let (status, page) = post_move(&env, &link, &target).await;
    assert_eq!(status, 200, "{page}");
    let moved = verified(&env, &next_event(&mut rx).await.1).await;
    assert_eq!(moved["type"], "booking.moved");
    assert_eq!(moved["previous"], created["booking"]);
    assert_ne!(moved["booking"], created["booking"]);
    assert_ne!(moved["start"], created["start"]);
}

/// What Exchange was asked (event reads and writes, views, attachment calls) since `before`.
fn exchange_calls(env: &Env, before: &server::sim::model::Stats) -> u64 {
    let after = env.sim.stats();
    (after.event_gets - before.event_gets)
        + (after.calendar_view_requests - before.calendar_view_requests)
        + (after.event_patches - before.event_patches)
        + (after.attachment_posts - before.attachment_posts)
        + (after.attachment_deletes - before.attachment_deletes)
        + (after.attachment_reads - before.attachment_reads)
}

#[tokio::test]
async fn fifty_clients_moving_one_booking_at_once_move_it_once_for_the_price_of_one() {
    // What one move costs Exchange, for comparison.
    let env = Env::behind_proxy(full).await;
    let old = booked(&env, BACKENDS[0], "k1").await;
    let link = link_in_mail(&env);
    let (_, target) = move_target(&env, &link, &old).await;
    let before = env.sim.stats();
    let (status, _) = post_move(&env, &link, &target).await;
    assert_eq!(status, 200);
    let one = exchange_calls(&env, &before);

    // The same link in fifty hands (forwarded, posted), all moving at once.
    let env = Env::behind_proxy(full).await;
    let old = booked(&env, BACKENDS[0], "k1").await;
    let link = link_in_mail(&env);
    let (page, _) = move_target(&env, &link, &old).await;
    let targets = offered(&page);
    let before = env.sim.stats();
    let answers = futures::future::join_all((0..50u32).map(|i| {
        let url = format!("{}{link}", env.base);
        let slot = targets[i as usize % targets.len()].clone();
        let req = env
            .http
            .post(url)
            .form(&[("lang", "da"), ("action", "move"), ("slot", slot.as_str())])
            .header("x-forwarded-for", format!("10.0.{i}.1"));
        async move {
            let res = req.send().await.unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }
    }))
    .await;
    let moved = answers
        .iter()
        .filter(|(s, page)| *s == 200 && page.contains("Tiden er flyttet"))
        .count();
    assert_eq!(
        moved,
        1,
        "{:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    assert!(
        answers.iter().all(|(s, page)| *s == 200
            && (page.contains("Tiden er flyttet") || page.contains("ikke længere booket"))),
        "{:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    // One booking, at one new time.
    let week = BACKENDS[0].week(&env, "").await;
    let booked_now = targets
        .iter()
        .filter(|t| state_of(&week, t) == "booked")
        .count();
    assert_eq!(booked_now, 1);
    let asked = exchange_calls(&env, &before);
    assert!(
        asked <= one + 2,
        "{asked} Exchange calls for 50 moves; one costs {one}"
    );
}

#[tokio::test]
async fn the_move_pages_weeks_are_browsed_and_bad_ones_explained() {
    let env = Env::start_with(Options::default(), full).await;
    let old = booked(&env, BACKENDS[0], "k1").await;
    let link = link_in_mail(&env);
    let (page, _) = move_target(&env, &link, &old).await;
    // This week: no way back, a way on.
    assert!(!page.contains("data-testid=\"move-prev\""), "{page}");
    assert!(page.contains("week=2026-12-07"), "{page}");
    let (status, next) = get(&env, &format!("{link}?step=move&week=2026-12-09")).await;
    assert_eq!(status, 200, "{next}");
    assert!(next.contains("Uge 50"), "{next}");
    assert!(next.contains("data-testid=\"move-prev\""), "{next}");
    // A week that is not a date is this week; one over a year ahead is said plainly.
    let (status, odd) = get(&env, &format!("{link}?step=move&week=soon")).await;
    assert_eq!(status, 200, "{odd}");
    assert!(odd.contains("Uge 49"), "{odd}");
    let (status, far) = get(&env, &format!("{link}?step=move&week=2029-01-01")).await;
    assert_eq!(status, 400, "{far}");
    assert!(far.contains("Ugen kan ikke vises"), "{far}");
    // A slot id that is not one, or not this element's, changes nothing.
    let other_elements = free_ids(&BACKENDS[1].week(&env, "").await)[0].clone();
    for bad in ["", "nonsense", "a.b.c", other_elements.as_str()] {
        let (status, page) = post_move(&env, &link, bad).await;
        assert_eq!(status, 422, "{bad:?}: {page}");
        assert!(page.contains("Din tid er uændret"), "{page}");
    }
    assert!(BACKENDS[0].event(&env, &old).subject.ends_with(" - Booket"));
}
