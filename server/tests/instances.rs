//! Two instances on one shared store (a real Redis, docs/operators/instances.md): what one
//! writes, the other's week shows at once; with the store down, reads go on and writes are
//! refused. (The races between instances are in races.rs.)

mod support;

use std::time::Duration;
use support::store::RedisServer;
use support::{state_of, Env, Options, WEEK};

/// Two instances whose week caches would keep a read for an hour; on `store` if given.
async fn two_instances(store: Option<&RedisServer>) -> (Env, Env) {
    two_instances_with(store, |c| c.exchange.cache_ttl = Duration::from_secs(3600)).await
}

/// Two instances with the same configuration (`tweak`ed), on `store` if given.
async fn two_instances_with(
    store: Option<&RedisServer>,
    tweak: impl FnOnce(&mut server::config::Config),
) -> (Env, Env) {
    let url = store.map(RedisServer::url);
    let a = Env::start_with(Options::default(), |c| {
        c.store = url.map(|url| server::config::StoreConfig {
            url: url.into(),
            lease: Duration::from_secs(60),
        });
        tweak(c);
    })
    .await;
    let b = a.second_instance().await;
    (a, b)
}

/// Waits until each instance counts the other among the live ones (a heartbeat or two).
async fn counted_by_each_other(a: &Env, b: &Env) {
    for _ in 0..100 {
        if a.booket.instances_sharing() == 2 && b.booket.instances_sharing() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        (a.booket.instances_sharing(), b.booket.instances_sharing()),
        (2, 2)
    );
}

/// Instance `b` shows `slot` as `state` in the week it has cached: asked until it does (the
/// note arrives over the store), at most a few thousand times.
async fn until_shown(b: &Env, slot: &str, state: &str) -> bool {
    for _ in 0..5_000 {
        if state_of(&b.week_ok("demo", WEEK).await, slot) == state {
            return true;
        }
        tokio::task::yield_now().await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_on_one_instance_shows_on_the_other_without_a_read() {
    let store = RedisServer::start().await;
    let (a, b) = two_instances(Some(&store)).await;
    let slot = b.free_slot("demo", 0).await;
    let reads = a.sim.stats().calendar_view_requests;
    a.book("demo", &slot, "k-notes").await.ok();
    assert!(
        until_shown(&b, &slot, "booked").await,
        "b never showed it booked"
    );
    // b learnt it from a's note: its week was not read again.
    assert_eq!(
        a.sim.stats().calendar_view_requests,
        reads,
        "no week read again"
    );

    // And a hold, from the other side.
    let other = a.free_slot("demo", 0).await;
    b.reserve("demo", &other, "", "").await.ok();
    assert!(until_shown(&a, &other, "reserved").await);
}

/// Without the store, the other instance's cache shows the booked slot free until its
/// time to live ends (here an hour): what the notes are for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_store_the_other_instance_shows_a_booked_slot_free_from_its_cache() {
    let (a, b) = two_instances(None).await;
    let slot = b.free_slot("demo", 0).await;
    a.book("demo", &slot, "k-stale").await.ok();
    assert_eq!(state_of(&b.week_ok("demo", WEEK).await, &slot), "free");
    // (Booking it there is still refused: a write always reads the event first.)
    b.book("demo", &slot, "k-stale-2")
        .await
        .refused(409, "taken");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_store_down_weeks_are_read_and_writes_refused_until_it_is_back() {
    let mut store = RedisServer::start().await;
    let (a, _b) = two_instances(Some(&store)).await;
    let slot = a.free_slot("demo", 0).await;
    store.kill();
    // Reads go on (from the cache and Exchange).
    let week = a.week_ok("demo", "2026-12-09").await;
    assert!(!support::slots_in_state(&week, "free").is_empty());
    // Writes fail closed: nothing written, "try again".
    a.reserve("demo", &slot, "", "")
        .await
        .refused(503, "unavailable");
    a.book("demo", &slot, "k-down")
        .await
        .refused(503, "unavailable");
    a.assert_nothing_written();
    // Both refusals are counted for the operator.
    let metrics = a.metrics().await;
    let refused = metrics
        .lines()
        .find_map(|l| l.strip_prefix("booket_store_refusals_total{reason=\"unreachable\"} "))
        .and_then(|n| n.trim().parse::<u64>().ok());
    assert_eq!(refused, Some(2), "{metrics}");
    // Back (empty, so fenced for one lease): a store kept up is marked as such again, and
    // writes go through.
    store.restart_empty().await;
    store.mark_up_for_a_lease().await;
    let mut answer = a.book("demo", &slot, "k-down").await;
    for _ in 0..50 {
        if answer.0 != 503 {
            break;
        }
        // (The store was found unreachable a moment ago: asked again after a second.)
        tokio::time::sleep(Duration::from_millis(100)).await;
        answer = a.book("demo", &slot, "k-down").await;
    }
    assert_eq!(answer.ok()["state"], "booked");
}

/// One address with a fresh token per hold, alternating between the instances: the cap is
/// the same as on one instance, and a released or booked hold gives its place back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hold_cap_is_one_cap_across_instances() {
    let store = RedisServer::start().await;
    let (a, b) = two_instances_with(Some(&store), |c| {
        c.server.max_holds_per_client = 3;
        c.server.rate_limit_per_minute = 1_000_000;
    })
    .await;
    let slots = support::slots_in_state(&a.week_ok("demo", WEEK).await, "free");
    assert!(slots.len() >= 6);
    let id = |n: usize| slots[n]["id"].as_str().unwrap().to_owned();
    let mut tokens = Vec::new();
    for n in 0..6 {
        let env = if n % 2 == 0 { &a } else { &b };
        match env.reserve("demo", &id(n), "", "").await {
            support::Answer(200, hold) => {
                tokens.push((n, hold["token"].as_str().unwrap().to_owned()))
            }
            refused => refused.refused(429, "rate_limited"),
        }
    }
    assert_eq!(
        tokens.len(),
        3,
        "three holds across both instances, as on one"
    );
    // Extending a hold keeps its place (and is allowed at the cap) on either instance.
    let (n0, t0) = tokens[0].clone();
    b.reserve("demo", &id(n0), &t0, "").await.ok();
    // A released hold gives its place back, on the other instance too.
    let (n1, t1) = tokens[1].clone();
    a.release("demo", &id(n1), &t1).await.ok();
    b.reserve("demo", &id(4), "", "").await.ok();
    a.reserve("demo", &id(5), "", "")
        .await
        .refused(429, "rate_limited");
}

/// Two instances on one store share the app's four places in flight at Exchange: under a
/// crowd of week reads on both, Exchange never has more than four at once and throttles
/// nothing. (Without the store each would take all four.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_exchanges_limit_in_flight() {
    let store = RedisServer::start().await;
    let (a, b) = two_instances(Some(&store)).await;
    counted_by_each_other(&a, &b).await;
    a.slow(40);
    let weeks: Vec<String> = (0..12)
        .map(|w| {
            (chrono::NaiveDate::from_ymd_opt(2026, 12, 2).unwrap() + chrono::Days::new(7 * w))
                .to_string()
        })
        .collect();
    let reads = weeks.iter().enumerate().map(|(i, week)| {
        let env = if i % 2 == 0 { &a } else { &b };
        async move { env.week(support::BACKENDS[0].form, week).await }
    });
    for support::Answer(status, body) in futures::future::join_all(reads).await {
        assert_eq!(status, 200, "{body}");
    }
    let stats = a.sim.stats();
    let most = stats.max_in_flight.values().copied().max().unwrap_or(0);
    assert!(most <= 4, "{most} in flight at once");
    assert_eq!(stats.throttled, 0);
}

/// The places are counted in the store, not divided: a crowd on one instance while the
/// other is idle uses all four (as one instance would), never more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_with_a_crowd_uses_the_places_the_other_leaves_idle() {
    let store = RedisServer::start().await;
    let (a, b) = two_instances(Some(&store)).await;
    counted_by_each_other(&a, &b).await;
    a.slow(40);
    let reads = (0..12).map(|w| {
        let week = (chrono::NaiveDate::from_ymd_opt(2026, 12, 2).unwrap()
            + chrono::Days::new(7 * w))
        .to_string();
        let a = &a;
        async move { a.week(support::BACKENDS[0].form, &week).await }
    });
    for support::Answer(status, body) in futures::future::join_all(reads).await {
        assert_eq!(status, 200, "{body}");
    }
    let stats = a.sim.stats();
    let most = stats.max_in_flight.values().copied().max().unwrap_or(0);
    assert_eq!(most, 4, "all four places, not this instance's half");
    assert_eq!(stats.throttled, 0);
}

/// What a holder holds and what a booking answered are known to every instance: a token
/// moving to another slot through the other instance gives its first slot back there, so
/// does a signed-in citizen with a fresh token, and a booking retried on the other
/// instance gets the first answer again, files and all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_and_receipts_are_one_across_instances() {
    let store = RedisServer::start().await;
    let (a, b) = two_instances_with(Some(&store), |c| {
        support::attach_documents(c);
        for f in &mut c.forms {
            f.session_key = Some(support::SESSION_KEY.into());
        }
    })
    .await;
    let free = a.free_slots("demo").await;
    let subject = |slot: &str| a.event(&support::event_id_of(slot)).subject;
    let reserved = |slot: &str| subject(slot).ends_with(" - Reserveret");

    // One hold per token and element: the token's first slot is given back on b, though
    // the client names none and b never wrote it.
    let hold = a.reserve_ok("demo", &free[0], "", "").await;
    let token = hold["token"].as_str().unwrap();
    assert!(reserved(&free[0]));
    let support::Answer(status, body) = b.reserve("demo", &free[1], token, "").await;
    assert_eq!(status, 200, "{body}");
    assert!(reserved(&free[1]));
    assert!(!reserved(&free[0]), "the token's first hold was given back");

    // One hold per signed-in citizen and element, whatever the token and the instance.
    let soon = a.now + chrono::TimeDelta::minutes(30);
    let anna = support::session("pseudonym-anna", "demo", soon, support::SESSION_KEY);
    let support::Answer(status, body) = a.reserve_in_session(&free[2], &anna).await;
    assert_eq!(status, 200, "{body}");
    let support::Answer(status, body) = b.reserve_in_session(&free[3], &anna).await;
    assert_eq!(status, 200, "{body}");
    assert!(reserved(&free[3]));
    assert!(!reserved(&free[2]), "Anna's first hold was given back");

    // A booking with a file, retried with the same key on the other instance.
    let pdf = [b"%PDF-1.7\n".as_slice(), &[7u8; 2000]].concat();
    let first = a
        .book_form(
            "demo",
            &free[4],
            "k-retry",
            "",
            &[("bilag.pdf", pdf.clone())],
        )
        .await
        .ok();
    assert_eq!(first["attachments"][0], "bilag.pdf", "{first}");
    let attached = a.event(&support::event_id_of(&free[4])).attachments.len();
    let again = b
        .book_form("demo", &free[4], "k-retry", "", &[("bilag.pdf", pdf)])
        .await
        .ok();
    assert_eq!(again, first, "the same answer, files and all");
    assert_eq!(
        a.event(&support::event_id_of(&free[4])).attachments.len(),
        attached,
        "nothing attached twice"
    );
}

/// A calendar's read ceiling (`max_reads_per_minute`) is one ceiling for the instances
/// together: Exchange counts the app's reads, not each instance's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_ceiling_is_one_ceiling_across_instances() {
    let store = RedisServer::start().await;
    let (a, b) = two_instances_with(Some(&store), |c| {
        c.exchange.max_reads_per_minute = 2;
        c.exchange.cache_ttl = Duration::ZERO;
    })
    .await;
    let reads = a.sim.stats().calendar_view_requests;
    assert_eq!(a.week("demo", "2026-12-09").await.0, 200);
    assert_eq!(b.week("demo", "2026-12-16").await.0, 200);
    // Each instance has read once; together they have read the ceiling.
    let support::Answer(status, body) = a.week("demo", "2026-12-23").await;
    assert_eq!(
        (status, body),
        (503, serde_json::json!({"error": "unavailable"}))
    );
    assert_eq!(a.sim.stats().calendar_view_requests, reads + 2);
}

/// The daily mail limits count every instance's confirmations: one recipient booking
/// through both gets as many mails as through one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mail_limits_are_one_limit_across_instances() {
    let store = RedisServer::start().await;
    let (a, b) = two_instances_with(Some(&store), |c| {
        support::mail_on(c);
        c.mail_limits.per_recipient_per_day = 2;
    })
    .await;
    let free = a.free_slots("demo").await;
    let mut outcomes = Vec::new();
    for (i, slot) in free.iter().take(4).enumerate() {
        let env = if i % 2 == 0 { &a } else { &b };
        let receipt = env
            .book_form("demo", slot, &format!("k-mail-{i}"), "", &[])
            .await
            .ok();
        outcomes.push(receipt["mail"].clone());
    }
    assert_eq!(outcomes, ["sent", "sent", "failed", "failed"]);
    assert_eq!(a.sim.outbox().len(), 2);
}

/// The read budget (`read_rate_limit_per_minute`) too: one address alternating between
/// the instances reads as often as on one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_rate_limit_is_one_limit_across_instances() {
    let store = RedisServer::start().await;
    let (a, b) =
        two_instances_with(Some(&store), |c| c.server.read_rate_limit_per_minute = 6).await;
    let mut allowed = 0;
    for n in 0..12 {
        let env = if n % 2 == 0 { &a } else { &b };
        match env.week("demo", WEEK).await {
            support::Answer(429, body) => assert_eq!(body["error"], "rate_limited"),
            support::Answer(status, body) => {
                assert_eq!(status, 200, "{body}");
                allowed += 1;
            }
        }
    }
    assert_eq!(allowed, 6, "six reads across both instances, as on one");
}

/// The write budget (`rate_limit_per_minute`) is one budget across the instances: one
/// address alternating between them is refused after the same number of calls as on one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_write_rate_limit_is_one_limit_across_instances() {
    let store = RedisServer::start().await;
    let (a, b) = two_instances_with(Some(&store), |c| c.server.rate_limit_per_minute = 6).await;
    let slot = a.free_slot("demo", 0).await;
    let mut allowed = 0;
    for n in 0..12 {
        let env = if n % 2 == 0 { &a } else { &b };
        // Giving back a slot one does not hold: a write call that writes nothing.
        match env.release("demo", &slot, "AAAAAAAAAAAAAAAAAAAAAA").await {
            support::Answer(429, body) => assert_eq!(body["error"], "rate_limited"),
            support::Answer(_, _) => allowed += 1,
        }
    }
    assert_eq!(
        allowed, 6,
        "six write calls across both instances, as on one"
    );
}

/// A holder's record is forgotten (booked, given back) only while it still names that
/// slot, compared and deleted in one step: the record of another slot the citizen held
/// meanwhile, on any instance, stays.
#[tokio::test]
async fn a_kept_record_is_forgotten_only_while_it_begins_as_asked() {
    let redis = RedisServer::start().await;
    let store = server::store::Store::shared(
        &redis.url(),
        Duration::from_secs(60),
        Duration::from_secs(2),
    )
    .unwrap();
    let minute = Duration::from_secs(60);
    store.keep("holder", b"slot-b\ntok", minute).await.unwrap();
    assert!(!store.forget_if("holder", b"slot-a\n").await.unwrap());
    assert_eq!(
        store.kept("holder").await.unwrap().as_deref(),
        Some(&b"slot-b\ntok"[..])
    );
    // The slot is compared whole, up to the line break.
    store.keep("holder", b"slot-bc\ntok", minute).await.unwrap();
    assert!(!store.forget_if("holder", b"slot-b\n").await.unwrap());
    assert!(store.kept("holder").await.unwrap().is_some());
    assert!(store.forget_if("holder", b"slot-bc\n").await.unwrap());
    assert_eq!(store.kept("holder").await.unwrap(), None);
    // Nothing kept: nothing to forget.
    assert!(!store.forget_if("holder", b"slot-bc\n").await.unwrap());
}

/// Reminders with two instances on the store, on a tenant that ignores `If-Match`: the
/// store's lease on the event and the record's claim send each reminder once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_the_store_send_each_reminder_once() {
    let store = RedisServer::start().await;
    let (a, b) = two_instances_with(Some(&store), |c| {
        support::mail_on(c);
        c.exchange.if_match_honoured = false;
        for el in c.forms.iter_mut().flat_map(|f| f.elements.iter_mut()) {
            el.reminder_hours = 24;
        }
    })
    .await;
    a.sim.set_faults(server::sim::model::Faults {
        if_match_ignored: true,
        ..Default::default()
    });
    let week = a.week_ok("demo", WEEK).await;
    let thursday: Vec<(String, String)> = week["slots"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] == "free" && s["start"].as_str().unwrap().starts_with("2026-12-03"))
        .take(3)
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_owned(),
                s["start"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(thursday.len(), 3);
    for (i, (slot, _)) in thursday.iter().enumerate() {
        let support::Answer(status, receipt) =
            a.book_form("demo", slot, &format!("k{i}"), "", &[]).await;
        assert_eq!(status, 200, "{receipt}");
    }
    let last = chrono::DateTime::parse_from_rfc3339(&thursday[2].1)
        .unwrap()
        .with_timezone(&chrono::Utc);
    let due = last - chrono::TimeDelta::hours(23) - a.booket.now();
    a.advance(due);
    b.advance(due);
    let (x, y) = tokio::join!(a.booket.send_reminders(), b.booket.send_reminders());
    let (x, y) = (x.unwrap(), y.unwrap());
    let (x2, y2) = tokio::join!(a.booket.send_reminders(), b.booket.send_reminders());
    let reminders = a
        .sim
        .outbox()
        .into_iter()
        .filter(|m| m.subject.starts_with("Påmindelse:"))
        .count();
    assert_eq!((x + y + x2.unwrap() + y2.unwrap(), reminders), (3, 3));
}

/// A booking's link works on every instance behind Booket's address: one instance books,
/// the other moves it, and the first then finds the booking moved (not movable again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_made_on_one_instance_is_moved_on_the_other_once() {
    let store = RedisServer::start().await;
    // Behind one address, as instances are: links made by one are genuine on the other.
    let (a, b) = two_instances_with(Some(&store), |c| {
        support::mail_on(c);
        c.server.public_url = "https://booking.kommune.example".into();
        c.server.public_url_configured = true;
    })
    .await;
    counted_by_each_other(&a, &b).await;
    let free = support::free_ids(&a.week_ok("demo", WEEK).await);
    let support::Answer(status, receipt) = a.book_form("demo", &free[0], "k1", "", &[]).await;
    assert_eq!(status, 200, "{receipt}");
    let mail = a.sim.outbox().pop().expect("the confirmation");
    let at = mail.body.find("/booking/").expect("the link");
    let link = mail.body[at..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let post = |env: &Env, slot: &str| {
        let req = env.http.post(format!("{}{link}", env.base)).form(&[
            ("lang", "da"),
            ("action", "move"),
            ("slot", slot),
        ]);
        async move {
            let res = req.send().await.unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }
    };
    let (status, page) = post(&b, &free[1]).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Tiden er flyttet"), "{page}");
    let (status, page) = post(&a, &free[2]).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("ikke længere booket"), "{page}");
    let week = a.week_ok("demo", WEEK).await;
    let states: Vec<String> = free[..3].iter().map(|s| state_of(&week, s)).collect();
    assert_eq!(states, ["free", "booked", "free"]);
}
