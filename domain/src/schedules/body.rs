//! The request bodies of the schedule routes as the OpenAPI document shows them, kept
//! beside their readers, [`super::input::parse`] and [`super::store::patch`].
//! Documentation only: never built.

use utoipa::ToSchema;

/// `POST /schedules`. Unknown fields are ignored.
#[derive(ToSchema)]
#[expect(dead_code, reason = "documentation only: read by `input::parse`")]
pub struct NewScheduleBody {
    #[schema(min_length = 1, max_length = 255)]
    name: String,
    #[schema(required = false)]
    description: String,
    /// Runs go to this subscription (404 if unknown). With neither this nor `event_type`:
    /// 422.
    #[schema(required = false)]
    subscription_id: uuid::Uuid,
    /// Runs carry this event type (fan-out without `subscription_id`).
    #[schema(required = false, min_length = 1, max_length = 255)]
    event_type: String,
    /// Each run's body: any JSON, at most `MAX_PAYLOAD_BYTES` as sent.
    payload: serde_json::Value,
    kind: crate::schedules::runs::Kind,
    /// `once`: when, in the future (RFC 3339). Not with `cron`.
    #[schema(required = false, format = DateTime)]
    run_at: String,
    /// `cron`: minute hour day-of-month month day-of-week (ranges, steps, lists, names),
    /// as wall-clock time in `timezone`. Not with `run_at`; 422 when it never runs.
    #[schema(required = false, example = "0 9 * * 1-5")]
    cron: String,
    /// An IANA time zone (default `UTC`).
    #[schema(required = false, example = "Europe/Paris")]
    timezone: String,
    /// Ticks missed while no worker ran: `run_once` (default) runs the newest, `skip` none.
    #[schema(required = false)]
    missed_runs: crate::schedules::runs::MissedRuns,
    /// Keys without a tenant: the schedule's tenant (default: the subscription's, else the
    /// default space). Ignored for tenant keys.
    #[schema(required = false)]
    tenant_id: uuid::Uuid,
}

/// `PATCH /schedules/{schedule_id}`: any of `POST /schedules`'s fields but `tenant_id`; the
/// result must be a valid schedule as a whole.
#[derive(ToSchema)]
#[expect(dead_code, reason = "documentation only: read by `store::patch`")]
pub struct ScheduleChangesBody {
    #[schema(required = false, min_length = 1, max_length = 255)]
    name: String,
    #[schema(required = false)]
    description: String,
    #[schema(required = false)]
    subscription_id: uuid::Uuid,
    #[schema(required = false, min_length = 1, max_length = 255)]
    event_type: String,
    #[schema(required = false)]
    payload: serde_json::Value,
    #[schema(required = false)]
    kind: crate::schedules::runs::Kind,
    #[schema(required = false, format = DateTime)]
    run_at: String,
    #[schema(required = false)]
    cron: String,
    #[schema(required = false)]
    timezone: String,
    #[schema(required = false)]
    missed_runs: crate::schedules::runs::MissedRuns,
}
