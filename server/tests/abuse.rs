//! Valid but abusive anonymous clients, through the real server: who a client is behind a
//! proxy, separate read and write budgets, and what one client can cost Graph.
//!
//! (About 575 lines: one test per way of abuse, each with the set-up it needs.)

mod support;

use support::{session, slot_id, slots_in_state, Answer, Env, Options, StatusOf, SESSION_KEY};

/// A reserve as a client behind a proxy would send it: `forwarded` is what arrives in
/// `X-Forwarded-For`.
async fn reserve_as(env: &Env, forwarded: Option<&str>, slot: &str) -> reqwest::Response {
    env.reserve_with(forwarded.map(|f| ("x-forwarded-for", f)), slot)
        .await
}

async fn week_as(env: &Env, forwarded: &str) -> u16 {
    env.http
        .post(format!("{}/api/week", env.base))
        .header("x-forwarded-for", forwarded)
        .form(&[("form", "demo"), ("element", "tid"), ("week", "2026-12-02")])
        .status_code()
        .await
}

#[tokio::test]
async fn a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored() {
    // The test client connects from 127.0.0.1, which is not a trusted proxy here.
    let env = Env::start_with(Options::default(), |c| c.server.rate_limit_per_minute = 3).await;
    let week = env.week_ok("demo", "2026-12-02").await;
    let free = slots_in_state(&week, "free");
    for (i, s) in free.iter().take(3).enumerate() {
        let fake = format!("198.51.100.{i}");
        let res = reserve_as(&env, Some(&fake), s["id"].as_str().unwrap()).await;
        assert_eq!(res.status().as_u16(), 200);
    }
    // A fresh made-up address each time does not buy a fresh budget.
    let res = reserve_as(&env, Some("203.0.113.77"), free[3]["id"].as_str().unwrap()).await;
    assert_eq!(res.status().as_u16(), 429);
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_citizen_has_their_own_budget_and_is_told_when_to_retry() {
    let env = Env::behind_proxy(|c| c.server.rate_limit_per_minute = 2).await;
    let free = env.free_slots("demo").await;
    let id = |i: usize| free[i].clone();
    // What the citizen put at the left is not believed: the proxy's right-most entry is.
    for i in 0..2 {
        let res = reserve_as(&env, Some(&format!("10.9.9.{i}, 198.51.100.1")), &id(i)).await;
        assert_eq!(res.status().as_u16(), 200);
    }
    let res = reserve_as(&env, Some("10.9.9.9, 198.51.100.1"), &id(2)).await;
    assert_eq!(res.status().as_u16(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"error": "rate_limited", "retry_after": retry})
    );
    // Another citizen behind the same proxy is not locked out.
    let res = reserve_as(&env, Some("198.51.100.2"), &id(2)).await;
    assert_eq!(res.status().as_u16(), 200);
    // The proxy itself (no header) is a client of its own.
    let res = reserve_as(&env, None, &id(3)).await;
    assert_eq!(res.status().as_u16(), 200);
    // An IPv6 citizen rotating through their /64 is one client.
    let res = reserve_as(&env, Some("2001:db8:5:6::1"), &id(4)).await;
    assert_eq!(res.status().as_u16(), 200);
    let res = reserve_as(&env, Some("2001:db8:5:6::2"), &id(5)).await;
    assert_eq!(res.status().as_u16(), 200);
    let res = reserve_as(&env, Some("2001:db8:5:6:ffff::3"), &id(6)).await;
    assert_eq!(res.status().as_u16(), 429);
}

#[tokio::test]
async fn reads_and_writes_have_separate_budgets() {
    let env = Env::behind_proxy(|c| {
        c.server.read_rate_limit_per_minute = 4;
        c.server.rate_limit_per_minute = 100;
    })
    .await;
    let slot = env.free_slot("demo", 0).await;
    for _ in 0..4 {
        assert_eq!(week_as(&env, "198.51.100.9").await, 200);
    }
    assert_eq!(week_as(&env, "198.51.100.9").await, 429);
    // Reading too much does not stop the citizen from booking what they chose.
    let res = reserve_as(&env, Some("198.51.100.9"), &slot).await;
    assert_eq!(res.status().as_u16(), 200);
    // Nor anybody else from reading.
    assert_eq!(week_as(&env, "198.51.100.10").await, 200);
}

/// A read asked with GET (as the loader and a page's preload hints ask) spends the same
/// per-client read budget as one asked with POST: switching between them buys nothing.
#[tokio::test]
async fn reads_by_get_spend_the_same_budget() {
    let env = Env::behind_proxy(|c| {
        c.server.read_rate_limit_per_minute = 4;
    })
    .await;
    let get_as = |forwarded: &'static str| {
        env.http
            .get(format!(
                "{}/api/week?form=demo&element=tid&week=2026-12-02&hold=",
                env.base
            ))
            .header("x-forwarded-for", forwarded)
            .status_code()
    };
    for _ in 0..2 {
        assert_eq!(get_as("198.51.100.20").await, 200);
        assert_eq!(week_as(&env, "198.51.100.20").await, 200);
    }
    assert_eq!(get_as("198.51.100.20").await, 429);
    assert_eq!(week_as(&env, "198.51.100.20").await, 429);
    assert_eq!(get_as("198.51.100.21").await, 200);
}

/// A made-up hold token of the right shape.
fn made_up_token(i: usize) -> String {
    format!("{i:0>22}")
}

#[tokio::test]
async fn reading_every_week_and_releasing_with_made_up_tokens_costs_one_read_per_week() {
    let env = Env::start_with(Options::default(), |c| {
        // Longer than the test runs: "per cache lifetime" is then the whole test.
        c.exchange.cache_ttl = std::time::Duration::from_secs(3600);
        c.server.read_rate_limit_per_minute = 1_000_000;
        c.server.rate_limit_per_minute = 1_000_000;
    })
    .await;
    let start = env.sim.stats();
    let mut releases = 0;
    let monday = chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
    for round in 0..3 {
        for w in 0..53u64 {
            let day = (monday + chrono::Days::new(7 * w)).to_string();
            let Answer(status, week) = env.week("demo", &day).await;
            assert_eq!(status, 200, "{week}");
            // Give back every slot shown with a token that holds none of them.
            for slot in week["slots"].as_array().unwrap() {
                releases += 1;
                let Answer(status, _) = env
                    .release("demo", slot["id"].as_str().unwrap(), &made_up_token(round))
                    .await;
                assert_eq!(status, 200);
            }
        }
    }
    let end = env.sim.stats();
    let reads = end.calendar_view_requests - start.calendar_view_requests;
    assert!(releases >= 500, "only {releases} releases were tried");
    assert!(reads <= 53, "{reads} calendarView reads for 53 weeks");
    assert!(reads >= 1);
    assert_eq!(end.event_gets, start.event_gets, "no event was read");
    assert_eq!(
        end.event_patches, start.event_patches,
        "nothing was written"
    );
}

#[tokio::test]
async fn past_the_read_ceiling_the_last_good_week_is_served_marked_stale_and_never_books() {
    // Nothing is kept between reads (writes keep a kept week right, so here every read of
    // a week is one more Graph read, and the ceiling is what stops them).
    let env = Env::start_with(Options::default(), |c| {
        c.exchange.max_reads_per_minute = 2;
        c.exchange.cache_ttl = std::time::Duration::ZERO;
    })
    .await;
    let Answer(status, first) = env.week("demo", "2026-12-02").await;
    assert_eq!(status, 200);
    assert!(first.get("stale").is_none());
    let Answer(status, _) = env.week("demo", "2026-12-09").await;
    assert_eq!(status, 200);
    // The ceiling is reached: a week never read cannot be shown.
    let Answer(status, body) = env.week("demo", "2026-12-16").await;
    assert_eq!(
        (status, body),
        (503, serde_json::json!({"error": "unavailable"}))
    );

    // A citizen reserves a slot; that week is read again, but cannot be this minute: its
    // last good read is served, marked stale (the slot still looks free there).
    let slot = slot_id(&first, "free", 0);
    let Answer(status, _) = env.reserve("demo", &slot, "", "").await;
    assert_eq!(status, 200);
    let reads = env.sim.stats().calendar_view_requests;
    let Answer(status, stale) = env.week("demo", "2026-12-02").await;
    assert_eq!(status, 200);
    assert_eq!(stale["stale"], true);
    assert_eq!(
        env.sim.stats().calendar_view_requests,
        reads,
        "no Graph read"
    );
    assert!(slots_in_state(&stale, "free")
        .iter()
        .any(|s| s["id"] == slot.as_str()));
    // Another citizen picking it from the stale week is told it is taken: the write path
    // reads the event itself.
    let Answer(status, body) = env.reserve("demo", &slot, "", "").await;
    assert_eq!((status, body), (409, serde_json::json!({"error": "taken"})));

    // The next minute, the week is read from Graph again.
    env.advance(chrono::TimeDelta::seconds(61));
    let Answer(status, fresh) = env.week("demo", "2026-12-02").await;
    assert_eq!(status, 200);
    assert!(fresh.get("stale").is_none());
    assert!(slots_in_state(&fresh, "free")
        .iter()
        .all(|s| s["id"] != slot.as_str()));
}

/// Past the read ceiling every reader of a week gets the answer made from its last good
/// read, marked stale: the same for all, so it is kept like a current one (a crowd reading
/// while the ceiling holds costs one answer, not one per read) and follows the clock as a
/// current one does.
#[tokio::test]
async fn past_the_read_ceiling_the_stale_answer_is_kept_and_follows_the_clock() {
    // Monday 11:29:50 local: the 11:30 slot starts in ten seconds.
    let now = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 30, 10, 29, 50).unwrap();
    let env = Env::start_at(now, |c| {
        c.exchange.max_reads_per_minute = 1;
        c.exchange.cache_ttl = std::time::Duration::ZERO;
    })
    .await;
    let unused = "AAAAAAAAAAAAAAAAAAAAAA";
    let hits = || env.metric("booket_week_answers_total{result=\"hit\"}");
    let first = env.week_ok("demo", "").await;
    assert!(first.get("stale").is_none());
    // The minute's one read is spent: the last good read is served, marked stale.
    let stale = env.week_ok("demo", "").await;
    assert_eq!(stale["stale"], true);
    let before = hits().await;
    let again = env.week_ok("demo", "").await;
    assert_eq!(
        hits().await,
        before + 1,
        "served from the kept stale answer"
    );
    // Compared whole without printing them (each answer is ~11 KB).
    assert!(again == stale, "the kept stale answer differs");
    assert!(
        env.week_held("demo", "", unused).await == stale,
        "a stale answer made for one reader differs from the kept one"
    );
    let at_1130 = |week: &serde_json::Value| {
        week["slots"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["start"] == "2026-11-30T11:30:00+01:00")
            .map(|s| s["state"].clone())
    };
    assert_ne!(at_1130(&stale), Some("past".into()));

    // 11:30:10: the slot has started. The new minute's read goes to another week, so this
    // week is still served from its last good read — with the slot now past.
    env.advance(chrono::TimeDelta::seconds(20));
    assert!(env
        .week_ok("demo", "2026-12-07")
        .await
        .get("stale")
        .is_none());
    let later = env.week_ok("demo", "").await;
    assert_eq!(later["stale"], true);
    assert_eq!(at_1130(&later), Some("past".into()));
    assert!(
        env.week_held("demo", "", unused).await == later,
        "the kept stale answer differs from one made for one reader"
    );
}

/// A booking with a file whose body never ends: only an answer given before the file was
/// read can come back.
async fn book_form_without_end(env: &Env, slot: &str) -> (u16, serde_json::Value) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    tx.send(Ok(b"%PDF-1.7\n".to_vec())).await.unwrap();
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let form = reqwest::multipart::Form::new()
        .text("form", "demo")
        .text("element", "tid")
        .text("slot_id", slot.to_owned())
        .text("idempotency_key", "k1")
        .part(
            "file",
            reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(stream))
                .file_name("endeløs.pdf"),
        );
    // (The bound only keeps a server that waits for the file from hanging the run.)
    let res = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        env.http
            .post(format!("{}/api/book_form", env.base))
            .multipart(form)
            .send(),
    )
    .await
    .expect("answered before the file ended")
    .unwrap();
    let status = res.status().as_u16();
    let body = res.json().await.unwrap_or_default();
    drop(tx);
    (status, body)
}

#[tokio::test]
async fn a_forged_or_taken_slot_is_refused_before_a_byte_of_its_files_is_read() {
    let env = Env::with_documents().await;
    let week = env.week_ok("demo", "2026-12-02").await;
    let slot = slot_id(&week, "free", 0);
    let forged = format!("{}x", &slot[..slot.len() - 1]);
    let (status, body) = book_form_without_end(&env, &forged).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_slot"))
    );
    // Someone else holds the slot: "taken", still before the file.
    let Answer(status, _) = env.reserve("demo", &slot, "", "").await;
    assert_eq!(status, 200);
    assert_eq!(env.week("demo", "2026-12-02").await.0, 200);
    let (status, body) = book_form_without_end(&env, &slot).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("taken")));
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let env = Env::start_with(Options::default(), |c| {
        c.server.header_timeout = std::time::Duration::from_secs(1);
    })
    .await;
    let addr = env.base.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    conn.write_all(b"POST /api/week HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // The server closes the connection without an answer (hyper's header-read time-out
    // sends none: there is no request to answer).
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        conn.read_to_end(&mut answer),
    )
    .await
    .expect("the connection was never closed");
    assert_eq!(read.expect("closed, not reset"), 0);
    assert_eq!(String::from_utf8_lossy(&answer), "");
}

#[tokio::test]
async fn one_client_cannot_hold_more_than_the_cap() {
    let env = Env::behind_proxy(|c| c.server.max_holds_per_client = 3).await;
    let free = env.free_slots("demo").await;
    let id = |i: usize| free[i].clone();
    // Three holds, each with a fresh token (as a script would), from one address.
    let mut tokens = Vec::new();
    for i in 0..3 {
        let res = reserve_as(&env, Some("198.51.100.5"), &id(i)).await;
        assert_eq!(res.status().as_u16(), 200);
        let hold: serde_json::Value = res.json().await.unwrap();
        tokens.push(hold["token"].as_str().unwrap().to_owned());
    }
    let res = reserve_as(&env, Some("198.51.100.5"), &id(3)).await;
    assert_eq!(res.status().as_u16(), 429);
    let held = env
        .events()
        .iter()
        .filter(|e| e.subject.ends_with(" - Reserveret"))
        .count();
    assert_eq!(held, 3);
    // Another citizen behind the same proxy is not affected.
    let res = reserve_as(&env, Some("198.51.100.6"), &id(3)).await;
    assert_eq!(res.status().as_u16(), 200);
    // Giving one back makes room again.
    let Answer(status, _) = env.release("demo", &id(0), &tokens[0]).await;
    assert_eq!(status, 200);
    let res = reserve_as(&env, Some("198.51.100.5"), &id(4)).await;
    assert_eq!(res.status().as_u16(), 200);
}

#[tokio::test]
async fn confirmation_mails_are_capped_per_recipient_a_day() {
    let env = Env::start_with(Options::default(), |c| {
        support::mail_on(c);
        c.mail_limits.per_recipient_per_day = 2;
    })
    .await;
    let week = env.week_ok("demo", "2026-12-02").await;
    let free = slots_in_state(&week, "free");
    let mut outcomes = Vec::new();
    for (i, slot) in free.iter().take(3).enumerate() {
        let form = reqwest::multipart::Form::new()
            .text("form", "demo")
            .text("element", "tid")
            .text("slot_id", slot["id"].as_str().unwrap().to_owned())
            .text("idempotency_key", format!("k{i}"))
            .text(
                "field",
                serde_json::json!({"name": "email", "label": "E-mail", "value": "offer@example.dk"})
                    .to_string(),
            );
        let res = env.send_form(form).await;
        assert_eq!(res.status().as_u16(), 200);
        let receipt: serde_json::Value = res.json().await.unwrap();
        outcomes.push(receipt["mail"].clone());
    }
    assert_eq!(outcomes, vec!["sent", "sent", "failed"]);
    assert_eq!(env.sim.outbox().len(), 2);
    // Its text is the municipality's own: nothing the citizen typed but the address.
    assert!(!env.sim.outbox()[0].body.contains("offer@"));
}

async fn reserve_in_session(env: &Env, slot: &str, session: &str) -> Answer {
    env.reserve_in_session(slot, session).await
}

#[tokio::test]
async fn a_signed_in_citizen_holds_one_slot_per_element_and_is_not_capped_by_address() {
    let env = Env::start_with(Options::default(), |c| {
        c.server.max_holds_per_client = 2;
        for f in &mut c.forms {
            f.session_key = Some(SESSION_KEY.into());
        }
    })
    .await;
    let free = env.free_slots("demo").await;
    let id = |i: usize| free[i].clone();
    let soon = env.now + chrono::TimeDelta::minutes(30);
    let anna = session("pseudonym-anna", "demo", soon, SESSION_KEY);
    // Anna reserves twice with fresh hold tokens: the first is given back.
    let Answer(status, _) = reserve_in_session(&env, &id(0), &anna).await;
    assert_eq!(status, 200);
    let Answer(status, _) = reserve_in_session(&env, &id(1), &anna).await;
    assert_eq!(status, 200);
    assert_eq!(
        env.event(&support::event_id_of(&id(0))).subject,
        "Borgersamtale"
    );
    // Three other citizens at the same address (a library) each hold one: the address cap
    // of 2 is for anonymous use.
    for (i, who) in ["bo", "cem", "dina"].iter().enumerate() {
        let token = session(who, "demo", soon, SESSION_KEY);
        let Answer(status, body) = reserve_in_session(&env, &id(2 + i), &token).await;
        assert_eq!(status, 200, "{who}: {body}");
    }
    let held = env
        .events()
        .iter()
        .filter(|e| e.subject.ends_with(" - Reserveret"))
        .count();
    assert_eq!(held, 4);
    // Tokens that do not verify are refused, and nothing is held for them.
    let late = env.now - chrono::TimeDelta::minutes(1);
    let far = env.now + chrono::TimeDelta::days(30);
    for (what, bad) in [
        (
            "another key",
            session("eve", "demo", soon, "another-key-0123456789abcdef-0123456"),
        ),
        ("another form", session("eve", "weekend", soon, SESSION_KEY)),
        ("expired", session("eve", "demo", late, SESSION_KEY)),
        (
            "valid for a month",
            session("eve", "demo", far, SESSION_KEY),
        ),
        ("not a token", "eyJ.not.a-token".to_string()),
    ] {
        let Answer(status, body) = reserve_in_session(&env, &id(6), &bad).await;
        assert_eq!(
            (status, body),
            (
                400,
                serde_json::json!({"error": "invalid", "field": "session"})
            ),
            "{what}"
        );
    }
    assert_eq!(
        env.event(&support::event_id_of(&id(6))).subject,
        "Borgersamtale"
    );
}

/// Books with one file through the real server; the status and the names on the event.
async fn book_with_file(env: &Env, slot: &str, name: &str, bytes: &[u8]) -> (u16, Vec<String>) {
    let form = reqwest::multipart::Form::new()
        .text("form", "demo")
        .text("element", "tid")
        .text("slot_id", slot.to_owned())
        .text("idempotency_key", format!("k-{}", name.len()))
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes.to_vec())
                .file_name(name.to_owned())
                .mime_str("application/pdf")
                .unwrap(),
        );
    let res = env.send_form(form).await;
    let status = res.status().as_u16();
    let names = env
        .event(&support::event_id_of(slot))
        .attachments
        .iter()
        .map(|a| format!("{} ({})", a.name, a.content_type))
        .collect();
    (status, names)
}

#[tokio::test]
async fn files_are_judged_by_their_bytes_and_their_names_cannot_disguise_them() {
    let env = Env::with_documents().await;
    let free = env.free_slots("demo").await;
    let id = |i: usize| free[i].clone();
    let exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xffPE\0\0".as_slice();
    // A renamed program, and an image called .pdf: refused by content, nothing attached.
    for (i, (name, bytes)) in [
        ("faktura.pdf", exe),
        ("scan.pdf", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".as_slice()),
    ]
    .into_iter()
    .enumerate()
    {
        let (status, names) = book_with_file(&env, &id(i), name, bytes).await;
        assert_eq!((status, names.len()), (415, 0), "{name}");
    }
    // A right-to-left override (U+202E) would make "faktura<RLO>fdp.xls" read as a PDF in Outlook: it
    // arrives without it, with the Content-Type Booket chose (not the browser's).
    let (status, names) =
        book_with_file(&env, &id(2), "faktura\u{202E}fdp.pdf", b"%PDF-1.7\n").await;
    assert_eq!(status, 200);
    assert_eq!(names, vec!["fakturafdp.pdf (application/pdf)".to_string()]);
    let (status, names) = book_with_file(&env, &id(3), "noter.txt", "Hej\n".as_bytes()).await;
    assert_eq!(status, 200);
    assert_eq!(names, vec!["noter.txt (text/plain)".to_string()]);
    // Legacy Office formats are off by default.
    let (status, _) = book_with_file(
        &env,
        &id(4),
        "gammel.doc",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
    )
    .await;
    assert_eq!(status, 415);
}

#[tokio::test]
async fn a_request_that_runs_past_its_time_out_is_answered_unavailable() {
    let env = Env::start_with(Options::default(), |c| {
        c.server.request_timeout = std::time::Duration::from_secs(1);
    })
    .await;
    let week = env.week_ok("demo", "2026-12-09").await;
    let slot = slot_id(&week, "free", 0);
    // Graph answers in 3 s: longer than the request may take.
    env.sim.set_faults(server::sim::model::Faults {
        latency_ms: 3000,
        ..Default::default()
    });
    let Answer(status, body) = env.reserve("demo", &slot, "", "").await;
    // The time-out's own answer (an empty 503), not an error Booket made of Graph's: Graph
    // had not answered yet, and nothing was written.
    assert_eq!((status, body), (503, serde_json::json!("")));
    assert_eq!(env.sim.stats().event_patches, 0);
    assert!(!env
        .event(&support::event_id_of(&slot))
        .subject
        .contains(" - "));
}
