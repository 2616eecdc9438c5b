//! Who is calling, and what they may do: every request becomes a [`Principal`] here, once
//! (what a principal reaches is the domain's rule: `hookrelay_domain::api_keys::caller`).
//!
//! The route table (`routes`) gives each route a [`Need`]; the [`authorize`] middleware
//! wrapped around that route authenticates the bearer key ([`credentials`]), checks the
//! need, refuses with 401 or 403 before any handler or extractor runs, and leaves the
//! `Principal` in the request for the handler's [`Caller`] extractor. Handlers then
//! scope every read and change with the principal's space and owner; none checks keys or
//! permissions itself.

pub mod credentials;
pub mod failures;

pub use failures::FailureReason;

use std::future::{Ready, ready};

use actix_web::body::BoxBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use hookrelay_domain::api_keys::{Permission, Permissions, Principal, Reach};

use crate::error::ApiError;
use crate::state::AppState;

/// What a route needs from its caller; declared once per route in `routes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// No authentication (probes, metrics, the OpenAPI document).
    Open,
    /// A key with this permission; tenant keys are scoped to their tenant.
    Permission(Permission),
    /// A key that reaches every tenant, with this permission (dead letters).
    AllTenants(Permission),
    /// An admin key: every tenant and every permission (tenants, whose deletion removes
    /// keys of any permission).
    Admin,
}

impl Need {
    /// The scopes the OpenAPI document lists for the route: the permission, and
    /// `all_tenants` for routes that tenant keys may not use.
    pub fn scopes(self) -> Vec<String> {
        match self {
            Self::Open => Vec::new(),
            Self::Permission(p) => vec![p.as_str().to_owned()],
            Self::AllTenants(p) => vec![p.as_str().to_owned(), ALL_TENANTS_SCOPE.to_owned()],
            Self::Admin => vec![ADMIN_SCOPE.to_owned()],
        }
    }
}

/// The OpenAPI scope naming routes that only keys without a tenant may use.
pub const ALL_TENANTS_SCOPE: &str = "all_tenants";
/// The OpenAPI scope naming routes for admin keys only.
pub const ADMIN_SCOPE: &str = "admin";

/// Refuses a caller whose reach or permissions fall short of what the route needs.
pub fn check(principal: &Principal, need: Need) -> Result<(), ApiError> {
    let permission = match need {
        Need::Open => return Ok(()),
        Need::Permission(p) => p,
        Need::AllTenants(p) => {
            if principal.reach != Reach::AllTenants {
                return Err(forbidden(
                    "This route is for keys that are not limited to a tenant.",
                ));
            }
            p
        }
        Need::Admin => {
            if principal.reach != Reach::AllTenants || principal.permissions != Permissions::ALL {
                return Err(forbidden(
                    "This route is for admin keys (every tenant, every permission).",
                ));
            }
            return Ok(());
        }
    };
    if principal.permissions.contains(permission) {
        Ok(())
    } else {
        Err(forbidden(format!(
            "This key lacks the `{}` permission.",
            permission.as_str()
        )))
    }
}

/// The `?tenant_id=` of a list request, as [`Principal::list_space`] reads it.
pub fn requested_tenant(req: &HttpRequest) -> Option<String> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(key, _)| key == "tenant_id")
        .map(|(_, value)| value.into_owned())
}

/// A 403, counted in `hookrelay_auth_failures_total{reason="forbidden"}`.
pub fn forbidden(detail: impl Into<String>) -> ApiError {
    FailureReason::Forbidden.record();
    ApiError::Forbidden(detail.into())
}

/// The middleware `routes` wraps around every route that is not [`Need::Open`].
pub async fn authorize(
    need: Need,
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .unwrap_or_else(|| unreachable!("AppState is registered in startup::Application::build"));
    let principal = state.auth.principal(req.headers()).await?;
    check(&principal, need)?;
    req.extensions_mut().insert(principal);
    next.call(req).await
}

/// A handler's caller: the [`Principal`] that [`authorize`] left in the request.
pub struct Caller(pub Principal);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<Principal>()
                .copied()
                .map(Caller)
                .ok_or_else(|| {
                    ApiError::Internal(anyhow::anyhow!(
                        "{} {} takes a Principal but its route in routes.rs is Need::Open",
                        req.method(),
                        req.path()
                    ))
                }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant_key(permissions: &[Permission]) -> Principal {
        Principal {
            reach: Reach::Tenant(uuid::Uuid::new_v4()),
            permissions: permissions.iter().copied().collect(),
            key: None,
        }
    }

    #[test]
    fn needs_are_checked_against_reach_and_permissions() {
        let reader = tenant_key(&[Permission::Read]);
        assert!(check(&reader, Need::Permission(Permission::Read)).is_ok());
        assert!(check(&reader, Need::Permission(Permission::Write)).is_err());
        assert!(check(&reader, Need::AllTenants(Permission::Read)).is_err());
        assert!(check(&reader, Need::Open).is_ok());
        assert!(check(&Principal::ADMIN, Need::AllTenants(Permission::Write)).is_ok());
    }
}
