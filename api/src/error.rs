//! `ApiError`: every way a request can fail, mapped to exactly one status and the
//! contract's `{"detail": …}` body (CONTRACT §2).
//!
//! Which error goes where: `auth` produces `Unauthorized` and `Forbidden`, extractors
//! `Validation`; handlers
//! and the functions they call produce the rest. `Unavailable` and `Internal` carry their
//! cause, which is logged once here and never shown to the client.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use hookrelay_domain::Refusal;
use serde::Serialize;

pub use hookrelay_domain::refusal::{FieldError, LocPart};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The key is valid but lacks what the route needs (never for another tenant's
    /// resources: those are `NotFound`).
    #[error("{0}")]
    Forbidden(String),
    /// An inbound request to a source that failed its verification (401, naming the
    /// failed check; a source asks for no bearer token, so no `WWW-Authenticate`).
    #[error("{0}")]
    Unverified(String),
    /// Over a rate limit: 429 with `Retry-After` in seconds.
    #[error("{detail}")]
    TooManyRequests {
        detail: String,
        retry_after_secs: u64,
    },
    #[error("request validation failed")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    BadRequest(&'static str),
    #[error("{0}")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(&'static str),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The request body did not arrive in time (`crate::body::READ_TIMEOUT`).
    #[error("{0}")]
    RequestTimeout(String),
    #[error("{detail}")]
    Unavailable {
        detail: &'static str,
        #[source]
        cause: anyhow::Error,
    },
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn field(loc: &[&str], msg: impl Into<String>, kind: &str) -> Self {
        Self::Validation(vec![FieldError::new(loc, msg, kind)])
    }

    pub fn unavailable(detail: &'static str, cause: impl Into<anyhow::Error>) -> Self {
        Self::Unavailable {
            detail,
            cause: cause.into(),
        }
    }
}

/// The one place a domain's refusal becomes an HTTP answer. A 403 from a domain rule (a
/// key that may not make a wider key) is an authorization failure like the route's own,
/// and counted as one.
impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Invalid(errors) => Self::Validation(errors),
            Refusal::NotFound(detail) => Self::NotFound(detail),
            Refusal::Conflict(detail) => Self::Conflict(detail),
            Refusal::Forbidden(detail) => {
                crate::auth::failures::FailureReason::Forbidden.record();
                Self::Forbidden(detail)
            }
            Refusal::Unavailable { detail, cause } => Self::Unavailable { detail, cause },
            Refusal::Internal(cause) => Self::Internal(cause),
        }
    }
}

#[derive(Serialize)]
struct Detail<T: Serialize> {
    detail: T,
}

/// A `{"detail": …}` response with any status; also used for 404/405 of unknown routes.
pub fn detail_response(status: StatusCode, detail: &str) -> HttpResponse {
    HttpResponse::build(status).json(Detail { detail })
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Unverified(_) => StatusCode::UNAUTHORIZED,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self {
            Self::Validation(errors) => HttpResponse::build(status).json(Detail { detail: errors }),
            Self::Unauthorized(detail) => {
                let mut response = detail_response(status, detail);
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                response
            }
            Self::TooManyRequests {
                detail,
                retry_after_secs,
            } => {
                let mut response = detail_response(status, detail);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
                response
            }
            Self::Unavailable { detail, cause } => {
                tracing::warn!(error = format!("{cause:#}"), "{detail}");
                detail_response(status, detail)
            }
            Self::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "request failed");
                detail_response(status, "Internal Server Error")
            }
            other => detail_response(status, &other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    fn body(error: &ApiError) -> (u16, serde_json::Value) {
        let response = error.error_response();
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .try_into_bytes()
            .expect("a complete body");
        (status, serde_json::from_slice(&bytes).expect("JSON"))
    }

    #[test]
    fn every_error_maps_to_one_status_and_a_detail_body() {
        let cases = [
            (
                ApiError::Unauthorized("Not authenticated"),
                401,
                serde_json::json!("Not authenticated"),
            ),
            (
                ApiError::Forbidden("This key lacks the `write` permission.".into()),
                403,
                serde_json::json!("This key lacks the `write` permission."),
            ),
            (
                ApiError::Unverified("X-Hub-Signature-256 does not match the body".into()),
                401,
                serde_json::json!("X-Hub-Signature-256 does not match the body"),
            ),
            (
                ApiError::TooManyRequests {
                    detail: "Rate limit exceeded".into(),
                    retry_after_secs: 3,
                },
                429,
                serde_json::json!("Rate limit exceeded"),
            ),
            (
                ApiError::BadRequest("Invalid JSON body received."),
                400,
                serde_json::json!("Invalid JSON body received."),
            ),
            (
                ApiError::NotFound("Subscription not found"),
                404,
                serde_json::json!("Subscription not found"),
            ),
            (
                ApiError::Conflict("Subscription is inactive"),
                409,
                serde_json::json!("Subscription is inactive"),
            ),
            (
                ApiError::PayloadTooLarge("too big".into()),
                413,
                serde_json::json!("too big"),
            ),
            (
                ApiError::RequestTimeout("slow".into()),
                408,
                serde_json::json!("slow"),
            ),
            (
                ApiError::unavailable("Queue unavailable", anyhow::anyhow!("redis down")),
                503,
                serde_json::json!("Queue unavailable"),
            ),
            (
                ApiError::Internal(anyhow::anyhow!("secret internals")),
                500,
                serde_json::json!("Internal Server Error"),
            ),
        ];
        for (error, status, detail) in cases {
            assert_eq!(
                body(&error),
                (status, serde_json::json!({ "detail": detail }))
            );
        }
    }

    #[test]
    fn validation_errors_are_a_list_of_loc_msg_type() {
        let error = ApiError::field(
            &["body", "target_url"],
            "Input should be a valid URL",
            "url_parsing",
        );
        let (status, json) = body(&error);
        assert_eq!(status, 422);
        assert_eq!(
            json,
            serde_json::json!({"detail": [{"loc": ["body", "target_url"], "msg": "Input should be a valid URL", "type": "url_parsing"}]})
        );
    }

    #[test]
    fn too_many_requests_says_when_to_come_back() {
        let response = ApiError::TooManyRequests {
            detail: "Rate limit exceeded".into(),
            retry_after_secs: 3,
        }
        .error_response();
        assert_eq!(
            response
                .headers()
                .get(header::RETRY_AFTER)
                .map(|v| v.as_bytes()),
            Some(&b"3"[..])
        );
    }

    #[test]
    fn unauthorized_asks_for_a_bearer_token() {
        let response = ApiError::Unauthorized("Not authenticated").error_response();
        assert_eq!(
            response
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .map(|v| v.as_bytes()),
            Some(&b"Bearer"[..])
        );
    }
}
