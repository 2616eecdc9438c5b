//! `hookrelay subscriptions …`: the flags of each subscription command.

use clap::Subcommand;

use super::{Data, Paging};

#[derive(Subcommand)]
pub enum Subscriptions {
    /// Create a subscription (prints it, with its secret).
    Create {
        /// Where deliveries go (HTTP).
        #[arg(long)]
        target_url: Option<String>,
        /// A destination other than HTTP, as JSON:
        /// `{"type": "nats", "url": "nats://nats:4222", "subject": "orders"}`.
        #[arg(long)]
        destination: Option<String>,
        /// An event type it wants (`order.*` matches a prefix); repeat; none: every type.
        #[arg(long = "event")]
        events: Vec<String>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// The signing secret (default: a new `whsec_…`).
        #[arg(long)]
        secret: Option<String>,
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        data: Data,
    },
    /// List subscriptions, oldest first.
    List {
        #[command(flatten)]
        paging: Paging,
    },
    /// One subscription.
    Get { id: String },
    /// Change the fields given.
    Update {
        id: String,
        #[arg(long)]
        target_url: Option<String>,
        /// The destination as JSON, replacing the current one (`***` keeps a stored
        /// secret; `{"type": "http"}` with `--target-url` switches back to HTTP).
        #[arg(long)]
        destination: Option<String>,
        #[arg(long = "event")]
        events: Vec<String>,
        #[arg(long)]
        name: Option<String>,
        /// `true` or `false`.
        #[arg(long)]
        active: Option<bool>,
        #[command(flatten)]
        data: Data,
    },
    /// Delete it.
    Delete { id: String },
    /// A new signing secret; the old one keeps signing next to it for the grace period.
    RotateSecret {
        id: String,
        /// Such as `24h`, `0s`.
        #[arg(long)]
        grace_period: Option<String>,
    },
    /// Send a `hookrelay.test` webhook to it.
    Test { id: String },
}
