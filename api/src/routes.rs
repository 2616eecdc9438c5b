//! The table of contents of the api: every route, its methods and its handler.
//!
//! Each route names what it needs from its caller ([`Need`]): `on` wraps every route that
//! is not `Need::Open` in `auth::authorize`, which refuses with 401/403 before the
//! handler runs and hands it a `Principal`. The OpenAPI document's `security` of each
//! operation is read from this table too ([`needs`]). Unknown paths answer 404
//! `{"detail": "Not Found"}`, known paths with another method 405
//! `{"detail": "Method Not Allowed"}` and an `Allow` header listing the route's methods.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::from_fn;
use actix_web::{FromRequest, Handler, HttpResponse, Resource, Responder, Route, web};
use hookrelay_domain::api_keys::Permission::{Ingest, Read, Write};

use crate::auth::{self, Need};
use crate::error::detail_response;
use crate::handlers::{
    api_keys, dead_letters, inbound, ingest, ops, replays, schedules, sources, status,
    subscriptions, tenants, webhooks,
};

use Need::{Admin, AllTenants, Open, Permission as Needs};

pub fn configure(cfg: &mut web::ServiceConfig) {
    for (service, _) in table() {
        cfg.service(service);
    }
    crate::console::configure(cfg);
    cfg.default_service(web::to(not_found));
}

/// Every route's OpenAPI path, method and need, read from the same table `configure`
/// serves (`openapi::document` writes them into each operation's `security`).
pub fn needs() -> Vec<(String, Method, Need)> {
    table().into_iter().flat_map(|(_, routes)| routes).collect()
}

type Entry = (Resource, Vec<(String, Method, Need)>);

fn table() -> Vec<Entry> {
    let swagger_ui = web::Data::new(utoipa_swagger_ui::Config::from("/openapi.json"));
    vec![
        // Ingest and status. First: actix tries resources in the order they are
        // registered, and every dynamic path it passes on the way costs a regex match
        // (measured: 6% of the api's CPU on ingest when these came last).
        resource(
            &["/ingest", "/ingest/"],
            [on(Method::POST, Needs(Ingest), ingest::fan_out)],
        ),
        resource(
            &["/ingest/{subscription_id}", "/ingest/{subscription_id}/"],
            [on(Method::POST, Needs(Ingest), ingest::targeted)],
        ),
        // Sources' inbound URLs: no API key (the source's verification authenticates).
        resource(
            &["/in/{token}", "/in/{token}/"],
            [on(Method::POST, Open, inbound::receive)],
        ),
        resource(
            &["/status/{webhook_id}", "/status/{webhook_id}/"],
            [on(Method::GET, Needs(Read), status::get)],
        ),
        resource(
            &["/webhooks", "/webhooks/"],
            [on(Method::GET, Needs(Read), webhooks::list)],
        ),
        resource(
            &[
                "/webhooks/{webhook_id}/replay",
                "/webhooks/{webhook_id}/replay/",
            ],
            [on(Method::POST, Needs(Write), webhooks::replay)],
        ),
        resource(
            &["/replays", "/replays/"],
            [
                on(Method::POST, Needs(Write), replays::create),
                on(Method::GET, Needs(Read), replays::list),
            ],
        ),
        resource(
            &["/replays/{replay_id}", "/replays/{replay_id}/"],
            [
                on(Method::GET, Needs(Read), replays::get),
                on(Method::DELETE, Needs(Write), replays::cancel),
            ],
        ),
        // Schedules.
        resource(
            &["/schedules", "/schedules/"],
            [
                on(Method::POST, Needs(Write), schedules::create),
                on(Method::GET, Needs(Read), schedules::list),
            ],
        ),
        resource(
            &["/schedules/{schedule_id}", "/schedules/{schedule_id}/"],
            [
                on(Method::GET, Needs(Read), schedules::get),
                on(Method::PATCH, Needs(Write), schedules::update),
                on(Method::DELETE, Needs(Write), schedules::delete),
            ],
        ),
        resource(
            &[
                "/schedules/{schedule_id}/pause",
                "/schedules/{schedule_id}/pause/",
            ],
            [on(Method::POST, Needs(Write), schedules::pause)],
        ),
        resource(
            &[
                "/schedules/{schedule_id}/resume",
                "/schedules/{schedule_id}/resume/",
            ],
            [on(Method::POST, Needs(Write), schedules::resume)],
        ),
        resource(
            &[
                "/schedules/{schedule_id}/trigger",
                "/schedules/{schedule_id}/trigger/",
            ],
            [on(Method::POST, Needs(Write), schedules::trigger)],
        ),
        resource(
            &[
                "/schedules/{schedule_id}/runs",
                "/schedules/{schedule_id}/runs/",
            ],
            [on(Method::GET, Needs(Read), schedules::runs)],
        ),
        // Sources.
        resource(
            &["/sources", "/sources/"],
            [
                on(Method::POST, Needs(Write), sources::create),
                on(Method::GET, Needs(Read), sources::list),
            ],
        ),
        resource(
            &["/sources/{source_id}", "/sources/{source_id}/"],
            [
                on(Method::GET, Needs(Read), sources::get),
                on(Method::PATCH, Needs(Write), sources::update),
                on(Method::DELETE, Needs(Write), sources::delete),
            ],
        ),
        resource(
            &[
                "/sources/{source_id}/rotate-path",
                "/sources/{source_id}/rotate-path/",
            ],
            [on(Method::POST, Needs(Write), sources::rotate_path)],
        ),
        resource(
            &[
                "/sources/{source_id}/rejections",
                "/sources/{source_id}/rejections/",
            ],
            [on(Method::GET, Needs(Read), sources::rejections)],
        ),
        // Open: probes, metrics and documentation (`/openapi.json`, `/docs`).
        resource(&["/healthz"], [on(Method::GET, Open, ops::healthz)]),
        resource(&["/readyz"], [on(Method::GET, Open, ops::readyz)]),
        resource(&["/metrics"], [on(Method::GET, Open, ops::metrics)]),
        resource(&["/openapi.json"], [on(Method::GET, Open, ops::openapi)]),
        // Swagger UI's page and files, compiled into the binary (no CDN), showing
        // /openapi.json.
        with_data(
            resource(&["/docs"], [on(Method::GET, Open, ops::docs)]),
            swagger_ui.clone(),
        ),
        with_data(
            resource(
                &["/docs/{file:.*}"],
                [on(Method::GET, Open, ops::swagger_ui)],
            ),
            swagger_ui,
        ),
        // Subscriptions.
        resource(
            &["/subscriptions", "/subscriptions/"],
            [
                on(Method::POST, Needs(Write), subscriptions::create),
                on(Method::GET, Needs(Read), subscriptions::list),
            ],
        ),
        resource(
            &[
                "/subscriptions/{subscription_id}",
                "/subscriptions/{subscription_id}/",
            ],
            [
                on(Method::GET, Needs(Read), subscriptions::get),
                on(Method::PATCH, Needs(Write), subscriptions::update),
                on(Method::DELETE, Needs(Write), subscriptions::delete),
            ],
        ),
        resource(
            &[
                "/subscriptions/{subscription_id}/attempts",
                "/subscriptions/{subscription_id}/attempts/",
            ],
            [on(Method::GET, Needs(Read), subscriptions::attempts)],
        ),
        resource(
            &[
                "/subscriptions/{subscription_id}/secret/rotate",
                "/subscriptions/{subscription_id}/secret/rotate/",
            ],
            [on(Method::POST, Needs(Write), subscriptions::rotate_secret)],
        ),
        resource(
            &[
                "/subscriptions/{subscription_id}/test",
                "/subscriptions/{subscription_id}/test/",
            ],
            [on(Method::POST, Needs(Write), subscriptions::test)],
        ),
        // Tenants (admin keys only) and API keys.
        resource(
            &["/tenants", "/tenants/"],
            [
                on(Method::POST, Admin, tenants::create),
                on(Method::GET, Admin, tenants::list),
            ],
        ),
        resource(
            &["/tenants/{tenant_id}", "/tenants/{tenant_id}/"],
            [
                on(Method::GET, Admin, tenants::get),
                on(Method::PATCH, Admin, tenants::update),
                on(Method::DELETE, Admin, tenants::delete),
            ],
        ),
        resource(
            &["/api-keys", "/api-keys/"],
            [
                on(Method::POST, Needs(Write), api_keys::create),
                on(Method::GET, Needs(Read), api_keys::list),
            ],
        ),
        resource(
            &["/api-keys/{api_key_id}", "/api-keys/{api_key_id}/"],
            [
                on(Method::GET, Needs(Read), api_keys::get),
                on(Method::DELETE, Needs(Write), api_keys::delete),
            ],
        ),
        // Dead letters (entries the workers gave up on): they hold any tenant's webhooks.
        resource(
            &["/dead-letters", "/dead-letters/"],
            [on(Method::GET, AllTenants(Read), dead_letters::list)],
        ),
        resource(
            &[
                "/dead-letters/{dead_letter_id}",
                "/dead-letters/{dead_letter_id}/",
            ],
            [on(Method::DELETE, AllTenants(Write), dead_letters::delete)],
        ),
        resource(
            &[
                "/dead-letters/{dead_letter_id}/redrive",
                "/dead-letters/{dead_letter_id}/redrive/",
            ],
            [on(Method::POST, AllTenants(Write), dead_letters::redrive)],
        ),
    ]
}

/// A resource at `paths` serving `routes`. Every other method answers the contract's 405
/// with an `Allow` header naming the methods served (RFC 9110 §15.5.6).
fn resource<const N: usize>(paths: &[&str], routes: [(Method, Need, Route); N]) -> Entry {
    let allow = routes
        .iter()
        .map(|(method, _, _)| method.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let documented = openapi_path(paths[0]);
    let needs = routes
        .iter()
        .map(|(method, need, _)| (documented.clone(), method.clone(), *need))
        .collect();
    let resource = routes.into_iter().fold(
        web::resource(paths.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>()),
        |resource, (_, _, route)| resource.route(route),
    );
    (
        resource.default_service(web::to(move || method_not_allowed(allow.clone()))),
        needs,
    )
}

/// A route's path as OpenAPI writes it: `{file:.*}` (a segment with a regex) is `{file}`.
fn openapi_path(path: &str) -> String {
    match (path.find(':'), path.ends_with('}')) {
        (Some(colon), true) => format!("{}}}", &path[..colon]),
        _ => path.to_owned(),
    }
}

fn with_data<T: 'static>((resource, needs): Entry, data: web::Data<T>) -> Entry {
    (resource.app_data(data), needs)
}

/// One method of a resource, what it needs and its handler.
fn on<F, Args>(method: Method, need: Need, handler: F) -> (Method, Need, Route)
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    let route = web::method(method.clone()).to(handler);
    let route = match need {
        Open => route,
        need => route.wrap(from_fn(move |req, next| auth::authorize(need, req, next))),
    };
    (method, need, route)
}
async fn not_found() -> HttpResponse {
    detail_response(StatusCode::NOT_FOUND, "Not Found")
}

async fn method_not_allowed(allow: String) -> HttpResponse {
    let mut response = detail_response(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    if let Ok(allow) = HeaderValue::from_str(&allow) {
        response.headers_mut().insert(header::ALLOW, allow);
    }
    response
}
