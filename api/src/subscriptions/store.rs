//! Subscription rows in Postgres. Every change is followed by a cache invalidation (see
//! `hookrelay_shared::cache`), done by the handler once the change is committed.

use anyhow::Context as _;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use hookrelay_shared::db::{DbPool, bounded};
use hookrelay_shared::models::{
    Attempt, DeliveryStatus, NewSubscription, Subscription, SubscriptionChanges,
};
use hookrelay_shared::schema::{attempts, deliveries, subscriptions};
use hookrelay_shared::time;
use uuid::Uuid;

use super::input::NewSubscriptionInput;

/// The error of a delivery ended by deleting its subscription (CONTRACT §3).
pub const DELETED_ERROR: &str = "subscription deleted";

async fn conn(
    db: &DbPool,
) -> anyhow::Result<
    diesel_async::pooled_connection::deadpool::Object<diesel_async::AsyncPgConnection>,
> {
    db.get().await.context("no Postgres connection")
}

pub async fn create(db: &DbPool, input: NewSubscriptionInput) -> anyhow::Result<Subscription> {
    let now = time::now();
    let row = NewSubscription {
        id: Uuid::new_v4(),
        target_url: input.target_url,
        secret: input.secret,
        events: input.events,
        description: input.description,
        headers: input.headers,
        is_active: input.is_active,
        created_at: now,
        updated_at: now,
    };
    let mut conn = conn(db).await?;
    bounded(
        "Failed to insert a subscription",
        diesel::insert_into(subscriptions::table)
            .values(&row)
            .returning(Subscription::as_returning())
            .get_result(&mut conn),
    )
    .await
}

/// Oldest first.
pub async fn list(db: &DbPool, skip: i64, limit: i64) -> anyhow::Result<Vec<Subscription>> {
    let mut conn = conn(db).await?;
    bounded(
        "Failed to list subscriptions",
        subscriptions::table
            .order((subscriptions::created_at.asc(), subscriptions::id.asc()))
            .offset(skip)
            .limit(limit)
            .select(Subscription::as_select())
            .load(&mut conn),
    )
    .await
}

pub async fn get(db: &DbPool, id: Uuid) -> anyhow::Result<Option<Subscription>> {
    Subscription::find(db, id).await
}

/// Applies the changes present; `None` when there is no such subscription.
pub async fn update(
    db: &DbPool,
    id: Uuid,
    mut changes: SubscriptionChanges,
) -> anyhow::Result<Option<Subscription>> {
    changes.updated_at = Some(time::now());
    let mut conn = conn(db).await?;
    bounded("Failed to update a subscription", async {
        diesel::update(subscriptions::table.find(id))
            .set(&changes)
            .returning(Subscription::as_returning())
            .get_result(&mut conn)
            .await
            .optional()
    })
    .await
}

/// Deletes the subscription and, in the same transaction, ends its unfinished deliveries
/// as `failed` / `subscription deleted`. `false` when there was no such subscription.
pub async fn delete(db: &DbPool, id: Uuid) -> anyhow::Result<bool> {
    let mut conn = conn(db).await?;
    let deleting = conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
        let deleted = diesel::delete(subscriptions::table.find(id))
            .execute(conn)
            .await?;
        if deleted > 0 {
            diesel::update(
                deliveries::table
                    .filter(deliveries::subscription_id.eq(id))
                    .filter(deliveries::status.eq_any(DeliveryStatus::UNFINISHED)),
            )
            .set((
                deliveries::status.eq(DeliveryStatus::Failed.as_str()),
                deliveries::error.eq(DELETED_ERROR),
                deliveries::next_retry_at.eq(None::<chrono::DateTime<chrono::Utc>>),
                deliveries::updated_at.eq(time::now()),
            ))
            .execute(conn)
            .await?;
        }
        Ok(deleted > 0)
    });
    bounded("Failed to delete a subscription", deleting).await
}

/// A subscription's attempts, newest first (an unknown id has none).
pub async fn attempts(db: &DbPool, id: Uuid, limit: i64) -> anyhow::Result<Vec<Attempt>> {
    let mut conn = conn(db).await?;
    bounded(
        "Failed to list attempts",
        attempts::table
            .filter(attempts::subscription_id.eq(id))
            .order((attempts::timestamp.desc(), attempts::attempt_number.desc()))
            .limit(limit)
            .select(Attempt::as_select())
            .load(&mut conn),
    )
    .await
}
