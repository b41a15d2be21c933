//! Writes keep the cached week right instead of clearing it (issue "When bookings open"):
//! what Exchange answers a write shows in the week without reading it again; a slot the
//! cache knows is taken is refused without a Graph call; a cached "free" slot never books
//! without the write path's own read of the event.

mod support;

use support::Answer;
use support::*;

#[tokio::test]
async fn a_hold_shows_in_the_kept_week_and_a_known_taken_slot_costs_no_graph_call() {
    let env = Env::start().await;
    let week = env.week_ok("demo", "2026-12-02").await;
    let slot = free_ids(&week).remove(0);
    let views = env.sim.stats().calendar_view_requests;
    let Answer(status, held) = env.reserve("demo", &slot, "", "").await;
    assert_eq!(status, 200, "{held}");
    // The week shows the hold at once, from the kept read: no calendarView.
    let week = env.week_ok("demo", "2026-12-02").await;
    assert_eq!(state_of(&week, &slot), "reserved");
    assert_eq!(env.sim.stats().calendar_view_requests, views);
    // Another citizen asking for it is told "taken" without a single Graph request.
    let requests = env.sim.stats().graph_requests;
    let Answer(status, body) = env.reserve("demo", &slot, "", "").await;
    assert_eq!((status, body), (409, serde_json::json!({"error": "taken"})));
    assert_eq!(env.sim.stats().graph_requests, requests);
    // The holder still extends it (the cache refuses only others).
    let token = held["token"].as_str().unwrap();
    let Answer(status, _) = env.reserve("demo", &slot, token, "").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_cached_free_slot_is_never_taken_without_exchange_deciding() {
    for if_match_honoured in [true, false] {
        let env = Env::start_with(Options::default(), |c| {
            c.exchange.if_match_honoured = if_match_honoured;
        })
        .await;
        env.sim.set_faults(server::sim::model::Faults {
            if_match_ignored: !if_match_honoured,
            ..Default::default()
        });
        let week = env.week_ok("demo", "2026-12-02").await;
        let slot = free_ids(&week).remove(0);
        // Staff book the time in Outlook; the kept week still says "free".
        let id = event_id_of(&slot);
        assert!(env.sim.staff_set_subject(&id, "Borgersamtale - Booket"));
        let week = env.week_ok("demo", "2026-12-02").await;
        assert_eq!(state_of(&week, &slot), "free");
        let before = env.sim.stats();
        for Answer(status, body) in [
            env.reserve("demo", &slot, "", "").await,
            env.book("demo", &slot, "k1").await,
        ] {
            assert_eq!((status, body), (409, serde_json::json!({"error": "taken"})));
        }
        let after = env.sim.stats();
        // The reservation was refused by Exchange: where it enforces If-Match, its write
        // against the kept version (412) and the read after it; elsewhere its read before
        // writing. That read taught the week; the booking was refused by the week.
        assert_eq!(after.event_gets, before.event_gets + 1);
        let refused_writes = u64::from(if_match_honoured);
        assert_eq!(after.event_patches, before.event_patches + refused_writes);
        assert_eq!(env.event(&id).subject, "Borgersamtale - Booket");
        let week = env.week_ok("demo", "2026-12-02").await;
        assert_eq!(state_of(&week, &slot), "booked");
        assert_eq!(
            after.calendar_view_requests,
            env.sim.stats().calendar_view_requests
        );
    }
}

/// A hold of a slot the kept week shows free is one call where Exchange enforces
/// `If-Match`: the write against the kept version. Where the kept version is out of date
/// (staff edited the location since), Exchange refuses it, the event is read, and still
/// free it is written again. Where `If-Match` is not enforced, the event is read before the
/// write and after it, as always.
#[tokio::test]
async fn a_slot_the_kept_week_shows_free_is_held_with_one_call() {
    let env = Env::start().await;
    let free = free_ids(&env.week_ok("demo", "2026-12-02").await);
    let before = env.sim.stats();
    env.reserve_ok("demo", &free[0], "", "").await;
    let after = env.sim.stats();
    assert_eq!(after.graph_requests, before.graph_requests + 1, "one call");
    assert_eq!(after.event_patches, before.event_patches + 1);

    let id = event_id_of(&free[1]);
    assert!(env.sim.edit_event(&id, |e| e.location = "Lokale 2".into()));
    let before = env.sim.stats();
    env.reserve_ok("demo", &free[1], "", "").await;
    let after = env.sim.stats();
    assert_eq!(
        (after.event_patches, after.event_gets),
        (before.event_patches + 2, before.event_gets + 1),
        "refused, read, written"
    );
    assert!(env.event(&id).subject.ends_with(" - Reserveret"));

    let env = Env::start_with(Options::default(), |c| c.exchange.if_match_honoured = false).await;
    let free = free_ids(&env.week_ok("demo", "2026-12-02").await);
    let before = env.sim.stats();
    env.reserve_ok("demo", &free[0], "", "").await;
    let after = env.sim.stats();
    assert_eq!(
        (after.event_gets, after.event_patches),
        (before.event_gets + 2, before.event_patches + 1),
        "read, written, read back"
    );
}

#[tokio::test]
async fn a_booking_and_a_release_show_in_the_kept_week_too() {
    let env = Env::start().await;
    let week = env.week_ok("demo", "2026-12-02").await;
    let free = free_ids(&week);
    let (a, b) = (free[0].clone(), free[1].clone());
    let views = env.sim.stats().calendar_view_requests;
    let Answer(status, _) = env.book("demo", &a, "k-a").await;
    assert_eq!(status, 200);
    let held = env.reserve_ok("demo", &b, "", "").await;
    let Answer(status, _) = env
        .release("demo", &b, held["token"].as_str().unwrap())
        .await;
    assert_eq!(status, 200);
    let week = env.week_ok("demo", "2026-12-02").await;
    assert_eq!(state_of(&week, &a), "booked");
    assert_eq!(state_of(&week, &b), "free");
    assert_eq!(env.sim.stats().calendar_view_requests, views);
}

#[tokio::test]
async fn a_reservation_on_its_way_is_taken_for_others_and_freed_when_it_fails() {
    use server::sim::model::Faults;
    let env = Env::start().await;
    let week = env.week_ok("demo", "2026-12-02").await;
    let slot = free_ids(&week).remove(0);
    // Anna's reservation reaches Exchange, and its write stalls there.
    env.sim.set_faults(Faults {
        stall_after_writes: Some(0),
        ..Faults::default()
    });
    let before = env.sim.stats();
    let anna = env.reserve("demo", &slot, "", "");
    let meanwhile = async {
        // Her write has arrived (the kept week showed the slot free: no read before it)
        // and stalls.
        until("Anna's write to stall", || {
            let s = env.sim.stats();
            s.event_gets == before.event_gets && s.graph_requests == before.graph_requests + 1
        })
        .await;
        // Bo sees the slot taken (the kept answer from before is not served) and is
        // refused without a Graph request.
        let week = env.week_ok("demo", "2026-12-02").await;
        assert_eq!(state_of(&week, &slot), "reserved");
        let requests = env.sim.stats().graph_requests;
        // (Bounded: without the claim Bo would wait behind Anna's stalled write.)
        let bo = tokio::time::timeout(
            std::time::Duration::from_secs(20),
            env.reserve("demo", &slot, "", ""),
        );
        let Answer(status, body) = bo.await.expect("Bo is answered at once");
        assert_eq!((status, body), (409, serde_json::json!({"error": "taken"})));
        assert_eq!(env.sim.stats().graph_requests, requests);
        // Exchange fails Anna's write: answered 503, then refused when written again.
        env.sim.set_faults(Faults {
            fail_next: vec![403],
            ..Faults::default()
        });
    };
    let (Answer(status, _), ()) = tokio::join!(anna, meanwhile);
    assert_ne!(status, 200, "the write failed");
    assert!(env.event(&event_id_of(&slot)).properties.is_empty());
    // The claim went with the failed write: the slot is free again for Bo.
    let week = env.week_ok("demo", "2026-12-02").await;
    assert_eq!(state_of(&week, &slot), "free");
    let Answer(status, _) = env.reserve("demo", &slot, "", "").await;
    assert_eq!(status, 200);
}
