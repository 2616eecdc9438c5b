//! `deliveries`: the state of delivering one webhook to one subscription.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use hookrelay_shared::schema::deliveries;

hookrelay_shared::text_enum! {
    /// Where one delivery stands (CONTRACT §6 `deliveries[].status`).
    #[derive(utoipa::ToSchema)]
    pub enum DeliveryStatus {
        /// No attempt has finished yet.
        Pending = "pending",
        /// An attempt failed and another is scheduled.
        Retrying = "retrying",
        Succeeded = "succeeded",
        Failed = "failed",
    }
    impl Serialize;
}

impl DeliveryStatus {
    pub const fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }

    /// The statuses of deliveries still under way.
    pub const UNFINISHED: [Self; 2] = [Self::Pending, Self::Retrying];

    /// The statuses of finished deliveries.
    pub const FINISHED: [Self; 2] = [Self::Succeeded, Self::Failed];

    /// [`Self::UNFINISHED`] as an SQL list, `('pending', 'retrying')`, for statements
    /// declared as constants. It is written into their text, not bound, so that the
    /// planner can use the partial indexes on unfinished deliveries (`migrations/`), whose
    /// predicate is `status IN` this list.
    pub const UNFINISHED_SQL: &'static str = hookrelay_shared::const_concat!(
        "('",
        DeliveryStatus::Pending.as_str(),
        "', '",
        DeliveryStatus::Retrying.as_str(),
        "')"
    );
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = deliveries, check_for_backend(diesel::pg::Pg))]
pub struct Delivery {
    pub webhook_id: Uuid,
    pub subscription_id: Uuid,
    pub target_url: String,
    pub status: String,
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    pub error: Option<String>,
    pub next_retry_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// Its webhook's `received_at`, so one subscription's webhooks can be listed newest
    /// first from an index of deliveries.
    pub received_at: DateTime<Utc>,
}

/// A change of one delivery's state.
#[derive(Debug, Clone)]
pub struct DeliveryUpdate {
    pub webhook_id: Uuid,
    pub subscription_id: Uuid,
    pub status: DeliveryStatus,
    /// Attempts made so far (0 when the delivery ends without an attempt).
    pub attempts: i32,
    /// Whether this change comes from an attempt (then `last_status_code` is its code).
    pub attempted: bool,
    pub last_status_code: Option<i32>,
    pub error: Option<String>,
    pub next_retry_at: Option<DateTime<Utc>>,
    /// The URL the attempt went to; `None` when the delivery ends without an attempt
    /// (the row keeps the URL it had).
    pub target_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_back_from_their_texts() {
        hookrelay_shared::assert_texts_round_trip!(DeliveryStatus);
    }

    #[test]
    fn the_sql_lists_are_the_statuses_finished_or_not() {
        let (finished, unfinished): (Vec<_>, Vec<_>) = DeliveryStatus::ALL
            .into_iter()
            .partition(|status| status.is_finished());
        assert_eq!(DeliveryStatus::FINISHED.as_slice(), finished);
        assert_eq!(DeliveryStatus::UNFINISHED.as_slice(), unfinished);
        assert_eq!(
            DeliveryStatus::UNFINISHED_SQL,
            crate::sql::status_list(&DeliveryStatus::UNFINISHED)
        );
        assert_eq!(DeliveryStatus::UNFINISHED_SQL, "('pending', 'retrying')");
    }
}
