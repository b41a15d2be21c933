//! Holds: who reserved a slot and until when, stored with the Outlook event (a MAPI named
//! property each backend reaches its own way) so a restarted server and every other instance see it.
//! The property holds a hash of the citizen's token, never the token itself.

use crate::mailbox::AttachmentId;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// What the property says once a hold has ended (a property cannot be removed by PATCH).
pub const ENDED: &str = "ended";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldInfo {
    /// Hash of the owner's token.
    pub owner: String,
    pub expires: DateTime<Utc>,
    /// When the owner first held the slot (extensions keep it), for the longest lifetime
    /// of a hold. Unknown for records written before it was kept.
    pub since: Option<DateTime<Utc>>,
    /// Ids of the attachments the owner's booking has added so far, recorded as each was
    /// added, so files of a booking that never finished can be removed by id.
    pub files: Vec<AttachmentId>,
}

/// Most attachment ids one record keeps (every file of a booking plus its summary).
pub const MAX_RECORDED_FILES: usize = 64;

/// An attachment id as Graph gives them (base64 of the item and attachment keys); anything
/// else is never written into a hold record, so the record always parses.
pub fn is_recordable_attachment_id(id: &AttachmentId) -> bool {
    let id = id.as_str();
    (1..=512).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_'))
}

impl HoldInfo {
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        now < self.expires
    }

    pub fn is_owned_by(&self, token: &str) -> bool {
        !token.is_empty() && self.owner == owner_hash(token)
    }

    /// `v2;<owner hash>;<expiry>;<since>;<id>,<id>…` (times in Unix seconds; the file ids
    /// may be none). `v1;<owner hash>;<expiry>` records of earlier versions are still read.
    pub fn to_value(&self) -> String {
        format!(
            "v2;{};{};{};{}",
            self.owner,
            self.expires.timestamp(),
            self.since.unwrap_or(self.expires).timestamp(),
            self.files
                .iter()
                .map(AttachmentId::as_str)
                .collect::<Vec<_>>()
                .join(",")
        )
    }

    pub fn parse(value: &str) -> Option<HoldInfo> {
        let mut parts = value.split(';');
        let version = parts.next()?;
        if version != "v1" && version != "v2" {
            return None;
        }
        let owner = parts.next()?.to_owned();
        let expires = DateTime::from_timestamp(parts.next()?.parse().ok()?, 0)?;
        let (since, files) = match version {
            "v1" => (None, Vec::new()),
            _ => {
                let since = DateTime::from_timestamp(parts.next()?.parse().ok()?, 0)?;
                let list = parts.next()?;
                let files: Vec<AttachmentId> = if list.is_empty() {
                    Vec::new()
                } else {
                    list.split(',').map(AttachmentId::new).collect()
                };
                if files.len() > MAX_RECORDED_FILES
                    || !files.iter().all(is_recordable_attachment_id)
                {
                    return None;
                }
                (Some(since), files)
            }
        };
        if parts.next().is_some() || owner.is_empty() {
            return None;
        }
        Some(HoldInfo {
            owner,
            expires,
            since,
            files,
        })
    }
}

/// A booking's record on its event: `booked;<mark>` then, for bookings made since the
/// booking's own link (issue 27), `;owner=<hash>`, `;files=<id>,<id>…` and `;to=<sealed
/// address>` — what a cancellation needs: whose files are on the event (by id and by
/// their `contentId` tag) and where to send word of it. The address is sealed with a key
/// only Booket has (`ReceiptSigner::seal`): the record, which instances pass each other
/// through the store, carries no readable personal data. The mark (`booked;<hash of the
/// request's idempotency scope>`) names the booking; its receipt and link ids derive from
/// it, so a record that gains fields names the same booking. Unknown fields are skipped
/// (a newer version's record is still a booking).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookedRecord {
    /// `booked;<hash>`.
    pub mark: String,
    /// Hash of the hold token the booking's files were tagged with.
    pub owner: Option<String>,
    pub files: Vec<AttachmentId>,
    /// The citizen's e-mail address, sealed (only when mail is on, the form has one and
    /// receipts are signed).
    pub to: Option<String>,
    /// When the reminder is due (Unix seconds; the element's `reminder_hours` before the
    /// start), with the form and element it was booked through (`form=`, `el=`: the
    /// reminder's link names them).
    pub remind: Option<i64>,
    pub form: Option<String>,
    pub element: Option<String>,
    /// The reminder was sent: the sender's nonce (a write that cannot be told apart by
    /// its value could not be read back as one instance's own).
    pub reminded: Option<String>,
}

/// A token Booket writes into a record: `[A-Za-z0-9_-]`, 1–64 long.
fn is_record_token(v: &str) -> bool {
    (1..=64).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

impl BookedRecord {
    /// A record of the booking `mark` names, with nothing else kept yet.
    pub fn new(mark: impl Into<String>) -> BookedRecord {
        BookedRecord {
            mark: mark.into(),
            owner: None,
            files: Vec::new(),
            to: None,
            remind: None,
            form: None,
            element: None,
            reminded: None,
        }
    }

    pub fn to_value(&self) -> String {
        let mut value = self.mark.clone();
        if let Some(owner) = &self.owner {
            value.push_str(";owner=");
            value.push_str(owner);
        }
        if !self.files.is_empty() {
            value.push_str(";files=");
            let ids: Vec<&str> = self.files.iter().map(AttachmentId::as_str).collect();
            value.push_str(&ids.join(","));
        }
        if let Some(to) = &self.to {
            value.push_str(";to=");
            value.push_str(to);
        }
        if let (Some(at), Some(form), Some(element)) = (self.remind, &self.form, &self.element) {
            value.push_str(&format!(";remind={at};form={form};el={element}"));
        }
        if let Some(nonce) = &self.reminded {
            value.push_str(";reminded=");
            value.push_str(nonce);
        }
        value
    }

    /// The record, if `value` is a booking's; a field that does not read as Booket wrote it
    /// makes the whole record unreadable (never half a list of files).
    pub fn parse(value: &str) -> Option<BookedRecord> {
        let mark = booked_mark(value)?;
        let mut record = BookedRecord::new(mark);
        let rest = value[mark.len()..].strip_prefix(';').unwrap_or_default();
        for field in rest.split(';').filter(|f| !f.is_empty()) {
            let (key, v) = field.split_once('=')?;
            match key {
                "owner"
                    if !v.is_empty()
                        && v.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')) =>
                {
                    record.owner = Some(v.to_owned());
                }
                "files" => {
                    let files: Vec<AttachmentId> = v.split(',').map(AttachmentId::new).collect();
                    if files.len() > MAX_RECORDED_FILES
                        || !files.iter().all(is_recordable_attachment_id)
                    {
                        return None;
                    }
                    record.files = files;
                }
                "to" if (1..=1024).contains(&v.len())
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) =>
                {
                    record.to = Some(v.to_owned());
                }
                "to" => return None,
                "remind" => record.remind = Some(v.parse().ok()?),
                "form" if is_record_token(v) => record.form = Some(v.to_owned()),
                "el" if is_record_token(v) => record.element = Some(v.to_owned()),
                "reminded" if is_record_token(v) => record.reminded = Some(v.to_owned()),
                "form" | "el" | "reminded" => return None,
                "owner" => return None,
                _ => {}
            }
        }
        Some(record)
    }
}

/// The mark of a booking record (`booked;<hash>`), or `None` for any other value.
pub fn booked_mark(value: &str) -> Option<&str> {
    let rest = value.strip_prefix("booked;")?;
    let hash_len = rest.find(';').unwrap_or(rest.len());
    (hash_len > 0).then(|| &value[.."booked;".len() + hash_len])
}

pub fn owner_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    B64.encode(&digest[..16])
}

/// A new random hold token (128 bits, URL-safe).
pub fn new_token() -> String {
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b).expect("the OS random source works");
    B64.encode(b)
}

/// A token derived from a request's idempotency scope (same request, same token).
pub fn token_for(scope: &str) -> String {
    let digest = Sha256::digest(format!("booket-hold\u{1f}{scope}").as_bytes());
    B64.encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn values_round_trip_and_junk_is_ignored() {
        let h = HoldInfo {
            owner: owner_hash("tok"),
            expires: Utc.with_ymd_and_hms(2026, 12, 1, 9, 15, 0).unwrap(),
            since: Some(Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap()),
            files: Vec::new(),
        };
        assert_eq!(HoldInfo::parse(&h.to_value()), Some(h.clone()));
        let with_files = HoldInfo {
            files: vec![
                AttachmentId::new("AAMkAGI2="),
                AttachmentId::new("AAMk-_/+B"),
            ],
            ..h.clone()
        };
        assert_eq!(HoldInfo::parse(&with_files.to_value()), Some(with_files));
        // Records of the earlier format are still read.
        let v1 = format!("v1;{};{}", h.owner, h.expires.timestamp());
        assert_eq!(
            HoldInfo::parse(&v1),
            Some(HoldInfo {
                since: None,
                ..h.clone()
            })
        );
        assert!(h.is_owned_by("tok"));
        assert!(!h.is_owned_by("other"));
        assert!(!h.is_owned_by(""));
        for junk in [
            "",
            ENDED,
            "v3;a;1;1;",
            "v2;a;1",
            "v2;a;1;",
            "v2;a;1;x;",
            "v2;a;1;1;ok,",
            "v2;a;1;1;bad;id",
            "v2;a;1;1;sp ace",
            "v1;;1",
            "v1;a;x",
            "v1;a;1;2",
        ] {
            assert_eq!(HoldInfo::parse(junk), None, "{junk}");
        }
    }

    #[test]
    fn booked_records_round_trip_and_keep_their_mark() {
        let bare = BookedRecord::new("booked;abc");
        assert_eq!(bare.to_value(), "booked;abc");
        assert_eq!(BookedRecord::parse("booked;abc"), Some(bare.clone()));
        let full = BookedRecord {
            owner: Some(owner_hash("tok")),
            files: vec![AttachmentId::new("AAMk=1"), AttachmentId::new("AAMk-2")],
            to: Some("s1.AAEC-_3".into()),
            remind: Some(1_796_000_000),
            form: Some("demo".into()),
            element: Some("tid".into()),
            reminded: Some("n0nce".into()),
            ..bare.clone()
        };
        let value = full.to_value();
        assert_eq!(BookedRecord::parse(&value), Some(full));
        // The mark names the booking whatever follows it.
        assert_eq!(booked_mark(&value), Some("booked;abc"));
        assert_eq!(booked_mark("booked;abc"), Some("booked;abc"));
        // A newer version's field is skipped, not a reason to forget the booking.
        assert_eq!(
            BookedRecord::parse("booked;abc;later=1").map(|r| r.mark),
            Some("booked;abc".into())
        );
        for junk in [
            "",
            ENDED,
            "booked;",
            "booked;;owner=a",
            "v2;a;1;1;",
            "booked;abc;files=bad id",
            "booked;abc;files=",
            "booked;abc;to=***",
            "booked;abc;to=a@b.dk",
            "booked;abc;owner=",
            "booked;abc;noequals",
            "booked;abc;remind=soon",
            "booked;abc;form=a b",
            "booked;abc;reminded=",
        ] {
            assert_eq!(BookedRecord::parse(junk), None, "{junk}");
        }
    }

    #[test]
    fn tokens_are_random_and_validated() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        // What the server makes passes the edge's parse when the widget sends it back.
        let valid = |t: &str| app::ids::HoldToken::parse(t).is_ok();
        assert!(valid(&a));
        assert_eq!(token_for("a"), token_for("a"));
        assert_ne!(token_for("a"), token_for("b"));
        assert!(valid(&token_for("a")));
    }
}
