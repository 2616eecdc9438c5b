//! `hookrelay subscriptions …`: create, list, show, change, delete, rotate the secret,
//! send a test webhook.

use serde_json::{Map, Value, json};

use super::set;
use crate::args::Subscriptions;
use crate::client::{Client, Outcome};
use crate::columns::SUBSCRIPTION;
use crate::output::{Out, text};
use crate::paths;

pub async fn run(client: &Client, out: &Out, command: Subscriptions) -> Outcome<()> {
    match command {
        Subscriptions::Create {
            target_url,
            destination,
            events,
            name,
            description,
            secret,
            tenant,
            data,
        } => {
            let mut body = data.object()?;
            set(&mut body, "target_url", target_url.map(Value::from));
            set(
                &mut body,
                "destination",
                destination.as_deref().map(json_object).transpose()?,
            );
            set(
                &mut body,
                "events",
                (!events.is_empty()).then(|| json!(events)),
            );
            set(&mut body, "name", name.map(Value::from));
            set(&mut body, "description", description.map(Value::from));
            set(&mut body, "secret", secret.map(Value::from));
            set(&mut body, "tenant_id", tenant.map(Value::from));
            out.object(
                &client
                    .post(&paths::subscriptions(), Value::Object(body))
                    .await?,
            );
        }
        Subscriptions::List { paging } => {
            out.list(
                &client.get(&paths::subscriptions(), &paging.query()).await?,
                SUBSCRIPTION,
            );
        }
        Subscriptions::Get { id } => {
            out.object(&client.get(&paths::subscription(&id), &[]).await?);
        }
        Subscriptions::Update {
            id,
            target_url,
            destination,
            events,
            name,
            active,
            data,
        } => {
            let mut body = data.object()?;
            set(&mut body, "target_url", target_url.map(Value::from));
            set(
                &mut body,
                "destination",
                destination.as_deref().map(json_object).transpose()?,
            );
            set(
                &mut body,
                "events",
                (!events.is_empty()).then(|| json!(events)),
            );
            set(&mut body, "name", name.map(Value::from));
            set(&mut body, "is_active", active.map(Value::from));
            out.object(
                &client
                    .patch(&paths::subscription(&id), Value::Object(body))
                    .await?,
            );
        }
        Subscriptions::Delete { id } => {
            client.delete(&paths::subscription(&id)).await?;
            out.done(
                &format!("deleted subscription {id}"),
                &json!({"deleted": id}),
            );
        }
        Subscriptions::RotateSecret { id, grace_period } => {
            let mut body = Map::new();
            set(&mut body, "grace_period", grace_period.map(Value::from));
            out.object(
                &client
                    .post(&paths::subscription_secret_rotate(&id), Value::Object(body))
                    .await?,
            );
        }
        Subscriptions::Test { id } => {
            let sent = client
                .post(&paths::subscription_test(&id), json!({}))
                .await?;
            out.done(
                &format!("sent test webhook {}", text(&sent["webhook_id"])),
                &sent,
            );
        }
    }
    Ok(())
}

/// A flag's JSON object (`--destination`).
fn json_object(text: &str) -> anyhow::Result<Value> {
    match serde_json::from_str(text) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => anyhow::bail!("--destination must be a JSON object"),
        Err(e) => anyhow::bail!("--destination is not JSON: {e}"),
    }
}
