//! Booking with the form along: documents, the PDF summary, the attendee update and the
//! confirmation mail, through the real server against the simulator.

mod support;

use server::config::Config;
use server::graph::{AppCredentials, SMALL_ATTACHMENT_LIMIT, UPLOAD_CHUNK};
use server::sim::model::Faults;
use server::sim::seed;
use support::{event_id_of, slots_in_state, Answer, Env, Options};

/// The demo form with documents, summary and mail switched on.
fn full(c: &mut Config) {
    for form in &mut c.forms {
        for el in &mut form.elements {
            el.attach_documents = true;
            el.attach_summary = true;
        }
    }
    support::mail_on(c);
}

async fn env_full() -> Env {
    Env::start_with(Options::default(), full).await
}

/// A multipart booking of the demo form as the widget sends it.
async fn book_form(
    env: &Env,
    slot_id: &str,
    key: &str,
    hold: &str,
    files: &[(&str, Vec<u8>)],
) -> Answer {
    env.book_form("demo", slot_id, key, hold, files).await
}

/// Two small PDFs, a.pdf and b.pdf.
fn two_files() -> [(&'static str, Vec<u8>); 2] {
    [("a.pdf", pattern(10, 7)), ("b.pdf", pattern(10, 8))]
}

/// `len` bytes that are a PDF as far as a content check can tell: the PDF signature, then
/// a pattern that differs by `seed`.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    let mut bytes: Vec<u8> = b"%PDF-1.7\n".iter().copied().take(len).collect();
    bytes.extend((bytes.len()..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    bytes
}

async fn attendee_slot(env: &Env) -> String {
    let week = env.week_ok("demo", "2026-12-02").await;
    // 10:00 on each weekday has a colleague as attendee.
    week["slots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["state"] == "free" && s["start"].as_str().unwrap().contains("T10:00"))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn files_summary_update_and_mail_complete_the_case() {
    let env = env_full().await;
    let slot = attendee_slot(&env).await;
    let small = pattern(200_000, 1);
    let large = pattern(SMALL_ATTACHMENT_LIMIT + 500_000, 2);
    let Answer(s, receipt) = book_form(
        &env,
        &slot,
        "k1",
        "",
        &[
            ("lønseddel.pdf", small.clone()),
            ("stor scanning.pdf", large.clone()),
        ],
    )
    .await;
    assert_eq!(s, 200, "{receipt}");
    assert_eq!(receipt["state"], "booked");
    assert_eq!(receipt["mail"], "sent");
    let id = event_id_of(&slot);
    let event = env.event(&id);
    assert_eq!(event.subject, "Borgersamtale - Booket");
    let names: Vec<&str> = event.attachments.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "lønseddel.pdf",
            "stor scanning.pdf",
            "Resumé af blanketten.pdf"
        ]
    );
    assert_eq!(receipt["attachments"], serde_json::json!(names));
    // Small in one POST, large through an upload session; the bytes arrive intact.
    assert!(!event.attachments[0].via_upload_session && event.attachments[1].via_upload_session);
    assert_eq!(
        env.sim.attachment_bytes(&id, "lønseddel.pdf").unwrap(),
        small
    );
    assert_eq!(
        env.sim.attachment_bytes(&id, "stor scanning.pdf").unwrap(),
        large
    );
    // The summary PDF holds the form.
    let pdf = env
        .sim
        .attachment_bytes(&id, "Resumé af blanketten.pdf")
        .unwrap();
    let doc = lopdf::Document::load_mem(&pdf).unwrap();
    let text = doc
        .extract_text(&doc.get_pages().keys().copied().collect::<Vec<_>>())
        .unwrap();
    for want in [
        "Ansøgning om borgersamtale",
        "tirsdag 1. december 2026, 10:00–10:30 (Borgerservice)",
        "Søren Ærø",
        "Om min sag – <b>vigtigt</b>",
        "lønseddel.pdf",
        "stor scanning.pdf",
        "30.11.2026 kl. 11:00",
    ] {
        assert!(text.contains(want), "{want:?} missing in summary:\n{text}");
    }
    // The attendee's last update is the booking, and it already carries the files.
    let updates = env.sim.meeting_updates();
    let last = updates.last().unwrap();
    assert_eq!(last.recipients, vec![seed::DEMO_COLLEAGUE.to_string()]);
    assert!(last.subject.ends_with(" - Booket"));
    assert_eq!(last.attachments.len(), 3);
    // The confirmation mail with the .ics.
    let outbox = env.sim.outbox();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].to, vec!["soren@example.dk".to_string()]);
    assert!(
        outbox[0].body.contains(seed::DEMO_LOCATION),
        "{}",
        outbox[0].body
    );
    let ics = &outbox[0].attachments[0];
    assert_eq!(
        (ics.name.as_str(), ics.content_type.as_str()),
        ("booking.ics", "text/calendar")
    );
    assert!(
        ics.text.contains("DTSTART:20261201T090000Z"),
        "{}",
        ics.text
    );
}

#[tokio::test]
async fn a_retry_with_the_same_key_attaches_nothing_twice() {
    let env = env_full().await;
    let slot = env.free_slot("demo", 0).await;
    let files = [("a.pdf", pattern(1000, 3))];
    let Answer(s1, r1) = book_form(&env, &slot, "same", "", &files).await;
    let Answer(s2, r2) = book_form(&env, &slot, "same", "", &files).await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(r1, r2);
    assert_eq!(
        env.event(&event_id_of(&slot)).attachments.len(),
        2,
        "one file + one summary"
    );
    assert_eq!(env.sim.outbox().len(), 1);
}

#[tokio::test]
async fn the_loser_of_a_race_never_gets_files_attached() {
    let env = env_full().await;
    let slot = attendee_slot(&env).await;
    // Someone else holds the slot: no file of ours may land on it.
    let other = env.reserve_ok("demo", &slot, "", "").await;
    assert!(other["token"].is_string());
    let Answer(s, body) =
        book_form(&env, &slot, "loser", "", &[("mine.pdf", pattern(10, 4))]).await;
    assert_eq!((s, body["error"].as_str()), (409, Some("taken")));
    assert!(env.event(&event_id_of(&slot)).attachments.is_empty());

    // Two citizens submit at once through two instances: one wins, the other's files go nowhere.
    let env = env_full().await;
    let second = env.second_instance().await;
    let slot = env.free_slot("demo", 0).await;
    env.slow(100);
    let fa = [("from-a.pdf", pattern(10, 5))];
    let fb = [("from-b.pdf", pattern(10, 6))];
    let (a, b) = tokio::join!(
        book_form(&env, &slot, "a", "", &fa),
        book_form(&second, &slot, "b", "", &fb)
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
    let winner = if a.0 == 200 {
        "from-a.pdf"
    } else {
        "from-b.pdf"
    };
    let loser = if a.0 == 200 {
        "from-b.pdf"
    } else {
        "from-a.pdf"
    };
    let names: Vec<String> = env
        .event(&event_id_of(&slot))
        .attachments
        .iter()
        .map(|a| a.name.clone())
        .collect();
    assert!(
        names.contains(&winner.to_string()) && !names.contains(&loser.to_string()),
        "{names:?}"
    );
}

#[tokio::test]
async fn file_limits_are_checked_before_anything_is_written() {
    let env = Env::start_with(Options::default(), |c| {
        full(c);
        c.server.uploads.max_files = 2;
        c.server.uploads.max_file_bytes = 1000;
    })
    .await;
    let slot = env.free_slot("demo", 0).await;
    // (files, expected status, expected problem)
    type Case<'a> = (Vec<(&'a str, Vec<u8>)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![("a.pdf", vec![1]), ("b.pdf", vec![1]), ("c.pdf", vec![1])],
            413,
            "too_many",
        ),
        (vec![("a.pdf", vec![0; 1001])], 413, "too_large"),
        (vec![("a.exe", vec![1])], 415, "type"),
    ];
    for (files, status, problem) in cases {
        let Answer(s, body) = book_form(&env, &slot, "k", "", &files).await;
        assert_eq!(
            (s, body["error"].as_str(), body["problem"].as_str()),
            (status, Some("files"), Some(problem)),
            "{body}"
        );
    }
    env.assert_nothing_written();
}

#[tokio::test]
async fn a_failure_after_the_claim_removes_the_files_and_keeps_the_hold() {
    let env = env_full().await;
    let slot = env.free_slot("demo", 0).await;
    let token = env.hold_token("demo", &slot).await;
    // The first file goes on, the second fails.
    env.sim.set_faults(Faults {
        attachments_before_failure: Some(1),
        ..Faults::default()
    });
    let Answer(s, body) = book_form(&env, &slot, "k", &token, &two_files()).await;
    assert_eq!((s, body["error"].as_str()), (503, Some("unavailable")));
    let event = env.event(&event_id_of(&slot));
    assert!(
        event.attachments.is_empty(),
        "the file added before the failure is removed"
    );
    assert_eq!(
        event.subject, "Borgersamtale - Reserveret",
        "still held for the citizen"
    );
    // The citizen submits again: it completes.
    env.sim.set_faults(Faults::default());
    let Answer(s, receipt) = book_form(&env, &slot, "k", &token, &two_files()).await;
    assert_eq!(s, 200, "{receipt}");
    assert_eq!(env.event(&event_id_of(&slot)).attachments.len(), 3);
}

#[tokio::test]
async fn a_lapsed_hold_whose_files_cannot_be_removed_shows_in_metrics_and_in_check() {
    let env = env_full().await;
    let slot = env.free_slot("demo", 0).await;
    let id = event_id_of(&slot);
    let hold = env.reserve_ok("demo", &slot, "", "").await;
    let token = hold["token"].as_str().unwrap().to_owned();
    // The first file goes on and is recorded, the second fails, and Graph will not let the
    // first be removed again.
    env.sim.set_faults(Faults {
        attachments_before_failure: Some(1),
        attachment_deletes_fail: true,
        ..Faults::default()
    });
    let Answer(s, _) = book_form(&env, &slot, "k", &token, &two_files()).await;
    assert_eq!(s, 503);
    assert_eq!(env.event(&id).attachments.len(), 1);

    // The hold lapses; the sweep cannot give it back.
    env.advance(chrono::TimeDelta::minutes(20));
    let later = env.now + chrono::TimeDelta::minutes(20);
    assert_eq!(env.booket.sweep_expired_holds().await.unwrap(), 0);
    let metrics = || env.metrics();
    assert!(
        metrics().await.contains("booket_holds_stuck 1"),
        "{}",
        metrics().await
    );
    let mut config = env.config.clone();
    config.exchange.hold_sweep = std::time::Duration::from_secs(60);
    let report = server::check::run(&config, server::check::Lang::En, later).await;
    assert!(!report.all_ok());
    assert!(
        report.render().contains(
            "✗ 1 lapsed holds have not been given back (1 with an unfinished booking's files)"
        ),
        "{}",
        report.render()
    );

    // Once Graph lets it, the next sweep frees the slot without the file.
    env.sim.set_faults(Faults::default());
    assert_eq!(env.booket.sweep_expired_holds().await.unwrap(), 1);
    let event = env.event(&id);
    assert!(event.attachments.is_empty());
    assert_eq!(event.subject, "Borgersamtale");
    assert!(metrics().await.contains("booket_holds_stuck 0"));
    let report = server::check::run(&config, server::check::Lang::En, later).await;
    assert!(report.all_ok(), "{}", report.render());
    assert!(report
        .render()
        .contains("✓ No lapsed holds are left standing"));
}

#[tokio::test]
async fn a_mail_failure_never_undoes_the_booking() {
    let env = env_full().await;
    env.sim.set_faults(Faults {
        mail_down: true,
        ..Faults::default()
    });
    let slot = env.free_slot("demo", 0).await;
    let Answer(s, receipt) = book_form(&env, &slot, "k", "", &[]).await;
    assert_eq!(s, 200, "{receipt}");
    assert_eq!(receipt["mail"], "failed");
    assert_eq!(
        env.event(&event_id_of(&slot)).subject,
        "Borgersamtale - Booket"
    );
}

#[tokio::test]
async fn upload_sessions_chunk_at_the_documented_boundaries() {
    let env = Env::start().await;
    let week = env.week_ok("demo", "2026-12-02").await;
    let id = event_id_of(slots_in_state(&week, "free")[0]["id"].as_str().unwrap());
    let c = env.graph_client();
    let creds = AppCredentials {
        tenant_id: seed::DEMO_TENANT.into(),
        client_id: seed::DEMO_CLIENT_ID.into(),
        credential: seed::DEMO_SECRET.into(),
    };
    // (size, via upload session, chunks)
    let cases = [
        (SMALL_ATTACHMENT_LIMIT - 1, false, 0),
        (SMALL_ATTACHMENT_LIMIT, true, 1),
        (UPLOAD_CHUNK, true, 1),
        (UPLOAD_CHUNK + 1, true, 2),
        (2 * UPLOAD_CHUNK, true, 2),
        (2 * UPLOAD_CHUNK + 1, true, 3),
    ];

    for (i, (size, session, chunks)) in cases.into_iter().enumerate() {
        let before = env.sim.stats();
        let bytes = pattern(size, i as u8);
        let name = format!("f{i}.pdf");
        let att = c
            .add_attachment(
                &creds,
                seed::DEMO_OWNER,
                &id,
                &name,
                "application/pdf",
                "test",
                &bytes,
            )
            .await
            .unwrap();
        assert!(att.id.is_some_and(|id| !id.is_empty()), "size {size}");
        let after = env.sim.stats();
        assert_eq!(
            after.upload_sessions - before.upload_sessions,
            u64::from(session),
            "size {size}"
        );
        assert_eq!(
            after.upload_chunks - before.upload_chunks,
            chunks,
            "size {size}"
        );
        assert_eq!(
            env.sim.attachment_bytes(&id, &name).unwrap(),
            bytes,
            "size {size}"
        );
    }
}

#[tokio::test]
async fn without_a_hold_a_failed_booking_is_completed_by_resubmitting_with_the_same_key() {
    let env = env_full().await;
    let slot = env.free_slot("demo", 0).await;
    env.sim.set_faults(Faults {
        attachments_before_failure: Some(0),
        ..Faults::default()
    });
    let Answer(s, _) = book_form(&env, &slot, "no-hold", "", &[("a.pdf", pattern(10, 9))]).await;
    assert_eq!(s, 503);
    // Someone else cannot take it meanwhile; the same request can.
    env.sim.set_faults(Faults::default());
    let Answer(s, _) = book_form(&env, &slot, "someone-else", "", &[]).await;
    assert_eq!(s, 409);
    let Answer(s, receipt) =
        book_form(&env, &slot, "no-hold", "", &[("a.pdf", pattern(10, 9))]).await;
    assert_eq!(s, 200, "{receipt}");
    assert_eq!(
        env.event(&event_id_of(&slot)).attachments.len(),
        2,
        "the file and the summary, once"
    );
}
