//! `hookrelay-worker`: configuration, logging, then the worker until SIGTERM or SIGINT.

use std::process::ExitCode;

use hookrelay_shared::{Config, telemetry};
use hookrelay_worker::Worker;
use tokio_util::sync::CancellationToken;

/// mimalloc instead of glibc's malloc: every delivery allocates and frees buffers across
/// threads, where glibc spent a quarter of the worker's CPU (`_int_malloc`, `_int_free`,
/// `malloc_consolidate` in a profile of the delivery benchmark).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("hookrelay-worker: {e}");
            return ExitCode::FAILURE;
        }
    };
    telemetry::init_logging(config.log_format);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let worker = match Worker::build(config).await {
        Ok(worker) => worker,
        Err(e) => {
            eprintln!("hookrelay-worker: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let shutdown = CancellationToken::new();
    tokio::spawn(wait_for_signal(shutdown.clone()));
    match worker.run_until_stopped(shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hookrelay-worker: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Cancels `shutdown` on the first SIGTERM or SIGINT.
async fn wait_for_signal(shutdown: CancellationToken) {
    hookrelay_shared::startup::shutdown_signal().await;
    shutdown.cancel();
}
