//! Who makes a request: a [`Principal`] (admin, or a stored key with a reach and
//! permissions), and the rules that follow from it for every domain: which tenant space
//! a read or change covers, who owns a new resource, and which keys it may make.
//!
//! The api authenticates a request into a `Principal` once (`auth`); domain functions
//! then scope every read and change with [`Principal::space`], [`Principal::list_space`]
//! and [`Principal::owner`]; none checks keys or permissions itself.
//!
//! - Admin: a key from `API_KEYS`, a stored key without tenant and with every permission,
//!   or anyone when `AUTH_DISABLED=true`. Reaches every tenant.
//! - Tenant key: a stored key with a tenant. Reaches that tenant only: another tenant's
//!   resources answer 404 as if they did not exist (never 403, which would confirm them).
//! - A stored key without tenant but with fewer permissions reaches every tenant with
//!   those permissions (a read-only operator key, an ingest-only producer).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Permissions;
use crate::tenants::space::Space;
use crate::{FieldError, Refusal};

/// Which tenants a caller reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    AllTenants,
    Tenant(Uuid),
}

/// The stored key a request was made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyScope {
    pub id: Uuid,
    pub expires_at: Option<DateTime<Utc>>,
}

/// The caller of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub reach: Reach,
    pub permissions: Permissions,
    /// The stored key used, if any (`None`: `API_KEYS`, or authentication disabled).
    pub key: Option<KeyScope>,
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
    /// the one `?tenant_id=<uuid>|default` names (`requested`; its existence is the
    /// caller's check).
    pub fn list_space(&self, requested: Option<&str>) -> Result<Space, Refusal> {
        if let Reach::Tenant(tenant) = self.reach {
            return Ok(Space::Tenant(tenant));
        }
        match requested {
            None => Ok(Space::Any),
            Some("default") => Ok(Space::Default),
            Some(raw) => Uuid::try_parse(raw).map(Space::Tenant).map_err(|e| {
                Refusal::Invalid(vec![FieldError::new(
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
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(), Refusal> {
        if !self.permissions.covers(permissions) {
            return Err(Refusal::Forbidden(
                "A key cannot create or delete a key with permissions it does not have itself."
                    .to_owned(),
            ));
        }
        match (self.key.and_then(|k| k.expires_at), expires_at) {
            (Some(limit), None) => Err(Refusal::Forbidden(format!(
                "A key that expires cannot create or delete a key that never does (this one expires at {}).",
                hookrelay_shared::time::format(&limit)
            ))),
            (Some(limit), Some(at)) if at > limit => Err(Refusal::Forbidden(
                "A key cannot create or delete a key that outlives it.".to_owned(),
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_keys::Permission;

    #[test]
    fn tenant_keys_own_what_they_create_and_see_only_their_tenant() {
        let key = Principal {
            reach: Reach::Tenant(Uuid::new_v4()),
            permissions: Permission::ALL.iter().copied().collect(),
            key: None,
        };
        let own = key.tenant();
        assert_eq!(key.owner(Some(Uuid::new_v4())), own);
        assert_eq!(Principal::ADMIN.owner(None), None);
        assert!(key.space().contains(own) && !key.space().contains(None));
        assert_eq!(Principal::ADMIN.space(), Space::Any);
    }

    #[test]
    fn list_spaces_follow_the_query_for_keys_without_a_tenant() {
        assert_eq!(Principal::ADMIN.list_space(None).ok(), Some(Space::Any));
        assert_eq!(
            Principal::ADMIN.list_space(Some("default")).ok(),
            Some(Space::Default)
        );
        assert!(matches!(
            Principal::ADMIN.list_space(Some("nope")),
            Err(Refusal::Invalid(_))
        ));
    }
}
