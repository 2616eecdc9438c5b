//! Subscription health, the whole rule in one place: what a batch of finished deliveries
//! did to each subscription's `consecutive_failures` ([`tally`], before the write), the
//! statement that counts it and disables at the threshold ([`apply`], inside the worker's
//! batch transaction), the operational events that follow ([`events`], from what the
//! statement returned), and what re-enabling through the api resets ([`restart`]).
//!
//! The counting itself is one atomic `UPDATE subscriptions … RETURNING` in the same
//! transaction as the deliveries' final states (so any number of workers finishing
//! deliveries of one subscription at once lose no update). Only deliveries that ended
//! after an attempt count: one ended because its subscription was deleted or inactive
//! says nothing about the receiver. Within a batch, a success resets the count and the
//! failures after the last success add to it.
//!
//! Events: `hookrelay.subscription.failing` at the 3rd, 5th and `AUTO_DISABLE_AFTER`th
//! consecutive failure, `hookrelay.subscription.disabled` on every automatic disable.
//! Each is tied to the delivery that crossed the threshold through its idempotency key,
//! and written to the outbox in the same transaction (`outbox` moves it into the work
//! stream), so it is raised exactly once per crossing whatever crashes or how many
//! workers. It goes to the subscription's own space and, for a tenant's subscription, to
//! the default space too (the operator's), and never to the subscription it is about.

use std::collections::BTreeMap;

use crate::webhooks::DeliveryStatus;
use crate::webhooks::event_types::OwnEvent;
use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::subscriptions::SubscriptionChanges;
use crate::webhooks::delivery::DeliveryUpdate;

/// Applies a batch's [`Tally`]s to their subscriptions (`$1`–`$4`, by column). The count is
/// `consecutive_failures + n` computed by the UPDATE itself, so concurrent writers lose
/// nothing; after a success in the batch it is the failures since. At `$5` (when above
/// 0) or on a 410 the subscription is disabled, stamped with this transaction's `now()`
/// so `RETURNING` can tell that it was this transaction that disabled it. A batch of
/// nothing but successes leaves a healthy subscription alone when it was written less than
/// a second ago.
pub const UPDATE_HEALTH: &str = "
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
RETURNING s.id, s.tenant_id, COALESCE(s.target_url, s.destination::text), s.consecutive_failures,
          s.disabled_at IS NOT DISTINCT FROM now() AS disabled_now, s.disabled_reason";

/// The event types the service raises about subscriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthEvent {
    Failing,
    Disabled,
}

impl HealthEvent {
    pub const fn event_type(self) -> &'static str {
        match self {
            Self::Failing => OwnEvent::SubscriptionFailing.as_str(),
            Self::Disabled => OwnEvent::SubscriptionDisabled.as_str(),
        }
    }
}

/// The consecutive failures at which a `failing` event is raised, besides the threshold.
const FAILING_AT: [i32; 2] = [3, 5];

/// Why the service disabled a subscription (`disabled_reason`).
pub const GONE_REASON: &str = "receiver answered 410 Gone";

/// `disabled_reason` after `AUTO_DISABLE_AFTER` failed deliveries in a row: that number,
/// then this.
pub const FAILURES_REASON_SUFFIX: &str = " consecutive failed deliveries";

/// What one batch's finished deliveries say about one subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    pub subscription_id: Uuid,
    /// Whether a delivery succeeded (the count restarts from 0 there).
    pub succeeded: bool,
    /// The failed deliveries after the last success, in order (their webhooks).
    pub failed_webhooks: Vec<Uuid>,
    /// Whether one of those failures was a 410 Gone.
    pub gone: bool,
    /// The error of the batch's last failed delivery.
    pub last_error: Option<String>,
}

impl Tally {
    /// How many failures add to (or, after a success, replace) the stored count.
    pub fn failures(&self) -> i32 {
        i32::try_from(self.failed_webhooks.len()).unwrap_or(i32::MAX)
    }
}

/// Sums up `finished` — the deliveries a batch ended after an attempt, in the batch's
/// order — per subscription, in subscription order (so concurrent writers lock the
/// subscriptions' rows in one order).
pub fn tally<'a>(finished: impl IntoIterator<Item = &'a DeliveryUpdate>) -> Vec<Tally> {
    let mut tallies: BTreeMap<Uuid, Tally> = BTreeMap::new();
    for update in finished {
        let tally = tallies
            .entry(update.subscription_id)
            .or_insert_with(|| Tally {
                subscription_id: update.subscription_id,
                succeeded: false,
                failed_webhooks: Vec::new(),
                gone: false,
                last_error: None,
            });
        match update.status {
            DeliveryStatus::Succeeded => {
                tally.succeeded = true;
                tally.failed_webhooks.clear();
                tally.gone = false;
            }
            DeliveryStatus::Failed => {
                tally.failed_webhooks.push(update.webhook_id);
                tally.gone |= update.last_status_code == Some(410);
                tally.last_error.clone_from(&update.error);
            }
            DeliveryStatus::Pending | DeliveryStatus::Retrying => {}
        }
    }
    tallies.into_values().collect()
}

/// One subscription's row of the health statement's `RETURNING`, with its [`Tally`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthChange {
    pub subscription_id: Uuid,
    pub tenant_id: Option<Uuid>,
    /// Where its deliveries go: the URL, or its destination's locator.
    pub target_url: String,
    /// The count after this batch.
    pub consecutive_failures: i32,
    /// Whether a delivery of the batch succeeded (the count restarted from 0 there).
    pub succeeded: bool,
    /// The batch's failed deliveries after its last success, in order (their webhooks).
    pub failed_webhooks: Vec<Uuid>,
    pub last_error: Option<String>,
    /// Whether this batch's transaction made it inactive.
    pub disabled_now: bool,
    pub disabled_reason: Option<String>,
}

/// The health statement's third column as a locator: an HTTP subscription's URL, or the
/// JSON of its other destination.
fn locator(url_or_destination: String) -> String {
    serde_json::from_str::<crate::destinations::Destination>(&url_or_destination)
        .ok()
        .and_then(|d| d.locator())
        .unwrap_or(url_or_destination)
}

/// A webhook the service raises.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationalEvent {
    pub kind: HealthEvent,
    pub subscription_id: Uuid,
    pub tenant_id: Option<Uuid>,
    /// The same in every space it is raised in; the ingest dedups on it.
    pub idempotency_key: String,
    pub body: serde_json::Value,
}

/// The events `change` raises, with `threshold` = `AUTO_DISABLE_AFTER` (0: never).
pub fn events(change: &HealthChange, threshold: u32, now: DateTime<Utc>) -> Vec<OperationalEvent> {
    let new = change.consecutive_failures;
    let added = i32::try_from(change.failed_webhooks.len()).unwrap_or(i32::MAX);
    let old = if change.succeeded { 0 } else { new - added };
    let threshold = i32::try_from(threshold).unwrap_or(i32::MAX);
    let mut levels: Vec<i32> = FAILING_AT.to_vec();
    if threshold > 0 && !levels.contains(&threshold) {
        levels.push(threshold);
    }
    // The failed delivery that made the count reach `level`.
    let cause = |level: i32| {
        usize::try_from(level - old - 1)
            .ok()
            .and_then(|i| change.failed_webhooks.get(i))
            .or(change.failed_webhooks.last())
            .copied()
    };
    let event = |kind: HealthEvent, level: i32, cause: Uuid| OperationalEvent {
        kind,
        subscription_id: change.subscription_id,
        tenant_id: change.tenant_id,
        idempotency_key: format!(
            "{}:{}:{level}:{cause}",
            kind.event_type(),
            change.subscription_id
        ),
        body: json!({
            "type": kind.event_type(),
            "subscription_id": change.subscription_id,
            "tenant_id": change.tenant_id,
            "target_url": change.target_url,
            "consecutive_failures": level,
            "last_error": change.last_error,
            "occurred_at": hookrelay_shared::time::format(&now),
        }),
    };
    let mut raised: Vec<_> = levels
        .into_iter()
        .filter(|level| old < *level && *level <= new)
        .filter_map(|level| Some(event(HealthEvent::Failing, level, cause(level)?)))
        .collect();
    if change.disabled_now {
        // Disabled at the threshold (or, on a 410, at whatever the count was then).
        let level = if threshold > 0 && old < threshold && threshold <= new {
            threshold
        } else {
            new
        };
        if let Some(cause) = cause(level) {
            raised.push(event(HealthEvent::Disabled, level, cause));
        }
    }
    raised
}

/// Runs [`UPDATE_HEALTH`] (`statement`, prepared from it) for `tallies` in the caller's
/// transaction, at `threshold` = `AUTO_DISABLE_AFTER` (0: never): one statement whatever
/// their number. Answers each subscription's change; one deleted since its deliveries were
/// fanned out has none.
pub async fn apply(
    tx: &tokio_postgres::Transaction<'_>,
    statement: &tokio_postgres::Statement,
    threshold: u32,
    tallies: Vec<Tally>,
) -> Result<Vec<HealthChange>, tokio_postgres::Error> {
    let ids: Vec<Uuid> = tallies.iter().map(|t| t.subscription_id).collect();
    let succeeded: Vec<bool> = tallies.iter().map(|t| t.succeeded).collect();
    let failures: Vec<i32> = tallies.iter().map(Tally::failures).collect();
    let gone: Vec<bool> = tallies.iter().map(|t| t.gone).collect();
    let limit = i32::try_from(threshold).unwrap_or(i32::MAX);
    let rows = tx
        .query(
            statement,
            &[
                &ids,
                &succeeded,
                &failures,
                &gone,
                &limit,
                &GONE_REASON,
                &FAILURES_REASON_SUFFIX,
            ],
        )
        .await?;
    let mut tallies: std::collections::HashMap<Uuid, Tally> = tallies
        .into_iter()
        .map(|t| (t.subscription_id, t))
        .collect();
    let mut changes = Vec::with_capacity(rows.len());
    for row in rows {
        let id: Uuid = row.try_get(0)?;
        let Some(tally) = tallies.remove(&id) else {
            continue;
        };
        changes.push(HealthChange {
            subscription_id: tally.subscription_id,
            tenant_id: row.try_get(1)?,
            target_url: locator(row.try_get(2)?),
            consecutive_failures: row.try_get(3)?,
            succeeded: tally.succeeded,
            failed_webhooks: tally.failed_webhooks,
            last_error: tally.last_error,
            disabled_now: row.try_get(4)?,
            disabled_reason: row.try_get(5)?,
        });
    }
    Ok(changes)
}

/// What re-enabling a subscription (`is_active: true` through the api) resets: the
/// failure count starts again from 0, and the reason and time of the last disable clear.
pub fn restart(changes: &mut SubscriptionChanges) {
    if changes.is_active == Some(true) {
        changes.consecutive_failures = Some(0);
        changes.disabled_reason = Some(None);
        changes.disabled_at = Some(None);
    }
}

/// The `reason` label of `hookrelay_subscriptions_disabled_total`.
pub fn disable_label(reason: &str) -> &'static str {
    if reason == GONE_REASON {
        "gone"
    } else {
        "failures"
    }
}

/// The spaces an event about a subscription of `tenant` goes to: its own, and the
/// default space when that is a tenant's.
pub fn spaces(tenant: Option<Uuid>) -> Vec<Option<Uuid>> {
    match tenant {
        Some(tenant) => vec![Some(tenant), None],
        None => vec![None],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(new: i32, succeeded: bool, failed: usize) -> HealthChange {
        HealthChange {
            subscription_id: Uuid::nil(),
            tenant_id: None,
            target_url: "https://example.com/".into(),
            consecutive_failures: new,
            succeeded,
            failed_webhooks: (0..failed).map(|_| Uuid::now_v7()).collect(),
            last_error: Some("HTTP 500".into()),
            disabled_now: false,
            disabled_reason: None,
        }
    }

    fn finished(sub: Uuid, status: DeliveryStatus, code: i32, error: &str) -> DeliveryUpdate {
        DeliveryUpdate {
            webhook_id: Uuid::now_v7(),
            subscription_id: sub,
            status,
            attempts: 1,
            attempted: true,
            last_status_code: Some(code),
            error: (!error.is_empty()).then(|| error.to_string()),
            next_retry_at: None,
            target_url: None,
        }
    }

    #[test]
    fn a_tally_counts_the_failures_after_the_last_success_per_subscription() {
        let (a, b) = (Uuid::from_u128(2), Uuid::from_u128(1));
        let batch = [
            finished(a, DeliveryStatus::Failed, 410, "HTTP 410"),
            finished(b, DeliveryStatus::Failed, 500, "HTTP 500"),
            finished(a, DeliveryStatus::Succeeded, 200, ""),
            finished(a, DeliveryStatus::Failed, 503, "HTTP 503"),
            finished(a, DeliveryStatus::Failed, 502, "HTTP 502"),
        ];
        let tallies = tally(&batch);
        assert_eq!(
            tallies
                .iter()
                .map(|t| t.subscription_id)
                .collect::<Vec<_>>(),
            [b, a],
            "in subscription order"
        );
        let (tb, ta) = (&tallies[0], &tallies[1]);
        assert!(!tb.succeeded && tb.failures() == 1 && !tb.gone);
        assert!(ta.succeeded);
        assert_eq!(
            ta.failed_webhooks,
            [batch[3].webhook_id, batch[4].webhook_id]
        );
        assert!(!ta.gone, "the 410 came before the success");
        assert_eq!(ta.last_error.as_deref(), Some("HTTP 502"));
        let gone = tally(&[finished(a, DeliveryStatus::Failed, 410, "HTTP 410")]);
        assert!(gone[0].gone && !gone[0].succeeded);
    }

    fn levels(events: &[OperationalEvent]) -> Vec<(HealthEvent, serde_json::Value)> {
        events
            .iter()
            .map(|e| (e.kind, e.body["consecutive_failures"].clone()))
            .collect()
    }

    #[test]
    fn failing_events_fire_once_at_each_level_crossed() {
        let now = Utc::now();
        assert!(events(&change(2, false, 1), 10, now).is_empty());
        assert_eq!(
            levels(&events(&change(3, false, 1), 10, now)),
            [(HealthEvent::Failing, json!(3))]
        );
        // One batch crossing 3 and 5 (from 2 to 6) raises both, tied to the 1st and 3rd
        // failure of the batch.
        let jump = change(6, false, 4);
        let raised = events(&jump, 10, now);
        assert_eq!(
            levels(&raised),
            [
                (HealthEvent::Failing, json!(3)),
                (HealthEvent::Failing, json!(5))
            ]
        );
        assert!(
            raised[0]
                .idempotency_key
                .ends_with(&jump.failed_webhooks[0].to_string())
        );
        assert!(
            raised[1]
                .idempotency_key
                .ends_with(&jump.failed_webhooks[2].to_string())
        );
        // After a success in the batch the count restarted: 3 failures after it reach 3.
        assert_eq!(
            levels(&events(&change(3, true, 3), 10, now)),
            [(HealthEvent::Failing, json!(3))]
        );
        assert!(events(&change(4, false, 1), 10, now).is_empty());
    }

    #[test]
    fn the_threshold_raises_failing_and_disabled_and_zero_never_disables() {
        let now = Utc::now();
        let mut at_threshold = change(10, false, 1);
        at_threshold.disabled_now = true;
        let raised = events(&at_threshold, 10, now);
        assert_eq!(
            levels(&raised),
            [
                (HealthEvent::Failing, json!(10)),
                (HealthEvent::Disabled, json!(10))
            ]
        );
        assert!(
            raised
                .iter()
                .all(|e| e.body.get("secret").is_none() && e.body.get("headers").is_none())
        );
        assert!(events(&change(10, false, 1), 0, now).is_empty());
        assert_eq!(spaces(Some(Uuid::nil())), [Some(Uuid::nil()), None]);
        assert_eq!(spaces(None), [None]);
    }
}
