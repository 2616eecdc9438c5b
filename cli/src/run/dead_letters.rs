//! `hookrelay dead-letters …`: list, redrive and delete entries the workers gave up on.

use serde_json::json;

use crate::args::DeadLetters;
use crate::client::{Client, Outcome};
use crate::columns::DEAD_LETTER;
use crate::output::{Out, text};

pub async fn run(client: &Client, out: &Out, command: DeadLetters) -> Outcome<()> {
    match command {
        DeadLetters::List { paging } => {
            out.list(
                &client.get("/dead-letters", &paging.query()).await?,
                DEAD_LETTER,
            );
        }
        DeadLetters::Redrive { id } => {
            let answer = client
                .post(&format!("/dead-letters/{id}/redrive"), json!({}))
                .await?;
            out.done(
                &format!("redriven {id} as {}", text(&answer["entry_id"])),
                &answer,
            );
        }
        DeadLetters::Delete { id } => {
            client.delete(&format!("/dead-letters/{id}")).await?;
            out.done(
                &format!("deleted dead letter {id}"),
                &json!({"deleted": id}),
            );
        }
    }
    Ok(())
}
