//! A corpus of malformed and hostile server-function requests (docs/contributors/testing.md, Hostile input): every one gets a
//! clear 4xx, and nothing in the calendar changes. Also: the configured secrets never show
//! up in a response body, the built bundle or the logs.

mod support;

use app::api::{ElementName, FormId};
use server::booking::slot_id::{SlotRef, SlotSigner};
use server::mailbox::EventId;
use server::sim::seed;
use support::{event_id_of, slot_id, Answer, Env, Options};

/// Values that must never get through as they are.
fn nasty_values() -> Vec<String> {
    vec![
        String::new(),
        "x".repeat(5_000),
        "\u{0}".into(),
        "a\u{7}b".into(),
        "line\nbreak".into(),
        "<script>alert(1)</script>".into(),
        "\"><img src=x onerror=alert(1)>".into(),
        "' OR 1=1 --".into(),
        "../../etc/passwd".into(),
        "%00%ff".into(),
        "\u{202e}evil".into(),
        "{{7*7}}".into(),
        "🙂".repeat(300),
    ]
}

#[tokio::test]
async fn hostile_requests_get_a_clear_4xx_and_change_nothing() {
    let env = Env::start_with(Options::default(), |c| {
        c.server.rate_limit_per_minute = 1_000_000
    })
    .await;
    let week = env.week_ok("demo", "2026-12-02").await;
    let free = slot_id(&week, "free", 0);
    let weekend = env.week_ok("weekend", "2026-12-02").await;
    let foreign = slot_id(&weekend, "free", 0);
    let now_week = env.week_ok("demo", "").await;
    let too_soon = slot_id(&now_week, "too_soon", 0);
    let past = slot_id(&now_week, "past", 0);

    // Ids signed with the server's own key for events the element never offers: the rules
    // are re-checked at write time, not trusted from the id.
    let signer = SlotSigner::new(b"test-slot-key");
    let form = FormId::parse("demo").unwrap();
    let mut never_offered = Vec::new();
    for e in env.events() {
        if e.kind.starts_with("noise:") {
            let slot = SlotRef {
                event_id: EventId::new(e.id.clone()),
                start: e.start,
                end: e.end,
            };
            let tid = ElementName::parse("tid").unwrap();
            never_offered.push(signer.issue(&form, &tid, &slot).to_string());
        }
    }
    assert!(never_offered.len() >= 12, "{}", never_offered.len());
    let tampered = {
        let mut p: Vec<String> = free.split('.').map(str::to_owned).collect();
        p[3] = format!("A{}", &p[3][1..]);
        p.join(".")
    };
    let other_element = signer
        .issue(
            &form,
            &ElementName::parse("other").unwrap(),
            &SlotRef {
                event_id: EventId::new(event_id_of(&free)),
                start: chrono::Utc::now(),
                end: chrono::Utc::now(),
            },
        )
        .to_string();

    let before = env.events();
    let mut cases: Vec<(String, Vec<(String, String)>)> = Vec::new();
    let args = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    };
    // Every slot id that must be refused, on every write function.
    let forged: Vec<String> = vec![tampered, other_element, foreign, "x".into(), "".into()];
    let not_bookable: Vec<String> = [vec![too_soon, past], never_offered].concat();
    for function in ["reserve", "book", "release"] {
        // Giving back a slot one does not hold is a harmless no-op, so release is only
        // fed ids the server must not accept at all.
        let slots: Vec<&String> = if function == "release" {
            forged.iter().collect()
        } else {
            forged.iter().chain(&not_bookable).collect()
        };
        for slot in slots {
            cases.push((
                function.into(),
                args(&[
                    ("form", "demo"),
                    ("element", "tid"),
                    ("slot_id", slot),
                    ("idempotency_key", "k"),
                    ("hold", "AAAAAAAAAAAAAAAAAAAAAA"),
                ]),
            ));
        }
    }
    // Every argument of every function replaced by every nasty value.
    let shapes: Vec<(&str, Vec<(&str, String)>)> = vec![
        (
            "element",
            vec![("form", "demo".into()), ("element", "tid".into())],
        ),
        (
            "week",
            vec![
                ("form", "demo".into()),
                ("element", "tid".into()),
                ("week", "2026-12-02".into()),
            ],
        ),
        (
            "reserve",
            vec![
                ("form", "demo".into()),
                ("element", "tid".into()),
                ("slot_id", free.clone()),
                ("hold", "".into()),
            ],
        ),
        (
            "book",
            vec![
                ("form", "demo".into()),
                ("element", "tid".into()),
                ("slot_id", free.clone()),
                ("idempotency_key", "k".into()),
            ],
        ),
    ];
    for (function, base) in &shapes {
        for i in 0..base.len() {
            for value in nasty_values() {
                let mut a: Vec<(String, String)> = base
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect();
                // An empty `week` or `hold` is allowed (it means "this week" / "no hold").
                if value.is_empty() && matches!(a[i].0.as_str(), "week" | "hold") {
                    continue;
                }
                a[i].1 = value;
                cases.push((function.to_string(), a));
            }
            // And the argument missing altogether (week and hold are optional).
            if !matches!(base[i].0, "week" | "hold") {
                let a: Vec<(String, String)> = base
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, (k, v))| (k.to_string(), v.clone()))
                    .collect();
                cases.push((function.to_string(), a));
            }
        }
    }
    // Unknown functions. (Unknown extra arguments are ignored, like any tolerant reader.)
    cases.push(("nothing".into(), args(&[("form", "demo")])));
    assert!(cases.len() >= 200, "only {} cases", cases.len());
    eprintln!("{} hostile requests", cases.len());

    for (function, a) in &cases {
        let Answer(status, body) = env
            .call(
                function,
                &a.iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect::<Vec<_>>(),
            )
            .await;
        assert!(
            (400..500).contains(&status),
            "{function} {a:?} → {status} {body}"
        );
        assert!(
            body.get("error").is_some(),
            "{function} {a:?} → untyped {body}"
        );
        let text = body.to_string();
        assert!(
            !text.contains("panicked") && !text.contains("Graph") && !text.contains("AAMk"),
            "{text}"
        );
    }

    // Raw bodies: invalid UTF-8, wrong content types, a huge body, a wrong method.
    let raw: Vec<(&str, &str, Vec<u8>)> = vec![
        (
            "week",
            "application/x-www-form-urlencoded",
            b"form=%FF%FE&element=tid".to_vec(),
        ),
        (
            "week",
            "application/x-www-form-urlencoded",
            vec![0xff, 0xfe, 0xfd],
        ),
        (
            "week",
            "application/json",
            br#"{"form":"demo","element":"tid"}"#.to_vec(),
        ),
        (
            "week",
            "text/plain",
            b"form=demo&element=tid&week=%%%".to_vec(),
        ),
        ("book_form", "multipart/form-data", b"no boundary".to_vec()),
        (
            "book_form",
            "multipart/form-data; boundary=x",
            b"--x\r\nContent-Disposition: form-data; name=\"evil\"\r\n\r\n1\r\n--x--\r\n".to_vec(),
        ),
        (
            "book",
            "application/x-www-form-urlencoded",
            vec![b'a'; 200 * 1024],
        ),
    ];
    for (function, ct, body) in raw {
        let res = env
            .http
            .post(format!("{}/api/{function}", env.base))
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(
            res.status().is_client_error(),
            "{function} {ct}: {}",
            res.status()
        );
    }
    let res = env
        .http
        .get(format!("{}/api/week", env.base))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error(), "GET: {}", res.status());

    env.assert_nothing_written();
    let after = env.events();
    assert!(before
        .iter()
        .zip(&after)
        .all(|(b, a)| b.subject == a.subject && b.change_key == a.change_key));
}

#[tokio::test]
async fn configured_secrets_never_appear_in_responses_or_the_bundle() {
    let env = Env::start().await;
    let secrets = [seed::DEMO_SECRET, "test-slot-key"];
    let mut bodies = Vec::new();
    // A normal flow, and the failures that talk about secrets.
    let week = env.week_ok("demo", "2026-12-02").await;
    bodies.push(week.to_string());
    let slot = slot_id(&week, "free", 0);
    for (f, a) in [
        ("element", vec![("form", "demo"), ("element", "tid")]),
        (
            "reserve",
            vec![
                ("form", "demo"),
                ("element", "tid"),
                ("slot_id", slot.as_str()),
            ],
        ),
        (
            "book",
            vec![
                ("form", "demo"),
                ("element", "tid"),
                ("slot_id", slot.as_str()),
                ("idempotency_key", "k"),
            ],
        ),
        (
            "book",
            vec![
                ("form", "demo"),
                ("element", "tid"),
                ("slot_id", "forged"),
                ("idempotency_key", "k"),
            ],
        ),
    ] {
        bodies.push(env.call(f, &a).await.1.to_string());
    }
    for page in ["/", "/simulator", "/designer", "/forms/demo"] {
        bodies.push(
            env.http
                .get(format!("{}{page}", env.base))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
    }
    // The widget's loader as served (from the built dist/).
    let loader = env
        .http
        .get(format!("{}/booket/booket.js", env.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        loader.status().as_u16(),
        200,
        "the widget is not built: run scripts/build.sh (scripts/test.sh does) before the tests"
    );
    let loader = loader.text().await.unwrap();
    assert!(loader.contains("import"), "{loader:.200}");
    bodies.push(loader);
    // A wrong secret configured: the refusal reaches nobody but the log.
    let wrong = Env::start_with(Options::default(), |c| {
        c.calendars[0].graph_app_mut().credential = seed::DEMO_SECRET_ID.into()
    })
    .await;
    bodies.push(wrong.week("demo", "").await.1.to_string());
    for body in &bodies {
        for s in secrets.iter().chain([&seed::DEMO_SECRET_ID]) {
            assert!(!body.contains(s), "a secret in a response: {body:.200}");
        }
    }
    // The built widget: every file of dist/ (scripts/test.sh builds it first; without it
    // this check has nothing to look at, and fails).
    let dist = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../dist"));
    let entries = std::fs::read_dir(dist)
        .expect("dist/ is missing: run scripts/build.sh (scripts/test.sh does) before the tests");
    let mut seen = 0;
    for entry in entries.flatten() {
        let bytes = std::fs::read(entry.path()).unwrap_or_default();
        for s in secrets {
            assert!(
                !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                "{s} in {}",
                entry.path().display()
            );
        }
        seen += 1;
    }
    // files.json names this build's wasm (tools/finish-widget.mjs).
    let files = std::fs::read_to_string(dist.join("files.json")).unwrap_or_default();
    let files: serde_json::Value = serde_json::from_str(&files).unwrap_or_default();
    let wasm = files["wasm"].as_str().unwrap_or("missing.wasm");
    assert!(
        std::fs::metadata(dist.join(wasm)).is_ok_and(|m| m.len() > 0),
        "dist/ holds no built wasm ({seen} files)"
    );
}
