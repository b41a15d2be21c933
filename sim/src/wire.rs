//! Graph's `dateTimeTimeZone` as the simulator writes and reads it, written here and not
//! borrowed from the client, so that a misreading in one does not hide in the other.
//! (https://learn.microsoft.com/graph/api/resources/datetimetimezone)

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DateTimeTimeZone {
    /// Local wall time without offset, with 7 fractional digits when Graph writes it.
    pub date_time: String,
    /// "UTC" or an IANA zone name.
    pub time_zone: String,
}

/// `2026-11-30T08:00:00.0000000`, or with fewer fractional digits, or none.
pub fn parse_wall_time(s: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok()
}

/// The instant a client's `dateTimeTimeZone` names; `None` for an unknown zone or a wall
/// time that does not exist in it. (Windows zone ids, which Graph also takes, are not
/// taken here: Booket never sends them.)
pub fn to_utc(v: &DateTimeTimeZone) -> Option<DateTime<Utc>> {
    let naive = parse_wall_time(&v.date_time)?;
    if v.time_zone.eq_ignore_ascii_case("utc") {
        return Some(naive.and_utc());
    }
    let tz: chrono_tz::Tz = v.time_zone.parse().ok()?;
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|d| d.with_timezone(&Utc))
}

/// An instant as Graph writes it in UTC.
pub fn graph_utc(d: DateTime<Utc>) -> DateTimeTimeZone {
    DateTimeTimeZone {
        date_time: wall_time(d.naive_utc()),
        time_zone: "UTC".into(),
    }
}

/// Graph's 7 fractional digits (100 ns ticks), no offset.
pub fn wall_time(t: NaiveDateTime) -> String {
    use chrono::Timelike;
    format!(
        "{}.{:07}",
        t.format("%Y-%m-%dT%H:%M:%S"),
        t.nanosecond() / 100
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_written_in_utc_and_in_a_zone() {
        let d = Utc.with_ymd_and_hms(2026, 11, 30, 8, 0, 0).unwrap();
        assert_eq!(graph_utc(d).date_time, "2026-11-30T08:00:00.0000000");
        assert_eq!(to_utc(&graph_utc(d)), Some(d));
        let copenhagen = DateTimeTimeZone {
            date_time: "2026-11-30T09:00:00".into(),
            time_zone: "Europe/Copenhagen".into(),
        };
        assert_eq!(to_utc(&copenhagen), Some(d));
        let unknown = DateTimeTimeZone {
            time_zone: "Mars/Olympus".into(),
            ..copenhagen
        };
        assert_eq!(to_utc(&unknown), None);
    }
}
