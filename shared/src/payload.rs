//! What a webhook carries beyond its event type: its exact bytes ([`Payload`]) and, for one
//! that came in through a source, its [`Envelope`]. Both travel in the work stream's
//! entries (`queue`) and are stored in the `webhooks` row, so they are declared here,
//! below both.

use bytes::Bytes;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{Binary, Jsonb};

/// What travels with a body that came in through a source (`POST /in/<token>`): its
/// original content type and the headers the source forwards, both sent on with every
/// attempt. A webhook ingested through `/ingest` has none: its body is JSON and goes out
/// as `application/json`.
#[derive(
    Debug,
    Clone,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    AsExpression,
    FromSqlRow,
)]
#[diesel(sql_type = Jsonb)]
pub struct Envelope {
    /// `None`: the request had no `content-type`, and none is sent on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Name and value, in the order they arrived.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
}

impl Envelope {
    /// The JSON text of the stream entry's field and of the `webhooks.envelope` column.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| unreachable!("strings always serialize"))
    }

    pub fn from_json(text: &str) -> serde_json::Result<Self> {
        serde_json::from_str(text)
    }
}

impl ToSql<Jsonb, Pg> for Envelope {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        // Postgres's binary jsonb: a version byte, then the JSON text.
        std::io::Write::write_all(out, &[1])?;
        serde_json::to_writer(out, self)?;
        Ok(serialize::IsNull::No)
    }
}

impl FromSql<Jsonb, Pg> for Envelope {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        match value.as_bytes().split_first() {
            Some((1, json)) => Ok(serde_json::from_slice(json)?),
            _ => Err("unsupported jsonb encoding version".into()),
        }
    }
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
