//! What each command does: its requests to the API and what it prints of the answers. One
//! module per resource, mirroring `args`; this one dispatches and holds the body helper
//! they share.

mod dead_letters;
mod keys;
mod replays;
mod resource;
mod subscriptions;
mod tenants;
mod webhooks;

use serde_json::{Map, Value};

use crate::args::Command;
use crate::client::{Client, Outcome};
use crate::output::Out;

pub async fn run(client: &Client, out: &Out, command: Command) -> Outcome<()> {
    match command {
        Command::Subscriptions(c) => subscriptions::run(client, out, c).await,
        Command::Ingest(i) => webhooks::ingest(client, out, i).await,
        Command::Status { webhook_id } => webhooks::status(client, out, &webhook_id).await,
        Command::Webhooks(c) => webhooks::list(client, out, c).await,
        Command::Replay {
            webhook_id,
            subscriptions,
            include_succeeded,
        } => webhooks::replay(client, out, webhook_id, subscriptions, include_succeeded).await,
        Command::Replays(c) => replays::run(client, out, c).await,
        Command::Tenants(c) => tenants::run(client, out, c).await,
        Command::Keys(c) => keys::run(client, out, c).await,
        Command::Schedules(c) => resource::run(client, out, &resource::SCHEDULES, c).await,
        Command::Sources(c) => resource::run(client, out, &resource::SOURCES, c).await,
        Command::DeadLetters(c) => dead_letters::run(client, out, c).await,
        Command::Tail(t) => crate::tail::run(client, out, t).await,
        Command::Completions { .. } => Ok(()),
    }
}

/// Puts `value` under `name` when it is set.
fn set(body: &mut Map<String, Value>, name: &str, value: Option<Value>) {
    if let Some(value) = value {
        body.insert(name.to_owned(), value);
    }
}
