//! The retention purge (CONTRACT §7) with a one-hour retention and a purge every second:
//! old attempts, old finished webhooks (in several batches) and old rejections of sources
//! go, recent rows and old webhooks with unfinished deliveries stay, and with two workers each tick is purged by
//! exactly one of them.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hookrelay_tests::worker::spawn_worker;
use hookrelay_tests::{TestEnv, eventually};
use hookrelay_worker::purge::{BATCH_SIZE, Purge};
use hookrelay_worker::scheduler::{PurgeJob, TickOutcome, TickReport};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const EVERY_SECOND: &str = "*/1 * * * * *";

async fn webhook_exists(env: &TestEnv, id: Uuid) -> bool {
    env.db
        .count(&format!(
            "SELECT count(*) AS n FROM webhooks WHERE id = '{id}'"
        ))
        .await
        == 1
}

/// `n` attempts at `age` ago (spread over a minute), of webhook `webhook`.
fn attempts_sql(n: i64, age: &str, webhook: Uuid) -> String {
    format!(
        "INSERT INTO attempts SELECT gen_random_uuid(), '{webhook}', gen_random_uuid(), 'http://r.test/', \
         now() - interval '{age}' - (g % 60) * interval '1 second', 1, 'Success', 200, NULL, 5, NULL, NULL \
         FROM generate_series(1, {n}) g;"
    )
}

/// A webhook received `age` ago with one delivery per status given.
fn webhook_sql(id: Uuid, age: &str, statuses: &[&str]) -> String {
    let mut sql = format!(
        "INSERT INTO webhooks VALUES ('{id}', 'order.created', NULL, '\\x7b7d', now() - interval '{age}');"
    );
    for status in statuses {
        sql += &format!(
            "INSERT INTO deliveries (webhook_id, subscription_id, target_url, status, attempts, updated_at, received_at) \
             SELECT id, gen_random_uuid(), 'http://r.test/', '{status}', 1, now(), received_at FROM webhooks WHERE id = '{id}';"
        );
    }
    sql
}

#[tokio::test]
async fn purge_deletes_old_rows_and_keeps_recent_or_unfinished_ones() {
    let mut env = TestEnv::new().await;
    env.set("LOG_RETENTION", Some("1h"))
        .set("PURGE_SCHEDULE", Some(EVERY_SECOND));
    let (old, recent) = (Uuid::new_v4(), Uuid::new_v4());
    let old_attempts = 2 * BATCH_SIZE + 500;
    let old_finished = BATCH_SIZE + 200;
    let [done, failed, silent, pending, retrying, fresh] = [(); 6].map(|()| Uuid::new_v4());
    let mut seed =
        attempts_sql(old_attempts, "2 hours", old) + &attempts_sql(10, "10 minutes", recent);
    // Many old finished webhooks, so the webhook purge takes more than one batch too.
    seed += &format!(
        "INSERT INTO webhooks SELECT gen_random_uuid(), NULL, NULL, '\\x7b7d', now() - interval '3 hours' \
         FROM generate_series(1, {old_finished});
         INSERT INTO deliveries (webhook_id, subscription_id, target_url, status, attempts, last_status_code, updated_at, received_at) \
         SELECT id, gen_random_uuid(), 'http://r.test/', 'succeeded', 1, 200, now(), received_at \
         FROM webhooks;"
    );
    seed += &webhook_sql(done, "2 hours", &["succeeded", "succeeded"]);
    seed += &webhook_sql(failed, "2 hours", &["succeeded", "failed"]);
    seed += &webhook_sql(silent, "2 hours", &[]); // no subscribers
    seed += &webhook_sql(pending, "2 hours", &["pending"]);
    seed += &webhook_sql(retrying, "2 hours", &["succeeded", "retrying"]);
    seed += &webhook_sql(fresh, "10 minutes", &["succeeded"]);
    // A source's rejections: 3 old ones go, 2 recent ones stay.
    seed += "INSERT INTO sources (id, name, token, verification, created_at, updated_at) \
             VALUES ('00000000-0000-0000-0000-0000000000a1', 's', 't', '{\"type\": \"none\"}', now(), now());
             INSERT INTO source_rejections SELECT gen_random_uuid(), '00000000-0000-0000-0000-0000000000a1', \
             now() - CASE WHEN g <= 3 THEN interval '2 hours' ELSE interval '10 minutes' END, 401, 'bad', '127.0.0.1' \
             FROM generate_series(1, 5) g;";
    env.db.execute_sql(&seed).await;
    assert_eq!(
        env.db.count("SELECT count(*) AS n FROM webhooks").await,
        old_finished + 6
    );

    let worker = spawn_worker(env.config()).await;
    eventually(
        Duration::from_secs(20),
        "the old rows to be purged",
        || async {
            let attempts = env.db.count("SELECT count(*) AS n FROM attempts").await;
            let webhooks = env.db.count("SELECT count(*) AS n FROM webhooks").await;
            let rejections = env
                .db
                .count("SELECT count(*) AS n FROM source_rejections")
                .await;
            (attempts == 10 && webhooks == 3 && rejections == 2).then_some(())
        },
    )
    .await;

    assert_eq!(
        env.db
            .count(&format!(
                "SELECT count(*) AS n FROM attempts WHERE webhook_id = '{recent}'"
            ))
            .await,
        10,
        "recent attempts stay"
    );
    for (id, stays) in [
        (done, false),
        (failed, false),
        (silent, false),
        (pending, true),
        (retrying, true),
        (fresh, true),
    ] {
        assert_eq!(webhook_exists(&env, id).await, stays, "webhook {id}");
    }
    // Deliveries went with their webhooks; the unfinished ones are all still there.
    assert_eq!(
        env.db.count("SELECT count(*) AS n FROM deliveries").await,
        1 + 2 + 1
    );
    worker.stop().await;
}

/// A purge schedule run like a worker runs it, reporting each tick's outcome.
async fn start_purger(
    env: &TestEnv,
    stop: &CancellationToken,
) -> mpsc::UnboundedReceiver<TickReport> {
    let config = env.config();
    let redis = hookrelay_shared::redis_client::connect(&config.redis, Duration::from_secs(5))
        .await
        .expect("Redis");
    let (reports, rx) = mpsc::unbounded_channel();
    let job = PurgeJob {
        reports: Some(reports),
        ..PurgeJob::from_config(&config, env.db.pool().clone(), redis)
    };
    let stop = stop.clone();
    tokio::spawn(async move {
        hookrelay_worker::scheduler::run(job, stop)
            .await
            .expect("the scheduler runs")
    });
    rx
}

#[tokio::test]
async fn two_workers_purge_each_tick_once() {
    let mut env = TestEnv::new().await;
    env.set("LOG_RETENTION", Some("1h"))
        .set("PURGE_SCHEDULE", Some(EVERY_SECOND));
    let seeded = 1500;
    env.db
        .execute_sql(&attempts_sql(seeded, "2 hours", Uuid::new_v4()))
        .await;

    let stop = CancellationToken::new();
    let mut a = start_purger(&env, &stop).await;
    let mut b = start_purger(&env, &stop).await;
    // tick → what each worker did at it
    let mut ticks: BTreeMap<DateTime<Utc>, [Option<TickOutcome>; 2]> = BTreeMap::new();
    let both = |ticks: &BTreeMap<_, [Option<TickOutcome>; 2]>| {
        ticks
            .values()
            .filter(|t| t.iter().all(Option::is_some))
            .count()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while both(&ticks) < 5 {
        let report = tokio::time::timeout_at(deadline, async {
            tokio::select! {
                Some(r) = a.recv() => (0, r),
                Some(r) = b.recv() => (1, r),
            }
        })
        .await
        .unwrap_or_else(|_| panic!("fewer than 5 ticks seen by both workers in 30 s: {ticks:?}"));
        let (worker, TickReport { tick, outcome }) = report;
        let slot = &mut ticks.entry(tick).or_default()[worker];
        assert!(slot.is_none(), "worker {worker} fired twice for {tick}");
        *slot = Some(outcome);
    }
    stop.cancel();

    let mut purged_rows = 0;
    let mut purged_once = 0;
    for (tick, outcomes) in &ticks {
        let purges: Vec<_> = outcomes
            .iter()
            .flatten()
            .filter_map(|o| match o {
                TickOutcome::Purged(report) => Some(report),
                TickOutcome::Skipped => None,
                TickOutcome::Failed(e) => panic!("the purge at {tick} failed: {e}"),
            })
            .collect();
        assert!(purges.len() <= 1, "{tick} was purged twice: {outcomes:?}");
        purged_once += usize::from(purges.len() == 1 && outcomes.iter().all(Option::is_some));
        purged_rows += purges.iter().map(|r| r.attempts).sum::<u64>();
    }
    assert!(
        purged_once >= 3,
        "ticks purged by exactly one of two workers: {ticks:?}"
    );
    assert_eq!(purged_rows, seeded as u64, "every old row deleted once");
    assert_eq!(env.db.count("SELECT count(*) AS n FROM attempts").await, 0);
}

#[tokio::test]
async fn a_purge_stops_between_batches_at_its_budget() {
    let env = TestEnv::new().await;
    env.db
        .execute_sql(&attempts_sql(3 * BATCH_SIZE, "2 hours", Uuid::new_v4()))
        .await;
    let purge = Purge {
        db: env.db.pool().clone(),
        retention: Duration::from_secs(3600),
        budget: Duration::ZERO,
    };
    let report = purge
        .run(Utc::now(), &CancellationToken::new())
        .await
        .expect("a purge");
    assert!(!report.complete, "{report:?}");
    let purge = Purge {
        budget: Duration::from_secs(60),
        ..purge
    };
    let report = purge
        .run(Utc::now(), &CancellationToken::new())
        .await
        .expect("a purge");
    assert!(report.complete, "{report:?}");
    assert_eq!(report.attempts, 3 * BATCH_SIZE as u64);
}
