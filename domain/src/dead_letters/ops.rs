//! The write actions on dead letters, one function each, called by the api's handlers and
//! the console alike (keys without a tenant only: dead letters hold every tenant's).

use super::NOT_FOUND;
use crate::{Refusal, Services};

const QUEUE_UNAVAILABLE: &str = "The queue is unavailable; try again";

fn unavailable(e: impl Into<anyhow::Error>) -> Refusal {
    Refusal::unavailable(QUEUE_UNAVAILABLE, e)
}

/// Puts dead letter `id` back into the work stream as it was; answers its new entry id.
pub async fn redrive(services: &Services, id: &str) -> Result<String, Refusal> {
    let entry_id = super::redrive(&mut services.redis.clone(), &services.keys, id)
        .await
        .map_err(unavailable)?
        .ok_or(Refusal::NotFound(NOT_FOUND))?;
    tracing::info!(dead_letter_id = %id, entry_id, "dead letter redriven");
    Ok(entry_id)
}

/// Deletes dead letter `id` (and, for a webhook, its `queued:` marker).
pub async fn delete(services: &Services, id: &str) -> Result<(), Refusal> {
    if !super::delete(&mut services.redis.clone(), &services.keys, id)
        .await
        .map_err(unavailable)?
    {
        return Err(Refusal::NotFound(NOT_FOUND));
    }
    tracing::info!(dead_letter_id = %id, "dead letter deleted");
    Ok(())
}

/// Every dead letter, oldest first, a page at a time.
pub async fn list(
    services: &Services,
    skip: usize,
    limit: usize,
) -> Result<Vec<super::DeadLetter>, Refusal> {
    super::list(&mut services.redis.clone(), &services.keys, skip, limit)
        .await
        .map_err(unavailable)
}
