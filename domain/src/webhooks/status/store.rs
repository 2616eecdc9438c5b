//! The Postgres side of status: a stored webhook with its deliveries and attempt count,
//! and its newest attempts — two queries, sent together on one connection (diesel-async
//! pipelines them), so one round trip whatever the number of deliveries.

use crate::webhooks::Attempt;
use crate::webhooks::Delivery;
use anyhow::Context as _;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use hookrelay_shared::db::{DbPool, bounded};
use hookrelay_shared::schema::{attempts, deliveries, webhooks};
use uuid::Uuid;

use super::view::{self, RECENT_ATTEMPTS, StoredWebhook, WebhookStatus};

type WebhookColumns = (
    webhooks::id,
    webhooks::event_type,
    webhooks::subscription_id,
    webhooks::received_at,
    webhooks::tenant_id,
);

/// Everything but the payload.
const WEBHOOK_COLUMNS: WebhookColumns = (
    webhooks::id,
    webhooks::event_type,
    webhooks::subscription_id,
    webhooks::received_at,
    webhooks::tenant_id,
);

/// The stored webhook's status, or `None` when no worker has stored it (or it was purged).
pub async fn stored(db: &DbPool, webhook_id: Uuid) -> anyhow::Result<Option<WebhookStatus>> {
    let pooled = db.get().await.context("no Postgres connection")?;
    // A shared reference is what lets diesel-async pipeline the two queries.
    let conn: &diesel_async::AsyncPgConnection = &pooled;
    // One row per delivery (or one row with no delivery), each carrying the webhook and
    // the count of all its attempts.
    let total_attempts = attempts::table
        .filter(attempts::webhook_id.eq(webhook_id))
        .count()
        .single_value();
    let rows = webhooks::table
        .left_join(deliveries::table)
        .filter(webhooks::id.eq(webhook_id))
        .select((
            WEBHOOK_COLUMNS,
            total_attempts,
            Option::<Delivery>::as_select(),
        ))
        .load::<(
            (
                Uuid,
                Option<String>,
                Option<Uuid>,
                chrono::DateTime<chrono::Utc>,
                Option<Uuid>,
            ),
            Option<i64>,
            Option<Delivery>,
        )>(&mut &*conn);
    let recent = attempts::table
        .filter(attempts::webhook_id.eq(webhook_id))
        .order((
            attempts::timestamp.desc(),
            attempts::attempt_number.desc(),
            attempts::id.desc(),
        ))
        .limit(RECENT_ATTEMPTS)
        .select(Attempt::as_select())
        .load::<Attempt>(&mut &*conn);
    let (rows, recent) = bounded("Failed to read a webhook's status", async {
        futures::try_join!(rows, recent)
    })
    .await?;

    let Some(((id, event_type, subscription_id, received_at, tenant_id), total, _)) =
        <[_]>::first(&rows).cloned()
    else {
        return Ok(None);
    };
    let webhook = StoredWebhook {
        id,
        event_type,
        subscription_id,
        received_at,
        tenant_id,
    };
    let deliveries = rows
        .into_iter()
        .filter_map(|(_, _, delivery)| delivery)
        .collect();
    Ok(Some(view::from_stored(
        webhook,
        deliveries,
        recent,
        total.unwrap_or(0),
    )))
}
