//! The write actions on bulk replays, one function each, called by the api's handlers and
//! the console alike. The api only stores a replay; the workers run it.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::store::{self, Created, Replay};
use crate::api_keys::Principal;
use crate::{Refusal, Services};

/// `POST /replays`: stores a replay for the workers to run or, with `dry_run`, counts
/// what it would match now.
pub async fn create(
    services: &Services,
    principal: &Principal,
    body: &Map<String, Value>,
) -> Result<Created, Refusal> {
    let posted = store::parse(body, hookrelay_shared::time::now())?;
    let created = store::create(&services.db, principal, posted).await??;
    if let Created::Stored(replay) = &created {
        tracing::info!(replay_id = %replay.id, filter = %replay.filter, "replay started");
    }
    Ok(created)
}

/// `DELETE /replays/{id}`: no batch starts after this; what was queued goes on.
pub async fn cancel(
    services: &Services,
    principal: &Principal,
    id: Uuid,
) -> Result<Replay, Refusal> {
    let replay = store::cancel(&services.db, principal.space(), id).await??;
    tracing::info!(replay_id = %id, matched = replay.matched, queued = replay.queued, "replay cancelled");
    Ok(replay)
}
