//! Opaque, tamper-evident slot ids. The server hands the browser only ids it signed for one
//! form element, so a forged id, another element's id or an edited time is refused.

use crate::mailbox::EventId;
use app::api::{ElementName, FormId, SlotId};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::Sha256;

/// What a slot id stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotRef {
    pub event_id: EventId,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

pub struct SlotSigner {
    /// The key ids are signed with.
    key: SecretSlice<u8>,
    /// Earlier keys whose ids are still accepted (key rotation).
    previous: Vec<SecretSlice<u8>>,
}

impl SlotSigner {
    pub fn new(key: &[u8]) -> Self {
        Self::rotated(key, &[])
    }

    /// A signer that signs with `key` and still accepts ids signed with `previous` keys.
    pub fn rotated(key: &[u8], previous: &[&[u8]]) -> Self {
        SlotSigner {
            key: SecretSlice::from(key.to_vec()),
            previous: previous
                .iter()
                .map(|k| SecretSlice::from(k.to_vec()))
                .collect(),
        }
    }

    /// A signer with a fresh random key (single-instance use, demo, tests).
    pub fn random() -> Self {
        let mut k = [0u8; 32];
        getrandom::getrandom(&mut k).expect("the OS random source works");
        Self::new(&k)
    }

    fn mac(&self, form: &FormId, element: &ElementName, body: &str) -> Hmac<Sha256> {
        Self::mac_with(&self.key, form, element, body)
    }

    fn mac_with(
        key: &SecretSlice<u8>,
        form: &FormId,
        element: &ElementName,
        body: &str,
    ) -> Hmac<Sha256> {
        let mut m =
            Hmac::<Sha256>::new_from_slice(key.expose_secret()).expect("HMAC takes any key length");
        for part in [form.as_str(), element.as_str(), body] {
            m.update(&(part.len() as u64).to_be_bytes());
            m.update(part.as_bytes());
        }
        m
    }

    /// `<event id b64>.<start>.<end>.<mac>`; start and end in Unix seconds.
    pub fn issue(&self, form: &FormId, element: &ElementName, slot: &SlotRef) -> SlotId {
        let body = format!(
            "{}.{}.{}",
            B64.encode(slot.event_id.as_str().as_bytes()),
            slot.start.timestamp(),
            slot.end.timestamp()
        );
        let tag = self.mac(form, element, &body).finalize().into_bytes();
        SlotId::issued(format!("{body}.{}", B64.encode(&tag[..16])))
    }

    /// The slot an id stands for, if this server issued it for this element.
    pub fn verify(&self, form: &FormId, element: &ElementName, id: &SlotId) -> Option<SlotRef> {
        let (body, tag) = id.as_str().rsplit_once('.')?;
        let tag = B64.decode(tag).ok()?;
        if tag.len() != 16 {
            return None;
        }
        std::iter::once(&self.key)
            .chain(&self.previous)
            .find(|key| {
                Self::mac_with(key, form, element, body)
                    .verify_truncated_left(&tag)
                    .is_ok()
            })?;
        let mut parts = body.split('.');
        let event_id = EventId::new(String::from_utf8(B64.decode(parts.next()?).ok()?).ok()?);
        let start = DateTime::from_timestamp(parts.next()?.parse().ok()?, 0)?;
        let end = DateTime::from_timestamp(parts.next()?.parse().ok()?, 0)?;
        if parts.next().is_some() {
            return None;
        }
        Some(SlotRef {
            event_id,
            start,
            end,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn slot() -> SlotRef {
        SlotRef {
            event_id: EventId::new("AAMkAD=/+x"),
            start: Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap(),
            end: Utc.with_ymd_and_hms(2026, 12, 1, 8, 30, 0).unwrap(),
        }
    }

    fn issue(s: &SlotSigner, form: &str, element: &str) -> String {
        let (form, element) = (FormId::parse(form), ElementName::parse(element));
        s.issue(&form.unwrap(), &element.unwrap(), &slot())
            .as_str()
            .to_owned()
    }

    /// `verify` on any text, as a citizen's request may carry it.
    fn verify(s: &SlotSigner, form: &str, element: &str, id: &str) -> Option<SlotRef> {
        let (form, element) = (FormId::parse(form), ElementName::parse(element));
        s.verify(
            &form.unwrap(),
            &element.unwrap(),
            &SlotId::issued(id.to_owned()),
        )
    }

    #[test]
    fn round_trip() {
        let s = SlotSigner::new(b"k");
        let id = issue(&s, "f", "e");
        assert_eq!(verify(&s, "f", "e", &id), Some(slot()));
    }

    #[test]
    fn a_rotated_key_still_accepts_ids_of_the_previous_one() {
        let old = SlotSigner::new(b"old key");
        let id = issue(&old, "f", "e");
        let new = SlotSigner::rotated(b"new key", &[b"old key"]);
        assert_eq!(verify(&new, "f", "e", &id), Some(slot()));
        // New ids are signed with the new key only.
        let fresh = issue(&new, "f", "e");
        assert_eq!(verify(&old, "f", "e", &fresh), None);
        assert_eq!(
            verify(&SlotSigner::new(b"new key"), "f", "e", &fresh),
            Some(slot())
        );
        // Once the old key is dropped, its ids are refused.
        assert_eq!(verify(&SlotSigner::new(b"new key"), "f", "e", &id), None);
    }

    #[test]
    fn forged_foreign_and_edited_ids_are_refused() {
        let s = SlotSigner::new(b"k");
        let id = issue(&s, "f", "e");
        assert_eq!(verify(&s, "f", "other", &id), None, "another element");
        assert_eq!(verify(&s, "g", "e", &id), None, "another form");
        assert_eq!(verify(&SlotSigner::new(b"other key"), "f", "e", &id), None);
        let parts: Vec<&str> = id.split('.').collect();
        let moved = format!(
            "{}.{}.{}.{}",
            parts[0],
            parts[1].parse::<i64>().unwrap() + 3600,
            parts[2],
            parts[3]
        );
        assert_eq!(verify(&s, "f", "e", &moved), None, "edited time");
        for junk in [
            "",
            ".",
            "a.b.c.d",
            "....",
            "x.1.2.AAAAAAAAAAAAAAAAAAAAAA",
            &format!("{id}.x"),
        ] {
            assert_eq!(verify(&s, "f", "e", junk), None, "{junk}");
        }
    }
}
