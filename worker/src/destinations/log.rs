//! The log: each delivery is one JSON line on the worker's stdout, with the fields a
//! Redis stream entry has (`body`, the ingested bytes as text, then one field per
//! header; a header named `body` is left out, as there). A body that is not UTF-8 is
//! written with its invalid bytes as U+FFFD and a `body_base64` field with the exact
//! bytes. The write is bounded by the attempt's timeout like any other (a stdout that
//! nobody reads blocks).

use std::io::Write as _;

use base64::Engine as _;
use serde_json::{Map, Value};

use super::message::{Ack, Failure, Message};

pub async fn write(message: &Message, timeout: std::time::Duration) -> Result<Ack, Failure> {
    let line = line(message);
    super::pool::bounded(timeout, async move {
        tokio::task::spawn_blocking(move || print(&line))
            .await
            .map_err(|e| Failure::retry(format!("writing to stdout did not finish: {e}")))?
    })
    .await
}

/// The line, newline included.
fn line(message: &Message) -> String {
    let mut line = Map::new();
    line.insert(
        "body".into(),
        Value::from(String::from_utf8_lossy(&message.body).into_owned()),
    );
    if std::str::from_utf8(&message.body).is_err() {
        line.insert(
            "body_base64".into(),
            Value::from(base64::engine::general_purpose::STANDARD.encode(&message.body)),
        );
    }
    for (name, value) in super::message::metadata_fields(message) {
        line.insert(name.to_owned(), Value::from(value));
    }
    let mut text = Value::Object(line).to_string();
    text.push('\n');
    text
}

fn print(text: &str) -> Result<Ack, Failure> {
    // One write of the whole line under stdout's lock: lines never interleave.
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::retry(format!("writing to stdout failed: {e}")))?;
    Ok("written to stdout".into())
}
