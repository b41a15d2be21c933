//! Graph JSON as it comes over the wire, and its conversion to UTC instants.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize)]
pub struct Page<T> {
    pub value: Vec<T>,
    #[serde(rename = "@odata.nextLink")]
    pub next_link: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Calendar {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DateTimeTimeZone {
    /// Local wall time without offset, usually with 7 fractional digits.
    pub date_time: String,
    /// Zone name: "UTC", an IANA name or a Windows zone id.
    pub time_zone: String,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    #[serde(default)]
    pub display_name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub id: String,
    #[serde(rename = "@odata.etag")]
    pub etag: Option<String>,
    #[serde(default)]
    pub change_key: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    pub start: DateTimeTimeZone,
    pub end: DateTimeTimeZone,
    #[serde(default)]
    pub is_all_day: bool,
    #[serde(default)]
    pub is_cancelled: bool,
    #[serde(default)]
    pub location: Option<Location>,
    /// Only those asked for with `$expand=singleValueExtendedProperties(...)`.
    #[serde(default)]
    pub single_value_extended_properties: Vec<ExtendedProperty>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ExtendedProperty {
    pub id: String,
    #[serde(default)]
    pub value: String,
}

impl Event {
    /// The value of a single-value extended property (ids compare case-insensitively).
    pub fn property(&self, id: &str) -> Option<&str> {
        self.single_value_extended_properties
            .iter()
            .find(|p| p.id.eq_ignore_ascii_case(id))
            .map(|p| p.value.as_str())
    }

    /// The precondition to send with a conditional write.
    pub fn if_match(&self) -> Option<String> {
        self.etag
            .clone()
            .or_else(|| self.change_key.as_ref().map(|k| format!("W/\"{k}\"")))
    }
}

/// Converts a Graph `dateTimeTimeZone` to an instant. The wall time is read in the named
/// zone with a real tz database (never a fixed offset). Ambiguous times (the repeated hour
/// in autumn) take the earlier instant; a non-existent time (spring gap) is an error.
pub fn to_utc(v: &DateTimeTimeZone) -> Result<DateTime<Utc>, String> {
    let naive = parse_wall_time(&v.date_time)?;
    let tz = zone(&v.time_zone).ok_or_else(|| format!("unknown time zone `{}`", v.time_zone))?;
    match tz {
        Zone::Utc => Ok(Utc.from_utc_datetime(&naive)),
        Zone::Tz(tz) => tz
            .from_local_datetime(&naive)
            .earliest()
            .map(|d| d.with_timezone(&Utc))
            .ok_or_else(|| format!("{} does not exist in {}", v.date_time, v.time_zone)),
    }
}

/// Parses `2026-11-30T08:00:00.0000000` (any number of fractional digits, or none).
pub fn parse_wall_time(s: &str) -> Result<NaiveDateTime, String> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .map_err(|e| format!("bad dateTime `{s}`: {e}"))
}

/// Formats an instant the way Graph does when asked for UTC.
pub fn graph_utc(d: DateTime<Utc>) -> DateTimeTimeZone {
    DateTimeTimeZone {
        date_time: wall_time(d.naive_utc()),
        time_zone: "UTC".into(),
    }
}

/// `2026-11-30T08:00:00.0000000`: Graph's 7 fractional digits (100 ns ticks), no offset.
pub fn wall_time(t: NaiveDateTime) -> String {
    use chrono::Timelike;
    format!(
        "{}.{:07}",
        t.format("%Y-%m-%dT%H:%M:%S"),
        t.nanosecond() % 1_000_000_000 / 100
    )
}

enum Zone {
    Utc,
    Tz(chrono_tz::Tz),
}

fn zone(name: &str) -> Option<Zone> {
    if name.eq_ignore_ascii_case("utc") || name == "Etc/UTC" || name == "tzone://Microsoft/Utc" {
        return Some(Zone::Utc);
    }
    if let Ok(tz) = name.parse::<chrono_tz::Tz>() {
        return Some(Zone::Tz(tz));
    }
    // Windows zone ids Graph may use for Danish and nearby calendars (CLDR mapping).
    let iana = match name {
        "Romance Standard Time" => "Europe/Paris",
        "W. Europe Standard Time" => "Europe/Berlin",
        "Central Europe Standard Time" => "Europe/Budapest",
        "Central European Standard Time" => "Europe/Warsaw",
        "GMT Standard Time" => "Europe/London",
        "Greenwich Standard Time" => "Atlantic/Reykjavik",
        "FLE Standard Time" => "Europe/Kiev",
        "Pacific Standard Time" => "America/Los_Angeles",
        "Eastern Standard Time" => "America/New_York",
        _ => return None,
    };
    iana.parse().ok().map(Zone::Tz)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dtz(dt: &str, tz: &str) -> DateTimeTimeZone {
        DateTimeTimeZone {
            date_time: dt.into(),
            time_zone: tz.into(),
        }
    }

    #[test]
    fn seven_digit_fractions_in_utc_and_named_zones() {
        let utc = to_utc(&dtz("2026-11-30T08:00:00.0000000", "UTC")).unwrap();
        assert_eq!(utc.to_rfc3339(), "2026-11-30T08:00:00+00:00");
        // Winter: Copenhagen is UTC+1.
        let cph = to_utc(&dtz("2026-11-30T09:00:00.0000000", "Europe/Copenhagen")).unwrap();
        assert_eq!(cph, utc);
        // Summer: UTC+2, the same wall time is an hour earlier in UTC.
        let summer = to_utc(&dtz("2026-07-01T09:00:00", "Romance Standard Time")).unwrap();
        assert_eq!(summer.to_rfc3339(), "2026-07-01T07:00:00+00:00");
    }

    #[test]
    fn dst_gap_is_an_error_and_overlap_takes_the_earlier_instant() {
        // 2026-03-29 02:30 does not exist in Copenhagen.
        assert!(to_utc(&dtz("2026-03-29T02:30:00.0000000", "Europe/Copenhagen")).is_err());
        // 2026-10-25 02:30 happens twice; the first is 00:30 UTC.
        let t = to_utc(&dtz("2026-10-25T02:30:00.0000000", "Europe/Copenhagen")).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-10-25T00:30:00+00:00");
    }

    #[test]
    fn graph_utc_round_trips() {
        let t = Utc.with_ymd_and_hms(2026, 12, 1, 13, 30, 0).unwrap();
        let g = graph_utc(t);
        assert_eq!(g.date_time, "2026-12-01T13:30:00.0000000");
        assert_eq!(to_utc(&g).unwrap(), t);
    }

    #[test]
    fn unknown_zone_is_reported() {
        assert!(to_utc(&dtz("2026-12-01T13:30:00", "Mars Standard Time")).is_err());
    }
}
