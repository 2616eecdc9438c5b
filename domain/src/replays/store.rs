//! Bulk replays (`/replays`): reading a replay's filter, counting what it
//! matches (`dry_run`), storing it for the workers to run, listing, reading and
//! cancelling replays.
//!
//! The api only stores the replay (`running`, nothing queued yet). A worker's runner
//! (`worker/src/replays.rs`) walks it in batches and updates `matched` and `queued` as it
//! goes; what a filter matches is [`Selection`], the same SQL for the dry run's count
//! and for the batches.

use crate::replays::selection::{MAX_WINDOW_DAYS, MissingFor, ReplayStatus, Selection};
use crate::tenants::space::Space;
use crate::webhooks::DeliveryStatus;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use hookrelay_shared::db::{DbPool, bounded, checkout};
use hookrelay_shared::schema::replays;
use hookrelay_shared::time;
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::FieldError;
use crate::api_keys::caller::Principal;
use crate::fields::Fields;

/// The most entries `event_types` may have.
const MAX_EVENT_TYPES: usize = 1000;

/// A replay's filter as read from the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    /// The body as posted, without `dry_run`: the replay's `filter`.
    pub filter: Map<String, Value>,
    pub subscription_id: Option<Uuid>,
    pub event_types: Option<Vec<String>>,
    pub since: DateTime<Utc>,
    /// `None`: when the replay is created.
    pub until: Option<DateTime<Utc>>,
    pub statuses: Vec<DeliveryStatus>,
    pub include_missing: bool,
    pub dry_run: bool,
}

/// Reads `{"subscription_id"?, "event_types"?, "since", "until"?, "statuses"?,
/// "include_missing"?, "dry_run"?}`; every bad field is reported at once. `now` stands
/// for a missing `until` in the window checks.
///
/// The OpenAPI document shows what this reads as [`super::body::NewReplayBody`];
/// keep the two in step.
pub fn parse(body: &Map<String, Value>, now: DateTime<Utc>) -> Result<Posted, Vec<FieldError>> {
    let mut f = Fields::new(body);
    let subscription_id = f.uuid("subscription_id");
    let event_types = f.event_filter("event_types", MAX_EVENT_TYPES);
    f.required("since");
    let since = f.timestamp("since");
    let until = f.timestamp("until");
    let statuses = statuses(&mut f).unwrap_or_else(|| vec![DeliveryStatus::Failed]);
    let include_missing = f.boolean("include_missing").unwrap_or(false);
    let dry_run = f.boolean("dry_run").unwrap_or(false);
    for field in ["include_missing", "dry_run"] {
        f.null(field, "bool_type", "a valid boolean");
    }
    if include_missing && !body.contains_key("subscription_id") {
        f.error(
            "include_missing",
            "Value error, include_missing needs a subscription_id",
            "value_error",
        );
    }
    if let Some(since) = since {
        let end = until.unwrap_or(now);
        if since > end {
            let which = if until.is_some() { "until" } else { "since" };
            f.error(
                which,
                "Value error, since must not be after until",
                "value_error",
            );
        } else if end - since > chrono::Duration::days(MAX_WINDOW_DAYS) {
            f.error(
                "since",
                format!("Value error, the window from since to until spans at most {MAX_WINDOW_DAYS} days"),
                "value_error",
            );
        }
    }
    f.null("since", "datetime_type", "a valid datetime");
    let mut filter = body.clone();
    filter.remove("dry_run");
    f.finish(())?;
    let since = since.ok_or_else(|| {
        // Every way `since` can be missing reports an error above; this keeps it so.
        vec![FieldError::new(
            &["body", "since"],
            "Field required",
            "missing",
        )]
    })?;
    Ok(Posted {
        filter,
        subscription_id,
        event_types,
        since,
        until,
        statuses,
        include_missing,
        dry_run,
    })
}

/// `statuses`: a non-empty list of delivery statuses (repeats count once).
fn statuses(f: &mut Fields) -> Option<Vec<DeliveryStatus>> {
    f.null("statuses", "list_type", "a valid list");
    let Value::Array(items) = f.present("statuses")? else {
        f.error("statuses", "Input should be a valid list", "list_type");
        return None;
    };
    if items.is_empty() {
        f.error("statuses", "List should have at least 1 item", "too_short");
        return None;
    }
    let before = f.errors.len();
    let mut statuses = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item.as_str().and_then(DeliveryStatus::parse) {
            Some(status) if !statuses.contains(&status) => statuses.push(status),
            Some(_) => {}
            None => f.errors.push(
                FieldError::new(
                    &["body", "statuses"],
                    "Input should be 'pending', 'retrying', 'succeeded' or 'failed'",
                    "enum",
                )
                .at(i),
            ),
        }
    }
    (f.errors.len() == before).then_some(statuses)
}

/// A replay as the api shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Queryable, Selectable, utoipa::ToSchema)]
#[diesel(table_name = replays, check_for_backend(diesel::pg::Pg))]
pub struct Replay {
    pub id: Uuid,
    /// Its tenant; null: the default space, or every tenant (an admin key's replay
    /// without a subscription).
    #[schema(required = true)]
    pub tenant_id: Option<Uuid>,
    /// The filter as posted.
    #[schema(value_type = Object)]
    pub filter: Value,
    #[diesel(deserialize_as = String)]
    pub status: ReplayStatus,
    /// Deliveries (and, with include_missing, webhooks without one) matched so far.
    pub matched: i64,
    /// Of those, the ones queued for a new run (a delivery still in flight is not).
    pub queued: i64,
    #[serde(serialize_with = "time::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "time::serialize_opt")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub finished_at: Option<DateTime<Utc>>,
}

/// Why a replay was not created, counted, or cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocked {
    UnknownSubscription,
    InactiveSubscription,
    UnknownReplay,
    Finished,
}

impl Blocked {
    pub const fn detail(self) -> &'static str {
        match self {
            Self::UnknownSubscription => crate::subscriptions::NOT_FOUND,
            Self::InactiveSubscription => "Subscription is inactive",
            Self::UnknownReplay => "Replay not found",
            Self::Finished => "Replay has already finished",
        }
    }
}

/// What each block is as a domain refusal: a resource out of reach is 404, a state that
/// does not allow the change 409.
impl From<Blocked> for crate::Refusal {
    fn from(blocked: Blocked) -> Self {
        match blocked {
            Blocked::UnknownSubscription | Blocked::UnknownReplay => {
                Self::NotFound(blocked.detail())
            }
            Blocked::InactiveSubscription | Blocked::Finished => Self::Conflict(blocked.detail()),
        }
    }
}

/// What `POST /replays` did.
pub enum Created {
    /// A dry run: what the filter matches now.
    Counted(i64),
    Stored(Replay),
}

/// Counts (`dry_run`) or stores the replay `posted` describes, in the caller's reach.
pub async fn create(
    db: &DbPool,
    principal: &Principal,
    posted: Posted,
) -> anyhow::Result<Result<Created, Blocked>> {
    let subscription = match posted.subscription_id {
        Some(id) => match crate::subscriptions::store::get(db, principal.space(), id).await? {
            None => return Ok(Err(Blocked::UnknownSubscription)),
            Some(s) if !s.is_active => return Ok(Err(Blocked::InactiveSubscription)),
            Some(s) => Some(s),
        },
        None => None,
    };
    // A tenant key's replay stays in its tenant; an admin's follows the subscription, or
    // covers every tenant.
    let (space, tenant_id) = match (principal.tenant(), &subscription) {
        (Some(tenant), _) => (Space::Tenant(tenant), Some(tenant)),
        (None, Some(s)) => (Space::of(s.tenant_id), s.tenant_id),
        (None, None) => (Space::Any, None),
    };
    let now = time::now();
    // A replay covers what had arrived when it was created.
    let until = posted.until.map_or(now, |until| until.min(now));
    if posted.dry_run {
        let selection = Selection {
            space,
            subscription_id: posted.subscription_id,
            event_types: posted.event_types,
            since: posted.since,
            until,
            statuses: posted.statuses,
        };
        let missing = subscription
            .filter(|_| posted.include_missing)
            .map(|s| MissingFor::of(&s));
        let mut conn = checkout(db).await?;
        let counting = selection.count(&mut conn, missing.as_ref());
        let matched = bounded("Failed to count a replay's deliveries", counting).await?;
        return Ok(Ok(Created::Counted(matched)));
    }
    let statuses: Vec<&str> = posted.statuses.iter().map(|s| s.as_str()).collect();
    let mut conn = checkout(db).await?;
    let storing = diesel::insert_into(replays::table)
        .values((
            replays::id.eq(Uuid::now_v7()),
            replays::tenant_id.eq(tenant_id),
            replays::every_tenant.eq(space == Space::Any),
            replays::filter.eq(Value::Object(posted.filter)),
            replays::subscription_id.eq(posted.subscription_id),
            replays::event_types.eq(posted.event_types),
            replays::since.eq(posted.since),
            replays::until.eq(until),
            replays::statuses.eq(statuses),
            replays::include_missing.eq(posted.include_missing),
            replays::status.eq(ReplayStatus::Running.as_str()),
            replays::created_at.eq(now),
        ))
        .returning(Replay::as_returning())
        .get_result(&mut conn);
    let replay = bounded("Failed to store a replay", storing).await?;
    Ok(Ok(Created::Stored(replay)))
}

/// `space` as a condition on replays: the default space excludes replays of every tenant.
fn in_space(
    space: Space,
) -> Box<dyn BoxableExpression<replays::table, diesel::pg::Pg, SqlType = diesel::sql_types::Bool>> {
    match space {
        Space::Default => Box::new(
            replays::tenant_id
                .is_null()
                .and(replays::every_tenant.eq(false)),
        ),
        other => other.condition(replays::tenant_id),
    }
}

/// The replays in `space`, newest first.
pub async fn list(db: &DbPool, space: Space, skip: i64, limit: i64) -> anyhow::Result<Vec<Replay>> {
    let mut conn = checkout(db).await?;
    let listing = replays::table
        .filter(in_space(space))
        .order((replays::created_at.desc(), replays::id.desc()))
        .offset(skip)
        .limit(limit)
        .select(Replay::as_select())
        .load(&mut conn);
    bounded("Failed to list replays", listing).await
}

/// One replay in `space`.
pub async fn get(db: &DbPool, space: Space, id: Uuid) -> anyhow::Result<Option<Replay>> {
    let mut conn = checkout(db).await?;
    let reading = async {
        replays::table
            .find(id)
            .filter(in_space(space))
            .select(Replay::as_select())
            .first(&mut conn)
            .await
            .optional()
    };
    bounded("Failed to read a replay", reading).await
}

/// Cancels a running replay: no batch starts after this (the one under way finishes).
pub async fn cancel(
    db: &DbPool,
    space: Space,
    id: Uuid,
) -> anyhow::Result<Result<Replay, Blocked>> {
    let mut conn = checkout(db).await?;
    let cancelling = async {
        diesel::update(
            replays::table
                .find(id)
                .filter(in_space(space))
                .filter(replays::status.eq(ReplayStatus::Running.as_str())),
        )
        .set((
            replays::status.eq(ReplayStatus::Cancelled.as_str()),
            replays::finished_at.eq(Some(time::now())),
        ))
        .returning(Replay::as_returning())
        .get_result(&mut conn)
        .await
        .optional()
    };
    if let Some(replay) = bounded("Failed to cancel a replay", cancelling).await? {
        return Ok(Ok(replay));
    }
    Ok(Err(match get(db, space, id).await? {
        Some(_) => Blocked::Finished,
        None => Blocked::UnknownReplay,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::object;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        time::parse("2026-12-02T12:00:00Z").expect("as set up")
    }

    fn locs(body: Value) -> Vec<Value> {
        parse(&object(body), now())
            .expect_err("refused")
            .iter()
            .map(|e| json!(e.loc))
            .collect()
    }

    #[test]
    fn a_minimal_filter_replays_failed_deliveries_until_now() {
        let posted = parse(
            &object(json!({"since": "2026-12-02T11:00:00Z", "dry_run": true})),
            now(),
        )
        .expect("as set up");
        assert_eq!(posted.statuses, [DeliveryStatus::Failed]);
        assert_eq!(posted.until, None);
        assert!(posted.dry_run && !posted.include_missing);
        assert_eq!(
            Value::Object(posted.filter),
            json!({"since": "2026-12-02T11:00:00Z"})
        );
    }

    #[test]
    fn bad_windows_and_fields_are_refused_by_name() {
        assert_eq!(locs(json!({})), [json!(["body", "since"])]);
        assert_eq!(locs(json!({"since": null})), [json!(["body", "since"])]);
        assert_eq!(
            locs(json!({"since": "2026-12-02T11:00:00Z", "until": "2026-12-02T10:00:00Z"})),
            [json!(["body", "until"])]
        );
        assert_eq!(
            locs(json!({"since": "2026-12-02T13:00:00Z"})),
            [json!(["body", "since"])]
        );
        assert_eq!(
            locs(json!({"since": "2026-10-01T00:00:00Z"})),
            [json!(["body", "since"])]
        );
        assert_eq!(
            locs(json!({"since": "2026-12-02T11:00:00Z", "include_missing": true})),
            [json!(["body", "include_missing"])]
        );
        assert_eq!(
            locs(json!({"since": "2026-12-02T11:00:00Z", "statuses": ["failed", "lost"]})),
            [json!(["body", "statuses", 1])]
        );
        assert_eq!(
            locs(json!({"since": "2026-12-02T11:00:00Z", "statuses": []})),
            [json!(["body", "statuses"])]
        );
        assert_eq!(
            locs(json!({"since": "2026-12-02T11:00:00Z", "event_types": ["a*b"]})),
            [json!(["body", "event_types", 0])]
        );
    }
}
