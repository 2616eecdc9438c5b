//! `hookrelay tail`: new webhooks as workers store them, and each one again when its status
//! changes, until interrupted.
//!
//! It polls `GET /webhooks?since=<cursor>` every `--interval` (default 500 ms). The cursor is
//! the `received_at` of the oldest webhook still under way (else of the newest seen), so a
//! poll returns only the window that can still change: one indexed query per interval for
//! the server, answering at most 100 rows. A webhook is printed when first seen and when its
//! status moves.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use crate::client::{Client, Outcome};
use crate::output::{Format, Out, text};
use crate::paths;

#[derive(clap::Args)]
pub struct Tail {
    #[arg(long)]
    subscription: Option<String>,
    #[arg(long)]
    event_type: Option<String>,
    /// How often to ask (`250ms`, `2s`).
    #[arg(long, default_value = "500ms", value_parser = parse_interval)]
    interval: Duration,
    /// Stop after this many lines (for scripts and tests; default: never).
    #[arg(long)]
    max: Option<usize>,
}

fn parse_interval(raw: &str) -> Result<Duration, String> {
    let interval = humantime::parse_duration(raw).map_err(|e| format!("{raw:?}: {e}"))?;
    if interval < Duration::from_millis(100) {
        return Err("the interval is at least 100ms".into());
    }
    Ok(interval)
}

const FINAL: [&str; 3] = ["delivered", "failed", "no_subscribers"];

pub async fn run(client: &Client, out: &Out, tail: Tail) -> Outcome<()> {
    // Only what arrives from now on: what the API lists now is the baseline, marked as
    // seen without being printed (the server's clock, not ours, places the start).
    let filters = [
        (
            "subscription_id",
            tail.subscription.clone().unwrap_or_default(),
        ),
        ("event_type", tail.event_type.clone().unwrap_or_default()),
    ];
    let mut shown: HashMap<String, (String, DateTime<Utc>)> = HashMap::new();
    let mut cursor = Utc::now() - chrono::Duration::days(1);
    let baseline = client
        .get(
            &paths::webhooks(),
            &[&filters[..], &[("limit", "100".to_owned())]].concat(),
        )
        .await?;
    for row in baseline.as_array().map(Vec::as_slice).unwrap_or_default() {
        if let Some(at) = received(row) {
            cursor = cursor.max(at);
            shown.insert(text(&row["webhook_id"]), (text(&row["status"]), at));
        }
    }
    let mut printed = 0usize;
    if out.format == Format::Table {
        eprintln!("following new webhooks (Ctrl-C to stop)");
    }
    loop {
        let query = [
            ("since", stamp(cursor)),
            (
                "subscription_id",
                tail.subscription.clone().unwrap_or_default(),
            ),
            ("event_type", tail.event_type.clone().unwrap_or_default()),
            ("limit", "100".to_owned()),
        ];
        let page = client.get(&paths::webhooks(), &query).await?;
        let mut rows: Vec<(&Value, DateTime<Utc>)> = page
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|row| Some((row, received(row)?)))
                    .collect()
            })
            .unwrap_or_default();
        // The API lists newest first; print oldest first.
        rows.reverse();
        for (row, at) in &rows {
            let id = text(&row["webhook_id"]);
            let status = text(&row["status"]);
            if shown.get(&id).is_some_and(|(s, _)| *s == status) {
                continue;
            }
            match out.format {
                Format::Json => println!("{row}"),
                Format::Table => println!(
                    "{}  {id}  {status:<14}  {}",
                    text(&row["received_at"]),
                    text(&row["event_type"])
                ),
            }
            shown.insert(id, (status, *at));
            printed += 1;
            if tail.max.is_some_and(|max| printed >= max) {
                return Ok(());
            }
        }
        // The window starts at the oldest webhook still under way, else the newest seen.
        let unfinished = rows
            .iter()
            .filter(|(r, _)| !FINAL.contains(&text(&r["status"]).as_str()))
            .map(|(_, at)| *at)
            .min();
        if let Some(start) = unfinished.or_else(|| rows.last().map(|(_, at)| *at)) {
            cursor = start;
        }
        shown.retain(|_, (_, at)| *at >= cursor);
        tokio::time::sleep(tail.interval).await;
    }
}

fn received(row: &Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(row["received_at"].as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}
