//! A worker holds at most 2 × `WORKER_CONCURRENCY` stream entries however long the
//! backlog, so workers started later take a share of it (CONTRACT §14).

use std::time::Duration;

use hookrelay_tests::worker::{
    enqueue_many, insert_subscription, pending_by_consumer, spawn_worker,
};
use hookrelay_tests::{Receiver, Reply, TestEnv, assert_holds_for, eventually};

#[tokio::test]
async fn a_worker_never_holds_more_than_its_entry_slots_and_a_later_worker_takes_a_share() {
    let mut env = TestEnv::new().await;
    env.set("WORKER_CONCURRENCY", Some("2"))
        .set("DELIVERY_TIMEOUT", Some("5s"))
        .set("RECLAIM_IDLE", Some("12s"));
    let cap = 2 * 2;
    let receiver = Receiver::start(|_, _| Reply::status(204).delayed(Duration::from_secs(2))).await;
    let sub = insert_subscription(&env, &receiver.url, None, "s").await;
    enqueue_many(&env, sub.id, 2_000).await;

    let _first = spawn_worker(env.config()).await;
    let most = |pending: &std::collections::BTreeMap<String, u64>| {
        pending.values().copied().max().unwrap_or(0)
    };
    // The first worker fills its slots and then takes nothing more, through several
    // rounds of attempts finishing (each takes 2 s) and slots coming free.
    eventually(
        Duration::from_secs(10),
        "the first worker to hold entries",
        || async { (most(&pending_by_consumer(&env).await) > 0).then_some(()) },
    )
    .await;
    // The claim is about a stretch of time (slots come free and fill again every 2 s), so
    // the watch runs its whole window.
    let watch = |seconds: u64| {
        let env = &env;
        assert_holds_for(
            Duration::from_secs(seconds),
            "the entry cap",
            move || async move {
                let pending = pending_by_consumer(env).await;
                assert!(
                    most(&pending) <= cap,
                    "a worker holds more than {cap} entries: {pending:?}"
                );
                true
            },
        )
    };
    watch(5).await;

    let _second = spawn_worker(env.config()).await;
    eventually(
        Duration::from_secs(10),
        "a second worker to take entries",
        || async {
            let pending = pending_by_consumer(&env).await;
            assert!(
                most(&pending) <= cap,
                "a worker holds more than {cap} entries: {pending:?}"
            );
            (pending.values().filter(|n| **n > 0).count() >= 2).then_some(())
        },
    )
    .await;
    watch(3).await;
}
