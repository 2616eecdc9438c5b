//! `hookrelay replays …`: start a bulk replay (or count what it would match), list them,
//! show or follow one with a progress bar, cancel one.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::set;
use crate::args::Replays;
use crate::client::{Client, Failure, Outcome};
use crate::columns::REPLAY;
use crate::output::{Out, text};
use crate::paths;

pub async fn run(client: &Client, out: &Out, command: Replays) -> Outcome<()> {
    match command {
        Replays::Create {
            subscription,
            event_types,
            since,
            until,
            statuses,
            include_missing,
            dry_run,
            wait,
        } => {
            let mut body = Map::new();
            set(&mut body, "subscription_id", subscription.map(Value::from));
            set(
                &mut body,
                "event_types",
                (!event_types.is_empty()).then(|| json!(event_types)),
            );
            body.insert("since".into(), json!(since));
            set(&mut body, "until", until.map(Value::from));
            set(
                &mut body,
                "statuses",
                (!statuses.is_empty()).then(|| json!(statuses)),
            );
            if include_missing {
                body.insert("include_missing".into(), json!(true));
            }
            if dry_run {
                body.insert("dry_run".into(), json!(true));
            }
            let answer = client.post(&paths::replays(), Value::Object(body)).await?;
            if dry_run {
                out.done(
                    &format!("would replay {}", text(&answer["matched"])),
                    &answer,
                );
            } else if wait {
                follow(client, out, &text(&answer["id"])).await?;
            } else {
                out.object(&answer);
            }
        }
        Replays::List { paging } => out.list(
            &client.get(&paths::replays(), &paging.query()).await?,
            REPLAY,
        ),
        Replays::Get { id, wait } => {
            if wait {
                follow(client, out, &id).await?;
            } else {
                out.object(&client.get(&paths::replay(&id), &[]).await?);
            }
        }
        Replays::Cancel { id } => out.object(&client.delete(&paths::replay(&id)).await?),
    }
    Ok(())
}

/// Polls a replay every 500 ms with a progress bar (queued of matched) until it is over.
async fn follow(client: &Client, out: &Out, id: &str) -> Outcome<()> {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} replay {msg} [{bar:30}] {pos}/{len} queued",
        )
        .map_err(|e| Failure::Other(e.into()))?,
    );
    bar.set_message(id.to_owned());
    loop {
        let replay = client.get(&paths::replay(id), &[]).await?;
        bar.set_length(replay["matched"].as_u64().unwrap_or(0));
        bar.set_position(replay["queued"].as_u64().unwrap_or(0));
        if replay["status"] != json!("running") {
            bar.finish_and_clear();
            out.object(&replay);
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
