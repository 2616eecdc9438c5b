//! Dead letters (keys that reach every tenant): the entries workers gave up on, redrive
//! or delete.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use hookrelay_domain::dead_letters::{DeadLetter, ops};

use crate::console::session::Viewer;
use crate::console::view::{Ctx, Paging, with_notice};
use crate::console::{Failure, paths, redirect, render};
use crate::error::ApiError;
use crate::extract::dead_letter_id;
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
    let mut rows = ops::list(
        &state.services,
        usize::try_from(paging.skip).unwrap_or(usize::MAX),
        usize::try_from(paging.fetch()).unwrap_or(0),
    )
    .await?;
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
    let notice = match req.match_info().get("action").unwrap_or_default() {
        "redrive" => {
            ops::redrive(&state.services, &id).await?;
            "Put back into the work stream."
        }
        "delete" => {
            ops::delete(&state.services, &id).await?;
            "Dead letter deleted."
        }
        _ => return Err(ApiError::NotFound("There is no such console page.").into()),
    };
    Ok(redirect(&req, &with_notice(paths::DEAD_LETTERS, notice)))
}
