//! The status object of CONTRACT §6 and how it is assembled from what Postgres or the
//! Redis `queued:` marker holds. Pure functions, tested directly.

use crate::webhooks::Attempt;
use crate::webhooks::Delivery;
use crate::webhooks::DeliveryStatus;
use chrono::{DateTime, Utc};
use hookrelay_shared::queue::QueuedMarker;
use hookrelay_shared::time;
use serde::Serialize;
use uuid::Uuid;

/// The most attempts `recent_attempts` lists.
pub const RECENT_ATTEMPTS: i64 = 20;

hookrelay_shared::text_enum! {
    /// Where a webhook stands as a whole.
    #[derive(utoipa::ToSchema)]
    pub enum AggregateStatus {
        // In the order `?status=` names them (`ALL`).
        /// Accepted with `X-Deliver-At`, waiting for that time (`deliver_at`); recipients are
        /// resolved when it comes due.
        Scheduled = "scheduled",
        /// Accepted; no worker has resolved its recipients yet.
        Queued = "queued",
        /// Recipients resolved; some delivery is still pending or retrying.
        Delivering = "delivering",
        /// Every delivery succeeded.
        Delivered = "delivered",
        /// Every delivery finished and at least one failed.
        Failed = "failed",
        /// Recipients resolved, and there were none.
        NoSubscribers = "no_subscribers",
    }
    impl Serialize;
}

/// How a stored webhook's status follows from its deliveries' statuses: some delivery
/// is in `some` (when given) and every delivery is in `every` (when given). The one
/// statement of the rule: [`aggregate`] evaluates it in Rust, and `GET /webhooks`'s
/// status filter (`crate::webhooks::search`) turns it into `EXISTS` / `NOT EXISTS` on deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub some: Option<&'static [DeliveryStatus]>,
    pub every: Option<&'static [DeliveryStatus]>,
}

impl Rule {
    /// Whether a webhook with these deliveries has the status.
    pub fn holds(self, deliveries: &[DeliveryStatus]) -> bool {
        self.some
            .is_none_or(|some| deliveries.iter().any(|d| some.contains(d)))
            && self
                .every
                .is_none_or(|every| deliveries.iter().all(|d| every.contains(d)))
    }
}

impl AggregateStatus {
    /// The rule that gives a stored webhook this status; `None` for `scheduled` and
    /// `queued`, which only a webhook no worker has stored yet has (the rules of the others cover every set
    /// of deliveries, each set exactly once).
    pub const fn rule(self) -> Option<Rule> {
        use DeliveryStatus::{Failed, Pending, Retrying, Succeeded};
        match self {
            Self::Scheduled | Self::Queued => None,
            Self::NoSubscribers => Some(Rule {
                some: None,
                every: Some(&[]),
            }),
            Self::Delivered => Some(Rule {
                some: Some(&[Succeeded]),
                every: Some(&[Succeeded]),
            }),
            Self::Failed => Some(Rule {
                some: Some(&[Failed]),
                every: Some(&[Succeeded, Failed]),
            }),
            Self::Delivering => Some(Rule {
                some: Some(&[Pending, Retrying]),
                every: None,
            }),
        }
    }
}

/// The aggregate of a stored webhook's deliveries: the status whose [`Rule`] holds.
pub fn aggregate(deliveries: &[DeliveryStatus]) -> AggregateStatus {
    AggregateStatus::ALL
        .into_iter()
        .find(|status| status.rule().is_some_and(|rule| rule.holds(deliveries)))
        .unwrap_or(AggregateStatus::Delivering)
}

/// One entry of `deliveries`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub subscription_id: Uuid,
    pub target_url: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    #[schema(required = true)]
    pub last_status_code: Option<i32>,
    /// The latest error; `subscription deleted` when ended by DELETE.
    #[schema(required = true)]
    pub error: Option<String>,
    #[serde(serialize_with = "time::serialize_opt")]
    #[schema(required = true, value_type = Option<String>, format = DateTime)]
    pub next_retry_at: Option<DateTime<Utc>>,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        Self {
            subscription_id: d.subscription_id,
            target_url: d.target_url,
            // The table's CHECK constraint allows only the four known values.
            status: DeliveryStatus::parse(&d.status).unwrap_or(DeliveryStatus::Pending),
            attempts: d.attempts,
            last_status_code: d.last_status_code,
            error: d.error,
            next_retry_at: d.next_retry_at,
        }
    }
}

/// `GET /status/{webhook_id}`'s body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct WebhookStatus {
    pub webhook_id: Uuid,
    #[schema(required = true)]
    pub event_type: Option<String>,
    #[serde(serialize_with = "time::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-22T15:04:02.551966Z")]
    pub received_at: DateTime<Utc>,
    pub status: AggregateStatus,
    /// While `scheduled`: when its first attempts start (`X-Deliver-At`); `null` in
    /// every other status.
    #[serde(serialize_with = "time::serialize_opt")]
    #[schema(required = true, value_type = Option<String>, format = DateTime, example = "2026-11-22T15:04:02.551966Z")]
    pub deliver_at: Option<DateTime<Utc>>,
    /// The subscription of the newest attempt, or the targeted one.
    #[schema(required = true)]
    pub subscription_id: Option<Uuid>,
    /// Attempts of all deliveries together.
    pub total_attempts: i64,
    /// Outcome of the newest attempt.
    #[schema(required = true, example = "Success")]
    pub final_outcome: Option<String>,
    #[serde(serialize_with = "time::serialize_opt")]
    #[schema(required = true, value_type = Option<String>, format = DateTime)]
    pub last_attempt_at: Option<DateTime<Utc>>,
    #[schema(required = true)]
    pub last_status_code: Option<i32>,
    /// Error of the newest attempt.
    #[schema(required = true)]
    pub error: Option<String>,
    /// At most 20, newest first.
    pub recent_attempts: Vec<Attempt>,
    pub deliveries: Vec<DeliveryView>,
    /// The tenant it was ingested in (`None`: the default space): who may see it. Not
    /// part of the status object.
    #[serde(skip)]
    #[schema(ignore)]
    pub tenant_id: Option<Uuid>,
}

/// A webhook as a worker stored it (without its payload, which status never shows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredWebhook {
    pub id: Uuid,
    pub event_type: Option<String>,
    /// The targeted subscription; `None` for fan-out.
    pub subscription_id: Option<Uuid>,
    pub received_at: DateTime<Utc>,
    pub tenant_id: Option<Uuid>,
}

/// Status of a stored webhook. `recent_attempts` must be newest first; `total_attempts`
/// counts all of the webhook's attempts, not only the recent ones.
pub fn from_stored(
    webhook: StoredWebhook,
    deliveries: Vec<Delivery>,
    recent_attempts: Vec<Attempt>,
    total_attempts: i64,
) -> WebhookStatus {
    let mut deliveries: Vec<DeliveryView> =
        deliveries.into_iter().map(DeliveryView::from).collect();
    deliveries.sort_by_key(|d| d.subscription_id);
    let statuses: Vec<_> = deliveries.iter().map(|d| d.status).collect();
    let newest = recent_attempts.first();
    WebhookStatus {
        webhook_id: webhook.id,
        event_type: webhook.event_type,
        received_at: webhook.received_at,
        status: aggregate(&statuses),
        deliver_at: None,
        subscription_id: newest
            .map(|a| a.subscription_id)
            .or(webhook.subscription_id),
        total_attempts,
        final_outcome: newest.map(|a| a.outcome.clone()),
        last_attempt_at: newest.map(|a| a.timestamp),
        last_status_code: newest.and_then(|a| a.status_code),
        error: newest.and_then(|a| a.error.clone()),
        recent_attempts,
        deliveries,
        tenant_id: webhook.tenant_id,
    }
}

/// Status of a webhook no worker has stored yet: `scheduled` while it waits for its
/// `deliver_at`, then `queued`.
pub fn from_marker(webhook_id: Uuid, marker: QueuedMarker) -> WebhookStatus {
    WebhookStatus {
        webhook_id,
        event_type: marker.event_type,
        received_at: marker.received_at,
        status: match marker.deliver_at {
            Some(_) => AggregateStatus::Scheduled,
            None => AggregateStatus::Queued,
        },
        deliver_at: marker.deliver_at,
        subscription_id: marker.subscription_id,
        total_attempts: 0,
        final_outcome: None,
        last_attempt_at: None,
        last_status_code: None,
        error: None,
        recent_attempts: Vec::new(),
        deliveries: Vec::new(),
        tenant_id: marker.tenant_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeliveryStatus::{Failed, Pending, Retrying, Succeeded};

    #[test]
    fn exactly_one_rule_holds_for_every_set_of_deliveries() {
        let all = [Pending, Retrying, Succeeded, Failed];
        let mut sets = vec![vec![]];
        for _ in 0..3 {
            let longer: Vec<Vec<DeliveryStatus>> = sets
                .iter()
                .flat_map(|set| {
                    all.iter().map(move |d| {
                        let mut set = set.clone();
                        set.push(*d);
                        set
                    })
                })
                .collect();
            sets.extend(longer);
        }
        for set in sets {
            let holding = AggregateStatus::ALL
                .into_iter()
                .filter(|s| s.rule().is_some_and(|rule| rule.holds(&set)))
                .count();
            assert_eq!(holding, 1, "{set:?}");
        }
    }

    #[test]
    fn statuses_parse_as_they_serialize() {
        hookrelay_shared::assert_texts_round_trip!(AggregateStatus);
        for status in AggregateStatus::ALL {
            let json = serde_json::to_value(status).expect("serializes");
            assert_eq!(json, status.as_str());
        }
        assert_eq!(AggregateStatus::parse("nope"), None);
    }

    #[test]
    fn aggregate_follows_the_contract() {
        assert_eq!(aggregate(&[]), AggregateStatus::NoSubscribers);
        assert_eq!(aggregate(&[Succeeded]), AggregateStatus::Delivered);
        assert_eq!(
            aggregate(&[Succeeded, Succeeded]),
            AggregateStatus::Delivered
        );
        assert_eq!(aggregate(&[Succeeded, Failed]), AggregateStatus::Failed);
        assert_eq!(aggregate(&[Failed]), AggregateStatus::Failed);
        assert_eq!(
            aggregate(&[Succeeded, Pending]),
            AggregateStatus::Delivering
        );
        assert_eq!(aggregate(&[Failed, Retrying]), AggregateStatus::Delivering);
        assert_eq!(aggregate(&[Pending]), AggregateStatus::Delivering);
    }

    fn attempt(
        subscription_id: Uuid,
        micros: i64,
        outcome: &str,
        code: Option<i32>,
        error: Option<&str>,
    ) -> Attempt {
        Attempt {
            id: Uuid::new_v4(),
            webhook_id: Uuid::nil(),
            subscription_id,
            target_url: "http://example.com/".into(),
            timestamp: time::from_micros(micros),
            attempt_number: 1,
            outcome: outcome.into(),
            status_code: code,
            error: error.map(Into::into),
            duration_ms: 5,
            response_body: None,
            next_retry_at: None,
        }
    }

    fn delivery(subscription_id: Uuid, status: DeliveryStatus) -> Delivery {
        Delivery {
            webhook_id: Uuid::nil(),
            subscription_id,
            target_url: "http://example.com/".into(),
            status: status.as_str().into(),
            attempts: 1,
            last_status_code: None,
            error: None,
            next_retry_at: None,
            updated_at: time::from_micros(0),
            received_at: time::from_micros(0),
        }
    }

    #[test]
    fn top_level_fields_come_from_the_newest_attempt() {
        let (targeted, a, b) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let webhook = StoredWebhook {
            id: Uuid::nil(),
            event_type: Some("order.created".into()),
            subscription_id: Some(targeted),
            received_at: time::from_micros(1),
            tenant_id: None,
        };
        let attempts = vec![
            attempt(b, 30, "Failure", Some(500), Some("HTTP 500")),
            attempt(a, 20, "Success", Some(200), None),
        ];
        let status = from_stored(
            webhook.clone(),
            vec![delivery(a, Succeeded), delivery(b, Failed)],
            attempts,
            7,
        );
        assert_eq!(status.status, AggregateStatus::Failed);
        assert_eq!(status.subscription_id, Some(b));
        assert_eq!(status.total_attempts, 7);
        assert_eq!(status.final_outcome.as_deref(), Some("Failure"));
        assert_eq!(status.last_status_code, Some(500));
        assert_eq!(status.error.as_deref(), Some("HTTP 500"));
        assert_eq!(status.last_attempt_at, Some(time::from_micros(30)));

        let none_yet = from_stored(webhook, vec![delivery(targeted, Pending)], Vec::new(), 0);
        assert_eq!(none_yet.subscription_id, Some(targeted));
        assert_eq!(none_yet.status, AggregateStatus::Delivering);
        assert_eq!(none_yet.final_outcome, None);
    }

    #[test]
    fn queued_webhooks_have_no_attempts_and_no_deliveries() {
        let id = Uuid::new_v4();
        let marker = QueuedMarker {
            subscription_id: None,
            tenant_id: None,
            event_type: None,
            received_at: time::from_micros(1_795_014_242_551_966),
            deliver_at: None,
        };
        let json = serde_json::to_value(from_marker(id, marker)).expect("serialises");
        assert_eq!(
            json,
            serde_json::json!({
                "webhook_id": id, "event_type": null, "received_at": "2026-11-18T15:04:02.551966Z",
                "status": "queued", "deliver_at": null, "subscription_id": null, "total_attempts": 0,
                "final_outcome": null, "last_attempt_at": null, "last_status_code": null, "error": null,
                "recent_attempts": [], "deliveries": []
            })
        );
    }

    #[test]
    fn delayed_webhooks_are_scheduled_with_their_time() {
        let marker = QueuedMarker {
            subscription_id: None,
            tenant_id: None,
            event_type: None,
            received_at: time::from_micros(1_795_014_242_551_966),
            deliver_at: Some(time::from_micros(1_795_014_300_000_001)),
        };
        let json = serde_json::to_value(from_marker(Uuid::nil(), marker)).expect("serialises");
        assert_eq!(json["status"], "scheduled");
        assert_eq!(json["deliver_at"], "2026-11-18T15:05:00.000001Z");
    }
}
