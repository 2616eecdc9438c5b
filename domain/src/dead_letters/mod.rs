//! Dead letters (CONTRACT §14): stream entries a worker gave up on, kept in their own
//! stream (`keys.dead_letters()`) with the reason, until an operator redrives or deletes
//! them. An entry lands here when it cannot be decoded, or when it was handed to a worker
//! more than `MAX_ENTRY_REDELIVERIES` times without finishing (a record Postgres keeps
//! refusing, a handler that keeps failing).
//!
//! A dead letter holds the original entry's fields unchanged plus the `dl_*` fields
//! below, so a redrive puts back exactly what was taken out. The worker moves an entry
//! in one `MULTI` (XADD here, XACK + XDEL there); redrive and delete are Lua scripts, so
//! each is atomic too. A webhook entry's `queued:` marker stays while its dead letter
//! does (status keeps answering `queued`), and goes when the dead letter is deleted.

pub mod ops;

/// The detail of every 404 for a dead letter that does not exist.
pub const NOT_FOUND: &str = "Dead letter not found";

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use redis::Value;
use serde::Serialize;
use uuid::Uuid;

use hookrelay_shared::keys::Keys;
use hookrelay_shared::queue::field;

/// What every field a dead letter adds starts with (redrive strips those).
pub const DL_PREFIX: &str = "dl_";

/// The fields a dead letter adds to the entry's own.
pub mod dl_field {
    /// Why the worker gave up.
    pub const REASON: &str = "dl_reason";
    /// The entry's id in the work stream.
    pub const ENTRY_ID: &str = "dl_entry";
    /// How many times a worker had run it.
    pub const DELIVERIES: &str = "dl_deliveries";
    /// When it was moved here (Unix µs).
    pub const AT: &str = "dl_at";
}

/// A dead letter as the api shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DeadLetter {
    /// The dead letter's id (a stream id such as `1732288642551-0`).
    pub id: String,
    /// The id the entry had in the work stream.
    pub entry_id: String,
    /// `webhook` (a newly ingested webhook), `retry` (one delivery's next attempt), or
    /// what an undecodable entry said.
    pub kind: Option<String>,
    pub webhook_id: Option<Uuid>,
    pub subscription_id: Option<Uuid>,
    pub event_type: Option<String>,
    pub reason: String,
    /// How many times a worker had run the entry before giving up.
    pub deliveries: u64,
    #[serde(serialize_with = "hookrelay_shared::time::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub dead_at: DateTime<Utc>,
}

impl DeadLetter {
    fn from_entry(id: String, fields: &HashMap<String, Value>) -> Self {
        let text = |name: &str| match fields.get(name) {
            Some(Value::BulkString(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            Some(Value::SimpleString(s)) => Some(s.clone()),
            _ => None,
        };
        let uuid = |name: &str| text(name).and_then(|s| s.parse().ok());
        Self {
            id,
            entry_id: text(dl_field::ENTRY_ID).unwrap_or_default(),
            kind: text(field::KIND),
            webhook_id: uuid(field::WEBHOOK_ID),
            subscription_id: uuid(field::SUBSCRIPTION_ID),
            event_type: text(field::EVENT_TYPE).filter(|s| !s.is_empty()),
            reason: text(dl_field::REASON).unwrap_or_default(),
            deliveries: text(dl_field::DELIVERIES)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            dead_at: text(dl_field::AT)
                .and_then(|s| s.parse().ok())
                .map(hookrelay_shared::time::from_micros)
                .unwrap_or_default(),
        }
    }
}

/// The form of a dead letter id, as the OpenAPI document states it.
pub const ID_PATTERN: &str = "^[0-9]{1,20}-[0-9]{1,20}$";

/// Whether `id` has the form of a stream id (`<ms>-<seq>`, [`ID_PATTERN`]).
pub fn is_stream_id(id: &str) -> bool {
    id.split_once('-').is_some_and(|(ms, seq)| {
        !ms.is_empty()
            && !seq.is_empty()
            && ms.bytes().all(|b| b.is_ascii_digit())
            && seq.bytes().all(|b| b.is_ascii_digit())
            && ms.len() <= 20
            && seq.len() <= 20
    })
}

/// Adds to `pipe` the commands that move entry `entry_id` (with its `fields`) from the
/// work stream to the dead letters: XADD there, then XACK + XDEL here. Run it atomically.
pub fn bury(
    pipe: &mut redis::Pipeline,
    keys: &Keys,
    entry_id: &str,
    fields: &HashMap<String, Value>,
    reason: &str,
    deliveries: u64,
) {
    let xadd = pipe.cmd("XADD").arg(keys.dead_letters()).arg("*");
    for (name, value) in fields {
        if let Value::BulkString(bytes) = value {
            xadd.arg(name).arg(bytes.as_slice());
        }
    }
    xadd.arg(dl_field::REASON)
        .arg(reason)
        .arg(dl_field::ENTRY_ID)
        .arg(entry_id)
        .arg(dl_field::DELIVERIES)
        .arg(deliveries)
        .arg(dl_field::AT)
        .arg(Utc::now().timestamp_micros())
        .ignore();
    pipe.cmd("XACK")
        .arg(keys.stream())
        .arg(hookrelay_shared::keys::CONSUMER_GROUP)
        .arg(entry_id)
        .ignore()
        .cmd("XDEL")
        .arg(keys.stream())
        .arg(entry_id)
        .ignore();
}

/// Dead letters oldest first, `skip` then at most `limit`.
pub async fn list<C: redis::aio::ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
    skip: usize,
    limit: usize,
) -> redis::RedisResult<Vec<DeadLetter>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let entries: Vec<(String, HashMap<String, Value>)> = redis::cmd("XRANGE")
        .arg(keys.dead_letters())
        .arg("-")
        .arg("+")
        .arg("COUNT")
        // Redis takes a signed 64-bit count; a larger skip finds nothing anyway.
        .arg(skip.saturating_add(limit).min(i64::MAX as usize))
        .query_async(conn)
        .await?;
    Ok(entries
        .into_iter()
        .skip(skip)
        .map(|(id, fields)| DeadLetter::from_entry(id, &fields))
        .collect())
}

/// Whether a well-formed id can name a stream entry at all: both numbers fit in 64 bits.
fn in_range(id: &str) -> bool {
    id.split_once('-')
        .is_some_and(|(ms, seq)| ms.parse::<u64>().is_ok() && seq.parse::<u64>().is_ok())
}

/// Puts a dead letter back into the work stream with its original fields, and removes
/// it. KEYS: dead letters, stream. ARGV: id, the `dl_` prefix. Returns the new entry id,
/// or false when there is no such dead letter.
const REDRIVE: &str = r"
local found = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #found == 0 then return false end
local fields = found[1][2]
local original = {}
for i = 1, #fields, 2 do
  if string.sub(fields[i], 1, #ARGV[2]) ~= ARGV[2] then
    table.insert(original, fields[i])
    table.insert(original, fields[i + 1])
  end
end
local id = redis.call('XADD', KEYS[2], '*', unpack(original))
redis.call('XDEL', KEYS[1], ARGV[1])
return id
";

/// Removes a dead letter, and the `queued:` marker of its webhook if it was a webhook
/// entry. KEYS: dead letters. ARGV: id, the queued-marker key prefix, the kind and webhook
/// id field names. Returns 1, or 0 when there is no such dead letter.
const DELETE: &str = r"
local found = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #found == 0 then return 0 end
local fields = found[1][2]
local kind, webhook
for i = 1, #fields, 2 do
  if fields[i] == ARGV[3] then kind = fields[i + 1] end
  if fields[i] == ARGV[4] then webhook = fields[i + 1] end
end
if kind == 'webhook' and webhook then redis.call('DEL', ARGV[2] .. webhook) end
redis.call('XDEL', KEYS[1], ARGV[1])
return 1
";

/// Redrives dead letter `id`; returns its new entry id, `None` if there is none.
pub async fn redrive<C: redis::aio::ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
    id: &str,
) -> redis::RedisResult<Option<String>> {
    if !in_range(id) {
        return Ok(None);
    }
    redis::Script::new(REDRIVE)
        .key(keys.dead_letters())
        .key(keys.stream())
        .arg(id)
        .arg(DL_PREFIX)
        .invoke_async(conn)
        .await
}

/// Deletes dead letter `id`; `false` if there is none.
pub async fn delete<C: redis::aio::ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
    id: &str,
) -> redis::RedisResult<bool> {
    if !in_range(id) {
        return Ok(false);
    }
    let deleted: i64 = redis::Script::new(DELETE)
        .key(keys.dead_letters())
        .arg(id)
        .arg(keys.queued_prefix())
        .arg(field::KIND)
        .arg(field::WEBHOOK_ID)
        .invoke_async(conn)
        .await?;
    Ok(deleted == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_are_two_numbers() {
        assert!(is_stream_id("1732288642551-0"));
        for bad in ["", "1-", "-1", "a-1", "1-2-3", "1", "0x1-0"] {
            assert!(!is_stream_id(bad), "{bad}");
        }
    }

    #[test]
    fn ids_past_64_bits_name_nothing() {
        assert!(in_range("18446744073709551615-0"));
        assert!(!in_range("18446744073709551616-0"));
        assert!(is_stream_id("18446744073709551616-0"));
    }

    #[test]
    fn every_dead_letter_field_shares_the_prefix_redrive_strips() {
        for name in [
            dl_field::REASON,
            dl_field::ENTRY_ID,
            dl_field::DELIVERIES,
            dl_field::AT,
        ] {
            assert!(name.starts_with(DL_PREFIX), "{name}");
        }
    }
}
