//! `/schedules` without actix: reading a schedule's fields, storing, changing, pausing,
//! resuming and triggering schedules, and listing their runs.
//!
//! The api stores what a schedule is and when it is next due (`next_run_at`, from
//! `crate::schedules::runs::When`); the workers' runner (`worker/src/schedules.rs`)
//! fires it. A trigger fires one run here, the same way ([`record_runs`]), and drains the
//! outbox so the webhook is queued before the 202.

use crate::outbox;
use crate::schedules::runs::{Kind, MissedRuns, Runnable, When, record_runs};
use crate::schedules::timetable::TimetableError;
use crate::tenants::space::Space;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection as _, RunQueryDsl};
use hookrelay_shared::db::{DbPool, bounded, checkout};
use hookrelay_shared::queue::IngestQueue;
use hookrelay_shared::redis_client::Redis;
use hookrelay_shared::schema::{schedule_runs, schedules};
use hookrelay_shared::time;
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::FieldError;
use crate::api_keys::caller::Principal;
use crate::fields::Fields;

/// A schedule as the api shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Queryable, Selectable, utoipa::ToSchema)]
#[diesel(table_name = schedules, check_for_backend(diesel::pg::Pg))]
pub struct Schedule {
    pub id: Uuid,
    /// Its tenant; null: the default space.
    #[schema(required = true)]
    pub tenant_id: Option<Uuid>,
    pub name: String,
    #[schema(required = true)]
    pub description: Option<String>,
    /// Each run goes to this subscription (`POST /ingest/{subscription_id}`); null: fan-out.
    #[schema(required = true)]
    pub subscription_id: Option<Uuid>,
    /// Each run's event type (fan-out matches on it).
    #[schema(required = true)]
    pub event_type: Option<String>,
    /// Each run's body, as JSON.
    #[schema(value_type = Object)]
    pub payload: Value,
    #[diesel(deserialize_as = String)]
    pub kind: Kind,
    #[serde(serialize_with = "time::serialize_opt")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub run_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub cron: Option<String>,
    pub timezone: String,
    #[diesel(deserialize_as = String)]
    pub missed_runs: MissedRuns,
    pub is_active: bool,
    #[serde(serialize_with = "time::serialize_opt")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub next_run_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "time::serialize_opt")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub last_run_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub last_webhook_id: Option<Uuid>,
    pub run_count: i64,
    #[serde(serialize_with = "time::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
}

/// One run of a schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Queryable, Selectable, utoipa::ToSchema)]
#[diesel(table_name = schedule_runs, check_for_backend(diesel::pg::Pg))]
pub struct Run {
    /// The tick it ran for (the trigger's time for a triggered run).
    #[serde(serialize_with = "time::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub scheduled_for: DateTime<Utc>,
    pub webhook_id: Uuid,
    #[serde(serialize_with = "time::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub started_at: DateTime<Utc>,
}

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
fn as_body(schedule: &Schedule) -> Map<String, Value> {
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

/// Why a schedule was not stored, changed, paused, resumed or triggered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocked {
    UnknownSchedule,
    UnknownSubscription,
    UnknownTenant,
    AlreadyPaused,
    AlreadyActive,
    RunAtPassed,
}

impl Blocked {
    pub const fn detail(self) -> &'static str {
        match self {
            Self::UnknownSchedule => "Schedule not found",
            Self::UnknownSubscription => crate::subscriptions::NOT_FOUND,
            Self::UnknownTenant => crate::tenants::row::NOT_FOUND,
            Self::AlreadyPaused => "Schedule is already paused",
            Self::AlreadyActive => "Schedule is already active",
            Self::RunAtPassed => "Schedule's run_at has passed",
        }
    }
}

/// What each block is as a domain refusal: a resource out of reach is 404, a state that
/// does not allow the change 409.
impl From<Blocked> for crate::Refusal {
    fn from(blocked: Blocked) -> Self {
        match blocked {
            Blocked::UnknownSchedule | Blocked::UnknownSubscription | Blocked::UnknownTenant => {
                Self::NotFound(blocked.detail())
            }
            Blocked::AlreadyPaused | Blocked::AlreadyActive | Blocked::RunAtPassed => {
                Self::Conflict(blocked.detail())
            }
        }
    }
}

/// Stores a new schedule in the caller's reach.
pub async fn create(
    db: &DbPool,
    principal: &Principal,
    input: Input,
) -> anyhow::Result<Result<Schedule, Blocked>> {
    let owner = crate::subscriptions::store::owner_through(
        db,
        principal,
        input.tenant_id,
        input.subscription_id,
    )
    .await?;
    let Some(tenant_id) = owner else {
        return Ok(Err(Blocked::UnknownSubscription));
    };
    let now = time::now();
    let mut conn = checkout(db).await?;
    let storing = diesel::insert_into(schedules::table)
        .values((
            schedules::id.eq(Uuid::now_v7()),
            schedules::tenant_id.eq(tenant_id),
            input.columns(),
            schedules::is_active.eq(true),
            schedules::created_at.eq(now),
            schedules::updated_at.eq(now),
        ))
        .returning(Schedule::as_returning())
        .get_result(&mut conn);
    let stored = bounded("Failed to store a schedule", async {
        crate::subscriptions::store::unless_no_tenant(storing.await)
    })
    .await?;
    Ok(stored.ok_or(Blocked::UnknownTenant))
}

/// The schedules in `space`, oldest first.
pub async fn list(
    db: &DbPool,
    space: Space,
    skip: i64,
    limit: i64,
) -> anyhow::Result<Vec<Schedule>> {
    let mut conn = checkout(db).await?;
    let listing = schedules::table
        .filter(space.condition(schedules::tenant_id))
        .order((schedules::created_at.asc(), schedules::id.asc()))
        .offset(skip)
        .limit(limit)
        .select(Schedule::as_select())
        .load(&mut conn);
    bounded("Failed to list schedules", listing).await
}

/// One schedule in `space`.
pub async fn get(db: &DbPool, space: Space, id: Uuid) -> anyhow::Result<Option<Schedule>> {
    let mut conn = checkout(db).await?;
    let reading = async {
        schedules::table
            .find(id)
            .filter(space.condition(schedules::tenant_id))
            .select(Schedule::as_select())
            .first(&mut conn)
            .await
            .optional()
    };
    bounded("Failed to read a schedule", reading).await
}

/// Applies a PATCH: the stored schedule with `changes` over it, read as a whole, and
/// `next_run_at` computed again from now.
///
/// The OpenAPI document shows what this reads as [`super::body::ScheduleChangesBody`];
/// keep the two in step.
pub async fn patch(
    db: &DbPool,
    principal: &Principal,
    id: Uuid,
    changes: &Map<String, Value>,
    max_payload_bytes: usize,
) -> anyhow::Result<Result<Result<Schedule, Vec<FieldError>>, Blocked>> {
    let Some(current) = get(db, principal.space(), id).await? else {
        return Ok(Err(Blocked::UnknownSchedule));
    };
    let mut body = as_body(&current);
    for (key, value) in changes {
        if key != "tenant_id" {
            body.insert(key.clone(), value.clone());
        }
    }
    let now = time::now();
    let input = match parse(
        &body,
        max_payload_bytes,
        now,
        changes.contains_key("run_at"),
    ) {
        Ok(input) => input,
        Err(errors) => return Ok(Ok(Err(errors))),
    };
    if input.subscription_id.is_some() && input.subscription_id != current.subscription_id {
        let space = Space::of(current.tenant_id);
        if crate::subscriptions::store::get(db, space, input.subscription_id.unwrap_or_default())
            .await?
            .is_none()
        {
            return Ok(Err(Blocked::UnknownSubscription));
        }
    }
    let mut conn = checkout(db).await?;
    let changing = async {
        diesel::update(schedules::table.find(id))
            .set((input.columns(), schedules::updated_at.eq(now)))
            .returning(Schedule::as_returning())
            .get_result(&mut conn)
            .await
            .optional()
    };
    let changed = bounded("Failed to change a schedule", changing).await?;
    Ok(changed.map(Ok).ok_or(Blocked::UnknownSchedule))
}

/// Deletes a schedule and its runs' records (webhooks already sent stay); `false` when
/// there was none in `space`.
pub async fn delete(db: &DbPool, space: Space, id: Uuid) -> anyhow::Result<bool> {
    let mut conn = checkout(db).await?;
    let deleting = diesel::delete(
        schedules::table
            .find(id)
            .filter(space.condition(schedules::tenant_id)),
    )
    .execute(&mut conn);
    Ok(bounded("Failed to delete a schedule", deleting).await? == 1)
}

/// Pauses (`active: false`) or resumes a schedule. Resuming counts from now: the ticks
/// of the pause are not run.
pub async fn set_active(
    db: &DbPool,
    space: Space,
    id: Uuid,
    active: bool,
) -> anyhow::Result<Result<Schedule, Blocked>> {
    let Some(current) = get(db, space, id).await? else {
        return Ok(Err(Blocked::UnknownSchedule));
    };
    if current.is_active == active {
        return Ok(Err(if active {
            Blocked::AlreadyActive
        } else {
            Blocked::AlreadyPaused
        }));
    }
    let now = time::now();
    let next_run_at = if active {
        let when = When::of(
            current.kind,
            current.run_at,
            current.cron.as_deref(),
            &current.timezone,
            now,
        )?;
        match when.next_after(now) {
            Some(next) => Some(next),
            None => return Ok(Err(Blocked::RunAtPassed)),
        }
    } else {
        current.next_run_at
    };
    let mut conn = checkout(db).await?;
    let changing = async {
        diesel::update(
            schedules::table
                .find(id)
                .filter(schedules::is_active.eq(!active)),
        )
        .set((
            schedules::is_active.eq(active),
            schedules::next_run_at.eq(next_run_at),
            schedules::updated_at.eq(now),
        ))
        .returning(Schedule::as_returning())
        .get_result(&mut conn)
        .await
        .optional()
    };
    let changed = bounded("Failed to pause or resume a schedule", changing).await?;
    // Changed meanwhile by another request: it is in the state asked for.
    Ok(changed.ok_or(if active {
        Blocked::AlreadyActive
    } else {
        Blocked::AlreadyPaused
    }))
}

/// Runs a schedule now, outside its timetable: records the run and queues its webhook.
pub async fn trigger(
    db: &DbPool,
    redis: &Redis,
    queue: &IngestQueue,
    space: Space,
    id: Uuid,
) -> anyhow::Result<Result<Uuid, Blocked>> {
    let mut conn = checkout(db).await?;
    let now = time::now();
    let firing = conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        let schedule: Option<Runnable> = schedules::table
            .find(id)
            .filter(space.condition(schedules::tenant_id))
            .for_update()
            .select(Runnable::as_select())
            .first(conn)
            .await
            .optional()?;
        match schedule {
            None => Ok(None),
            Some(schedule) => {
                let recorded = record_runs(conn, &[(&schedule, now)], now).await?;
                Ok(recorded.into_iter().next().map(|(_, webhook)| webhook))
            }
        }
    });
    let Some(webhook_id) = bounded("Failed to trigger a schedule", firing).await? else {
        return Ok(Err(Blocked::UnknownSchedule));
    };
    // Recorded: the workers' drainers queue it if this does not.
    if let Err(e) = outbox::drain(db, redis, queue).await {
        tracing::warn!(error = format!("{e:#}"), %webhook_id, "triggered run recorded; a worker will queue it");
    }
    Ok(Ok(webhook_id))
}

/// A schedule's runs, newest first.
pub async fn runs(
    db: &DbPool,
    space: Space,
    id: Uuid,
    limit: i64,
) -> anyhow::Result<Option<Vec<Run>>> {
    if get(db, space, id).await?.is_none() {
        return Ok(None);
    }
    let mut conn = checkout(db).await?;
    let listing = schedule_runs::table
        .filter(schedule_runs::schedule_id.eq(id))
        .order(schedule_runs::scheduled_for.desc())
        .limit(limit)
        .select(Run::as_select())
        .load(&mut conn);
    Ok(Some(
        bounded("Failed to list a schedule's runs", listing).await?,
    ))
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
