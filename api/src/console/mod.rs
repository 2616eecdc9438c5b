//! The console: server-rendered HTML pages under `/console`, compiled into the api binary
//! (askama templates in `api/templates/console`, checked at build time; htmx and the
//! stylesheet embedded from `api/assets`). No Node step, no CDN.
//!
//! - Who may see what is the API's own authorization: a session ([`session`]) stands for
//!   the API key it was opened with, and every page declares the same [`Need`] its JSON
//!   route has. A tenant key sees its tenant only, so the console doubles as a customer
//!   portal; a `read`-only key sees no write buttons and is refused if it posts anyway.
//! - Every POST carries the session's CSRF token ([`session::guard`] checks it).
//! - Pages call the logic modules the JSON handlers call (`subscriptions::store`,
//!   `webhooks`, `replays`, …); form fields are turned into the JSON those modules parse
//!   ([`form`]), so validation exists once.
//! - Every response carries a strict Content-Security-Policy (scripts and styles from
//!   here only, nothing inline) and `frame-ancestors` from `CONSOLE_FRAME_ANCESTORS`.

pub mod assets;
pub mod destination_form;
pub mod form;
mod pages;
pub mod session;
pub mod view;

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::{Next, from_fn};
use actix_web::{FromRequest, Handler, HttpRequest, HttpResponse, Responder, ResponseError, web};
use askama::Template;
use hookrelay_domain::api_keys::Permission::{Read, Write};

use crate::auth::Need;
use crate::error::ApiError;
use crate::state::AppState;

use Need::{Admin, AllTenants, Permission as Needs};

/// The console's paths, declared once (templates build links from these too).
pub mod paths {
    pub const ROOT: &str = "/console";
    pub const SIGN_IN: &str = "/console/sign-in";
    pub const SIGN_OUT: &str = "/console/sign-out";
    pub const ASSETS: &str = "/console/assets";
    pub const SUBSCRIPTIONS: &str = "/console/subscriptions";
    pub const WEBHOOKS: &str = "/console/webhooks";
    pub const REPLAYS: &str = "/console/replays";
    pub const SCHEDULES: &str = "/console/schedules";
    pub const SOURCES: &str = "/console/sources";
    pub const TENANTS: &str = "/console/tenants";
    pub const KEYS: &str = "/console/api-keys";
    pub const DEAD_LETTERS: &str = "/console/dead-letters";
}

/// Registers every console route, each wrapped in the session guard with its need.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use pages::{admin, dead_letters, overview, replays, schedules, sources, subscriptions};
    use pages::{sign_in, webhooks};
    let mut scope = web::scope(paths::ROOT)
        .wrap(from_fn(security_headers))
        .route("/sign-in", web::get().to(sign_in::form))
        .route("/sign-in", web::post().to(sign_in::submit))
        .route("/assets/{hash}/{name}", web::get().to(assets::serve));
    let routes: Vec<(&str, actix_web::Route)> = vec![
        page("", Method::GET, Needs(Read), overview::page),
        page("/", Method::GET, Needs(Read), overview::page),
        page("/overview/live", Method::GET, Needs(Read), overview::live),
        page("/sign-out", Method::POST, Needs(Read), sign_in::sign_out),
        // Subscriptions.
        page(
            "/subscriptions",
            Method::GET,
            Needs(Read),
            subscriptions::list,
        ),
        page(
            "/subscriptions",
            Method::POST,
            Needs(Write),
            subscriptions::create,
        ),
        page(
            "/subscriptions/{subscription_id}",
            Method::GET,
            Needs(Read),
            subscriptions::one,
        ),
        page(
            "/subscriptions/{subscription_id}",
            Method::POST,
            Needs(Write),
            subscriptions::update,
        ),
        page(
            "/subscriptions/{subscription_id}/active",
            Method::POST,
            Needs(Write),
            subscriptions::set_active,
        ),
        page(
            "/subscriptions/{subscription_id}/rotate-secret",
            Method::POST,
            Needs(Write),
            subscriptions::rotate_secret,
        ),
        page(
            "/subscriptions/{subscription_id}/test",
            Method::POST,
            Needs(Write),
            subscriptions::test,
        ),
        page(
            "/subscriptions/{subscription_id}/delete",
            Method::POST,
            Needs(Write),
            subscriptions::delete,
        ),
        // Webhooks.
        page("/webhooks", Method::GET, Needs(Read), webhooks::list),
        page(
            "/webhooks/{webhook_id}",
            Method::GET,
            Needs(Read),
            webhooks::one,
        ),
        page(
            "/webhooks/{webhook_id}/live",
            Method::GET,
            Needs(Read),
            webhooks::live,
        ),
        page(
            "/webhooks/{webhook_id}/replay",
            Method::POST,
            Needs(Write),
            webhooks::replay,
        ),
        // Bulk replays.
        page("/replays", Method::GET, Needs(Read), replays::list),
        page(
            "/replays/dry-run",
            Method::POST,
            Needs(Write),
            replays::dry_run,
        ),
        page("/replays", Method::POST, Needs(Write), replays::create),
        page(
            "/replays/{replay_id}",
            Method::GET,
            Needs(Read),
            replays::one,
        ),
        page(
            "/replays/{replay_id}/live",
            Method::GET,
            Needs(Read),
            replays::live,
        ),
        page(
            "/replays/{replay_id}/cancel",
            Method::POST,
            Needs(Write),
            replays::cancel,
        ),
        // Schedules.
        page("/schedules", Method::GET, Needs(Read), schedules::list),
        page("/schedules", Method::POST, Needs(Write), schedules::create),
        page(
            "/schedules/{schedule_id}/{action}",
            Method::POST,
            Needs(Write),
            schedules::act,
        ),
        // Sources.
        page("/sources", Method::GET, Needs(Read), sources::list),
        page("/sources", Method::POST, Needs(Write), sources::create),
        page(
            "/sources/{source_id}",
            Method::GET,
            Needs(Read),
            sources::one,
        ),
        page(
            "/sources/{source_id}/rotate-path",
            Method::POST,
            Needs(Write),
            sources::rotate_path,
        ),
        page(
            "/sources/{source_id}/delete",
            Method::POST,
            Needs(Write),
            sources::delete,
        ),
        // Tenants and keys.
        page("/tenants", Method::GET, Admin, admin::tenants),
        page("/tenants", Method::POST, Admin, admin::create_tenant),
        page(
            "/tenants/{tenant_id}/delete",
            Method::POST,
            Admin,
            admin::delete_tenant,
        ),
        page("/api-keys", Method::GET, Needs(Read), admin::keys),
        page("/api-keys", Method::POST, Needs(Write), admin::create_key),
        page(
            "/api-keys/{api_key_id}/delete",
            Method::POST,
            Needs(Write),
            admin::delete_key,
        ),
        // Dead letters.
        page(
            "/dead-letters",
            Method::GET,
            AllTenants(Read),
            dead_letters::list,
        ),
        page(
            "/dead-letters/{dead_letter_id}/{action}",
            Method::POST,
            AllTenants(Write),
            dead_letters::act,
        ),
    ];
    for (path, route) in routes {
        scope = scope.route(path, route);
    }
    cfg.service(scope.default_service(web::to(not_found)));
}

/// One console route: its method, the need its JSON counterpart has, and its handler.
fn page<F, Args>(
    path: &'static str,
    method: Method,
    need: Need,
    handler: F,
) -> (&'static str, actix_web::Route)
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    let route = web::method(method)
        .to(handler)
        .wrap(from_fn(move |req, next| session::guard(need, req, next)));
    (path, route)
}

async fn not_found() -> Result<HttpResponse, Failure> {
    Err(Failure(ApiError::NotFound(
        "There is no such console page.",
    )))
}

/// Whether the request came over https: TLS here, or `X-Forwarded-Proto: https` from a
/// peer in `TRUSTED_PROXIES` (never from anyone else).
pub fn over_https(req: &HttpRequest) -> bool {
    if req.app_config().secure() {
        return true;
    }
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return false;
    };
    let trusted_peer = req.peer_addr().is_some_and(|peer| {
        hookrelay_shared::networks::contains(&state.trusted_proxies, peer.ip())
    });
    trusted_peer
        && req
            .headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// The console's security headers, on every console response (errors included).
async fn security_headers(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let ancestors = req.app_data::<web::Data<AppState>>().map_or_else(
        || "'none'".to_owned(),
        |s| s.console_frame_ancestors.clone(),
    );
    let mut response = next.call(req).await?;
    let headers = response.headers_mut();
    let policy = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors {ancestors}"
    );
    if let Ok(policy) = HeaderValue::from_str(&policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    if ancestors == "'none'" {
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(response)
}

/// A page, rendered.
pub fn render(template: &impl Template) -> Result<HttpResponse, Failure> {
    let html = template
        .render()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("console template failed: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html))
}

/// After a form: back to a page (303, so a reload does not post again). htmx requests
/// get `HX-Redirect`, which moves the whole page.
pub fn redirect(req: &HttpRequest, to: &str) -> HttpResponse {
    if req.headers().contains_key("hx-request") {
        HttpResponse::Ok()
            .insert_header(("HX-Redirect", to.to_owned()))
            .finish()
    } else {
        HttpResponse::SeeOther()
            .insert_header((header::LOCATION, to.to_owned()))
            .finish()
    }
}

/// A console request that failed, shown as a page with the API's status and its detail.
#[derive(Debug)]
pub struct Failure(pub ApiError);

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl From<hookrelay_domain::Refusal> for Failure {
    fn from(refusal: hookrelay_domain::Refusal) -> Self {
        Self(refusal.into())
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Self(ApiError::Internal(e))
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage {
    style: String,
    status: u16,
    reason: &'static str,
    messages: Vec<String>,
}

impl ResponseError for Failure {
    fn status_code(&self) -> StatusCode {
        self.0.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let messages = match &self.0 {
            ApiError::Validation(errors) => errors.iter().map(view::field_error).collect(),
            ApiError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "console request failed");
                vec!["Something went wrong on our side; it has been logged.".to_owned()]
            }
            ApiError::Unavailable { detail, cause } => {
                tracing::warn!(error = format!("{cause:#}"), "{detail}");
                vec![(*detail).to_owned()]
            }
            other => vec![other.to_string()],
        };
        let page = ErrorPage {
            style: assets::STYLE.url(),
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("Error"),
            messages,
        };
        let html = page.render().unwrap_or_else(|e| format!("{status}: {e}"));
        HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(html)
    }
}
