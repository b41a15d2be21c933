//! Booket against Exchange's documented answers, not kinder ones: the simulators answer a
//! PATCH without extended properties, an upload session's last chunk with Microsoft's own
//! `Location` form, a calendar view of a series without its occurrences' properties, a
//! deleted folder with `ErrorFolderNotFound`, and only what a request's shape asks for.
//! Each case runs on both backends where both have the behaviour.

mod support;

use server::mailbox::AttachmentId;
use server::sim::model::Faults;
use support::Answer;
use support::*;

fn with_documents(c: &mut server::config::Config) {
    for f in &mut c.forms {
        for el in &mut f.elements {
            el.attach_documents = true;
        }
    }
}

fn pdf(len: usize) -> Vec<u8> {
    [b"%PDF-1.7\n".as_slice(), &vec![7u8; len]].concat()
}

/// Reserve, then submit at once with the hold's token: the citizen's own slot is booked,
/// by `/api/book` and by `/api/book_form` with a file, through the instance that reserved
/// it and through a second one (whose cached week saw the slot free).
#[tokio::test]
async fn a_citizens_own_hold_is_booked_at_once() {
    for b in BACKENDS {
        for instances in [1, 2] {
            let env = Env::start_with(Default::default(), with_documents).await;
            let other = env.second_instance().await;
            let booker = if instances == 1 { &env } else { &other };
            let free = free_ids(&b.week(&env, "").await);
            b.week(booker, "").await;
            let case = format!("{b:?}, {instances} instance(s)");

            let Answer(s, hold) = env.reserve(b.form, &free[0], "", "").await;
            assert_eq!(s, 200, "{case}: {hold}");
            let token = hold["token"].as_str().unwrap();
            let Answer(s, receipt) = booker.book_held(b.form, &free[0], "k-own-1", token).await;
            assert_eq!(s, 200, "{case}: /api/book: {receipt}");
            assert!(
                b.event(&env, &free[0]).subject.ends_with(" - Booket"),
                "{case}"
            );

            let Answer(s, hold) = env.reserve(b.form, &free[1], "", "").await;
            assert_eq!(s, 200, "{case}: {hold}");
            let token = hold["token"].as_str().unwrap();
            let Answer(s, receipt) = booker
                .book_form(
                    b.form,
                    &free[1],
                    "k-own-2",
                    token,
                    &[("bilag.pdf", pdf(2000))],
                )
                .await;
            assert_eq!(s, 200, "{case}: /api/book_form: {receipt}");
            let e = b.event(&env, &free[1]);
            assert!(e.subject.ends_with(" - Booket"), "{case}");
            assert_eq!(e.attachments.len(), 1, "{case}");
        }
    }
}

/// A 5 MB file (on Graph through an upload session, whose last chunk names the attachment
/// as Microsoft's example does, or, switched, names nothing), then the booking's final
/// write meets an event staff just changed: the booking fails and the file is removed by
/// its id — nothing is left behind.
#[tokio::test]
async fn a_large_file_whose_final_write_fails_leaves_no_file_behind() {
    for (b, location) in [
        (BACKENDS[0], None),
        (BACKENDS[0], Some(String::new())),
        (BACKENDS[1], None),
    ] {
        let case = format!("{b:?}, Location fault {location:?}");
        let env = Env::start_with(Default::default(), with_documents).await;
        let free = free_ids(&b.week(&env, "").await);
        env.sim.set_faults(Faults {
            // The hold, then the record of the file; staff edit before the third write.
            staff_edit_before_write: Some(2),
            upload_location: location.clone(),
            ..Faults::default()
        });
        let Answer(s, body) = env
            .book_form(
                b.form,
                &free[0],
                "k-large",
                "",
                &[("stor.pdf", pdf(5 << 20))],
            )
            .await;
        assert_eq!(s, 409, "{case}: {body}");
        let stats = env.sim.stats();
        assert_eq!(
            stats.upload_sessions + stats.ews_attachment_creates,
            1,
            "{case}: the file was attached"
        );
        let e = b.event(&env, &free[0]);
        assert!(
            e.subject.contains("(ændret)"),
            "{case}: staff's edit stands"
        );
        assert!(
            e.attachments.is_empty(),
            "{case}: left behind: {:?}",
            e.attachments.iter().map(|a| &a.name).collect::<Vec<_>>()
        );
    }
}

/// Staff delete the calendar and make it again under the same name: Exchange answers the
/// old folder id with "not found" (EWS `ErrorFolderNotFound`, Graph 404), and Booket finds
/// the calendar by name again, without a restart.
#[tokio::test]
async fn a_calendar_deleted_and_recreated_is_booked_again_without_a_restart() {
    for b in BACKENDS {
        let env = Env::start_with(Default::default(), |c| {
            c.exchange.cache_ttl = std::time::Duration::ZERO;
        })
        .await;
        let before = free_ids(&b.week(&env, "").await);
        assert!(env.sim.recreate_calendar(b.calendar));
        let after = free_ids(&b.week(&env, "").await);
        assert_eq!(after.len(), before.len(), "{b:?}");
        assert_ne!(after[0], before[0], "{b:?}: the items are new");
        let Answer(s, receipt) = env.book(b.form, &after[0], "k-recreated").await;
        assert_eq!(s, 200, "{b:?}: {receipt}");
        assert!(
            b.event(&env, &after[0]).subject.ends_with(" - Booket"),
            "{b:?}"
        );
    }
}

/// Slots that are occurrences of a series: a calendar view is reported to give them
/// without extended properties (the default here), or gives them (switched). Either way the
/// holder sees their hold, others see it reserved, the holder can release it, and a hold
/// that lapsed is free for others — each read from the view alone (no cached week).
#[tokio::test]
async fn holds_on_occurrences_of_a_series_read_the_same_whatever_the_view_carries() {
    for b in BACKENDS {
        for view_carries in [false, true] {
            let env = Env::start_with(Default::default(), |c| {
                c.exchange.cache_ttl = std::time::Duration::ZERO;
            })
            .await;
            assert!(env.sim.make_series(b.calendar));
            env.sim.set_faults(Faults {
                view_carries_occurrence_properties: view_carries,
                ..Faults::default()
            });
            let case = format!("{b:?}, view carries properties: {view_carries}");
            let free = free_ids(&b.week(&env, "").await);
            let Answer(s, hold) = env.reserve(b.form, &free[0], "", "").await;
            assert_eq!(s, 200, "{case}: {hold}");
            let token = hold["token"].as_str().unwrap().to_owned();
            assert_eq!(
                state_of(&b.week(&env, &token).await, &free[0]),
                "held",
                "{case}"
            );
            assert_eq!(
                state_of(&b.week(&env, "").await, &free[0]),
                "reserved",
                "{case}"
            );
            let Answer(s, _) = env.release(b.form, &free[0], &token).await;
            assert_eq!(s, 200, "{case}");
            assert!(!b.event(&env, &free[0]).subject.contains(" - "), "{case}");
            // A hold that lapsed is free for the next citizen.
            let Answer(s, _) = env.reserve(b.form, &free[1], "", "").await;
            assert_eq!(s, 200, "{case}");
            env.advance(chrono::TimeDelta::seconds(2000));
            assert_eq!(
                state_of(&b.week(&env, "").await, &free[1]),
                "free",
                "{case}"
            );
            // The sweep gives it back in Outlook too.
            assert_eq!(env.booket.sweep_expired_holds().await.unwrap(), 1, "{case}");
            assert!(!b.event(&env, &free[1]).subject.contains(" - "), "{case}");
            let Answer(s, receipt) = env.book(b.form, &free[1], "k-lapsed").await;
            assert_eq!(s, 200, "{case}: {receipt}");
        }
    }
}

/// Deleting a file that is already gone is answered 404 (switched) or, by default, with a
/// refusal that is not "not found" (Microsoft does not say which). A lapsed hold recorded
/// two files, and staff already removed one: the next citizen books the slot either way,
/// and the file that was left is removed.
#[tokio::test]
async fn a_file_already_gone_is_gone_whatever_the_delete_answers() {
    use server::booking::hold::{owner_hash, HoldInfo};
    use server::sim::model::Attachment;
    for gone_is_404 in [false, true] {
        let env = Env::start().await;
        let free = free_ids(&env.week("demo", WEEK).await.1);
        env.sim.set_faults(Faults {
            gone_attachment_not_found: gone_is_404,
            ..Faults::default()
        });
        let lapsed = HoldInfo {
            owner: owner_hash("a-citizen-who-never-came-back"),
            expires: env.now - chrono::TimeDelta::minutes(5),
            since: Some(env.now - chrono::TimeDelta::minutes(20)),
            files: vec![
                AttachmentId::new("AAMkATTleft"),
                AttachmentId::new("AAMkATTgone"),
            ],
        };
        let id = event_id_of(&free[0]);
        assert!(env.sim.edit_event(&id, |e| {
            e.subject.push_str(" - Reserveret");
            e.properties
                .push((server::graph::HOLD_PROPERTY.into(), lapsed.to_value()));
            e.attachments.push(Attachment {
                id: "AAMkATTleft".into(),
                name: "gammel.pdf".into(),
                content_type: "application/pdf".into(),
                size: 3,
                via_upload_session: false,
                content_id: String::new(),
                bytes: b"old".to_vec(),
            });
        }));
        let Answer(s, receipt) = env.book("demo", &free[0], "k-after-lapse").await;
        assert_eq!(s, 200, "gone is 404: {gone_is_404}: {receipt}");
        let e = env.event(&id);
        assert!(
            e.subject.ends_with(" - Booket"),
            "gone is 404: {gone_is_404}"
        );
        assert!(e.attachments.is_empty(), "gone is 404: {gone_is_404}");
    }
}

/// On EWS, DeleteAttachment names an attachment alone, wherever it is. Staff copied an
/// item whose lapsed hold record names the original's file: booking the copy removes only
/// what the copy carries, and the original keeps its file.
#[tokio::test]
async fn a_copied_items_cleanup_never_removes_the_originals_files() {
    use server::booking::hold::{owner_hash, HoldInfo};
    use server::sim::model::Attachment;
    let b = BACKENDS[1];
    let env = Env::start().await;
    let free = free_ids(&b.week(&env, "").await);
    let (original, copy) = (event_id_of(&free[0]), event_id_of(&free[1]));
    assert!(env.sim.edit_event(&original, |e| {
        e.attachments.push(Attachment {
            id: "AAMkATTorig".into(),
            name: "borgerens.pdf".into(),
            content_type: "application/pdf".into(),
            size: 3,
            via_upload_session: false,
            content_id: String::new(),
            bytes: b"pdf".to_vec(),
        });
    }));
    let lapsed = HoldInfo {
        owner: owner_hash("a-citizen-long-gone"),
        expires: env.now - chrono::TimeDelta::minutes(5),
        since: Some(env.now - chrono::TimeDelta::minutes(20)),
        files: vec![AttachmentId::new("AAMkATTorig")],
    };
    assert!(env.sim.edit_event(&copy, |e| {
        e.subject.push_str(" - Reserveret");
        e.properties
            .push((server::graph::HOLD_PROPERTY.into(), lapsed.to_value()));
    }));
    let Answer(s, receipt) = env.book(b.form, &free[1], "k-copy").await;
    assert_eq!(s, 200, "{receipt}");
    assert!(b.event(&env, &free[1]).subject.ends_with(" - Booket"));
    let kept: Vec<String> = b
        .event(&env, &free[0])
        .attachments
        .iter()
        .map(|a| a.id.clone())
        .collect();
    assert_eq!(kept, ["AAMkATTorig"], "the original keeps its file");
}
