//! Outages of Postgres and Redis pause delivery without losing anything, and delivery
//! resumes by itself. The worker reaches them through a TCP proxy the test can cut (the
//! connections fail) or freeze (they hang without an error: CONTRACT §14 wants every call
//! to have a deadline, and a hung connection replaced, so delivery resumes within 30 s).

use std::time::Duration;

use hookrelay_tests::proxy::Proxy;
use hookrelay_tests::worker::{enqueue, finished_deliveries, insert_subscription, spawn_worker};
use hookrelay_tests::{Receiver, TestEnv};

/// `host:port` of the test's Postgres.
fn postgres_address(env: &TestEnv) -> String {
    let (_, rest) = env.db.url.rsplit_once('@').expect("a user in the URL");
    rest.split_once('/')
        .expect("a database in the URL")
        .0
        .to_owned()
}

/// `host:port` of the test's Redis.
fn redis_address() -> String {
    let url = hookrelay_tests::redis_url();
    let rest = url.split_once("://").expect("a URL").1;
    rest.split('/').next().expect("an address").to_owned()
}

#[tokio::test]
async fn a_postgres_outage_pauses_delivery_and_it_resumes_by_itself() {
    let mut env = TestEnv::new().await;
    // postgres://user@host:port/name → the same URL through the proxy.
    let proxy = Proxy::start(postgres_address(&env)).await;
    env.set("DATABASE_URL", Some(&proxy.url_for(&env.db.url)));

    let mut receiver = Receiver::ok().await;
    let sub = insert_subscription(&env, &receiver.url, None, "s").await;
    let _worker = spawn_worker(env.config()).await;
    let before = enqueue(&env, Some(sub.id), None, b"{}").await;
    receiver.next(Duration::from_secs(10)).await;
    finished_deliveries(&env, before, Duration::from_secs(10)).await;

    proxy.cut();
    let during: Vec<_> = {
        let mut ids = Vec::new();
        for n in 0..5 {
            ids.push(enqueue(&env, Some(sub.id), None, format!("[{n}]").as_bytes()).await);
        }
        ids
    };
    // Nothing is sent while the webhooks cannot be stored (they are stored before sending).
    receiver
        .assert_quiet_for(Duration::from_secs(2), "delivered without storing")
        .await;

    proxy.restore();
    for id in &during {
        let rows = finished_deliveries(&env, *id, Duration::from_secs(40)).await;
        assert_eq!(rows[0].status, "succeeded", "webhook {id}");
    }
}

/// Webhooks keep arriving while the connections the worker holds hang without an error;
/// every one of them is delivered within 30 s of the freeze.
async fn deliveries_resume_after_connections_freeze(env: &TestEnv, proxy: &Proxy) {
    let mut receiver = Receiver::ok().await;
    let sub = insert_subscription(env, &receiver.url, None, "s").await;
    let _worker = spawn_worker(env.config()).await;
    let warm = enqueue(env, Some(sub.id), None, b"{}").await;
    finished_deliveries(env, warm, Duration::from_secs(10)).await;
    // A burst in flight when the connections freeze, and more after.
    let mut ids = Vec::new();
    for n in 0..200 {
        ids.push(enqueue(env, Some(sub.id), None, format!("[{n}]").as_bytes()).await);
        if n == 100 {
            proxy.freeze();
        }
    }
    for id in &ids {
        let rows = finished_deliveries(env, *id, Duration::from_secs(30)).await;
        assert_eq!(rows[0].status, "succeeded", "webhook {id}");
    }
    drop(receiver.drain());
}

#[tokio::test]
async fn deliveries_resume_when_postgres_connections_hang() {
    let mut env = TestEnv::new().await;
    let proxy = Proxy::start(postgres_address(&env)).await;
    env.set("DATABASE_URL", Some(&proxy.url_for(&env.db.url)));
    deliveries_resume_after_connections_freeze(&env, &proxy).await;
}

#[tokio::test]
async fn deliveries_resume_when_redis_connections_hang() {
    let mut env = TestEnv::new().await;
    let proxy = Proxy::start(redis_address()).await;
    env.set(
        "REDIS_URL",
        Some(&proxy.url_for(&hookrelay_tests::redis_url())),
    );
    deliveries_resume_after_connections_freeze(&env, &proxy).await;
}
