//! `booket check --conformance`: tries, on a scratch calendar the administrator names, each
//! Graph behaviour Booket relies on that Microsoft does not document, and says what Booket
//! does about the answer. It makes its own test events (far in the future, shown as free),
//! and deletes everything it made, whatever happened in between.
//! (Longer than most files: each behaviour's try sits with its Danish and English wording,
//! which is most of the length.)

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
    fn err_line(&self, what: String, e: &GraphError) -> Line {
        fail(
            format!("{what}: {e}"),
            self.tally.t(
                "Tjek at app'en har Calendars.ReadWrite på prøvekalenderens postkasse, og kør igen.",
                "Check that the app has Calendars.ReadWrite on the scratch calendar's mailbox, and run again.",
            ),
        )
    }

    /// The event as it is now, with the hold property.
    async fn read(&self, id: &str) -> Result<Event, GraphError> {
        let t = &self.target;
        self.graph
            .get_event(&t.creds, &t.owner, &self.calendar_id, id, HOLD_PROPERTY)
            .await
    }

    async fn create(&mut self, body: serde_json::Value) -> Result<Event, GraphError> {
        let t = &self.target;
        let e = self
            .graph
            .create_event(&t.creds, &t.owner, &self.calendar_id, body)
            .await?;
        self.created.push(e.id.clone());
        Ok(e)
    }

    fn event_body(&self, start: DateTime<Utc>) -> serde_json::Value {
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

    async fn patch(
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

    async fn if_match(&mut self, id: &str) {
        let b = Behaviour::StaleIfMatchRefused;
        let first = match self.read(id).await {
            Ok(e) => e.if_match().unwrap_or_default(),
            Err(e) => {
                let l = self.err_line(
                    self.tally.t(
                        "If-Match: kan ikke læse prøveaftalen",
                        "If-Match: cannot read the test event",
                    ),
                    &e,
                );
                return self.tally.found(b, None, l);
            }
        };
        let changed = format!("{} (1)", self.tag);
        if let Err(e) = self.patch(id, &first, Some(&changed), None).await {
            let l = self.err_line(
                self.tally.t(
                    "If-Match: en PATCH med den aktuelle etag blev afvist",
                    "If-Match: a PATCH with the current etag was refused",
                ),
                &e,
            );
            return self.tally.found(b, None, l);
        }
        let again = format!("{} (2)", self.tag);
        match self.patch(id, &first, Some(&again), None).await {
            Err(GraphError::Conflict { status, code }) => {
                let l = pass(match self.tally.lang {
                    Lang::Da => format!("If-Match overholdes: en PATCH med en forældet etag afvises ({status} {code}); flere instanser kan køre side om side"),
                    Lang::En => format!("If-Match is honoured: a PATCH with a stale etag is refused ({status} {code}); several instances may run side by side"),
                });
                self.tally.found(b, Some(true), l)
            }
            Ok(_) => {
                let l = warn(
                    self.tally.t("If-Match overholdes ikke: en PATCH med en forældet etag blev udført", "If-Match is not honoured: a PATCH with a stale etag was carried out"),
                    self.tally.t("Sæt if_match_honoured = false under [exchange] (så læser Booket hver skrivning tilbage) og kør kun én Booket-instans mod denne tenant: inden for en instans skriver Booket én ad gangen pr. aftale, men mellem instanser er det If-Match, der forhindrer dobbeltbooking.", "Set if_match_honoured = false under [exchange] (Booket then reads every write back) and run only one Booket instance against this tenant: within an instance Booket writes one at a time per event, but between instances it is If-Match that prevents double booking."),
                );
                self.tally.found(b, Some(false), l)
            }
            Err(e) => {
                let l = self.err_line(
                    self.tally
                        .t("If-Match: uventet svar", "If-Match: unexpected answer"),
                    &e,
                );
                self.tally.found(b, None, l)
            }
        }
    }

    async fn extended_property(&mut self, id: &str) {
        let b = Behaviour::ExtendedPropertyRoundTrip;
        let value = format!("conformance;{}", self.tag);
        let outcome = async {
            let etag = self.read(id).await?.if_match().unwrap_or_default();
            let answer = self
                .patch(id, &etag, None, Some((HOLD_PROPERTY, &value)))
                .await?;
            Ok((answer, self.read(id).await?))
        }
        .await;
        if let Ok((answer, _)) = &outcome {
            let carried = answer.property(HOLD_PROPERTY) == Some(value.as_str());
            let l = pass(match (self.tally.lang, carried) {
                (Lang::Da, true) => "PATCH-svaret indeholder den udvidede egenskab, der blev sat (Microsoft dokumenterer det modsatte); Booket bruger kun svarets nye etag og afhænger ikke af det".to_owned(),
                (Lang::Da, false) => "PATCH-svaret indeholder ikke den udvidede egenskab, der blev sat (som Microsoft dokumenterer); Booket bruger kun svarets nye etag og afhænger ikke af det".to_owned(),
                (Lang::En, true) => "The PATCH answer carries the extended property it set (Microsoft documents that it does not); Booket takes only the new etag from it and depends on neither".to_owned(),
                (Lang::En, false) => "The PATCH answer leaves out the extended property it set (as Microsoft documents); Booket takes only the new etag from it and depends on neither".to_owned(),
            });
            self.tally
                .found(Behaviour::PatchAnswerCarriesProperty, Some(carried), l);
        }
        match outcome.map(|(_, read)| read) {
            Ok(e) if e.property(HOLD_PROPERTY) == Some(value.as_str()) => {
                let l = pass(self.tally.t(
                    "Booket's udvidede egenskab (hold-posten) skrives og læses tilbage",
                    "Booket's extended property (the hold record) is written and reads back",
                ));
                self.tally.found(b, Some(true), l)
            }
            Ok(_) => {
                let l = fail(
                    self.tally.t("Den udvidede egenskab læses ikke tilbage som skrevet", "The extended property does not read back as written"),
                    self.tally.t("Booket kan ikke holde tider eller registrere filer i denne tenant. Kontakt Booket-teamet med denne rapport.", "Booket cannot hold times or record files in this tenant. Contact the Booket team with this report."),
                );
                self.tally.found(b, Some(false), l)
            }
            Err(e) => {
                let l = self.err_line(self.tally.t("Udvidet egenskab", "Extended property"), &e);
                self.tally.found(b, None, l)
            }
        }
    }

    async fn attachments(&mut self, id: &str) {
        let (creds, owner) = (self.target.creds.clone(), self.target.owner.clone());
        let tag = self.file_tag.clone();
        let small: Vec<u8> = b"Booket conformance check: a small test file.\n".to_vec();
        // An upload session takes 3 MB and more (smaller is refused with
        // ErrorAttachmentSizeShouldNotBeLessThanMinimumSize).
        let large: Vec<u8> = vec![b'.'; SMALL_ATTACHMENT_LIMIT];
        let mut ids = Vec::new();
        for (name, body, behaviour) in [
            ("booket-small.txt", &small, Behaviour::ContentIdKeptSmall),
            (
                "booket-upload-session.txt",
                &large,
                Behaviour::ContentIdKeptUploadSession,
            ),
        ] {
            match self
                .graph
                .add_attachment(&creds, &owner, id, name, "text/plain", &tag, body)
                .await
            {
                Ok(added) => {
                    if behaviour == Behaviour::ContentIdKeptUploadSession {
                        self.upload_location(&added);
                    }
                    ids.push((name, added.id.unwrap_or_default(), behaviour))
                }
                Err(e) => {
                    let what = match self.tally.lang {
                        Lang::Da => format!("Vedhæftning af {name}"),
                        Lang::En => format!("Attaching {name}"),
                    };
                    let l = self.err_line(what, &e);
                    self.tally.found(behaviour, None, l);
                }
            }
        }
        let listed = match self
            .graph
            .list_attachments_with_cast(&creds, &owner, id)
            .await
        {
            Ok(list) => {
                let l = pass(self.tally.t(
                    "Vedhæftninger listes med $select=…/microsoft.graph.fileAttachment/contentId",
                    "Attachments are listed with $select=…/microsoft.graph.fileAttachment/contentId",
                ));
                self.tally
                    .found(Behaviour::AttachmentCastAccepted, Some(true), l);
                list
            }
            Err(GraphError::Rejected { status: 400, code }) => {
                let l = warn(
                    match self.tally.lang {
                        Lang::Da => format!("Typecast i $select afvises (400 {code})"),
                        Lang::En => format!("The type cast in $select is refused (400 {code})"),
                    },
                    self.tally.t("Booket lister så vedhæftninger uden $select (indholdet kommer med: langsommere, men det virker). Intet at gøre.", "Booket then lists attachments without $select (contents included: slower, but it works). Nothing to do."),
                );
                self.tally
                    .found(Behaviour::AttachmentCastAccepted, Some(false), l);
                match self.graph.list_attachments(&creds, &owner, id).await {
                    Ok(list) => list,
                    Err(e) => {
                        let l = self.err_line(
                            self.tally.t(
                                "Vedhæftninger kan ikke listes",
                                "Attachments cannot be listed",
                            ),
                            &e,
                        );
                        self.tally.lines.push(l);
                        return;
                    }
                }
            }
            Err(e) => {
                let l = self.err_line(
                    self.tally.t(
                        "Vedhæftninger kan ikke listes",
                        "Attachments cannot be listed",
                    ),
                    &e,
                );
                self.tally.found(Behaviour::AttachmentCastAccepted, None, l);
                return;
            }
        };
        for (name, aid, behaviour) in &ids {
            let how = match behaviour {
                Behaviour::ContentIdKeptSmall => self.tally.t("én POST", "one POST"),
                _ => self.tally.t("upload session", "upload session"),
            };
            let seen = listed.iter().find(|a| &a.id == aid || a.name == *name);
            let kept = seen.is_some_and(|a| a.content_id.as_deref() == Some(tag.as_str()));
            let line = if kept {
                pass(match self.tally.lang {
                    Lang::Da => format!("contentId bevares på en fil tilføjet med {how}"),
                    Lang::En => format!("contentId is kept on a file added with {how}"),
                })
            } else {
                pass(match self.tally.lang {
                    Lang::Da => format!("contentId bevares ikke på en fil tilføjet med {how}: Booket finder sine filer ved de id'er, den registrerer i hold-posten (intet at gøre)"),
                    Lang::En => format!("contentId is not kept on a file added with {how}: Booket finds its files by the ids it records in the hold (nothing to do)"),
                })
            };
            self.tally.found(*behaviour, Some(kept), line);
        }
        // Delete by id: the listed id where the upload gave none (no Location header).
        let mut all_gone = true;
        for (name, aid, _) in &ids {
            let id_to_delete = listed
                .iter()
                .find(|a| &a.id == aid || a.name == *name)
                .map(|a| a.id.clone())
                .unwrap_or_else(|| aid.clone());
            if self
                .graph
                .delete_attachment(&creds, &owner, id, &id_to_delete)
                .await
                .is_err()
            {
                all_gone = false;
            }
        }
        let left = self
            .graph
            .list_attachments(&creds, &owner, id)
            .await
            .map(|l| l.len())
            .unwrap_or(usize::MAX);
        let b = Behaviour::AttachmentDeletedById;
        if ids.is_empty() {
            return;
        }
        if all_gone && left == 0 {
            let l = pass(self.tally.t(
                "Vedhæftninger slettes ved deres id",
                "Attachments are deleted by their id",
            ));
            self.tally.found(b, Some(true), l);
        } else {
            let l = fail(
                self.tally.t("Vedhæftninger kunne ikke slettes ved deres id", "Attachments could not be deleted by their id"),
                self.tally.t("Booket kan så ikke fjerne en borgers filer, når en reservation udløber. Tjek Calendars.ReadWrite og kør igen.", "Booket then cannot remove a citizen's files when a hold lapses. Check Calendars.ReadWrite and run again."),
            );
            self.tally.found(b, Some(false), l);
        }
    }

    /// Reports what the last chunk of the upload session pointed to.
    fn upload_location(&mut self, added: &crate::graph::Added) {
        let shown = added.location.as_deref().unwrap_or("-");
        let named = added.id.is_some();
        let l = pass(match (self.tally.lang, named) {
            (Lang::Da, true) => format!("Upload-sessionens Location navngiver vedhæftningen: {shown}"),
            (Lang::Da, false) => format!("Upload-sessionens Location navngiver ingen vedhæftning Booket kan læse ({shown}): Booket finder id'et ved at liste aftalens vedhæftninger (intet at gøre)"),
            (Lang::En, true) => format!("The upload session's Location names the attachment: {shown}"),
            (Lang::En, false) => format!("The upload session's Location names no attachment Booket can read ({shown}): Booket learns the id by listing the event's attachments (nothing to do)"),
        });
        self.tally
            .found(Behaviour::UploadLocationNamesId, Some(named), l);
    }

    async fn series(&mut self, day: DateTime<Utc>) {
        let b = Behaviour::SeriesEtagsIndependent;
        let mut body = self.event_body(day);
        body["recurrence"] = serde_json::json!({
            "pattern": {"type": "daily", "interval": 1},
            "range": {
                "type": "numbered",
                "startDate": day.format("%Y-%m-%d").to_string(),
                "numberOfOccurrences": 2,
            },
        });
        if let Err(e) = self.create(body).await {
            let l = self.err_line(
                self.tally.t(
                    "En gentaget aftale kunne ikke oprettes",
                    "A recurring event could not be created",
                ),
                &e,
            );
            return self.tally.found(b, None, l);
        }
        let t = self.target;
        let occurrences: Vec<Event> = match self
            .graph
            .calendar_view(
                &t.creds,
                &t.owner,
                &self.calendar_id,
                day - TimeDelta::hours(1),
                day + TimeDelta::days(2),
                HOLD_PROPERTY,
            )
            .await
        {
            Ok(all) => all
                .into_iter()
                .filter(|e| e.subject.as_deref() == Some(self.tag.as_str()))
                .collect(),
            Err(e) => {
                let l = self.err_line(
                    self.tally.t(
                        "Kalendervisningen kunne ikke læses",
                        "The calendar view could not be read",
                    ),
                    &e,
                );
                return self.tally.found(b, None, l);
            }
        };
        let [first, second] = occurrences.as_slice() else {
            let l = fail(
                match self.tally.lang {
                    Lang::Da => format!(
                        "Serien viste sig som {} forekomster i stedet for 2",
                        occurrences.len()
                    ),
                    Lang::En => format!(
                        "The series showed as {} occurrences instead of 2",
                        occurrences.len()
                    ),
                },
                self.tally.t(
                    "Kontakt Booket-teamet med denne rapport.",
                    "Contact the Booket team with this report.",
                ),
            );
            return self.tally.found(b, None, l);
        };
        let before = second.if_match();
        let changed = format!("{} (1)", self.tag);
        let outcome = async {
            self.patch(
                &first.id,
                &first.if_match().unwrap_or_default(),
                Some(&changed),
                None,
            )
            .await?;
            self.read(&second.id).await
        }
        .await;
        match outcome {
            Ok(after) if after.if_match() == before => {
                let l = pass(self.tally.t(
                    "En ændring af én forekomst i en serie lader de andres etag være",
                    "Changing one occurrence of a series leaves the others' etags alone",
                ));
                self.tally.found(b, Some(true), l)
            }
            Ok(_) => {
                let l = warn(
                    self.tally.t("En ændring af én forekomst i en serie gør de andre forekomsters etag forældet", "Changing one occurrence of a series makes the other occurrences' etags stale"),
                    self.tally.t("Booket læser aftalen lige før hver skrivning, og når en skrivning afvises, læser den aftalen igen og skriver én gang til, hvis kun etag'en flyttede sig (emne, reservation og tid er de samme); ingen borger får \"taget\" af den grund.", "Booket reads the event just before each write, and when a write is refused it reads the event again and writes once more if only the etag moved (subject, hold and times unchanged); no citizen is told \"taken\" for it."),
                );
                self.tally.found(b, Some(false), l)
            }
            Err(e) => {
                let l = self.err_line(self.tally.t("Serie", "Series"), &e);
                self.tally.found(b, None, l)
            }
        }
    }

    async fn send_mail(&mut self, probe: Option<&MailProbe>) {
        let b = Behaviour::SendMailAccepted;
        let Some(m) = probe else {
            let l = warn(
                self.tally.t("sendMail er ikke prøvet", "sendMail was not tried"),
                self.tally.t("Kør med --send-mail for at sende én prøvemail fra afsenderpostkassen til den selv.", "Run with --send-mail to send one test mail from the sending mailbox to itself."),
            );
            return self.tally.found(b, None, l);
        };
        let message = serde_json::json!({
            "subject": self.tag.clone(),
            "body": {"contentType": "text", "content": "Booket's conformance check sent this mail to the sending mailbox itself. It can be deleted."},
            "toRecipients": [{"emailAddress": {"address": m.sender}}],
            "from": {"emailAddress": {"address": m.sender}},
        });
        match self.graph.send_mail(&m.creds, &m.user, message).await {
            Ok(()) => {
                let l = pass(match self.tally.lang {
                    Lang::Da => format!(
                        "sendMail accepteret (202) — tjek at \"{}\" når frem til {}",
                        self.tag, m.sender
                    ),
                    Lang::En => format!(
                        "sendMail accepted (202) — check that \"{}\" arrives in {}",
                        self.tag, m.sender
                    ),
                });
                self.tally.found(b, Some(true), l)
            }
            Err(e) => {
                let l = fail(
                    format!("sendMail: {e}"),
                    self.tally.t(
                        "Giv app'en Mail.Send (Application) og tjek [mail] user/sender.",
                        "Give the app Mail.Send (Application) and check [mail] user/sender.",
                    ),
                );
                self.tally.found(b, Some(false), l)
            }
        }
    }

    async fn clean_up(&mut self, from: DateTime<Utc>, to: DateTime<Utc>) {
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
