//! Waiting for dependencies at start-up: retry until `STARTUP_TIMEOUT`, then give up with
//! one line that says what could not be reached and why.

use std::future::Future;
use std::time::Duration;

use tokio::time::{Instant, sleep};

/// Runs `attempt` until it succeeds or `timeout` has passed, logging each failure once.
pub async fn retry_until<T, E, F, Fut>(
    what: &str,
    timeout: Duration,
    mut attempt: F,
) -> anyhow::Result<T>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_millis(100);
    loop {
        match tokio::time::timeout_at(deadline, attempt()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) if Instant::now() + delay < deadline => {
                tracing::warn!(dependency = what, error = %e, "dependency not ready yet, retrying");
                sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Ok(Err(e)) => {
                anyhow::bail!(
                    "{what} unreachable for {}s (STARTUP_TIMEOUT): {e}",
                    timeout.as_secs()
                )
            }
            Err(_) => anyhow::bail!(
                "{what} unreachable for {}s (STARTUP_TIMEOUT): timed out",
                timeout.as_secs()
            ),
        }
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C): how both binaries learn to shut down.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
                    _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received, shutting down"),
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C will stop this process");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
