//! Logs and metrics set-up, shared by both binaries.
//!
//! Logs go to stdout as text or, with `LOG_FORMAT=json`, one JSON object per line;
//! `RUST_LOG` filters them (default `info`, with the cron library at `warn`). Metrics use the `metrics` facade with a
//! Prometheus recorder; each binary renders it at its `/metrics`.
//!
//! Every series is a [`Metric`], declared once as a constant: its name, kind and help.
//! Each process lists the ones it serves in a table (`hookrelay_api::metrics::TABLE`,
//! `hookrelay_worker::metrics::TABLE`) and describes them all at start-up with
//! [`describe_all`]; the call sites that record a series use the constant's `name`. The
//! tables are what `docs/operations.md` is checked against.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global log subscriber. Safe to call more than once (tests start several
/// services in one process); later calls do nothing.
pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tokio_cron_scheduler=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Latency buckets (seconds) for delivery attempts and ingest: 1 ms to 30 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How often recorded histogram samples are folded into their buckets.
const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Folds histogram samples into buckets every `UPKEEP_INTERVAL`. `build_recorder` (unlike
/// the exporter's own `install`) runs no upkeep task: without one, every sample stays in
/// memory until the next scrape, so a process nobody scrapes grows by each request it
/// serves (~20 bytes per ingest, measured). A plain thread, so it needs no runtime.
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                handle.run_upkeep();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start the metrics upkeep thread; histograms drain only when scraped");
    }
}

/// Installs the process-wide Prometheus recorder once and returns its handle; later calls
/// return the same handle, so in-process tests can start several services.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(LATENCY_BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new())
                .build_recorder();
            let handle = recorder.handle();
            spawn_upkeep(handle.clone());
            // Fails only if another recorder was installed first; then ours just records
            // nothing and the handle renders an empty page, which tests would notice.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// What a series is to Prometheus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    /// A histogram of seconds: every histogram we keep is a latency.
    Histogram,
}

/// One Prometheus series as a process declares it: `name` is what `/metrics` shows and
/// what the `metrics::counter!`, `gauge!` and `histogram!` calls record under.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    /// The `# HELP` line.
    pub help: &'static str,
}

impl Metric {
    pub const fn counter(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            kind: Kind::Counter,
            help,
        }
    }

    pub const fn gauge(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            kind: Kind::Gauge,
            help,
        }
    }

    /// A histogram of seconds (described with `metrics::Unit::Seconds`).
    pub const fn seconds(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            kind: Kind::Histogram,
            help,
        }
    }

    /// The same series with another help text, for a process that says more about it.
    pub const fn with_help(self, help: &'static str) -> Self {
        Self { help, ..self }
    }

    /// Gives the recorder this series' kind, unit and help. It shows on `/metrics` once
    /// the series has a value (or a zero `increment(0)` gave it one).
    pub fn describe(&self) {
        match self.kind {
            Kind::Counter => metrics::describe_counter!(self.name, self.help),
            Kind::Gauge => metrics::describe_gauge!(self.name, self.help),
            Kind::Histogram => {
                metrics::describe_histogram!(self.name, metrics::Unit::Seconds, self.help)
            }
        }
    }
}

/// Describes every series of a process's table.
pub fn describe_all(table: &[Metric]) {
    for metric in table {
        metric.describe();
    }
}
