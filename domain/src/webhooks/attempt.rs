//! `attempts`: one row per delivery attempt (CONTRACT §5's attempt object).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use uuid::Uuid;

use hookrelay_shared::schema::attempts;

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub enum Outcome {
    Success,
    /// Failed, and another attempt is scheduled (`next_retry_at` set).
    #[serde(rename = "Failed Attempt")]
    FailedAttempt,
    /// Failed, and final.
    Failure,
}

impl Outcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Success => "Success",
            Self::FailedAttempt => "Failed Attempt",
            Self::Failure => "Failure",
        }
    }
}

/// The most of a response body an attempt keeps.
pub const RESPONSE_BODY_LIMIT: usize = 4096;

#[derive(
    Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, Serialize, utoipa::ToSchema,
)]
#[diesel(table_name = attempts, check_for_backend(diesel::pg::Pg))]
pub struct Attempt {
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub subscription_id: Uuid,
    pub target_url: String,
    #[serde(serialize_with = "hookrelay_shared::time::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub timestamp: DateTime<Utc>,
    pub attempt_number: i32,
    /// `Success`, `Failed Attempt` or `Failure`.
    #[schema(example = "Success")]
    pub outcome: String,
    #[schema(required = true)]
    pub status_code: Option<i32>,
    #[schema(required = true)]
    pub error: Option<String>,
    pub duration_ms: i64,
    /// At most the first 4096 bytes of the response.
    #[schema(required = true)]
    pub response_body: Option<String>,
    #[serde(serialize_with = "hookrelay_shared::time::serialize_opt")]
    #[schema(required = true, value_type = Option<String>, format = DateTime)]
    pub next_retry_at: Option<DateTime<Utc>>,
}
