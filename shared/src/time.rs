//! Contract timestamps: RFC 3339, UTC, exactly six fractional digits and `Z`
//! (`2026-11-22T15:04:02.551966Z`). Postgres `timestamptz` keeps microseconds, so a value
//! that went through the database prints the same before and after.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serializer;

/// The current time, truncated to whole microseconds like Postgres stores it.
pub fn now() -> DateTime<Utc> {
    from_micros(Utc::now().timestamp_micros())
}

/// A timestamp from microseconds since the Unix epoch (how the queue carries times).
pub fn from_micros(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

/// Parses an RFC 3339 timestamp with any offset, to UTC and whole microseconds.
pub fn parse(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(text).map(|t| from_micros(t.timestamp_micros()))
}

/// Unix milliseconds, rounded up: the score of a due time in the schedules' sorted sets,
/// which are compared with the clock in whole milliseconds, so nothing moves early.
pub fn due_millis(t: &DateTime<Utc>) -> i64 {
    let micros = t.timestamp_micros();
    micros.div_euclid(1_000) + i64::from(micros.rem_euclid(1_000) > 0)
}

/// Formats a timestamp the contract's way.
pub fn format(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// `#[serde(serialize_with = "time::serialize")]`
pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(t))
}

/// `#[serde(serialize_with = "time::serialize_opt")]`
pub fn serialize_opt<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => serialize(t, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_fractional_digits_and_z() {
        let t = from_micros(1_795_014_242_551_966);
        assert_eq!(format(&t), "2026-11-18T15:04:02.551966Z");
        let whole = from_micros(1_795_014_242_000_000);
        assert_eq!(format(&whole), "2026-11-18T15:04:02.000000Z");
    }

    #[test]
    fn parsing_keeps_whole_microseconds_in_utc() {
        let t = parse("2026-11-18T16:04:02.551966789+01:00").expect("RFC 3339");
        assert_eq!(format(&t), "2026-11-18T15:04:02.551966Z");
        assert!(parse("2026-11-18 15:04").is_err());
        assert!(parse("2026-02-30T00:00:00Z").is_err());
    }

    #[test]
    fn due_millis_round_up() {
        assert_eq!(due_millis(&from_micros(1_000)), 1);
        assert_eq!(due_millis(&from_micros(1_001)), 2);
        assert_eq!(due_millis(&from_micros(-1)), 0);
    }

    #[test]
    fn now_is_whole_microseconds() {
        assert_eq!(now().timestamp_subsec_nanos() % 1_000, 0);
    }
}
