//! `hookrelay dead-letters …`: list, redrive and delete entries the workers gave up on.

use serde_json::json;

use crate::args::DeadLetters;
use crate::client::{Client, Outcome};
use crate::columns::DEAD_LETTER;
use crate::output::{Out, text};
use crate::paths;

pub async fn run(client: &Client, out: &Out, command: DeadLetters) -> Outcome<()> {
    match command {
        DeadLetters::List { paging } => {
            out.list(
                &client.get(&paths::dead_letters(), &paging.query()).await?,
                DEAD_LETTER,
            );
        }
        DeadLetters::Redrive { id } => {
            let answer = client
                .post(&paths::dead_letter_redrive(&id), json!({}))
                .await?;
            out.done(
                &format!("redriven {id} as {}", text(&answer["entry_id"])),
                &answer,
            );
        }
        DeadLetters::Delete { id } => {
            client.delete(&paths::dead_letter(&id)).await?;
            out.done(
                &format!("deleted dead letter {id}"),
                &json!({"deleted": id}),
            );
        }
    }
    Ok(())
}
