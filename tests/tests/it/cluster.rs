//! The service on a Redis Cluster of three masters and three replicas (CONTRACT §16): the
//! core flows, an even load over every master, a master killed mid-load with its replica
//! promoted losing nothing that got a 202 (`REDIS_WAIT_REPLICAS=1`), and a change of
//! `QUEUE_PARTITIONS` between restarts.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use deadpool_redis::redis;
use hookrelay_shared::keys::Partition;
use hookrelay_tests::cluster::RedisCluster;
use hookrelay_tests::receiver::fail_first_attempts;
use hookrelay_tests::worker::{finished_deliveries, spawn_worker};
use hookrelay_tests::{Receiver, TestEnv, api, eventually};
use serde_json::json;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(30);

/// A test environment whose api and workers speak to `cluster`.
async fn on(cluster: &RedisCluster) -> TestEnv {
    let mut env = TestEnv::new().await;
    env.set("REDIS_URL", Some(&cluster.url()))
        .set("REDIS_CLUSTER", Some("true"));
    env
}

#[tokio::test]
async fn the_core_flows_run_on_a_three_master_cluster_and_spread_over_every_master() {
    let cluster = RedisCluster::start(3).await;
    let env = on(&cluster).await;
    let api = env.spawn_api().await;
    let _worker = spawn_worker(env.config()).await;
    let mut ok = Receiver::ok().await;
    let mut flaky = Receiver::start(fail_first_attempts()).await;

    // Read your writes: a subscription created through the api is used at once.
    let sub: Uuid = api
        .create_subscription_id(&json!({"target_url": ok.url, "events": ["order.*"]}))
        .await
        .parse()
        .expect("an id");
    let retried: Uuid = api
        .create_subscription_id(&json!({"target_url": flaky.url, "events": ["retry.me"]}))
        .await
        .parse()
        .expect("an id");

    // Targeted, fan-out, idempotent and delayed ingest.
    let targeted = api
        .ingest_accepted(&format!("/ingest/{sub}"), &[], "{\"n\": 1}")
        .await;
    let fanned = api
        .ingest_accepted("/ingest", &[("x-event-type", "order.paid")], "{\"n\": 2}")
        .await;
    let keyed = api
        .ingest_accepted(
            "/ingest",
            &[("idempotency-key", "k-1"), ("x-event-type", "order.a")],
            "{}",
        )
        .await;
    let again = api
        .ingest_accepted(
            "/ingest",
            &[("idempotency-key", "k-1"), ("x-event-type", "order.a")],
            "{}",
        )
        .await;
    assert_eq!(keyed, again, "the idempotency key holds on a cluster");
    let soon = hookrelay_shared::time::format(
        &(hookrelay_shared::time::now() + chrono::Duration::seconds(1)),
    );
    let delayed = api
        .ingest_accepted(
            "/ingest",
            &[("x-event-type", "order.later"), ("x-deliver-at", &soon)],
            "{}",
        )
        .await;
    assert_eq!(api.webhook_status(delayed).await["status"], "scheduled");
    let mut got = HashSet::new();
    while got.len() < 4 {
        got.insert(ok.next(WAIT).await.header("webhook-id").map(str::to_owned));
    }
    for id in [targeted, fanned, keyed, delayed] {
        assert!(
            got.contains(&Some(id.to_string())),
            "{id} was not delivered"
        );
        assert_eq!(
            finished_deliveries(&env, id, WAIT).await[0].status,
            "succeeded"
        );
    }

    // A retry, through a partition's retry set and the mover.
    let retry = api
        .ingest_accepted("/ingest", &[("x-event-type", "retry.me")], "{}")
        .await;
    for _ in 0..2 {
        let attempt = flaky.next(WAIT).await;
        assert_eq!(
            attempt.header("webhook-id"),
            Some(retry.to_string().as_str())
        );
    }
    let rows = finished_deliveries(&env, retry, WAIT).await;
    assert_eq!(
        (rows.len(), rows[0].status.as_str(), rows[0].attempts),
        (1, "succeeded", 2),
        "{rows:?}"
    );
    assert_eq!(rows[0].subscription_id, retried);

    // A replay, into the webhook's home partition.
    let (status, body) = api::json(
        api.post_json(
            &format!("/webhooks/{targeted}/replay"),
            &json!({"include_succeeded": true}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        ok.next(WAIT).await.header("webhook-id"),
        Some(targeted.to_string().as_str())
    );

    // A dead letter in partition 5, listed, and deleted.
    let mut redis = env.queue_redis().await;
    redis::cmd("XADD")
        .arg(env.keys().partition(Partition::Numbered(5)).stream())
        .arg("*")
        .arg("kind")
        .arg("bogus")
        .query_async::<String>(&mut redis)
        .await
        .expect("XADD");
    let dead = eventually(WAIT, "the dead letter", || async {
        let (_, body) = api::json(api.get("/dead-letters").await).await;
        body.as_array().filter(|list| !list.is_empty()).cloned()
    })
    .await;
    let id = dead[0]["id"].as_str().expect("an id");
    assert!(id.starts_with("5-"), "{id}");
    assert_eq!(
        api.delete(&format!("/dead-letters/{id}")).await.status(),
        204
    );

    // An even load: each master serves at least a fifth of the queue's commands.
    let masters = cluster.masters().await;
    assert_eq!(masters.len(), 3, "{masters:?}");
    let mut before = Vec::new();
    for port in &masters {
        before.push(RedisCluster::queue_commands(*port).await);
    }
    let sent: Vec<Uuid> = futures::future::join_all((0..300).map(|n| {
        let api = &api;
        async move {
            api.ingest_accepted(&format!("/ingest/{sub}"), &[], format!("[{n}]"))
                .await
        }
    }))
    .await;
    for id in &sent {
        finished_deliveries(&env, *id, WAIT).await;
    }
    let mut served = Vec::new();
    for (port, before) in masters.iter().zip(before) {
        served.push(RedisCluster::queue_commands(*port).await - before);
    }
    let total: u64 = served.iter().sum();
    eprintln!("queue commands per master during the load: {served:?}");
    for share in &served {
        assert!(
            *share * 5 >= total,
            "a master served {share} of {total} queue commands: {served:?}"
        );
    }
    let page = api.metrics_page().await;
    assert!(page.contains("partition=\"15\""), "{page}");
}

#[tokio::test]
async fn a_killed_master_s_replica_takes_over_and_no_acknowledged_webhook_is_lost() {
    let mut cluster = RedisCluster::start(3).await;
    let mut env = on(&cluster).await;
    env.set("REDIS_WAIT_REPLICAS", Some("1"))
        .set("REDIS_WAIT_TIMEOUT", Some("1s"));
    let api = env.spawn_api().await;
    let _worker = spawn_worker(env.config()).await;
    let mut receiver = Receiver::ok().await;
    let sub: Uuid = api
        .create_subscription_id(&json!({"target_url": receiver.url}))
        .await
        .parse()
        .expect("an id");

    // Four clients ingest as fast as they can while a master is killed.
    let stop = Arc::new(AtomicBool::new(false));
    let load = futures::future::join_all((0..4).map(|client| {
        let (api, stop) = (&api, Arc::clone(&stop));
        async move {
            let (mut accepted, mut refused) = (Vec::new(), 0);
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let (status, body) = api
                    .ingest_at(&format!("/ingest/{sub}"), &[], format!("[{client}, {n}]"))
                    .await;
                match status {
                    202 => accepted.push((api::webhook_id(&body), Instant::now())),
                    503 => refused += 1,
                    other => panic!("ingest answered {other}: {body}"),
                }
            }
            (accepted, refused)
        }
    }));
    let chaos = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let victim = cluster.masters().await[0];
        cluster.kill(victim).await;
        let killed_at = Instant::now();
        tokio::time::sleep(Duration::from_secs(8)).await;
        stop.store(true, Ordering::SeqCst);
        killed_at
    };
    let (results, killed_at) = tokio::join!(load, chaos);
    let after_kill = results
        .iter()
        .flat_map(|(ids, _)| ids)
        .filter(|(_, at)| *at > killed_at)
        .count();
    let accepted: HashSet<Uuid> = results
        .iter()
        .flat_map(|(ids, _)| ids.iter().map(|(id, _)| *id))
        .collect();
    let refused: usize = results.iter().map(|(_, n)| n).sum();
    eprintln!(
        "{} accepted ({after_kill} after the kill), {refused} refused around the failover",
        accepted.len()
    );
    assert!(
        after_kill > 0,
        "the other masters' partitions took no webhook after the kill"
    );

    // Every webhook that got a 202 is delivered.
    let mut delivered = HashSet::new();
    eventually(
        Duration::from_secs(60),
        "every accepted webhook delivered",
        || {
            for got in receiver.drain() {
                if let Some(id) = got
                    .header("webhook-id")
                    .and_then(|id| id.parse::<Uuid>().ok())
                {
                    delivered.insert(id);
                }
            }
            let missing = accepted.difference(&delivered).count();
            async move { (missing == 0).then_some(()) }
        },
    )
    .await;
}

#[tokio::test]
async fn a_change_of_queue_partitions_on_a_cluster_loses_nothing() {
    let cluster = RedisCluster::start(3).await;
    let env = on(&cluster).await;
    super::partitions::fewer_partitions_lose_nothing(env).await;
}
