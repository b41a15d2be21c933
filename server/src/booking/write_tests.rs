//! The write path against a mailbox that states its capabilities: what it does with them,
//! checked with an in-memory mailbox whose writes another "instance" overwrites at once.

use super::super::{Booket, Caller, Mailboxes, SlotSigner};
use crate::config::Config;
use crate::mailbox::*;
use app::api::{ElementName, FormId, HoldToken, ReserveRequest, SlotId};
use app::domain::BookingError;
use chrono::{TimeZone, Utc};
use std::sync::{Arc, Mutex};

/// One event in memory. `enforce` says whether stale versions are refused; with
/// `overwrite`, every accepted write is at once overwritten by another owner's hold
/// (a second instance that read the same version and wrote just after).
struct Memory {
    caps: Capabilities,
    event: Mutex<Event>,
    overwrite: bool,
    reads: Mutex<u32>,
    notified: Mutex<Vec<bool>>,
    /// Applied to the stored event once, just after the first read of it, in a week or on
    /// its own (someone changes it between that read and the write).
    change_after_read: Mutex<Option<fn(&mut Event)>>,
    updates: Mutex<u32>,
    /// When set, every write of the event waits for a permit (Exchange is slow to answer).
    gate: Option<Arc<tokio::sync::Semaphore>>,
}

impl Memory {
    fn new(conditional_writes: bool, overwrite: bool) -> Memory {
        Memory {
            caps: Capabilities {
                conditional_writes,
                suppress_attendee_mail: true,
                max_attachment_bytes: 1_000,
            },
            event: Mutex::new(Event {
                id: EventId::new("e1"),
                version: Some("1".into()),
                subject: "Samtale".into(),
                start: Utc.with_ymd_and_hms(2026, 12, 8, 9, 0, 0).unwrap(),
                end: Utc.with_ymd_and_hms(2026, 12, 8, 9, 30, 0).unwrap(),
                all_day: false,
                cancelled: false,
                hold: None,
                location: String::new(),
            }),
            overwrite,
            reads: Mutex::new(0),
            notified: Mutex::new(Vec::new()),
            change_after_read: Mutex::new(None),
            updates: Mutex::new(0),
            gate: None,
        }
    }
}

impl Memory {
    /// The event as stored; then, the first time, someone's change to it.
    fn read_once_more(&self) -> Event {
        let mut stored = self.event.lock().unwrap();
        let read = stored.clone();
        if let Some(change) = self.change_after_read.lock().unwrap().take() {
            change(&mut stored);
            let v: u32 = stored.version.as_deref().unwrap_or("0").parse().unwrap();
            stored.version = Some((v + 1).to_string());
        }
        read
    }
}

#[async_trait::async_trait]
impl Mailbox for Memory {
    fn capabilities(&self) -> Capabilities {
        self.caps
    }
    async fn sign_in(&self) -> Result<(), MailboxError> {
        Ok(())
    }
    async fn resolve_calendar(&self, _: &CalendarName) -> Result<(), MailboxError> {
        Ok(())
    }
    async fn events(
        &self,
        _: &CalendarName,
        _: chrono::DateTime<Utc>,
        _: chrono::DateTime<Utc>,
    ) -> Result<Vec<Event>, MailboxError> {
        Ok(vec![self.read_once_more()])
    }
    async fn event(&self, _: &CalendarName, _: &EventId) -> Result<Event, MailboxError> {
        *self.reads.lock().unwrap() += 1;
        Ok(self.read_once_more())
    }
    async fn update(&self, read: &Event, change: Change<'_>) -> Result<Event, MailboxError> {
        if let Some(gate) = &self.gate {
            gate.acquire().await.unwrap().forget();
        }
        *self.updates.lock().unwrap() += 1;
        self.notified.lock().unwrap().push(change.notify_attendees);
        let mut e = self.event.lock().unwrap();
        if self.caps.conditional_writes && e.version != read.version {
            return Err(MailboxError::Conflict);
        }
        let next = e.version.as_deref().unwrap_or("0").parse::<u32>().unwrap() + 1;
        e.version = Some(next.to_string());
        if let Some(s) = change.subject {
            e.subject = s.into();
        }
        e.hold = Some(change.hold.into());
        let written = e.clone();
        if self.overwrite {
            e.hold = Some(someone_elses_hold());
            e.version = Some((next + 1).to_string());
        }
        Ok(written)
    }
    async fn add_attachment(
        &self,
        _: &EventId,
        _: NewAttachment<'_>,
    ) -> Result<AttachmentId, MailboxError> {
        Err(MailboxError::Refused("not here".into()))
    }
    async fn attachments(&self, _: &EventId) -> Result<Vec<Attachment>, MailboxError> {
        Ok(vec![])
    }
    async fn attachment_content(
        &self,
        _: &EventId,
        _: &Attachment,
        _: usize,
    ) -> Result<crate::mailbox::FileContent, MailboxError> {
        Err(MailboxError::NotFound)
    }
    async fn remove_attachment(&self, _: &EventId, _: &AttachmentId) -> Result<(), MailboxError> {
        Ok(())
    }
    async fn send_mail(&self, _: &OutgoingMail) -> Result<(), MailboxError> {
        Ok(())
    }
}

/// An active hold of another citizen, as the record stores it.
fn someone_elses_hold() -> String {
    use crate::booking::hold::{owner_hash, HoldInfo};
    HoldInfo {
        owner: owner_hash("someone else"),
        expires: Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap(),
        since: None,
        files: vec![],
    }
    .to_value()
}

fn booket(mailbox: Arc<Memory>, notify: bool) -> Booket {
    std::env::set_var("BOOKET_TEST_SECRET_WRITE", "s3cret");
    let text = format!(
        r#"
[[calendars]]
name = "Borgerservice"
outlook_calendar = "Borgerservice"
owner = "booking@kommune.dk"
tenant_id = "t"
client_id = "c"
client_secret = {{ env = "BOOKET_TEST_SECRET_WRITE" }}

[[forms]]
id = "f"
title = "F"

[[forms.elements]]
name = "tid"
heading = "Vælg tid"
calendar = "Borgerservice"
notify_attendees = {notify}
"#
    );
    let config = Config::parse(&text, "booket.toml", std::path::Path::new(".")).unwrap();
    let mut mailboxes = Mailboxes::default();
    mailboxes
        .calendars
        .insert("Borgerservice".into(), mailbox as Arc<dyn Mailbox>);
    let now = Utc.with_ymd_and_hms(2026, 11, 30, 10, 0, 0).unwrap();
    Booket::new(
        (&config).into(),
        mailboxes,
        SlotSigner::random(),
        Arc::new(move || now),
        crate::metrics::Metrics::default(),
    )
}

async fn reserve(b: &Booket) -> Result<app::domain::Hold, BookingError> {
    let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 8);
    let (form, element) = (FormId::parse("f")?, ElementName::parse("tid")?);
    let json = b
        .week_answer(&form, &element, day, &HoldToken::none())
        .await?;
    let week: serde_json::Value = serde_json::from_slice(&json.json).unwrap();
    let slot_id = SlotId::parse(week["slots"][0]["id"].as_str().unwrap())?;
    b.reserve(
        &Caller::default(),
        ReserveRequest {
            form,
            element,
            slot_id,
            hold: HoldToken::none(),
            release_slot_id: None,
            session: String::new(),
        },
    )
    .await
}

#[tokio::test]
async fn without_enforced_conditional_writes_an_overwritten_write_is_a_lost_race() {
    let mailbox = Arc::new(Memory::new(false, true));
    let b = booket(mailbox.clone(), true);
    assert!(matches!(reserve(&b).await, Err(BookingError::Taken)));
    // The slot read, then the write read back.
    assert_eq!(*mailbox.reads.lock().unwrap(), 2);
}

#[tokio::test]
async fn with_enforced_conditional_writes_the_answer_of_the_write_is_trusted() {
    // (The overwrite here stands for a later writer that Exchange let through only
    // because it read after us: our write was settled by the version check.)
    let mailbox = Arc::new(Memory::new(true, true));
    let b = booket(mailbox.clone(), true);
    assert!(reserve(&b).await.is_ok());
    // The kept week showed it free: one write against its version, no read before it and
    // no read-back.
    assert_eq!(*mailbox.reads.lock().unwrap(), 0, "no read");
    assert_eq!(*mailbox.updates.lock().unwrap(), 1);
}

#[tokio::test]
async fn without_enforcement_a_write_that_stays_is_a_hold() {
    let mailbox = Arc::new(Memory::new(false, false));
    let b = booket(mailbox.clone(), true);
    assert!(reserve(&b).await.is_ok());
    assert_eq!(*mailbox.reads.lock().unwrap(), 2);
}

#[tokio::test]
async fn notify_attendees_and_the_largest_attachment_reach_the_backend() {
    for notify in [false, true] {
        let mailbox = Arc::new(Memory::new(true, false));
        let b = booket(mailbox.clone(), notify);
        reserve(&b).await.unwrap();
        assert_eq!(*mailbox.notified.lock().unwrap(), vec![notify]);
        let cal = &b.config.calendars[0];
        // The configured limit (10 MB by default) is cut to what the backend attaches.
        assert_eq!(b.upload_limits(cal).max_file_bytes, 1_000);
    }
}

/// A backend that cannot leave attendees out (Graph) is told the truth: they hear of the
/// write whatever the element asks.
#[tokio::test]
async fn a_backend_that_cannot_suppress_updates_is_written_with_attendees_notified() {
    let mut memory = Memory::new(true, false);
    memory.caps.suppress_attendee_mail = false;
    let mailbox = Arc::new(memory);
    let b = booket(mailbox.clone(), false);
    reserve(&b).await.unwrap();
    assert_eq!(*mailbox.notified.lock().unwrap(), vec![true]);
}

/// Between the week's read and the write, staff edit the event's location (or a sibling
/// occurrence moves a shared version): the write is refused as stale, the event is read,
/// nothing that decides the claim changed, and it is written once more.
#[tokio::test]
async fn a_stale_write_after_a_change_of_something_else_is_written_again() {
    let mailbox = Arc::new(Memory::new(true, false));
    *mailbox.change_after_read.lock().unwrap() = Some(|e| e.location = "Lokale 2".into());
    let b = booket(mailbox.clone(), true);
    assert!(reserve(&b).await.is_ok());
    assert_eq!(*mailbox.updates.lock().unwrap(), 2);
    assert_eq!(*mailbox.reads.lock().unwrap(), 1);
    assert!(mailbox
        .event
        .lock()
        .unwrap()
        .subject
        .ends_with(" - Reserveret"));
}

/// … but when someone else claimed it meanwhile, it is a lost race: "taken", one write.
#[tokio::test]
async fn a_stale_write_after_someone_else_claimed_the_slot_is_taken() {
    let mailbox = Arc::new(Memory::new(true, false));
    *mailbox.change_after_read.lock().unwrap() = Some(|e| {
        e.subject = "Samtale - Reserveret".into();
        e.hold = Some(someone_elses_hold());
    });
    let b = booket(mailbox.clone(), true);
    assert!(matches!(reserve(&b).await, Err(BookingError::Taken)));
    assert_eq!(*mailbox.updates.lock().unwrap(), 1);
    assert_eq!(
        mailbox.event.lock().unwrap().subject,
        "Samtale - Reserveret"
    );
}

/// While a reservation waits for Exchange (here its write is slow), everyone
/// else's week shows the slot taken, also where the week's answer was kept from before.
#[tokio::test]
async fn a_reservation_waiting_for_exchange_shows_taken_in_the_kept_answer() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let mut memory = Memory::new(true, false);
    memory.gate = Some(gate.clone());
    let b = Arc::new(booket(Arc::new(memory), true));
    async fn state(b: &Booket) -> String {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 8);
        let (form, element) = (
            FormId::parse("f").unwrap(),
            ElementName::parse("tid").unwrap(),
        );
        let json = b
            .week_answer(&form, &element, day, &HoldToken::none())
            .await
            .unwrap();
        let week: serde_json::Value = serde_json::from_slice(&json.json).unwrap();
        week["slots"][0]["state"].as_str().unwrap().to_owned()
    }
    assert_eq!(state(&b).await, "free");
    let anna = tokio::spawn({
        let b = b.clone();
        async move { reserve(&b).await }
    });
    while b.claims.is_empty() {
        tokio::task::yield_now().await;
    }
    assert_eq!(state(&b).await, "reserved");
    gate.add_permits(1);
    assert!(anna.await.unwrap().is_ok());
    assert!(b.claims.is_empty());
    assert_eq!(state(&b).await, "reserved");
}
