//! `webhooks`: each webhook as first stored by a worker, with its exact bytes.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use hookrelay_shared::payload::{Envelope, Payload};
use hookrelay_shared::schema::webhooks;
use uuid::Uuid;

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
    /// `Some` for a webhook that came in through a source.
    pub envelope: Option<Envelope>,
}
