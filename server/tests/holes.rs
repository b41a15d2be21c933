//! What a determined client tries after the straightforward attacks are bounded: one hold
//! token collecting slots by naming the wrong slot to give back, concurrent reserves racing
//! past the per-client cap, and a failed write that would keep a place in the count.

mod common;
use common::*;
use server::sim::model::Faults;

/// Free slots of the demo form over the next weeks, in order.
async fn free_slots(env: &Env, weeks: &[&str]) -> Vec<String> {
    let mut free = Vec::new();
    for week in weeks {
        let (status, body) = env.week("demo", week).await;
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
    let (s, hold) = env.reserve("demo", &free[0], "", "").await;
    assert_eq!(s, 200, "{hold}");
    let token = hold["token"].as_str().unwrap().to_owned();
    for slot in &free[1..21] {
        let (s, body) = env.reserve("demo", slot, &token, slot).await;
        assert!(s == 200 || s == 409 || s == 429, "{s}: {body}");
        assert_eq!(reserved(&env), 1, "after naming {slot} itself: {s} {body}");
    }
    let asks = free[21..41].iter().map(|slot| {
        let (env, token, never_held) = (&env, token.clone(), free[41].clone());
        async move { env.reserve("demo", slot, &token, &never_held).await }
    });
    for (s, body) in futures::future::join_all(asks).await {
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
        .map(|(s, _)| s)
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
    let (s, body) = env.reserve("demo", &free[0], "", "").await;
    assert_eq!(s, 503, "{body}");
    env.sim.set_faults(Faults::default());
    let (s, body) = env.reserve("demo", &free[1], "", "").await;
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
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// One bad byte the client puts in `X-Forwarded-For` does not make its requests count as
/// the proxy's (a second budget, shared with every malformed header): the address the proxy
/// appended still names the client. And an IPv6 /48 has one outer budget over its /64s.
#[tokio::test]
async fn the_client_key_is_not_the_clients_to_choose() {
    let env = Env::start_with(Options::default(), |c| {
        c.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.server.rate_limit_per_minute = 2;
    })
    .await;
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
