//! `booket check --conformance` on a scratch folder reached through EWS: proves on the
//! organisation's own Exchange Server what the EWS backend relies on — a stale ChangeKey is
//! refused under `NeverOverwrite`, `SendToNone` sends nothing (no update lands in Sent
//! Items), the hold record reads back, an attachment is added and deleted by id — and deletes
//! everything it made. Its test item lies a little over a year ahead at night, is free, and
//! has one attendee at an `.invalid` address, so that an update sent by mistake shows.

use super::conformance::{Behaviour, Outcome, Tally};
use super::report::{fail, pass, t, Section};
use crate::config::EwsAccount;
use crate::ews::client::EwsError;
use crate::ews::{xml, EwsClient, EwsMailbox};
use crate::exchange::gate::Class;
use crate::mailbox::Mailbox;
use app::i18n::Lang;
use chrono::{DateTime, Days, TimeDelta, Utc};
use std::sync::Arc;

/// Where an update sent by mistake would go (RFC 2606: never delivered).
const ATTENDEE: &str = "booket-conformance@example.invalid";

struct Run<'a> {
    mailbox: &'a EwsMailbox,
    folder: String,
    tag: String,
    tally: Tally,
}

impl Run<'_> {
    async fn call(&self, class: Class, body: String) -> Result<xml::Message, EwsError> {
        self.mailbox.call(class, body).await
    }

    fn acting(&self) -> xml::Acting<'_> {
        self.mailbox.acting()
    }

    /// A step that could not be tried: the error, and what to check.
    fn broken(&mut self, behaviour: Behaviour, what: (&str, &str), e: &EwsError) {
        let line = fail(
            format!("{}: {e}", self.tally.t(what.0, what.1)),
            self.tally.t(
                "Tjek at tjenestekontoen må skrive i prøvemappens postkasse (impersonation eller Full Access), og kør igen.",
                "Check that the service account may write in the scratch folder's mailbox (impersonation or Full Access), and run again.",
            ),
        );
        self.tally.found(behaviour, None, line);
    }

    /// The item's ChangeKey and hold record now.
    async fn read(&self, id: &str) -> Result<xml::Item, EwsError> {
        self.call(Class::Read, xml::get_item(self.acting(), id, true))
            .await?
            .into_item()
            .ok_or_else(|| EwsError::Decode("GetItem answered no item".into()))
    }

    async fn update(&self, id: &str, change_key: &str, n: u32) -> Result<String, EwsError> {
        let subject = format!("{} {n}", self.tag);
        let m = self
            .call(
                Class::Write,
                xml::update_item(
                    self.acting(),
                    id,
                    change_key,
                    Some(&subject),
                    &self.tag,
                    false,
                ),
            )
            .await?;
        Ok(m.into_item()
            .and_then(|i| i.id)
            .and_then(|i| i.change_key)
            .unwrap_or_default())
    }

    /// Written once with the key it read, then again with that (now stale) key.
    async fn change_keys(&mut self, id: &str, first: &str) {
        let b = Behaviour::StaleChangeKeyRefused;
        if let Err(e) = self.update(id, first, 1).await {
            return self.broken(
                b,
                (
                    "Prøveelementet kunne ikke ændres",
                    "The test item could not be changed",
                ),
                &e,
            );
        }
        match self.update(id, first, 2).await {
            Err(EwsError::Conflict(code)) => {
                let l = pass(format!(
                    "{} ({code})",
                    self.tally.t(
                        "En forældet ChangeKey afvises under NeverOverwrite",
                        "A stale ChangeKey is refused under NeverOverwrite"
                    )
                ));
                self.tally.found(b, Some(true), l)
            }
            Ok(_) => {
                let l = fail(
                    self.tally.t(
                        "En forældet ChangeKey blev godtaget: to borgere kan få samme tid",
                        "A stale ChangeKey was accepted: two citizens could get the same time",
                    ),
                    self.tally.t(
                        "Book ikke i kalendere på denne server, før Exchange-administratoren har fundet årsagen (ConflictResolution=\"NeverOverwrite\" skal afvise forældede ChangeKeys).",
                        "Do not book in calendars on this server until the Exchange administrator has found why (ConflictResolution=\"NeverOverwrite\" must refuse stale ChangeKeys).",
                    ),
                );
                self.tally.found(b, Some(false), l)
            }
            Err(e) => self.broken(b, ("Anden ændring", "Second change"), &e),
        }
    }

    async fn hold_record(&mut self, id: &str) {
        let b = Behaviour::ExtendedPropertyRoundTrip;
        match self.read(id).await {
            Ok(item) if item.hold() == Some(self.tag.as_str()) => {
                let l = pass(self.tally.t(
                    "Hold-posten (en udvidet egenskab) læses tilbage, som den blev skrevet",
                    "The hold record (an extended property) reads back as written",
                ));
                self.tally.found(b, Some(true), l)
            }
            Ok(_) => {
                let l = fail(
                    self.tally.t(
                        "Hold-posten læses ikke tilbage: reservationer kan ikke holdes",
                        "The hold record does not read back: reservations cannot be held",
                    ),
                    self.tally.t(
                        "Spørg Exchange-administratoren, om udvidede egenskaber (named properties) er begrænset på serveren.",
                        "Ask the Exchange administrator whether extended (named) properties are restricted on the server.",
                    ),
                );
                self.tally.found(b, Some(false), l)
            }
            Err(e) => self.broken(
                b,
                (
                    "Prøveelementet kunne ikke læses",
                    "The test item could not be read",
                ),
                &e,
            ),
        }
    }

    async fn attachment(&mut self, id: &str) {
        use base64::Engine;
        let b = Behaviour::AttachmentDeletedById;
        let content = base64::engine::general_purpose::STANDARD.encode(b"Booket conformance");
        let made = self
            .call(
                Class::Write,
                xml::create_attachment(
                    self.acting(),
                    id,
                    "booket-conformance.txt",
                    "text/plain",
                    &self.tag,
                    &content,
                ),
            )
            .await
            .map(|m| {
                m.attachments
                    .and_then(|a| a.list.into_iter().next())
                    .map(|a| a.id.id)
            });
        let attachment = match made {
            Ok(Some(a)) => a,
            Ok(None) => {
                let e = EwsError::Decode("CreateAttachment answered no attachment id".into());
                return self.broken(
                    b,
                    (
                        "Bilaget kunne ikke lægges på",
                        "The attachment could not be added",
                    ),
                    &e,
                );
            }
            Err(e) => {
                return self.broken(
                    b,
                    (
                        "Bilaget kunne ikke lægges på",
                        "The attachment could not be added",
                    ),
                    &e,
                )
            }
        };
        if let Err(e) = self
            .call(
                Class::Write,
                xml::delete_attachment(self.acting(), &attachment),
            )
            .await
        {
            return self.broken(
                b,
                (
                    "Bilaget kunne ikke slettes",
                    "The attachment could not be deleted",
                ),
                &e,
            );
        }
        match self.read(id).await {
            Ok(item) if item.attachments.as_ref().is_none_or(|a| a.list.is_empty()) => {
                let l = pass(self.tally.t(
                    "Et bilag lægges på og slettes igen ved sit id",
                    "An attachment is added and deleted again by its id",
                ));
                self.tally.found(b, Some(true), l)
            }
            Ok(_) => {
                let l = fail(
                    self.tally.t(
                        "Bilaget er der stadig efter DeleteAttachment",
                        "The attachment is still there after DeleteAttachment",
                    ),
                    self.tally.t(
                        "Spørg Exchange-administratoren; fjern bilaget i hånden.",
                        "Ask the Exchange administrator; remove the attachment by hand.",
                    ),
                );
                self.tally.found(b, Some(false), l)
            }
            Err(e) => self.broken(
                b,
                (
                    "Prøveelementet kunne ikke læses",
                    "The test item could not be read",
                ),
                &e,
            ),
        }
    }

    /// After the changes with `SendToNone`: nothing with the test's subject in Sent Items.
    async fn send_to_none(&mut self) {
        let b = Behaviour::SendToNoneSendsNothing;
        match self
            .call(Class::Read, xml::find_sent(self.acting(), &self.tag))
            .await
        {
            Ok(m) => {
                let sent = m
                    .root
                    .and_then(|r| r.items)
                    .map(|i| i.list.len())
                    .unwrap_or(0);
                if sent == 0 {
                    let l = pass(self.tally.t(
                        "SendToNone sender intet: ingen mødeopdatering i Sendt post",
                        "SendToNone sends nothing: no meeting update in Sent Items",
                    ));
                    self.tally.found(b, Some(true), l)
                } else {
                    let l = fail(
                        match self.tally.lang {
                            Lang::Da => format!("{sent} mødeopdatering(er) sendt trods SendToNone: deltagere ville få post ved hver booking"),
                            Lang::En => format!("{sent} meeting update(s) sent despite SendToNone: attendees would get mail for every booking"),
                        },
                        self.tally.t(
                            "Bed Exchange-administratoren undersøge transportregler og tilføjelsesprogrammer; indtil da: book kun i aftaler uden deltagere.",
                            "Ask the Exchange administrator to look at transport rules and add-ins; until then, book only in events without attendees.",
                        ),
                    );
                    self.tally.found(b, Some(false), l)
                }
            }
            Err(e) => self.broken(
                b,
                (
                    "Sendt post kunne ikke læses",
                    "Sent Items could not be read",
                ),
                &e,
            ),
        }
    }

    /// Deletes the test item and anything an earlier, interrupted run left in the window.
    async fn clean_up(&mut self, made: Option<String>, from: DateTime<Utc>, to: DateTime<Utc>) {
        let mut failed = false;
        if let Some(id) = made {
            failed |= matches!(
                self.call(Class::Write, xml::delete_item(self.acting(), &id)).await,
                Err(e) if !matches!(e, EwsError::NotFound(_))
            );
        }
        let left = |m: xml::Message| -> Vec<String> {
            m.root
                .and_then(|r| r.items)
                .map(|i| i.list)
                .unwrap_or_default()
                .into_iter()
                .filter(|i| {
                    i.subject
                        .as_deref()
                        .is_some_and(|s| s.starts_with("Booket conformance"))
                })
                .filter_map(|i| i.id.map(|id| id.id))
                .collect()
        };
        let view = || xml::calendar_view(self.acting(), &self.folder, from, to, 100);
        match self.call(Class::Read, view()).await.map(left) {
            Ok(ids) => {
                for id in ids {
                    failed |= self
                        .call(Class::Write, xml::delete_item(self.acting(), &id))
                        .await
                        .is_err();
                }
            }
            Err(_) => failed = true,
        }
        let gone = !failed
            && matches!(self.call(Class::Read, view()).await.map(left), Ok(ids) if ids.is_empty());
        let by_hand = self.tally.t(
            "Slet elementerne \"Booket conformance …\" i prøvemappen i hånden.",
            "Delete the items \"Booket conformance …\" in the scratch folder by hand.",
        );
        self.tally.cleaned_up(gone, by_hand);
    }
}

/// Runs the EWS conformance check on `calendar` in `owner`'s mailbox.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    account: &EwsAccount,
    max_concurrency: usize,
    retry_budget: std::time::Duration,
    owner: &str,
    calendar: &str,
    lang: Lang,
    now: DateTime<Utc>,
    run_id: &str,
) -> Outcome {
    let title = match lang {
        Lang::Da => format!("Konformans på prøvemappen \"{calendar}\" ({owner}, EWS):"),
        Lang::En => format!("Conformance on the scratch folder \"{calendar}\" ({owner}, EWS):"),
    };
    let outcome = |lines, findings| Outcome {
        section: Section {
            title: title.clone(),
            lines,
        },
        findings,
    };
    let client = match EwsClient::new(account.clone(), max_concurrency, retry_budget) {
        Ok(c) => Arc::new(c),
        Err(e) => return outcome(vec![fail(e.to_string(), String::new())], vec![]),
    };
    let mailbox = EwsMailbox::new(client, owner);
    if let Err(e) = mailbox.sign_in().await {
        let hint = t(
            lang,
            "Kør booket check uden --conformance for at se, hvad der mangler.",
            "Run booket check without --conformance to see what is missing.",
        );
        return outcome(vec![fail(e.to_string(), hint)], vec![]);
    }
    let folder = match mailbox
        .folder_id(&crate::mailbox::CalendarName::new(calendar))
        .await
    {
        Ok(f) => f,
        Err(e) => {
            let hint = t(
                lang,
                "Opret mappen i postkassen (Outlook → Tilføj kalender) eller ret navnet.",
                "Create the folder in the mailbox (Outlook → Add calendar) or correct the name.",
            );
            return outcome(
                vec![fail(
                    format!("{}: {e}", t(lang, "Prøvemappen", "The scratch folder")),
                    hint,
                )],
                vec![],
            );
        }
    };
    let mut run = Run {
        mailbox: &mailbox,
        folder,
        tag: format!("Booket conformance {run_id}"),
        tally: Tally::new(
            lang,
            vec![pass(match lang {
                Lang::Da => format!("Prøvemappen \"{calendar}\" er fundet én gang"),
                Lang::En => format!("The scratch folder \"{calendar}\" is found once"),
            })],
        ),
    };
    let day = (now + Days::new(400))
        .date_naive()
        .and_hms_opt(2, 0, 0)
        .map(|d| d.and_utc())
        .unwrap_or(now);
    let created = run
        .call(
            Class::Write,
            xml::create_calendar_item(
                run.acting(),
                &run.folder,
                &run.tag,
                day,
                day + TimeDelta::minutes(30),
                ATTENDEE,
            ),
        )
        .await
        .and_then(|m| {
            m.into_item()
                .and_then(|i| i.id)
                .ok_or_else(|| EwsError::Decode("CreateItem answered no item".into()))
        });
    let made = match created {
        Ok(id) => {
            run.change_keys(&id.id, id.change_key.as_deref().unwrap_or_default())
                .await;
            run.hold_record(&id.id).await;
            run.attachment(&id.id).await;
            run.send_to_none().await;
            Some(id.id)
        }
        Err(e) => {
            let l = fail(
                format!("{}: {e}", run.tally.t("Prøveelementet kunne ikke oprettes", "The test item could not be created")),
                run.tally.t(
                    "Tjek at tjenestekontoen må skrive i prøvemappens postkasse, og kør igen.",
                    "Check that the service account may write in the scratch folder's mailbox, and run again.",
                ),
            );
            run.tally.lines.push(l);
            None
        }
    };
    run.clean_up(made, day - TimeDelta::days(1), day + TimeDelta::days(2))
        .await;
    outcome(run.tally.lines, run.tally.findings)
}
