//! The OpenAPI 3.1 document served at `/openapi.json` (and rendered by Swagger UI at
//! `/docs`), generated from the handlers' `#[utoipa::path]` annotations. Start-up builds
//! it once ([`document`]) and hands it to the handler as app data.
//!
//! The annotations say what each route returns on success, naming the request bodies each
//! domain declares beside its parser (`hookrelay_domain::<domain>::body`); [`conventions`]
//! then applies what holds for every route (CONTRACT §2): the `{"detail": …}` bodies of
//! errors, the bearer scheme, and the patterns of the api's own checks ([`constraints`]).
//! Which key each route needs comes from the route table ([`document`] writes each
//! route's `routes::needs` into its `security`).

mod constraints;
mod conventions;

use utoipa::OpenApi;
use utoipa::openapi::security::SecurityRequirement;

use crate::auth::Need;
use crate::handlers::{
    api_keys, dead_letters, inbound, ingest, ops, replays, schedules, sources, status,
    subscriptions, tenants, webhooks,
};
use conventions::{BEARER, Conventions, ErrorDetail, ValidationErrors};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "hookrelay",
        description = "A webhook relay: accepts webhooks, fans them out to subscriptions and \
                       delivers them signed (Standard Webhooks), with retries and attempt logs."
    ),
    paths(
        ops::healthz, ops::readyz, ops::metrics, ops::openapi, ops::docs, ops::swagger_ui,
        subscriptions::create, subscriptions::list, subscriptions::get,
        subscriptions::update, subscriptions::delete, subscriptions::attempts,
        subscriptions::rotate_secret, subscriptions::test,
        ingest::fan_out, ingest::targeted,
        status::get, webhooks::list,
        webhooks::replay,
        replays::create, replays::list, replays::get, replays::cancel,
        schedules::create, schedules::list, schedules::get, schedules::update,
        schedules::delete, schedules::pause, schedules::resume, schedules::trigger,
        schedules::runs,
        sources::create, sources::list, sources::get, sources::update, sources::delete,
        sources::rotate_path, sources::rejections, inbound::receive,
        tenants::create, tenants::list, tenants::get, tenants::update, tenants::delete,
        api_keys::create, api_keys::list, api_keys::get, api_keys::delete,
        dead_letters::list, dead_letters::redrive, dead_letters::delete,
    ),
    components(schemas(
        ErrorDetail, ValidationErrors,
        hookrelay_domain::subscriptions::body::NewSubscriptionBody,
        hookrelay_domain::subscriptions::body::SubscriptionChangesBody,
        hookrelay_domain::subscriptions::body::RotationBody,
        hookrelay_domain::subscriptions::Subscription, hookrelay_domain::webhooks::Attempt,
        crate::ingest::IngestAccepted, hookrelay_domain::webhooks::status::WebhookStatus, hookrelay_domain::FieldError,
        hookrelay_domain::webhooks::search::WebhookSummary,
        hookrelay_domain::dead_letters::DeadLetter, dead_letters::RedriveBody,
        hookrelay_domain::tenants::Tenant, hookrelay_domain::tenants::body::NewTenantBody, hookrelay_domain::tenants::body::TenantChangesBody,
        hookrelay_domain::api_keys::ApiKey, hookrelay_domain::api_keys::Permission,
        hookrelay_domain::api_keys::CreatedApiKey, hookrelay_domain::api_keys::body::NewApiKeyBody,
        webhooks::Replayed, hookrelay_domain::webhooks::body::ReplayBody,
        hookrelay_domain::replays::store::Replay, hookrelay_domain::replays::selection::ReplayStatus, replays::DryRun,
        hookrelay_domain::replays::body::NewReplayBody,
        hookrelay_domain::schedules::row::Schedule, hookrelay_domain::schedules::row::Run, schedules::Triggered,
        hookrelay_domain::schedules::runs::Kind, hookrelay_domain::schedules::runs::MissedRuns,
        hookrelay_domain::schedules::body::NewScheduleBody, hookrelay_domain::schedules::body::ScheduleChangesBody,
        hookrelay_domain::sources::SourceView, hookrelay_domain::sources::store::Rejection, hookrelay_domain::sources::RateLimit,
        hookrelay_domain::sources::EventTypeRule, hookrelay_domain::sources::verification::Verification,
        hookrelay_domain::sources::body::NewSourceBody, hookrelay_domain::sources::body::SourceChangesBody,
    )),
    modifiers(&Conventions),
    tags(
        (name = "subscriptions", description = "Where webhooks are delivered, and how"),
        (name = "ingest", description = "Accepting webhooks"),
        (name = "status", description = "What happened to a webhook"),
        (name = "webhooks", description = "Stored webhooks: search and replay"),
        (name = "replays", description = "Bulk replays: a filter over deliveries, counted first, run in batches by the workers"),
        (name = "schedules", description = "Webhooks ingested at set times: once, or on a cron timetable in a time zone"),
        (name = "sources", description = "Inbound webhooks from providers (GitHub, Stripe, Shopify, Slack, any HMAC sender): verified at POST /in/{token}, then ingested"),
        (name = "tenants", description = "Customers of the deployment, each sealed off from the others (admin keys only)"),
        (name = "api keys", description = "Stored bearer keys, limited to a tenant and to permissions"),
        (name = "dead letters", description = "Stream entries the workers gave up on: inspect, redrive, delete"),
        (name = "operations", description = "Probes, metrics and this document; no authentication"),
    )
)]
pub struct ApiDoc;

/// The document served at `/openapi.json`: the annotations, the conventions, and each
/// route's need from the route table as its `security` (scopes: the permission, and
/// `all_tenants` where tenant keys are refused).
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    for (path, method, need) in crate::routes::needs() {
        let Some(item) = doc.paths.paths.get_mut(&path) else {
            continue;
        };
        let operation = match method.as_str() {
            "GET" => &mut item.get,
            "POST" => &mut item.post,
            "PUT" => &mut item.put,
            "PATCH" => &mut item.patch,
            "DELETE" => &mut item.delete,
            _ => continue,
        };
        if let (Some(operation), false) = (operation, need == Need::Open) {
            operation.security = Some(vec![SecurityRequirement::new(BEARER, need.scopes())]);
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::ADMIN_SCOPE;

    #[test]
    fn dead_letter_ids_are_documented_with_the_pattern_the_api_checks() {
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("serialises");
        let mut seen = 0;
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for operation in item.as_object().expect("an item").values() {
                for param in operation["parameters"].as_array().into_iter().flatten() {
                    if param["name"] == "dead_letter_id" {
                        seen += 1;
                        assert_eq!(
                            param["schema"]["pattern"],
                            hookrelay_domain::dead_letters::ID_PATTERN,
                            "{path}"
                        );
                    }
                }
            }
        }
        assert_eq!(seen, 2);
    }

    #[test]
    fn both_ingest_routes_document_x_deliver_at_with_its_pattern() {
        let doc = serde_json::to_value(document()).expect("serialises");
        for path in ["/ingest", "/ingest/{subscription_id}"] {
            let parameters = doc["paths"][path]["post"]["parameters"]
                .as_array()
                .expect("parameters");
            let deliver_at = parameters
                .iter()
                .find(|p| p["name"] == "x-deliver-at")
                .unwrap_or_else(|| panic!("{path} has no x-deliver-at"));
            assert_eq!(deliver_at["in"], "header");
            assert!(
                deliver_at["schema"]["pattern"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("^(?:1")),
                "{deliver_at}"
            );
        }
    }

    #[test]
    fn the_document_is_openapi_3_1_with_bearer_security() {
        let doc = serde_json::to_value(document()).expect("serialises");
        assert!(
            doc["openapi"]
                .as_str()
                .is_some_and(|v| v.starts_with("3.1")),
            "{}",
            doc["openapi"]
        );
        assert_eq!(
            doc["components"]["securitySchemes"][BEARER]["scheme"],
            "bearer"
        );
        assert!(doc["paths"]["/healthz"]["get"]["security"].is_null());
        assert_eq!(
            doc["paths"]["/subscriptions"]["post"]["security"][0][BEARER],
            serde_json::json!(["write"])
        );
        assert_eq!(
            doc["paths"]["/tenants"]["get"]["security"][0][BEARER],
            serde_json::json!([ADMIN_SCOPE])
        );
        let not_found = &doc["paths"]["/status/{webhook_id}"]["get"]["responses"]["404"];
        assert_eq!(
            not_found["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorDetail"
        );
    }
}
