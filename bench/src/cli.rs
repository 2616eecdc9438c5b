//! The command line: subcommands and `--name value` options, parsed by hand (a handful of
//! options does not need an argument-parsing crate).

use std::time::Duration;

pub const USAGE: &str = "\
usage: hookrelay-bench <command> [options]

commands:
  ingest   POST /ingest with many keep-alive connections for a fixed time; prints
           requests/s and p50/p99 latency for a bare-HTTP ceiling server, for the api at
           full speed, and for the api at half its peak rate (open loop); plus api RSS.
           With --keys: the api checks keys, and every api run is made in rounds that
           alternate an API_KEYS (admin) key and a stored tenant key with only `ingest`;
           prints both figures and how far the tenant key's are from the admin key's.
  soak     POST /ingest a fixed number of times as fast as possible; prints api RSS as
           it goes (the \"RSS after 1M ingests\" figure).
  deliver  ingest to arrival through the api and a worker to a local sink answering 204:
           deliveries/s for each fan-out, then p50/p99 ingest-to-arrival at a fixed
           rate; lost and duplicate deliveries; worker RSS. With --cluster: one run per
           queue layout (one Redis, and a 3-master Redis Cluster, each with
           QUEUE_PARTITIONS 1 and 16): deliveries/s, Redis CPU per delivery in all and
           per master, and the share of queue commands each master served.
  replay   a bulk replay of N failed deliveries (POST /replays) while live webhooks
           arrive at a fixed rate: deliveries queued per second, and the live p50/p99
           ingest-to-arrival alone and during the replay.
  schedules  N cron schedules (`* * * * *`) due in the same minute, fired by one worker:
           how long after the minute the last run fired and the last webhook arrived,
           and the worker's CPU time for the minute.
  inbound  POST /in/<token> to a GitHub-style source (HMAC-SHA256 checked per request)
           against plain POST /ingest of the same body, in alternating rounds: requests/s
           and p50/p99 of each at full speed, then at half the slower peak (open loop).
  backlog  worker memory under a backlog: queues N webhooks before starting a worker,
           whose sink holds every request (a slow receiver), then prints the worker's
           RSS and the entries each consumer holds (XPENDING) every few seconds; both
           should stay flat once the worker holds its cap (2 x WORKER_CONCURRENCY).
  destinations  ingest to arrival for each destination type at fan-out 1, one worker:
           per type and round, deliveries/s (first ingest request to the N-th message
           counted at the destination with the broker's own client), lost, and CPU per
           delivery; then worker RSS and deliveries/s with 1,000 redis subscriptions over
           10 pooled connections. Needs RabbitMQ (127.0.0.1:5672, guest), NATS JetStream
           (127.0.0.1:4222) and Redis (127.0.0.1:6379): scripts/services.sh; Kafka is
           librdkafka's mock cluster inside this process.

options (ingest):
  --seconds N        length of each measured run (default 10)
  --connections N    concurrent keep-alive connections (default 64)
  --rate N           also run open loop at N requests/s instead of half the measured peak
  --body-bytes N     size of the JSON body sent (default 256)
  --no-ceiling       skip the ceiling server
  --keys             compare an admin key with a tenant key (authentication on)
  --rounds N         with --keys: rounds of each pair of runs (default 4); the key that
                     goes first alternates from round to round
options (soak):
  --ingests N        requests to send (default 1000000)
  --connections N    as above
  --body-bytes N     as above
options (deliver):
  --deliveries N     deliveries per throughput run: N / fan-out webhooks (default 100000)
  --fan-outs A,B     subscriptions per webhook, one throughput run each (default 1,10)
  --rate N           webhooks/s of the latency run (default 1000)
  --seconds N        length of the latency run (default 10)
  --connections N    ingest connections (default 32)
  --cluster          compare queue layouts instead (see above; needs redis-cli)
  --worker-concurrency N   the worker's WORKER_CONCURRENCY (default 256)
options (replay):
  --deliveries N     failed deliveries the replay covers (default 100000)
  --rate N           live webhooks per second meanwhile (default 200)
  --seconds N        length of each live run (default 10)
  --worker-concurrency N   as above
options (schedules):
  --schedules N      schedules due in the same minute (default 10000)
options (inbound):
  --seconds N        length of each measured run (default 10)
  --connections N    as above (default 64)
  --body-bytes N     as above (default 256)
  --rounds N         rounds of each pair of runs (default 3)
options (backlog):
  --webhooks N       webhooks queued before the worker starts (default 200000)
  --seconds N        how long the worker is watched (default 60)
  --every N          seconds between samples (default 5)
  --hold-ms N        how long the sink holds each request (default 1500)
  --connections N    ingest connections (default 32)
  --cluster          compare queue layouts instead (see above; needs redis-cli)
  --worker-concurrency N   as above
options (destinations):
  --deliveries N     webhooks (= deliveries, fan-out 1) per type and round (default 20000)
  --types A,B        destination types, any of http,rabbitmq,nats,kafka,redis (default all)
  --rounds N         rounds over the types; the order alternates from round to round
                     (default 2)
  --connections N    ingest connections (default 32)
  --cluster          compare queue layouts instead (see above; needs redis-cli)
  --worker-concurrency N   as above

All start a private redis-server (on PATH) and target/release/hookrelay-api (deliver,
replay, backlog, destinations: also hookrelay-worker; build both first: cargo build --release --workspace --bins) with
AUTH_DISABLED=true (ingest --keys: API_KEYS set to a random admin key) and a fresh
REDIS_KEY_PREFIX, and a fresh database (dropped at the end) on the Postgres server of
$DATABASE_URL, else postgres://postgres@127.0.0.1:5432.";

#[derive(Debug, Clone, PartialEq)]
pub struct IngestOptions {
    pub duration: Duration,
    pub connections: usize,
    pub rate: Option<f64>,
    pub body_bytes: usize,
    pub ceiling: bool,
    /// `--keys`: the rounds comparing an admin key with a tenant key, if asked for.
    pub keys: Option<KeyRounds>,
}

/// `--keys --rounds N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRounds {
    pub rounds: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SoakOptions {
    pub ingests: u64,
    pub connections: usize,
    pub body_bytes: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeliverOptions {
    pub deliveries: u64,
    pub fan_outs: Vec<usize>,
    pub rate: f64,
    pub duration: Duration,
    pub connections: usize,
    pub worker_concurrency: usize,
    /// `--cluster`: instead, one throughput run (fan-out 1) per queue layout: one Redis
    /// and a three-master Redis Cluster, each with 1 and 16 partitions.
    pub cluster: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReplayOptions {
    pub deliveries: u64,
    pub rate: f64,
    pub duration: Duration,
    pub worker_concurrency: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SchedulesOptions {
    pub schedules: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InboundOptions {
    pub duration: Duration,
    pub connections: usize,
    pub body_bytes: usize,
    pub rounds: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BacklogOptions {
    pub webhooks: u64,
    pub duration: Duration,
    pub every: Duration,
    pub hold: Duration,
    pub connections: usize,
    pub worker_concurrency: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DestinationsOptions {
    pub deliveries: u64,
    pub types: Vec<DestinationType>,
    pub rounds: usize,
    pub connections: usize,
    pub worker_concurrency: usize,
}

/// A destination type the `destinations` scenario delivers to (CONTRACT §15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestinationType {
    Http,
    Rabbitmq,
    Nats,
    Kafka,
    Redis,
}

impl DestinationType {
    pub const ALL: [Self; 5] = [
        Self::Http,
        Self::Rabbitmq,
        Self::Nats,
        Self::Kafka,
        Self::Redis,
    ];

    /// The name in `--types` and in the subscription's `destination.type`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Rabbitmq => "rabbitmq",
            Self::Nats => "nats",
            Self::Kafka => "kafka",
            Self::Redis => "redis",
        }
    }
}

impl std::str::FromStr for DestinationType {
    type Err = ();

    fn from_str(name: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|t| t.name() == name).ok_or(())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Help,
    Ingest(IngestOptions),
    Soak(SoakOptions),
    Deliver(DeliverOptions),
    Backlog(BacklogOptions),
    Replay(ReplayOptions),
    Schedules(SchedulesOptions),
    Inbound(InboundOptions),
    Destinations(DestinationsOptions),
    /// Internal: the ceiling server, started by `ingest` as a child process.
    CeilingServer {
        workers: usize,
    },
}

pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut args = args.into_iter();
    let command = args.next().unwrap_or_else(|| "help".into());
    let rest: Vec<String> = args.collect();
    let mut options = Options::new(&rest)?;
    let parsed = match command.as_str() {
        "help" | "--help" | "-h" => Command::Help,
        "ingest" => {
            let keys = options.flag("keys");
            let rounds: Option<usize> = options.optional_number("rounds")?;
            if rounds.is_some() && !keys {
                return Err("--rounds needs --keys".into());
            }
            Command::Ingest(IngestOptions {
                duration: Duration::from_secs(options.number("seconds", 10)?),
                connections: options.number("connections", 64)?,
                rate: options.optional_number("rate")?,
                body_bytes: options.number("body-bytes", 256)?,
                ceiling: !options.flag("no-ceiling"),
                keys: keys.then_some(KeyRounds {
                    rounds: rounds.unwrap_or(4).max(1),
                }),
            })
        }
        "soak" => Command::Soak(SoakOptions {
            ingests: options.number("ingests", 1_000_000)?,
            connections: options.number("connections", 64)?,
            body_bytes: options.number("body-bytes", 256)?,
        }),
        "deliver" => Command::Deliver(DeliverOptions {
            deliveries: options.number("deliveries", 100_000)?,
            fan_outs: options.list("fan-outs", vec![1, 10])?,
            rate: options.number("rate", 1_000.0)?,
            duration: Duration::from_secs(options.number("seconds", 10)?),
            connections: options.number("connections", 32)?,
            worker_concurrency: options.number("worker-concurrency", 256)?,
            cluster: options.flag("cluster"),
        }),
        "replay" => Command::Replay(ReplayOptions {
            deliveries: options.number("deliveries", 100_000)?,
            rate: options.number("rate", 200.0)?,
            duration: Duration::from_secs(options.number("seconds", 10)?),
            worker_concurrency: options.number("worker-concurrency", 256)?,
        }),
        "schedules" => Command::Schedules(SchedulesOptions {
            schedules: options.number("schedules", 10_000)?,
        }),
        "inbound" => Command::Inbound(InboundOptions {
            duration: Duration::from_secs(options.number("seconds", 10)?),
            connections: options.number("connections", 64)?,
            body_bytes: options.number("body-bytes", 256)?,
            rounds: options.number::<usize>("rounds", 3)?.max(1),
        }),
        "backlog" => Command::Backlog(BacklogOptions {
            webhooks: options.number("webhooks", 200_000)?,
            duration: Duration::from_secs(options.number("seconds", 60)?),
            every: Duration::from_secs(options.number("every", 5)?.max(1)),
            hold: Duration::from_millis(options.number("hold-ms", 1_500)?),
            connections: options.number("connections", 32)?,
            worker_concurrency: options.number("worker-concurrency", 256)?,
        }),
        "destinations" => {
            let types: Vec<DestinationType> =
                options.items("types", DestinationType::ALL.to_vec(), "destination types")?;
            if let Some(twice) = types
                .iter()
                .enumerate()
                .find_map(|(i, t)| types[..i].contains(t).then_some(t))
            {
                return Err(format!("--types lists {} twice", twice.name()));
            }
            Command::Destinations(DestinationsOptions {
                deliveries: options.number::<u64>("deliveries", 20_000)?.max(1),
                types,
                rounds: options.number::<usize>("rounds", 2)?.max(1),
                connections: options.number("connections", 32)?,
                worker_concurrency: options.number("worker-concurrency", 256)?,
            })
        }
        "ceiling-server" => Command::CeilingServer {
            workers: options.number("workers", 2)?,
        },
        other => return Err(format!("unknown command {other:?}")),
    };
    options.finish()?;
    Ok(parsed)
}

/// `--name value` pairs and bare `--flag`s, each to be taken once.
struct Options {
    pairs: Vec<(String, Option<String>)>,
}

impl Options {
    fn new(args: &[String]) -> Result<Self, String> {
        let mut pairs = Vec::new();
        let mut iter = args.iter().peekable();
        while let Some(arg) = iter.next() {
            let name = arg
                .strip_prefix("--")
                .ok_or_else(|| format!("expected an option, got {arg:?}"))?;
            let value = iter.next_if(|next| !next.starts_with("--")).cloned();
            pairs.push((name.to_owned(), value));
        }
        Ok(Self { pairs })
    }

    fn take(&mut self, name: &str) -> Option<Option<String>> {
        let index = self.pairs.iter().position(|(n, _)| n == name)?;
        Some(self.pairs.remove(index).1)
    }

    fn flag(&mut self, name: &str) -> bool {
        self.take(name).is_some()
    }

    fn optional_number<T: std::str::FromStr>(&mut self, name: &str) -> Result<Option<T>, String> {
        match self.take(name) {
            None => Ok(None),
            Some(value) => value
                .and_then(|v| v.parse().ok())
                .map(Some)
                .ok_or_else(|| format!("--{name} needs a number")),
        }
    }

    fn number<T: std::str::FromStr>(&mut self, name: &str, default: T) -> Result<T, String> {
        Ok(self.optional_number(name)?.unwrap_or(default))
    }

    /// A comma-separated list of numbers.
    fn list<T: std::str::FromStr>(
        &mut self,
        name: &str,
        default: Vec<T>,
    ) -> Result<Vec<T>, String> {
        self.items(name, default, "numbers")
    }

    /// A comma-separated list of `what` (for the error: "numbers", "destination types").
    fn items<T: std::str::FromStr>(
        &mut self,
        name: &str,
        default: Vec<T>,
        what: &str,
    ) -> Result<Vec<T>, String> {
        match self.take(name) {
            None => Ok(default),
            Some(value) => value
                .as_deref()
                .unwrap_or_default()
                .split(',')
                .map(|n| n.trim().parse().ok())
                .collect::<Option<Vec<T>>>()
                .filter(|list| !list.is_empty())
                .ok_or_else(|| format!("--{name} needs {what} separated by commas")),
        }
    }

    fn finish(self) -> Result<(), String> {
        match self.pairs.first() {
            Some((name, _)) => Err(format!("unknown option --{name}")),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn ingest_options_and_defaults() {
        let Ok(Command::Ingest(options)) =
            parse(args("ingest --seconds 3 --connections 8 --no-ceiling"))
        else {
            panic!("parses");
        };
        assert_eq!(options.duration, Duration::from_secs(3));
        assert_eq!(options.connections, 8);
        assert_eq!(options.rate, None);
        assert!(!options.ceiling);
        assert_eq!(options.keys, None);
        assert_eq!(
            parse(args("soak")),
            Ok(Command::Soak(SoakOptions {
                ingests: 1_000_000,
                connections: 64,
                body_bytes: 256
            }))
        );
    }

    #[test]
    fn key_rounds() {
        let Ok(Command::Ingest(options)) = parse(args("ingest --keys")) else {
            panic!("parses");
        };
        assert_eq!(options.keys, Some(KeyRounds { rounds: 4 }));
        let Ok(Command::Ingest(options)) = parse(args("ingest --rounds 2 --keys")) else {
            panic!("parses");
        };
        assert_eq!(options.keys, Some(KeyRounds { rounds: 2 }));
        assert!(parse(args("ingest --rounds 2")).is_err());
    }

    #[test]
    fn deliver_options() {
        let Ok(Command::Deliver(options)) = parse(args("deliver --fan-outs 1,5,20 --rate 500"))
        else {
            panic!("parses");
        };
        assert_eq!(options.fan_outs, vec![1, 5, 20]);
        assert_eq!(options.rate, 500.0);
        assert_eq!(options.deliveries, 100_000);
        assert!(parse(args("deliver --fan-outs")).is_err());
        assert!(parse(args("deliver --fan-outs 1,x")).is_err());
    }

    #[test]
    fn backlog_options() {
        let Ok(Command::Backlog(options)) =
            parse(args("backlog --webhooks 20000 --hold-ms 2000 --every 0"))
        else {
            panic!("parses");
        };
        assert_eq!(options.webhooks, 20_000);
        assert_eq!(options.hold, Duration::from_secs(2));
        assert_eq!(options.every, Duration::from_secs(1));
        assert_eq!(options.duration, Duration::from_secs(60));
        assert_eq!(options.worker_concurrency, 256);
    }

    #[test]
    fn destinations_options() {
        let Ok(Command::Destinations(options)) = parse(args("destinations")) else {
            panic!("parses");
        };
        assert_eq!(options.deliveries, 20_000);
        assert_eq!(options.types, DestinationType::ALL.to_vec());
        assert_eq!(options.rounds, 2);
        assert_eq!((options.connections, options.worker_concurrency), (32, 256));
        let Ok(Command::Destinations(options)) = parse(args(
            "destinations --types kafka,http --rounds 3 --deliveries 500",
        )) else {
            panic!("parses");
        };
        assert_eq!(
            options.types,
            vec![DestinationType::Kafka, DestinationType::Http]
        );
        assert_eq!((options.rounds, options.deliveries), (3, 500));
        assert!(parse(args("destinations --types http,mqtt")).is_err());
        assert!(parse(args("destinations --types nats,nats")).is_err());
    }

    #[test]
    fn mistakes_are_reported() {
        assert!(parse(args("ingest --seconds")).is_err());
        assert!(parse(args("ingest --bogus 1")).is_err());
        assert!(parse(args("launch")).is_err());
    }
}
