//! `webhooks`: each webhook as first stored by a worker, with its exact bytes.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::prelude::*;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Binary;
use uuid::Uuid;

use crate::schema::webhooks;

#[derive(Debug, Clone, Insertable, Queryable, Selectable)]
#[diesel(table_name = webhooks, check_for_backend(diesel::pg::Pg))]
pub struct NewWebhook {
    pub id: Uuid,
    pub event_type: Option<String>,
    pub subscription_id: Option<Uuid>,
    pub payload: Payload,
    pub received_at: DateTime<Utc>,
    /// The tenant it was ingested in; `None`: the default space.
    pub tenant_id: Option<Uuid>,
    /// An operational event about this subscription's own failures is never sent to it
    /// (by fan-out, or by a replay's `include_missing`).
    pub skip_subscription: Option<Uuid>,
}

/// A webhook's body as stored: it shares the buffer read from the stream, so a body is
/// not copied again on its way into the INSERT.
#[derive(Debug, Clone, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = Binary)]
pub struct Payload(pub Bytes);

impl From<&'static [u8]> for Payload {
    fn from(bytes: &'static [u8]) -> Self {
        Self(Bytes::from_static(bytes))
    }
}

impl ToSql<Binary, Pg> for Payload {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <[u8] as ToSql<Binary, Pg>>::to_sql(self.0.as_ref(), out)
    }
}

impl FromSql<Binary, Pg> for Payload {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        Ok(Self(Bytes::copy_from_slice(value.as_bytes())))
    }
}
