//! Subscription rows in Postgres. Every change is followed by a cache invalidation (see
//! `hookrelay_shared::cache`), done by the handler once the change is committed.

use crate::subscriptions::NewSubscription;
use crate::subscriptions::Subscription;
use crate::subscriptions::SubscriptionChanges;
use crate::tenants::space::Space;
use crate::webhooks::Attempt;
use crate::webhooks::DeliveryStatus;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use hookrelay_shared::db::{DbPool, bounded, checkout};
use hookrelay_shared::schema::{attempts, deliveries, subscriptions, webhooks};
use hookrelay_shared::time;
use uuid::Uuid;

use super::input::NewSubscriptionInput;

/// The error of a delivery ended by deleting its subscription (CONTRACT §3).
pub const DELETED_ERROR: &str = "subscription deleted";

/// Stores a new subscription of `input.tenant_id`; `None` when there is no such tenant.
pub async fn create(
    db: &DbPool,
    input: NewSubscriptionInput,
) -> anyhow::Result<Option<Subscription>> {
    let now = time::now();
    let row = NewSubscription {
        id: Uuid::new_v4(),
        target_url: input.target_url,
        destination: input.destination,
        secret: input.secret,
        events: input.events,
        description: input.description,
        headers: input.headers,
        is_active: input.is_active,
        created_at: now,
        updated_at: now,
        tenant_id: input.tenant_id,
        name: input.name,
        http_method: input.http_method.as_str().to_owned(),
        timeout_ms: input.timeout_ms,
        retry_schedule: input.retry_schedule,
        rate_limit: input.rate_limit,
    };
    let mut conn = checkout(db).await?;
    bounded("Failed to insert a subscription", async {
        let inserted = diesel::insert_into(subscriptions::table)
            .values(&row)
            .returning(Subscription::as_returning())
            .get_result(&mut conn)
            .await;
        unless_no_tenant(inserted)
    })
    .await
}

/// `None` for an insert refused by a tenant foreign key (the tenant does not exist, or
/// was deleted meanwhile).
pub fn unless_no_tenant<T>(
    inserted: Result<T, diesel::result::Error>,
) -> Result<Option<T>, diesel::result::Error> {
    use diesel::result::{DatabaseErrorKind, Error};
    match inserted {
        Ok(row) => Ok(Some(row)),
        Err(Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The subscriptions in `space`, oldest first.
pub async fn list(
    db: &DbPool,
    space: Space,
    skip: i64,
    limit: i64,
) -> anyhow::Result<Vec<Subscription>> {
    list_matching(db, space, &Narrowing::default(), skip, limit).await
}

/// Which subscriptions a list shows (the console's filter; the JSON list shows all).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Narrowing {
    /// A case-insensitive piece of the name, target URL or description.
    pub text: Option<String>,
    pub health: Option<Health>,
}

hookrelay_shared::text_enum! {
    /// A subscription's standing, as the console filters by it (in the order of `ALL`).
    pub enum Health {
        Active = "active",
        /// Active, with failed deliveries since its last success.
        Failing = "failing",
        /// Inactive: disabled by hand or by its failures.
        Inactive = "inactive",
    }
}

/// The subscriptions in `space` that `narrowing` lets through, oldest first; failing ones
/// most failures first.
pub async fn list_matching(
    db: &DbPool,
    space: Space,
    narrowing: &Narrowing,
    skip: i64,
    limit: i64,
) -> anyhow::Result<Vec<Subscription>> {
    let mut query = subscriptions::table
        .filter(space.condition(subscriptions::tenant_id))
        .into_boxed();
    if let Some(text) = &narrowing.text {
        let pattern = format!(
            "%{}%",
            text.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        query = query.filter(
            subscriptions::name
                .ilike(pattern.clone())
                .or(subscriptions::target_url.ilike(pattern.clone()))
                .or(subscriptions::description.ilike(pattern)),
        );
    }
    query = match narrowing.health {
        None => query,
        Some(Health::Active) => query.filter(subscriptions::is_active),
        Some(Health::Inactive) => query.filter(subscriptions::is_active.eq(false)),
        Some(Health::Failing) => query
            .filter(subscriptions::is_active)
            .filter(subscriptions::consecutive_failures.gt(0)),
    };
    query = if narrowing.health == Some(Health::Failing) {
        query.order((
            subscriptions::consecutive_failures.desc(),
            subscriptions::id.asc(),
        ))
    } else {
        query.order((subscriptions::created_at.asc(), subscriptions::id.asc()))
    };
    let mut conn = checkout(db).await?;
    bounded(
        "Failed to list subscriptions",
        query
            .offset(skip)
            .limit(limit)
            .select(Subscription::as_select())
            .load(&mut conn),
    )
    .await
}

/// The subscription, when it exists in `space`.
pub async fn get(db: &DbPool, space: Space, id: Uuid) -> anyhow::Result<Option<Subscription>> {
    Ok(Subscription::find(db, id)
        .await?
        .filter(|s| space.contains(s.tenant_id)))
}

/// The tenant a resource bound to `subscription_id` belongs to (a schedule, a source): a
/// tenant key's own, else the subscription's, else the one named in `tenant_id`. `None` when
/// the subscription is outside the caller's reach, or belongs to another tenant than the one
/// an admin named.
pub async fn owner_through(
    db: &DbPool,
    principal: &crate::api_keys::caller::Principal,
    tenant_id: Option<Uuid>,
    subscription_id: Option<Uuid>,
) -> anyhow::Result<Option<Option<Uuid>>> {
    let Some(id) = subscription_id else {
        return Ok(Some(principal.owner(tenant_id)));
    };
    let Some(subscription) = get(db, principal.space(), id).await? else {
        return Ok(None);
    };
    if principal.tenant().is_none() && tenant_id.is_some_and(|t| Some(t) != subscription.tenant_id)
    {
        return Ok(None);
    }
    Ok(Some(subscription.tenant_id))
}

/// Applies the changes present; `None` when there is no such subscription in `space`.
pub async fn update(
    db: &DbPool,
    space: Space,
    id: Uuid,
    mut changes: SubscriptionChanges,
) -> anyhow::Result<Option<Subscription>> {
    changes.updated_at = Some(time::now());
    let mut conn = checkout(db).await?;
    bounded("Failed to update a subscription", async {
        diesel::update(
            subscriptions::table
                .find(id)
                .filter(space.condition(subscriptions::tenant_id)),
        )
        .set(&changes)
        .returning(Subscription::as_returning())
        .get_result(&mut conn)
        .await
        .optional()
    })
    .await
}

/// Replaces the secret, keeping the old one as `previous_secret` until the grace period
/// ends; `None` when there is no such subscription in `space`.
pub async fn rotate_secret(
    db: &DbPool,
    space: Space,
    id: Uuid,
    rotation: super::input::Rotation,
) -> anyhow::Result<Option<Subscription>> {
    let now = time::now();
    let until = chrono::TimeDelta::from_std(rotation.grace_period)
        .ok()
        .and_then(|grace| now.checked_add_signed(grace))
        .unwrap_or(now);
    let mut conn = checkout(db).await?;
    bounded("Failed to rotate a subscription's secret", async {
        diesel::update(
            subscriptions::table
                .find(id)
                .filter(space.condition(subscriptions::tenant_id)),
        )
        // On the right of `eq`, a column is its value before this update.
        .set((
            subscriptions::previous_secret.eq(subscriptions::secret.nullable()),
            subscriptions::previous_secret_expires_at.eq(until),
            subscriptions::secret.eq(rotation.secret),
            subscriptions::updated_at.eq(now),
        ))
        .returning(Subscription::as_returning())
        .get_result(&mut conn)
        .await
        .optional()
    })
    .await
}

/// Deletes the subscription if it is in `space` and, in the same transaction, ends its
/// unfinished deliveries as `failed` / `subscription deleted`. `false` when there was no
/// such subscription.
pub async fn delete(db: &DbPool, space: Space, id: Uuid) -> anyhow::Result<bool> {
    let mut conn = checkout(db).await?;
    let deleting = conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
        let deleted: Vec<Uuid> = diesel::delete(
            subscriptions::table
                .find(id)
                .filter(space.condition(subscriptions::tenant_id)),
        )
        .returning(subscriptions::id)
        .get_results(conn)
        .await?;
        end_deliveries(conn, &deleted).await?;
        Ok(!deleted.is_empty())
    });
    bounded("Failed to delete a subscription", deleting).await
}

/// Deletes every subscription of `tenant` and ends their unfinished deliveries, inside
/// the caller's transaction; returns the ids deleted.
pub async fn delete_all_of(
    conn: &mut diesel_async::AsyncPgConnection,
    tenant: Uuid,
) -> Result<Vec<Uuid>, diesel::result::Error> {
    let deleted: Vec<Uuid> =
        diesel::delete(subscriptions::table.filter(subscriptions::tenant_id.eq(tenant)))
            .returning(subscriptions::id)
            .get_results(conn)
            .await?;
    end_deliveries(conn, &deleted).await?;
    Ok(deleted)
}

/// Ends the unfinished deliveries to deleted subscriptions as `failed` / `subscription
/// deleted` (CONTRACT §3).
async fn end_deliveries(
    conn: &mut diesel_async::AsyncPgConnection,
    subscriptions: &[Uuid],
) -> Result<(), diesel::result::Error> {
    if subscriptions.is_empty() {
        return Ok(());
    }
    diesel::update(
        deliveries::table
            .filter(deliveries::subscription_id.eq_any(subscriptions))
            .filter(
                deliveries::status.eq_any(DeliveryStatus::UNFINISHED.map(DeliveryStatus::as_str)),
            ),
    )
    .set((
        deliveries::status.eq(DeliveryStatus::Failed.as_str()),
        deliveries::error.eq(DELETED_ERROR),
        deliveries::next_retry_at.eq(None::<chrono::DateTime<chrono::Utc>>),
        deliveries::updated_at.eq(time::now()),
    ))
    .execute(conn)
    .await?;
    Ok(())
}

/// A subscription's attempts of webhooks in `space`, newest first (an unknown id has
/// none). Attempts whose webhook was already purged show only in `Space::Any`.
pub async fn attempts(
    db: &DbPool,
    space: Space,
    id: Uuid,
    limit: i64,
) -> anyhow::Result<Vec<Attempt>> {
    let mut conn = checkout(db).await?;
    bounded(
        "Failed to list attempts",
        attempts::table
            .left_join(webhooks::table)
            .filter(attempts::subscription_id.eq(id))
            .filter(space.condition(webhooks::tenant_id.nullable()))
            .order((attempts::timestamp.desc(), attempts::attempt_number.desc()))
            .limit(limit)
            .select(Attempt::as_select())
            .load(&mut conn),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healths_read_back_from_their_names() {
        hookrelay_shared::assert_texts_round_trip!(Health);
    }
}
