//! `api_keys`: stored bearer keys, each scoped to a tenant (or to every tenant) and to a
//! set of permissions. Only a SHA-256 of the key is stored.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use uuid::Uuid;

use hookrelay_shared::schema::api_keys;

hookrelay_shared::text_enum! {
    /// What a key may do. `ingest`: `POST /ingest*`; `read`: every `GET` of tenant
    /// resources; `write`: every change of them.
    #[derive(Hash, utoipa::ToSchema)]
    pub enum Permission {
        Ingest = "ingest",
        Read = "read",
        Write = "write",
    }
    impl Serialize;
}

impl Permission {
    /// Its bit in [`Permissions`]: by declaration order.
    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Permissions(u8);

impl Permissions {
    pub const NONE: Self = Self(0);
    pub const ALL: Self = Self(0b111);

    pub const fn contains(self, permission: Permission) -> bool {
        self.0 & permission.bit() != 0
    }

    /// Whether every permission of `other` is also in `self`.
    pub const fn covers(self, other: Self) -> bool {
        other.0 & !self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .into_iter()
            .filter(move |p| self.contains(*p))
    }

    /// The stored form: names in a fixed order.
    pub fn names(self) -> Vec<String> {
        self.iter().map(|p| p.as_str().to_owned()).collect()
    }

    /// Reads the stored form; unknown names (which the table's CHECK refuses) are skipped.
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Self {
        names
            .iter()
            .filter_map(|n| Permission::parse(n.as_ref()))
            .collect()
    }
}

impl FromIterator<Permission> for Permissions {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        Self(iter.into_iter().fold(0, |bits, p| bits | p.bit()))
    }
}

/// The api key object (the key itself is shown once, on creation, and never stored).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize, utoipa::ToSchema)]
#[diesel(table_name = api_keys, check_for_backend(diesel::pg::Pg))]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    /// `null`: every tenant (an admin key when it has every permission).
    #[schema(required = true)]
    pub tenant_id: Option<Uuid>,
    #[schema(value_type = Vec<Permission>)]
    pub permissions: Vec<String>,
    /// The first characters of the key, to tell keys apart.
    pub key_prefix: String,
    #[serde(serialize_with = "hookrelay_shared::time::serialize")]
    #[schema(value_type = String, format = DateTime, example = "2026-11-22T15:04:02.551966Z")]
    pub created_at: DateTime<Utc>,
    /// Updated at most once a minute.
    #[serde(serialize_with = "hookrelay_shared::time::serialize_opt")]
    #[schema(required = true, value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "hookrelay_shared::time::serialize_opt")]
    #[schema(required = true, value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = api_keys)]
pub struct NewApiKey {
    pub id: Uuid,
    pub name: String,
    pub tenant_id: Option<Uuid>,
    pub permissions: Vec<String>,
    pub key_prefix: String,
    pub key_hash: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_read_back_from_their_names() {
        hookrelay_shared::assert_texts_round_trip!(Permission);
    }

    #[test]
    fn permission_sets_cover_their_subsets() {
        let read = Permissions::from_names(&["read"]);
        let read_write: Permissions = [Permission::Read, Permission::Write].into_iter().collect();
        assert!(read_write.covers(read) && !read.covers(read_write));
        assert!(Permissions::ALL.covers(read_write) && read.covers(Permissions::NONE));
        assert_eq!(Permissions::ALL.names(), ["ingest", "read", "write"]);
        assert_eq!(
            Permissions::from_names(&["write", "bogus", "read"]),
            read_write
        );
    }
}
