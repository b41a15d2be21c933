//! Week arithmetic and the layout of overlapping slots.

use chrono::{Datelike, Days, NaiveDate};

/// Monday of the ISO week that holds `day`.
pub fn monday_of(day: NaiveDate) -> NaiveDate {
    day - Days::new(u64::from(day.weekday().num_days_from_monday()))
}

/// The days a week shows: Monday–Friday, or Monday–Sunday with weekends.
pub fn shown_days(week_start: NaiveDate, show_weekend: bool) -> Vec<NaiveDate> {
    let n = if show_weekend { 7 } else { 5 };
    (0..n).map(|i| week_start + Days::new(i)).collect()
}

/// ISO 8601 week number.
pub fn iso_week(day: NaiveDate) -> u32 {
    day.iso_week().week()
}

/// Side-by-side placement of overlapping intervals: for each input `(start, end)` (any
/// unit, e.g. minutes) returns `(lane, lanes)` where `lanes` is the width of the group of
/// mutually overlapping intervals it belongs to. Input order is preserved in the output.
pub fn lanes(intervals: &[(i64, i64)]) -> Vec<(usize, usize)> {
    // Insertion sort by (start, end), stable: a day holds a few dozen slots at most, and
    // the standard library's generic sort would add ~2.5 KB to the widget's download.
    let mut order: Vec<usize> = Vec::with_capacity(intervals.len());
    for i in 0..intervals.len() {
        let at = order.partition_point(|&j| intervals[j] <= intervals[i]);
        order.insert(at, i);
    }
    let mut out = vec![(0, 1); intervals.len()];
    let mut group: Vec<usize> = Vec::new();
    // End of each lane in the current overlap group.
    let mut lane_ends: Vec<i64> = Vec::new();
    let mut group_end = i64::MIN;
    let flush =
        |group: &mut Vec<usize>, lane_ends: &mut Vec<i64>, out: &mut Vec<(usize, usize)>| {
            for &g in group.iter() {
                out[g].1 = lane_ends.len();
            }
            group.clear();
            lane_ends.clear();
        };
    for i in order {
        let (s, e) = intervals[i];
        if s >= group_end {
            flush(&mut group, &mut lane_ends, &mut out);
        }
        let lane = match lane_ends.iter().position(|&end| end <= s) {
            Some(l) => {
                lane_ends[l] = e;
                l
            }
            None => {
                lane_ends.push(e);
                lane_ends.len() - 1
            }
        };
        out[i].0 = lane;
        group.push(i);
        group_end = if group.len() == 1 {
            e
        } else {
            group_end.max(e)
        };
    }
    flush(&mut group, &mut lane_ends, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn monday_and_iso_week() {
        assert_eq!(monday_of(d("2026-11-27")), d("2026-11-23"));
        assert_eq!(monday_of(d("2026-11-23")), d("2026-11-23"));
        assert_eq!(monday_of(d("2026-11-29")), d("2026-11-23"));
        assert_eq!(iso_week(d("2026-11-24")), 48);
        // 2027-01-01 is a Friday in ISO week 53 of 2026.
        assert_eq!(iso_week(d("2027-01-01")), 53);
        assert_eq!(monday_of(d("2027-01-01")), d("2026-12-28"));
    }

    #[test]
    fn shown_days_with_and_without_weekend() {
        assert_eq!(shown_days(d("2026-11-23"), false).len(), 5);
        let all = shown_days(d("2026-11-23"), true);
        assert_eq!(all.len(), 7);
        assert_eq!(all[6], d("2026-11-29"));
    }

    #[test]
    fn lanes_put_overlaps_side_by_side() {
        // 9:00-9:30 and 9:00-10:00 overlap; 9:30-10:00 fits after the first; 11:00 alone.
        let iv = [(540, 570), (540, 600), (570, 600), (660, 690)];
        let l = lanes(&iv);
        assert_eq!(l[0], (0, 2));
        assert_eq!(l[1], (1, 2));
        assert_eq!(l[2], (0, 2));
        assert_eq!(l[3], (0, 1));
    }

    #[test]
    fn lanes_of_touching_slots_do_not_overlap() {
        let iv = [(0, 30), (30, 60), (60, 90)];
        assert_eq!(lanes(&iv), vec![(0, 1), (0, 1), (0, 1)]);
    }
}
