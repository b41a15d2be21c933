//! Every parser of text a browser sends, fed the same arbitrary string: none may panic,
//! and whatever one accepts must have the shape the rest of the server relies on.
#![no_main]

use app::api::{ElementName, FormId, HoldToken, IdempotencyKey, SlotId};
use app::domain::wire::{parse_date, parse_date_time};
use app::i18n::iso_date;
use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use server::booking::documents::safe_name;
use server::booking::hold::HoldInfo;
use server::booking::slot_id::{SlotRef, SlotSigner};
use server::mailbox::EventId;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return; // the server refuses a body that is not UTF-8 before any parser runs
    };
    let signer = SlotSigner::new(b"fuzz key");
    let form = FormId::parse("form").unwrap();
    let element = ElementName::parse("element").unwrap();
    let other = ElementName::parse("other").unwrap();

    // A slot id from the browser (as the edge parses it): only ids this server issued for
    // this element verify, and a verified id is exactly the id the server would issue for
    // that slot.
    if let Ok(id) = SlotId::parse(s) {
        if let Some(slot) = signer.verify(&form, &element, &id) {
            assert_eq!(signer.issue(&form, &element, &slot), id);
        }
    }
    // Ids issued for any slot round-trip, and are refused for another element or when
    // any one character is changed.
    let n = data
        .iter()
        .fold(0i64, |n, &b| n.wrapping_mul(31).wrapping_add(i64::from(b)));
    let start = DateTime::<Utc>::from_timestamp(n.rem_euclid(4_102_444_800), 0).unwrap();
    let slot = SlotRef {
        event_id: EventId::new(s),
        start,
        end: start + chrono::TimeDelta::minutes(30),
    };
    let id = signer.issue(&form, &element, &slot);
    assert_eq!(signer.verify(&form, &element, &id), Some(slot.clone()));
    assert_eq!(signer.verify(&form, &other, &id), None);
    assert_eq!(
        SlotSigner::new(b"another key").verify(&form, &element, &id),
        None
    );
    let at = (n.unsigned_abs() as usize) % id.len();
    let mut forged = id.to_string().into_bytes();
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let forged = SlotId::issued(String::from_utf8(forged).unwrap());
    assert_eq!(signer.verify(&form, &element, &forged), None, "{forged}");

    // The week argument: a real date, written the one canonical way.
    if let Some(day) = parse_date(s) {
        assert_eq!(iso_date(day), s);
        assert_eq!(
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok(),
            Some(day)
        );
    }
    // Times (the widget reads them from answers): what we accept, RFC 3339 accepts alike.
    if let Some(t) = parse_date_time(s) {
        assert_eq!(DateTime::parse_from_rfc3339(s).ok(), Some(t), "{s:?}");
    }

    // Hold tokens and the hold record kept in Outlook.
    if let Ok(t) = HoldToken::parse(s) {
        assert!(t.is_empty() || (t.len() == 22 && !t.contains(['.', ';', '/', '+'])));
    }
    if let Some(h) = HoldInfo::parse(s) {
        assert!(!h.owner.is_empty() && !h.owner.contains(';'));
    }

    // Names, ids and idempotency keys as the edge parses them.
    for parsed in [
        FormId::parse(s).map(|v| v.to_string()),
        ElementName::parse(s).map(|v| v.to_string()),
    ] {
        if let Ok(v) = parsed {
            assert!((1..=64).contains(&v.len()) && !v.chars().any(char::is_control));
        }
    }
    if let Ok(v) = SlotId::parse(s) {
        assert!((1..=1024).contains(&v.len()) && !v.chars().any(char::is_control));
    }
    if let Ok(k) = IdempotencyKey::parse(s) {
        assert!((1..=128).contains(&k.len()));
        assert!(k
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }

    // Upload names become attachment names in Outlook.
    let name = safe_name(s);
    assert!(!name.is_empty() && name.chars().count() <= 150, "{name:?}");
    assert!(
        !name.contains(['/', '\\']) && !name.chars().any(char::is_control),
        "{name:?}"
    );
    assert!(
        !name.starts_with(|c: char| c == '.' || c.is_whitespace()),
        "{name:?}"
    );
    assert!(!name.ends_with(char::is_whitespace), "{name:?}");
    assert_eq!(safe_name(&name), name);
});
