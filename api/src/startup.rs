//! Building and running the api: build the OpenAPI document, connect (waiting up to
//! `STARTUP_TIMEOUT`), migrate, load the caches (subscriptions, tenants, stored keys), bind
//! (port 0 works, for tests), then serve until the shutdown token fires. actix's own
//! signal handling is off: `main` owns signals.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer, web};
use anyhow::Context as _;
use hookrelay_domain::Services;
use hookrelay_domain::subscriptions::SubscriptionCache;
use hookrelay_shared::cache::Cache;
use hookrelay_shared::queue::IngestQueue;
use hookrelay_shared::{Config, db, redis_client};
use tokio_util::sync::CancellationToken;

use crate::auth::credentials::Authenticator;
use crate::inbound::limit::Limiter;
use crate::metrics;
use crate::routes;
use crate::state::{AppState, OpenApiJson};

/// How long a client may take to send a request's head (actix answers 408 past it), and
/// how long an idle keep-alive connection stays open. The body has its own deadline,
/// `body::READ_TIMEOUT`, which actix does not offer.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a connection may take to close once its response is sent (for instance
/// after a 408 for a body that never arrived); then it is dropped.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Connections one server thread holds at once (actix's default is 25,000): beyond this,
/// new connections wait in the listen backlog, so a flood of slow clients cannot take every
/// file descriptor. Each slow client is bounded in time by the two deadlines above.
const MAX_CONNECTIONS_PER_THREAD: usize = 4096;

/// Postgres connections per api process: enough for management traffic, since ingest and
/// status-while-queued never touch Postgres.
const DB_POOL_SIZE: usize = 16;

pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    state: web::Data<AppState>,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        config.validate_for_api()?;
        // Install the Prometheus recorder now: until then every metric records nothing.
        hookrelay_shared::telemetry::metrics_handle();
        register_metrics();
        let openapi = web::Data::new(OpenApiJson::new(crate::openapi::document));
        if config.auth.disabled {
            tracing::warn!(
                "AUTH_DISABLED=true: every route is open to anyone who can reach this port"
            );
        }
        let db =
            db::connect_and_migrate(&config.database.url, DB_POOL_SIZE, config.startup.timeout)
                .await?;
        let redis = redis_client::connect(&config.redis, config.startup.timeout).await?;
        let keys = config.redis.keys();
        // Workers serve every partition any process has queued into (CONTRACT §16).
        hookrelay_shared::queue::record_layout(&mut redis.clone(), &keys)
            .await
            .context("Failed to record the partition layout in Redis")?;
        let subscriptions = SubscriptionCache::load(db.clone(), redis.clone(), &keys)
            .await
            .context("Failed to load subscriptions")?;
        let tenants = Cache::load(db.clone(), redis.clone(), &keys)
            .await
            .context("Failed to load tenants")?;
        let credentials = Cache::load(db.clone(), redis.clone(), &keys)
            .await
            .context("Failed to load API keys")?;
        let sources = Cache::load(db.clone(), redis.clone(), &keys)
            .await
            .context("Failed to load sources")?;
        let state = web::Data::new(AppState {
            auth: Authenticator::new(&config.auth, Arc::clone(&credentials)),
            limiter: Limiter::new(keys.clone()),
            services: Services {
                db,
                redis,
                queue: IngestQueue::new(keys.clone()).waiting_for(Some(config.redis.wait)),
                keys,
                subscriptions,
                tenants,
                sources,
                credentials,
                allow_private_targets: config.delivery.allow_private_targets,
                file_destination_root: config.delivery.file_destination_root.clone(),
                max_payload_bytes: config.server.max_payload_bytes,
            },
            rejections: Arc::default(),
            trusted_proxies: config.auth.trusted_proxies.clone(),
            console_frame_ancestors: config.console.frame_ancestors.clone(),
        });

        let listener = TcpListener::bind((config.server.host.as_str(), config.server.port))
            .with_context(|| {
                format!(
                    "Failed to bind {}:{}",
                    config.server.host, config.server.port
                )
            })?;
        let port = listener.local_addr()?.port();
        let server_state = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(server_state.clone())
                .app_data(openapi.clone())
                .configure(routes::configure)
        })
        .disable_signals()
        .client_request_timeout(HEAD_TIMEOUT)
        .keep_alive(HEAD_TIMEOUT)
        .client_disconnect_timeout(DISCONNECT_TIMEOUT)
        .max_connections(MAX_CONNECTIONS_PER_THREAD)
        .shutdown_timeout(5)
        .listen(listener)?
        .run();
        tracing::info!(port, "hookrelay-api listening");
        Ok(Self {
            port,
            server,
            state,
        })
    }

    /// The bound port (the real one when `PORT=0`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` is cancelled, then stops accepting and lets in-flight
    /// requests finish.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let state = &self.state;
        let background = [
            tokio::spawn(
                Arc::clone(&state.services.subscriptions).run_refresher(shutdown.child_token()),
            ),
            tokio::spawn(Arc::clone(&state.services.tenants).run_refresher(shutdown.child_token())),
            tokio::spawn(
                Arc::clone(&state.services.credentials).run_refresher(shutdown.child_token()),
            ),
            tokio::spawn(
                Arc::clone(&state.auth.usage)
                    .run_flusher(state.services.db.clone(), shutdown.child_token()),
            ),
            tokio::spawn(Arc::clone(&state.services.sources).run_refresher(shutdown.child_token())),
        ];
        // Not aborted with the others: it writes what is left once the token fires.
        let rejections = tokio::spawn({
            let log = Arc::clone(&state.rejections);
            let db = state.services.db.clone();
            let stop = shutdown.child_token();
            async move { log.run_writer(db, stop).await }
        });
        let handle = self.server.handle();
        // The server processes its stop command only while it is being polled, so it runs
        // as its own task while this one waits for the signal.
        let mut server = tokio::spawn(self.server);
        tokio::select! {
            result = &mut server => result.context("HTTP server task failed")?.context("HTTP server failed")?,
            () = shutdown.cancelled() => {
                handle.stop(true).await;
                server.await.context("HTTP server task failed")?.context("HTTP server failed while stopping")?;
            }
        }
        for task in background {
            task.abort();
        }
        if tokio::time::timeout(Duration::from_secs(2), rejections)
            .await
            .is_err()
        {
            tracing::warn!("refused inbound requests still unwritten at shutdown were dropped");
        }
        tracing::info!("hookrelay-api stopped");
        Ok(())
    }
}

/// Describes the api's series and starts its counters at zero, so that rates and alerts
/// work from the first scrape rather than from the first request of each kind. Called
/// once at start-up, after the recorder is installed.
fn register_metrics() {
    hookrelay_shared::telemetry::describe_all(metrics::TABLE);
    for route in ["targeted", "fan_out"] {
        for outcome in ["accepted", "replayed", "rejected", "unavailable"] {
            ::metrics::counter!(metrics::INGEST.name, "route" => route, "outcome" => outcome)
                .increment(0);
        }
    }
    for result in ["hit", "miss"] {
        ::metrics::counter!(hookrelay_shared::cache::LOOKUPS.name, "result" => result).increment(0);
    }
    for reason in crate::auth::FailureReason::ALL {
        ::metrics::counter!(metrics::AUTH_FAILURES.name, "reason" => reason.as_str()).increment(0);
    }
    for outcome in crate::inbound::OUTCOMES {
        ::metrics::counter!(metrics::INBOUND_REQUESTS.name, "outcome" => *outcome).increment(0);
    }
}
