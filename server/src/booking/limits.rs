//! What one anonymous client may hold and send, tracked in this process (several instances
//! each keep their own count; see docs/operators/security.md).
//!
//! - One active hold per hold token and element: reserving another slot with the same
//!   token gives the first back in the same call.
//! - At most `max_holds_per_client` active holds per client address (IPv6: per /64, and
//!   16 times that per /48 site).
//! - Confirmation mails per recipient and per client per day.

use app::api::{ElementName, FormId, SlotId};
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// A hold this process wrote, by (form, element, owner hash).
struct Held {
    slot_id: SlotId,
    expires: DateTime<Utc>,
    client: Option<IpAddr>,
}

/// A signed-in citizen's hold: which slot, under which hold token.
struct CitizenHold {
    slot_id: SlotId,
    token: String,
    expires: DateTime<Utc>,
}

/// (form, element, who: the owner hash of a token, or a signed-in citizen).
type HoldKey = (FormId, ElementName, String);

/// Whose hold, for which element: (form, element, owner hash or citizen).
pub type Holder<'a> = (&'a FormId, &'a ElementName, &'a str);

fn key((form, element, who): Holder<'_>) -> HoldKey {
    (form.clone(), element.clone(), who.to_owned())
}

#[derive(Default)]
struct Holds {
    /// Active holds by (form, element, owner hash).
    held: HashMap<HoldKey, Held>,
    /// New holds on their way to Exchange, by client: they count against the cap until
    /// they are recorded or fail.
    pending: HashMap<IpAddr, usize>,
}

#[derive(Default)]
pub struct HoldTracker {
    holds: Mutex<Holds>,
    /// By (form, element, citizen): one active hold per citizen and element.
    citizens: Mutex<HashMap<HoldKey, CitizenHold>>,
}

/// A client's place under the cap, taken for a new hold on its way to Exchange. Dropped
/// without [`HoldTracker::record`] (the write failed), the place is given back.
pub struct CapPlace<'a> {
    tracker: &'a HoldTracker,
    client: IpAddr,
}

impl Drop for CapPlace<'_> {
    fn drop(&mut self) {
        self.tracker.lock().unpend(self.client);
    }
}

impl Holds {
    /// One of `client`'s new holds is no longer on its way (recorded, or failed).
    fn unpend(&mut self, client: IpAddr) {
        if let Some(n) = self.pending.get_mut(&client) {
            *n -= 1;
            if *n == 0 {
                self.pending.remove(&client);
            }
        }
    }
}

/// Active holds of one client.
fn active(held: &HashMap<HoldKey, Held>, client: IpAddr, now: DateTime<Utc>) -> usize {
    held.values()
        .filter(|h| h.client == Some(client) && h.expires > now)
        .count()
}

impl HoldTracker {
    fn lock(&self) -> std::sync::MutexGuard<'_, Holds> {
        self.holds.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks and takes one of `client`'s places under the cap in one step: its active
    /// holds and the new holds it has on their way count. An IPv6 client's site (/48) may
    /// hold [`crate::booking::client::SITE_SHARE`] times the cap in all. `None` when a cap is
    /// reached.
    pub fn take_place(
        &self,
        client: IpAddr,
        cap: usize,
        now: DateTime<Utc>,
    ) -> Option<CapPlace<'_>> {
        use crate::booking::client::{site_of, SITE_SHARE};
        let mut holds = self.lock();
        let own = active(&holds.held, client, now) + holds.pending.get(&client).unwrap_or(&0);
        if own >= cap {
            return None;
        }
        if let Some(site) = site_of(client) {
            let in_site = |c: &IpAddr| site_of(*c) == Some(site);
            let site_active = holds
                .held
                .values()
                .filter(|h| h.expires > now && h.client.as_ref().is_some_and(in_site))
                .count();
            let site_pending: usize = holds
                .pending
                .iter()
                .filter(|(c, _)| in_site(c))
                .map(|(_, n)| n)
                .sum();
            if site_active + site_pending >= cap.saturating_mul(SITE_SHARE) {
                return None;
            }
        }
        *holds.pending.entry(client).or_default() += 1;
        Some(CapPlace {
            tracker: self,
            client,
        })
    }

    /// The slot this token actively holds for this element, if any.
    pub fn held_by(&self, holder: Holder<'_>, now: DateTime<Utc>) -> Option<SlotId> {
        self.lock()
            .held
            .get(&key(holder))
            .filter(|h| h.expires > now)
            .map(|h| h.slot_id.clone())
    }

    /// Active holds of one client.
    #[cfg(test)]
    fn active_for(&self, client: IpAddr, now: DateTime<Utc>) -> usize {
        active(&self.lock().held, client, now)
    }

    /// Records the token's hold (replacing the one it had); a new hold's place under the
    /// cap becomes the hold itself in the same step.
    pub fn record(
        &self,
        holder: Holder<'_>,
        slot_id: &SlotId,
        expires: DateTime<Utc>,
        client: Option<IpAddr>,
        place: Option<CapPlace<'_>>,
        now: DateTime<Utc>,
    ) {
        let mut holds = self.lock();
        if let Some(place) = place {
            holds.unpend(place.client);
            // Given back here, under the same lock as the hold is recorded.
            std::mem::forget(place);
        }
        let held = &mut holds.held;
        // Lapsed holds are forgotten as new ones come, so the map stays as small as the
        // holds that are active.
        if held.len() >= 1024 {
            held.retain(|_, h| h.expires > now);
        }
        held.insert(
            key(holder),
            Held {
                slot_id: slot_id.clone(),
                expires,
                client,
            },
        );
    }

    /// The token gave this slot back: forgotten only if it is still the hold recorded for
    /// the token (a move records the new slot before the old one is given back).
    pub fn forget_slot(&self, holder: Holder<'_>, slot_id: &SlotId) {
        let key = key(holder);
        let mut holds = self.lock();
        if holds.held.get(&key).is_some_and(|h| &h.slot_id == slot_id) {
            holds.held.remove(&key);
        }
    }

    /// The token booked: its hold is used up.
    pub fn forget(&self, holder: Holder<'_>) {
        self.lock().held.remove(&key(holder));
    }

    fn citizens(&self) -> std::sync::MutexGuard<'_, HashMap<HoldKey, CitizenHold>> {
        self.citizens.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The slot (and its hold token) a signed-in citizen actively holds for this element.
    pub fn citizen_holds(
        &self,
        holder: Holder<'_>,
        now: DateTime<Utc>,
    ) -> Option<(SlotId, String)> {
        self.citizens()
            .get(&key(holder))
            .filter(|h| h.expires > now)
            .map(|h| (h.slot_id.clone(), h.token.clone()))
    }

    pub fn record_citizen(
        &self,
        holder: Holder<'_>,
        slot_id: &SlotId,
        token: &str,
        expires: DateTime<Utc>,
        now: DateTime<Utc>,
    ) {
        let mut held = self.citizens();
        if held.len() >= 1024 {
            held.retain(|_, h| h.expires > now);
        }
        held.insert(
            key(holder),
            CitizenHold {
                slot_id: slot_id.clone(),
                token: token.to_owned(),
                expires,
            },
        );
    }
}

/// Counts per key and day; the day's counts are forgotten when the day changes.
#[derive(Default)]
pub struct DailyCounter {
    counts: Mutex<(Option<NaiveDate>, HashMap<String, u32>)>,
}

impl DailyCounter {
    /// Counts one for each key if every key is still under `limit` today; false (and
    /// nothing counted) otherwise.
    pub fn take(&self, keys: &[(&str, u32)], today: NaiveDate) -> bool {
        let mut guard = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let (day, counts) = &mut *guard;
        if *day != Some(today) {
            *day = Some(today);
            counts.clear();
        }
        if keys
            .iter()
            .any(|(k, limit)| counts.get(*k).copied().unwrap_or(0) >= *limit)
        {
            return false;
        }
        for (k, _) in keys {
            *counts.entry((*k).to_owned()).or_insert(0) += 1;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn fe(element: &str) -> (FormId, ElementName) {
        (
            FormId::parse("f").unwrap(),
            ElementName::parse(element).unwrap(),
        )
    }

    fn slot(id: &str) -> SlotId {
        SlotId::issued(id.to_owned())
    }

    #[test]
    fn holds_are_counted_per_client_while_active_and_found_per_token() {
        let t = HoldTracker::default();
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 10, 0, 0).unwrap();
        let later = now + chrono::TimeDelta::minutes(15);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let (f, e) = fe("e");
        let other = fe("other").1;
        t.record((&f, &e, "o1"), &slot("s1"), later, Some(a), None, now);
        t.record((&f, &e, "o2"), &slot("s2"), later, Some(a), None, now);
        t.record((&f, &e, "o3"), &slot("s3"), later, None, None, now);
        assert_eq!(t.active_for(a, now), 2);
        assert_eq!(t.held_by((&f, &e, "o1"), now), Some(slot("s1")));
        assert_eq!(t.held_by((&f, &other, "o1"), now), None);
        // Moving a token's hold keeps one entry.
        t.record((&f, &e, "o1"), &slot("s9"), later, Some(a), None, now);
        assert_eq!(t.active_for(a, now), 2);
        t.forget((&f, &e, "o2"));
        assert_eq!(t.active_for(a, now), 1);
        // Lapsed holds do not count.
        assert_eq!(t.active_for(a, later), 0);
        assert_eq!(t.held_by((&f, &e, "o1"), later), None);
    }

    #[test]
    fn a_place_under_the_cap_is_taken_in_one_step_and_given_back_unless_recorded() {
        let t = HoldTracker::default();
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 10, 0, 0).unwrap();
        let later = now + chrono::TimeDelta::minutes(15);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let (f, e) = fe("e");
        let first = t.take_place(a, 2, now).expect("a first place");
        let second = t.take_place(a, 2, now).expect("a second place");
        // Two on their way fill the cap: a third is refused before any write.
        assert!(t.take_place(a, 2, now).is_none());
        // The first write failed: its place comes back.
        drop(first);
        let third = t.take_place(a, 2, now).expect("the place given back");
        // Recorded holds keep their places; the cap stays full.
        t.record(
            (&f, &e, "o2"),
            &slot("s2"),
            later,
            Some(a),
            Some(second),
            now,
        );
        t.record(
            (&f, &e, "o3"),
            &slot("s3"),
            later,
            Some(a),
            Some(third),
            now,
        );
        assert_eq!(t.active_for(a, now), 2);
        assert!(t.take_place(a, 2, now).is_none());
        // An IPv6 site holds SITE_SHARE times the cap across its /64s, no more.
        let site = |i: u16| {
            crate::booking::client::key_of(IpAddr::V6(std::net::Ipv6Addr::new(
                0x2001, 0xdb8, 7, i, 0, 0, 0, 1,
            )))
        };
        let places: Vec<_> = (0..2 * crate::booking::client::SITE_SHARE as u16)
            .map(|i| {
                t.take_place(site(i), 2, now)
                    .expect("within the site's share")
            })
            .collect();
        assert!(
            t.take_place(site(999), 2, now).is_none(),
            "the site is full"
        );
        drop(places);
        assert!(t.take_place(site(999), 2, now).is_some());
        // Another client is not affected, and lapsed holds free the places.
        assert!(t.take_place("192.0.2.2".parse().unwrap(), 2, now).is_some());
        assert!(t.take_place(a, 2, later).is_some());
    }

    #[test]
    fn daily_counts_refuse_past_the_limit_and_start_again_the_next_day() {
        let c = DailyCounter::default();
        let day = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        assert!(c.take(&[("to:a", 2), ("client:x", 3)], day));
        assert!(c.take(&[("to:a", 2), ("client:x", 3)], day));
        // The recipient is at its limit: nothing is counted for the client either.
        assert!(!c.take(&[("to:a", 2), ("client:x", 3)], day));
        assert!(c.take(&[("to:b", 2), ("client:x", 3)], day));
        assert!(!c.take(&[("to:c", 2), ("client:x", 3)], day));
        let next = day.succ_opt().unwrap();
        assert!(c.take(&[("to:a", 2), ("client:x", 3)], next));
    }
}
