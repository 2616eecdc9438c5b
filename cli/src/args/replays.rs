//! `hookrelay replays …`: bulk replays by filter.

use clap::Subcommand;

use super::Paging;

#[derive(Subcommand)]
pub enum Replays {
    /// Replay what a filter matches (`--dry-run`: only count it).
    Create {
        #[arg(long)]
        subscription: Option<String>,
        /// Exact types or `prefix.*`; repeat.
        #[arg(long = "event-type")]
        event_types: Vec<String>,
        /// Received at or after (RFC 3339).
        #[arg(long)]
        since: String,
        #[arg(long)]
        until: Option<String>,
        /// Delivery statuses to replay (default: failed); repeat.
        #[arg(long = "status")]
        statuses: Vec<String>,
        /// Also webhooks the subscription never got (needs --subscription).
        #[arg(long)]
        include_missing: bool,
        #[arg(long)]
        dry_run: bool,
        /// Show progress and return when the replay is over.
        #[arg(long)]
        wait: bool,
    },
    /// List them.
    List {
        #[command(flatten)]
        paging: Paging,
    },
    Get {
        id: String,
        /// Show progress until it is over.
        #[arg(long)]
        wait: bool,
    },
    /// Stop a running replay (what is queued is still delivered).
    Cancel { id: String },
}
