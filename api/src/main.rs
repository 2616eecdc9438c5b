//! `hookrelay-api`: reads the configuration, builds the application and serves it until
//! SIGTERM or SIGINT. Any start-up failure prints one line and exits non-zero.

use std::process::ExitCode;

use hookrelay_api::startup::Application;
use hookrelay_shared::{Config, startup::shutdown_signal, telemetry};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::from_env().and_then(|c| c.validate_for_api().map(|()| c)) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("hookrelay-api: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init_logging(config.log_format);
    let shutdown = CancellationToken::new();
    let result = match Application::build(config).await {
        Ok(app) => {
            tokio::spawn({
                let shutdown = shutdown.clone();
                async move {
                    shutdown_signal().await;
                    shutdown.cancel()
                }
            });
            app.run_until_stopped(shutdown).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hookrelay-api: {e:#}");
            ExitCode::FAILURE
        }
    }
}
