//! The command line (clap) and what each command sends.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde_json::{Map, Value, json};

use crate::client::{Body, Client, Failure, Outcome};
use crate::output::{Column, Format, Out, col};

#[derive(Parser)]
#[command(
    name = "hookrelay",
    version,
    about = "Operate a hookrelay deployment over its HTTP API",
    after_help = "The key is never needed on the command line: set HOOKRELAY_API_KEY, or pipe it in with --api-key-stdin.\nExit codes: 0 done, 1 the API refused (its detail on stderr) or was unreachable, 2 usage."
)]
pub struct Cli {
    /// The API's base URL.
    #[arg(
        long,
        env = "HOOKRELAY_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub url: String,
    /// The API key (prefer HOOKRELAY_API_KEY or --api-key-stdin: flags land in shell history).
    #[arg(long, env = "HOOKRELAY_API_KEY", hide_env_values = true, global = true)]
    pub api_key: Option<String>,
    /// Read the API key from the first line of stdin.
    #[arg(long, global = true)]
    pub api_key_stdin: bool,
    /// `table` (aligned, for people) or `json` (the API's answer, for scripts).
    #[arg(long, short, value_enum, default_value_t = Format::Table, global = true)]
    pub output: Format,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Whether the command reads its body from stdin (`-`).
    pub fn reads_stdin(&self) -> bool {
        matches!(&self.command, Command::Ingest(i) if i.file.as_deref().is_none_or(|f| f.as_os_str() == "-"))
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Create, list, change and test subscriptions.
    #[command(subcommand)]
    Subscriptions(Subscriptions),
    /// Send a webhook: fan-out by event type, or to one subscription.
    Ingest(Ingest),
    /// One webhook's status: its deliveries and recent attempts.
    Status { webhook_id: String },
    /// Find stored webhooks.
    #[command(subcommand)]
    Webhooks(Webhooks),
    /// Replay one webhook's failed deliveries (or the named subscriptions' ones).
    Replay {
        webhook_id: String,
        /// Only this subscription's delivery (repeat for several), whatever it ended as.
        #[arg(long = "subscription")]
        subscriptions: Vec<String>,
        /// With no --subscription: replay the succeeded deliveries too.
        #[arg(long)]
        include_succeeded: bool,
    },
    /// Bulk replays: everything a filter matches, in batches.
    #[command(subcommand)]
    Replays(Replays),
    /// Tenants (admin keys).
    #[command(subcommand)]
    Tenants(Tenants),
    /// Stored API keys.
    #[command(subcommand)]
    Keys(Keys),
    /// Cron and one-time schedules.
    #[command(subcommand)]
    Schedules(Resource),
    /// Verified inbound webhooks (POST /in/<token>).
    #[command(subcommand)]
    Sources(Resource),
    /// Stream entries the workers gave up on.
    #[command(subcommand)]
    DeadLetters(DeadLetters),
    /// Follow webhooks as they are stored and delivered (polls GET /webhooks).
    Tail(crate::tail::Tail),
    /// Print a shell completion script.
    Completions { shell: clap_complete::Shell },
}

#[derive(Args)]
pub struct Paging {
    #[arg(long, default_value_t = 0)]
    skip: u64,
    #[arg(long, default_value_t = 100)]
    limit: u64,
    /// Keys without a tenant: only this tenant (`default`: the default space).
    #[arg(long)]
    tenant: Option<String>,
}

impl Paging {
    fn query(&self) -> Vec<(&'static str, String)> {
        vec![
            ("skip", self.skip.to_string()),
            ("limit", self.limit.to_string()),
            ("tenant_id", self.tenant.clone().unwrap_or_default()),
        ]
    }
}

// A JSON body from `--data` or `--file`, under the fields the flags set.
#[derive(Args, Default)]
pub struct Data {
    /// The body as JSON (fields the flags set win).
    #[arg(long)]
    data: Option<String>,
    /// The body as a JSON file.
    #[arg(long, conflicts_with = "data")]
    file: Option<PathBuf>,
}

impl Data {
    fn object(&self) -> anyhow::Result<Map<String, Value>> {
        let text = match (&self.data, &self.file) {
            (Some(text), _) => text.clone(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?,
            (None, None) => return Ok(Map::new()),
        };
        match serde_json::from_str(&text) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => anyhow::bail!("the body must be a JSON object"),
            Err(e) => anyhow::bail!("the body is not JSON: {e}"),
        }
    }
}

/// Puts `value` under `name` when it is set.
fn set(body: &mut Map<String, Value>, name: &str, value: Option<Value>) {
    if let Some(value) = value {
        body.insert(name.to_owned(), value);
    }
}

#[derive(Subcommand)]
pub enum Subscriptions {
    /// Create a subscription (prints it, with its secret).
    Create {
        /// Where deliveries go.
        #[arg(long)]
        target_url: Option<String>,
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

#[derive(Args)]
pub struct Ingest {
    /// Deliver to this subscription only (else: fan-out by event type).
    #[arg(long)]
    subscription: Option<String>,
    #[arg(long)]
    event_type: Option<String>,
    /// The same key within 24 hours answers the first request's webhook id.
    #[arg(long)]
    idempotency_key: Option<String>,
    /// Deliver at this time (RFC 3339) instead of now.
    #[arg(long)]
    deliver_at: Option<String>,
    /// The payload file; `-` or nothing: stdin.
    pub file: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum Webhooks {
    /// List them.
    List {
        #[arg(long)]
        event_type: Option<String>,
        /// scheduled, queued, delivering, delivered, failed, no_subscribers.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        subscription: Option<String>,
        /// Received at or after (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        until: Option<String>,
        #[command(flatten)]
        paging: Paging,
    },
}

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

#[derive(Subcommand)]
pub enum Tenants {
    /// Create a tenant.
    Create {
        name: String,
        /// A JSON object.
        #[arg(long)]
        metadata: Option<String>,
    },
    /// List them.
    List {
        #[command(flatten)]
        paging: Paging,
    },
    /// Show one.
    Get { id: String },
    /// Change its name or metadata.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        /// A JSON object.
        #[arg(long)]
        metadata: Option<String>,
    },
    /// Deletes the tenant with its subscriptions, sources, schedules and keys.
    Delete { id: String },
}

#[derive(Subcommand)]
pub enum Keys {
    /// Prints the new key once.
    Create {
        name: String,
        #[arg(long)]
        tenant: Option<String>,
        /// read, write, ingest; repeat (default: all three).
        #[arg(long = "permission")]
        permissions: Vec<String>,
        /// RFC 3339.
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// List them.
    List {
        #[command(flatten)]
        paging: Paging,
    },
    /// Show one.
    Get { id: String },
    /// Delete it.
    Delete { id: String },
}

/// Schedules and sources: their bodies are rich, so they come as JSON.
#[derive(Subcommand)]
pub enum Resource {
    /// From a JSON body (`--data` or `--file`).
    Create {
        #[command(flatten)]
        data: Data,
    },
    /// List them.
    List {
        #[command(flatten)]
        paging: Paging,
    },
    /// Show one.
    Get { id: String },
    /// Changes the fields of a JSON body.
    Update {
        id: String,
        #[command(flatten)]
        data: Data,
    },
    /// Delete it.
    Delete { id: String },
    /// A schedule action (`pause`, `resume`, `trigger`) or a source's `rotate-path`.
    Do { id: String, action: String },
    /// A schedule's runs, or a source's rejections.
    Log {
        id: String,
        #[arg(long, default_value_t = 20)]
        limit: u64,
    },
}

#[derive(Subcommand)]
pub enum DeadLetters {
    /// List them.
    List {
        #[command(flatten)]
        paging: Paging,
    },
    /// Put it back into the work stream as it was.
    Redrive { id: String },
    /// Delete it.
    Delete { id: String },
}

const SUBSCRIPTION: &[Column] = &[
    col("ID", "/id"),
    col("NAME", "/name"),
    col("TARGET", "/target_url"),
    col("EVENTS", "/events"),
    col("ACTIVE", "/is_active"),
    col("FAILURES", "/consecutive_failures"),
];
const WEBHOOK: &[Column] = &[
    col("WEBHOOK", "/webhook_id"),
    col("EVENT TYPE", "/event_type"),
    col("STATUS", "/status"),
    col("DELIVERIES", "/deliveries"),
    col("RECEIVED", "/received_at"),
];
const ATTEMPT: &[Column] = &[
    col("#", "/attempt_number"),
    col("WHEN", "/timestamp"),
    col("OUTCOME", "/outcome"),
    col("CODE", "/status_code"),
    col("MS", "/duration_ms"),
    col("ERROR", "/error"),
];
const DELIVERY: &[Column] = &[
    col("SUBSCRIPTION", "/subscription_id"),
    col("STATUS", "/status"),
    col("ATTEMPTS", "/attempts"),
    col("CODE", "/last_status_code"),
    col("ERROR", "/error"),
];
const REPLAY: &[Column] = &[
    col("ID", "/id"),
    col("STATUS", "/status"),
    col("MATCHED", "/matched"),
    col("QUEUED", "/queued"),
    col("CREATED", "/created_at"),
];
const TENANT: &[Column] = &[
    col("ID", "/id"),
    col("NAME", "/name"),
    col("CREATED", "/created_at"),
];
const KEY: &[Column] = &[
    col("ID", "/id"),
    col("NAME", "/name"),
    col("PREFIX", "/key_prefix"),
    col("TENANT", "/tenant_id"),
    col("PERMISSIONS", "/permissions"),
    col("LAST USED", "/last_used_at"),
];
const SCHEDULE: &[Column] = &[
    col("ID", "/id"),
    col("NAME", "/name"),
    col("KIND", "/kind"),
    col("CRON", "/cron"),
    col("ACTIVE", "/is_active"),
    col("NEXT RUN", "/next_run_at"),
];
const SOURCE: &[Column] = &[
    col("ID", "/id"),
    col("NAME", "/name"),
    col("VERIFICATION", "/verification/type"),
    col("PATH", "/ingest_path"),
    col("ACTIVE", "/is_active"),
];
const DEAD_LETTER: &[Column] = &[
    col("ID", "/id"),
    col("WEBHOOK", "/webhook_id"),
    col("EVENT TYPE", "/event_type"),
    col("REASON", "/reason"),
    col("DEAD AT", "/dead_at"),
];

pub async fn run(client: &Client, out: &Out, command: Command) -> Outcome<()> {
    match command {
        Command::Subscriptions(c) => subscriptions(client, out, c).await,
        Command::Ingest(i) => ingest(client, out, i).await,
        Command::Status { webhook_id } => {
            let status = client.get(&format!("/status/{webhook_id}"), &[]).await?;
            show_status(out, &status);
            Ok(())
        }
        Command::Webhooks(Webhooks::List {
            event_type,
            status,
            subscription,
            since,
            until,
            paging,
        }) => {
            let mut query = paging.query();
            for (name, value) in [
                ("event_type", event_type),
                ("status", status),
                ("subscription_id", subscription),
                ("since", since),
                ("until", until),
            ] {
                query.push((name, value.unwrap_or_default()));
            }
            out.list(&client.get("/webhooks", &query).await?, WEBHOOK);
            Ok(())
        }
        Command::Replay {
            webhook_id,
            subscriptions,
            include_succeeded,
        } => {
            let mut body = Map::new();
            if !subscriptions.is_empty() {
                body.insert("subscription_ids".into(), json!(subscriptions));
            }
            if include_succeeded {
                body.insert("include_succeeded".into(), json!(true));
            }
            let replayed = client
                .post(
                    &format!("/webhooks/{webhook_id}/replay"),
                    Value::Object(body),
                )
                .await?;
            let n = replayed["deliveries"].as_array().map_or(0, Vec::len);
            out.done(
                &format!("replaying {n} delivery(ies) of {webhook_id}"),
                &replayed,
            );
            Ok(())
        }
        Command::Replays(c) => replays(client, out, c).await,
        Command::Tenants(c) => tenants(client, out, c).await,
        Command::Keys(c) => keys(client, out, c).await,
        Command::Schedules(c) => resource(client, out, "/schedules", SCHEDULE, c).await,
        Command::Sources(c) => resource(client, out, "/sources", SOURCE, c).await,
        Command::DeadLetters(c) => dead_letters(client, out, c).await,
        Command::Tail(t) => crate::tail::run(client, out, t).await,
        Command::Completions { .. } => Ok(()),
    }
}

async fn subscriptions(client: &Client, out: &Out, command: Subscriptions) -> Outcome<()> {
    match command {
        Subscriptions::Create {
            target_url,
            events,
            name,
            description,
            secret,
            tenant,
            data,
        } => {
            let mut body = data.object()?;
            set(&mut body, "target_url", target_url.map(Value::from));
            set(
                &mut body,
                "events",
                (!events.is_empty()).then(|| json!(events)),
            );
            set(&mut body, "name", name.map(Value::from));
            set(&mut body, "description", description.map(Value::from));
            set(&mut body, "secret", secret.map(Value::from));
            set(&mut body, "tenant_id", tenant.map(Value::from));
            out.object(&client.post("/subscriptions", Value::Object(body)).await?);
        }
        Subscriptions::List { paging } => {
            out.list(
                &client.get("/subscriptions", &paging.query()).await?,
                SUBSCRIPTION,
            );
        }
        Subscriptions::Get { id } => {
            out.object(&client.get(&format!("/subscriptions/{id}"), &[]).await?);
        }
        Subscriptions::Update {
            id,
            target_url,
            events,
            name,
            active,
            data,
        } => {
            let mut body = data.object()?;
            set(&mut body, "target_url", target_url.map(Value::from));
            set(
                &mut body,
                "events",
                (!events.is_empty()).then(|| json!(events)),
            );
            set(&mut body, "name", name.map(Value::from));
            set(&mut body, "is_active", active.map(Value::from));
            out.object(
                &client
                    .patch(&format!("/subscriptions/{id}"), Value::Object(body))
                    .await?,
            );
        }
        Subscriptions::Delete { id } => {
            client.delete(&format!("/subscriptions/{id}")).await?;
            out.done(
                &format!("deleted subscription {id}"),
                &json!({"deleted": id}),
            );
        }
        Subscriptions::RotateSecret { id, grace_period } => {
            let mut body = Map::new();
            set(&mut body, "grace_period", grace_period.map(Value::from));
            out.object(
                &client
                    .post(
                        &format!("/subscriptions/{id}/rotate-secret"),
                        Value::Object(body),
                    )
                    .await?,
            );
        }
        Subscriptions::Test { id } => {
            let sent = client
                .post(&format!("/subscriptions/{id}/test"), json!({}))
                .await?;
            out.done(
                &format!("sent test webhook {}", output_text(&sent["webhook_id"])),
                &sent,
            );
        }
    }
    Ok(())
}

fn output_text(value: &Value) -> String {
    crate::output::text(value)
}

async fn ingest(client: &Client, out: &Out, ingest: Ingest) -> Outcome<()> {
    let payload = match ingest.file.as_deref() {
        Some(path) if path.as_os_str() != "-" => {
            std::fs::read(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?
        }
        _ => {
            use tokio::io::AsyncReadExt as _;
            let mut bytes = Vec::new();
            tokio::io::stdin()
                .read_to_end(&mut bytes)
                .await
                .map_err(|e| anyhow::anyhow!("reading stdin: {e}"))?;
            bytes
        }
    };
    let path = match &ingest.subscription {
        Some(id) => format!("/ingest/{id}"),
        None => "/ingest".to_owned(),
    };
    let mut headers = vec![("content-type", "application/json".to_owned())];
    for (name, value) in [
        ("x-event-type", ingest.event_type),
        ("idempotency-key", ingest.idempotency_key),
        ("x-deliver-at", ingest.deliver_at),
    ] {
        if let Some(value) = value {
            headers.push((name, value));
        }
    }
    let url = client.url(&path, &[])?;
    let accepted = client
        .send(reqwest::Method::POST, url, Body::Raw(payload), &headers)
        .await?;
    out.done(&output_text(&accepted["webhook_id"]), &accepted);
    Ok(())
}

fn show_status(out: &Out, status: &Value) {
    if out.format == Format::Json {
        return out.json(status);
    }
    let mut summary = status.clone();
    if let Some(fields) = summary.as_object_mut() {
        fields.remove("deliveries");
        fields.remove("recent_attempts");
    }
    out.object(&summary);
    println!("\ndeliveries:");
    out.list(&status["deliveries"], DELIVERY);
    println!("\nrecent attempts:");
    out.list(&status["recent_attempts"], ATTEMPT);
}

async fn replays(client: &Client, out: &Out, command: Replays) -> Outcome<()> {
    match command {
        Replays::Create {
            subscription,
            event_types,
            since,
            until,
            statuses,
            include_missing,
            dry_run,
            wait,
        } => {
            let mut body = Map::new();
            set(&mut body, "subscription_id", subscription.map(Value::from));
            set(
                &mut body,
                "event_types",
                (!event_types.is_empty()).then(|| json!(event_types)),
            );
            body.insert("since".into(), json!(since));
            set(&mut body, "until", until.map(Value::from));
            set(
                &mut body,
                "statuses",
                (!statuses.is_empty()).then(|| json!(statuses)),
            );
            if include_missing {
                body.insert("include_missing".into(), json!(true));
            }
            if dry_run {
                body.insert("dry_run".into(), json!(true));
            }
            let answer = client.post("/replays", Value::Object(body)).await?;
            if dry_run {
                out.done(
                    &format!("would replay {}", output_text(&answer["matched"])),
                    &answer,
                );
            } else if wait {
                follow_replay(client, out, &output_text(&answer["id"])).await?;
            } else {
                out.object(&answer);
            }
        }
        Replays::List { paging } => {
            out.list(&client.get("/replays", &paging.query()).await?, REPLAY)
        }
        Replays::Get { id, wait } => {
            if wait {
                follow_replay(client, out, &id).await?;
            } else {
                out.object(&client.get(&format!("/replays/{id}"), &[]).await?);
            }
        }
        Replays::Cancel { id } => out.object(&client.delete(&format!("/replays/{id}")).await?),
    }
    Ok(())
}

/// Polls a replay every 500 ms with a progress bar (queued of matched) until it is over.
async fn follow_replay(client: &Client, out: &Out, id: &str) -> Outcome<()> {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} replay {msg} [{bar:30}] {pos}/{len} queued",
        )
        .map_err(|e| Failure::Other(e.into()))?,
    );
    bar.set_message(id.to_owned());
    loop {
        let replay = client.get(&format!("/replays/{id}"), &[]).await?;
        bar.set_length(replay["matched"].as_u64().unwrap_or(0));
        bar.set_position(replay["queued"].as_u64().unwrap_or(0));
        if replay["status"] != json!("running") {
            bar.finish_and_clear();
            out.object(&replay);
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn json_arg(name: &str, text: Option<String>) -> anyhow::Result<Option<Value>> {
    text.map(|t| serde_json::from_str(&t).map_err(|e| anyhow::anyhow!("--{name} is not JSON: {e}")))
        .transpose()
}

async fn tenants(client: &Client, out: &Out, command: Tenants) -> Outcome<()> {
    match command {
        Tenants::Create { name, metadata } => {
            let mut body = Map::new();
            body.insert("name".into(), json!(name));
            set(&mut body, "metadata", json_arg("metadata", metadata)?);
            out.object(&client.post("/tenants", Value::Object(body)).await?);
        }
        Tenants::List { paging } => {
            out.list(&client.get("/tenants", &paging.query()).await?, TENANT)
        }
        Tenants::Get { id } => out.object(&client.get(&format!("/tenants/{id}"), &[]).await?),
        Tenants::Update { id, name, metadata } => {
            let mut body = Map::new();
            set(&mut body, "name", name.map(Value::from));
            set(&mut body, "metadata", json_arg("metadata", metadata)?);
            out.object(
                &client
                    .patch(&format!("/tenants/{id}"), Value::Object(body))
                    .await?,
            );
        }
        Tenants::Delete { id } => {
            client.delete(&format!("/tenants/{id}")).await?;
            out.done(&format!("deleted tenant {id}"), &json!({"deleted": id}));
        }
    }
    Ok(())
}

async fn keys(client: &Client, out: &Out, command: Keys) -> Outcome<()> {
    match command {
        Keys::Create {
            name,
            tenant,
            permissions,
            expires_at,
        } => {
            let mut body = Map::new();
            body.insert("name".into(), json!(name));
            set(&mut body, "tenant_id", tenant.map(Value::from));
            set(
                &mut body,
                "permissions",
                (!permissions.is_empty()).then(|| json!(permissions)),
            );
            set(&mut body, "expires_at", expires_at.map(Value::from));
            let created = client.post("/api-keys", Value::Object(body)).await?;
            out.object(&created);
            if out.format == Format::Table {
                eprintln!("The key is shown this once: store it now.");
            }
        }
        Keys::List { paging } => out.list(&client.get("/api-keys", &paging.query()).await?, KEY),
        Keys::Get { id } => out.object(&client.get(&format!("/api-keys/{id}"), &[]).await?),
        Keys::Delete { id } => {
            client.delete(&format!("/api-keys/{id}")).await?;
            out.done(&format!("deleted API key {id}"), &json!({"deleted": id}));
        }
    }
    Ok(())
}

async fn resource(
    client: &Client,
    out: &Out,
    base: &str,
    columns: &[Column],
    command: Resource,
) -> Outcome<()> {
    match command {
        Resource::Create { data } => {
            out.object(&client.post(base, Value::Object(data.object()?)).await?)
        }
        Resource::List { paging } => out.list(&client.get(base, &paging.query()).await?, columns),
        Resource::Get { id } => out.object(&client.get(&format!("{base}/{id}"), &[]).await?),
        Resource::Update { id, data } => {
            out.object(
                &client
                    .patch(&format!("{base}/{id}"), Value::Object(data.object()?))
                    .await?,
            );
        }
        Resource::Delete { id } => {
            client.delete(&format!("{base}/{id}")).await?;
            out.done(&format!("deleted {id}"), &json!({"deleted": id}));
        }
        Resource::Do { id, action } => {
            out.object(
                &client
                    .post(&format!("{base}/{id}/{action}"), json!({}))
                    .await?,
            );
        }
        Resource::Log { id, limit } => {
            let log = if base == "/sources" {
                "rejections"
            } else {
                "runs"
            };
            let rows = client
                .get(
                    &format!("{base}/{id}/{log}"),
                    &[("limit", limit.to_string())],
                )
                .await?;
            match out.format {
                Format::Json => out.json(&rows),
                Format::Table => {
                    let columns: Vec<Column> = rows
                        .as_array()
                        .and_then(|r| r.first())
                        .and_then(Value::as_object)
                        .map(|first| first.keys().map(|k| Column::field(k)).collect())
                        .unwrap_or_default();
                    out.list(&rows, &columns);
                }
            }
        }
    }
    Ok(())
}

async fn dead_letters(client: &Client, out: &Out, command: DeadLetters) -> Outcome<()> {
    match command {
        DeadLetters::List { paging } => {
            out.list(
                &client.get("/dead-letters", &paging.query()).await?,
                DEAD_LETTER,
            );
        }
        DeadLetters::Redrive { id } => {
            let answer = client
                .post(&format!("/dead-letters/{id}/redrive"), json!({}))
                .await?;
            out.done(
                &format!("redriven {id} as {}", output_text(&answer["entry_id"])),
                &answer,
            );
        }
        DeadLetters::Delete { id } => {
            client.delete(&format!("/dead-letters/{id}")).await?;
            out.done(
                &format!("deleted dead letter {id}"),
                &json!({"deleted": id}),
            );
        }
    }
    Ok(())
}
