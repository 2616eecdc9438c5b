//! Subscriptions in the in-process cache (`hookrelay_shared::cache`) of both binaries: how
//! they are keyed and loaded, and which of them a fan-out webhook goes to.

use std::sync::Arc;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use hookrelay_shared::cache::{Cache, Cached};
use hookrelay_shared::keys::SUBSCRIPTIONS_CACHE;
use hookrelay_shared::schema::subscriptions;
use uuid::Uuid;

use super::Subscription;
use crate::webhooks::event_types::filter_matches;

/// The subscription cache of both binaries.
pub type SubscriptionCache = Cache<Subscription>;

impl Cached for Subscription {
    type Key = Uuid;
    const NAME: &'static str = SUBSCRIPTIONS_CACHE;

    fn key(&self) -> Uuid {
        self.id
    }

    async fn load_all(conn: &mut AsyncPgConnection) -> QueryResult<Vec<Self>> {
        subscriptions::table
            .select(Subscription::as_select())
            .load(conn)
            .await
    }

    async fn load_some(conn: &mut AsyncPgConnection, ids: Vec<Uuid>) -> QueryResult<Vec<Self>> {
        subscriptions::table
            .filter(subscriptions::id.eq_any(ids))
            .select(Subscription::as_select())
            .load(conn)
            .await
    }
}

/// Active subscriptions of `tenant` (`None`: the default space) whose filter matches the
/// event type, but for `skip`, oldest first: the recipients of a fan-out webhook.
pub fn matching(
    cache: &SubscriptionCache,
    tenant: Option<Uuid>,
    event_type: Option<&str>,
    skip: Option<Uuid>,
) -> Vec<Arc<Subscription>> {
    let mut found = cache.filtered(|s| {
        s.is_active
            && s.tenant_id == tenant
            && Some(s.id) != skip
            && filter_matches(s.events.as_deref(), event_type)
    });
    found.sort_by_key(|s| (s.created_at, s.id));
    found
}
