//! Signing in (an API key → a session) and out.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use crate::console::form::Fields;
use crate::console::view::query;
use crate::console::{Failure, assets, paths, redirect, render, session};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignIn {
    style: String,
    action: &'static str,
    next: String,
    error: Option<String>,
    signed_out: bool,
}

/// Where to go after signing in: a console path only (never another site).
fn next_page(raw: Option<&str>) -> String {
    raw.filter(|p| p.starts_with(paths::ROOT) && !p.starts_with("//") && !p.contains("://"))
        .unwrap_or(paths::ROOT)
        .to_owned()
}

fn page(next: String, error: Option<String>, signed_out: bool) -> SignIn {
    SignIn {
        style: assets::STYLE.url(),
        action: paths::SIGN_IN,
        next,
        error,
        signed_out,
    }
}

pub async fn form(req: HttpRequest) -> Result<HttpResponse, Failure> {
    let next = next_page(query(&req, "next").as_deref());
    render(&page(next, None, query(&req, "signed_out").is_some()))
}

/// The one console POST without a session (there is none yet), so without a CSRF token:
/// `SameSite=Strict` and the key itself are what another site cannot forge.
pub async fn submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    fields: Fields,
) -> Result<HttpResponse, Failure> {
    let next = next_page(fields.get("next"));
    if !same_origin(&req) {
        return Err(ApiError::Forbidden("Sign in from this console's own page.".into()).into());
    }
    let Some(key) = fields.get("api_key") else {
        return refused(next, "Enter an API key.");
    };
    match session::sign_in(&state, &req, key).await {
        Ok(cookie) => {
            let mut response = redirect(&req, &next);
            response.add_cookie(&cookie).map_err(anyhow::Error::from)?;
            Ok(response)
        }
        Err(ApiError::Unauthorized(reason)) => refused(next, reason),
        Err(e) => Err(e.into()),
    }
}

/// A browser names the page a form was sent from in `Origin`: it must be this host (so
/// another site cannot sign a visitor in with a key of its choosing). Clients that send
/// no `Origin` (curl) pass.
fn same_origin(req: &HttpRequest) -> bool {
    let Some(origin) = req.headers().get(actix_web::http::header::ORIGIN) else {
        return true;
    };
    let host = req.connection_info().host().to_owned();
    origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .is_some_and(|(_, authority)| authority == host)
}

fn refused(next: String, reason: &str) -> Result<HttpResponse, Failure> {
    let mut response = render(&page(next, Some(reason.to_owned()), false))?;
    *response.status_mut() = actix_web::http::StatusCode::UNAUTHORIZED;
    Ok(response)
}

pub async fn sign_out(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, Failure> {
    let cookie = session::sign_out(&state, &req).await;
    let mut response = redirect(&req, &format!("{}?signed_out=1", paths::SIGN_IN));
    response.add_cookie(&cookie).map_err(anyhow::Error::from)?;
    Ok(response)
}
