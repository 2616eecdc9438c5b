//! Replaying one webhook (`POST /webhooks/{webhook_id}/replay`): the chosen deliveries
//! start a new run of their retry schedule.
//!
//! In one transaction, with the deliveries' rows locked: check the choice, then set each
//! chosen delivery `pending`, due now, with `run_from` = the attempts it has (the
//! worker counts the schedule's delays from there; attempt numbers go on), with
//! `replays::start_new_runs`, as a bulk replay does. After the
//! commit, each gets a retry-set member for its next attempt, due now; the worker then
//! treats it like any retry (the payload comes from Postgres; the subscription, its
//! secret, rate limit and SSRF rule as they are when the attempt starts). Were the api
//! to stop between the commit and the member, the worker's reconciler queues the
//! delivery again, since it is unfinished and due.
//!
//! Only finished deliveries are replayed: one still `pending` or `retrying` is in flight,
//! and the row lock plus that check mean two replays at once queue a delivery once.

use std::collections::HashMap;

use crate::replays::selection::start_new_runs;
use crate::tenants::space::Space;
use crate::webhooks::DeliveryStatus;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use hookrelay_shared::db::{DbPool, bounded, checkout};
use hookrelay_shared::keys::Keys;
use hookrelay_shared::queue::{NextAttempt, schedule_retry};
use hookrelay_shared::redis_client::Redis;
use hookrelay_shared::schema::{deliveries, subscriptions, webhooks};
use hookrelay_shared::time;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::FieldError;
use crate::fields::Fields;

/// Subscriptions one replay request may name at most.
const MAX_NAMED: usize = 1000;

/// Which deliveries of the webhook to replay.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Choice {
    /// These (whatever they ended as); `None`: every failed one.
    pub subscription_ids: Option<Vec<Uuid>>,
    /// With `None` above: the succeeded ones too.
    pub include_succeeded: bool,
}

/// Reads the optional body `{"subscription_ids": [...], "include_succeeded": bool}`.
///
/// The OpenAPI document shows what this reads as [`super::body::ReplayBody`];
/// keep the two in step.
pub fn parse(body: &Map<String, Value>) -> Result<Choice, Vec<FieldError>> {
    let mut f = Fields::new(body);
    let subscription_ids = f.uuid_list("subscription_ids", MAX_NAMED);
    let include_succeeded = f.boolean("include_succeeded").unwrap_or(false);
    f.null("include_succeeded", "bool_type", "a valid boolean");
    f.finish(Choice {
        subscription_ids,
        include_succeeded,
    })
}

/// Why a replay was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    /// No such webhook in the caller's space (or it was purged).
    UnknownWebhook,
    /// The webhook is still queued: its deliveries do not exist yet.
    Queued,
    /// A named subscription has no delivery of this webhook, or was deleted.
    UnknownSubscription,
    /// A named subscription is inactive.
    Inactive,
    /// A chosen delivery is still `pending` or `retrying`.
    InFlight,
    /// Nothing matched the choice (no failed delivery, say).
    Nothing,
}

impl Blocked {
    pub const fn detail(&self) -> &'static str {
        match self {
            Self::UnknownWebhook => "No delivery logs for given webhook_id",
            Self::Queued => "Webhook is still queued: it has no deliveries to replay yet",
            Self::UnknownSubscription => crate::subscriptions::NOT_FOUND,
            Self::Inactive => "Subscription is inactive",
            Self::InFlight => "Delivery is still in progress",
            Self::Nothing => "No delivery to replay: none failed",
        }
    }
}

/// What each block is as a domain refusal: a resource out of reach is 404, a state that
/// does not allow the change 409.
impl From<Blocked> for crate::Refusal {
    fn from(blocked: Blocked) -> Self {
        match blocked {
            Blocked::UnknownWebhook | Blocked::UnknownSubscription => {
                Self::NotFound(blocked.detail())
            }
            Blocked::Queued | Blocked::Inactive | Blocked::InFlight | Blocked::Nothing => {
                Self::Conflict(blocked.detail())
            }
        }
    }
}

/// A delivery as the choice sees it.
struct Candidate {
    status: Option<DeliveryStatus>,
    /// `None` when the subscription was deleted.
    active: Option<bool>,
}

/// Which of `candidates` the choice replays, or why none.
fn choose(candidates: &HashMap<Uuid, Candidate>, choice: &Choice) -> Result<Vec<Uuid>, Blocked> {
    let chosen: Vec<Uuid> = match &choice.subscription_ids {
        Some(named) => {
            for id in named {
                let candidate = candidates
                    .get(id)
                    .filter(|c| c.active.is_some())
                    .ok_or(Blocked::UnknownSubscription)?;
                if candidate.active == Some(false) {
                    return Err(Blocked::Inactive);
                }
                if !candidate.status.is_some_and(DeliveryStatus::is_finished) {
                    return Err(Blocked::InFlight);
                }
            }
            named.clone()
        }
        None => {
            let mut ids: Vec<Uuid> = candidates
                .iter()
                .filter(|(_, c)| {
                    c.active == Some(true)
                        && (c.status == Some(DeliveryStatus::Failed)
                            || (choice.include_succeeded
                                && c.status == Some(DeliveryStatus::Succeeded)))
                })
                .map(|(id, _)| *id)
                .collect();
            ids.sort_unstable();
            ids
        }
    };
    if chosen.is_empty() {
        return Err(Blocked::Nothing);
    }
    Ok(chosen)
}

/// Replays the chosen deliveries of `webhook_id` in `space`; returns their subscriptions.
pub async fn replay(
    db: &DbPool,
    redis: &Redis,
    keys: &Keys,
    space: Space,
    webhook_id: Uuid,
    choice: Choice,
) -> anyhow::Result<Result<Vec<Uuid>, Blocked>> {
    let mut conn = checkout(db).await?;
    let replaying = conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
        let stored: Option<Uuid> = webhooks::table
            .find(webhook_id)
            .filter(space.condition(webhooks::tenant_id))
            .select(webhooks::id)
            .first(conn)
            .await
            .optional()?;
        if stored.is_none() {
            return Ok(Err(None));
        }
        let rows: Vec<(Uuid, String, i32)> = deliveries::table
            .filter(deliveries::webhook_id.eq(webhook_id))
            .select((
                deliveries::subscription_id,
                deliveries::status,
                deliveries::attempts,
            ))
            .for_update()
            .load(conn)
            .await?;
        let ids: Vec<Uuid> = rows.iter().map(|(id, ..)| *id).collect();
        let active: HashMap<Uuid, bool> = subscriptions::table
            .filter(subscriptions::id.eq_any(&ids))
            .select((subscriptions::id, subscriptions::is_active))
            .load::<(Uuid, bool)>(conn)
            .await?
            .into_iter()
            .collect();
        let candidates: HashMap<Uuid, Candidate> = rows
            .iter()
            .map(|(id, status, _)| {
                let candidate = Candidate {
                    status: DeliveryStatus::parse(status),
                    active: active.get(id).copied(),
                };
                (*id, candidate)
            })
            .collect();
        let chosen = match choose(&candidates, &choice) {
            Ok(chosen) => chosen,
            Err(refusal) => return Ok(Err(Some(refusal))),
        };
        let chosen: Vec<(Uuid, Uuid)> = chosen.into_iter().map(|s| (webhook_id, s)).collect();
        let replayed: Vec<(Uuid, i32)> = start_new_runs(conn, &chosen, time::now())
            .await?
            .into_iter()
            .map(|rerun| (rerun.subscription_id, rerun.attempts))
            .collect();
        Ok(Ok(replayed))
    });
    let replayed = match bounded("Failed to replay a webhook", replaying).await? {
        Ok(replayed) => replayed,
        Err(Some(refusal)) => return Ok(Err(refusal)),
        Err(None) => return Ok(Err(unstored(redis, keys, space, webhook_id).await)),
    };
    let due = time::now();
    let mut conn = redis.clone();
    for (subscription_id, attempts) in &replayed {
        let job = NextAttempt {
            webhook_id,
            subscription_id: *subscription_id,
            attempt: u32::try_from(*attempts).unwrap_or(0) + 1,
        };
        if let Err(e) = schedule_retry(&mut conn, keys, &job, due).await {
            // Postgres has it as due now: the reconciler queues it again.
            tracing::warn!(%webhook_id, %subscription_id, error = %e,
                "replayed delivery stored but not queued; the reconciler will queue it");
        }
    }
    let mut subscriptions: Vec<Uuid> = replayed.into_iter().map(|(id, _)| id).collect();
    subscriptions.sort_unstable();
    Ok(Ok(subscriptions))
}

/// Why a webhook not in Postgres cannot be replayed: still queued (in the caller's
/// space), or unknown.
async fn unstored(redis: &Redis, keys: &Keys, space: Space, webhook_id: Uuid) -> Blocked {
    let marker =
        hookrelay_shared::queue::QueuedMarker::fetch(&mut redis.clone(), keys, webhook_id).await;
    match marker {
        Ok(Some(marker)) if space.contains(marker.tenant_id) => Blocked::Queued,
        _ => Blocked::UnknownWebhook,
    }
}

/// `POST /webhooks/{id}/replay`, the one write action on a webhook (the api's handler and
/// the console both call it): the chosen deliveries start a new run of their retry
/// schedule; answers their subscriptions.
pub async fn run(
    services: &crate::Services,
    principal: &crate::api_keys::Principal,
    webhook_id: Uuid,
    body: &Map<String, Value>,
) -> Result<Vec<Uuid>, crate::Refusal> {
    let choice = parse(body)?;
    let replayed = replay(
        &services.db,
        &services.redis,
        &services.keys,
        principal.space(),
        webhook_id,
        choice,
    )
    .await??;
    tracing::info!(%webhook_id, deliveries = replayed.len(), "webhook replayed");
    Ok(replayed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::object;
    use serde_json::json;

    fn candidates(list: &[(u128, DeliveryStatus, Option<bool>)]) -> HashMap<Uuid, Candidate> {
        list.iter()
            .map(|(id, status, active)| {
                (
                    Uuid::from_u128(*id),
                    Candidate {
                        status: Some(*status),
                        active: *active,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn by_default_failed_deliveries_to_live_subscriptions_are_chosen() {
        use DeliveryStatus::*;
        let all = candidates(&[
            (1, Failed, Some(true)),
            (2, Succeeded, Some(true)),
            (3, Failed, None),
            (4, Failed, Some(false)),
            (5, Retrying, Some(true)),
        ]);
        assert_eq!(
            choose(&all, &Choice::default()),
            Ok(vec![Uuid::from_u128(1)])
        );
        let with_succeeded = Choice {
            include_succeeded: true,
            ..Choice::default()
        };
        assert_eq!(
            choose(&all, &with_succeeded),
            Ok(vec![Uuid::from_u128(1), Uuid::from_u128(2)])
        );
        let none = candidates(&[(2, Succeeded, Some(true))]);
        assert_eq!(choose(&none, &Choice::default()), Err(Blocked::Nothing));
    }

    #[test]
    fn named_deliveries_must_exist_be_live_and_finished() {
        use DeliveryStatus::*;
        let all = candidates(&[
            (1, Succeeded, Some(true)),
            (3, Failed, None),
            (4, Failed, Some(false)),
            (5, Pending, Some(true)),
        ]);
        let named = |ids: &[u128]| Choice {
            subscription_ids: Some(ids.iter().map(|i| Uuid::from_u128(*i)).collect()),
            include_succeeded: false,
        };
        assert_eq!(choose(&all, &named(&[1])), Ok(vec![Uuid::from_u128(1)]));
        assert_eq!(
            choose(&all, &named(&[3])),
            Err(Blocked::UnknownSubscription)
        );
        assert_eq!(
            choose(&all, &named(&[9])),
            Err(Blocked::UnknownSubscription)
        );
        assert_eq!(choose(&all, &named(&[4])), Err(Blocked::Inactive));
        assert_eq!(choose(&all, &named(&[1, 5])), Err(Blocked::InFlight));
    }

    #[test]
    fn the_body_is_checked_field_by_field() {
        assert_eq!(parse(&object(json!({}))), Ok(Choice::default()));
        let id = Uuid::from_u128(7);
        assert_eq!(
            parse(&object(
                json!({"subscription_ids": [id.simple().to_string(), id], "include_succeeded": true})
            )),
            Ok(Choice {
                subscription_ids: Some(vec![id]),
                include_succeeded: true
            })
        );
        let errors = parse(&object(
            json!({"subscription_ids": ["x"], "include_succeeded": "yes"}),
        ))
        .expect_err("two bad fields");
        let locs: Vec<_> = errors.iter().map(|e| json!(e.loc)).collect();
        assert_eq!(
            locs,
            [
                json!(["body", "subscription_ids", 0]),
                json!(["body", "include_succeeded"])
            ]
        );
    }
}
