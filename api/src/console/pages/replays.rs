//! Bulk replays: a filter form whose dry-run count is shown before the replay can start,
//! then the replay's live progress with a cancel button.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::Duration;
use hookrelay_domain::replays::selection::ReplayStatus;
use hookrelay_domain::webhooks::DeliveryStatus;

use crate::console::form::{Fields, Kind};
use crate::console::session::Viewer;
use crate::console::view::{Ctx, Paging, query, with_notice};
use crate::console::{Failure, paths, redirect, render};
use crate::error::ApiError;
use crate::extract::ReplayId;
use crate::state::AppState;
use hookrelay_domain::replays::ops;
use hookrelay_domain::replays::store::{self as replays, Blocked, Created, Replay};

/// The filter form's fields, as `POST /replays` reads them.
const FILTER: [(&str, Kind); 6] = [
    ("subscription_id", Kind::Text),
    ("event_types", Kind::List),
    ("since", Kind::Text),
    ("until", Kind::Text),
    ("statuses", Kind::List),
    ("include_missing", Kind::Bool),
];

const STATUSES: [DeliveryStatus; 4] = [
    DeliveryStatus::Failed,
    DeliveryStatus::Succeeded,
    DeliveryStatus::Retrying,
    DeliveryStatus::Pending,
];

#[derive(Template)]
#[template(path = "console/replays.html")]
struct List {
    ctx: Ctx,
    rows: Vec<Replay>,
    paging: Paging,
    since: String,
    subscription_id: String,
    statuses: [DeliveryStatus; 4],
}

#[derive(Template)]
#[template(path = "console/replay_confirm.html")]
struct Confirm {
    ctx: Ctx,
    matched: i64,
    /// The filter, carried to the start form as it was posted.
    fields: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "console/replay.html")]
struct One {
    ctx: Ctx,
    live: Live,
}

#[derive(Template)]
#[template(path = "console/replay_live.html")]
struct Fragment {
    live: Live,
}

pub struct Live {
    r: Replay,
    running: bool,
    /// Queued of matched, in percent (0 before anything matched).
    percent: i64,
    filter: String,
    csrf: String,
    can_write: bool,
}

pub async fn list(
    viewer: Viewer,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, Failure> {
    let mut paging = Paging::from(&req, 25)?;
    let mut rows = replays::list(
        &state.services.db,
        viewer.principal.space(),
        paging.skip,
        paging.fetch(),
    )
    .await?;
    paging.seen(&req, &mut rows);
    let since = hookrelay_shared::time::now() - Duration::hours(1);
    render(&List {
        ctx: Ctx::new(viewer, &req, paths::REPLAYS, "Replays"),
        rows,
        paging,
        since: since.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        subscription_id: query(&req, "subscription_id").unwrap_or_default(),
        statuses: STATUSES,
    })
}

/// The `POST /replays` body the filter form stands for.
fn posted(fields: &Fields, dry_run: bool) -> serde_json::Map<String, serde_json::Value> {
    let mut body = fields.to_json(&FILTER);
    body.insert("dry_run".into(), dry_run.into());
    body
}

/// Counts what the filter matches and shows it, with the button that starts the replay.
pub async fn dry_run(
    viewer: Viewer,
    state: web::Data<AppState>,
    req: HttpRequest,
    fields: Fields,
) -> Result<HttpResponse, Failure> {
    let posted = posted(&fields, true);
    let Created::Counted(matched) =
        ops::create(&state.services, &viewer.principal, &posted).await?
    else {
        return Err(ApiError::Internal(anyhow::anyhow!("a dry run stored a replay")).into());
    };
    render(&Confirm {
        ctx: Ctx::new(viewer, &req, paths::REPLAYS, "Start a replay?"),
        matched,
        fields: fields.0,
    })
}

pub async fn create(
    viewer: Viewer,
    state: web::Data<AppState>,
    req: HttpRequest,
    fields: Fields,
) -> Result<HttpResponse, Failure> {
    let posted = posted(&fields, false);
    let Created::Stored(replay) = ops::create(&state.services, &viewer.principal, &posted).await?
    else {
        return Err(ApiError::Internal(anyhow::anyhow!("a replay was only counted")).into());
    };
    Ok(redirect(
        &req,
        &with_notice(
            &format!("{}/{}", paths::REPLAYS, replay.id),
            "Replay started.",
        ),
    ))
}

async fn live_state(state: &AppState, viewer: &Viewer, id: uuid::Uuid) -> Result<Live, Failure> {
    let r = replays::get(&state.services.db, viewer.principal.space(), id)
        .await?
        .ok_or(hookrelay_domain::Refusal::from(Blocked::UnknownReplay))?;
    Ok(Live {
        running: r.status == ReplayStatus::Running,
        percent: if r.matched > 0 {
            (r.queued * 100 / r.matched).clamp(0, 100)
        } else {
            0
        },
        filter: serde_json::to_string_pretty(&r.filter).unwrap_or_default(),
        csrf: viewer.csrf.clone(),
        can_write: viewer.can_write(),
        r,
    })
}

pub async fn one(
    viewer: Viewer,
    state: web::Data<AppState>,
    req: HttpRequest,
    ReplayId(id): ReplayId,
) -> Result<HttpResponse, Failure> {
    let live = live_state(&state, &viewer, id).await?;
    render(&One {
        ctx: Ctx::new(viewer, &req, paths::REPLAYS, format!("Replay {id}")),
        live,
    })
}

pub async fn live(
    viewer: Viewer,
    state: web::Data<AppState>,
    ReplayId(id): ReplayId,
) -> Result<HttpResponse, Failure> {
    render(&Fragment {
        live: live_state(&state, &viewer, id).await?,
    })
}

pub async fn cancel(
    viewer: Viewer,
    state: web::Data<AppState>,
    req: HttpRequest,
    ReplayId(id): ReplayId,
) -> Result<HttpResponse, Failure> {
    ops::cancel(&state.services, &viewer.principal, id).await?;
    Ok(redirect(
        &req,
        &with_notice(&format!("{}/{id}", paths::REPLAYS), "Replay cancelled."),
    ))
}
