//! The read budget: at most so many reads of one calendar per clock minute, whichever
//! backend reads it. Exchange throttles an app per mailbox (Graph: 10,000 requests per 10
//! minutes; EWS: the tenant's throttling policy), and a crowd that misses the week cache
//! must not spend that for everyone. Past the budget the caller serves what it last read.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;

pub struct ReadBudget {
    per_minute: u32,
    /// Per calendar: the minute counted, and the reads in it.
    reads: Mutex<HashMap<String, (i64, u32)>>,
}

impl ReadBudget {
    pub fn new(per_minute: u32) -> Self {
        ReadBudget {
            per_minute,
            reads: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one read of `calendar` at `now`; false when this minute's budget is spent
    /// (nothing may be read until the next minute).
    pub fn take(&self, calendar: &str, now: DateTime<Utc>) -> bool {
        let minute = now.timestamp().div_euclid(60);
        let mut reads = self.reads.lock().unwrap_or_else(|e| e.into_inner());
        let entry = match reads.get_mut(calendar) {
            Some(entry) => entry,
            None => reads.entry(calendar.to_owned()).or_insert((minute, 0)),
        };
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        if entry.1 >= self.per_minute {
            return false;
        }
        entry.1 += 1;
        true
    }

    /// The reads of `calendar` counted in the minute of `now`.
    pub fn counted(&self, calendar: &str, now: DateTime<Utc>) -> u32 {
        let minute = now.timestamp().div_euclid(60);
        let reads = self.reads.lock().unwrap_or_else(|e| e.into_inner());
        reads
            .get(calendar)
            .filter(|(m, _)| *m == minute)
            .map_or(0, |(_, n)| *n)
    }
}

#[cfg(test)]
mod tests {
    use super::ReadBudget;
    use chrono::{TimeZone, Utc};

    #[test]
    fn a_calendar_reads_its_budget_per_minute_and_no_more() {
        let budget = ReadBudget::new(2);
        let at = |s| Utc.with_ymd_and_hms(2026, 12, 3, 9, 0, s).unwrap();
        assert!(budget.take("a", at(0)));
        assert!(budget.take("a", at(30)));
        assert!(!budget.take("a", at(59)), "a third read in the minute");
        assert!(
            budget.take("b", at(59)),
            "another calendar has its own budget"
        );
        let next = Utc.with_ymd_and_hms(2026, 12, 3, 9, 1, 0).unwrap();
        assert!(budget.take("a", next), "a new minute, a new budget");
    }
}
