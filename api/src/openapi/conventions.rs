//! What every route of the document follows, applied by [`Conventions`] after the
//! annotations: the bearer security scheme, the `{"detail": …}` body of every error
//! response (the annotations name only status codes), a description for each response
//! left undescribed, and the patterns and bounds of the api's own checks on request
//! bodies and ingest headers (from [`super::constraints`]), which derive attributes cannot
//! express. The bodies are found by schema name, so renaming one in
//! `hookrelay_domain::<domain>::body` means renaming it here too.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr};
use utoipa::{Modify, ToSchema};

use super::constraints::{
    NO_NUL, SECRET, TARGET_URL, TIMESTAMP, constrain, custom_headers_schema, deliver_at_pattern,
    labels_schema,
};
use crate::auth::{ADMIN_SCOPE, ALL_TENANTS_SCOPE};

/// Name of the bearer security scheme in the document.
pub(super) const BEARER: &str = "bearer";

/// Every error body but a validation error's: `{"detail": "Subscription not found"}`.
#[derive(ToSchema)]
#[expect(dead_code, reason = "documentation only: the body is built in `error`")]
pub struct ErrorDetail {
    detail: String,
}

/// A 422 body: `{"detail": [{"loc": ["body", "target_url"], "msg": "…", "type": "…"}]}`.
#[derive(ToSchema)]
#[expect(dead_code, reason = "documentation only: the body is built in `error`")]
pub struct ValidationErrors {
    detail: Vec<hookrelay_domain::FieldError>,
}

/// The conventions every route follows (see the module docs).
pub(super) struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(format!(
                        "`Authorization: Bearer <key>`: a key from API_KEYS (every permission, \
                         every tenant) or a stored `hrk_` key. Each operation's scopes name the \
                         permission it needs (`ingest`, `read`, `write`), and `{ALL_TENANTS_SCOPE}` \
                         where keys limited to a tenant are refused (403); `{ADMIN_SCOPE}`: \
                         admin keys only (every tenant, every permission). A tenant key sees \
                         only its tenant: anything else answers 404."
                    )))
                    .build(),
            ),
        );
        for body in [
            "NewSubscriptionBody",
            "SubscriptionChangesBody",
            "RotationBody",
        ] {
            if let Some(RefOr::T(utoipa::openapi::Schema::Object(object))) =
                components.schemas.get_mut(body)
            {
                if object.properties.contains_key("headers") {
                    object
                        .properties
                        .insert("headers".into(), RefOr::T(custom_headers_schema()));
                }
                constrain(object, "target_url", Some(1), None, TARGET_URL);
                constrain(object, "secret", Some(1), None, SECRET);
                constrain(object, "description", None, Some(4096), NO_NUL);
                constrain(
                    object,
                    "name",
                    Some(1),
                    Some(hookrelay_domain::fields::MAX_NAME_CHARS),
                    NO_NUL,
                );
            }
        }
        for body in ["NewTenantBody", "TenantChangesBody", "NewApiKeyBody"] {
            if let Some(RefOr::T(utoipa::openapi::Schema::Object(object))) =
                components.schemas.get_mut(body)
            {
                constrain(
                    object,
                    "name",
                    Some(1),
                    Some(hookrelay_domain::fields::MAX_NAME_CHARS),
                    NO_NUL,
                );
                constrain(object, "expires_at", None, None, TIMESTAMP);
                if object.properties.contains_key("metadata") {
                    object
                        .properties
                        .insert("metadata".into(), RefOr::T(labels_schema()));
                }
            }
        }
        let deliver_at = deliver_at_pattern(chrono::Utc::now());
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                for parameter in operation.parameters.iter_mut().flatten() {
                    if let RefOr::T(parameter) = parameter
                        && parameter.name == "x-deliver-at"
                        && let Some(RefOr::T(utoipa::openapi::Schema::Object(schema))) =
                            &mut parameter.schema
                    {
                        schema.pattern = Some(deliver_at.clone());
                    }
                }
                for (code, response) in operation.responses.responses.iter_mut() {
                    let RefOr::T(response) = response else {
                        continue;
                    };
                    if response.description.is_empty() {
                        response.description = describe(code).into();
                    }
                    let schema = match code.as_str() {
                        "422" => "ValidationErrors",
                        c if c.starts_with('4') || c.starts_with('5') => "ErrorDetail",
                        _ => continue,
                    };
                    // The handlers' annotations name status codes; every error has this body.
                    response.content.clear();
                    response.content.insert(
                        "application/json".into(),
                        RefOr::T(Content::new(Some(Ref::from_schema_name(schema)))),
                    );
                }
            }
        }
    }
}

/// What an error status means in this api, for responses the annotations left undescribed.
fn describe(code: &str) -> &'static str {
    match code {
        "200" => "OK",
        "201" => "Created",
        "202" => "Accepted: durably queued",
        "204" => "No Content",
        "400" => "Invalid JSON body received.",
        "401" => "Missing, unknown or expired bearer key",
        "403" => "The key lacks the permission this route needs",
        "404" => "Not found",
        "405" => "Method Not Allowed",
        "409" => "Subscription is inactive",
        "413" => "Body larger than MAX_PAYLOAD_BYTES",
        "422" => "Request validation failed",
        "503" => "A dependency (Redis or Postgres) is unavailable",
        _ => "See the status code",
    }
}
