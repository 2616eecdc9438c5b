//! The container files agree with the code (CONTRACT §8). No Docker engine runs here, so
//! instead of building and starting them this parses `Dockerfile`, `docker-compose.yml`
//! and `render.yaml` and checks what the code decides: the binaries they name exist as
//! `[[bin]]` targets, every variable they set is one `Config` reads, and ports and health
//! paths match the api's (`PORT`, 8080, `/healthz`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use hookrelay_shared::config::VARIABLES;
use serde_norway::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

fn yaml(path: &str) -> Value {
    serde_norway::from_str(&read(path)).unwrap_or_else(|e| panic!("{path} is not YAML: {e}"))
}

/// The `[[bin]]` names of the api and worker crates.
fn binaries() -> BTreeSet<String> {
    ["api/Cargo.toml", "worker/Cargo.toml"]
        .iter()
        .flat_map(|manifest| {
            let doc: toml::Table = read(manifest).parse().expect("a TOML manifest");
            doc.get("bin")
                .and_then(|b| b.as_array())
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|bin| bin.get("name")?.as_str().map(str::to_owned))
        })
        .collect()
}

/// Variables a process may be given: what `Config` reads, plus `RUST_LOG` (the log
/// filter, read by `telemetry::init_logging`).
fn known_variable(name: &str) -> bool {
    VARIABLES.contains(&name) || name == "RUST_LOG"
}

/// Dockerfile instructions as (KEYWORD, rest), with `\` continuations joined.
fn dockerfile() -> Vec<(String, String)> {
    let text = read("Dockerfile").replace("\\\n", " ");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (keyword, rest) = l.split_once(char::is_whitespace)?;
            Some((keyword.to_ascii_uppercase(), rest.trim().to_owned()))
        })
        .collect()
}

#[test]
fn containers_dockerfile_builds_both_binaries_into_a_slim_non_root_image() {
    let bins = binaries();
    assert!(
        bins.contains("hookrelay-api") && bins.contains("hookrelay-worker"),
        "{bins:?}"
    );
    let steps = dockerfile();
    let froms: Vec<&str> = steps
        .iter()
        .filter(|(k, _)| k == "FROM")
        .map(|(_, r)| r.as_str())
        .collect();
    assert!(froms.len() >= 2, "multi-stage: {froms:?}");
    let runtime_start = steps
        .iter()
        .rposition(|(k, _)| k == "FROM")
        .expect("a FROM");
    assert!(
        steps[runtime_start].1.starts_with("debian:bookworm-slim"),
        "{:?}",
        steps[runtime_start]
    );
    let runtime = &steps[runtime_start..];
    let build = &steps[..runtime_start];

    assert!(
        build
            .iter()
            .any(|(k, r)| k == "RUN" && r.contains("cargo chef cook")),
        "dependency layer"
    );
    assert!(
        build
            .iter()
            .any(|(k, r)| k == "RUN" && r.contains("cargo build --release"))
    );
    assert!(
        runtime
            .iter()
            .any(|(k, r)| k == "RUN" && r.contains("ca-certificates"))
    );
    for bin in &bins {
        assert!(
            runtime
                .iter()
                .any(|(k, r)| k == "COPY" && r.ends_with(&format!("/usr/local/bin/{bin}"))),
            "{bin} is copied to /usr/local/bin"
        );
    }
    let user = runtime
        .iter()
        .rfind(|(k, _)| k == "USER")
        .expect("a USER in the runtime stage");
    assert!(
        !user.1.starts_with("root") && !user.1.starts_with('0'),
        "non-root: {}",
        user.1
    );
    assert!(
        runtime
            .iter()
            .any(|(k, r)| k == "EXPOSE" && r.split_whitespace().any(|p| p == "8080"))
    );
    let cmd = runtime.iter().rfind(|(k, _)| k == "CMD").expect("a CMD");
    let cmd: Vec<String> = serde_json::from_str(&cmd.1).expect("CMD in exec form");
    assert_eq!(cmd, ["hookrelay-api"]);
    for (_, rest) in runtime.iter().filter(|(k, _)| k == "ENV") {
        let name = rest.split(['=', ' ']).next().unwrap_or_default();
        assert!(
            known_variable(name),
            "Dockerfile sets {name}, which nothing reads"
        );
    }
}

#[test]
fn containers_dockerignore_keeps_the_build_context_small_but_complete() {
    let ignored: Vec<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_matches('/').to_owned())
        .collect();
    assert!(ignored.iter().any(|l| l == "target"), "{ignored:?}");
    assert!(ignored.iter().any(|l| l == ".git"), "{ignored:?}");
    // Every workspace member and the embedded migrations must reach the builder.
    for needed in [
        "shared",
        "api",
        "worker",
        "tests",
        "bench",
        "migrations",
        "Cargo.toml",
        "Cargo.lock",
    ] {
        assert!(
            !ignored.iter().any(|l| l == needed),
            "{needed} must not be ignored"
        );
    }
}

/// The `KEY`s of a compose `environment:` (a map or a list of `KEY=value`).
fn compose_environment(service: &Value) -> Vec<String> {
    match &service["environment"] {
        Value::Mapping(map) => map
            .keys()
            .filter_map(|k| k.as_str().map(str::to_owned))
            .collect(),
        Value::Sequence(items) => items
            .iter()
            .filter_map(|i| i.as_str()?.split('=').next().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn command_of(service: &Value) -> Vec<String> {
    match &service["command"] {
        Value::String(s) => s.split_whitespace().map(str::to_owned).collect(),
        Value::Sequence(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn healthcheck_text(service: &Value) -> String {
    match &service["healthcheck"]["test"] {
        Value::String(s) => s.clone(),
        Value::Sequence(items) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" "),
        other => panic!("no healthcheck test: {other:?}"),
    }
}

#[test]
fn containers_compose_runs_postgres_redis_api_and_worker() {
    let compose = yaml("docker-compose.yml");
    let services = &compose["services"];
    let bins = binaries();

    let postgres = &services["postgres"];
    assert!(
        postgres["image"]
            .as_str()
            .is_some_and(|i| i.starts_with("postgres:"))
    );
    assert!(healthcheck_text(postgres).contains("pg_isready"));

    let redis = &services["redis"];
    assert!(
        redis["image"]
            .as_str()
            .is_some_and(|i| i.starts_with("redis:"))
    );
    let redis_command = command_of(redis).join(" ");
    assert!(
        redis_command.contains("--appendonly yes"),
        "{redis_command}"
    );
    assert!(healthcheck_text(redis).contains("ping"));

    for (name, bin) in [("api", "hookrelay-api"), ("worker", "hookrelay-worker")] {
        let service = &services[name];
        assert!(service.is_mapping(), "service {name}");
        let command = command_of(service);
        assert_eq!(
            command.first().map(String::as_str),
            Some(bin),
            "{name} runs {bin}"
        );
        assert!(bins.contains(bin));
        assert!(
            service["restart"].as_str().is_some_and(|r| r != "no"),
            "{name} restarts"
        );
        for dependency in ["postgres", "redis"] {
            assert_eq!(
                service["depends_on"][dependency]["condition"].as_str(),
                Some("service_healthy"),
                "{name} waits for {dependency}"
            );
        }
        let env = compose_environment(service);
        for var in &env {
            assert!(
                known_variable(var),
                "compose sets {var} for {name}, which nothing reads"
            );
        }
        for var in ["DATABASE_URL", "REDIS_URL"] {
            assert!(env.iter().any(|v| v == var), "{name} gets {var}");
        }
    }

    let api = &services["api"];
    let env = compose_environment(api);
    assert!(
        env.iter().any(|v| v == "API_KEYS"),
        "the api refuses to start without keys"
    );
    let port = api["environment"]["PORT"].as_str().unwrap_or("8080");
    assert_eq!(port, "8080");
    let ports: Vec<&str> = api["ports"]
        .as_sequence()
        .expect("ports")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(ports.iter().any(|p| p.ends_with("8080:8080")), "{ports:?}");
    let health = healthcheck_text(api);
    assert!(
        health.contains("/healthz") && health.contains("8080"),
        "{health}"
    );

    let worker = &services["worker"];
    let metrics = worker["environment"]["METRICS_ADDR"]
        .as_str()
        .expect("METRICS_ADDR");
    let metrics_port = metrics.rsplit(':').next().expect("a port");
    let health = healthcheck_text(worker);
    assert!(
        health.contains("/healthz") && health.contains(metrics_port),
        "{health}"
    );
}

#[test]
fn containers_render_blueprint_wires_api_worker_postgres_and_key_value() {
    let blueprint = yaml("render.yaml");
    let services = blueprint["services"].as_sequence().expect("services");
    let by_type = |t: &str| -> Vec<&Value> {
        services
            .iter()
            .filter(|s| s["type"].as_str() == Some(t))
            .collect()
    };
    let databases: Vec<&str> = blueprint["databases"]
        .as_sequence()
        .expect("databases")
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    let key_values: Vec<&str> = by_type("keyvalue")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(databases.len(), 1, "one managed Postgres");
    assert_eq!(key_values.len(), 1, "one Key Value instance");
    assert_eq!(
        by_type("keyvalue")[0]["maxmemoryPolicy"].as_str(),
        Some("noeviction")
    );

    let web = by_type("web");
    let worker = by_type("worker");
    assert_eq!((web.len(), worker.len()), (1, 1));
    assert_eq!(web[0]["healthCheckPath"].as_str(), Some("/healthz"));
    assert_eq!(web[0]["dockerCommand"].as_str(), Some("hookrelay-api"));
    assert_eq!(
        worker[0]["dockerCommand"].as_str(),
        Some("hookrelay-worker")
    );
    let bins = binaries();

    for service in [web[0], worker[0]] {
        let name = service["name"].as_str().unwrap_or_default();
        assert_eq!(service["runtime"].as_str(), Some("docker"), "{name}");
        assert!(
            root()
                .join(service["dockerfilePath"].as_str().expect("dockerfilePath"))
                .exists()
        );
        assert!(bins.contains(service["dockerCommand"].as_str().unwrap_or_default()));
        let vars = service["envVars"].as_sequence().expect("envVars");
        let keys: Vec<&str> = vars.iter().filter_map(|v| v["key"].as_str()).collect();
        for key in &keys {
            assert!(
                known_variable(key),
                "render.yaml sets {key} for {name}, which nothing reads"
            );
        }
        // Render sets PORT itself; a blueprint value would fight it.
        assert!(!keys.contains(&"PORT"), "{name} leaves PORT to Render");
        let var = |key: &str| {
            vars.iter()
                .find(|v| v["key"].as_str() == Some(key))
                .unwrap_or_else(|| panic!("{name} gets {key}"))
        };
        let db = var("DATABASE_URL");
        assert!(databases.contains(&db["fromDatabase"]["name"].as_str().unwrap_or_default()));
        assert_eq!(
            db["fromDatabase"]["property"].as_str(),
            Some("connectionString")
        );
        let redis = var("REDIS_URL");
        assert_eq!(redis["fromService"]["type"].as_str(), Some("keyvalue"));
        assert!(key_values.contains(&redis["fromService"]["name"].as_str().unwrap_or_default()));
        assert_eq!(
            redis["fromService"]["property"].as_str(),
            Some("connectionString")
        );
    }
    let keys = web[0]["envVars"].as_sequence().expect("envVars");
    let api_keys = keys
        .iter()
        .find(|v| v["key"].as_str() == Some("API_KEYS"))
        .expect("API_KEYS");
    assert!(
        api_keys["generateValue"].as_bool() == Some(true)
            || api_keys["sync"].as_bool() == Some(false),
        "API_KEYS is generated or entered by hand, never committed"
    );
}
