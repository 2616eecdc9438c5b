//! `hookrelay schedules …` and `hookrelay sources …`: JSON bodies in, the API's answers
//! out, plus each one's actions and log (a schedule's runs, a source's rejections).

use serde_json::{Value, json};

use crate::args::Resource;
use crate::client::{Client, Outcome};
use crate::columns;
use crate::output::{Column, Format, Out};

pub async fn run(
    client: &Client,
    out: &Out,
    base: &str,
    columns: &[Column],
    command: Resource,
) -> Outcome<()> {
    match command {
        Resource::Create { data } => {
            out.object(&client.post(base, Value::Object(data.object()?)).await?)
        }
        Resource::List { paging } => out.list(&client.get(base, &paging.query()).await?, columns),
        Resource::Get { id } => out.object(&client.get(&format!("{base}/{id}"), &[]).await?),
        Resource::Update { id, data } => {
            out.object(
                &client
                    .patch(&format!("{base}/{id}"), Value::Object(data.object()?))
                    .await?,
            );
        }
        Resource::Delete { id } => {
            client.delete(&format!("{base}/{id}")).await?;
            out.done(&format!("deleted {id}"), &json!({"deleted": id}));
        }
        Resource::Do { id, action } => {
            out.object(
                &client
                    .post(&format!("{base}/{id}/{action}"), json!({}))
                    .await?,
            );
        }
        Resource::Log { id, limit } => {
            let log = if base == "/sources" {
                "rejections"
            } else {
                "runs"
            };
            let rows = client
                .get(
                    &format!("{base}/{id}/{log}"),
                    &[("limit", limit.to_string())],
                )
                .await?;
            match out.format {
                Format::Json => out.json(&rows),
                Format::Table => out.list(&rows, &columns::of_first_row(&rows)),
            }
        }
    }
    Ok(())
}
