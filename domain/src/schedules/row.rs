//! The rows of `schedules` and `schedule_runs` as the api shows them.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use hookrelay_shared::schema::{schedule_runs, schedules};
use hookrelay_shared::time;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::schedules::runs::{Kind, MissedRuns};

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
