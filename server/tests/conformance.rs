//! `booket check --conformance` against the simulator, in every combination of the three
//! Graph behaviours Microsoft does not document: If-Match honoured or ignored, contentId
//! kept or dropped, occurrences of a series with their own etags or one shared.

mod support;

use server::check::conformance::Behaviour;
use server::check::{self, ConformanceRequest, Lang, Status};
use server::sim::model::Faults;
use server::sim::seed;
use support::Env;

const SCRATCH: &str = "Booket prøve";

fn with_mail(env: &Env) -> server::config::Config {
    let mut config = env.config.clone();
    support::mail_on(&mut config);
    config
}

fn request(send_mail: bool) -> ConformanceRequest {
    ConformanceRequest {
        calendar: SCRATCH.into(),
        owner: None,
        send_mail,
    }
}

/// Events in the scratch calendar (what the check left behind).
fn scratch_events(env: &Env) -> usize {
    env.sim.calendar_events(SCRATCH).len()
}

#[tokio::test]
async fn every_combination_of_the_undocumented_behaviours_is_reported_as_it_is() {
    let env = Env::start().await;
    env.sim.add_calendar(seed::DEMO_OWNER, SCRATCH);
    let config = with_mail(&env);
    for combination in 0..8u8 {
        let if_match_ignored = combination & 1 != 0;
        let drop_content_id = combination & 2 != 0;
        let shared_series_etag = combination & 4 != 0;
        env.sim.set_faults(Faults {
            if_match_ignored,
            drop_content_id,
            shared_series_etag,
            ..Faults::default()
        });
        let before = env.sim.stats();
        let (report, outcome) =
            check::run_conformance(&config, &request(false), Lang::En, env.now).await;
        let outcome = outcome.expect("the check ran");
        let text = report.render();
        let case = format!(
            "if_match_ignored={if_match_ignored} drop_content_id={drop_content_id} \
             shared_series_etag={shared_series_etag}\n{text}"
        );
        assert_eq!(
            outcome.finding(Behaviour::StaleIfMatchRefused),
            Some(!if_match_ignored),
            "{case}"
        );
        assert_eq!(
            outcome.finding(Behaviour::ContentIdKeptSmall),
            Some(!drop_content_id),
            "{case}"
        );
        assert_eq!(
            outcome.finding(Behaviour::ContentIdKeptUploadSession),
            Some(!drop_content_id),
            "{case}"
        );
        assert_eq!(
            outcome.finding(Behaviour::SeriesEtagsIndependent),
            Some(!shared_series_etag),
            "{case}"
        );
        for b in [
            Behaviour::ExtendedPropertyRoundTrip,
            Behaviour::AttachmentCastAccepted,
            Behaviour::AttachmentDeletedById,
            Behaviour::UploadLocationNamesId,
            Behaviour::CleanedUp,
        ] {
            assert_eq!(outcome.finding(b), Some(true), "{b:?}: {case}");
        }
        // The simulator answers a PATCH as Microsoft documents it: without the property.
        assert_eq!(
            outcome.finding(Behaviour::PatchAnswerCarriesProperty),
            Some(false),
            "{case}"
        );
        assert!(
            text.contains("The PATCH answer leaves out the extended property it set")
                && text.contains("The upload session's Location names the attachment: https://outlook.office.com/api/v2.0/Users('"),
            "{case}"
        );
        // What Booket does about it is said on the line.
        assert_eq!(
            text.contains("Set if_match_honoured = false under [exchange]")
                && text.contains("run only one Booket instance"),
            if_match_ignored,
            "{case}"
        );
        assert_eq!(
            text.contains("Booket finds its files by the ids it records"),
            drop_content_id,
            "{case}"
        );
        assert_eq!(
            text.contains("(only the etag moved)"),
            shared_series_etag,
            "{case}"
        );
        // Alternatives are warnings at most: none of them stops Booket.
        assert!(report.all_ok(), "{case}");
        // It made its events, a file through an upload session, and left nothing behind.
        let after = env.sim.stats();
        assert_eq!(after.events_created - before.events_created, 2, "{case}");
        assert_eq!(after.upload_sessions - before.upload_sessions, 1, "{case}");
        assert_eq!(scratch_events(&env), 0, "{case}");
        assert_eq!(after.rejected_queries, 0, "{case}");
    }
    // Nothing touched the calendar citizens book from.
    assert!(env
        .sim
        .calendar_events(seed::DEMO_CALENDAR)
        .iter()
        .all(|e| !e.subject.contains("conformance") && e.attachments.is_empty()));
}

/// An upload session whose `Location` names no attachment is reported with its shape,
/// and the check still deletes the file (by the id the list gives).
#[tokio::test]
async fn an_upload_location_without_an_id_is_reported_and_nothing_is_left() {
    let env = Env::start().await;
    env.sim.add_calendar(seed::DEMO_OWNER, SCRATCH);
    for (location, lang, said) in [
        ("", Lang::En, "names no attachment Booket can read (-)"),
        (
            "https://outlook.office.com/api/v2.0/Users('x')/Events('y')",
            Lang::Da,
            "navngiver ingen vedhæftning Booket kan læse (https://outlook.office.com/api/v2.0/Users('x')/Events('y'))",
        ),
    ] {
        env.sim.set_faults(Faults {
            upload_location: Some(location.into()),
            ..Faults::default()
        });
        let (report, outcome) =
            check::run_conformance(&with_mail(&env), &request(false), lang, env.now).await;
        let outcome = outcome.unwrap();
        let text = report.render();
        assert_eq!(
            outcome.finding(Behaviour::UploadLocationNamesId),
            Some(false),
            "{text}"
        );
        assert!(text.contains(said), "{text}");
        assert_eq!(
            outcome.finding(Behaviour::AttachmentDeletedById),
            Some(true),
            "{text}"
        );
        assert!(report.all_ok(), "{text}");
        assert_eq!(scratch_events(&env), 0);
    }
}

#[tokio::test]
async fn a_tenant_that_refuses_the_cast_is_reported_and_the_fallback_still_works() {
    let env = Env::start().await;
    env.sim.add_calendar(seed::DEMO_OWNER, SCRATCH);
    env.sim.set_faults(Faults {
        refuse_select_casts: true,
        ..Faults::default()
    });
    let (report, outcome) =
        check::run_conformance(&with_mail(&env), &request(false), Lang::Da, env.now).await;
    let outcome = outcome.unwrap();
    assert_eq!(
        outcome.finding(Behaviour::AttachmentCastAccepted),
        Some(false)
    );
    assert_eq!(
        outcome.finding(Behaviour::AttachmentDeletedById),
        Some(true)
    );
    let text = report.render();
    assert!(text.contains("Typecast i $select afvises"), "{text}");
    assert!(report.all_ok(), "{text}");
    assert_eq!(scratch_events(&env), 0);
}

#[tokio::test]
async fn send_mail_only_with_the_flag_and_only_to_the_sending_mailbox() {
    let env = Env::start().await;
    env.sim.add_calendar(seed::DEMO_OWNER, SCRATCH);
    let config = with_mail(&env);
    let (report, outcome) =
        check::run_conformance(&config, &request(false), Lang::En, env.now).await;
    assert_eq!(outcome.unwrap().finding(Behaviour::SendMailAccepted), None);
    assert!(report.render().contains("--send-mail"));
    assert!(env.sim.outbox().is_empty());
    let (_, outcome) = check::run_conformance(&config, &request(true), Lang::En, env.now).await;
    assert_eq!(
        outcome.unwrap().finding(Behaviour::SendMailAccepted),
        Some(true)
    );
    let outbox = env.sim.outbox();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].to, vec![seed::DEMO_OWNER.to_string()]);
}

#[tokio::test]
async fn a_calendar_citizens_book_from_is_refused_before_any_graph_call() {
    let env = Env::start().await;
    let before = env.sim.stats();
    let req = ConformanceRequest {
        calendar: seed::DEMO_CALENDAR.into(),
        owner: Some(seed::DEMO_OWNER.to_uppercase()),
        send_mail: false,
    };
    let (report, outcome) = check::run_conformance(&env.config, &req, Lang::En, env.now).await;
    assert!(!report.all_ok());
    assert!(outcome.unwrap().findings.is_empty());
    let line = &report.sections[0].lines[0];
    assert_eq!(line.status, Status::Fail);
    assert!(
        line.text.contains("one citizens book from"),
        "{}",
        line.text
    );
    let after = env.sim.stats();
    assert_eq!(after.token_requests, before.token_requests);
    assert_eq!(after.graph_requests, before.graph_requests);
}

#[tokio::test]
async fn a_missing_scratch_calendar_is_named() {
    let env = Env::start().await;
    let (report, _) = check::run_conformance(&env.config, &request(false), Lang::En, env.now).await;
    let text = report.render();
    assert!(!report.all_ok());
    assert!(text.contains("Booket prøve"), "{text}");
    assert!(text.contains("Create the calendar"), "{text}");
}

/// On a scratch folder in the on-premises mailbox the check goes through EWS (chosen by
/// `--owner`) and reports each behaviour as the server has it: ChangeKeys checked or
/// ignored, `SendToNone` obeyed or meeting updates sent anyway — in both languages, leaving
/// nothing behind and never touching the booking calendar.
#[tokio::test]
async fn ews_conformance_proves_change_keys_and_send_to_none_on_a_scratch_folder() {
    let env = Env::start().await;
    env.sim.add_calendar(seed::DEMO_EWS_OWNER, SCRATCH);
    let req = ConformanceRequest {
        calendar: SCRATCH.into(),
        owner: Some(seed::DEMO_EWS_OWNER.into()),
        send_mail: false,
    };
    for combination in 0..4u8 {
        let ews_change_keys_ignored = combination & 1 != 0;
        let ews_updates_always_sent = combination & 2 != 0;
        env.sim.set_faults(Faults {
            ews_change_keys_ignored,
            ews_updates_always_sent,
            ..Faults::default()
        });
        let graph_before = env.sim.stats().graph_requests;
        let booking_before = env.sim.calendar_events(seed::DEMO_EWS_CALENDAR);
        let (report, outcome) = check::run_conformance(&env.config, &req, Lang::En, env.now).await;
        let outcome = outcome.expect("the check ran");
        let text = report.render();
        let case = format!(
            "ews_change_keys_ignored={ews_change_keys_ignored} \
             ews_updates_always_sent={ews_updates_always_sent}\n{text}"
        );
        assert!(
            text.contains("Conformance on the scratch folder \"Booket prøve\" (jobcenter@demo.booket.dk, EWS)"),
            "{case}"
        );
        assert_eq!(
            outcome.finding(Behaviour::StaleChangeKeyRefused),
            Some(!ews_change_keys_ignored),
            "{case}"
        );
        assert_eq!(
            outcome.finding(Behaviour::SendToNoneSendsNothing),
            Some(!ews_updates_always_sent),
            "{case}"
        );
        for b in [
            Behaviour::ExtendedPropertyRoundTrip,
            Behaviour::AttachmentDeletedById,
            Behaviour::CleanedUp,
        ] {
            assert_eq!(outcome.finding(b), Some(true), "{b:?}: {case}");
        }
        if ews_change_keys_ignored {
            assert!(text.contains("A stale ChangeKey was accepted"), "{case}");
        } else {
            assert!(
                text.contains(
                    "A stale ChangeKey is refused under NeverOverwrite (ErrorIrresolvableConflict)"
                ),
                "{case}"
            );
        }
        if ews_updates_always_sent {
            assert!(text.contains("sent despite SendToNone"), "{case}");
        } else {
            assert!(text.contains("SendToNone sends nothing"), "{case}");
        }
        assert_eq!(scratch_events(&env), 0, "nothing left behind: {case}");
        assert_eq!(
            env.sim.calendar_events(seed::DEMO_EWS_CALENDAR).len(),
            booking_before.len()
        );
        assert_eq!(
            env.sim.stats().graph_requests,
            graph_before,
            "no Graph request"
        );
    }
    // In Danish too.
    env.sim.set_faults(Faults::default());
    let (report, _) = check::run_conformance(&env.config, &req, Lang::Da, env.now).await;
    let da = report.render();
    for words in [
        "Prøvemappen \"Booket prøve\" er fundet én gang",
        "En forældet ChangeKey afvises under NeverOverwrite",
        "SendToNone sender intet",
        "Hold-posten (en udvidet egenskab) læses tilbage",
        "Et bilag lægges på og slettes igen ved sit id",
        "Alt, kontrollen oprettede, er slettet igen",
    ] {
        assert!(da.contains(words), "{words}: {da}");
    }
    // The booking calendar itself is refused, and an unknown folder is named.
    let booking = ConformanceRequest {
        calendar: seed::DEMO_EWS_CALENDAR.into(),
        ..req.clone()
    };
    let (report, _) = check::run_conformance(&env.config, &booking, Lang::En, env.now).await;
    assert!(
        report
            .render()
            .contains("The calendar is one citizens book from"),
        "{}",
        report.render()
    );
    let missing = ConformanceRequest {
        calendar: "Findes ikke".into(),
        ..req
    };
    let (report, _) = check::run_conformance(&env.config, &missing, Lang::En, env.now).await;
    assert!(
        report.render().contains("The scratch folder"),
        "{}",
        report.render()
    );
}
