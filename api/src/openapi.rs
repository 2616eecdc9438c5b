//! The OpenAPI 3.1 document served at `/openapi.json` (and rendered by Swagger UI at
//! `/docs`), generated from the handlers' `#[utoipa::path]` annotations.
//!
//! The annotations say what each route returns on success; `Conventions` then applies
//! what holds for every route (CONTRACT §2): the `{"detail": …}` bodies of errors. Which
//! key each route needs comes from the route table ([`document`] writes each route's
//! `routes::needs` into its `security`).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::auth::{ADMIN_SCOPE, ALL_TENANTS_SCOPE, Need};
use crate::handlers::{
    api_keys, dead_letters, inbound, ingest, ops, replay, replays, schedules, sources, status,
    subscriptions, tenants, webhooks,
};

/// Name of the bearer security scheme in the document.
const BEARER: &str = "bearer";

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
        replay::replay,
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
        replay::Replayed, hookrelay_domain::webhooks::body::ReplayBody,
        hookrelay_domain::replays::store::Replay, hookrelay_domain::replays::selection::ReplayStatus, replays::DryRun,
        hookrelay_domain::replays::body::NewReplayBody,
        hookrelay_domain::schedules::store::Schedule, hookrelay_domain::schedules::store::Run, schedules::Triggered,
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

/// An RFC 3339 timestamp after its four-digit year, as far as the api always accepts it
/// (days 01–28, so every match is a real date; offsets up to ±13:59; the api takes any
/// valid RFC 3339 timestamp).
macro_rules! timestamp_after_year {
    () => {
        "-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]{1,6})?(?:Z|[+-](?:0[0-9]|1[0-3]):[0-5][0-9])"
    };
}

/// `expires_at`: the RFC 3339 timestamps the api always accepts.
const TIMESTAMP: &str = concat!("^[1-9][0-9]{3}", timestamp_after_year!(), "$");

/// `X-Deliver-At`: the RFC 3339 timestamps the api accepts whenever it is asked, that is,
/// those no more than `MAX_DELIVERY_DELAY` after `built` (the moment the document is
/// made): years up to the one before `built` + 29 days, so even the latest local time of
/// that year at the most negative offset (-13:59) is less than 30 days after `built`. A
/// time that is past by the time it is sent means now, so the set only grows safer as
/// time goes on. Later timestamps up to 30 days ahead are accepted too; no pattern can say
/// "30 days from now".
fn deliver_at_pattern(built: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::Datelike as _;
    let last_year = (built + chrono::TimeDelta::days(29)).year() - 1;
    let last_year = u32::try_from(last_year.clamp(1000, 9999)).unwrap_or(1000);
    format!(
        "^(?:{}){}$",
        four_digits_up_to(last_year),
        timestamp_after_year!()
    )
}

/// A regex alternation of the four-digit numbers 1000..=`max` (`max` in 1000..=9999):
/// for each position, `max`'s digits before it, a smaller digit there, anything after;
/// and `max` itself.
fn four_digits_up_to(max: u32) -> String {
    let digits: Vec<u32> = max
        .to_string()
        .chars()
        .filter_map(|c| c.to_digit(10))
        .collect();
    let mut alternatives = Vec::new();
    for (position, &digit) in digits.iter().enumerate() {
        let lowest = u32::from(position == 0);
        if digit > lowest {
            let prefix: String = digits[..position].iter().map(u32::to_string).collect();
            let here = if digit - 1 == lowest {
                lowest.to_string()
            } else {
                format!("[{lowest}-{}]", digit - 1)
            };
            let rest = match digits.len() - position - 1 {
                0 => String::new(),
                n => format!("[0-9]{{{n}}}"),
            };
            alternatives.push(format!("{prefix}{here}{rest}"));
        }
    }
    alternatives.push(max.to_string());
    alternatives.join("|")
}

/// What every stored string excludes: U+0000, which Postgres `text` cannot hold.
const NO_NUL: &str = "^[^\\u0000]*$";

/// `target_url`: an `http` or `https` URL with a host whose last label starts with a letter
/// (or any path, query and fragment). WHATWG URL parsing (`shared::targets`) accepts more
/// (IP literals, user info, IDN hosts); this is the subset the document promises.
const TARGET_URL: &str = "^[ \\t\\n\\r\\f\\v]*[Hh][Tt][Tt][Pp][Ss]?://(?:[A-Za-z0-9_-]+\\.)*[A-Za-z][A-Za-z0-9_-]*(?::[0-9]{1,4})?(?:[ \\t\\n\\r\\f\\v]*|[/?#][^\\u0000]*)$";

/// `secret`: anything without NUL that does not start with `whsec_`, or `whsec_` and a
/// non-empty key in standard, padded, canonical base64 (`signing::validate_secret`).
const SECRET: &str = "^(?:whsec_(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)|(?!whsec_)[^\\u0000]+)$";

/// Sets a string property's length bounds and pattern.
fn constrain(
    object: &mut utoipa::openapi::schema::Object,
    field: &str,
    min_length: Option<usize>,
    max_length: Option<usize>,
    pattern: &str,
) {
    if let Some(RefOr::T(utoipa::openapi::Schema::Object(property))) =
        object.properties.get_mut(field)
    {
        property.min_length = min_length;
        property.max_length = max_length;
        property.pattern = Some(pattern.to_owned());
    }
}

/// An HTTP token that is none of the reserved names, in any case: negative lookaheads
/// built from `subscriptions::headers`' own list.
fn header_name_pattern() -> String {
    use hookrelay_domain::subscriptions::headers::{RESERVED, RESERVED_PREFIX};
    let any_case = |name: &str| -> String {
        name.chars()
            .map(|c| match c {
                c if c.is_ascii_alphabetic() => {
                    format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
                }
                c => c.to_string(),
            })
            .collect()
    };
    let reserved: Vec<String> = RESERVED.iter().map(|name| any_case(name)).collect();
    format!(
        "^(?!(?:{})$)(?!{})[!#$%&'*+.^_`|~0-9A-Za-z-]+$",
        reserved.join("|"),
        any_case(RESERVED_PREFIX)
    )
}

/// A tenant's `metadata`: at most 64 string labels, without NUL in names or values.
fn labels_schema() -> utoipa::openapi::Schema {
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
    let text = || {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(NO_NUL))
    };
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(text()))
        .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(text().into()))))
        .max_properties(Some(hookrelay_domain::tenants::MAX_METADATA_ENTRIES))
        .into()
}

/// A custom header's name (an HTTP token) and value (visible ASCII, inner spaces and tabs,
/// nothing at either end), as `subscriptions::headers` checks them.
fn custom_headers_schema() -> utoipa::openapi::Schema {
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
    let name = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .pattern(Some(header_name_pattern()));
    let value = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^(?:[!-~](?:[!-~ \\t]*[!-~])?)?$"));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(name))
        .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(value.into()))))
        .into()
}

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

/// The conventions every route follows (see the module docs).
struct Conventions;

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

#[cfg(test)]
mod tests {
    use super::*;

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

    fn matches(pattern: &str, text: &str) -> bool {
        regex_lite::Regex::new(pattern)
            .expect("a valid pattern")
            .is_match(text)
    }

    #[test]
    fn four_digit_bounds_match_exactly_the_numbers_up_to_the_bound() {
        for max in [1000, 1009, 1999, 2000, 2025, 2026, 2099, 2100, 2909, 9999] {
            let pattern = format!("^(?:{})$", four_digits_up_to(max));
            for n in 1000..=9999 {
                assert_eq!(
                    matches(&pattern, &n.to_string()),
                    n <= max,
                    "{n} against {pattern}"
                );
            }
            assert!(!matches(&pattern, "0999"));
        }
    }

    #[test]
    fn every_deliver_at_the_pattern_allows_is_accepted_from_the_moment_it_was_made() {
        use chrono::{TimeDelta, Utc};
        let parse = |s: &str| hookrelay_shared::time::parse(s).expect("a time");
        for built in [
            "2026-12-02T14:00:00Z",
            "2026-12-03T00:00:00Z",
            "2026-12-31T23:59:59Z",
            "2027-01-01T00:00:00Z",
            "2026-06-15T12:00:00Z",
        ] {
            let built = parse(built);
            let pattern = deliver_at_pattern(built);
            for year in 2020..2030 {
                // The latest instant of the year the pattern can name, and the earliest.
                for text in [
                    format!("{year}-12-28T23:59:59.999999-13:59"),
                    format!("\t{year}-01-01T00:00:00+13:59 "),
                ] {
                    if matches(&pattern, &text) {
                        for later in [TimeDelta::zero(), TimeDelta::days(400)] {
                            let accepted = hookrelay_domain::webhooks::ingest::parse_deliver_at(
                                text.as_bytes(),
                                built + later,
                            );
                            assert!(accepted.is_ok(), "{text} built {built}: {accepted:?}");
                        }
                    }
                }
            }
            let last_year = format!(
                "{}-06-01T00:00:00Z",
                built
                    .format("%Y")
                    .to_string()
                    .parse::<i32>()
                    .expect("a year")
                    - 1
            );
            assert!(
                matches(&pattern, &last_year),
                "{last_year} against {pattern}"
            );
        }
        assert!(matches(
            &deliver_at_pattern(Utc::now()),
            "2000-01-01T00:00:00Z"
        ));
        assert!(!matches(
            &deliver_at_pattern(Utc::now()),
            "2000-01-01 00:00:00Z"
        ));
        assert!(!matches(
            &deliver_at_pattern(Utc::now()),
            "9999-01-01T00:00:00Z"
        ));
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
