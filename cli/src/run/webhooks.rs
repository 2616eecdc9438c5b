//! One webhook's life from the command line: `ingest` it, follow its `status`, find it
//! with `webhooks list`, `replay` its deliveries.

use serde_json::{Map, Value, json};

use crate::args::{Ingest, Webhooks};
use crate::client::{Body, Client, Outcome};
use crate::columns::{ATTEMPT, DELIVERY, WEBHOOK};
use crate::output::{Format, Out, text};
use crate::paths;

/// Sends the payload (a file, or stdin) as it is, with the flags as headers.
pub async fn ingest(client: &Client, out: &Out, ingest: Ingest) -> Outcome<()> {
    let payload = match ingest.file.as_deref() {
        Some(path) if path.as_os_str() != "-" => {
            std::fs::read(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?
        }
        _ => {
            use tokio::io::AsyncReadExt as _;
            let mut bytes = Vec::new();
            tokio::io::stdin()
                .read_to_end(&mut bytes)
                .await
                .map_err(|e| anyhow::anyhow!("reading stdin: {e}"))?;
            bytes
        }
    };
    let path = match &ingest.subscription {
        Some(id) => paths::ingest_to(id),
        None => paths::ingest(),
    };
    let mut headers = vec![("content-type", "application/json".to_owned())];
    for (name, value) in [
        ("x-event-type", ingest.event_type),
        ("idempotency-key", ingest.idempotency_key),
        ("x-deliver-at", ingest.deliver_at),
    ] {
        if let Some(value) = value {
            headers.push((name, value));
        }
    }
    let accepted = client
        .request(
            reqwest::Method::POST,
            &path,
            &[],
            Body::Raw(payload),
            &headers,
        )
        .await?;
    out.done(&text(&accepted["webhook_id"]), &accepted);
    Ok(())
}

/// The status as a summary, then its deliveries and recent attempts as tables.
pub async fn status(client: &Client, out: &Out, webhook_id: &str) -> Outcome<()> {
    let status = client.get(&paths::status(webhook_id), &[]).await?;
    if out.format == Format::Json {
        out.json(&status);
        return Ok(());
    }
    let mut summary = status.clone();
    if let Some(fields) = summary.as_object_mut() {
        fields.remove("deliveries");
        fields.remove("recent_attempts");
    }
    out.object(&summary);
    println!("\ndeliveries:");
    out.list(&status["deliveries"], DELIVERY);
    println!("\nrecent attempts:");
    out.list(&status["recent_attempts"], ATTEMPT);
    Ok(())
}

pub async fn list(client: &Client, out: &Out, command: Webhooks) -> Outcome<()> {
    let Webhooks::List {
        event_type,
        status,
        subscription,
        since,
        until,
        paging,
    } = command;
    let mut query = paging.query();
    for (name, value) in [
        ("event_type", event_type),
        ("status", status),
        ("subscription_id", subscription),
        ("since", since),
        ("until", until),
    ] {
        query.push((name, value.unwrap_or_default()));
    }
    out.list(&client.get(&paths::webhooks(), &query).await?, WEBHOOK);
    Ok(())
}

pub async fn replay(
    client: &Client,
    out: &Out,
    webhook_id: String,
    subscriptions: Vec<String>,
    include_succeeded: bool,
) -> Outcome<()> {
    let mut body = Map::new();
    if !subscriptions.is_empty() {
        body.insert("subscription_ids".into(), json!(subscriptions));
    }
    if include_succeeded {
        body.insert("include_succeeded".into(), json!(true));
    }
    let replayed = client
        .post(&paths::webhook_replay(&webhook_id), Value::Object(body))
        .await?;
    let n = replayed["deliveries"].as_array().map_or(0, Vec::len);
    out.done(
        &format!("replaying {n} delivery(ies) of {webhook_id}"),
        &replayed,
    );
    Ok(())
}
