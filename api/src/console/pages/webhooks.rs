//! Webhooks: search (by id, event type, status, subscription and time) and one webhook's
//! page, its deliveries and attempts updating live until it is final; replay.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use crate::console::form::{Fields, Kind};
use crate::console::session::Viewer;
use crate::console::view::{Ctx, Paging, query, with_notice};
use crate::console::{Failure, paths, redirect, render};
use crate::error::ApiError;
use crate::extract::WebhookId;
use crate::state::AppState;
use hookrelay_domain::webhooks::search::{self as webhooks, WebhookSummary};
use hookrelay_domain::webhooks::status::view::AggregateStatus;
use hookrelay_domain::webhooks::status::{self, WebhookStatus};

/// The search form's fields, as `GET /webhooks` reads them.
const FILTERS: [&str; 5] = ["event_type", "status", "subscription_id", "since", "until"];

#[derive(Template)]
#[template(path = "console/webhooks.html")]
struct List {
    ctx: Ctx,
    rows: Vec<WebhookSummary>,
    paging: Paging,
    values: Vec<(&'static str, String)>,
    statuses: &'static [AggregateStatus],
    status: String,
    searched: bool,
}

impl List {
    fn value(&self, name: &str) -> &str {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

#[derive(Template)]
#[template(path = "console/webhook.html")]
struct One {
    ctx: Ctx,
    live: Live,
}

#[derive(Template)]
#[template(path = "console/webhook_live.html")]
struct Fragment {
    live: Live,
}

pub struct Live {
    w: WebhookStatus,
    /// Still changing: the fragment polls itself until it is not.
    moving: bool,
    csrf: String,
    can_write: bool,
}

pub async fn list(
    viewer: Viewer,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, Failure> {
    // An id goes straight to its page (queued and scheduled webhooks included).
    if let Some(id) = query(&req, "webhook_id") {
        let id = uuid::Uuid::try_parse(&id).map_err(|e| {
            ApiError::field(
                &["query", "webhook_id"],
                format!("Input should be a valid UUID, {e}"),
                "uuid_parsing",
            )
        })?;
        return Ok(redirect(&req, &format!("{}/{id}", paths::WEBHOOKS)));
    }
    let values: Vec<(&'static str, String)> = FILTERS
        .iter()
        .filter_map(|name| query(&req, name).map(|v| (*name, v)))
        .collect();
    let filter_query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(values.iter().map(|(k, v)| (*k, v.as_str())))
        .finish();
    let filter = webhooks::parse_filter(&filter_query).map_err(ApiError::Validation)?;
    let mut paging = Paging::from(&req, 25)?;
    let mut rows = webhooks::search(
        &state.services.db,
        viewer.principal.space(),
        &filter,
        paging.skip,
        paging.fetch(),
    )
    .await?;
    paging.seen(&req, &mut rows);
    let status = query(&req, "status").unwrap_or_default();
    render(&List {
        ctx: Ctx::new(viewer, &req, paths::WEBHOOKS, "Webhooks"),
        rows,
        paging,
        searched: !values.is_empty(),
        values,
        statuses: &AggregateStatus::ALL,
        status,
    })
}

async fn live_state(state: &AppState, viewer: &Viewer, id: uuid::Uuid) -> Result<Live, Failure> {
    let w = status::lookup(
        &state.services.db,
        &state.services.redis,
        &state.services.keys,
        id,
    )
    .await?
    .filter(|w| viewer.principal.space().contains(w.tenant_id))
    .ok_or(ApiError::NotFound("No delivery logs for given webhook_id"))?;
    Ok(Live {
        moving: !matches!(
            w.status,
            AggregateStatus::Delivered | AggregateStatus::Failed | AggregateStatus::NoSubscribers
        ),
        w,
        csrf: viewer.csrf.clone(),
        can_write: viewer.can_write(),
    })
}

pub async fn one(
    viewer: Viewer,
    state: web::Data<AppState>,
    req: HttpRequest,
    WebhookId(id): WebhookId,
) -> Result<HttpResponse, Failure> {
    let live = live_state(&state, &viewer, id).await?;
    render(&One {
        ctx: Ctx::new(viewer, &req, paths::WEBHOOKS, format!("Webhook {id}")),
        live,
    })
}

pub async fn live(
    viewer: Viewer,
    state: web::Data<AppState>,
    WebhookId(id): WebhookId,
) -> Result<HttpResponse, Failure> {
    render(&Fragment {
        live: live_state(&state, &viewer, id).await?,
    })
}

/// Replays the webhook's failed deliveries, or the one delivery named in the form.
pub async fn replay(
    viewer: Viewer,
    state: web::Data<AppState>,
    req: HttpRequest,
    WebhookId(id): WebhookId,
    fields: Fields,
) -> Result<HttpResponse, Failure> {
    let body = fields.to_json(&[("subscription_ids", Kind::List)]);
    let replayed =
        hookrelay_domain::webhooks::replay::run(&state.services, &viewer.principal, id, &body)
            .await?;
    let notice = format!("Replay queued for {} delivery(ies).", replayed.len());
    Ok(redirect(
        &req,
        &with_notice(&format!("{}/{id}", paths::WEBHOOKS), &notice),
    ))
}
