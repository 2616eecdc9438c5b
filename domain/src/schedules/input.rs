//! Reading a schedule from a body (`POST /schedules`, and a stored schedule with a PATCH
//! over it), every bad field at once, with the columns it sets.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use hookrelay_shared::schema::schedules;
use hookrelay_shared::time;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::row::Schedule;
use crate::FieldError;
use crate::fields::Fields;
use crate::schedules::runs::{Kind, MissedRuns, When};
use crate::schedules::timetable::TimetableError;

/// What a schedule is, as read from a body (a new one, or a stored one with a PATCH
/// over it).
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub tenant_id: Option<Uuid>,
    pub name: String,
    pub description: Option<String>,
    pub subscription_id: Option<Uuid>,
    pub event_type: Option<String>,
    pub payload: Value,
    pub kind: Kind,
    pub run_at: Option<DateTime<Utc>>,
    pub cron: Option<String>,
    pub timezone: String,
    pub missed_runs: MissedRuns,
    /// The first tick after `now` (none for a `once` whose time has passed).
    pub next_run_at: Option<DateTime<Utc>>,
}

/// The columns an [`Input`] sets, on create and on PATCH alike.
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = schedules, treat_none_as_null = true)]
pub struct Columns<'a> {
    name: &'a str,
    description: Option<&'a str>,
    subscription_id: Option<Uuid>,
    event_type: Option<&'a str>,
    payload: &'a Value,
    kind: &'static str,
    run_at: Option<DateTime<Utc>>,
    cron: Option<&'a str>,
    timezone: &'a str,
    missed_runs: &'static str,
    next_run_at: Option<DateTime<Utc>>,
}

impl Input {
    pub fn columns(&self) -> Columns<'_> {
        Columns {
            name: &self.name,
            description: self.description.as_deref(),
            subscription_id: self.subscription_id,
            event_type: self.event_type.as_deref(),
            payload: &self.payload,
            kind: self.kind.as_str(),
            run_at: self.run_at,
            cron: self.cron.as_deref(),
            timezone: &self.timezone,
            missed_runs: self.missed_runs.as_str(),
            next_run_at: self.next_run_at,
        }
    }
}

/// The 422 message of an unknown `timezone`.
const UNKNOWN_ZONE: &str = "Value error, unknown time zone (an IANA name such as Europe/Paris)";

/// Reads a whole schedule from `body`, every bad field at once. `max_payload_bytes`
/// bounds the payload as sent; `run_at` must be after `now` when `body` sets it.
///
/// The OpenAPI document shows what this reads as [`super::body::NewScheduleBody`];
/// keep the two in step.
pub fn parse(
    body: &Map<String, Value>,
    max_payload_bytes: usize,
    now: DateTime<Utc>,
    run_at_set: bool,
) -> Result<Input, Vec<FieldError>> {
    let mut f = Fields::new(body);
    f.required("name");
    let name = f.name("name");
    let description = f.string("description");
    let tenant_id = f.uuid("tenant_id");
    let subscription_id = f.uuid("subscription_id");
    let event_type = f.name("event_type");
    if f.present("subscription_id").is_none() && f.present("event_type").is_none() {
        f.error(
            "event_type",
            "Value error, a schedule needs a subscription_id or an event_type",
            "value_error",
        );
    }
    f.required("payload");
    let payload = body.get("payload").cloned().unwrap_or(Value::Null);
    if serde_json::to_vec(&payload).map_or(0, |bytes| bytes.len()) > max_payload_bytes {
        f.error(
            "payload",
            format!("Value error, payload must be at most {max_payload_bytes} bytes as JSON"),
            "value_error",
        );
    }
    if json_has_nul(&payload) {
        let (msg, kind) = crate::fields::NUL_ERROR;
        f.error("payload", msg, kind);
    }
    f.required("kind");
    let kind = enum_field(&mut f, "kind", &Kind::ALL, Kind::as_str);
    let missed_runs = if body.contains_key("missed_runs") {
        enum_field(&mut f, "missed_runs", &MissedRuns::ALL, MissedRuns::as_str)
    } else {
        Some(MissedRuns::RunOnce)
    };
    let timezone = f.string("timezone").unwrap_or_else(|| "UTC".into());
    let run_at = f.timestamp("run_at");
    let cron = f.string("cron");
    let when = match kind {
        Some(Kind::Once) => {
            if cron.is_some() {
                f.error(
                    "cron",
                    "Value error, a once schedule has no cron",
                    "value_error",
                );
            }
            match run_at {
                None => {
                    f.error(
                        "run_at",
                        "Value error, a once schedule needs run_at",
                        "value_error",
                    );
                    None
                }
                Some(at) if run_at_set && at <= now => {
                    f.error(
                        "run_at",
                        "Value error, run_at must be in the future",
                        "value_error",
                    );
                    None
                }
                Some(at) => Some(When::Once(at)),
            }
        }
        Some(Kind::Cron) => {
            if run_at.is_some() {
                f.error(
                    "run_at",
                    "Value error, a cron schedule has no run_at",
                    "value_error",
                );
            }
            match &cron {
                None => {
                    f.error(
                        "cron",
                        "Value error, a cron schedule needs cron",
                        "value_error",
                    );
                    None
                }
                Some(expression) => {
                    match When::of(Kind::Cron, None, Some(expression), &timezone, now) {
                        Ok(when) => Some(when),
                        Err(TimetableError::UnknownZone(_)) => {
                            f.error("timezone", UNKNOWN_ZONE, "value_error");
                            None
                        }
                        Err(e) => {
                            f.error("cron", format!("Value error, {e}"), "value_error");
                            None
                        }
                    }
                }
            }
        }
        None => None,
    };
    if kind == Some(Kind::Once) && crate::schedules::timetable::zone(&timezone).is_err() {
        f.error("timezone", UNKNOWN_ZONE, "value_error");
    }
    f.finish(())?;
    let (Some(name), Some(kind), Some(missed_runs), Some(when)) = (name, kind, missed_runs, when)
    else {
        // Each of these reports an error above when it is missing.
        return Err(vec![FieldError::new(
            &["body"],
            "Invalid schedule",
            "value_error",
        )]);
    };
    Ok(Input {
        tenant_id,
        name,
        description,
        subscription_id,
        event_type,
        payload,
        kind,
        run_at,
        cron,
        timezone,
        missed_runs,
        next_run_at: when.next_after(now),
    })
}

/// One of a string enum's values.
fn enum_field<T: Copy>(
    f: &mut Fields<'_>,
    field: &str,
    all: &[T],
    as_str: fn(T) -> &'static str,
) -> Option<T> {
    let raw = f.string(field)?;
    let found = all.iter().copied().find(|v| as_str(*v) == raw);
    if found.is_none() {
        let expected: Vec<_> = all.iter().map(|v| format!("'{}'", as_str(*v))).collect();
        f.error(
            field,
            format!("Input should be {}", expected.join(" or ")),
            "enum",
        );
    }
    found
}

/// Whether a JSON value holds U+0000 in a string or key (`jsonb` cannot store it).
fn json_has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(json_has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || json_has_nul(v)),
        _ => false,
    }
}

/// A stored schedule as the body it could have been created with (PATCH merges into it).
pub(crate) fn as_body(schedule: &Schedule) -> Map<String, Value> {
    let mut body = Map::new();
    let mut put = |key: &str, value: Value| {
        if !value.is_null() {
            body.insert(key.into(), value);
        }
    };
    put("name", schedule.name.clone().into());
    put("description", schedule.description.clone().into());
    put(
        "subscription_id",
        schedule.subscription_id.map(|s| s.to_string()).into(),
    );
    put("event_type", schedule.event_type.clone().into());
    put("payload", schedule.payload.clone());
    put("kind", schedule.kind.as_str().into());
    put("run_at", schedule.run_at.map(|t| time::format(&t)).into());
    put("cron", schedule.cron.clone().into());
    put("timezone", schedule.timezone.clone().into());
    put("missed_runs", schedule.missed_runs.as_str().into());
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::object;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        time::parse("2026-12-02T12:00:00Z").expect("as set up")
    }

    fn refused(body: Value) -> Vec<(Value, String)> {
        parse(&object(body), 1024, now(), true)
            .expect_err("refused")
            .iter()
            .map(|e| (json!(e.loc), e.msg.clone()))
            .collect()
    }

    #[test]
    fn a_cron_schedule_is_next_due_at_its_first_tick_after_now() {
        let input = parse(
            &object(
                json!({"name": "n", "event_type": "report.due", "payload": {"a": 1},
                           "kind": "cron", "cron": "0 9 * * 1-5", "timezone": "Europe/Paris"}),
            ),
            1024,
            now(),
            false,
        )
        .expect("valid");
        assert_eq!(input.next_run_at, time::parse("2026-12-03T08:00:00Z").ok());
        assert_eq!(input.missed_runs, MissedRuns::RunOnce);
    }

    #[test]
    fn bad_schedules_are_refused_naming_the_field() {
        let base = json!({"name": "n", "event_type": "e", "payload": {}});
        let with = |extra: Value| {
            let mut body = base.clone();
            body.as_object_mut()
                .expect("an object")
                .extend(object(extra));
            body
        };
        let locs =
            |body: Value| -> Vec<Value> { refused(body).into_iter().map(|(l, _)| l).collect() };
        assert_eq!(
            locs(with(json!({"kind": "cron", "cron": "* * * * * *"}))),
            [json!(["body", "cron"])]
        );
        assert_eq!(
            locs(with(json!({"kind": "cron", "cron": "61 * * * *"}))),
            [json!(["body", "cron"])]
        );
        let never = refused(with(json!({"kind": "cron", "cron": "* * 31 2 *"})));
        assert!(never[0].1.contains("never runs"), "{never:?}");
        assert_eq!(
            locs(with(
                json!({"kind": "cron", "cron": "* * * * *", "timezone": "Mars/Base"})
            )),
            [json!(["body", "timezone"])]
        );
        assert_eq!(
            locs(with(
                json!({"kind": "once", "run_at": "2026-12-01T00:00:00Z"})
            )),
            [json!(["body", "run_at"])]
        );
        assert_eq!(
            locs(with(
                json!({"kind": "once", "run_at": "2026-12-03T00:00:00Z", "cron": "* * * * *"})
            )),
            [json!(["body", "cron"])]
        );
        assert_eq!(
            locs(with(
                json!({"kind": "cron", "cron": "* * * * *", "run_at": "2026-12-03T00:00:00Z"})
            )),
            [json!(["body", "run_at"])]
        );
        assert_eq!(
            locs(json!({"name": "n", "payload": {}, "kind": "cron", "cron": "* * * * *"})),
            [json!(["body", "event_type"])]
        );
        assert_eq!(
            locs(with(
                json!({"kind": "cron", "cron": "* * * * *", "payload": "x".repeat(2000)})
            )),
            [json!(["body", "payload"])]
        );
        assert_eq!(
            locs(with(json!({"kind": "weekly"}))),
            [json!(["body", "kind"])]
        );
    }
}
