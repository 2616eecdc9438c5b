//! Queries whose conditions depend on which filters are present (`GET /webhooks`, a
//! replay's batches): the text is built with `$n` placeholders and [`Binds`] holds the
//! values in order, then turns into one boxed diesel query.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{Array, BigInt, Text, Timestamptz};
use uuid::Uuid;

use crate::tenants::space::Space;
use crate::webhooks::DeliveryStatus;

/// One bound value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind {
    Uuid(Uuid),
    Text(String),
    Texts(Vec<String>),
    Time(DateTime<Utc>),
    Int(i64),
}

/// The values of a query's placeholders, in order (`$1`, `$2`, …).
#[derive(Debug, Default)]
pub struct Binds(Vec<Bind>);

impl Binds {
    /// Adds a value and answers its placeholder.
    pub fn push(&mut self, bind: Bind) -> String {
        self.0.push(bind);
        format!("${}", self.0.len())
    }

    /// The condition that keeps `column` (a `tenant_id`) in `space`; `None` for every
    /// space.
    pub fn space(&mut self, space: Space, column: &str) -> Option<String> {
        match space {
            Space::Any => None,
            Space::Default => Some(format!("{column} IS NULL")),
            Space::Tenant(tenant) => Some(format!("{column} = {}", self.push(Bind::Uuid(tenant)))),
        }
    }

    /// `sql` with these values bound.
    pub fn query(self, sql: String) -> BoxedSqlQuery<'static, Pg, SqlQuery> {
        let mut statement = diesel::sql_query(sql).into_boxed();
        for bind in self.0 {
            statement = match bind {
                Bind::Uuid(v) => statement.bind::<diesel::sql_types::Uuid, _>(v),
                Bind::Text(v) => statement.bind::<Text, _>(v),
                Bind::Texts(v) => statement.bind::<Array<Text>, _>(v),
                Bind::Time(v) => statement.bind::<Timestamptz, _>(v),
                Bind::Int(v) => statement.bind::<BigInt, _>(v),
            };
        }
        statement
    }
}

/// A status list as an SQL literal, e.g. `('succeeded', 'failed')`. The statuses are the
/// enum's own constant strings, written into the text (not bound) so the planner can
/// match partial indexes on them.
pub fn status_list(statuses: &[DeliveryStatus]) -> String {
    let quoted: Vec<_> = statuses
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    format!("({})", quoted.join(", "))
}

/// `text` as a `LIKE` pattern that matches only itself (backslash is the escape).
pub fn like_literal(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// A condition from several: `TRUE` when there are none.
pub fn all_of(conditions: &[String]) -> String {
    if conditions.is_empty() {
        "TRUE".into()
    } else {
        conditions.join(" AND ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_count_up_and_spaces_become_conditions() {
        let mut binds = Binds::default();
        assert_eq!(binds.push(Bind::Int(1)), "$1");
        assert_eq!(binds.space(Space::Any, "w.tenant_id"), None);
        assert_eq!(
            binds.space(Space::Default, "w.tenant_id").as_deref(),
            Some("w.tenant_id IS NULL")
        );
        assert_eq!(
            binds
                .space(Space::Tenant(Uuid::nil()), "w.tenant_id")
                .as_deref(),
            Some("w.tenant_id = $2")
        );
    }

    #[test]
    fn like_literals_escape_the_wildcards() {
        assert_eq!(like_literal(r"a_b%c\d.e"), r"a\_b\%c\\d.e");
        assert_eq!(
            status_list(&[DeliveryStatus::Failed, DeliveryStatus::Succeeded]),
            "('failed', 'succeeded')"
        );
        assert_eq!(all_of(&[]), "TRUE");
        assert_eq!(all_of(&["a".into(), "b".into()]), "a AND b");
    }
}
