//! Start-up of both binaries: signals handled from the first moment, waiting for
//! dependencies until `STARTUP_TIMEOUT` (then giving up with one line that says what could
//! not be reached and why), and a runtime whose exit is never held by blocking work.
//!
//! Order matters: [`run_main`] installs the SIGTERM and SIGINT handlers before anything
//! else, so a signal during start-up (while Postgres or Redis is still awaited) is a
//! prompt, clean exit with status 0 instead of the default action that kills the process
//! with status 143.

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::sync::CancellationToken;

/// The least time one attempt gets, the one made at the deadline included: enough to
/// connect to a dependency that has only just come up (CONTRACT §14: a dependency that
/// comes up just before `STARTUP_TIMEOUT` runs out is used).
const MIN_ATTEMPT_TIME: Duration = Duration::from_millis(500);

/// The longest pause between two attempts.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(2);

/// How long a binary waits at exit for blocking work still running on the runtime's
/// blocking threads (a DNS lookup inside `getaddrinfo`, a migration): such work cannot be
/// cancelled, so it is abandoned after this rather than holding the exit.
pub const EXIT_GRACE: Duration = Duration::from_secs(1);

/// Runs `attempt` until it succeeds or `timeout` has passed, logging each failure once.
///
/// Back-off doubles from 100 ms up to [`MAX_RETRY_DELAY`], but never sleeps past the
/// deadline: the last pause ends at the deadline and one more attempt is made there, so
/// the whole of `STARTUP_TIMEOUT` is used.
pub async fn retry_until<T, E, F, Fut>(
    what: &str,
    startup_timeout: Duration,
    mut attempt: F,
) -> anyhow::Result<T>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + startup_timeout;
    let mut delay = Duration::from_millis(100);
    loop {
        let bound = deadline
            .saturating_duration_since(Instant::now())
            .max(MIN_ATTEMPT_TIME);
        let error = match timeout(bound, attempt()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) => format!("{e:#}"),
            Err(_) => "timed out".to_owned(),
        };
        let now = Instant::now();
        if now >= deadline {
            anyhow::bail!(
                "{what} unreachable for {} (STARTUP_TIMEOUT): {error}",
                humantime::format_duration(startup_timeout)
            );
        }
        tracing::warn!(
            dependency = what,
            error,
            "dependency not ready yet, retrying"
        );
        sleep_until((now + delay).min(deadline)).await;
        delay = (delay * 2).min(MAX_RETRY_DELAY);
    }
}

/// Runs a binary: builds a multi-threaded runtime, installs the signal handlers before
/// anything else, runs `body` with the shutdown token they cancel, and then shuts the
/// runtime down without waiting more than [`EXIT_GRACE`] for blocking work.
pub fn run_main<F, Fut>(name: &str, body: F) -> ExitCode
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: Future<Output = ExitCode>,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{name}: Failed to start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async {
        let shutdown = CancellationToken::new();
        cancel_on_signal(shutdown.clone());
        body(shutdown).await
    });
    runtime.shutdown_timeout(EXIT_GRACE);
    code
}

/// What a binary does when a signal arrives before start-up finished: nothing was
/// serving yet, so stopping is clean and the exit status is 0.
pub fn stopped_during_start_up() -> ExitCode {
    tracing::info!("stopped during start-up: a shutdown signal arrived before it finished");
    ExitCode::SUCCESS
}

/// Installs the SIGTERM and SIGINT handlers now (from here on neither signal kills the
/// process) and cancels `shutdown` on the first of them. Call inside a runtime.
pub fn cancel_on_signal(shutdown: CancellationToken) {
    let signals = signals::Signals::install();
    tokio::spawn(async move {
        signals.recv().await;
        shutdown.cancel();
    });
}

#[cfg(unix)]
mod signals {
    use tokio::signal::unix::{Signal, SignalKind, signal};

    /// The two signals that stop a hookrelay process.
    pub struct Signals {
        term: Option<Signal>,
        interrupt: Option<Signal>,
    }

    impl Signals {
        pub fn install() -> Self {
            let listen = |kind: SignalKind, name: &str| {
                signal(kind)
                    .inspect_err(|e| {
                        tracing::warn!(error = %e, "cannot listen for {name}; it will not stop this process cleanly");
                    })
                    .ok()
            };
            Self {
                term: listen(SignalKind::terminate(), "SIGTERM"),
                interrupt: listen(SignalKind::interrupt(), "SIGINT"),
            }
        }

        /// Resolves on the first SIGTERM or SIGINT (never, if neither could be installed).
        pub async fn recv(mut self) {
            let term = async {
                match self.term.as_mut() {
                    Some(term) => term.recv().await,
                    None => std::future::pending().await,
                }
            };
            let interrupt = async {
                match self.interrupt.as_mut() {
                    Some(interrupt) => interrupt.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = term => tracing::info!("SIGTERM received, shutting down"),
                _ = interrupt => tracing::info!("SIGINT received, shutting down"),
            }
        }
    }
}

#[cfg(not(unix))]
mod signals {
    /// Ctrl-C, the one stop signal outside Unix.
    pub struct Signals;

    impl Signals {
        pub fn install() -> Self {
            Self
        }

        pub async fn recv(self) {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("Ctrl-C received, shutting down");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// When a fake dependency was asked, from the start of the test.
    type Asked = Arc<Mutex<Vec<Duration>>>;

    /// A dependency that comes up at `up_after` from the start; records when it was asked.
    fn dependency(
        up_after: Duration,
    ) -> (
        Asked,
        impl FnMut() -> std::future::Ready<Result<(), &'static str>>,
    ) {
        let started = Instant::now();
        let asked = Asked::default();
        let log = Arc::clone(&asked);
        let attempt = move || {
            let at = started.elapsed();
            log.lock().expect("not poisoned").push(at);
            std::future::ready(if at >= up_after {
                Ok(())
            } else {
                Err("connection refused")
            })
        };
        (asked, attempt)
    }

    #[tokio::test]
    async fn a_dependency_that_comes_up_just_before_the_deadline_is_used() {
        let timeout = Duration::from_secs(2);
        let (asked, attempt) = dependency(timeout - Duration::from_millis(50));
        retry_until("Fake", timeout, attempt)
            .await
            .expect("up before STARTUP_TIMEOUT ran out");
        let last = *asked.lock().expect("not poisoned").last().expect("asked");
        assert!(
            last >= timeout - Duration::from_millis(50) && last < timeout + MIN_ATTEMPT_TIME,
            "the last attempt was at {last:?}"
        );
    }

    #[tokio::test]
    async fn giving_up_waits_the_whole_timeout_and_says_why() {
        let timeout = Duration::from_millis(700);
        let (asked, attempt) = dependency(Duration::MAX);
        let started = Instant::now();
        let error = retry_until("Fake", timeout, attempt)
            .await
            .expect_err("never up");
        assert!(started.elapsed() >= timeout, "{:?}", started.elapsed());
        assert_eq!(
            error.to_string(),
            "Fake unreachable for 700ms (STARTUP_TIMEOUT): connection refused"
        );
        let last = *asked.lock().expect("not poisoned").last().expect("asked");
        assert!(
            last >= timeout,
            "one attempt at the deadline, last at {last:?}"
        );
    }

    #[test]
    fn exit_never_waits_for_blocking_work_still_running() {
        let started = std::time::Instant::now();
        let code = run_main("test", |_| async {
            // A getaddrinfo call that hangs, for instance.
            drop(tokio::task::spawn_blocking(|| {
                std::thread::sleep(Duration::from_secs(30))
            }));
            ExitCode::SUCCESS
        });
        assert_eq!(code, ExitCode::SUCCESS);
        assert!(
            started.elapsed() < EXIT_GRACE + Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
}
