//! Dead letters (keys that reach every tenant): the entries workers gave up on, redrive
//! or delete.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use hookrelay_shared::dead_letters::{self, DeadLetter};

use crate::console::session::Viewer;
use crate::console::view::{Ctx, Paging, with_notice};
use crate::console::{Failure, paths, redirect, render};
use crate::error::ApiError;
use crate::handlers::dead_letters::{NOT_FOUND, dead_letter_id, redis_down};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "console/dead_letters.html")]
struct List {
    ctx: Ctx,
    rows: Vec<DeadLetter>,
    paging: Paging,
}

pub async fn list(
    viewer: Viewer,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, Failure> {
    let mut paging = Paging::from(&req, 25)?;
    let mut rows = dead_letters::list(
        &mut state.redis.clone(),
        &state.keys,
        usize::try_from(paging.skip).unwrap_or(usize::MAX),
        usize::try_from(paging.fetch()).unwrap_or(0),
    )
    .await
    .map_err(redis_down)?;
    paging.seen(&req, &mut rows);
    render(&List {
        ctx: Ctx::new(viewer, &req, paths::DEAD_LETTERS, "Dead letters"),
        rows,
        paging,
    })
}

/// `redrive` or `delete`.
pub async fn act(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, Failure> {
    let id = dead_letter_id(&req)?;
    let mut redis = state.redis.clone();
    let notice = match req.match_info().get("action").unwrap_or_default() {
        "redrive" => {
            let entry_id = dead_letters::redrive(&mut redis, &state.keys, &id)
                .await
                .map_err(redis_down)?
                .ok_or(NOT_FOUND)?;
            tracing::info!(dead_letter_id = %id, entry_id, "dead letter redriven (console)");
            "Put back into the work stream."
        }
        "delete" => {
            if !dead_letters::delete(&mut redis, &state.keys, &id)
                .await
                .map_err(redis_down)?
            {
                return Err(NOT_FOUND.into());
            }
            tracing::info!(dead_letter_id = %id, "dead letter deleted (console)");
            "Dead letter deleted."
        }
        _ => return Err(ApiError::NotFound("There is no such console page.").into()),
    };
    Ok(redirect(&req, &with_notice(paths::DEAD_LETTERS, notice)))
}
