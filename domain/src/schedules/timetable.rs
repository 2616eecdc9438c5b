//! When a schedule runs: a 5-field cron expression read as wall-clock time in an IANA time
//! zone, or one instant.
//!
//! The cron expression is matched against local wall-clock times (`croner` on naive times,
//! so no DST rule of its own applies) and each match is then placed on the time line here,
//! with the zone's rules compiled into the binary (`chrono-tz`):
//!
//! - a wall-clock time that a change skips (spring forward) runs at the first instant after
//!   the gap; several skipped times become that one run;
//! - a wall-clock time that repeats (fall back) runs once, at its first instant.
//!
//! Every function takes the time it counts from: nothing here reads the clock, so the
//! tests walk DST changes without waiting for one.

use std::str::FromStr as _;

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone as _, Utc};
use chrono_tz::Tz;

/// How far a gap may reach: the longest skips in the database are a day (a zone moving
/// across the date line); nothing on a minute grid takes longer to leave.
const LONGEST_GAP_MINUTES: i64 = 25 * 60;

/// Why a cron expression or zone is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimetableError {
    #[error("cron must have 5 fields (minute hour day-of-month month day-of-week), not {0}")]
    FieldCount(usize),
    #[error("cron is not valid: {0}")]
    Invalid(String),
    #[error("cron never runs")]
    NeverRuns,
    #[error("unknown time zone {0:?} (an IANA name such as Europe/Paris)")]
    UnknownZone(String),
}

/// A time zone by its IANA name.
pub fn zone(name: &str) -> Result<Tz, TimetableError> {
    Tz::from_str(name).map_err(|_| TimetableError::UnknownZone(name.to_owned()))
}

/// A cron expression in a time zone.
#[derive(Debug, Clone)]
pub struct Cron {
    pattern: croner::Cron,
    zone: Tz,
}

impl Cron {
    /// Reads `expression` (5 fields: ranges, steps, lists, month and weekday names) for
    /// wall-clock times in `zone`. An expression that matches no date at all (`* * 31 2 *`)
    /// is refused: checked from `now`.
    pub fn parse(expression: &str, zone: Tz, now: DateTime<Utc>) -> Result<Self, TimetableError> {
        let fields = expression.split_whitespace().count();
        if fields != 5 || expression.contains('@') {
            return Err(TimetableError::FieldCount(fields));
        }
        let pattern = croner::Cron::new(expression)
            .parse()
            .map_err(|e| TimetableError::Invalid(e.to_string()))?;
        let cron = Self { pattern, zone };
        cron.next_after(now).ok_or(TimetableError::NeverRuns)?;
        Ok(cron)
    }

    /// The first run strictly after `after`; `None` when there is none (the pattern
    /// names a date that never comes).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut wall = after.with_timezone(&self.zone).naive_local();
        loop {
            wall = self.next_wall_time(wall)?;
            let at = self.instant(wall)?;
            // In a repeated hour the wall clock runs again over times already run: their
            // first instants lie behind `after`.
            if at > after {
                return Some(at);
            }
        }
    }

    /// The matching wall-clock time after `wall`, whole minutes.
    fn next_wall_time(&self, wall: NaiveDateTime) -> Option<NaiveDateTime> {
        // Naive times as if in UTC: a zone without DST, so croner sees only the calendar.
        let next = self
            .pattern
            .find_next_occurrence(&Utc.from_utc_datetime(&wall), false)
            .ok()?;
        Some(next.naive_utc())
    }

    /// Where a wall-clock time falls on the time line: its first instant when it repeats,
    /// the end of the gap when it is skipped.
    fn instant(&self, wall: NaiveDateTime) -> Option<DateTime<Utc>> {
        let mut probe = wall;
        for _ in 0..=LONGEST_GAP_MINUTES {
            match self.zone.from_local_datetime(&probe) {
                LocalResult::Single(at) => return Some(at.with_timezone(&Utc)),
                LocalResult::Ambiguous(first, second) => {
                    return Some(first.min(second).with_timezone(&Utc));
                }
                LocalResult::None => probe += Duration::minutes(1),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        hookrelay_shared::time::parse(text).expect("a test time")
    }

    fn runs(expression: &str, zone_name: &str, from: &str, n: usize) -> Vec<String> {
        let from = utc(from);
        let cron = Cron::parse(expression, zone(zone_name).expect("a zone"), from).expect("valid");
        let mut at = from;
        (0..n)
            .map(|_| {
                at = cron.next_after(at).expect("a next run");
                at.to_rfc3339()
            })
            .collect()
    }

    #[test]
    fn wall_clock_times_follow_the_zone_across_the_year() {
        // 09:00 Paris is 08:00 UTC in winter and 07:00 UTC in summer.
        assert_eq!(
            runs("0 9 * * 1-5", "Europe/Paris", "2026-03-27T00:00:00Z", 3),
            [
                "2026-03-27T08:00:00+00:00",
                "2026-03-30T07:00:00+00:00",
                "2026-03-31T07:00:00+00:00",
            ]
        );
    }

    #[test]
    fn a_skipped_time_runs_at_the_end_of_the_gap_new_york() {
        // 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00 UTC). 02:30 does not exist.
        assert_eq!(
            runs("30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", 3),
            [
                "2026-03-08T07:00:00+00:00", // 03:00 EDT, the first instant after the gap
                "2026-03-09T06:30:00+00:00", // 02:30 EDT
                "2026-03-10T06:30:00+00:00",
            ]
        );
        // Every quarter hour: the gap's four times are one run at 03:00, then 03:15.
        assert_eq!(
            runs(
                "*/15 * * * *",
                "America/New_York",
                "2026-03-08T06:40:00Z",
                3
            ),
            [
                "2026-03-08T06:45:00+00:00", // 01:45 EST
                "2026-03-08T07:00:00+00:00", // 03:00 EDT
                "2026-03-08T07:15:00+00:00", // 03:15 EDT
            ]
        );
    }

    #[test]
    fn a_skipped_time_runs_at_the_end_of_the_gap_paris() {
        // 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00 UTC).
        assert_eq!(
            runs("30 2 * * *", "Europe/Paris", "2026-03-28T12:00:00Z", 2),
            ["2026-03-29T01:00:00+00:00", "2026-03-30T00:30:00+00:00"]
        );
    }

    #[test]
    fn a_repeated_time_runs_once_new_york() {
        // 2026-11-01: 02:00 EDT falls back to 01:00 EST; 01:30 happens at 05:30 and 06:30 UTC.
        assert_eq!(
            runs("30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", 2),
            ["2026-11-01T05:30:00+00:00", "2026-11-02T06:30:00+00:00"]
        );
        // Every half hour: 01:00 and 01:30 once each (their first instants), then 02:00 EST.
        assert_eq!(
            runs(
                "*/30 * * * *",
                "America/New_York",
                "2026-11-01T04:40:00Z",
                4
            ),
            [
                "2026-11-01T05:00:00+00:00", // 01:00 EDT
                "2026-11-01T05:30:00+00:00", // 01:30 EDT
                "2026-11-01T07:00:00+00:00", // 02:00 EST: the second 01:00 and 01:30 do not run
                "2026-11-01T07:30:00+00:00",
            ]
        );
    }

    #[test]
    fn a_repeated_time_runs_once_paris() {
        // 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:30 is 00:30 and 01:30 UTC.
        assert_eq!(
            runs("30 2 * * *", "Europe/Paris", "2026-10-24T12:00:00Z", 2),
            ["2026-10-25T00:30:00+00:00", "2026-10-26T01:30:00+00:00"]
        );
        // Counting from inside the repeat (after the first 02:30) finds the next day's.
        let cron = Cron::parse(
            "30 2 * * *",
            zone("Europe/Paris").expect("a zone"),
            utc("2026-10-25T00:45:00Z"),
        )
        .expect("valid");
        assert_eq!(
            cron.next_after(utc("2026-10-25T01:10:00Z")),
            Some(utc("2026-10-26T01:30:00Z"))
        );
    }

    #[test]
    fn names_ranges_steps_and_lists_are_cron() {
        assert_eq!(
            runs("0 12 * JAN,jul sun", "UTC", "2026-12-30T00:00:00Z", 2),
            ["2027-01-03T12:00:00+00:00", "2027-01-10T12:00:00+00:00"]
        );
        assert_eq!(
            runs("10-20/5 8 1 * *", "UTC", "2026-12-01T00:00:00Z", 4),
            [
                "2026-12-01T08:10:00+00:00",
                "2026-12-01T08:15:00+00:00",
                "2026-12-01T08:20:00+00:00",
                "2027-01-01T08:10:00+00:00",
            ]
        );
    }

    #[test]
    fn bad_expressions_and_zones_are_refused_saying_why() {
        let now = utc("2026-12-01T00:00:00Z");
        let parse = |e: &str| {
            Cron::parse(e, Tz::UTC, now)
                .map(|_| ())
                .expect_err("refused")
        };
        assert_eq!(parse("* * * * * *"), TimetableError::FieldCount(6));
        assert_eq!(parse("* * * *"), TimetableError::FieldCount(4));
        assert_eq!(parse("@daily"), TimetableError::FieldCount(1));
        assert!(matches!(parse("61 * * * *"), TimetableError::Invalid(_)));
        assert!(matches!(
            parse("* * * * funday"),
            TimetableError::Invalid(_)
        ));
        assert_eq!(parse("* * 31 2 *"), TimetableError::NeverRuns);
        assert_eq!(parse("* * 30 2 *").to_string(), "cron never runs");
        assert_eq!(
            zone("Mars/Olympus_Mons").expect_err("refused"),
            TimetableError::UnknownZone("Mars/Olympus_Mons".into())
        );
        assert!(zone("America/New_York").is_ok());
    }
}
