//! Building the worker (connections, migrations, cache, metrics listener) and running it
//! until a shutdown token fires, then draining in order.
//!
//! `build` does everything that can fail at start-up, so `main` can exit non-zero with one
//! line; it also binds `METRICS_ADDR` first, so a test can pass port 0 and read the port.
//! `run_until_stopped` takes the shutdown token as an argument: `main` cancels it on
//! SIGTERM, tests whenever they like.
//!
//! Shutdown order: stop reading and reclaiming → let in-flight entries finish (attempts
//! are bounded by `DELIVERY_TIMEOUT`; entries waiting for a permit hand themselves back)
//! while the heartbeat keeps them ours → flush the log writer → stop the rest. Entries
//! not finished stay pending in the group; another worker reclaims them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use hookrelay_domain::subscriptions::SubscriptionCache;
use hookrelay_shared::db::{self, DbPool};
use hookrelay_shared::queue::IngestQueue;
use hookrelay_shared::redis_client::Redis;
use hookrelay_shared::{Config, redis_client};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::consumer::Consumer;
use crate::destinations::Registry;
use crate::dispatch::Dispatcher;
use crate::partitions::Partitions;
use crate::pipeline::Context;
use crate::recorder::Recorder;
use crate::retry::RetrySchedule;
use crate::throttle::Throttle;
use crate::{delayed, http_client, metrics, mover, retry};

/// Time allowed after the in-flight attempts for committing their logs at shutdown.
const FLUSH_GRACE: Duration = Duration::from_secs(2);

pub struct Worker {
    config: Config,
    db: DbPool,
    redis: Redis,
    cache: Arc<SubscriptionCache>,
    client: reqwest::Client,
    metrics_server: Option<(actix_web::dev::Server, SocketAddr)>,
}

impl Worker {
    /// Connects to Postgres (creating and migrating the database) and Redis, loads the
    /// subscription cache and binds the metrics listener.
    pub async fn build(config: Config) -> anyhow::Result<Worker> {
        if config.delivery.reclaim_idle < config.delivery.timeout * 2 {
            tracing::warn!(
                reclaim_idle_ms = config.delivery.reclaim_idle.as_millis() as u64,
                delivery_timeout_ms = config.delivery.timeout.as_millis() as u64,
                "RECLAIM_IDLE is less than twice DELIVERY_TIMEOUT; a slow Redis heartbeat could let another worker take over entries still being delivered"
            );
        }
        let pool_size = (config.delivery.worker_concurrency / 8).clamp(4, 16);
        let db = db::connect_and_migrate(&config.database.url, pool_size, config.startup.timeout)
            .await?;
        let redis = redis_client::connect(&config.redis, config.startup.timeout).await?;
        let keys = config.redis.keys();
        let cache = SubscriptionCache::load(db.clone(), redis.clone(), &keys)
            .await
            .context("Failed to load subscriptions")?;
        let client = http_client::build(
            config.delivery.timeout,
            config.delivery.allow_private_targets,
            config.delivery.worker_concurrency,
        )?;
        let metrics_server = match config.telemetry.metrics_addr {
            Some(addr) => {
                metrics::register();
                Some(metrics::serve(addr)?)
            }
            None => None,
        };
        Ok(Worker {
            config,
            db,
            redis,
            cache,
            client,
            metrics_server,
        })
    }

    /// Where `/metrics` and `/healthz` are served, when `METRICS_ADDR` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_server.as_ref().map(|(_, addr)| *addr)
    }

    /// Delivers until `shutdown` fires, then drains (see the module docs).
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let config = self.config;
        let keys = config.redis.keys();
        let partitions = Partitions::start(keys.clone(), self.redis.clone())
            .await
            .context("Failed to record the partition layout in Redis")?;
        // Background loops that run until the very end.
        let background = CancellationToken::new();
        let metrics_handle = self.metrics_server.map(|(server, addr)| {
            tracing::info!(%addr, "serving /metrics and /healthz");
            let handle = server.handle();
            tokio::spawn(server);
            handle
        });
        tokio::spawn(Arc::clone(&self.cache).run_refresher(background.child_token()));
        tokio::spawn(Arc::clone(&partitions).run_refresher(background.child_token()));
        tokio::spawn(metrics::run_depth_gauges(
            self.redis.clone(),
            keys.clone(),
            background.child_token(),
        ));

        let abandon_logs = CancellationToken::new();
        let (logs, log_task) = Recorder::spawn(
            config.database.url.clone(),
            config.delivery.auto_disable_after,
            Arc::clone(&self.cache),
            abandon_logs.clone(),
        );
        let retries = RetrySchedule::new(keys.clone());
        tokio::spawn(mover::run(
            vec![retry::due_set, delayed::due_set],
            keys.clone(),
            Arc::clone(&partitions),
            self.redis.clone(),
            shutdown.child_token(),
        ));

        let destinations = Arc::new(Registry::new(
            self.client,
            config.delivery.allow_private_targets,
            config.delivery.file_destination_root.clone(),
        ));
        let ctx = Arc::new(Context {
            config: config.clone(),
            keys: keys.clone(),
            db: self.db,
            redis: self.redis.clone(),
            cache: self.cache,
            destinations: Arc::clone(&destinations),
            logs,
            retries,
            throttle: Throttle::new(keys.clone()),
            permits: Arc::new(Semaphore::new(config.delivery.worker_concurrency)),
            shutdown: shutdown.clone(),
        });
        tokio::spawn(Arc::clone(&destinations).sweep_idle(background.child_token()));
        let consumer = Consumer::new(keys.clone(), self.redis);
        for partition in partitions.served().iter() {
            consumer
                .ensure_group(*partition)
                .await
                .context("Failed to create the consumer groups in Redis")?;
        }
        tracing::info!(
            consumer = consumer.name(),
            concurrency = config.delivery.worker_concurrency,
            partitions = keys.partitions(),
            "worker started"
        );

        let tracker = TaskTracker::new();
        let dispatcher = Arc::new(Dispatcher {
            ctx: Arc::clone(&ctx),
            consumer,
            partitions,
            tracker: tracker.clone(),
            // Entries spend part of their life waiting for Postgres commits, when they
            // hold no attempt permit; twice as many entries as permits keeps the permits
            // busy. Attempts in flight stay capped by the permits alone.
            slots: Arc::new(Semaphore::new(
                config.delivery.worker_concurrency.saturating_mul(2),
            )),
        });
        let beat = (config.delivery.reclaim_idle / 4).max(Duration::from_millis(100));
        let reclaim_every = (config.delivery.reclaim_idle / 4)
            .clamp(Duration::from_millis(250), Duration::from_secs(5));
        let stop_heartbeat = CancellationToken::new();
        let heartbeat =
            tokio::spawn(Arc::clone(&dispatcher).run_heartbeat(beat, stop_heartbeat.clone()));
        let reclaimer = tokio::spawn(
            Arc::clone(&dispatcher).run_reclaimer(reclaim_every, shutdown.child_token()),
        );
        // The scheduled jobs (the purge, CONTRACT §7).
        crate::scheduler::spawn(
            &config,
            ctx.db.clone(),
            ctx.redis.clone(),
            shutdown.child_token(),
        );
        // Operational events, from the outbox into the work stream.
        // Both queue as the api does, with its replica acknowledgement (CONTRACT §16).
        let queue = IngestQueue::new(ctx.keys.clone()).waiting_for(Some(config.redis.wait));
        crate::outbox::spawn(
            ctx.db.clone(),
            ctx.redis.clone(),
            queue.clone(),
            shutdown.child_token(),
        );
        // User schedules' runs, as webhooks through the outbox.
        crate::schedules::spawn(
            ctx.db.clone(),
            ctx.redis.clone(),
            queue,
            shutdown.child_token(),
        );
        // Deliveries Postgres has unfinished that Redis lost (CONTRACT §14).
        crate::reconcile::spawn(
            &config,
            ctx.db.clone(),
            ctx.redis.clone(),
            shutdown.child_token(),
        );

        // Bulk replays, with a capped share of the attempts (`replays`).
        let replays = crate::replays::spawn(Arc::clone(&ctx), tracker.clone(), shutdown.clone());

        Arc::clone(&dispatcher).run_reader(shutdown.clone()).await;
        // It stops starting attempts and hands the rest over; the drain waits for those
        // it started.
        let _ = replays.await;

        tracing::info!("shutting down: no new work taken; waiting for attempts in flight");
        tracker.close();
        let drain = config.delivery.timeout + Duration::from_secs(1);
        if tokio::time::timeout(drain, tracker.wait()).await.is_err() {
            tracing::warn!(
                "attempts still in flight at the drain deadline; their entries will be redelivered"
            );
        }
        // Dropping every sender lets the writer commit what it has and end; the loops
        // hold senders too (through the context), so they end first.
        stop_heartbeat.cancel();
        let _ = tokio::join!(heartbeat, reclaimer);
        drop(dispatcher);
        drop(ctx);
        tokio::select! {
            _ = log_task => {}
            () = tokio::time::sleep(FLUSH_GRACE) => {
                abandon_logs.cancel();
                tracing::warn!("attempt logs not flushed in time; their entries will be redelivered");
            }
        }
        background.cancel();
        if let Some(handle) = metrics_handle {
            handle.stop(false).await;
        }
        tracing::info!("worker stopped");
        Ok(())
    }
}
