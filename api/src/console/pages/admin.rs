//! Tenants (admin keys) and API keys: lists, create, delete. A new key's secret is shown
//! once, on the page the create form answers with.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use hookrelay_domain::api_keys::ApiKey;
use hookrelay_domain::api_keys::Permission;
use hookrelay_domain::tenants::Tenant;

use crate::console::form::{Fields, Kind};
use crate::console::session::Viewer;
use crate::console::view::{Ctx, Paging, with_notice};
use crate::console::{Failure, paths, redirect, render};
use crate::extract::{ApiKeyId, TenantId};
use crate::state::AppState;
use hookrelay_domain::api_keys::{self, CreatedApiKey};
use hookrelay_domain::tenants;

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
    let mut rows = tenants::list(&state.services.db, paging.skip, paging.fetch()).await?;
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
    let tenant = tenants::ops::create(&state.services, &body).await?;
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
    tenants::ops::delete(&state.services, id).await?;
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
        &state.services.db,
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
    let created = api_keys::ops::create(&state.services, &viewer.principal, &body).await?;
    keys_page(viewer, &state, &req, Some(created)).await
}

pub async fn delete_key(
    viewer: Viewer,
    state: web::Data<AppState>,
    req: HttpRequest,
    ApiKeyId(id): ApiKeyId,
) -> Result<HttpResponse, Failure> {
    api_keys::ops::delete(&state.services, &viewer.principal, id).await?;
    Ok(redirect(
        &req,
        &with_notice(paths::KEYS, "API key deleted."),
    ))
}
