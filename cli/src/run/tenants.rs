//! `hookrelay tenants …`: create, list, show, change and delete tenants.

use serde_json::{Map, Value, json};

use super::set;
use crate::args::Tenants;
use crate::client::{Client, Outcome};
use crate::columns::TENANT;
use crate::output::Out;
use crate::paths;

pub async fn run(client: &Client, out: &Out, command: Tenants) -> Outcome<()> {
    match command {
        Tenants::Create { name, metadata } => {
            let mut body = Map::new();
            body.insert("name".into(), json!(name));
            set(&mut body, "metadata", json_arg("metadata", metadata)?);
            out.object(&client.post(&paths::tenants(), Value::Object(body)).await?);
        }
        Tenants::List { paging } => out.list(
            &client.get(&paths::tenants(), &paging.query()).await?,
            TENANT,
        ),
        Tenants::Get { id } => out.object(&client.get(&paths::tenant(&id), &[]).await?),
        Tenants::Update { id, name, metadata } => {
            let mut body = Map::new();
            set(&mut body, "name", name.map(Value::from));
            set(&mut body, "metadata", json_arg("metadata", metadata)?);
            out.object(
                &client
                    .patch(&paths::tenant(&id), Value::Object(body))
                    .await?,
            );
        }
        Tenants::Delete { id } => {
            client.delete(&paths::tenant(&id)).await?;
            out.done(&format!("deleted tenant {id}"), &json!({"deleted": id}));
        }
    }
    Ok(())
}

/// A flag holding JSON (`--metadata`), parsed.
fn json_arg(name: &str, text: Option<String>) -> anyhow::Result<Option<Value>> {
    text.map(|t| serde_json::from_str(&t).map_err(|e| anyhow::anyhow!("--{name} is not JSON: {e}")))
        .transpose()
}
