//! Python RQ jobs, over [`super::redis`]'s connections.
//!
//! Each delivery enqueues one job, with the webhook id as the job id, that a stock RQ
//! worker started with `--serializer rq.serializers.JSONSerializer` runs as
//! `function(payload, headers)`: `payload` is the body as a UTF-8 string (a body that is
//! not UTF-8 fails the delivery at once), `headers` an object of the metadata. The job is
//! written as RQ itself writes one (`rq:job:<id>` hash, `rq:queue:<queue>` list, the
//! `rq:queues` set), in one `MULTI`/`EXEC`; the `EXEC` reply is the acknowledgement.

use std::time::Duration;

use hookrelay_domain::destinations::RqQueue as Settings;

use super::message::{Ack, Failure, Message};
use super::pool::Pool;
use super::redis::{RedisServer, failed};

/// RQ's own timestamp format (`rq.utils.utcformat`).
const RQ_TIME: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

pub async fn publish(
    pool: &Pool<RedisServer>,
    settings: &Settings,
    message: &Message,
    timeout: Duration,
) -> Result<Ack, Failure> {
    let payload = message.body_text()?;
    let headers: serde_json::Map<String, serde_json::Value> = message
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), serde_json::Value::from(value.as_str())))
        .collect();
    // RQ's JSON serializer reads `data` as [function, instance, args, kwargs]; RQ stores
    // it zlib-compressed and reads it uncompressed as well.
    let data = serde_json::json!([settings.function, null, [payload, headers], {}]).to_string();
    let job_id = message.webhook_id.to_string();
    let queue_key = format!("rq:queue:{}", settings.queue);
    let now = chrono::Utc::now().format(RQ_TIME).to_string();
    let description = format!("{}(webhook {job_id})", settings.function);
    pool.with_connection(&settings.url, timeout, |connection| async move {
        let mut connection = (*connection).clone();
        let () = redis::pipe()
            .atomic()
            .sadd("rq:queues", &queue_key)
            .ignore()
            .hset_multiple(
                format!("rq:job:{job_id}"),
                &[
                    ("status", "queued"),
                    ("created_at", now.as_str()),
                    ("enqueued_at", now.as_str()),
                    ("data", data.as_str()),
                    ("origin", settings.queue.as_str()),
                    ("description", description.as_str()),
                ],
            )
            .ignore()
            .rpush(&queue_key, &job_id)
            .ignore()
            .query_async(&mut connection)
            .await
            .map_err(|e| failed("enqueue", &e))?;
        Ok(format!("job {job_id} queued on {}", settings.queue))
    })
    .await
}
