//! Which tenant spaces a query covers. Every tenant resource has a nullable `tenant_id`
//! column (`NULL`: the default space); a [`Space`] turns into the one `WHERE` condition
//! on it, so no store function writes its own tenant check.

use diesel::PgExpressionMethods;
use diesel::dsl::{IsNotDistinctFrom, IsNull};
use diesel::expression::BoxableExpression;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Nullable};
use uuid::Uuid;

/// The tenant spaces a read or change may touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    /// Every tenant and the default space (an admin key without `?tenant_id=`).
    Any,
    /// The default space only (`tenant_id IS NULL`).
    Default,
    /// One tenant.
    Tenant(Uuid),
}

impl Space {
    /// The space of one row's `tenant_id` (`None`: the default space).
    pub const fn of(tenant_id: Option<Uuid>) -> Self {
        match tenant_id {
            Some(tenant) => Self::Tenant(tenant),
            None => Self::Default,
        }
    }

    /// Whether a row with this `tenant_id` is in the space.
    pub fn contains(self, tenant_id: Option<Uuid>) -> bool {
        match self {
            Self::Any => true,
            Self::Default => tenant_id.is_none(),
            Self::Tenant(tenant) => tenant_id == Some(tenant),
        }
    }

    /// `column` restricted to this space, as a boxed condition for `filter`.
    pub fn condition<T, C>(self, column: C) -> Box<dyn BoxableExpression<T, Pg, SqlType = Bool>>
    where
        C: Expression<SqlType = Nullable<diesel::sql_types::Uuid>> + PgExpressionMethods,
        IsNull<C>: BoxableExpression<T, Pg, SqlType = Bool> + 'static,
        IsNotDistinctFrom<C, Uuid>: BoxableExpression<T, Pg, SqlType = Bool> + 'static,
    {
        match self {
            Self::Any => Box::new(diesel::dsl::sql::<Bool>("TRUE")),
            Self::Default => Box::new(column.is_null()),
            Self::Tenant(tenant) => Box::new(column.is_not_distinct_from(tenant)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_contain_their_rows_only() {
        let a = Uuid::new_v4();
        let b = Uuid::new_v4();
        assert!(Space::Any.contains(None) && Space::Any.contains(Some(a)));
        assert!(Space::Default.contains(None) && !Space::Default.contains(Some(a)));
        assert!(Space::Tenant(a).contains(Some(a)));
        assert!(!Space::Tenant(a).contains(Some(b)) && !Space::Tenant(a).contains(None));
        assert_eq!(Space::of(Some(a)), Space::Tenant(a));
    }
}
