//! Sources: the list with a create form; one source with its inbound URL, its refused
//! requests, rotate the path, delete.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use crate::console::form::{Fields, Kind};
use crate::console::session::Viewer;
use crate::console::view::{Ctx, Paging, with_notice};
use crate::console::{Failure, paths, redirect, render};
use crate::error::ApiError;
use crate::extract::SourceId;
use crate::state::AppState;
use hookrelay_domain::sources::store::{self, Rejection};
use hookrelay_domain::sources::{self, SourceView, ops};

/// The create form's fields, as `POST /sources` reads them.
const FIELDS: [(&str, Kind); 8] = [
    ("name", Kind::Text),
    ("verification", Kind::Json),
    ("subscription_id", Kind::Text),
    ("event_type", Kind::Json),
    ("ip_allowlist", Kind::List),
    ("rate_limit", Kind::Json),
    ("forward_headers", Kind::List),
    ("tenant_id", Kind::Text),
];

/// How many refused requests a source's page shows.
const REJECTIONS: i64 = 50;

#[derive(Template)]
#[template(path = "console/sources.html")]
struct List {
    ctx: Ctx,
    rows: Vec<SourceView>,
    paging: Paging,
}

#[derive(Template)]
#[template(path = "console/source.html")]
struct One {
    ctx: Ctx,
    s: SourceView,
    url: String,
    verification: String,
    rejections: Vec<Rejection>,
}

const NOT_FOUND: ApiError = ApiError::NotFound(sources::NOT_FOUND);

pub async fn list(
    viewer: Viewer,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, Failure> {
    let mut paging = Paging::from(&req, 25)?;
    let found = store::list(
        &state.services.db,
        viewer.principal.space(),
        paging.skip,
        paging.fetch(),
    )
    .await?;
    let mut rows: Vec<SourceView> = found.iter().map(|s| s.view()).collect();
    paging.seen(&req, &mut rows);
    render(&List {
        ctx: Ctx::new(viewer, &req, paths::SOURCES, "Sources"),
        rows,
        paging,
    })
}

pub async fn create(
    viewer: Viewer,
    state: web::Data<AppState>,
    req: HttpRequest,
    fields: Fields,
) -> Result<HttpResponse, Failure> {
    let body = fields.to_json(&FIELDS);
    let source = ops::create(&state.services, &viewer.principal, &body).await?;
    Ok(redirect(
        &req,
        &with_notice(
            &format!("{}/{}", paths::SOURCES, source.id),
            "Source created.",
        ),
    ))
}

pub async fn one(
    viewer: Viewer,
    state: web::Data<AppState>,
    req: HttpRequest,
    SourceId(id): SourceId,
) -> Result<HttpResponse, Failure> {
    let space = viewer.principal.space();
    let source = store::get(&state.services.db, space, id)
        .await?
        .ok_or(NOT_FOUND)?;
    let rejections = store::rejections(&state.services.db, space, id, REJECTIONS)
        .await?
        .ok_or(NOT_FOUND)?;
    let s = source.view();
    let info = req.connection_info();
    render(&One {
        url: format!("{}://{}{}", info.scheme(), info.host(), s.ingest_path),
        verification: serde_json::to_string(&s.verification).unwrap_or_default(),
        ctx: Ctx::new(viewer, &req, paths::SOURCES, s.name.clone()),
        rejections,
        s,
    })
}

pub async fn rotate_path(
    viewer: Viewer,
    state: web::Data<AppState>,
    req: HttpRequest,
    SourceId(id): SourceId,
) -> Result<HttpResponse, Failure> {
    ops::rotate_path(&state.services, &viewer.principal, id).await?;
    Ok(redirect(
        &req,
        &with_notice(
            &format!("{}/{id}", paths::SOURCES),
            "Path rotated: the old URL answers 404 from now on.",
        ),
    ))
}

pub async fn delete(
    viewer: Viewer,
    state: web::Data<AppState>,
    req: HttpRequest,
    SourceId(id): SourceId,
) -> Result<HttpResponse, Failure> {
    ops::delete(&state.services, &viewer.principal, id).await?;
    Ok(redirect(
        &req,
        &with_notice(paths::SOURCES, "Source deleted."),
    ))
}
