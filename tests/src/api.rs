//! The api in-process on port 0, with request helpers that authenticate by default, and
//! the readers of its answers the tests share ([`json`], [`text`], [`webhook_id`],
//! [`assert_timestamp`]).

use std::fmt::Display;

use hookrelay_api::startup::Application;
use hookrelay_shared::Config;
use reqwest::{Body, Method, RequestBuilder, Response};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub struct TestApi {
    pub base_url: String,
    pub client: reqwest::Client,
    shutdown: CancellationToken,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApi {
    pub async fn spawn(config: Config) -> Self {
        crate::ensure_crypto_provider();
        // An IPv6 HOST (`::1`) is reached there; anything else on IPv4 loopback.
        let host = match config.server.host.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V6(v6)) => format!("[{v6}]"),
            _ => "127.0.0.1".to_owned(),
        };
        let app = Application::build(config).await.expect("the api starts");
        let base_url = format!("http://{host}:{}", app.port());
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(app.run_until_stopped(shutdown.clone()));
        Self {
            base_url,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a client"),
            shutdown,
            server: Some(server),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Requests with another bearer key (a stored key, say).
    pub fn as_key<'a>(&'a self, key: &'a str) -> Caller<'a> {
        Caller { api: self, key }
    }

    fn admin(&self) -> Caller<'_> {
        self.as_key(crate::API_KEY)
    }

    /// A request with the test bearer key.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.admin().request(method, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.admin().get(path).await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.admin().delete(path).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.admin().post_json(path, body).await
    }

    pub async fn patch_json(&self, path: &str, body: &Value) -> Response {
        self.admin().patch_json(path, body).await
    }

    /// Creates a subscription and returns its JSON, asserting 201.
    pub async fn create_subscription(&self, body: &Value) -> Value {
        self.admin().create_subscription(body).await
    }

    /// Creates a subscription from `body` and returns only its id, asserting 201.
    pub async fn create_subscription_id(&self, body: &Value) -> String {
        self.admin().create_subscription_id(body).await
    }

    /// POSTs `body` to an ingest `path` (`/ingest` or `/ingest/{subscription_id}`).
    pub async fn send_ingest(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Response {
        self.admin().send_ingest(path, headers, body).await
    }

    /// Ingests `body` at `path`; the status and JSON.
    pub async fn ingest_at(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> (u16, Value) {
        self.admin().ingest_at(path, headers, body).await
    }

    /// Ingests `body` at `path`, asserts 202 and returns the webhook id.
    pub async fn ingest_accepted(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Uuid {
        self.admin().ingest_accepted(path, headers, body).await
    }

    /// `GET /status/{webhook_id}`, asserting 200.
    pub async fn webhook_status(&self, webhook_id: impl Display) -> Value {
        let (status, body) = json(self.get(&format!("/status/{webhook_id}")).await).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The `/metrics` page, fetched without a key as Prometheus does.
    pub async fn metrics_page(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("GET /metrics sent")
            .text()
            .await
            .expect("a metrics page")
    }

    /// Creates a tenant named `name` and returns its id, asserting 201.
    pub async fn create_tenant(&self, name: &str) -> String {
        let (status, tenant) = json(
            self.post_json("/tenants", &serde_json::json!({ "name": name }))
                .await,
        )
        .await;
        assert_eq!(status, 201, "{tenant}");
        tenant["id"].as_str().expect("an id").to_owned()
    }

    /// Creates a stored key from `body` and returns its object (with `key`), asserting 201.
    pub async fn create_key(&self, body: &Value) -> Value {
        self.admin().create_key(body).await
    }

    /// Creates a tenant named `name` and a key of it with every permission (the key's
    /// name is the tenant's too).
    pub async fn create_tenant_key(&self, name: &str) -> TenantKey {
        let tenant_id = self.create_tenant(name).await;
        let key = self
            .create_key(&serde_json::json!({"name": name, "tenant_id": tenant_id}))
            .await;
        TenantKey {
            tenant_id,
            key_id: text(&key, "id").to_owned(),
            key: text(&key, "key").to_owned(),
        }
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stopped cleanly");
        }
    }
}

/// A tenant and a stored key of it with every permission.
pub struct TenantKey {
    pub tenant_id: String,
    pub key_id: String,
    /// The bearer key itself (`hrk_…`).
    pub key: String,
}

/// Requests to a [`TestApi`] with a given bearer key.
pub struct Caller<'a> {
    api: &'a TestApi,
    key: &'a str,
}

impl Caller<'_> {
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.api
            .client
            .request(method, self.api.url(path))
            .bearer_auth(self.key)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path)
            .send()
            .await
            .expect("GET sent")
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.request(Method::DELETE, path)
            .send()
            .await
            .expect("DELETE sent")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.request(Method::POST, path)
            .json(body)
            .send()
            .await
            .expect("POST sent")
    }

    pub async fn patch_json(&self, path: &str, body: &Value) -> Response {
        self.request(Method::PATCH, path)
            .json(body)
            .send()
            .await
            .expect("PATCH sent")
    }

    /// Creates a subscription and returns its JSON, asserting 201.
    pub async fn create_subscription(&self, body: &Value) -> Value {
        let response = self.post_json("/subscriptions", body).await;
        assert_eq!(response.status(), 201, "creating {body}");
        response.json().await.expect("JSON")
    }

    /// Creates a stored key and returns its object (with `key`), asserting 201.
    pub async fn create_key(&self, body: &Value) -> Value {
        let (status, key) = json(self.post_json("/api-keys", body).await).await;
        assert_eq!(status, 201, "creating a key from {body}: {key}");
        key
    }

    /// Creates a subscription from `body` and returns only its id, asserting 201.
    pub async fn create_subscription_id(&self, body: &Value) -> String {
        text(&self.create_subscription(body).await, "id").to_owned()
    }

    /// POSTs `body` to an ingest `path` (`/ingest` or `/ingest/{subscription_id}`) with
    /// `headers`, as it is: no content type is added.
    pub async fn send_ingest(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Response {
        let mut request = self.request(Method::POST, path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(body).send().await.expect("POST sent")
    }

    /// Ingests `body` at `path` with `headers`; the status and JSON.
    pub async fn ingest_at(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> (u16, Value) {
        json(self.send_ingest(path, headers, body).await).await
    }

    /// Ingests `body` by fan-out with these headers; returns the status and JSON.
    pub async fn ingest(&self, headers: &[(&str, &str)], body: &str) -> (u16, Value) {
        self.ingest_at("/ingest", headers, body.to_owned()).await
    }

    /// Ingests `body` at `path` with `headers`, asserts 202 and returns the webhook id.
    pub async fn ingest_accepted(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Uuid {
        let (status, accepted) = self.ingest_at(path, headers, body).await;
        assert_eq!(status, 202, "ingest at {path}: {accepted}");
        webhook_id(&accepted)
    }
}

impl Drop for TestApi {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Status and JSON body of a response.
pub async fn json(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

/// The string at `value[field]`; panics naming the field and the value.
pub fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("no string {field} in {value}"))
}

/// The `webhook_id` of an ingest answer (or of anything else that carries one).
pub fn webhook_id(body: &Value) -> Uuid {
    text(body, "webhook_id").parse().expect("a UUID")
}

/// Asserts that `value` is a timestamp as the contract writes them: RFC 3339 in UTC with
/// six fractional digits (`2026-11-22T15:04:02.551966Z`).
pub fn assert_timestamp(value: &Value) {
    let s = value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is not a string"));
    assert_eq!(s.len(), 27, "{s}");
    assert!(s.ends_with('Z') && s.as_bytes()[19] == b'.', "{s}");
    assert!(chrono::DateTime::parse_from_rfc3339(s).is_ok(), "{s}");
}
