//! The overview: queue depths (keys that see every tenant), the last hour's deliveries by
//! status, and the subscriptions that need attention. Its live part polls every 5 s.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::Duration;
use hookrelay_domain::subscriptions::Subscription;
use hookrelay_domain::webhooks::DeliveryStatus;
use hookrelay_shared::keys::Partition;
use hookrelay_shared::queue::{self, QueueDepths, queue_depths};

use crate::console::session::Viewer;
use crate::console::view::Ctx;
use crate::console::{Failure, paths, render};
use crate::state::AppState;
use hookrelay_domain::subscriptions::store::{self, Health, Narrowing};

/// How many subscriptions each attention list shows (links go to the full lists).
const ATTENTION: i64 = 10;

pub struct Live {
    /// The queue's depths summed over its partitions.
    pub depths: Option<Vec<(&'static str, u64)>>,
    /// Each partition that holds any work, with its depths; and how many partitions
    /// there are in all.
    pub partitions: Vec<(String, Vec<(&'static str, u64)>)>,
    pub partition_count: usize,
    pub outcomes: Vec<(DeliveryStatus, i64)>,
    pub failing: Vec<Subscription>,
    pub inactive: Vec<Subscription>,
    pub failing_href: String,
    pub inactive_href: String,
    pub subscriptions_href: &'static str,
}

#[derive(Template)]
#[template(path = "console/overview.html")]
struct Page {
    ctx: Ctx,
    live: Live,
}

#[derive(Template)]
#[template(path = "console/overview_live.html")]
struct Fragment {
    live: Live,
}

async fn live_state(state: &AppState, viewer: &Viewer) -> Result<Live, Failure> {
    let space = viewer.principal.space();
    let mut partitions = Vec::new();
    let mut partition_count = 0;
    let depths = if viewer.all_tenants() {
        match queue_depths(&mut state.services.redis.clone(), &state.services.keys).await {
            Ok(each) => {
                // The layout of versions before partitions is listed when it holds work,
                // not counted.
                partition_count = each
                    .iter()
                    .filter(|(partition, _)| matches!(partition, Partition::Numbered(_)))
                    .count();
                partitions = each
                    .iter()
                    .filter(|(_, depths)| *depths != QueueDepths::default())
                    .map(|(partition, depths)| (partition.label(), depths.labelled().to_vec()))
                    .collect();
                Some(queue::total(&each).labelled().to_vec())
            }
            Err(e) => {
                tracing::warn!(error = %e, "console overview: queue depths unavailable");
                None
            }
        }
    } else {
        None
    };
    let since = hookrelay_shared::time::now() - Duration::hours(1);
    let outcomes =
        hookrelay_domain::webhooks::overview::deliveries_since(&state.services.db, space, since)
            .await?;
    let narrowed = |health| Narrowing {
        text: None,
        health: Some(health),
    };
    let failing = store::list_matching(
        &state.services.db,
        space,
        &narrowed(Health::Failing),
        0,
        ATTENTION,
    )
    .await?;
    let inactive = store::list_matching(
        &state.services.db,
        space,
        &narrowed(Health::Inactive),
        0,
        ATTENTION,
    )
    .await?;
    Ok(Live {
        depths,
        partitions,
        partition_count,
        outcomes,
        failing,
        inactive,
        failing_href: format!(
            "{}?health={}",
            paths::SUBSCRIPTIONS,
            Health::Failing.as_str()
        ),
        inactive_href: format!(
            "{}?health={}",
            paths::SUBSCRIPTIONS,
            Health::Inactive.as_str()
        ),
        subscriptions_href: paths::SUBSCRIPTIONS,
    })
}

pub async fn page(
    viewer: Viewer,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, Failure> {
    let live = live_state(&state, &viewer).await?;
    render(&Page {
        ctx: Ctx::new(viewer, &req, paths::ROOT, "Overview"),
        live,
    })
}

pub async fn live(viewer: Viewer, state: web::Data<AppState>) -> Result<HttpResponse, Failure> {
    render(&Fragment {
        live: live_state(&state, &viewer).await?,
    })
}
