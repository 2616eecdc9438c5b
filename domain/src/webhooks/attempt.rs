//! `attempts`: one row per delivery attempt (CONTRACT §5's attempt object).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use uuid::Uuid;

use hookrelay_shared::schema::attempts;

hookrelay_shared::text_enum! {
    /// How an attempt ended.
    #[derive(utoipa::ToSchema)]
    pub enum Outcome {
        Success = "Success",
        /// Failed, and another attempt is scheduled (`next_retry_at` set).
        FailedAttempt = "Failed Attempt",
        /// Failed, and final.
        Failure = "Failure",
    }
    impl Serialize;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_read_back_from_their_texts() {
        hookrelay_shared::assert_texts_round_trip!(Outcome);
    }
}
