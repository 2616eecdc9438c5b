//! An entry that comes back after its webhook was delivered and purged (a reclaim long
//! after the fact, a redrive) is not delivered a second time.

use std::time::Duration;

use deadpool_redis::redis;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use hookrelay_shared::schema::webhooks;
use hookrelay_tests::worker::{
    enqueue, finished_deliveries, insert_subscription, spawn_worker, stream_entries, stream_len,
};
use hookrelay_tests::{Receiver, TestEnv, eventually};

/// A stream entry's fields, in order.
type Fields = Vec<(String, Vec<u8>)>;

#[tokio::test]
async fn a_late_entry_of_a_purged_webhook_is_not_delivered_again() {
    let env = TestEnv::new().await;
    let mut receiver = Receiver::ok().await;
    let sub = insert_subscription(&env, &receiver.url, None, "s").await;
    let _worker = spawn_worker(env.config()).await;
    let mut redis = env.redis().await;

    // Capture the entry as the api queued it, then let it be delivered.
    let id = enqueue(&env, Some(sub.id), None, b"{\"n\": 1}").await;
    let entries: Vec<(String, Fields)> = stream_entries(&env).await;
    let (_, fields) = entries.into_iter().next().expect("the queued entry");
    receiver.next(Duration::from_secs(10)).await;
    finished_deliveries(&env, id, Duration::from_secs(10)).await;

    // The purge removes the finished webhook; then the same entry turns up again.
    let mut conn = env.db.pool().get().await.expect("a connection");
    diesel::delete(webhooks::table.find(id))
        .execute(&mut conn)
        .await
        .expect("purge the webhook");
    let mut xadd = redis::cmd("XADD");
    xadd.arg(env.keys().origin(id).stream()).arg("*");
    for (name, value) in &fields {
        xadd.arg(name).arg(value);
    }
    xadd.query_async::<String>(&mut redis).await.expect("XADD");

    eventually(
        Duration::from_secs(10),
        "the late entry to be processed",
        || async { (stream_len(&env).await == 0).then_some(()) },
    )
    .await;
    receiver
        .assert_quiet_for(
            Duration::from_secs(1),
            "the purged webhook was delivered again",
        )
        .await;
    let stored: i64 = webhooks::table
        .filter(webhooks::id.eq(id))
        .count()
        .get_result(&mut conn)
        .await
        .expect("count");
    assert_eq!(stored, 0, "the purged webhook was stored again");
}
