//! The API over HTTP: one request, its JSON answer, or the API's `detail` as an error.
//! Requests go only to [`Path`]s from the route table in `paths`, with a method it declares.

use anyhow::Context as _;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::paths::Path;

/// Why a command failed: the API refused (exit 1, its `detail` on stderr), or it could not
/// be reached (exit 1 too, with the cause).
#[derive(Debug)]
pub enum Failure {
    Api { status: StatusCode, detail: String },
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Self::Other(e)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Api { status, detail } => write!(f, "{}: {detail}", status.as_u16()),
            Self::Other(e) => write!(f, "{e:#}"),
        }
    }
}

pub type Outcome<T> = Result<T, Failure>;

pub struct Client {
    base: url::Url,
    key: Option<String>,
    http: reqwest::Client,
}

/// A request body.
pub enum Body {
    None,
    Json(Value),
    Raw(Vec<u8>),
}

impl Client {
    pub fn new(base: &str, key: Option<String>) -> anyhow::Result<Self> {
        // reqwest is built without a default TLS provider (the workspace picks ring).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let base = url::Url::parse(base).with_context(|| format!("{base:?} is not a URL"))?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("hookrelay-cli/", env!("CARGO_PKG_VERSION")))
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .context("building the HTTP client")?;
        Ok(Self { base, key, http })
    }

    /// `path` with `query` pairs (empty values left out).
    pub fn url(&self, path: &Path, query: &[(&str, String)]) -> anyhow::Result<url::Url> {
        // A URL resolves `.` and `..` segments (percent-encoded too), and an empty id leaves
        // `/subscriptions/`, the list: such an id would reach another route, so it is refused.
        let mut segments = path.as_str().split('/').skip(1);
        if segments.any(|s| matches!(s, "" | "." | "..")) {
            anyhow::bail!("{:?}: an id cannot be empty, `.` or `..`", path.as_str());
        }
        let mut url = self
            .base
            .join(path.as_str().trim_start_matches('/'))
            .with_context(|| format!("{:?} is not a path", path.as_str()))?;
        {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in query.iter().filter(|(_, v)| !v.is_empty()) {
                pairs.append_pair(name, value);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        Ok(url)
    }

    /// Sends one request; a 2xx answers its JSON (`null` for an empty body). A method the
    /// route table does not declare for `path` is refused before anything is sent.
    pub async fn request(
        &self,
        method: Method,
        path: &Path,
        query: &[(&str, String)],
        body: Body,
        headers: &[(&str, String)],
    ) -> Outcome<Value> {
        if !path.allows(method.as_str()) {
            return Err(anyhow::anyhow!(
                "{method} {} is not in the CLI's route table (cli/src/paths.rs)",
                path.template()
            )
            .into());
        }
        let url = self.url(path, query)?;
        let shown = format!("{method} {url}");
        let mut request = self.http.request(method, url);
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        request = match body {
            Body::None => request,
            Body::Json(value) => request.json(&value),
            Body::Raw(bytes) => request.body(bytes),
        };
        let response = request
            .send()
            .await
            .with_context(|| format!("{shown}: the API did not answer"))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .with_context(|| format!("{shown}: the answer did not arrive"))?;
        let json: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if status.is_success() {
            return Ok(json);
        }
        Err(Failure::Api {
            status,
            detail: detail_of(&json),
        })
    }

    pub async fn get(&self, path: &Path, query: &[(&str, String)]) -> Outcome<Value> {
        self.request(Method::GET, path, query, Body::None, &[])
            .await
    }

    pub async fn post(&self, path: &Path, body: Value) -> Outcome<Value> {
        self.request(Method::POST, path, &[], Body::Json(body), &[])
            .await
    }

    pub async fn patch(&self, path: &Path, body: Value) -> Outcome<Value> {
        self.request(Method::PATCH, path, &[], Body::Json(body), &[])
            .await
    }

    pub async fn delete(&self, path: &Path) -> Outcome<Value> {
        self.request(Method::DELETE, path, &[], Body::None, &[])
            .await
    }
}

/// The API's `detail`: a string, or field errors as `loc: msg` lines.
fn detail_of(body: &Value) -> String {
    match body.get("detail") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(errors)) => errors
            .iter()
            .map(|e| {
                let loc: Vec<String> = e["loc"]
                    .as_array()
                    .map(|parts| {
                        parts
                            .iter()
                            .skip(1)
                            .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                format!("{}: {}", loc.join("."), e["msg"].as_str().unwrap_or(""))
            })
            .collect::<Vec<_>>()
            .join("\n"),
        _ => body.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths;

    #[test]
    fn field_errors_read_as_lines() {
        let body = serde_json::json!({"detail": [
            {"loc": ["body", "target_url"], "msg": "Field required", "type": "missing"},
            {"loc": ["body", "events", 0], "msg": "bad", "type": "value_error"},
        ]});
        assert_eq!(
            detail_of(&body),
            "target_url: Field required\nevents.0: bad"
        );
        assert_eq!(
            detail_of(&serde_json::json!({"detail": "Subscription not found"})),
            "Subscription not found"
        );
    }

    #[test]
    fn empty_query_values_are_left_out() {
        let client = Client::new("http://127.0.0.1:8080/", None).expect("client");
        let url = client
            .url(
                &paths::webhooks(),
                &[("status", "failed".into()), ("event_type", String::new())],
            )
            .expect("url");
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/webhooks?status=failed");
        let bare = client.url(&paths::status("x"), &[]).expect("url");
        assert_eq!(bare.as_str(), "http://127.0.0.1:8080/status/x");
    }

    #[tokio::test]
    async fn a_method_the_table_does_not_declare_is_refused_unsent() {
        // Port 9 (discard) on loopback: were the request sent, it would fail differently.
        let client = Client::new("http://127.0.0.1:9/", None).expect("client");
        let refused = client
            .request(Method::POST, &paths::status("x"), &[], Body::None, &[])
            .await
            .expect_err("POST /status/{webhook_id} is not declared");
        assert!(
            refused
                .to_string()
                .contains("POST /status/{webhook_id} is not in"),
            "{refused}"
        );
    }

    #[test]
    fn ids_a_url_would_resolve_away_are_refused() {
        let client = Client::new("http://127.0.0.1:8080/", None).expect("client");
        for id in ["", ".", ".."] {
            let refused = client.url(&paths::subscription(id), &[]);
            assert!(refused.is_err(), "{id:?}: {refused:?}");
        }
        let dots = client.url(&paths::subscription("..."), &[]).expect("url");
        assert_eq!(dots.as_str(), "http://127.0.0.1:8080/subscriptions/...");
        let slash = client.url(&paths::tenant("../x"), &[]).expect("url");
        assert_eq!(slash.as_str(), "http://127.0.0.1:8080/tenants/..%2Fx");
    }
}
