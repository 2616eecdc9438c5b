//! `hookrelay-api`: reads the configuration, builds the application and serves it until
//! SIGTERM or SIGINT. Any start-up failure prints one line and exits non-zero; a signal
//! during start-up exits 0 (the handlers are installed first, by `run_main`).

use std::process::ExitCode;

use hookrelay_api::startup::Application;
use hookrelay_shared::{Config, startup, telemetry};

fn main() -> ExitCode {
    startup::run_main("hookrelay-api", |shutdown| async move {
        let config = match Config::from_env().and_then(|c| c.validate_for_api().map(|()| c)) {
            Ok(config) => config,
            Err(e) => {
                eprintln!("hookrelay-api: {e}");
                return ExitCode::from(2);
            }
        };
        telemetry::init_logging(config.telemetry.log_format);
        let result = match shutdown
            .run_until_cancelled(Application::build(config))
            .await
        {
            None => return startup::stopped_during_start_up(),
            Some(Ok(app)) => app.run_until_stopped(shutdown).await,
            Some(Err(e)) => Err(e),
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("hookrelay-api: {e:#}");
                ExitCode::FAILURE
            }
        }
    })
}
