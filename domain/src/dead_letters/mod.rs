//! Dead letters (CONTRACT §14): stream entries a worker gave up on, kept in their
//! partition's dead-letter stream (`PartitionKeys::dead_letters`, CONTRACT §16) with the
//! reason, until an operator redrives or deletes them. A dead letter's id names its
//! partition and its entry there, `<partition>-<ms>-<seq>` ([`DeadLetterId`]; the
//! unpartitioned layout of older versions keeps the plain `<ms>-<seq>`), so redrive and
//! delete go straight to one partition, and a redrive puts the entry back into the
//! stream it came from. An entry lands here when it cannot be decoded, or when it was handed to a worker
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

use hookrelay_shared::keys::{Keys, MAX_PARTITIONS, Partition, PartitionKeys};
use hookrelay_shared::queue::{self, field};

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
    /// The dead letter's id: its partition and its stream id there, such as
    /// `3-1732288642551-0`.
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
pub const ID_PATTERN: &str = "^([0-9]{1,4}-)?[0-9]{1,20}-[0-9]{1,20}$";

/// Whether `id` has the form of a dead letter id ([`ID_PATTERN`]): `<partition>-<ms>-<seq>`,
/// or `<ms>-<seq>` for the unpartitioned layout.
pub fn is_stream_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split('-').collect();
    let number = |part: &str, most: usize| {
        !part.is_empty() && part.len() <= most && part.bytes().all(|b| b.is_ascii_digit())
    };
    match parts.as_slice() {
        [ms, seq] => number(ms, 20) && number(seq, 20),
        [partition, ms, seq] => number(partition, 4) && number(ms, 20) && number(seq, 20),
        _ => false,
    }
}

/// A dead letter's address: its partition and its id in that partition's dead letters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterId {
    pub partition: Partition,
    pub entry: String,
}

impl DeadLetterId {
    /// Reads an id of [`ID_PATTERN`]'s form that can name a dead letter at all (a
    /// partition below `MAX_PARTITIONS`, both numbers within 64 bits).
    pub fn parse(id: &str) -> Option<Self> {
        let parts: Vec<&str> = id.split('-').collect();
        let entry = |ms: &str, seq: &str| {
            (ms.parse::<u64>().is_ok() && seq.parse::<u64>().is_ok()).then(|| format!("{ms}-{seq}"))
        };
        match parts.as_slice() {
            [ms, seq] => Some(Self {
                partition: Partition::Unpartitioned,
                entry: entry(ms, seq)?,
            }),
            [partition, ms, seq] => Some(Self {
                partition: Partition::Numbered(
                    partition.parse().ok().filter(|p| *p < MAX_PARTITIONS)?,
                ),
                entry: entry(ms, seq)?,
            }),
            _ => None,
        }
    }

    /// The id as the api shows it.
    pub fn render(&self) -> String {
        match self.partition {
            Partition::Numbered(n) => format!("{n}-{}", self.entry),
            Partition::Unpartitioned => self.entry.clone(),
        }
    }

    /// The entry's stream id as two numbers, for ordering.
    fn order(&self) -> (u64, u64) {
        let (ms, seq) = self.entry.split_once('-').unwrap_or_default();
        (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
    }
}

/// Adds to `pipe` the commands that move entry `entry_id` (with its `fields`) from the
/// work stream to the dead letters: XADD there, then XACK + XDEL here. Run it atomically.
pub fn bury(
    pipe: &mut redis::Pipeline,
    keys: &PartitionKeys,
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

/// Dead letters oldest first, across every served partition, `skip` then at most
/// `limit`: each partition's first `skip + limit`, read at once, merged by age.
pub async fn list<C>(
    conn: &mut C,
    keys: &Keys,
    skip: usize,
    limit: usize,
) -> redis::RedisResult<Vec<DeadLetter>>
where
    C: redis::aio::ConnectionLike + Clone + Send,
{
    if limit == 0 {
        return Ok(Vec::new());
    }
    // Redis takes a signed 64-bit count; a larger skip finds nothing anyway.
    let count = skip.saturating_add(limit).min(i64::MAX as usize);
    let partitions = queue::served_partitions(conn, keys).await?;
    let read = futures::future::try_join_all(partitions.into_iter().map(|partition| {
        let mut conn = conn.clone();
        let stream = keys.partition(partition).dead_letters();
        async move {
            let entries: Vec<(String, HashMap<String, Value>)> = redis::cmd("XRANGE")
                .arg(stream)
                .arg("-")
                .arg("+")
                .arg("COUNT")
                .arg(count)
                .query_async(&mut conn)
                .await?;
            Ok::<_, redis::RedisError>(
                entries
                    .into_iter()
                    .map(move |(entry, fields)| (DeadLetterId { partition, entry }, fields)),
            )
        }
    }))
    .await?;
    let mut all: Vec<(DeadLetterId, HashMap<String, Value>)> = read.into_iter().flatten().collect();
    all.sort_by_key(|(id, _)| (id.order(), id.partition));
    Ok(all
        .into_iter()
        .skip(skip)
        .take(limit)
        .map(|(id, fields)| DeadLetter::from_entry(id.render(), &fields))
        .collect())
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

/// Redrives dead letter `id` into its partition's stream; returns its new entry id,
/// `None` if there is none.
pub async fn redrive<C: redis::aio::ConnectionLike>(
    conn: &mut C,
    keys: &Keys,
    id: &str,
) -> redis::RedisResult<Option<String>> {
    let Some(id) = DeadLetterId::parse(id) else {
        return Ok(None);
    };
    let keys = keys.partition(id.partition);
    redis::Script::new(REDRIVE)
        .key(keys.dead_letters())
        .key(keys.stream())
        .arg(&id.entry)
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
    let Some(id) = DeadLetterId::parse(id) else {
        return Ok(false);
    };
    let keys = keys.partition(id.partition);
    let deleted: i64 = redis::Script::new(DELETE)
        .key(keys.dead_letters())
        .arg(&id.entry)
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
    fn ids_name_a_partition_and_a_stream_id() {
        assert!(is_stream_id("1732288642551-0"));
        assert!(is_stream_id("3-1732288642551-0"));
        for bad in ["", "1-", "-1", "a-1", "1-2-3-4", "1", "0x1-0", "12345-1-0"] {
            assert!(!is_stream_id(bad), "{bad}");
        }
        let id = DeadLetterId::parse("3-1732288642551-7").expect("parses");
        assert_eq!(id.partition, Partition::Numbered(3));
        assert_eq!(id.entry, "1732288642551-7");
        assert_eq!(id.render(), "3-1732288642551-7");
        let before = DeadLetterId::parse("1732288642551-7").expect("parses");
        assert_eq!(before.partition, Partition::Unpartitioned);
        assert_eq!(before.render(), "1732288642551-7");
    }

    #[test]
    fn ids_past_64_bits_or_the_last_partition_name_nothing() {
        assert!(DeadLetterId::parse("18446744073709551615-0").is_some());
        assert!(DeadLetterId::parse("18446744073709551616-0").is_none());
        assert!(is_stream_id("18446744073709551616-0"));
        assert!(DeadLetterId::parse("1023-1-0").is_some());
        assert!(DeadLetterId::parse("1024-1-0").is_none());
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
