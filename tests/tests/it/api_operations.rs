//! Authentication, probes, unknown routes and start-up refusal (CONTRACT §1, §2, §8).

use std::process::Stdio;

use hookrelay_tests::api::{TestApi, json};
use hookrelay_tests::{TestEnv, binary};
use serde_json::json;

#[tokio::test]
async fn every_route_but_the_open_ones_needs_a_valid_key() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let id = uuid::Uuid::new_v4();
    let protected = [
        (reqwest::Method::GET, "/subscriptions".to_owned()),
        (reqwest::Method::POST, "/subscriptions".to_owned()),
        (reqwest::Method::GET, format!("/subscriptions/{id}")),
        (reqwest::Method::PATCH, format!("/subscriptions/{id}")),
        (reqwest::Method::DELETE, format!("/subscriptions/{id}")),
        (
            reqwest::Method::GET,
            format!("/subscriptions/{id}/attempts"),
        ),
        (reqwest::Method::POST, "/ingest".to_owned()),
        (reqwest::Method::POST, format!("/ingest/{id}")),
        (reqwest::Method::GET, format!("/status/{id}")),
    ];
    for (method, path) in &protected {
        let bare = api
            .client
            .request(method.clone(), api.url(path))
            .send()
            .await
            .expect("sent");
        assert_eq!(bare.status(), 401, "{method} {path} without a key");
        assert_eq!(
            bare.headers().get("www-authenticate").map(|v| v.as_bytes()),
            Some(&b"Bearer"[..])
        );
        let (_, body) = json(bare).await;
        assert!(body["detail"].is_string(), "{body}");
        let wrong = api
            .client
            .request(method.clone(), api.url(path))
            .bearer_auth("wrong-key")
            .send()
            .await
            .expect("sent");
        assert_eq!(wrong.status(), 401, "{method} {path} with a wrong key");
    }
    for path in ["/healthz", "/readyz", "/metrics"] {
        let response = api.client.get(api.url(path)).send().await.expect("sent");
        assert_eq!(response.status(), 200, "{path} is open");
    }
    let (status, body) = json(
        api.client
            .get(api.url("/healthz"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    let (status, body) = json(
        api.client
            .get(api.url("/readyz"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({"status": "ready", "postgres": "ok", "redis": "ok"})
        )
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_json() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    let (status, body) = json(api.get("/nowhere").await).await;
    assert_eq!((status, body), (404, json!({"detail": "Not Found"})));
    let (status, body) = json(
        api.request(reqwest::Method::PUT, "/subscriptions")
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(
        (status, body),
        (405, json!({"detail": "Method Not Allowed"}))
    );
    let (status, body) = json(
        api.request(reqwest::Method::POST, "/healthz")
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(
        (status, body),
        (405, json!({"detail": "Method Not Allowed"}))
    );
}

#[tokio::test]
async fn auth_disabled_opens_every_route() {
    let mut env = TestEnv::new().await;
    env.set("API_KEYS", None).set("AUTH_DISABLED", Some("true"));
    let api = env.spawn_api().await;
    let response = api
        .client
        .get(api.url("/subscriptions"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn readyz_names_the_dependency_that_is_down() {
    let env = TestEnv::new().await;
    let api = env.spawn_api().await;
    // Point a second api at the same database but stop its Postgres pool from reaching
    // anything: a fresh api whose DATABASE_URL later goes away is hard to arrange, so
    // drop this test's database out from under it instead.
    let mut db_conn = diesel_async::AsyncPgConnection::establish(&format!(
        "{}/postgres",
        hookrelay_tests::postgres_server()
    ))
    .await
    .expect("admin connection");
    use diesel_async::{AsyncConnection as _, SimpleAsyncConnection as _};
    db_conn
        .batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", env.db.name))
        .await
        .expect("drop the database");
    let (status, body) = json(
        api.client
            .get(api.url("/readyz"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["postgres"], "unavailable");
    assert_eq!(body["redis"], "ok");
}

#[tokio::test]
async fn readyz_reports_redis_down() {
    // Start the api against a real Redis, then point it at a port where nothing listens by
    // building it with a Redis URL that goes away: a throwaway redis-server.
    let port = free_port();
    let mut redis = std::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server is installed");
    let mut env = TestEnv::new().await;
    env.set("REDIS_URL", Some(&format!("redis://127.0.0.1:{port}")));
    let api = TestApi::spawn(env.config()).await;
    let _ = redis.kill();
    let _ = redis.wait();
    let (status, body) = json(
        api.client
            .get(api.url("/readyz"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        (body["postgres"].as_str(), body["redis"].as_str()),
        (Some("ok"), Some("unavailable"))
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

#[tokio::test]
async fn the_api_refuses_to_start_without_keys() {
    let env = TestEnv::new().await;
    let output = tokio::process::Command::new(binary("hookrelay-api"))
        .env_clear()
        .envs(env.vars().iter().filter(|(k, _)| k.as_str() != "API_KEYS"))
        .output()
        .await
        .expect("run hookrelay-api");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("API_KEYS") && stderr.contains("AUTH_DISABLED=true"),
        "{stderr}"
    );
}

#[tokio::test]
async fn invalid_configuration_is_one_line_naming_the_variable() {
    let env = TestEnv::new().await;
    for program in ["hookrelay-api", "hookrelay-worker"] {
        for (name, value) in [
            ("RETRY_SCHEDULE", "10s,soon"),
            ("PORT", "eighty"),
            ("PURGE_SCHEDULE", "hourly"),
            // Malformed, not unreachable: refused at once, not waited out for
            // STARTUP_TIMEOUT.
            ("DATABASE_URL", "notaurl"),
        ] {
            let run = tokio::process::Command::new(binary(program))
                .env_clear()
                .envs(env.vars())
                .env(name, value)
                .kill_on_drop(true)
                .output();
            let output = tokio::time::timeout(std::time::Duration::from_secs(10), run)
                .await
                .unwrap_or_else(|_| panic!("{program} with {name}={value} did not exit at once"))
                .expect("run the binary");
            assert!(!output.status.success(), "{program} {name}");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(stderr.trim().lines().count(), 1, "{program}: {stderr}");
            assert!(stderr.contains(name) && stderr.contains(value), "{stderr}");
        }
    }
}

#[tokio::test]
async fn an_unreachable_dependency_fails_start_up_after_the_timeout() {
    let mut env = TestEnv::new().await;
    env.set(
        "REDIS_URL",
        Some(&format!("redis://127.0.0.1:{}", free_port())),
    )
    .set("STARTUP_TIMEOUT", Some("1s"));
    let started = std::time::Instant::now();
    let output = tokio::process::Command::new(binary("hookrelay-api"))
        .env_clear()
        .envs(env.vars())
        .output()
        .await
        .expect("run hookrelay-api");
    assert!(!output.status.success());
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Redis unreachable"), "{stderr}");
}

#[tokio::test]
async fn the_api_creates_its_database_and_exits_zero_on_sigterm() {
    let mut env = TestEnv::new().await;
    let fresh = format!("hookrelay_fresh_{}", uuid::Uuid::new_v4().simple());
    let url = format!("{}/{fresh}", hookrelay_tests::postgres_server());
    let port = free_port();
    env.set("DATABASE_URL", Some(&url))
        .set("PORT", Some(&port.to_string()));
    let mut child = tokio::process::Command::new(binary("hookrelay-api"))
        .env_clear()
        .envs(env.vars())
        .stdout(Stdio::null())
        .spawn()
        .expect("start hookrelay-api");
    let client = reqwest::Client::new();
    hookrelay_tests::eventually(
        std::time::Duration::from_secs(20),
        "the api to be ready",
        || async {
            let response = client
                .get(format!("http://127.0.0.1:{port}/readyz"))
                .send()
                .await
                .ok()?;
            (response.status() == 200).then_some(())
        },
    )
    .await;
    let pid = child.id().expect("running");
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    let status = tokio::time::timeout(std::time::Duration::from_secs(10), child.wait())
        .await
        .expect("exits promptly")
        .expect("exit status");
    assert!(status.success(), "{status:?}");
    use diesel_async::{AsyncConnection as _, SimpleAsyncConnection as _};
    let mut admin = diesel_async::AsyncPgConnection::establish(&format!(
        "{}/postgres",
        hookrelay_tests::postgres_server()
    ))
    .await
    .expect("admin connection");
    admin
        .batch_execute(&format!("DROP DATABASE {fresh} WITH (FORCE)"))
        .await
        .expect("the database had been created");
}
