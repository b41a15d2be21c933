//! `booket check --conformance`: tries, on a scratch calendar the administrator names, each
//! Graph behaviour Booket relies on that Microsoft does not document, and says what Booket
//! does about the answer. It makes its own test events (far in the future, shown as free),
//! and deletes everything it made, whatever happened in between.
//! Each behaviour's try, with its Danish and English wording, is in a file of its own.

mod attachments;
mod mail;
mod series;
mod writes;

use super::report::{fail, pass, t, warn, Line, Section};
use super::token::token_check;
use crate::graph::wire::{graph_utc, Event};
use crate::graph::HOLD_PROPERTY;
use crate::graph::SMALL_ATTACHMENT_LIMIT;
use crate::graph::{AppCredentials, GraphClient, GraphError};
use app::i18n::Lang;
use chrono::{DateTime, Days, TimeDelta, Utc};

/// The behaviours tried, each reported on one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Behaviour {
    /// A PATCH with a stale `If-Match` is refused (409/412).
    StaleIfMatchRefused,
    /// A single-value extended property written by PATCH reads back.
    ExtendedPropertyRoundTrip,
    /// The PATCH answer carries the extended property it set (Microsoft documents that it
    /// does not; Booket depends on neither answer).
    PatchAnswerCarriesProperty,
    /// The upload session's `Location` names the attachment in a form Booket reads (its
    /// shape is reported; Booket lists the attachments where it cannot read one).
    UploadLocationNamesId,
    /// `$select` with the `fileAttachment` cast is accepted on the attachments list.
    AttachmentCastAccepted,
    /// A small attachment (one POST) keeps its `contentId`.
    ContentIdKeptSmall,
    /// An attachment added through an upload session keeps its `contentId`.
    ContentIdKeptUploadSession,
    /// Attachments are deleted by id.
    AttachmentDeletedById,
    /// Changing one occurrence of a series leaves the others' etags as they were.
    SeriesEtagsIndependent,
    /// `sendMail` to the sending mailbox itself is accepted.
    SendMailAccepted,
    /// EWS: an UpdateItem with a stale ChangeKey is refused under `NeverOverwrite`.
    StaleChangeKeyRefused,
    /// EWS: changes with `SendToNone` send no meeting update.
    SendToNoneSendsNothing,
    /// Everything the check made is gone afterwards.
    CleanedUp,
}

/// What was seen for one behaviour: `Some(true)` it holds, `Some(false)` the other
/// behaviour, `None` it could not be tried.
#[derive(Debug, Clone)]
pub struct Finding {
    pub behaviour: Behaviour,
    pub holds: Option<bool>,
}

/// Where to run: a calendar in a mailbox, with the app that reaches it.
pub struct Target {
    pub owner: String,
    pub calendar: String,
    pub creds: AppCredentials,
    /// Whether it is a calendar citizens book from (then nothing is done).
    pub is_booking_calendar: bool,
}

/// `sendMail` to the sending mailbox itself, when asked for.
pub struct MailProbe {
    pub creds: AppCredentials,
    pub user: String,
    pub sender: String,
}

pub struct Outcome {
    pub section: Section,
    pub findings: Vec<Finding>,
}

impl Outcome {
    pub fn finding(&self, b: Behaviour) -> Option<bool> {
        self.findings
            .iter()
            .find(|f| f.behaviour == b)
            .and_then(|f| f.holds)
    }
}

struct Run<'a> {
    graph: &'a GraphClient,
    target: &'a Target,
    calendar_id: String,
    /// What to delete at the end (series masters delete their occurrences).
    created: Vec<String>,
    tally: Tally,
    /// The subject of every event it makes.
    tag: String,
    /// The `contentId` of every file it attaches.
    file_tag: String,
}

/// What a conformance run has found so far, in its language: its report lines and one
/// finding per behaviour tried (the Graph and the EWS run alike).
pub(super) struct Tally {
    pub lang: Lang,
    pub lines: Vec<Line>,
    pub findings: Vec<Finding>,
}

impl Tally {
    pub fn new(lang: Lang, lines: Vec<Line>) -> Self {
        Tally {
            lang,
            lines,
            findings: Vec::new(),
        }
    }

    pub fn t(&self, da: &str, en: &str) -> String {
        t(self.lang, da, en)
    }

    pub fn found(&mut self, behaviour: Behaviour, holds: Option<bool>, line: Line) {
        self.findings.push(Finding { behaviour, holds });
        self.lines.push(line);
    }

    /// The last line: everything the run made is gone, or what to delete by hand.
    pub fn cleaned_up(&mut self, gone: bool, by_hand: String) {
        let line = if gone {
            pass(self.t(
                "Alt, kontrollen oprettede, er slettet igen",
                "Everything the check made is deleted again",
            ))
        } else {
            fail(
                self.t(
                    "Ikke alt, kontrollen oprettede, kunne slettes",
                    "Not everything the check made could be deleted",
                ),
                by_hand,
            )
        };
        self.found(Behaviour::CleanedUp, Some(gone), line)
    }
}

impl Run<'_> {
    pub(super) fn err_line(&self, what: String, e: &GraphError) -> Line {
        fail(
            format!("{what}: {e}"),
            self.tally.t(
                "Tjek at app'en har Calendars.ReadWrite på prøvekalenderens postkasse, og kør igen.",
                "Check that the app has Calendars.ReadWrite on the scratch calendar's mailbox, and run again.",
            ),
        )
    }

    /// The event as it is now, with the hold property.
    pub(super) async fn read(&self, id: &str) -> Result<Event, GraphError> {
        let t = &self.target;
        self.graph
            .get_event(&t.creds, &t.owner, &self.calendar_id, id, HOLD_PROPERTY)
            .await
    }

    pub(super) async fn create(&mut self, body: serde_json::Value) -> Result<Event, GraphError> {
        let t = &self.target;
        let e = self
            .graph
            .create_event(&t.creds, &t.owner, &self.calendar_id, body)
            .await?;
        self.created.push(e.id.clone());
        Ok(e)
    }

    pub(super) fn event_body(&self, start: DateTime<Utc>) -> serde_json::Value {
        serde_json::json!({
            "subject": self.tag.clone(),
            "start": graph_utc(start),
            "end": graph_utc(start + TimeDelta::minutes(30)),
            "showAs": "free",
            "isReminderOn": false,
            "body": {
                "contentType": "text",
                "content": "Booket's conformance check made this event and deletes it when done. It is safe to delete.",
            },
        })
    }

    pub(super) async fn patch(
        &self,
        id: &str,
        if_match: &str,
        subject: Option<&str>,
        property: Option<(&str, &str)>,
    ) -> Result<Event, GraphError> {
        let t = &self.target;
        self.graph
            .patch_event(&t.creds, &t.owner, id, if_match, subject, property)
            .await
    }

    pub(super) async fn clean_up(&mut self, from: DateTime<Utc>, to: DateTime<Utc>) {
        let t = self.target;
        let mut failed = Vec::new();
        for id in std::mem::take(&mut self.created) {
            match self.graph.delete_event(&t.creds, &t.owner, &id).await {
                Ok(()) | Err(GraphError::NotFound { .. }) => {}
                Err(_) => failed.push(id),
            }
        }
        let left = self
            .graph
            .calendar_view(
                &t.creds,
                &t.owner,
                &self.calendar_id,
                from,
                to,
                HOLD_PROPERTY,
            )
            .await
            .map(|all| {
                all.iter()
                    .filter(|e| {
                        e.subject
                            .as_deref()
                            .is_some_and(|s| s.starts_with(self.tag.as_str()))
                    })
                    .count()
            });
        let by_hand = match self.tally.lang {
            Lang::Da => format!(
                "Slet aftalerne \"{}\" i prøvekalenderen i hånden.",
                self.tag
            ),
            Lang::En => format!(
                "Delete the events \"{}\" in the scratch calendar by hand.",
                self.tag
            ),
        };
        self.tally
            .cleaned_up(matches!(left, Ok(0)) && failed.is_empty(), by_hand);
    }
}

/// The line for a scratch calendar that is one citizens book from.
pub fn booking_calendar_refused(lang: Lang) -> Line {
    fail(
        t(lang, "Kalenderen er en af dem, borgerne booker i: kontrollen kører ikke her", "The calendar is one citizens book from: the check does not run there"),
        t(lang, "Opret en tom kalender kun til prøven (fx \"Booket prøve\") i en af booking-postkasserne og angiv den med --conformance.", "Create an empty calendar just for the check (e.g. \"Booket test\") in one of the booking mailboxes and name it with --conformance."),
    )
}

/// Runs the conformance check on `target`. `now` places the test events (a little over a
/// year ahead, where no one books); `run_id` makes their subject unique.
pub async fn run(
    graph: &GraphClient,
    target: &Target,
    mail: Option<&MailProbe>,
    lang: Lang,
    now: DateTime<Utc>,
    run_id: &str,
) -> Outcome {
    let title = match lang {
        Lang::Da => format!(
            "Konformans på prøvekalenderen \"{}\" ({}):",
            target.calendar, target.owner
        ),
        Lang::En => format!(
            "Conformance on the scratch calendar \"{}\" ({}):",
            target.calendar, target.owner
        ),
    };
    let mut lines = Vec::new();
    if target.is_booking_calendar {
        lines.push(booking_calendar_refused(lang));
        return Outcome {
            section: Section { title, lines },
            findings: vec![],
        };
    }
    if token_check(graph, &target.creds, lang, &mut lines)
        .await
        .is_none()
    {
        return Outcome {
            section: Section { title, lines },
            findings: vec![],
        };
    }
    let calendar_id = match graph
        .resolve_calendar(&target.creds, &target.owner, &target.calendar)
        .await
    {
        Ok(id) => id,
        Err(e) => {
            lines.push(fail(
                format!("{}: {e}", t(lang, "Prøvekalenderen", "The scratch calendar")),
                t(lang, "Opret kalenderen i postkassen (Outlook → Tilføj kalender) eller ret navnet.", "Create the calendar in the mailbox (Outlook → Add calendar) or correct the name."),
            ));
            return Outcome {
                section: Section { title, lines },
                findings: vec![],
            };
        }
    };
    let mut run = Run {
        graph,
        target,
        calendar_id,
        created: Vec::new(),
        tally: Tally::new(lang, lines),
        tag: format!("Booket conformance {run_id}"),
        file_tag: format!("booket-conformance-{run_id}"),
    };
    // Two in-the-night slots a year and a bit ahead.
    let day = (now + Days::new(400))
        .date_naive()
        .and_hms_opt(2, 0, 0)
        .map(|d| d.and_utc())
        .unwrap_or(now);
    let single_body = run.event_body(day);
    match run.create(single_body).await {
        Ok(e) => {
            run.if_match(&e.id).await;
            run.extended_property(&e.id).await;
            run.attachments(&e.id).await;
        }
        Err(e) => {
            let l = run.err_line(
                run.tally.t(
                    "Prøveaftalen kunne ikke oprettes",
                    "The test event could not be created",
                ),
                &e,
            );
            run.tally.lines.push(l);
        }
    }
    run.series(day + Days::new(2)).await;
    run.send_mail(mail).await;
    run.clean_up(day - TimeDelta::days(1), day + TimeDelta::days(5))
        .await;
    Outcome {
        section: Section {
            title,
            lines: run.tally.lines,
        },
        findings: run.tally.findings,
    }
}
