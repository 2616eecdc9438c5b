//! How a worker records what it did, in one transaction per batch: the webhooks it stored
//! with their deliveries, the attempts it made and the deliveries' new states. The
//! statements are here, beside the rows they write; the worker's recorder
//! (`worker/src/recorder`) batches, prepares them once per connection and commits. The same
//! transaction then applies subscription health (`subscriptions::health`) and writes the
//! operational events it raises (`outbox`).

use std::collections::HashSet;

use hookrelay_shared::payload::Envelope;
use tokio_postgres::{Statement, Transaction};
use uuid::Uuid;

use super::delivery::{DeliveryStatus, DeliveryUpdate};
use super::{Attempt, Delivery, NewWebhook};

/// Stores webhooks; returns the ids that were not stored before.
pub const INSERT_WEBHOOKS: &str = "
INSERT INTO webhooks (id, event_type, subscription_id, payload, received_at, tenant_id,
                      skip_subscription, no_subscribers, envelope)
SELECT id, event_type, subscription_id, payload, received_at, tenant_id, skip_subscription,
       no_subscribers, envelope::jsonb
FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::bytea[], $5::timestamptz[],
            $6::uuid[], $7::uuid[], $8::bool[], $9::text[])
     AS w (id, event_type, subscription_id, payload, received_at, tenant_id,
           skip_subscription, no_subscribers, envelope)
ON CONFLICT DO NOTHING
RETURNING id";

/// Stores the delivery rows of new webhooks (a repeat does nothing).
pub const INSERT_DELIVERIES: &str = "
INSERT INTO deliveries (webhook_id, subscription_id, target_url, status, attempts,
                        last_status_code, error, next_retry_at, updated_at, received_at)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::int4[],
                     $6::int4[], $7::text[], $8::timestamptz[], $9::timestamptz[],
                     $10::timestamptz[])
ON CONFLICT DO NOTHING";

/// Stores attempt rows (a repeat, after a crash, does nothing).
pub const INSERT_ATTEMPTS: &str = r#"
INSERT INTO attempts (id, webhook_id, subscription_id, target_url, "timestamp",
                      attempt_number, outcome, status_code, error, duration_ms,
                      response_body, next_retry_at)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::timestamptz[],
                     $6::int4[], $7::text[], $8::int4[], $9::text[], $10::int8[],
                     $11::text[], $12::timestamptz[])
ON CONFLICT DO NOTHING"#;

/// Sets delivery state from a batch of changes, never touching a delivery that has
/// already finished (DELETE /subscriptions ends them concurrently). `target_url` follows
/// the attempts: a PATCHed URL shows once an attempt went there. Returns the position
/// (from 1) in the batch of each change it made, so only those count towards health.
pub const UPDATE_DELIVERIES: &str = hookrelay_shared::const_concat!(
    "
UPDATE deliveries d SET
    status = u.status,
    attempts = GREATEST(d.attempts, u.attempts),
    last_status_code = CASE WHEN u.attempted THEN u.code ELSE d.last_status_code END,
    error = u.error,
    next_retry_at = u.next_retry_at,
    target_url = COALESCE(u.target_url, d.target_url),
    updated_at = now()
FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::int4[], $5::bool[], $6::int4[], $7::text[],
            $8::timestamptz[], $9::text[]) WITH ORDINALITY
    AS u(webhook_id, subscription_id, status, attempts, attempted, code, error, next_retry_at,
         target_url, ord)
WHERE d.webhook_id = u.webhook_id
  AND d.subscription_id = u.subscription_id
  AND d.status IN ",
    DeliveryStatus::UNFINISHED_SQL,
    "
RETURNING u.ord"
);

/// A batch's rows, column by column, borrowing from the records they come from: every
/// statement takes whole columns as arrays (`unnest`), so a batch is one statement per
/// table whatever its size.
#[derive(Default)]
pub struct Batch<'a> {
    webhooks: WebhookColumns<'a>,
    deliveries: DeliveryColumns<'a>,
    attempts: AttemptColumns<'a>,
    updates: Vec<&'a DeliveryUpdate>,
}

#[derive(Default)]
struct WebhookColumns<'a> {
    id: Vec<Uuid>,
    event_type: Vec<Option<&'a str>>,
    subscription_id: Vec<Option<Uuid>>,
    payload: Vec<&'a [u8]>,
    received_at: Vec<chrono::DateTime<chrono::Utc>>,
    tenant_id: Vec<Option<Uuid>>,
    skip_subscription: Vec<Option<Uuid>>,
    /// Stored with no delivery at all (`GET /webhooks?status=no_subscribers` walks these).
    no_subscribers: Vec<bool>,
    /// JSON text, cast to jsonb in the statement.
    envelope: Vec<Option<String>>,
}

#[derive(Default)]
struct DeliveryColumns<'a> {
    webhook_id: Vec<Uuid>,
    subscription_id: Vec<Uuid>,
    target_url: Vec<&'a str>,
    status: Vec<&'a str>,
    attempts: Vec<i32>,
    last_status_code: Vec<Option<i32>>,
    error: Vec<Option<&'a str>>,
    next_retry_at: Vec<Option<chrono::DateTime<chrono::Utc>>>,
    updated_at: Vec<chrono::DateTime<chrono::Utc>>,
    received_at: Vec<chrono::DateTime<chrono::Utc>>,
}

#[derive(Default)]
struct AttemptColumns<'a> {
    id: Vec<Uuid>,
    webhook_id: Vec<Uuid>,
    subscription_id: Vec<Uuid>,
    target_url: Vec<&'a str>,
    timestamp: Vec<chrono::DateTime<chrono::Utc>>,
    attempt_number: Vec<i32>,
    outcome: Vec<&'a str>,
    status_code: Vec<Option<i32>>,
    error: Vec<Option<&'a str>>,
    duration_ms: Vec<i64>,
    response_body: Vec<Option<&'a str>>,
    next_retry_at: Vec<Option<chrono::DateTime<chrono::Utc>>>,
}

impl<'a> Batch<'a> {
    /// A webhook as a worker first stores it, with its deliveries.
    pub fn push_webhook(&mut self, webhook: &'a NewWebhook, deliveries: &'a [Delivery]) {
        let w = &mut self.webhooks;
        w.id.push(webhook.id);
        w.event_type.push(webhook.event_type.as_deref());
        w.subscription_id.push(webhook.subscription_id);
        w.payload.push(webhook.payload.0.as_ref());
        w.received_at.push(webhook.received_at);
        w.tenant_id.push(webhook.tenant_id);
        w.skip_subscription.push(webhook.skip_subscription);
        w.no_subscribers.push(deliveries.is_empty());
        w.envelope
            .push(webhook.envelope.as_ref().map(Envelope::to_json));
        let d = &mut self.deliveries;
        for row in deliveries {
            d.webhook_id.push(row.webhook_id);
            d.subscription_id.push(row.subscription_id);
            d.target_url.push(&row.target_url);
            d.status.push(&row.status);
            d.attempts.push(row.attempts);
            d.last_status_code.push(row.last_status_code);
            d.error.push(row.error.as_deref());
            d.next_retry_at.push(row.next_retry_at);
            d.updated_at.push(row.updated_at);
            d.received_at.push(row.received_at);
        }
    }

    /// A delivery's change, with the attempt that made it (if one did).
    pub fn push_update(&mut self, attempt: Option<&'a Attempt>, update: &'a DeliveryUpdate) {
        if let Some(row) = attempt {
            let a = &mut self.attempts;
            a.id.push(row.id);
            a.webhook_id.push(row.webhook_id);
            a.subscription_id.push(row.subscription_id);
            a.target_url.push(&row.target_url);
            a.timestamp.push(row.timestamp);
            a.attempt_number.push(row.attempt_number);
            a.outcome.push(&row.outcome);
            a.status_code.push(row.status_code);
            a.error.push(row.error.as_deref());
            a.duration_ms.push(row.duration_ms);
            a.response_body.push(row.response_body.as_deref());
            a.next_retry_at.push(row.next_retry_at);
        }
        self.updates.push(update);
    }

    /// [`INSERT_WEBHOOKS`]: answers the webhooks that were not stored before.
    pub async fn insert_webhooks(
        &self,
        tx: &Transaction<'_>,
        statement: &Statement,
    ) -> Result<HashSet<Uuid>, tokio_postgres::Error> {
        let w = &self.webhooks;
        if w.id.is_empty() {
            return Ok(HashSet::new());
        }
        let rows = tx
            .query(
                statement,
                &[
                    &w.id,
                    &w.event_type,
                    &w.subscription_id,
                    &w.payload,
                    &w.received_at,
                    &w.tenant_id,
                    &w.skip_subscription,
                    &w.no_subscribers,
                    &w.envelope,
                ],
            )
            .await?;
        rows.iter().map(|row| row.try_get::<_, Uuid>(0)).collect()
    }

    /// [`INSERT_DELIVERIES`]: the delivery rows of new webhooks.
    pub async fn insert_deliveries(
        &self,
        tx: &Transaction<'_>,
        statement: &Statement,
    ) -> Result<(), tokio_postgres::Error> {
        let d = &self.deliveries;
        if d.webhook_id.is_empty() {
            return Ok(());
        }
        tx.execute(
            statement,
            &[
                &d.webhook_id,
                &d.subscription_id,
                &d.target_url,
                &d.status,
                &d.attempts,
                &d.last_status_code,
                &d.error,
                &d.next_retry_at,
                &d.updated_at,
                &d.received_at,
            ],
        )
        .await?;
        Ok(())
    }

    /// [`INSERT_ATTEMPTS`]: the attempts made.
    pub async fn insert_attempts(
        &self,
        tx: &Transaction<'_>,
        statement: &Statement,
    ) -> Result<(), tokio_postgres::Error> {
        let a = &self.attempts;
        if a.id.is_empty() {
            return Ok(());
        }
        tx.execute(
            statement,
            &[
                &a.id,
                &a.webhook_id,
                &a.subscription_id,
                &a.target_url,
                &a.timestamp,
                &a.attempt_number,
                &a.outcome,
                &a.status_code,
                &a.error,
                &a.duration_ms,
                &a.response_body,
                &a.next_retry_at,
            ],
        )
        .await?;
        Ok(())
    }

    /// [`UPDATE_DELIVERIES`]: answers the changes it made, in batch order (one to a
    /// delivery that had already finished makes none).
    pub async fn update_deliveries(
        &self,
        tx: &Transaction<'_>,
        statement: &Statement,
    ) -> Result<Vec<&'a DeliveryUpdate>, tokio_postgres::Error> {
        if self.updates.is_empty() {
            return Ok(Vec::new());
        }
        let u = UpdateColumns::of(&self.updates);
        let changed = tx
            .query(
                statement,
                &[
                    &u.webhook_id,
                    &u.subscription_id,
                    &u.status,
                    &u.attempts,
                    &u.attempted,
                    &u.code,
                    &u.error,
                    &u.next_retry_at,
                    &u.target_url,
                ],
            )
            .await?;
        let mut positions = changed
            .iter()
            .map(|row| row.try_get::<_, i64>(0))
            .collect::<Result<Vec<_>, _>>()?;
        positions.sort_unstable();
        Ok(positions
            .into_iter()
            .filter_map(|ord| self.updates.get(usize::try_from(ord - 1).ok()?))
            .copied()
            .collect())
    }
}

/// The delivery changes of a batch, column by column.
struct UpdateColumns<'a> {
    webhook_id: Vec<Uuid>,
    subscription_id: Vec<Uuid>,
    status: Vec<&'static str>,
    attempts: Vec<i32>,
    attempted: Vec<bool>,
    code: Vec<Option<i32>>,
    error: Vec<Option<&'a str>>,
    next_retry_at: Vec<Option<chrono::DateTime<chrono::Utc>>>,
    target_url: Vec<Option<&'a str>>,
}

impl<'a> UpdateColumns<'a> {
    fn of(updates: &[&'a DeliveryUpdate]) -> Self {
        Self {
            webhook_id: updates.iter().map(|u| u.webhook_id).collect(),
            subscription_id: updates.iter().map(|u| u.subscription_id).collect(),
            status: updates.iter().map(|u| u.status.as_str()).collect(),
            attempts: updates.iter().map(|u| u.attempts).collect(),
            attempted: updates.iter().map(|u| u.attempted).collect(),
            code: updates.iter().map(|u| u.last_status_code).collect(),
            error: updates.iter().map(|u| u.error.as_deref()).collect(),
            next_retry_at: updates.iter().map(|u| u.next_retry_at).collect(),
            target_url: updates.iter().map(|u| u.target_url.as_deref()).collect(),
        }
    }
}
