//! `hookrelay-worker`: configuration, logging, then the worker until SIGTERM or SIGINT.
//! A signal during start-up exits 0 (the handlers are installed first, by `run_main`),
//! and exit never waits on a DNS lookup still stuck in the system resolver.

use std::process::ExitCode;

use hookrelay_shared::{Config, startup, telemetry};
use hookrelay_worker::Worker;

/// mimalloc instead of glibc's malloc: every delivery allocates and frees buffers across
/// threads, where glibc spent a quarter of the worker's CPU (`_int_malloc`, `_int_free`,
/// `malloc_consolidate` in a profile of the delivery benchmark).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    startup::run_main("hookrelay-worker", |shutdown| async move {
        let config = match Config::from_env() {
            Ok(config) => config,
            Err(e) => {
                eprintln!("hookrelay-worker: {e}");
                return ExitCode::FAILURE;
            }
        };
        telemetry::init_logging(config.telemetry.log_format);
        let _ = rustls::crypto::ring::default_provider().install_default();
        let worker = match shutdown.run_until_cancelled(Worker::build(config)).await {
            None => return startup::stopped_during_start_up(),
            Some(Ok(worker)) => worker,
            Some(Err(e)) => {
                eprintln!("hookrelay-worker: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        match worker.run_until_stopped(shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("hookrelay-worker: {e:#}");
                ExitCode::FAILURE
            }
        }
    })
}
