//! `webhooks`: each webhook as first stored by a worker, with its exact bytes.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::schema::webhooks;

#[derive(Debug, Clone, Insertable, Queryable, Selectable)]
#[diesel(table_name = webhooks, check_for_backend(diesel::pg::Pg))]
pub struct NewWebhook {
    pub id: Uuid,
    pub event_type: Option<String>,
    pub subscription_id: Option<Uuid>,
    pub payload: Vec<u8>,
    pub received_at: DateTime<Utc>,
}
