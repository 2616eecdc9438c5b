//! One transaction of the log writer: the statements that store a batch of records, and
//! how their errors tell a Postgres that cannot do the work now from one that refuses
//! the rows.
//!
//! The writer talks to Postgres through a connection of its own, in tokio-postgres
//! directly rather than through diesel, for one reason: diesel's errors drop the
//! SQLSTATE code, and the code is what sorts "retry in place" from "refused". Every
//! statement takes whole columns as arrays (`unnest`), so a batch is at most six
//! statements whatever its size, each prepared once per connection.

use std::collections::HashSet;

use hookrelay_shared::payload::Envelope;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Statement};
use uuid::Uuid;

use super::{DeliveryUpdate, Record};
use crate::health::{self, EventKind, HealthChange, OperationalEvent};

/// Stores webhooks; returns the ids that were not stored before.
const INSERT_WEBHOOKS: &str = "
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
const INSERT_DELIVERIES: &str = "
INSERT INTO deliveries (webhook_id, subscription_id, target_url, status, attempts,
                        last_status_code, error, next_retry_at, updated_at, received_at)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::int4[],
                     $6::int4[], $7::text[], $8::timestamptz[], $9::timestamptz[],
                     $10::timestamptz[])
ON CONFLICT DO NOTHING";

/// Stores attempt rows (a repeat, after a crash, does nothing).
const INSERT_ATTEMPTS: &str = r#"
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
const UPDATE_DELIVERIES: &str = "
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
  AND d.status IN ('pending', 'retrying')
RETURNING u.ord";

/// Applies a batch's `health::Tally`s to their subscriptions. The count is
/// `consecutive_failures + n` computed by the UPDATE itself, so concurrent writers lose
/// nothing; after a success in the batch it is the failures since. At `$5` (when above
/// 0) or on a 410 the subscription is disabled, stamped with this transaction's `now()`
/// so `RETURNING` can tell that it was this transaction that disabled it. A batch of
/// nothing but successes leaves a healthy subscription alone when it was written less than
/// a second ago.
const UPDATE_HEALTH: &str = "
UPDATE subscriptions s SET
    (consecutive_failures, last_success_at, last_failure_at, is_active, disabled_reason,
     disabled_at) = (
        SELECT n.total,
               CASE WHEN c.succeeded THEN now() ELSE s.last_success_at END,
               CASE WHEN c.failures > 0 THEN now() ELSE s.last_failure_at END,
               s.is_active AND NOT n.disable,
               CASE WHEN s.is_active AND n.disable
                    THEN CASE WHEN c.gone THEN $6 ELSE $5::int4::text || $7 END
                    ELSE s.disabled_reason END,
               CASE WHEN s.is_active AND n.disable THEN now() ELSE s.disabled_at END
        FROM (SELECT t.total, c.gone OR ($5 > 0 AND t.total >= $5) AS disable
              FROM (SELECT CASE WHEN c.succeeded THEN c.failures
                                ELSE s.consecutive_failures + c.failures END AS total) t) n)
FROM unnest($1::uuid[], $2::bool[], $3::int4[], $4::bool[])
    AS c(subscription_id, succeeded, failures, gone)
WHERE s.id = c.subscription_id
  -- A healthy subscription's row is rewritten at most once a second (the write, not the
  -- look-up, is what costs): its last_success_at may lag by up to that.
  AND NOT (c.failures = 0 AND s.consecutive_failures = 0
           AND COALESCE(s.last_success_at > now() - interval '1 second', false))
RETURNING s.id, s.tenant_id, s.target_url, s.consecutive_failures,
          s.disabled_at IS NOT DISTINCT FROM now() AS disabled_now, s.disabled_reason";

/// Stores operational events for the outbox drainer (a repeat does nothing).
const INSERT_OUTBOX: &str = "
INSERT INTO outbox (id, idempotency_key, tenant_id, event_type, payload, skip_subscription,
                    created_at)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::bytea[], $6::uuid[],
                     $7::timestamptz[])
ON CONFLICT (idempotency_key) DO NOTHING";

/// Why a write did not commit.
#[derive(Debug)]
pub(super) enum WriteError {
    /// Postgres cannot do the work now — unreachable, a broken or hung connection, or an
    /// error of its own state rather than of the rows (out of disk or memory, a statement
    /// or lock timeout, a deadlock, a failover to a read-only server, missing
    /// privileges): the same rows go in once it can, so the writer retries them in place.
    Unavailable(anyhow::Error),
    /// Postgres refused the rows themselves (a data error such as text it cannot store,
    /// a constraint): the same rows never go in.
    Refused(String),
}

impl WriteError {
    /// Sorts a Postgres error by its SQLSTATE class; no code means the connection failed.
    pub(super) fn classify(e: tokio_postgres::Error) -> Self {
        let Some(code) = e.code() else {
            return Self::Unavailable(anyhow::Error::new(e).context("Postgres connection failed"));
        };
        if is_unavailable(code) {
            Self::Unavailable(anyhow::Error::new(e).context("Postgres cannot write now"))
        } else {
            Self::Refused(e.as_db_error().map_or_else(
                || e.to_string(),
                |db| format!("{} (SQLSTATE {})", db.message(), db.code().code()),
            ))
        }
    }
}

/// Whether an error with this SQLSTATE is about Postgres's state rather than the rows
/// (<https://www.postgresql.org/docs/current/errcodes-appendix.html>).
fn is_unavailable(code: &SqlState) -> bool {
    match code.code().get(..2) {
        // connection exception, invalid transaction state (a read-only replica),
        // transaction rollback (deadlock, serialization), insufficient resources (disk
        // full, out of memory), object not in prerequisite state (lock timeout), operator
        // intervention (query canceled, statement timeout, shutdown), system error,
        // config file error, internal error
        Some("08" | "25" | "40" | "53" | "55" | "57" | "58" | "F0" | "XX") => true,
        // syntax error or access rule violation: only missing privileges can be granted
        // back; the rest is a bug that retrying cannot fix
        Some("42") => *code == SqlState::INSUFFICIENT_PRIVILEGE,
        _ => false,
    }
}

/// The writer's connection and its prepared statements.
pub(super) struct WriterConnection {
    client: Client,
    statements: [Statement; 6],
    /// `AUTO_DISABLE_AFTER`.
    auto_disable_after: u32,
}

/// What a committed batch changed beyond its own rows.
#[derive(Debug, Default)]
pub(super) struct Written {
    /// Webhooks that were not stored before.
    pub stored: HashSet<Uuid>,
    /// Subscriptions this batch disabled (caches must learn of it), with the reason.
    pub disabled: Vec<(Uuid, String)>,
    /// Operational events written to the outbox.
    pub events: Vec<EventKind>,
}

impl WriterConnection {
    /// Connects (with `db::pg_config`'s timeouts and keepalives) and prepares the
    /// statements.
    pub(super) async fn open(
        database_url: &str,
        auto_disable_after: u32,
    ) -> Result<Self, WriteError> {
        let client = hookrelay_shared::db::connect_raw(database_url)
            .await
            .map_err(WriteError::classify)?;
        // A generic plan cannot see how many rows the arrays hold, and after five
        // executions Postgres may switch to one that scans `deliveries` for each UPDATE
        // (measured: ingest-to-arrival p50 5 ms → 17 ms at 1,000 webhooks/s).
        client
            .batch_execute("SET plan_cache_mode = force_custom_plan")
            .await
            .map_err(WriteError::classify)?;
        let mut statements = Vec::with_capacity(6);
        for sql in [
            INSERT_WEBHOOKS,
            INSERT_DELIVERIES,
            INSERT_ATTEMPTS,
            UPDATE_DELIVERIES,
            UPDATE_HEALTH,
            INSERT_OUTBOX,
        ] {
            statements.push(client.prepare(sql).await.map_err(WriteError::classify)?);
        }
        let statements = statements
            .try_into()
            .map_err(|_| WriteError::Unavailable(anyhow::anyhow!("statements not prepared")))?;
        Ok(Self {
            client,
            statements,
            auto_disable_after,
        })
    }

    /// Whether the connection broke (it must be replaced).
    pub(super) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Commits one batch.
    pub(super) async fn write(&mut self, batch: &[Record]) -> Result<Written, WriteError> {
        let [
            insert_webhooks,
            insert_deliveries,
            insert_attempts,
            update_deliveries,
            update_health,
            insert_outbox,
        ] = &self.statements;
        let mut written = Written::default();
        let columns = Columns::of(batch);
        let tx = self
            .client
            .transaction()
            .await
            .map_err(WriteError::classify)?;
        if !columns.webhooks.id.is_empty() {
            let w = &columns.webhooks;
            let rows = tx
                .query(
                    insert_webhooks,
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
                .await
                .map_err(WriteError::classify)?;
            for row in rows {
                written
                    .stored
                    .insert(row.try_get::<_, Uuid>(0).map_err(WriteError::classify)?);
            }
        }
        if !columns.deliveries.webhook_id.is_empty() {
            let d = &columns.deliveries;
            tx.execute(
                insert_deliveries,
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
            .await
            .map_err(WriteError::classify)?;
        }
        if !columns.attempts.id.is_empty() {
            let a = &columns.attempts;
            tx.execute(
                insert_attempts,
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
            .await
            .map_err(WriteError::classify)?;
        }
        if !columns.updates.is_empty() {
            let u = UpdateColumns::of(&columns.updates);
            let changed = tx
                .query(
                    update_deliveries,
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
                .await
                .map_err(WriteError::classify)?;
            let mut positions = changed
                .iter()
                .map(|row| row.try_get::<_, i64>(0))
                .collect::<Result<Vec<_>, _>>()
                .map_err(WriteError::classify)?;
            positions.sort_unstable();
            let finished = positions
                .into_iter()
                .filter_map(|ord| columns.updates.get(usize::try_from(ord - 1).ok()?))
                .copied()
                .filter(|update| update.attempted && update.status.is_finished());
            let tallies = health::tally(finished);
            if !tallies.is_empty() {
                let outbox = apply_health(
                    &tx,
                    update_health,
                    self.auto_disable_after,
                    tallies,
                    &mut written,
                )
                .await?;
                if !outbox.id.is_empty() {
                    tx.execute(
                        insert_outbox,
                        &[
                            &outbox.id,
                            &outbox.idempotency_key,
                            &outbox.tenant_id,
                            &outbox.event_type,
                            &outbox.payload,
                            &outbox.skip_subscription,
                            &outbox.created_at,
                        ],
                    )
                    .await
                    .map_err(WriteError::classify)?;
                }
            }
        }
        tx.commit().await.map_err(WriteError::classify)?;
        Ok(written)
    }
}

/// Applies `tallies` (one statement whatever their number) and returns the operational
/// events they raise at `auto_disable_after`, noting disables and events in `written`.
async fn apply_health(
    tx: &tokio_postgres::Transaction<'_>,
    statement: &Statement,
    auto_disable_after: u32,
    tallies: Vec<health::Tally>,
    written: &mut Written,
) -> Result<OutboxColumns, WriteError> {
    let ids: Vec<Uuid> = tallies.iter().map(|t| t.subscription_id).collect();
    let succeeded: Vec<bool> = tallies.iter().map(|t| t.succeeded).collect();
    let failures: Vec<i32> = tallies.iter().map(health::Tally::failures).collect();
    let gone: Vec<bool> = tallies.iter().map(|t| t.gone).collect();
    let threshold = i32::try_from(auto_disable_after).unwrap_or(i32::MAX);
    let rows = tx
        .query(
            statement,
            &[
                &ids,
                &succeeded,
                &failures,
                &gone,
                &threshold,
                &health::GONE_REASON,
                &health::FAILURES_REASON_SUFFIX,
            ],
        )
        .await
        .map_err(WriteError::classify)?;
    let mut tallies: std::collections::HashMap<Uuid, health::Tally> = tallies
        .into_iter()
        .map(|t| (t.subscription_id, t))
        .collect();
    let now = hookrelay_shared::time::now();
    let mut outbox = OutboxColumns::default();
    for row in rows {
        let id: Uuid = row.try_get(0).map_err(WriteError::classify)?;
        // A subscription deleted since its deliveries were fanned out returns no row.
        let Some(tally) = tallies.remove(&id) else {
            continue;
        };
        let change = health_change(&row, tally).map_err(WriteError::classify)?;
        if change.disabled_now {
            written.disabled.push((
                change.subscription_id,
                change.disabled_reason.clone().unwrap_or_default(),
            ));
        }
        for event in health::events(&change, auto_disable_after, now) {
            outbox.push(&event, now);
            written.events.push(event.kind);
        }
    }
    Ok(outbox)
}

/// A batch's rows, column by column, borrowing from the records.
#[derive(Default)]
struct Columns<'a> {
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

impl<'a> Columns<'a> {
    fn of(batch: &'a [Record]) -> Self {
        let mut c = Self::default();
        for record in batch {
            match record {
                Record::Webhook {
                    webhook,
                    deliveries,
                    ..
                } => {
                    let w = &mut c.webhooks;
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
                    let d = &mut c.deliveries;
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
                Record::Update {
                    attempt, update, ..
                } => {
                    if let Some(row) = attempt {
                        let a = &mut c.attempts;
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
                    c.updates.push(update);
                }
            }
        }
        c
    }
}

/// One row of `UPDATE_HEALTH`'s `RETURNING`, with the tally that made it.
fn health_change(
    row: &tokio_postgres::Row,
    tally: health::Tally,
) -> Result<HealthChange, tokio_postgres::Error> {
    Ok(HealthChange {
        subscription_id: tally.subscription_id,
        tenant_id: row.try_get(1)?,
        target_url: row.try_get(2)?,
        consecutive_failures: row.try_get(3)?,
        succeeded: tally.succeeded,
        failed_webhooks: tally.failed_webhooks,
        last_error: tally.last_error,
        disabled_now: row.try_get(4)?,
        disabled_reason: row.try_get(5)?,
    })
}

/// Outbox rows, column by column: each event once per space it goes to.
#[derive(Default)]
struct OutboxColumns {
    id: Vec<Uuid>,
    idempotency_key: Vec<String>,
    tenant_id: Vec<Option<Uuid>>,
    event_type: Vec<&'static str>,
    payload: Vec<Vec<u8>>,
    skip_subscription: Vec<Option<Uuid>>,
    created_at: Vec<chrono::DateTime<chrono::Utc>>,
}

impl OutboxColumns {
    fn push(&mut self, event: &OperationalEvent, now: chrono::DateTime<chrono::Utc>) {
        let payload = event.body.to_string().into_bytes();
        for space in health::spaces(event.tenant_id) {
            self.id.push(Uuid::now_v7());
            // The ingest's idempotency keys are per space already; the outbox's are not.
            self.idempotency_key.push(match space {
                Some(tenant) => format!("{}:{tenant}", event.idempotency_key),
                None => event.idempotency_key.clone(),
            });
            self.tenant_id.push(space);
            self.event_type.push(event.kind.event_type());
            self.payload.push(payload.clone());
            self.skip_subscription.push(Some(event.subscription_id));
            self.created_at.push(now);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstate_classes_sort_into_retry_in_place_or_refused() {
        let unavailable = [
            "53100", "53200", "57014", "55P03", "40P01", "40001", "42501", "08006", "25006",
            "57P01", "XX000",
        ];
        for code in unavailable {
            assert!(is_unavailable(&SqlState::from_code(code)), "{code}");
        }
        for code in ["22021", "22P02", "23505", "23514", "42P01", "42601"] {
            assert!(!is_unavailable(&SqlState::from_code(code)), "{code}");
        }
    }
}
