//! Who is calling, and what they may do: every request becomes a [`Principal`] here, once.
//!
//! The route table (`routes`) gives each route a [`Need`]; the [`authorize`] middleware
//! wrapped around that route authenticates the bearer key ([`credentials`]), checks the
//! need, refuses with 401 or 403 before any handler or extractor runs, and leaves the
//! `Principal` in the request for the handler's [`Principal`] extractor. Handlers then
//! scope every read and change with [`Principal::space`], [`Principal::list_space`] and
//! [`Principal::owner`]; none checks keys or permissions itself.
//!
//! - Admin: a key from `API_KEYS`, a stored key without tenant and with every permission,
//!   or anyone when `AUTH_DISABLED=true`. Reaches every tenant.
//! - Tenant key: a stored key with a tenant. Reaches that tenant only: another tenant's
//!   resources answer 404 as if they did not exist (never 403, which would confirm them).
//! - A stored key without tenant but with fewer permissions reaches every tenant with
//!   those permissions (a read-only operator key, an ingest-only producer).

pub mod credentials;
pub mod usage;

use std::future::{Ready, ready};

use actix_web::body::BoxBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use hookrelay_shared::models::{Permission, Permissions};
use hookrelay_shared::tenancy::Space;
use uuid::Uuid;

use crate::error::{ApiError, FieldError};
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

/// Which tenants a caller reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    AllTenants,
    Tenant(Uuid),
}

/// The caller of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub reach: Reach,
    pub permissions: Permissions,
    /// The stored key used, if any (`None`: `API_KEYS`, or authentication disabled).
    pub key: Option<credentials::KeyScope>,
}

impl Principal {
    pub const ADMIN: Self = Self {
        reach: Reach::AllTenants,
        permissions: Permissions::ALL,
        key: None,
    };

    /// The tenant of a tenant key.
    pub const fn tenant(&self) -> Option<Uuid> {
        match self.reach {
            Reach::AllTenants => None,
            Reach::Tenant(tenant) => Some(tenant),
        }
    }

    /// What a read or change by id may touch: everything, or the key's tenant.
    pub const fn space(&self) -> Space {
        match self.reach {
            Reach::AllTenants => Space::Any,
            Reach::Tenant(tenant) => Space::Tenant(tenant),
        }
    }

    /// What a list shows: a tenant key's tenant always; for other keys every tenant, or
    /// the one `?tenant_id=<uuid>|default` names (its existence is the caller's check).
    pub fn list_space(&self, req: &HttpRequest) -> Result<Space, ApiError> {
        if let Reach::Tenant(tenant) = self.reach {
            return Ok(Space::Tenant(tenant));
        }
        let requested = url::form_urlencoded::parse(req.query_string().as_bytes())
            .find(|(key, _)| key == "tenant_id")
            .map(|(_, value)| value.into_owned());
        match requested.as_deref() {
            None => Ok(Space::Any),
            Some("default") => Ok(Space::Default),
            Some(raw) => Uuid::try_parse(raw).map(Space::Tenant).map_err(|e| {
                ApiError::Validation(vec![FieldError::new(
                    &["query", "tenant_id"],
                    format!("Input should be a valid UUID or `default`, {e}"),
                    "uuid_parsing",
                )])
            }),
        }
    }

    /// The tenant a new resource belongs to: a tenant key's own, whatever was asked;
    /// otherwise the one asked for (`None`: the default space).
    pub const fn owner(&self, requested: Option<Uuid>) -> Option<Uuid> {
        match self.reach {
            Reach::AllTenants => requested,
            Reach::Tenant(tenant) => Some(tenant),
        }
    }

    /// Whether this key may create or delete a key with `permissions` that expires at
    /// `expires_at`: one never makes or removes a key wider than itself, in permissions
    /// or in time.
    pub fn covers_key(
        &self,
        permissions: Permissions,
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<(), ApiError> {
        if !self.permissions.covers(permissions) {
            return Err(forbidden(
                "A key cannot create or delete a key with permissions it does not have itself.",
            ));
        }
        match (self.key.and_then(|k| k.expires_at), expires_at) {
            (Some(limit), None) => Err(forbidden(format!(
                "A key that expires cannot create or delete a key that never does (this one expires at {}).",
                hookrelay_shared::time::format(&limit)
            ))),
            (Some(limit), Some(at)) if at > limit => Err(forbidden(
                "A key cannot create or delete a key that outlives it.",
            )),
            _ => Ok(()),
        }
    }

    pub fn check(&self, need: Need) -> Result<(), ApiError> {
        let permission = match need {
            Need::Open => return Ok(()),
            Need::Permission(p) => p,
            Need::AllTenants(p) => {
                if self.reach != Reach::AllTenants {
                    return Err(forbidden(
                        "This route is for keys that are not limited to a tenant.",
                    ));
                }
                p
            }
            Need::Admin => {
                if self.reach != Reach::AllTenants || self.permissions != Permissions::ALL {
                    return Err(forbidden(
                        "This route is for admin keys (every tenant, every permission).",
                    ));
                }
                return Ok(());
            }
        };
        if self.permissions.contains(permission) {
            Ok(())
        } else {
            Err(forbidden(format!(
                "This key lacks the `{}` permission.",
                permission.as_str()
            )))
        }
    }
}

/// Why a request was refused, as the `reason` label of `hookrelay_auth_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    Missing,
    Unknown,
    Expired,
    Forbidden,
}

impl FailureReason {
    pub const ALL: [Self; 4] = [Self::Missing, Self::Unknown, Self::Expired, Self::Forbidden];

    pub const fn label(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Unknown => "unknown",
            Self::Expired => "expired",
            Self::Forbidden => "forbidden",
        }
    }

    pub fn record(self) {
        metrics::counter!("hookrelay_auth_failures_total", "reason" => self.label()).increment(1);
    }
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
    principal.check(need)?;
    req.extensions_mut().insert(principal);
    next.call(req).await
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(req.extensions().get::<Principal>().copied().ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "{} {} takes a Principal but its route in routes.rs is Need::Open",
                req.method(),
                req.path()
            ))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant_key(permissions: &[Permission]) -> Principal {
        Principal {
            reach: Reach::Tenant(Uuid::new_v4()),
            permissions: permissions.iter().copied().collect(),
            key: None,
        }
    }

    #[test]
    fn needs_are_checked_against_reach_and_permissions() {
        let reader = tenant_key(&[Permission::Read]);
        assert!(reader.check(Need::Permission(Permission::Read)).is_ok());
        assert!(reader.check(Need::Permission(Permission::Write)).is_err());
        assert!(reader.check(Need::AllTenants(Permission::Read)).is_err());
        assert!(reader.check(Need::Open).is_ok());
        assert!(
            Principal::ADMIN
                .check(Need::AllTenants(Permission::Write))
                .is_ok()
        );
    }

    #[test]
    fn tenant_keys_own_what_they_create_and_see_only_their_tenant() {
        let key = tenant_key(&Permission::ALL);
        let own = key.tenant();
        assert_eq!(key.owner(Some(Uuid::new_v4())), own);
        assert_eq!(Principal::ADMIN.owner(None), None);
        assert!(key.space().contains(own) && !key.space().contains(None));
        assert_eq!(Principal::ADMIN.space(), Space::Any);
    }
}
