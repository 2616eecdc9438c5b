//! Extractors: path UUIDs, query integers and JSON object bodies, each failing with the
//! contract's error shapes so handlers only see valid input. (Who is calling is
//! `auth::Principal`.)

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures::TryFutureExt as _;
use uuid::Uuid;

use hookrelay_domain::api_keys::Principal;
use hookrelay_domain::tenants::{self, Space};

use crate::body::BodyReader;
use crate::error::ApiError;
use crate::state::AppState;
use hookrelay_domain::FieldError;

/// Parses a UUID path segment: hyphenated or not, any case (CONTRACT §2).
fn path_uuid(req: &HttpRequest, name: &str) -> Result<Uuid, ApiError> {
    let raw = req.match_info().get(name).unwrap_or_default();
    Uuid::try_parse(raw).map_err(|e| {
        ApiError::field(
            &["path", name],
            format!("Input should be a valid UUID, {e}"),
            "uuid_parsing",
        )
    })
}

macro_rules! uuid_path_extractor {
    ($(#[$doc:meta])* $name:ident, $segment:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name(pub Uuid);

        impl FromRequest for $name {
            type Error = ApiError;
            type Future = Ready<Result<Self, ApiError>>;

            fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
                ready(path_uuid(req, $segment).map($name))
            }
        }
    };
}

uuid_path_extractor!(
    /// `{subscription_id}` in the path.
    SubscriptionId,
    "subscription_id"
);
uuid_path_extractor!(
    /// `{webhook_id}` in the path.
    WebhookId,
    "webhook_id"
);
uuid_path_extractor!(
    /// `{replay_id}` in the path.
    ReplayId,
    "replay_id"
);
uuid_path_extractor!(
    /// `{schedule_id}` in the path.
    ScheduleId,
    "schedule_id"
);
uuid_path_extractor!(
    /// `{source_id}` in the path.
    SourceId,
    "source_id"
);
uuid_path_extractor!(
    /// `{tenant_id}` in the path.
    TenantId,
    "tenant_id"
);
uuid_path_extractor!(
    /// `{api_key_id}` in the path.
    ApiKeyId,
    "api_key_id"
);

/// Reads an integer query parameter within `range`, or `default` when absent.
pub fn query_int(
    req: &HttpRequest,
    name: &str,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, FieldError> {
    let value = url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned());
    let Some(value) = value else {
        return Ok(default);
    };
    let n: i64 = value.trim().parse().map_err(|_| {
        FieldError::new(
            &["query", name],
            "Input should be a valid integer, unable to parse string as an integer",
            "int_parsing",
        )
    })?;
    if n < *range.start() {
        return Err(FieldError::new(
            &["query", name],
            format!("Input should be greater than or equal to {}", range.start()),
            "greater_than_equal",
        ));
    }
    if n > *range.end() {
        return Err(FieldError::new(
            &["query", name],
            format!("Input should be less than or equal to {}", range.end()),
            "less_than_equal",
        ));
    }
    Ok(n)
}

/// The `{dead_letter_id}` in the path: a partition and a stream id, such as
/// `3-1732288642551-0`.
pub fn dead_letter_id(req: &HttpRequest) -> Result<String, ApiError> {
    let id = req.match_info().get("dead_letter_id").unwrap_or_default();
    if hookrelay_domain::dead_letters::is_stream_id(id) {
        Ok(id.to_owned())
    } else {
        Err(ApiError::field(
            &["path", "dead_letter_id"],
            "Input should be a valid dead letter id such as 3-1732288642551-0",
            "dead_letter_id_parsing",
        ))
    }
}

/// What a list route shows the caller: a tenant key's tenant, or for other keys every
/// tenant or the one `?tenant_id=` names (404 for an unknown one).
pub async fn list_space(
    state: &AppState,
    principal: &Principal,
    req: &HttpRequest,
) -> Result<Space, ApiError> {
    let requested = crate::auth::requested_tenant(req);
    Ok(tenants::list_space(&state.services.tenants, principal, requested.as_deref()).await?)
}

/// `skip` (default 0) and `limit` (default 100, at most `max_limit`) of a list route,
/// with both errors reported at once.
pub fn paging(req: &HttpRequest, max_limit: i64) -> Result<(i64, i64), ApiError> {
    match (
        query_int(req, "skip", 0, 0..=i64::MAX),
        query_int(req, "limit", 100, 0..=max_limit),
    ) {
        (Ok(skip), Ok(limit)) => Ok((skip, limit)),
        (skip, limit) => Err(ApiError::Validation(
            [skip.err(), limit.err()].into_iter().flatten().collect(),
        )),
    }
}

/// The most a JSON request body to the management API may hold.
const MAX_JSON_BODY: usize = 256 * 1024;

/// A request body that is a JSON object; fields are validated by the caller, which can
/// then report every bad field at once with its `loc`.
pub struct JsonObject(pub serde_json::Map<String, serde_json::Value>);

/// Like [`JsonObject`], but an empty body (or `null`) is an empty object (routes whose
/// every field is optional).
pub struct OptionalJsonObject(pub serde_json::Map<String, serde_json::Value>);

impl FromRequest for JsonObject {
    type Error = ApiError;
    type Future = futures::future::LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(_: &HttpRequest, payload: &mut Payload) -> Self::Future {
        Box::pin(read_object(payload.take(), false).map_ok(JsonObject))
    }
}

impl FromRequest for OptionalJsonObject {
    type Error = ApiError;
    type Future = futures::future::LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(_: &HttpRequest, payload: &mut Payload) -> Self::Future {
        Box::pin(read_object(payload.take(), true).map_ok(OptionalJsonObject))
    }
}

async fn read_object(
    payload: Payload,
    empty_is_object: bool,
) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    let mut payload = BodyReader::new(payload);
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await? {
        if body.len() + chunk.len() > MAX_JSON_BODY {
            return Err(ApiError::PayloadTooLarge(format!(
                "Request body is larger than {MAX_JSON_BODY} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return if empty_is_object {
            Ok(serde_json::Map::new())
        } else {
            Err(ApiError::field(&["body"], "Field required", "missing"))
        };
    }
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(serde_json::Value::Null) if empty_is_object => Ok(serde_json::Map::new()),
        Ok(_) => Err(ApiError::field(
            &["body"],
            "Input should be a valid dictionary or object to extract fields from",
            "model_attributes_type",
        )),
        Err(e) => Err(ApiError::field(
            &["body"],
            format!("JSON decode error: {e}"),
            "json_invalid",
        )),
    }
}
