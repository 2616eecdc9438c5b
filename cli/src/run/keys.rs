//! `hookrelay keys …`: create (the secret is shown once), list, show and delete API keys.

use serde_json::{Map, Value, json};

use super::set;
use crate::args::Keys;
use crate::client::{Client, Outcome};
use crate::columns::KEY;
use crate::output::{Format, Out};
use crate::paths;

pub async fn run(client: &Client, out: &Out, command: Keys) -> Outcome<()> {
    match command {
        Keys::Create {
            name,
            tenant,
            permissions,
            expires_at,
        } => {
            let mut body = Map::new();
            body.insert("name".into(), json!(name));
            set(&mut body, "tenant_id", tenant.map(Value::from));
            set(
                &mut body,
                "permissions",
                (!permissions.is_empty()).then(|| json!(permissions)),
            );
            set(&mut body, "expires_at", expires_at.map(Value::from));
            let created = client.post(&paths::api_keys(), Value::Object(body)).await?;
            out.object(&created);
            if out.format == Format::Table {
                eprintln!("The key is shown this once: store it now.");
            }
        }
        Keys::List { paging } => {
            out.list(&client.get(&paths::api_keys(), &paging.query()).await?, KEY)
        }
        Keys::Get { id } => out.object(&client.get(&paths::api_key(&id), &[]).await?),
        Keys::Delete { id } => {
            client.delete(&paths::api_key(&id)).await?;
            out.done(&format!("deleted API key {id}"), &json!({"deleted": id}));
        }
    }
    Ok(())
}
