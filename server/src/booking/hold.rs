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
