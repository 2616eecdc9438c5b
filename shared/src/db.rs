//! Postgres: the connection pool, creating the database when it is missing, and the
//! embedded migrations, applied under an advisory lock so that any number of api and
//! worker processes can start at once.

use std::time::Duration;

use anyhow::Context as _;
use diesel::connection::SimpleConnection as _;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::startup::retry_until;

pub type DbPool = Pool<AsyncPgConnection>;

/// A connection checked out of a [`DbPool`].
pub type PooledConnection = diesel_async::pooled_connection::deadpool::Object<AsyncPgConnection>;

/// A connection from the pool, or an error saying there is none.
pub async fn checkout(pool: &DbPool) -> anyhow::Result<PooledConnection> {
    pool.get().await.context("no Postgres connection")
}

/// The migrations in `migrations/`, compiled into both binaries.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations");

/// Key of the session advisory lock held while migrating (any constant shared by all
/// hookrelay processes; "hookrel" in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x0068_6f6f_6b72_656c;

/// Server-side limit on one statement: Postgres cancels it (SQLSTATE 57014) a little
/// before the client-side [`STATEMENT_DEADLINE`] would abandon the connection.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(8);

/// The settings of every Postgres connection, on top of `DATABASE_URL`'s own: a connect
/// timeout, the server-side `statement_timeout` and `idle_in_transaction_session_timeout`,
/// TCP keepalives and a TCP user timeout, so that a peer that vanished is noticed by the
/// kernel and the server as well as by the client's deadlines. A connect timeout, TCP user
/// timeout or either server setting that the URL sets itself (`?options=-c …`) wins.
pub fn pg_config(database_url: &str) -> Result<tokio_postgres::Config, tokio_postgres::Error> {
    let mut config: tokio_postgres::Config = database_url.parse()?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(5));
    }
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(Duration::from_secs(20));
    }
    config
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(10))
        .keepalives_interval(Duration::from_secs(5))
        .keepalives_retries(3);
    // The idle-in-transaction limit frees the locks of a session whose client vanished
    // mid-transaction (its socket half-open): the server would otherwise keep them, and
    // every later write to the same rows would wait on them.
    let mut options = config.get_options().unwrap_or_default().to_owned();
    for (name, value) in [
        ("statement_timeout", STATEMENT_TIMEOUT),
        ("idle_in_transaction_session_timeout", STATEMENT_DEADLINE),
    ] {
        if !options.contains(name) {
            options = format!("{options} -c {name}={}", value.as_millis())
                .trim()
                .to_owned();
        }
    }
    config.options(options);
    Ok(config)
}

/// Opens one connection with [`pg_config`]'s settings, driven on its own task.
pub async fn connect_raw(
    database_url: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = pg_config(database_url)?
        .connect(tokio_postgres::NoTls)
        .await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "Postgres connection ended");
        }
    });
    Ok(client)
}

/// One diesel connection with [`pg_config`]'s settings, outside any pool (for a task
/// that holds a session-level lock, say).
pub async fn connect_one(database_url: &str) -> Result<AsyncPgConnection, diesel::ConnectionError> {
    let config = pg_config(database_url)
        .map_err(|e| diesel::ConnectionError::InvalidConnectionUrl(e.to_string()))?;
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
    AsyncPgConnection::try_from_client_and_connection(client, connection).await
}

/// A pool of at most `max_size` connections, each opened with [`pg_config`]'s settings.
/// Waiting for a connection is bounded so that a Postgres outage surfaces as an error
/// rather than a hang, and every connection is verified (`SELECT 1`, within the recycle
/// timeout) before it is handed out, so one a timed-out statement left hanging is dropped.
pub fn pool(database_url: &str, max_size: usize) -> anyhow::Result<DbPool> {
    let mut setup = ManagerConfig::<AsyncPgConnection>::default();
    setup.custom_setup = Box::new(|url| {
        let url = url.to_owned();
        Box::pin(async move { connect_one(&url).await })
    });
    let manager =
        AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(database_url, setup);
    Pool::builder(manager)
        .max_size(max_size)
        .wait_timeout(Some(Duration::from_secs(5)))
        .create_timeout(Some(Duration::from_secs(5)))
        // A verified connection answers SELECT 1 in well under a millisecond; one that
        // does not within this is hung, dropped, and the next is tried.
        .recycle_timeout(Some(Duration::from_secs(2)))
        .runtime(deadpool_redis::Runtime::Tokio1)
        .build()
        .context("Failed to build the Postgres pool")
}

/// Creates the database, migrates it and returns a pool, waiting up to `startup_timeout`
/// for Postgres to accept connections.
pub async fn connect_and_migrate(
    database_url: &str,
    max_size: usize,
    startup_timeout: Duration,
) -> anyhow::Result<DbPool> {
    retry_until("Postgres", startup_timeout, || {
        create_database_if_missing(database_url)
    })
    .await?;
    let url = database_url.to_owned();
    tokio::task::spawn_blocking(move || run_migrations(&url))
        .await
        .context("migration task panicked")??;
    pool(database_url, max_size)
}

/// Creates the database named in the URL when it does not exist (and the role may).
pub async fn create_database_if_missing(database_url: &str) -> anyhow::Result<()> {
    if AsyncPgConnection::establish(database_url).await.is_ok() {
        return Ok(());
    }
    let mut url = url::Url::parse(database_url).context("DATABASE_URL is not a URL")?;
    let name = url.path().trim_start_matches('/').to_owned();
    anyhow::ensure!(!name.is_empty(), "DATABASE_URL names no database");
    url.set_path("/postgres");
    let mut admin = AsyncPgConnection::establish(url.as_str())
        .await
        .context("Failed to connect to Postgres")?;
    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
    match diesel::sql_query(format!("CREATE DATABASE {quoted}"))
        .execute(&mut admin)
        .await
    {
        Ok(_) => {
            tracing::info!(database = %name, "created database");
            Ok(())
        }
        // Another process created it first: success, and nothing to warn about.
        Err(e) if created_by_another(&e) => {
            tracing::debug!(database = %name, "database created by another process meanwhile");
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("Failed to create database {name}")),
    }
}

/// Whether a failed `CREATE DATABASE` lost a race with another process: "already exists"
/// (42P04) when the other one had committed, or a unique violation on
/// `pg_database_datname_index` (23505) when both ran at the same moment.
fn created_by_another(error: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match error {
        Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => true,
        Error::DatabaseError(_, info) => info.message().contains("already exists"),
        _ => false,
    }
}

/// Applies pending migrations while holding the migration advisory lock. Blocking: call
/// from `spawn_blocking` or a plain thread.
pub fn run_migrations(database_url: &str) -> anyhow::Result<()> {
    let mut conn =
        <AsyncConnectionWrapper<AsyncPgConnection> as diesel::Connection>::establish(database_url)
            .context("Failed to connect to Postgres for migrations")?;
    conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
        .context("Failed to take the migration lock")?;
    let result = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|applied| applied.len())
        .map_err(|e| anyhow::anyhow!("Failed to apply migrations: {e}"));
    // Closing the connection releases the lock too; unlocking first lets waiters go now.
    let _ = conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"));
    let applied = result?;
    if applied > 0 {
        tracing::info!(applied, "applied database migrations");
    }
    Ok(())
}

/// `SELECT 1` through the pool: what `/readyz` asks.
pub async fn ping(pool: &DbPool) -> anyhow::Result<()> {
    let mut conn = pool.get().await.context("no Postgres connection")?;
    bounded(
        "Postgres did not answer",
        diesel::sql_query("SELECT 1").execute(&mut conn),
    )
    .await?;
    Ok(())
}

/// How long any one Postgres statement (or batch) may take, client side, before it is
/// abandoned: a connection that hangs without an error (a frozen host, a half-open socket)
/// must not block its caller forever. The connection is not reused blindly after that:
/// the pool verifies every connection it hands out again (a `SELECT 1`, itself bounded by
/// the pool's recycle timeout) and drops one that does not answer.
pub const STATEMENT_DEADLINE: Duration = Duration::from_secs(10);

/// A statement that did not finish within [`STATEMENT_DEADLINE`].
#[derive(Debug, thiserror::Error)]
#[error("Postgres did not answer within {:?}", STATEMENT_DEADLINE)]
pub struct TimedOut;

/// Runs `statement` within [`STATEMENT_DEADLINE`]; its error, or the deadline passing,
/// becomes an error that says `what` failed.
pub async fn bounded<T>(
    what: impl std::fmt::Display + Send + Sync + 'static,
    statement: impl std::future::Future<Output = diesel::QueryResult<T>>,
) -> anyhow::Result<T> {
    match tokio::time::timeout(STATEMENT_DEADLINE, statement).await {
        Ok(result) => result.context(what),
        Err(_) => Err(anyhow::Error::new(TimedOut).context(what)),
    }
}
