//! How dates and times cross the wire. The server writes them with chrono's serde
//! (`2026-11-30`, `2026-11-30T09:00:00+01:00`); the widget reads them (and the server reads
//! the `week` argument) with the small strict parsers below instead of chrono's
//! general-purpose format parser, which would add ~12 KB to the widget's download.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime};

/// Parses `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    NaiveDate::from_ymd_opt(
        digits(&b[0..4])? as i32,
        digits(&b[5..7])?,
        digits(&b[8..10])?,
    )
}

/// Parses RFC 3339 as the server writes it: `YYYY-MM-DDTHH:MM:SS`, optional fraction,
/// then `Z` or `±HH:MM`.
pub fn parse_date_time(s: &str) -> Option<DateTime<FixedOffset>> {
    let b = s.as_bytes();
    if b.len() < 20 || !matches!(b[10], b'T' | b't') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let date = parse_date(s.get(..10)?)?;
    let (h, m, sec) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    let mut rest = &b[19..];
    let mut nanos = 0u32;
    if let [b'.', frac @ ..] = rest {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        for (i, c) in frac[..n].iter().enumerate().take(9) {
            nanos += u32::from(c - b'0') * 10u32.pow(8 - i as u32);
        }
        rest = &frac[n..];
    }
    let offset = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), oh @ .., b':', _, _] if oh.len() == 2 => {
            let (oh, om) = (digits(oh)?, digits(&rest[4..6])?);
            if oh > 23 || om > 59 {
                return None;
            }
            let secs = (oh * 60 + om) as i32 * 60;
            if *sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        _ => return None,
    };
    let time = NaiveTime::from_hms_nano_opt(h, m, sec, nanos)?;
    date.and_time(time)
        .and_local_timezone(FixedOffset::east_opt(offset)?)
        .single()
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |n, c| {
        c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_chrono_writes() {
        for s in [
            "2026-11-30T09:00:00+01:00",
            "2026-06-30T09:00:00+02:00",
            "2026-11-30T08:00:00Z",
            "2026-11-30T09:00:00.250+01:00",
            "2026-03-29T01:59:59.123456789-03:30",
        ] {
            let ours = parse_date_time(s).unwrap();
            let theirs = DateTime::parse_from_rfc3339(s).unwrap();
            assert_eq!(ours, theirs, "{s}");
            assert_eq!(ours.offset(), theirs.offset(), "{s}");
            // And chrono's own serialisation reads back to the same instant and offset.
            let json = serde_json::to_string(&theirs).unwrap();
            let back: DateTime<FixedOffset> = parse_date_time(json.trim_matches('"')).unwrap();
            assert_eq!(back, theirs);
            assert_eq!(back.offset(), theirs.offset());
        }
        assert_eq!(
            parse_date("2028-02-29"),
            NaiveDate::from_ymd_opt(2028, 2, 29)
        );
    }

    #[test]
    fn refuses_anything_else() {
        for s in [
            "",
            "2026-11-30",
            "2026-11-30T09:00:00",
            "2026-11-30T09:00:00+0100",
            "2026-11-30 09:00:00+01:00",
            "2026-11-30T09:00:00.+01:00",
            "2026-11-30T25:00:00+01:00",
            "2026-13-30T09:00:00+01:00",
            "2026-11-30T09:00:00+01:00x",
            "2026-11-3OT09:00:00+01:00",
            "+2026-11-30T09:00:00+01:00",
            "2026-11-30T09:00:00+99:00",
            // Found by the fuzzer (fuzz/fuzz_targets/client_input.rs): minutes over 59.
            "4026-11-30T09:00:00+01:70",
            "2026-11-30T09:00:00+24:00",
            "2026-11-30T09:00:00ø+01:00",
        ] {
            assert_eq!(parse_date_time(s), None, "{s:?}");
        }
        for s in [
            "",
            "2026-02-30",
            "2026-1-30",
            "20261130",
            "2026-11-30T",
            "２026-11-30",
        ] {
            assert_eq!(parse_date(s), None, "{s:?}");
        }
    }
}
