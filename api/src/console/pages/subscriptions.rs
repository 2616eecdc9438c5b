//! Subscriptions: a filtered, paged list with a create form; one subscription's health,
//! recent attempts, edit form and actions (enable/disable, rotate the secret, send a test,
//! delete).

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use hookrelay_domain::subscriptions::Subscription;
use hookrelay_domain::webhooks::Attempt;
use serde_json::Value;

use crate::console::destination_form::{self, TypeForm};
use crate::console::form::{Fields, Kind};
use crate::console::session::Viewer;
use crate::console::view::{Ctx, Paging, query, with_notice};
use crate::console::{Failure, paths, redirect, render};
use crate::error::ApiError;
use crate::extract::SubscriptionId;
use crate::state::AppState;
use hookrelay_domain::subscriptions::store::{self, Health, Narrowing};
use hookrelay_domain::subscriptions::{NOT_FOUND, ops};

/// The form fields of a subscription, and how each becomes JSON (its destination and
/// target URL: `destination_form`).
const FIELDS: [(&str, Kind); 8] = [
    ("name", Kind::Text),
    ("description", Kind::Text),
    ("events", Kind::List),
    ("http_method", Kind::Text),
    ("timeout_ms", Kind::Integer),
    ("rate_limit", Kind::Integer),
    ("retry_schedule", Kind::List),
    ("headers", Kind::Json),
];
/// On create only.
const CREATE_ONLY: [(&str, Kind); 2] = [("secret", Kind::Text), ("tenant_id", Kind::Text)];

/// How many recent attempts a subscription's page shows.
const RECENT_ATTEMPTS: i64 = 25;

#[derive(Template)]
#[template(path = "console/subscriptions.html")]
struct List {
    ctx: Ctx,
    rows: Vec<Subscription>,
    paging: Paging,
    text: String,
    health: String,
    healths: [Health; 3],
    methods: [&'static str; 5],
    destinations: Vec<TypeForm>,
}

#[derive(Template)]
#[template(path = "console/subscription.html")]
struct One {
    ctx: Ctx,
    s: Subscription,
    attempts: Vec<Attempt>,
    events: String,
    retry_schedule: String,
    headers: String,
    methods: [&'static str; 5],
    destinations: Vec<TypeForm>,
    base: String,
    webhooks_href: String,
}

const METHODS: [&str; 5] = ["POST", "PUT", "PATCH", "GET", "DELETE"];

pub async fn list(
    viewer: Viewer,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, Failure> {
    let mut paging = Paging::from(&req, 25)?;
    let health = query(&req, "health");
    let narrowing = Narrowing {
        text: query(&req, "q"),
        health: health.as_deref().and_then(Health::parse),
    };
    let space = viewer.principal.space();
    let mut rows = store::list_matching(
        &state.services.db,
        space,
        &narrowing,
        paging.skip,
        paging.fetch(),
    )
    .await?;
    paging.seen(&req, &mut rows);
    render(&List {
        ctx: Ctx::new(viewer, &req, paths::SUBSCRIPTIONS, "Subscriptions"),
        rows,
        paging,
        text: narrowing.text.unwrap_or_default(),
        health: health.unwrap_or_default(),
        healths: Health::ALL,
        methods: METHODS,
        destinations: destination_form::views(None, "new-"),
    })
}

fn page_of(id: uuid::Uuid) -> String {
    format!("{}/{id}", paths::SUBSCRIPTIONS)
}

pub async fn create(
    viewer: Viewer,
    state: web::Data<AppState>,
    req: HttpRequest,
    fields: Fields,
) -> Result<HttpResponse, Failure> {
    let mut body = fields.to_json(&FIELDS);
    body.extend(fields.to_json(&CREATE_ONLY));
    body.extend(destination_form::body(&fields, false));
    let subscription = ops::create(&state.services, &viewer.principal, &body).await?;
    Ok(redirect(
        &req,
        &with_notice(&page_of(subscription.id), "Subscription created."),
    ))
}

pub async fn one(
    viewer: Viewer,
    state: web::Data<AppState>,
    req: HttpRequest,
    SubscriptionId(id): SubscriptionId,
) -> Result<HttpResponse, Failure> {
    let space = viewer.principal.space();
    let s = store::get(&state.services.db, space, id)
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    let attempts = store::attempts(&state.services.db, space, id, RECENT_ATTEMPTS).await?;
    let title = s.label();
    render(&One {
        ctx: Ctx::new(viewer, &req, paths::SUBSCRIPTIONS, title),
        events: s.events.clone().unwrap_or_default().join(", "),
        retry_schedule: s
            .retry_schedule
            .as_ref()
            .map(|delays| {
                delays
                    .iter()
                    .map(|ms| {
                        hookrelay_shared::config::format_duration(std::time::Duration::from_millis(
                            u64::try_from(*ms).unwrap_or(0),
                        ))
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default(),
        headers: match &s.headers {
            Value::Object(map) if map.is_empty() => String::new(),
            other => other.to_string(),
        },
        methods: METHODS,
        destinations: destination_form::views(Some(&s), ""),
        base: page_of(id),
        webhooks_href: format!("{}?subscription_id={id}", paths::WEBHOOKS),
        attempts,
        s,
    })
}

pub async fn update(
    viewer: Viewer,
    state: web::Data<AppState>,
    req: HttpRequest,
    SubscriptionId(id): SubscriptionId,
    fields: Fields,
) -> Result<HttpResponse, Failure> {
    let mut body = fields.changes(&FIELDS);
    if body.get("headers") == Some(&Value::Null) {
        body.insert("headers".into(), Value::Object(serde_json::Map::new()));
    }
    body.extend(destination_form::body(&fields, true));
    ops::update(&state.services, &viewer.principal, id, &body).await?;
    Ok(redirect(&req, &with_notice(&page_of(id), "Changes saved.")))
}

pub async fn set_active(
    viewer: Viewer,
    state: web::Data<AppState>,
    req: HttpRequest,
    SubscriptionId(id): SubscriptionId,
    fields: Fields,
) -> Result<HttpResponse, Failure> {
    let body = fields.to_json(&[("is_active", Kind::Bool)]);
    let active = body.get("is_active") == Some(&Value::Bool(true));
    ops::update(&state.services, &viewer.principal, id, &body).await?;
    let notice = if active {
        "Subscription enabled."
    } else {
        "Subscription disabled."
    };
    Ok(redirect(&req, &with_notice(&page_of(id), notice)))
}

pub async fn rotate_secret(
    viewer: Viewer,
    state: web::Data<AppState>,
    req: HttpRequest,
    SubscriptionId(id): SubscriptionId,
    fields: Fields,
) -> Result<HttpResponse, Failure> {
    let body = fields.to_json(&[("grace_period", Kind::Text)]);
    ops::rotate_secret(&state.services, &viewer.principal, id, &body).await?;
    Ok(redirect(
        &req,
        &with_notice(
            &page_of(id),
            "Secret rotated. The previous one keeps signing next to it until the grace period ends.",
        ),
    ))
}

pub async fn test(
    viewer: Viewer,
    state: web::Data<AppState>,
    req: HttpRequest,
    SubscriptionId(id): SubscriptionId,
) -> Result<HttpResponse, Failure> {
    let webhook_id = ops::send_test(&state.services, &viewer.principal, id).await?;
    Ok(redirect(
        &req,
        &with_notice(
            &format!("{}/{webhook_id}", paths::WEBHOOKS),
            "Test webhook sent.",
        ),
    ))
}

pub async fn delete(
    viewer: Viewer,
    state: web::Data<AppState>,
    req: HttpRequest,
    SubscriptionId(id): SubscriptionId,
) -> Result<HttpResponse, Failure> {
    ops::delete(&state.services, &viewer.principal, id).await?;
    Ok(redirect(
        &req,
        &with_notice(paths::SUBSCRIPTIONS, "Subscription deleted."),
    ))
}
