//! Tenants (admin keys) and API keys: lists, create, delete. A new key's secret is shown
//! once, on the page the create form answers with.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use hookrelay_shared::models::{ApiKey, Permission, Tenant};

use crate::api_keys::{self, CreatedApiKey};
use crate::console::form::{Fields, Kind};
use crate::console::session::Viewer;
use crate::console::view::{Ctx, Paging, with_notice};
use crate::console::{Failure, paths, redirect, render};
use crate::error::ApiError;
use crate::extract::{ApiKeyId, TenantId};
use crate::handlers::tenants::{forget, log_stale};
use crate::state::AppState;
use crate::tenants;

#[derive(Template)]
#[template(path = "console/tenants.html")]
struct Tenants {
    ctx: Ctx,
    rows: Vec<Tenant>,
    paging: Paging,
}

#[derive(Template)]
#[template(path = "console/keys.html")]
struct Keys {
    ctx: Ctx,
    rows: Vec<ApiKey>,
    paging: Paging,
    permissions: [Permission; 3],
    /// Just created: its secret, shown this once.
    created: Option<CreatedApiKey>,
}

pub async fn tenants(
    viewer: Viewer,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, Failure> {
    let mut paging = Paging::from(&req, 25)?;
    let mut rows = tenants::list(&state.db, paging.skip, paging.fetch()).await?;
    paging.seen(&req, &mut rows);
    render(&Tenants {
        ctx: Ctx::new(viewer, &req, paths::TENANTS, "Tenants"),
        rows,
        paging,
    })
}

pub async fn create_tenant(
    state: web::Data<AppState>,
    req: HttpRequest,
    fields: Fields,
) -> Result<HttpResponse, Failure> {
    let body = fields.to_json(&[("name", Kind::Text), ("metadata", Kind::Json)]);
    let tenant = tenants::parse_new(&body).map_err(ApiError::Validation)?;
    let tenant = tenants::create(&state.db, tenant).await?;
    tracing::info!(tenant_id = %tenant.id, "tenant created (console)");
    log_stale("a tenant", state.tenants.invalidate(&tenant.id).await);
    Ok(redirect(
        &req,
        &with_notice(paths::TENANTS, &format!("Tenant {} created.", tenant.name)),
    ))
}

pub async fn delete_tenant(
    state: web::Data<AppState>,
    req: HttpRequest,
    TenantId(id): TenantId,
) -> Result<HttpResponse, Failure> {
    let removed = tenants::delete(&state.db, id)
        .await?
        .ok_or(tenants::NOT_FOUND)?;
    tracing::info!(tenant_id = %id, subscriptions = removed.subscriptions.len(), keys = removed.key_prefixes.len(), "tenant deleted (console)");
    forget(&state, id, &removed).await;
    Ok(redirect(
        &req,
        &with_notice(paths::TENANTS, "Tenant deleted."),
    ))
}

async fn keys_page(
    viewer: Viewer,
    state: &AppState,
    req: &HttpRequest,
    created: Option<CreatedApiKey>,
) -> Result<HttpResponse, Failure> {
    let mut paging = Paging::from(req, 25)?;
    let mut rows = api_keys::list(
        &state.db,
        viewer.principal.space(),
        paging.skip,
        paging.fetch(),
    )
    .await?;
    paging.seen(req, &mut rows);
    render(&Keys {
        ctx: Ctx::new(viewer, req, paths::KEYS, "API keys"),
        rows,
        paging,
        permissions: [Permission::Read, Permission::Write, Permission::Ingest],
        created,
    })
}

pub async fn keys(
    viewer: Viewer,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, Failure> {
    keys_page(viewer, &state, &req, None).await
}

/// Answers with the keys page itself (not a redirect): the secret must not sit in a URL.
pub async fn create_key(
    viewer: Viewer,
    state: web::Data<AppState>,
    req: HttpRequest,
    fields: Fields,
) -> Result<HttpResponse, Failure> {
    let body = fields.to_json(&[
        ("name", Kind::Text),
        ("tenant_id", Kind::Text),
        ("permissions", Kind::List),
        ("expires_at", Kind::Text),
    ]);
    let input = api_keys::parse_new(&body).map_err(ApiError::Validation)?;
    let input = api_keys::scoped(&viewer.principal, input)?;
    let created = api_keys::create(&state.db, input)
        .await?
        .ok_or(tenants::NOT_FOUND)?;
    tracing::info!(api_key_id = %created.api_key.id, tenant_id = ?created.api_key.tenant_id, "API key created (console)");
    crate::handlers::api_keys::changed(&state, &created.api_key.key_prefix).await;
    keys_page(viewer, &state, &req, Some(created)).await
}

pub async fn delete_key(
    viewer: Viewer,
    state: web::Data<AppState>,
    req: HttpRequest,
    ApiKeyId(id): ApiKeyId,
) -> Result<HttpResponse, Failure> {
    let prefix = api_keys::delete(&state.db, &viewer.principal, id)
        .await?
        .ok_or(api_keys::NOT_FOUND)?;
    tracing::info!(api_key_id = %id, "API key deleted (console)");
    crate::handlers::api_keys::changed(&state, &prefix).await;
    Ok(redirect(
        &req,
        &with_notice(paths::KEYS, "API key deleted."),
    ))
}
