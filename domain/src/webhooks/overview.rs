//! What the console's overview shows: how each delivery of the last hour
//! stands, and which subscriptions need attention. (Queue depths are
//! `hookrelay_shared::queue::queue_depths`, as `/metrics` reads them.)

use crate::tenants::space::Space;
use crate::webhooks::DeliveryStatus;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use hookrelay_shared::db::{DbPool, bounded, checkout};
use hookrelay_shared::schema::{deliveries, webhooks};

/// Deliveries of webhooks received since `since`, counted by status, in `space`. Every
/// status is listed, with 0 when none.
pub async fn deliveries_since(
    db: &DbPool,
    space: Space,
    since: DateTime<Utc>,
) -> anyhow::Result<Vec<(DeliveryStatus, i64)>> {
    let mut conn = checkout(db).await?;
    let counted: Vec<(String, i64)> = bounded(
        "Failed to count recent deliveries",
        deliveries::table
            .inner_join(webhooks::table)
            .filter(webhooks::received_at.ge(since))
            .filter(space.condition(webhooks::tenant_id))
            .group_by(deliveries::status)
            .select((deliveries::status, diesel::dsl::count_star()))
            .load(&mut conn),
    )
    .await?;
    Ok([
        DeliveryStatus::Succeeded,
        DeliveryStatus::Retrying,
        DeliveryStatus::Pending,
        DeliveryStatus::Failed,
    ]
    .into_iter()
    .map(|status| {
        let n = counted
            .iter()
            .find(|(s, _)| s == status.as_str())
            .map_or(0, |(_, n)| *n);
        (status, n)
    })
    .collect())
}
