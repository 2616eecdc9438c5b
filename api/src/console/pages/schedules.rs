//! Schedules: the list with a create form, and pause / resume / trigger / delete.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use crate::console::form::{Fields, Kind};
use crate::console::session::Viewer;
use crate::console::view::{Ctx, Paging, with_notice};
use crate::console::{Failure, paths, redirect, render};
use crate::error::ApiError;
use crate::extract::ScheduleId;
use crate::state::AppState;
use hookrelay_domain::schedules::ops;
use hookrelay_domain::schedules::row::Schedule;
use hookrelay_domain::schedules::store as schedules;

/// The create form's fields, as `POST /schedules` reads them.
const FIELDS: [(&str, Kind); 10] = [
    ("name", Kind::Text),
    ("description", Kind::Text),
    ("kind", Kind::Text),
    ("cron", Kind::Text),
    ("timezone", Kind::Text),
    ("run_at", Kind::Text),
    ("event_type", Kind::Text),
    ("subscription_id", Kind::Text),
    ("payload", Kind::Json),
    ("tenant_id", Kind::Text),
];

#[derive(Template)]
#[template(path = "console/schedules.html")]
struct List {
    ctx: Ctx,
    rows: Vec<Schedule>,
    paging: Paging,
}

pub async fn list(
    viewer: Viewer,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, Failure> {
    let mut paging = Paging::from(&req, 25)?;
    let mut rows = schedules::list(
        &state.services.db,
        viewer.principal.space(),
        paging.skip,
        paging.fetch(),
    )
    .await?;
    paging.seen(&req, &mut rows);
    render(&List {
        ctx: Ctx::new(viewer, &req, paths::SCHEDULES, "Schedules"),
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
    let schedule = ops::create(&state.services, &viewer.principal, &body).await?;
    Ok(redirect(
        &req,
        &with_notice(
            paths::SCHEDULES,
            &format!("Schedule {} created.", schedule.name),
        ),
    ))
}

/// `pause`, `resume`, `trigger` or `delete`.
pub async fn act(
    viewer: Viewer,
    state: web::Data<AppState>,
    req: HttpRequest,
    ScheduleId(id): ScheduleId,
) -> Result<HttpResponse, Failure> {
    let (services, principal) = (&state.services, &viewer.principal);
    let notice = match req.match_info().get("action").unwrap_or_default() {
        action @ ("pause" | "resume") => {
            ops::set_active(services, principal, id, action == "resume").await?;
            if action == "pause" {
                "Schedule paused."
            } else {
                "Schedule resumed."
            }
            .to_owned()
        }
        "trigger" => {
            let webhook_id = ops::trigger(services, principal, id).await?;
            format!("Schedule triggered: webhook {webhook_id}.")
        }
        "delete" => {
            ops::delete(services, principal, id).await?;
            "Schedule deleted.".to_owned()
        }
        _ => return Err(ApiError::NotFound("There is no such console page.").into()),
    };
    Ok(redirect(&req, &with_notice(paths::SCHEDULES, &notice)))
}
