//! Ingest while Redis is away (CONTRACT §4: 503, never a 202 for a webhook that may be
//! lost): a private `redis-server` child is killed under a running api, which must answer
//! 503 promptly, then restarted on the same port, which the api must pick up by itself.

use std::net::TcpListener;
use std::process::Stdio;
use std::time::{Duration, Instant};

use hookrelay_tests::api::{TestApi, json};
use hookrelay_tests::{TestEnv, eventually};
use reqwest::Method;
use serde_json::json;
use tokio::process::{Child, Command};

/// A `redis-server` without persistence on a fixed port, killed on drop.
struct ThrowawayRedis {
    port: u16,
    child: Child,
}

impl ThrowawayRedis {
    async fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("this test starts its own redis-server, which must be on PATH (apt-get install redis-server): {e}")
            });
        let url = format!("redis://127.0.0.1:{port}");
        eventually(
            Duration::from_secs(10),
            "the throwaway redis-server to answer",
            || {
                let url = url.clone();
                async move {
                    let client = deadpool_redis::redis::Client::open(url).ok()?;
                    let mut conn = client.get_multiplexed_async_connection().await.ok()?;
                    deadpool_redis::redis::cmd("PING")
                        .query_async::<String>(&mut conn)
                        .await
                        .ok()
                }
            },
        )
        .await;
        Self { port, child }
    }

    async fn kill(&mut self) {
        self.child.kill().await.expect("kill redis-server");
    }
}

async fn ingest(api: &TestApi) -> (u16, serde_json::Value, Duration) {
    let started = Instant::now();
    let response = api
        .request(Method::POST, "/ingest")
        .body("{\"during\": \"outage\"}")
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("the api answers");
    let (status, body) = json(response).await;
    (status, body, started.elapsed())
}

#[tokio::test]
async fn ingest_answers_503_while_redis_is_down_and_recovers_by_itself() {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("addr")
        .port();
    let mut redis = ThrowawayRedis::start(port).await;
    let mut env = TestEnv::new().await;
    env.set(
        "REDIS_URL",
        Some(&format!("redis://127.0.0.1:{}", redis.port)),
    );
    let api = env.spawn_api().await;
    assert_eq!(ingest(&api).await.0, 202);

    redis.kill().await;
    // Every request during the outage is a prompt 503 with a detail, never a 202 or 500.
    for _ in 0..3 {
        let (status, body, took) = ingest(&api).await;
        assert_eq!(status, 503, "{body}");
        assert!(body["detail"].is_string(), "{body}");
        assert!(took < Duration::from_secs(5), "a 503 took {took:?}");
    }
    // Status of a webhook cannot be answered either, and says so.
    let unknown = uuid::Uuid::new_v4();
    assert_eq!(api.get(&format!("/status/{unknown}")).await.status(), 503);

    let _redis = ThrowawayRedis::start(port).await;
    let accepted = eventually(
        Duration::from_secs(15),
        "ingest to accept again after Redis returned",
        || async {
            let (status, body, _) = ingest(&api).await;
            (status == 202).then_some(body)
        },
    )
    .await;
    assert!(accepted["webhook_id"].is_string(), "{accepted}");
    assert_eq!(
        json(
            api.get(&format!(
                "/status/{}",
                accepted["webhook_id"].as_str().unwrap_or_default()
            ))
            .await
        )
        .await
        .1["status"],
        json!("queued")
    );
}
