//! Console sessions: signing in with an API key makes a server-side session in Redis; the
//! browser holds only its random id, in an `HttpOnly`, `SameSite=Strict` cookie (`Secure`
//! when the request came over https).
//!
//! A session keeps the key's SHA-256 and lookup prefix ([`Presented`]), never the key, and
//! every console request checks them again through the same `Authenticator` the JSON API
//! uses: a deleted or expired key ends its sessions within the key cache's refresh. The
//! session also holds a random CSRF token that [`guard`] requires in every POST.

use actix_web::body::BoxBody;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use deadpool_redis::redis;
use futures::StreamExt as _;
use hookrelay_domain::api_keys::Permission;
use hookrelay_shared::keys::CONSOLE_SESSION_TTL_SECS;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

use super::{Failure, paths};
use crate::auth::credentials::Presented;
use hookrelay_domain::api_keys::{Principal, Reach};

use crate::auth::Need;
use crate::error::ApiError;
use crate::state::AppState;

/// The session cookie's name.
pub const COOKIE: &str = "hookrelay_console";
/// The form field every console POST carries its CSRF token in.
pub const CSRF_FIELD: &str = "csrf";
/// The most a console form may send (its fields, never a payload).
const MAX_FORM_BYTES: usize = 64 * 1024;

/// What Redis keeps for one session.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    key: Presented,
    csrf: String,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unavailable(e: impl Into<anyhow::Error>) -> ApiError {
    ApiError::unavailable("Sessions are unavailable (Redis). Retry in a moment.", e)
}

/// Checks `key` and opens a session for it: the cookie to set, or why the key was refused.
pub async fn sign_in(
    state: &AppState,
    req: &HttpRequest,
    key: &str,
) -> Result<Cookie<'static>, ApiError> {
    let presented = Presented::of(key.trim());
    state.auth.principal_of(&presented).await?;
    let id = random_token();
    let stored = serde_json::to_string(&Stored {
        key: presented,
        csrf: random_token(),
    })
    .map_err(anyhow::Error::from)?;
    let () = redis::cmd("SET")
        .arg(state.services.keys.console_session(&id))
        .arg(stored)
        .arg("EX")
        .arg(CONSOLE_SESSION_TTL_SECS)
        .query_async(&mut state.services.redis.clone())
        .await
        .map_err(unavailable)?;
    tracing::info!("console session opened");
    Ok(cookie(req, id, CONSOLE_SESSION_TTL_SECS))
}

/// Ends the session in `req`'s cookie (if any); the cookie that clears it.
pub async fn sign_out(state: &AppState, req: &HttpRequest) -> Cookie<'static> {
    if let Some(id) = req.cookie(COOKIE) {
        let removed: redis::RedisResult<i64> = redis::cmd("DEL")
            .arg(state.services.keys.console_session(id.value()))
            .query_async(&mut state.services.redis.clone())
            .await;
        if let Err(e) = removed {
            tracing::warn!(error = %e, "console session could not be removed; it expires on its own");
        }
    }
    cookie(req, String::new(), 0)
}

fn cookie(req: &HttpRequest, value: String, max_age_secs: u64) -> Cookie<'static> {
    Cookie::build(COOKIE, value)
        .path(paths::ROOT)
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(super::over_https(req))
        .max_age(actix_web::cookie::time::Duration::seconds(
            i64::try_from(max_age_secs).unwrap_or(i64::MAX),
        ))
        .finish()
}

/// The signed-in caller of one console request, for pages and templates.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub principal: Principal,
    pub csrf: String,
}

impl Viewer {
    pub fn can_write(&self) -> bool {
        self.principal.permissions.contains(Permission::Write)
    }

    /// Keys without a tenant: they see every tenant, dead letters and a tenant column.
    pub fn all_tenants(&self) -> bool {
        self.principal.reach == Reach::AllTenants
    }

    pub fn is_admin(&self) -> bool {
        crate::auth::check(&self.principal, Need::Admin).is_ok()
    }

    pub fn may(&self, need: Need) -> bool {
        crate::auth::check(&self.principal, need).is_ok()
    }
}

impl FromRequest for Viewer {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(req.extensions().get::<Self>().cloned().ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "{} takes a Viewer but is not wrapped in console::session::guard",
                req.path()
            ))
        }))
    }
}

/// Wrapped around every console page but sign-in: loads the session (no session: to the
/// sign-in page), checks its key and the page's `need` like the API does, and for a POST
/// requires the session's CSRF token in the form. Leaves a [`Viewer`] and the `Principal`
/// in the request.
pub async fn guard(
    need: Need,
    mut req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .unwrap_or_else(|| unreachable!("AppState is registered in startup::Application::build"));
    let Some(id) = req.cookie(COOKIE).map(|c| c.value().to_owned()) else {
        let response = to_sign_in(req.request());
        return Ok(req.into_response(response));
    };
    let loaded: Option<String> = redis::cmd("GET")
        .arg(state.services.keys.console_session(&id))
        .query_async(&mut state.services.redis.clone())
        .await
        .map_err(|e| Failure(unavailable(e)))?;
    let Some(stored) = loaded.and_then(|s| serde_json::from_str::<Stored>(&s).ok()) else {
        let response = to_sign_in(req.request());
        return Ok(req.into_response(response));
    };
    let principal = match state.auth.principal_of(&stored.key).await {
        Ok(principal) => principal,
        // The key was deleted or expired since sign-in: the session ends with it.
        Err(ApiError::Unauthorized(_)) => {
            let clear = sign_out(&state, req.request()).await;
            let mut response = to_sign_in(req.request());
            response
                .add_cookie(&clear)
                .map_err(|e| Failure(ApiError::Internal(e.into())))?;
            return Ok(req.into_response(response));
        }
        Err(e) => return Err(Failure(e).into()),
    };
    crate::auth::check(&principal, need).map_err(Failure)?;
    if req.method() == Method::POST {
        let form = read_form(&mut req).await.map_err(Failure)?;
        let sent = url::form_urlencoded::parse(&form)
            .find(|(name, _)| name == CSRF_FIELD)
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default();
        if !bool::from(sent.as_bytes().ct_eq(stored.csrf.as_bytes())) {
            tracing::warn!(
                path = req.path(),
                "console POST without a valid CSRF token refused"
            );
            return Err(Failure(ApiError::Forbidden(
                "This form did not come from this console session (missing or stale CSRF \
                 token). Reload the page and try again."
                    .into(),
            ))
            .into());
        }
        req.set_payload(Payload::from(form));
    }
    req.extensions_mut().insert(principal);
    req.extensions_mut().insert(Viewer {
        principal,
        csrf: stored.csrf,
    });
    next.call(req).await
}

/// The request's form body, at most [`MAX_FORM_BYTES`].
async fn read_form(req: &mut ServiceRequest) -> Result<bytes::Bytes, ApiError> {
    let mut payload = req.take_payload();
    let mut form = bytes::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiError::BadRequest("The form did not arrive whole."))?;
        if form.len() + chunk.len() > MAX_FORM_BYTES {
            return Err(ApiError::PayloadTooLarge(format!(
                "A console form may send at most {MAX_FORM_BYTES} bytes."
            )));
        }
        form.extend_from_slice(&chunk);
    }
    Ok(form.freeze())
}

/// To the sign-in page, coming back here afterwards. htmx requests (a poll whose session
/// ended) get `HX-Redirect`, so the whole page goes rather than a fragment.
fn to_sign_in(req: &HttpRequest) -> HttpResponse {
    let back = req
        .uri()
        .path_and_query()
        .map_or(paths::ROOT, |p| p.as_str());
    let location = format!(
        "{}?next={}",
        paths::SIGN_IN,
        url::form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>()
    );
    if req.headers().contains_key("hx-request") {
        HttpResponse::Ok()
            .insert_header(("HX-Redirect", location))
            .finish()
    } else {
        HttpResponse::build(StatusCode::SEE_OTHER)
            .insert_header((header::LOCATION, location))
            .finish()
    }
}
