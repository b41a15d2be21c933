//! What a determined client tries after the straightforward attacks are bounded: one hold
//! token collecting slots by naming the wrong slot to give back, concurrent reserves racing
//! past the per-client cap, and a failed write that would keep a place in the count.

mod support;

use server::sim::model::Faults;
use support::*;

/// Free slots of the demo form over the next weeks, in order.
async fn free_slots(env: &Env, weeks: &[&str]) -> Vec<String> {
    let mut free = Vec::new();
    for week in weeks {
        let Answer(status, body) = env.week("demo", week).await;
        assert_eq!(status, 200, "{body}");
        free.extend(free_ids(&body));
    }
    free
}

fn reserved(env: &Env) -> usize {
    env.events()
        .iter()
        .filter(|e| e.subject.ends_with(" - Reserveret"))
        .count()
}

/// A token holding one slot asks for 40 more, naming each new slot (or one it never held)
/// as the slot to give back, one after another and from several tasks at once. Whatever it
/// names, the server gives back what the token holds: one slot stays " - Reserveret".
#[tokio::test]
async fn one_token_holds_one_slot_whatever_it_names_to_give_back() {
    let env = Env::start_with(Options::default(), |c| {
        // Only the one-hold rule may stop it here, not the write budget.
        c.server.rate_limit_per_minute = 10_000;
    })
    .await;
    let free = free_slots(&env, &["2026-12-02", "2026-12-09", "2026-12-16"]).await;
    assert!(free.len() > 41, "{} free slots", free.len());
    let Answer(s, hold) = env.reserve("demo", &free[0], "", "").await;
    assert_eq!(s, 200, "{hold}");
    let token = hold["token"].as_str().unwrap().to_owned();
    for slot in &free[1..21] {
        let Answer(s, body) = env.reserve("demo", slot, &token, slot).await;
        assert!(s == 200 || s == 409 || s == 429, "{s}: {body}");
        assert_eq!(reserved(&env), 1, "after naming {slot} itself: {s} {body}");
    }
    let asks = free[21..41].iter().map(|slot| {
        let (env, token, never_held) = (&env, token.clone(), free[41].clone());
        async move { env.reserve("demo", slot, &token, &never_held).await }
    });
    for Answer(s, body) in futures::future::join_all(asks).await {
        assert!(s == 200 || s == 409 || s == 429, "{s}: {body}");
    }
    assert_eq!(reserved(&env), 1);
}

/// Fresh tokens from one address, all at once: the cap is checked and counted in one step,
/// so exactly the cap's number get through; a write that fails gives its place back.
#[tokio::test]
async fn concurrent_reserves_cannot_pass_the_cap_together_and_a_failed_write_gives_back() {
    let env = Env::start_with(Options::default(), |c| {
        c.server.max_holds_per_client = 3;
        c.server.rate_limit_per_minute = 10_000;
    })
    .await;
    let free = free_slots(&env, &["2026-12-02", "2026-12-09"]).await;
    let asks = free[..12]
        .iter()
        .map(|slot| env.reserve("demo", slot, "", ""));
    let mut statuses: Vec<u16> = futures::future::join_all(asks)
        .await
        .into_iter()
        .map(|Answer(s, _)| s)
        .collect();
    statuses.sort();
    assert_eq!(statuses, [vec![200; 3], vec![429; 9]].concat());
    assert_eq!(reserved(&env), 3);

    // A client with a cap of one whose reservation fails at Exchange: the place it took
    // for it comes back.
    let env = Env::start_with(Options::default(), |c| {
        c.server.max_holds_per_client = 1;
        c.exchange.retry_budget = std::time::Duration::ZERO;
    })
    .await;
    let free = free_slots(&env, &["2026-12-02"]).await;
    env.sim.set_faults(Faults {
        fail_next: vec![400; 2],
        ..Faults::default()
    });
    let Answer(s, body) = env.reserve("demo", &free[0], "", "").await;
    assert_eq!(s, 503, "{body}");
    env.sim.set_faults(Faults::default());
    let Answer(s, body) = env.reserve("demo", &free[1], "", "").await;
    assert_eq!(s, 200, "the failed write kept no place: {body}");
}

/// A release (a write, cheap for Exchange) from behind the trusted proxy, with the
/// forwarding header as the proxy passes it on: what the client wrote, then the address the
/// proxy appended.
async fn release_behind_proxy(env: &Env, slot: &str, forwarded: &[u8]) -> u16 {
    env.http
        .post(format!("{}/api/release", env.base))
        .header(
            "x-forwarded-for",
            reqwest::header::HeaderValue::from_bytes(forwarded).unwrap(),
        )
        .form(&[
            ("form", "demo"),
            ("element", "tid"),
            ("slot_id", slot),
            ("hold", "MadeUpHoldToken0123456"),
        ])
        .status_code()
        .await
}

/// One bad byte the client puts in `X-Forwarded-For` does not make its requests count as
/// the proxy's (a second budget, shared with every malformed header): the address the proxy
/// appended still names the client. And an IPv6 /48 has one outer budget over its /64s.
#[tokio::test]
async fn the_client_key_is_not_the_clients_to_choose() {
    let env = Env::behind_proxy(|c| c.server.rate_limit_per_minute = 2).await;
    let slot = free_slots(&env, &["2026-12-02"]).await.remove(0);
    let a = b"\xff, 198.51.100.7";
    assert_eq!(release_behind_proxy(&env, &slot, a).await, 200);
    assert_eq!(release_behind_proxy(&env, &slot, a).await, 200);
    assert_eq!(release_behind_proxy(&env, &slot, a).await, 429);
    // The same trick from another citizen: their own budget, not one shared with A's.
    let b = b"1.2.3.4\x80, 198.51.100.8";
    assert_eq!(release_behind_proxy(&env, &slot, b).await, 200);
    // A well-formed header from A is still A.
    assert_eq!(
        release_behind_proxy(&env, &slot, b"203.0.113.1, 198.51.100.7").await,
        429
    );

    // One /48: 16 × 2 writes across its /64s, then every /64 of it waits.
    let mut statuses = Vec::new();
    for i in 0..40u16 {
        let forwarded = format!("2001:db8:7:{i:x}::1");
        statuses.push(release_behind_proxy(&env, &slot, forwarded.as_bytes()).await);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        32,
        "{statuses:?}"
    );
    assert_eq!(
        release_behind_proxy(&env, &slot, b"2001:db8:8::1").await,
        200,
        "another site"
    );
}

/// Opens a connection and sends a week request's headers announcing `len` bytes of body,
/// then drips the body one byte every 200 ms. Returns whether the server answered (or
/// closed) before the body was complete, and the status line it sent, if any.
async fn drip_week(addr: &str, len: usize) -> (bool, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/week HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {len}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let (mut read, mut write) = s.into_split();
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        let n = read.read(&mut buf).await.unwrap_or(0);
        String::from_utf8_lossy(&buf[..n])
            .lines()
            .next()
            .unwrap_or("")
            .to_owned()
    });
    for _ in 0..len {
        if reader.is_finished() {
            return (true, reader.await.unwrap());
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        if write.write_all(b"x").await.is_err() {
            break;
        }
    }
    let finished_early = reader.is_finished();
    (finished_early, reader.await.unwrap())
}

/// 50 bodies dripping into `/api/week` are cut once `body_timeout` has passed — long
/// before they would be complete — and a citizen's week is answered meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_dripping_into_the_week_are_cut_and_citizens_are_still_served() {
    let env = Env::start_with(Options::default(), |c| {
        c.server.body_timeout = std::time::Duration::from_secs(1);
    })
    .await;
    let addr = env.base.trim_start_matches("http://").to_owned();
    // 100 bytes at 5 a second would take 20 s; the deadline is 1 s.
    let drips: Vec<_> = (0..50)
        .map(|_| tokio::spawn(drip_week_owned(addr.clone(), 100)))
        .collect();
    let Answer(status, week) = env.week("demo", "2026-12-02").await;
    assert_eq!(status, 200, "{week}");
    for d in drips {
        let (early, status_line) = d.await.unwrap();
        assert!(early, "answered only after the whole body: {status_line:?}");
        assert!(
            status_line.is_empty() || !status_line.contains(" 200 "),
            "{status_line}"
        );
    }
    let Answer(status, _) = env.week("demo", "2026-12-02").await;
    assert_eq!(status, 200);
}

async fn drip_week_owned(addr: String, len: usize) -> (bool, String) {
    drip_week(&addr, len).await
}

/// Past `max_connections` open connections a new one is answered 503 at once (with
/// `Retry-After`) and counted; once they close, citizens are served again.
#[tokio::test]
async fn connections_past_the_cap_are_refused_clearly_and_counted() {
    use tokio::io::AsyncReadExt;
    let env = Env::start_with(Options::default(), |c| {
        c.server.max_connections = 16;
        // A connection taken in under the cap that says nothing is closed after this.
        c.server.header_timeout = std::time::Duration::from_secs(1);
    })
    .await;
    let addr = env.base.trim_start_matches("http://").to_owned();
    let mut idle = Vec::new();
    for _ in 0..16 {
        idle.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    // Wait until the server has taken all 16 in (they say nothing).
    let mut refused = None;
    for _ in 0..5 {
        let mut extra = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let mut answer = String::new();
        let _ = extra.read_to_string(&mut answer).await;
        if answer.starts_with("HTTP/1.1 503") {
            refused = Some(answer);
            break;
        }
    }
    let answer = refused.expect("a connection past the cap is refused");
    assert!(answer.contains("retry-after: 5"), "{answer}");
    assert!(answer.ends_with(r#"{"error":"unavailable"}"#), "{answer}");
    drop(idle);
    // Once closed, a citizen is served again (the server notices the closes first).
    let mut served = false;
    for _ in 0..100 {
        if let Ok(res) = env
            .http
            .post(format!("{}/api/week", env.base))
            .form(&[("form", "demo"), ("element", "tid"), ("week", "2026-12-02")])
            .send()
            .await
        {
            if res.status() == 200 {
                served = true;
                break;
            }
        }
        tokio::task::yield_now().await;
    }
    assert!(served);
    let metrics = env.metrics().await;
    let refused_count: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("booket_connections_refused_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the refusals are counted");
    assert!(refused_count >= 1, "{metrics}");
}

/// A booking with files whose identifying parts are real and whose one file then drips a
/// byte every second, from behind the trusted proxy as `client`. Returns the status it
/// was answered with (or 0 when the connection closed without an answer), and whether that
/// came before its file was complete.
async fn drip_upload(addr: String, client: String, slot: String, key: String) -> (u16, bool) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let boundary = "dripdripdrip";
    let part = |name: &str, value: &str| {
        format!(
            "--{boundary}\r\ncontent-disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        )
    };
    let mut head = String::new();
    for (n, v) in [
        ("form", "demo"),
        ("element", "tid"),
        ("slot_id", slot.as_str()),
        ("idempotency_key", key.as_str()),
        ("hold", ""),
    ] {
        head.push_str(&part(n, v));
    }
    head.push_str(&format!(
        "--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\ncontent-type: text/plain\r\n\r\n"
    ));
    let file_len = 300;
    let tail = format!("\r\n--{boundary}--\r\n");
    let len = head.len() + file_len + tail.len();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let request = format!(
        "POST /api/book_form HTTP/1.1\r\nhost: x\r\naccept: application/json\r\nx-forwarded-for: {client}\r\ncontent-type: multipart/form-data; boundary={boundary}\r\ncontent-length: {len}\r\n\r\n{head}"
    );
    s.write_all(request.as_bytes()).await.unwrap();
    let (mut read, mut write) = s.into_split();
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        let n = read.read(&mut buf).await.unwrap_or(0);
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        text.split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    });
    for _ in 0..file_len {
        if reader.is_finished() {
            return (reader.await.unwrap(), true);
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        if write.write_all(b"x").await.is_err() {
            break;
        }
    }
    let early = reader.is_finished();
    (reader.await.unwrap(), early)
}

fn with_proxy_and_documents(c: &mut server::config::Config) {
    c.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    for f in &mut c.forms {
        for el in &mut f.elements {
            el.attach_documents = true;
        }
    }
}

/// 8 addresses each drip 2 uploads (real slots, so they pass every check before the
/// files): they cannot take every place, and a citizen from a ninth address books with a
/// 2 KB document while all 16 are still dripping.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_uploads_from_a_handful_of_addresses_cannot_take_every_place() {
    let env = Env::start_with(Options::default(), with_proxy_and_documents).await;
    let free = free_slots(&env, &["2026-12-02", "2026-12-09"]).await;
    let addr = env.base.trim_start_matches("http://").to_owned();
    let drips: Vec<_> = (0..16)
        .map(|i| {
            tokio::spawn(drip_upload(
                addr.clone(),
                format!("198.51.100.{}", 10 + i / 2),
                free[i].clone(),
                format!("k-drip-{i}"),
            ))
        })
        .collect();
    // Until the drips hold what places they can get (all 16 when the places are enough).
    let reading = || async {
        env.metrics()
            .await
            .lines()
            .find_map(|l| l.strip_prefix("booket_upload_places_reading "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    for _ in 0..200 {
        if reading().await >= 16 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(reading().await >= 8, "the drips read");
    let doc = vec![b'a'; 2048];
    let res = env
        .http
        .post(format!("{}/api/book_form", env.base))
        .header("accept", "application/json")
        .header("x-forwarded-for", "203.0.113.50")
        .multipart(
            reqwest::multipart::Form::new()
                .text("form", "demo")
                .text("element", "tid")
                .text("slot_id", free[20].clone())
                .text("idempotency_key", "k-citizen")
                .text("hold", "")
                .part(
                    "file",
                    reqwest::multipart::Part::bytes(doc)
                        .file_name("notat.txt")
                        .mime_str("text/plain")
                        .unwrap(),
                ),
        )
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    assert_eq!(status, 200, "{}", res.text().await.unwrap());
    // Every drip was still holding its place when the citizen was served.
    assert_eq!(reading().await, 16, "every drip reads");
    for d in drips {
        d.abort();
    }
}

/// A file that arrives slower than the minimum rate loses its place once the grace period
/// has passed, long before it would be complete, and the client is told to check its
/// connection (503 "network").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dripping_upload_is_cut_after_the_grace_period() {
    let env = Env::start_with(Options::default(), |c| {
        with_proxy_and_documents(c);
        c.server.upload_rate_grace = std::time::Duration::from_secs(2);
    })
    .await;
    let free = free_slots(&env, &["2026-12-02"]).await;
    let addr = env.base.trim_start_matches("http://").to_owned();
    let (status, early) = drip_upload(
        addr,
        "198.51.100.77".into(),
        free[0].clone(),
        "k-slow".into(),
    )
    .await;
    assert!(early, "cut before the 300 s the file would take");
    assert_eq!(status, 503);
}

/// An Exchange server hardened against NTLM relay requires a MIC in the logon: Booket's
/// NTLMv2 logon carries `MsvAvFlags` with the MIC bit and a MIC over all three messages,
/// so a citizen books on it as on any other.
#[tokio::test]
async fn an_exchange_that_requires_a_mic_takes_bookets_logon() {
    let env = Env::start().await;
    env.sim.set_faults(Faults {
        ews_require_mic: true,
        ..Faults::default()
    });
    let Answer(status, week) = env.week("jobcenter", "2026-12-02").await;
    assert_eq!(status, 200, "{week}");
    let slot = free_ids(&week).remove(0);
    let Answer(status, receipt) = env.book("jobcenter", &slot, "k-mic").await;
    assert_eq!(status, 200, "{receipt}");
    assert!(env.sim.stats().ews_logons >= 1);
}

/// Every file part counts against `max_files`, empty ones too: a booking that sends 40
/// empty file parts (each was a parse and, before, a temporary file) is refused as having
/// too many files, and nothing is booked.
#[tokio::test]
async fn empty_file_parts_count_against_the_file_limit() {
    let env = Env::start_with(Options::default(), |c| {
        with_proxy_and_documents(c);
        c.server.uploads.max_files = 3;
    })
    .await;
    let slot = free_slots(&env, &["2026-12-02"]).await.remove(0);
    let empty = vec![("", Vec::new()); 40];
    let Answer(status, body) = env.book_form("demo", &slot, "k-empty", "", &empty).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["problem"], "too_many", "{body}");
    assert!(!env.event(&event_id_of(&slot)).subject.contains(" - "));
}
