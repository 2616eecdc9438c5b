//! How configured values are written and shown: durations with a unit, and URLs with
//! their password masked. Public: the API reads and shows durations the same way (a
//! subscription's `retry_schedule`, a secret rotation's `grace_period`).

use std::time::Duration;

/// Durations accept `ms`, `s`, `m`, `h` suffixes (`250ms`, `10s`, `1m`, `72h`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{s:?} has no unit (use ms, s, m or h)"))?;
    let (number, unit) = s.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{s:?} does not start with a whole number"))?;
    let millis = match unit {
        "ms" => Some(n),
        "s" => n.checked_mul(1_000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        other => return Err(format!("unknown unit {other:?} (use ms, s, m or h)")),
    };
    millis
        .map(Duration::from_millis)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// A duration the way [`parse_duration`] reads it, in the largest unit that divides it
/// (`60s` → `1m`, `1500ms` stays `1500ms`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        0 => "0s".to_owned(),
        ms if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        ms if ms % 1_000 == 0 => format!("{}s", ms / 1_000),
        ms => format!("{ms}ms"),
    }
}

/// `value` with the password of a URL in it replaced by `***`
/// (`postgres://user:***@host/db`), for every message and log line that shows a URL. Works
/// on the text, so a value too malformed to parse is masked too; a `password=` query
/// parameter (which libpq accepts) is masked as well. Anything else is returned as it is.
pub fn mask_url_password(value: &str) -> String {
    let Some(scheme_end) = value.find("://").map(|i| i + 3) else {
        return value.to_owned();
    };
    let mut masked = value.to_owned();
    let rest = &value[scheme_end..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    // The last `@` ends the user info: an unescaped `@` in a password stays masked.
    if let Some(at) = authority.rfind('@')
        && let Some(colon) = authority[..at].find(':')
    {
        masked.replace_range(scheme_end + colon + 1..scheme_end + at, "***");
    }
    if let Some(query_start) = masked.find('?') {
        let (head, query) = masked.split_at(query_start + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        masked = format!("{head}{}", query.join("&"));
    }
    masked
}
