//! The write actions on sources, one function each, called by the api's handlers and the
//! console alike: parse, commit, tell every api process's source cache which tokens
//! changed (the inbound path reads only that cache), log.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::{NOT_FOUND, Source, store};
use crate::api_keys::Principal;
use crate::services::log_stale;
use crate::{Refusal, Services};

async fn changed(services: &Services, tokens: &[String]) {
    log_stale("a source", services.sources.invalidate_all(tokens).await);
}

/// `POST /sources`: a new source with a new, random `ingest_path`.
pub async fn create(
    services: &Services,
    principal: &Principal,
    body: &Map<String, Value>,
) -> Result<Source, Refusal> {
    let input = super::parse(body)?;
    let source = store::create(&services.db, principal, input).await??;
    tracing::info!(source_id = %source.id, verification = source.verification.kind(), "source created");
    changed(services, std::slice::from_ref(&source.token)).await;
    Ok(source)
}

/// `PATCH /sources/{id}`: a `verification` sent back with its secrets masked keeps them.
pub async fn update(
    services: &Services,
    principal: &Principal,
    id: Uuid,
    body: &Map<String, Value>,
) -> Result<Source, Refusal> {
    let source = store::patch(&services.db, principal, id, body).await???;
    tracing::info!(source_id = %id, "source changed");
    changed(services, std::slice::from_ref(&source.token)).await;
    Ok(source)
}

/// `DELETE /sources/{id}`: with its rejections; its path answers 404 from now on.
pub async fn delete(services: &Services, principal: &Principal, id: Uuid) -> Result<(), Refusal> {
    let token = store::delete(&services.db, principal.space(), id)
        .await?
        .ok_or(Refusal::NotFound(NOT_FOUND))?;
    tracing::info!(source_id = %id, "source deleted");
    changed(services, &[token]).await;
    Ok(())
}

/// `POST /sources/{id}/rotate-path`: a new `ingest_path`; the old one answers 404 from now
/// on.
pub async fn rotate_path(
    services: &Services,
    principal: &Principal,
    id: Uuid,
) -> Result<Source, Refusal> {
    let (old, source) = store::rotate_path(&services.db, principal.space(), id)
        .await?
        .ok_or(Refusal::NotFound(NOT_FOUND))?;
    tracing::info!(source_id = %id, "source path rotated");
    changed(services, &[old, source.token.clone()]).await;
    Ok(source)
}
