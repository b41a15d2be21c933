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

/// The two reads may be asked with GET and the arguments in the query (the loader does, so
/// that a page's preload hints are taken): the same answers and refusals as the POST, the
/// same origin check, and no other function answers a GET.
#[tokio::test]
async fn reads_by_get_answer_as_the_post_does_and_nothing_else_is_a_get() {
    let env = Env::start_with(Default::default(), |c| {
        c.server.allowed_origins = vec!["https://selvbetjening.kommune.dk".into()];
        c.server.max_body_bytes = 4096;
    })
    .await;
    let get = |path: String, origin: Option<&'static str>| {
        let mut req = env.http.get(format!("{}{path}", env.base));
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        async move { Answer::of(req.send().await.unwrap()).await }
    };
    let posted = env.week_ok("demo", "2026-12-02").await;
    let got = get(
        "/api/week?form=demo&element=tid&week=2026-12-02&hold=".into(),
        None,
    )
    .await
    .ok();
    assert_eq!(got, posted);
    let Answer(s, element) = get("/api/element?form=demo&element=tid".into(), None).await;
    assert_eq!(s, 200, "{element}");
    assert_eq!(
        (&element["form"], &element["name"]),
        (&"demo".into(), &"tid".into())
    );

    // Refused as the POST is: bad arguments, an unknown element, a query over the limit.
    get(
        "/api/week?form=demo&element=tid&week=2026-13-45&hold=".into(),
        None,
    )
    .await
    .refused(400, "invalid");
    get("/api/week?form=demo&element=nope&week=&hold=".into(), None)
        .await
        .refused(404, "unknown_element");
    get("/api/week?form=demo".into(), None)
        .await
        .refused(400, "invalid");
    // (An argument the function does not know is passed over, as in a body: only the
    // length refuses this one.)
    let pad = "x".repeat(env.config.server.max_body_bytes);
    get(
        format!("/api/element?form=demo&element=tid&pad={pad}"),
        None,
    )
    .await
    .refused(400, "invalid");
    let Answer(s, _) = get(
        format!("/api/element?form=demo&element=tid&pad={}", &pad[..100]),
        None,
    )
    .await;
    assert_eq!(s, 200);

    // The origin check applies: an origin not on the list is refused; a listed one gets
    // the CORS answer its page needs to read it.
    get(
        "/api/element?form=demo&element=tid".into(),
        Some("https://evil.example"),
    )
    .await
    .refused(403, "forbidden_origin");
    let res = env
        .http
        .get(format!("{}/api/element?form=demo&element=tid", env.base))
        .header("origin", "https://selvbetjening.kommune.dk")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://selvbetjening.kommune.dk"
    );
    assert_eq!(res.headers()["cache-control"], "no-store");

    // A write is never a GET (a link or an image could otherwise make one).
    let free = slot_id(&posted, "free", 0);
    for function in ["reserve", "release", "book", "book_form"] {
        let res = env
            .http
            .get(format!(
                "{}/api/{function}?form=demo&element=tid&slot_id={free}&hold=&release_slot_id=&session=&idempotency_key=k",
                env.base
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 405, "{function}");
    }
    env.assert_nothing_written();
}

/// The two reads answer GET (and HEAD), POST and a browser's CORS preflight, as they did
/// when each was a method route under the API's layers: any other method is 405 with the
/// methods it takes, costs no read and writes nothing; a preflight from a listed origin is
/// answered by the CORS layer, one from elsewhere gets no permission.
#[tokio::test]
async fn reads_answer_their_methods_and_preflights_only() {
    let env = Env::start_with(Default::default(), |c| {
        c.server.allowed_origins = vec!["https://selvbetjening.kommune.dk".into()];
    })
    .await;
    for function in ["element", "week"] {
        let url = format!(
            "{}/api/{function}?form=demo&element=tid&week=&hold=",
            env.base
        );
        // Every call that reaches the function is counted, whatever its answer.
        let calls = || async {
            let prefix = format!("booket_requests_total{{function=\"{function}\"");
            env.metrics()
                .await
                .lines()
                .filter(|l| l.starts_with(&prefix))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                .sum::<u64>()
        };
        let before = calls().await;
        for method in ["PUT", "DELETE", "PATCH"] {
            let res = env
                .http
                .request(method.parse().unwrap(), &url)
                .body("form=demo&element=tid&week=&hold=")
                .send()
                .await
                .unwrap();
            assert_eq!(res.status().as_u16(), 405, "{method} {function}");
            let allow = res.headers()["allow"]
                .to_str()
                .unwrap()
                .to_ascii_uppercase();
            let mut allowed: Vec<&str> = allow.split(',').map(str::trim).collect();
            allowed.sort_unstable();
            assert_eq!(allowed, ["GET", "HEAD", "POST"], "{method} {function}");
        }
        assert_eq!(calls().await, before, "a refused method reached {function}");
        let head = env.http.head(&url).send().await.unwrap();
        assert_eq!(head.status().as_u16(), 200, "HEAD {function}");
        assert_eq!(
            head.headers()["cache-control"],
            "no-store",
            "HEAD {function}"
        );
        assert!(head.bytes().await.unwrap().is_empty(), "HEAD {function}");

        let preflight = |origin: &'static str| {
            env.http
                .request(reqwest::Method::OPTIONS, &url)
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "content-type")
                .send()
        };
        let res = preflight("https://selvbetjening.kommune.dk").await.unwrap();
        assert_eq!(res.status().as_u16(), 200, "preflight {function}");
        assert_eq!(
            res.headers()["access-control-allow-origin"],
            "https://selvbetjening.kommune.dk"
        );
        let methods = res.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap();
        assert!(
            methods.contains("POST") && methods.contains("GET"),
            "{methods}"
        );
        // What the answer depends on: the origin (on the list or not), nothing else asked.
        assert_eq!(res.headers()["vary"], "origin", "preflight {function}");
        let res = preflight("https://evil.example").await.unwrap();
        assert!(
            res.headers().get("access-control-allow-origin").is_none(),
            "preflight {function} from an unlisted origin"
        );
    }
    env.assert_nothing_written();
}

/// A browser that takes gzip gets the API's answers gzipped (a week is ~11 KB of JSON);
/// a client that does not ask, or refuses it, gets them plain. Same JSON either way. A kept
/// week's gzip is made once, when it is kept, and sent as it is to every browser that reads
/// it (with its length); an answer that only one citizen gets (their hold marked) is
/// compressed for them, in one piece too. Answers under 1 KB go plain.
#[tokio::test]
async fn answers_are_gzipped_for_clients_that_take_it() {
    use std::io::Read;
    let env = Env::start().await;
    let gzipped_total = || env.metric("booket_week_answers_gzipped_total ");
    let unzip = |bytes: &[u8]| {
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut unzipped)
            .unwrap();
        unzipped
    };
    let get = |path: String, accept: Option<&'static str>| {
        let env = &env;
        async move {
            let mut req = env.http.get(format!("{}/api/{path}", env.base));
            if let Some(accept) = accept {
                req = req.header("accept-encoding", accept);
            }
            let answer = req.send().await.unwrap();
            let headers = answer.headers().clone();
            (answer.status(), headers, answer.bytes().await.unwrap())
        }
    };
    let read = |hold: &'static str, accept: Option<&'static str>| {
        let get = &get;
        async move {
            let path = format!("week?form=demo&element=tid&week=2026-12-02&hold={hold}");
            let (status, headers, body) = get(path, accept).await;
            assert_eq!(status, 200);
            (headers, body)
        }
    };
    let (headers, plain) = read("", None).await;
    assert!(headers.get("content-encoding").is_none());
    assert_eq!(gzipped_total().await, 1, "kept, and gzipped once");
    let mut sent = Vec::new();
    for accept in ["gzip", "gzip, deflate, br, zstd", "br;q=1, x-gzip;q=0.5"] {
        let (headers, zipped) = read("", Some(accept)).await;
        assert_eq!(headers["content-encoding"], "gzip", "{accept}");
        assert_eq!(
            headers["content-length"],
            zipped.len().to_string(),
            "{accept}"
        );
        assert!(
            headers
                .get_all("vary")
                .iter()
                .any(|v| v.to_str().unwrap().contains("accept-encoding")),
            "{accept}"
        );
        assert!(
            zipped.len() * 3 < plain.len(),
            "{} of {}",
            zipped.len(),
            plain.len()
        );
        assert_eq!(unzip(&zipped), plain, "{accept}");
        sent.push(zipped);
    }
    assert!(sent.windows(2).all(|w| w[0] == w[1]), "the one kept gzip");
    assert_eq!(gzipped_total().await, 1, "no answer compressed again");
    for refusal in ["gzip;q=0", "identity", "br"] {
        let (headers, body) = read("", Some(refusal)).await;
        assert!(headers.get("content-encoding").is_none(), "{refusal}");
        assert_eq!(body, plain, "{refusal}");
    }
    // A citizen's own week (their hold marked; here a token that holds nothing) is theirs
    // alone: not kept, compressed for them, the same JSON.
    let hold = "AAAAAAAAAAAAAAAAAAAAAA";
    let (headers, own_plain) = read(hold, None).await;
    assert!(headers.get("content-encoding").is_none());
    let (headers, own) = read(hold, Some("gzip")).await;
    assert_eq!(headers["content-encoding"], "gzip");
    assert_eq!(headers["content-length"], own.len().to_string());
    assert!(own.len() * 3 < own_plain.len());
    assert_eq!(unzip(&own), own_plain);
    assert_eq!(gzipped_total().await, 1);
    // Answers under 1 KB go plain whoever asks: an element, an error.
    for path in [
        "element?form=demo&element=tid",
        "element?form=demo&element=nothing",
    ] {
        let (_, headers, body) = get(path.into(), Some("gzip")).await;
        assert!(headers.get("content-encoding").is_none(), "{path}");
        assert!(body.len() < 1024, "{path}: {} B", body.len());
        serde_json::from_slice::<serde_json::Value>(&body).unwrap();
    }
}
