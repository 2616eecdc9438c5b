//! `/sources` in Postgres: create, list, read, PATCH, delete, rotate the path, and the
//! rejections. Every change is followed by the caller telling the source cache which
//! tokens changed ([`super::ops`]), which is what the inbound path reads.

use crate::tenants::space::Space;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use hookrelay_shared::db::{DbPool, bounded, checkout};
use hookrelay_shared::schema::{source_rejections, sources};
use hookrelay_shared::time;
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{Input, Source, SourceRow, as_body, new_token, parse, readable};
use crate::FieldError;
use crate::api_keys::caller::Principal;

/// Why a source was not stored or changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocked {
    UnknownSource,
    UnknownSubscription,
    UnknownTenant,
}

impl Blocked {
    pub const fn detail(self) -> &'static str {
        match self {
            Self::UnknownSource => super::NOT_FOUND,
            Self::UnknownSubscription => crate::subscriptions::NOT_FOUND,
            Self::UnknownTenant => crate::tenants::row::NOT_FOUND,
        }
    }
}

/// What each block is as a domain refusal: a resource out of reach is 404, a state that
/// does not allow the change 409.
impl From<Blocked> for crate::Refusal {
    fn from(blocked: Blocked) -> Self {
        Self::NotFound(blocked.detail())
    }
}

/// One refused inbound request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Queryable, Selectable, utoipa::ToSchema)]
#[diesel(table_name = source_rejections, check_for_backend(diesel::pg::Pg))]
pub struct Rejection {
    #[serde(serialize_with = "time::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub received_at: DateTime<Utc>,
    /// The status it was answered with (403, 429, 401, 413, …).
    pub status: i32,
    /// The check that failed, in words (never a secret).
    pub reason: String,
    /// The client address, as the source judged it (`TRUSTED_PROXIES` applied).
    pub remote_addr: String,
}

fn one(rows: Vec<SourceRow>) -> Option<Source> {
    readable(rows).into_iter().next()
}

/// Stores a new source, with a new token, in the caller's reach.
pub async fn create(
    db: &DbPool,
    principal: &Principal,
    input: Input,
) -> anyhow::Result<Result<Source, Blocked>> {
    let owner = crate::subscriptions::store::owner_through(
        db,
        principal,
        input.tenant_id,
        input.subscription_id,
    )
    .await?;
    let Some(tenant_id) = owner else {
        return Ok(Err(Blocked::UnknownSubscription));
    };
    let now = time::now();
    let mut conn = checkout(db).await?;
    let storing = diesel::insert_into(sources::table)
        .values((
            sources::id.eq(Uuid::now_v7()),
            sources::tenant_id.eq(tenant_id),
            sources::token.eq(new_token()),
            input.columns(),
            sources::created_at.eq(now),
            sources::updated_at.eq(now),
        ))
        .returning(SourceRow::as_returning())
        .get_results(&mut conn);
    let stored = bounded("Failed to store a source", async {
        crate::subscriptions::store::unless_no_tenant(storing.await)
    })
    .await?;
    Ok(stored.and_then(one).ok_or(Blocked::UnknownTenant))
}

/// The sources in `space`, oldest first.
pub async fn list(db: &DbPool, space: Space, skip: i64, limit: i64) -> anyhow::Result<Vec<Source>> {
    let mut conn = checkout(db).await?;
    let listing = sources::table
        .filter(space.condition(sources::tenant_id))
        .order((sources::created_at.asc(), sources::id.asc()))
        .offset(skip)
        .limit(limit)
        .select(SourceRow::as_select())
        .load(&mut conn);
    Ok(readable(bounded("Failed to list sources", listing).await?))
}

/// One source in `space`.
pub async fn get(db: &DbPool, space: Space, id: Uuid) -> anyhow::Result<Option<Source>> {
    let mut conn = checkout(db).await?;
    let reading = sources::table
        .find(id)
        .filter(space.condition(sources::tenant_id))
        .select(SourceRow::as_select())
        .load(&mut conn);
    Ok(one(bounded("Failed to read a source", reading).await?))
}

/// Applies a PATCH: the stored source with `changes` over it, read as a whole. A
/// verification sent back with its secrets masked (`********`) keeps the stored secrets.
///
/// The OpenAPI document shows what this reads as [`super::body::SourceChangesBody`];
/// keep the two in step.
pub async fn patch(
    db: &DbPool,
    principal: &Principal,
    id: Uuid,
    changes: &Map<String, Value>,
) -> anyhow::Result<Result<Result<Source, Vec<FieldError>>, Blocked>> {
    let Some(current) = get(db, principal.space(), id).await? else {
        return Ok(Err(Blocked::UnknownSource));
    };
    let mut body = as_body(&current);
    for (key, value) in changes {
        if key != "tenant_id" {
            body.insert(key.clone(), value.clone());
        }
    }
    let mut input = match parse(&body) {
        Ok(input) => input,
        Err(errors) => return Ok(Ok(Err(errors))),
    };
    if let Err(error) = input.verification.keep_secrets(&current.verification) {
        return Ok(Ok(Err(vec![error])));
    }
    if let Some(subscription) = input.subscription_id
        && input.subscription_id != current.subscription_id
        && crate::subscriptions::store::get(db, Space::of(current.tenant_id), subscription)
            .await?
            .is_none()
    {
        return Ok(Err(Blocked::UnknownSubscription));
    }
    let mut conn = checkout(db).await?;
    let changing = diesel::update(sources::table.find(id))
        .set((input.columns(), sources::updated_at.eq(time::now())))
        .returning(SourceRow::as_returning())
        .get_results(&mut conn);
    let changed = one(bounded("Failed to change a source", changing).await?);
    Ok(changed.map(Ok).ok_or(Blocked::UnknownSource))
}

/// Deletes a source and its rejections; its token, or `None` when there was none in
/// `space`.
pub async fn delete(db: &DbPool, space: Space, id: Uuid) -> anyhow::Result<Option<String>> {
    let mut conn = checkout(db).await?;
    let deleting = async {
        diesel::delete(
            sources::table
                .find(id)
                .filter(space.condition(sources::tenant_id)),
        )
        .returning(sources::token)
        .get_result(&mut conn)
        .await
        .optional()
    };
    bounded("Failed to delete a source", deleting).await
}

/// Deletes every source of a tenant, in the tenant's deletion transaction; answers their
/// tokens, for the cache.
pub async fn delete_all_of(
    conn: &mut diesel_async::AsyncPgConnection,
    tenant: Uuid,
) -> diesel::QueryResult<Vec<String>> {
    diesel::delete(sources::table.filter(sources::tenant_id.eq(tenant)))
        .returning(sources::token)
        .get_results(conn)
        .await
}

/// Gives a source a new token: its old path stops working. The old token and the
/// source as changed, or `None` when there was none in `space`.
pub async fn rotate_path(
    db: &DbPool,
    space: Space,
    id: Uuid,
) -> anyhow::Result<Option<(String, Source)>> {
    let Some(current) = get(db, space, id).await? else {
        return Ok(None);
    };
    let mut conn = checkout(db).await?;
    let rotating = diesel::update(
        sources::table
            .find(id)
            .filter(sources::token.eq(&current.token)),
    )
    .set((
        sources::token.eq(new_token()),
        sources::updated_at.eq(time::now()),
    ))
    .returning(SourceRow::as_returning())
    .get_results(&mut conn);
    let rotated = one(bounded("Failed to rotate a source's path", rotating).await?);
    Ok(rotated.map(|source| (current.token, source)))
}

/// The newest `limit` rejections of a source in `space`; `None` for an unknown source.
pub async fn rejections(
    db: &DbPool,
    space: Space,
    id: Uuid,
    limit: i64,
) -> anyhow::Result<Option<Vec<Rejection>>> {
    if get(db, space, id).await?.is_none() {
        return Ok(None);
    }
    let mut conn = checkout(db).await?;
    let listing = source_rejections::table
        .filter(source_rejections::source_id.eq(id))
        .order((
            source_rejections::received_at.desc(),
            source_rejections::id.desc(),
        ))
        .limit(limit)
        .select(Rejection::as_select())
        .load(&mut conn);
    Ok(Some(
        bounded("Failed to list a source's rejections", listing).await?,
    ))
}
