//! `hookrelay schedules …` and `hookrelay sources …`: JSON bodies in, the API's answers
//! out, plus each one's actions and log (a schedule's runs, a source's rejections).

use serde_json::{Value, json};

use crate::args::Resource;
use crate::client::{Client, Failure, Outcome};
use crate::columns;
use crate::output::{Column, Format, Out};
use crate::paths::{self, Path};

/// What differs between schedules and sources: their paths, actions, log and columns.
pub struct Kind {
    /// For the refusal of an action it does not have.
    noun: &'static str,
    actions: &'static [&'static str],
    columns: &'static [Column],
    all: fn() -> Path,
    one: fn(&str) -> Path,
    /// The path of `do <id> <action>`: `None` for an action it does not have.
    action: fn(&str, &str) -> Option<Path>,
    log: fn(&str) -> Path,
}

pub const SCHEDULES: Kind = Kind {
    noun: "schedule",
    actions: &["pause", "resume", "trigger"],
    columns: columns::SCHEDULE,
    all: paths::schedules,
    one: paths::schedule,
    action: schedule_action,
    log: paths::schedule_runs,
};

pub const SOURCES: Kind = Kind {
    noun: "source",
    actions: &["rotate-path"],
    columns: columns::SOURCE,
    all: paths::sources,
    one: paths::source,
    action: source_action,
    log: paths::source_rejections,
};

fn schedule_action(id: &str, action: &str) -> Option<Path> {
    match action {
        "pause" => Some(paths::schedule_pause(id)),
        "resume" => Some(paths::schedule_resume(id)),
        "trigger" => Some(paths::schedule_trigger(id)),
        _ => None,
    }
}

fn source_action(id: &str, action: &str) -> Option<Path> {
    (action == "rotate-path").then(|| paths::source_rotate_path(id))
}

pub async fn run(client: &Client, out: &Out, kind: &Kind, command: Resource) -> Outcome<()> {
    match command {
        Resource::Create { data } => out.object(
            &client
                .post(&(kind.all)(), Value::Object(data.object()?))
                .await?,
        ),
        Resource::List { paging } => out.list(
            &client.get(&(kind.all)(), &paging.query()).await?,
            kind.columns,
        ),
        Resource::Get { id } => out.object(&client.get(&(kind.one)(&id), &[]).await?),
        Resource::Update { id, data } => {
            out.object(
                &client
                    .patch(&(kind.one)(&id), Value::Object(data.object()?))
                    .await?,
            );
        }
        Resource::Delete { id } => {
            client.delete(&(kind.one)(&id)).await?;
            out.done(&format!("deleted {id}"), &json!({"deleted": id}));
        }
        Resource::Do { id, action } => {
            let Some(path) = (kind.action)(&id, &action) else {
                return Err(Failure::Other(anyhow::anyhow!(
                    "{action:?} is not a {} action (try {})",
                    kind.noun,
                    kind.actions.join(", ")
                )));
            };
            out.object(&client.post(&path, json!({})).await?);
        }
        Resource::Log { id, limit } => {
            let rows = client
                .get(&(kind.log)(&id), &[("limit", limit.to_string())])
                .await?;
            match out.format {
                Format::Json => out.json(&rows),
                Format::Table => out.list(&rows, &columns::of_first_row(&rows)),
            }
        }
    }
    Ok(())
}
