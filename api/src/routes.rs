//! The table of contents of the api: every route, its methods and its handler.
//!
//! Routes under "open" need no authentication; every other handler takes
//! `extract::Authenticated` as its first argument. Unknown paths answer 404
//! `{"detail": "Not Found"}`, known paths with another method 405
//! `{"detail": "Method Not Allowed"}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, Resource, web};
use utoipa::OpenApi as _;

use crate::error::detail_response;
use crate::handlers::{dead_letters, ingest, ops, status, subscriptions};

pub fn configure(cfg: &mut web::ServiceConfig) {
    let swagger_ui = web::Data::new(utoipa_swagger_ui::Config::from("/openapi.json"));
    // Ingest and status. First: actix tries resources in the order they are registered,
    // and every dynamic path it passes on the way costs a regex match (measured: 6% of
    // the api's CPU on ingest when these came last).
    cfg.service(resource(&["/ingest", "/ingest/"]).route(web::post().to(ingest::fan_out)))
        .service(
            resource(&["/ingest/{subscription_id}", "/ingest/{subscription_id}/"])
                .route(web::post().to(ingest::targeted)),
        )
        .service(
            resource(&["/status/{webhook_id}", "/status/{webhook_id}/"])
                .route(web::get().to(status::get)),
        );

    // Open: probes, metrics and documentation (`/openapi.json`, `/docs`).
    cfg.service(resource(&["/healthz"]).route(web::get().to(ops::healthz)))
        .service(resource(&["/readyz"]).route(web::get().to(ops::readyz)))
        .service(resource(&["/metrics"]).route(web::get().to(ops::metrics)))
        .service(
            resource(&["/openapi.json"])
                .app_data(web::Data::new(crate::openapi::ApiDoc::openapi()))
                .route(web::get().to(ops::openapi)),
        )
        // Swagger UI's page and files, compiled into the binary (no CDN), showing
        // /openapi.json.
        .service(
            resource(&["/docs"])
                .app_data(swagger_ui.clone())
                .route(web::get().to(ops::docs)),
        )
        .service(
            resource(&["/docs/{file:.*}"])
                .app_data(swagger_ui)
                .route(web::get().to(ops::swagger_ui)),
        );

    // Subscriptions.
    cfg.service(
        resource(&["/subscriptions", "/subscriptions/"])
            .route(web::post().to(subscriptions::create))
            .route(web::get().to(subscriptions::list)),
    )
    .service(
        resource(&[
            "/subscriptions/{subscription_id}",
            "/subscriptions/{subscription_id}/",
        ])
        .route(web::get().to(subscriptions::get))
        .route(web::patch().to(subscriptions::update))
        .route(web::delete().to(subscriptions::delete)),
    )
    .service(
        resource(&[
            "/subscriptions/{subscription_id}/attempts",
            "/subscriptions/{subscription_id}/attempts/",
        ])
        .route(web::get().to(subscriptions::attempts)),
    );

    // Dead letters (entries the workers gave up on).
    cfg.service(
        resource(&["/dead-letters", "/dead-letters/"]).route(web::get().to(dead_letters::list)),
    )
    .service(
        resource(&[
            "/dead-letters/{dead_letter_id}",
            "/dead-letters/{dead_letter_id}/",
        ])
        .route(web::delete().to(dead_letters::delete)),
    )
    .service(
        resource(&[
            "/dead-letters/{dead_letter_id}/redrive",
            "/dead-letters/{dead_letter_id}/redrive/",
        ])
        .route(web::post().to(dead_letters::redrive)),
    );

    cfg.default_service(web::to(not_found));
}

/// A resource whose other methods answer the contract's 405.
fn resource(paths: &[&str]) -> Resource {
    web::resource(paths.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>())
        .default_service(web::to(method_not_allowed))
}

async fn not_found() -> HttpResponse {
    detail_response(StatusCode::NOT_FOUND, "Not Found")
}

async fn method_not_allowed() -> HttpResponse {
    detail_response(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
}
