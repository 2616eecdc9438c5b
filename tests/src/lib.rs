//! The end-to-end test harness: real api and worker processes (or in-process instances)
//! against real Postgres, Redis and HTTP receivers.
//!
//! - [`TestEnv`]: a fresh database (cloned from a template migrated once per migration
//!   set) and a unique `REDIS_KEY_PREFIX`, so tests run in parallel and repeatedly; both
//!   are removed on drop.
//! - [`api::TestApi`]: the api in-process on port 0, with authenticated request helpers
//!   (ingest, subscriptions, tenants and their keys, status, `/metrics`), and the readers
//!   of its answers ([`api::json`], [`api::text`], [`api::webhook_id`],
//!   [`api::assert_timestamp`]).
//! - [`receiver::Receiver`]: an HTTP server on port 0 that hands every request over a
//!   channel and answers as the test programs it.
//! - [`proxy::Proxy`]: a TCP proxy to Postgres, Redis or the api that can cut or freeze
//!   connections, and counts what its target sent back.
//! - [`wait::eventually`]: polling with a deadline (never a bare sleep); and for checks that
//!   something does *not* happen, [`wait::assert_holds_for`] and
//!   [`Receiver::assert_quiet_for`].
//! - [`db::TestDb`]: the test's database, with [`db::TestDb::execute_sql`] and
//!   [`db::TestDb::count`] for seeding and counting rows in SQL.
//! - [`metrics::sample`]: one sample of a Prometheus page.
//! - [`browser::Browser`]: headless Chromium for the console's tests, over the DevTools
//!   protocol.
//! - [`binary`]: the path of a built binary, for tests that need real processes.
//! - [`cluster::RedisCluster`]: a Redis Cluster of the test's own (three masters, three
//!   replicas) on loopback, for the scale-out tests.

pub mod api;
pub mod brokers;
pub mod browser;
pub mod cluster;
pub mod db;
pub mod metrics;
pub mod proxy;
pub mod receiver;
pub mod wait;
pub mod worker;

use std::collections::BTreeMap;
use std::path::PathBuf;

use hookrelay_shared::Config;

pub use api::TestApi;
pub use receiver::{RawReply, Receiver, Reply};
pub use wait::{assert_holds_for, eventually};

/// The bearer key every test api accepts.
pub const API_KEY: &str = "test-key";

/// Postgres server the tests use (`TEST_DATABASE_URL`, without a database name).
pub fn postgres_server() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// Redis server the tests use (`TEST_REDIS_URL`).
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// One test's world: its own database, its own Redis prefix, and the environment
/// variables a hookrelay process would get.
pub struct TestEnv {
    pub db: db::TestDb,
    pub prefix: String,
    vars: BTreeMap<String, String>,
}

impl TestEnv {
    pub async fn new() -> Self {
        ensure_crypto_provider();
        let db = db::TestDb::create().await;
        let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
        let vars = [
            ("DATABASE_URL", db.url.as_str()),
            ("REDIS_URL", &redis_url()),
            ("REDIS_KEY_PREFIX", &prefix),
            ("HOST", "127.0.0.1"),
            ("PORT", "0"),
            ("API_KEYS", API_KEY),
            ("ALLOW_PRIVATE_TARGETS", "true"),
            ("RETRY_SCHEDULE", "200ms,400ms"),
            ("DELIVERY_TIMEOUT", "2s"),
            ("RECLAIM_IDLE", "3s"),
            ("STARTUP_TIMEOUT", "5s"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        Self { db, prefix, vars }
    }

    /// Sets (or, with `None`, removes) a variable for the processes built from here on.
    pub fn set(&mut self, name: &str, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.vars.insert(name.to_owned(), v.to_owned()),
            None => self.vars.remove(name),
        };
        self
    }

    /// The variables as a hookrelay process would see them.
    pub fn vars(&self) -> &BTreeMap<String, String> {
        &self.vars
    }

    pub fn config(&self) -> Config {
        Config::from_lookup(|name| self.vars.get(name).cloned())
            .unwrap_or_else(|e| panic!("test configuration is invalid: {e}"))
    }

    /// The key names of this test's deployment, with its `QUEUE_PARTITIONS`.
    pub fn keys(&self) -> hookrelay_shared::keys::Keys {
        self.config().redis.keys()
    }

    /// A Redis connection for inspecting what the service wrote.
    pub async fn redis(&self) -> deadpool_redis::redis::aio::MultiplexedConnection {
        deadpool_redis::redis::Client::open(redis_url())
            .expect("a valid Redis URL")
            .get_multiplexed_async_connection()
            .await
            .expect("Redis is reachable (is redis-server running?)")
    }

    /// A connection to the test's queue as the processes make it: to one Redis, or to
    /// a Redis Cluster (`REDIS_CLUSTER`), routing each command to its key's master.
    pub async fn queue_redis(&self) -> hookrelay_shared::redis_client::Redis {
        hookrelay_shared::redis_client::connect(
            &self.config().redis,
            std::time::Duration::from_secs(5),
        )
        .await
        .expect("Redis is reachable")
    }

    /// A subscription cache of this test's database and prefix, as a worker holds one.
    pub async fn subscription_cache(
        &self,
    ) -> std::sync::Arc<hookrelay_domain::subscriptions::SubscriptionCache> {
        let redis = hookrelay_shared::redis_client::connect_url(
            &redis_url(),
            std::time::Duration::from_secs(5),
        )
        .await
        .expect("Redis is reachable");
        hookrelay_domain::subscriptions::SubscriptionCache::load(
            self.db.pool().clone(),
            redis,
            &self.keys(),
        )
        .await
        .expect("the subscription cache loads")
    }

    /// The domain's services over this test's database and prefix, as an api builds them
    /// (caches loaded, private targets allowed): for tests of the domain's use cases that
    /// need no HTTP.
    pub async fn services(&self) -> hookrelay_domain::Services {
        let redis = hookrelay_shared::redis_client::connect_url(
            &redis_url(),
            std::time::Duration::from_secs(5),
        )
        .await
        .expect("Redis is reachable");
        let db = self.db.pool().clone();
        let keys = self.keys();
        use hookrelay_shared::cache::Cache;
        hookrelay_domain::Services {
            subscriptions: self.subscription_cache().await,
            tenants: Cache::load(db.clone(), redis.clone(), &keys)
                .await
                .expect("the tenant cache loads"),
            sources: Cache::load(db.clone(), redis.clone(), &keys)
                .await
                .expect("the source cache loads"),
            credentials: Cache::load(db.clone(), redis.clone(), &keys)
                .await
                .expect("the key cache loads"),
            queue: hookrelay_shared::queue::IngestQueue::new(keys.clone()),
            db,
            redis,
            keys,
            allow_private_targets: true,
            file_destination_root: self.config().delivery.file_destination_root,
            max_payload_bytes: 1 << 20,
        }
    }

    pub async fn spawn_api(&self) -> TestApi {
        TestApi::spawn(self.config()).await
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        // Best effort: the prefix is unique, so leftovers never disturb another test.
        let pattern = hookrelay_shared::keys::Keys::new(&self.prefix).pattern();
        let _ = std::thread::spawn(move || -> deadpool_redis::redis::RedisResult<()> {
            let client = deadpool_redis::redis::Client::open(redis_url())?;
            let mut conn = client.get_connection()?;
            let keys: Vec<String> = deadpool_redis::redis::cmd("KEYS")
                .arg(&pattern)
                .query(&mut conn)?;
            if !keys.is_empty() {
                deadpool_redis::redis::cmd("DEL")
                    .arg(keys)
                    .query::<()>(&mut conn)?;
            }
            Ok(())
        })
        .join();
    }
}

/// reqwest (rustls without a bundled provider) needs one installed per process.
pub fn ensure_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The path of a workspace binary built by `cargo build --workspace --bins`.
pub fn binary(name: &str) -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target.join("debug").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first (scripts/test.sh does)",
        path.display()
    );
    path
}
