//! The table of contents of the api: every route, its methods and its handler.
//!
//! Routes under "open" need no authentication; every other handler takes
//! `extract::Authenticated` as its first argument. Unknown paths answer 404
//! `{"detail": "Not Found"}`, known paths with another method 405
//! `{"detail": "Method Not Allowed"}` and an `Allow` header listing the route's methods.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{FromRequest, Handler, HttpResponse, Resource, Responder, Route, web};
use utoipa::OpenApi as _;

use crate::error::detail_response;
use crate::handlers::{dead_letters, ingest, ops, status, subscriptions};

pub fn configure(cfg: &mut web::ServiceConfig) {
    let swagger_ui = web::Data::new(utoipa_swagger_ui::Config::from("/openapi.json"));
    // Ingest and status. First: actix tries resources in the order they are registered,
    // and every dynamic path it passes on the way costs a regex match (measured: 6% of
    // the api's CPU on ingest when these came last).
    cfg.service(resource(
        &["/ingest", "/ingest/"],
        [on(Method::POST, ingest::fan_out)],
    ))
    .service(resource(
        &["/ingest/{subscription_id}", "/ingest/{subscription_id}/"],
        [on(Method::POST, ingest::targeted)],
    ))
    .service(resource(
        &["/status/{webhook_id}", "/status/{webhook_id}/"],
        [on(Method::GET, status::get)],
    ));

    // Open: probes, metrics and documentation (`/openapi.json`, `/docs`).
    cfg.service(resource(&["/healthz"], [on(Method::GET, ops::healthz)]))
        .service(resource(&["/readyz"], [on(Method::GET, ops::readyz)]))
        .service(resource(&["/metrics"], [on(Method::GET, ops::metrics)]))
        .service(
            resource(&["/openapi.json"], [on(Method::GET, ops::openapi)])
                .app_data(web::Data::new(crate::openapi::ApiDoc::openapi())),
        )
        // Swagger UI's page and files, compiled into the binary (no CDN), showing
        // /openapi.json.
        .service(resource(&["/docs"], [on(Method::GET, ops::docs)]).app_data(swagger_ui.clone()))
        .service(
            resource(&["/docs/{file:.*}"], [on(Method::GET, ops::swagger_ui)]).app_data(swagger_ui),
        );

    // Subscriptions.
    cfg.service(resource(
        &["/subscriptions", "/subscriptions/"],
        [
            on(Method::POST, subscriptions::create),
            on(Method::GET, subscriptions::list),
        ],
    ))
    .service(resource(
        &[
            "/subscriptions/{subscription_id}",
            "/subscriptions/{subscription_id}/",
        ],
        [
            on(Method::GET, subscriptions::get),
            on(Method::PATCH, subscriptions::update),
            on(Method::DELETE, subscriptions::delete),
        ],
    ))
    .service(resource(
        &[
            "/subscriptions/{subscription_id}/attempts",
            "/subscriptions/{subscription_id}/attempts/",
        ],
        [on(Method::GET, subscriptions::attempts)],
    ));

    // Dead letters (entries the workers gave up on).
    cfg.service(resource(
        &["/dead-letters", "/dead-letters/"],
        [on(Method::GET, dead_letters::list)],
    ))
    .service(resource(
        &[
            "/dead-letters/{dead_letter_id}",
            "/dead-letters/{dead_letter_id}/",
        ],
        [on(Method::DELETE, dead_letters::delete)],
    ))
    .service(resource(
        &[
            "/dead-letters/{dead_letter_id}/redrive",
            "/dead-letters/{dead_letter_id}/redrive/",
        ],
        [on(Method::POST, dead_letters::redrive)],
    ));

    cfg.default_service(web::to(not_found));
}

/// A resource at `paths` serving `routes`. Every other method answers the contract's 405
/// with an `Allow` header naming the methods served (RFC 9110 §15.5.6).
fn resource<const N: usize>(paths: &[&str], routes: [(Method, Route); N]) -> Resource {
    let allow = routes
        .iter()
        .map(|(method, _)| method.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let resource = routes.into_iter().fold(
        web::resource(paths.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>()),
        |resource, (_, route)| resource.route(route),
    );
    resource.default_service(web::to(move || method_not_allowed(allow.clone())))
}

/// One method of a resource and its handler.
fn on<F, Args>(method: Method, handler: F) -> (Method, Route)
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    (method.clone(), web::method(method).to(handler))
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
