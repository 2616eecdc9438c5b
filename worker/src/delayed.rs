//! Delayed webhooks (`X-Deliver-At`): moved into the work stream when they come due.
//!
//! The api's ingest script (`hookrelay_shared::queue`) keeps a delayed webhook's stream
//! entry in `delayed:<id>`, its id in the `delayed` sorted set (score: the due time,
//! Unix ms rounded up) and `due` in its `queued:` marker. When it is due, the mover
//! (`mover`) runs `MOVE_SCRIPT`, in the webhook's partition: it appends the entry to the
//! stream exactly as the ingest script would have — fan-out, reading its writes as of
//! when it reads the entry, is resolved as of the due time, not of the ingest — and
//! removes the entry, the id and the marker's `due` (status then says `queued`) in the
//! same atomic step. From there the entry is an ordinary `webhook` entry (`fanout`).

use hookrelay_shared::keys::PartitionKeys;
use hookrelay_shared::queue::field;

use crate::mover::DueSet;

/// Webhooks moved per script run at most: each carries its body (up to
/// `MAX_PAYLOAD_BYTES`), so fewer than the retry mover's tiny members.
const MOVE_BATCH: usize = 100;

/// Moves due delayed webhooks into the stream. KEYS: delayed set, stream (one
/// partition's). ARGV: now (Unix ms), batch size, the `delayed:` entry prefix, the
/// `queued:` marker prefix, then the field name of the due time (marker). Returns how
/// many ids it took; an id whose entry is missing (which the ingest script never leaves)
/// is dropped.
const MOVE_SCRIPT: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(due) do
  local entry = redis.call('HGETALL', ARGV[3] .. id)
  if #entry > 0 then
    redis.call('XADD', KEYS[2], '*', unpack(entry))
    redis.call('DEL', ARGV[3] .. id)
    redis.call('HDEL', ARGV[4] .. id, ARGV[5])
  end
  redis.call('ZREM', KEYS[1], id)
end
return #due
";

/// One partition's delayed webhooks as the mover moves them.
pub fn due_set(keys: &PartitionKeys) -> DueSet {
    DueSet::new(
        "delayed webhooks",
        crate::metrics::DELAYED_MOVED.name,
        MOVE_BATCH,
        MOVE_SCRIPT,
        vec![keys.delayed(), keys.stream()],
        vec![
            keys.delayed_entry_prefix(),
            keys.queued_prefix(),
            field::DELIVER_AT.to_owned(),
        ],
    )
}
