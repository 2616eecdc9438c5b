//! The only place Redis key, stream and group names are built.
//!
//! Every key is `<REDIS_KEY_PREFIX>:{<REDIS_KEY_PREFIX>}:<name>`, e.g.
//! `hookrelay:{hookrelay}:ingest`. It starts with the prefix, as CONTRACT §1 promises (so
//! `SCAN MATCH hookrelay:*` finds a deployment's keys), and carries the prefix again in
//! braces as the Redis Cluster hash tag: all of one deployment's keys live in one slot, so
//! the Lua scripts that touch several of them at once (ingest, retry scheduling, retry
//! promotion) stay legal on a cluster, while different deployments spread over slots. Two
//! deployments with different prefixes share nothing.
//!
//! | key | type | written by | removed by |
//! |---|---|---|---|
//! | `ingest` | stream | api (webhooks), worker (due retries) | worker: XACK + XDEL when an entry is done |
//! | `idem:<key>`, `idem-tenant:<tenant id>:<key>` | string → webhook id (default space, tenants) | api | expires after 24 h |
//! | `queued:<webhook id>` | hash (status before a worker saw it) | api | worker once the webhook is in Postgres (or the api, when its dead letter is deleted); no expiry, so it lives as long as its entry |
//! | `retry` | sorted set, score = due time (ms) | worker | worker, when the retry is moved into `ingest` |
//! | `delayed` | sorted set of webhook ids, score = due time (ms): webhooks ingested with `X-Deliver-At` | api | worker, when the webhook is moved into `ingest` |
//! | `delayed:<webhook id>` | hash: a delayed webhook's stream entry, waiting | api, with `delayed` | worker, with the move |
//! | `<cache>:version` | counter | api on every change of a cached table (`subs`, `tenants`, `apikeys`) | never (one small key each) |
//! | `<cache>:changes` | sorted set `<version>:<row key>`, score = version | api with every bump | trimmed to the last `CHANGE_LOG_LENGTH` |
//! | `purge:lock` | string with expiry | worker running a purge | expiry or the holder |
//! | `dead` | stream | worker (entries it gave up on, with the reason) | api: redrive or DELETE /dead-letters/{id} |
//! | `reconcile:lock` | string with expiry | worker running a reconciliation pass | expiry or the holder |
//! | `throttle:<subscription id>` | hash `tat`, `wake` (µs of Redis's clock): the rate limiter's state | worker, for subscriptions with a `rate_limit` | expiry, set to when it stops constraining anything |
//! | `inbound-limit:<source id>` | string `tat` (µs of Redis's clock): a source's `rate_limit` state | api, for sources with a `rate_limit` | expiry, when it stops constraining anything |
//! | `console:<session id>` | string: a console session (the key's digest and prefix, the CSRF token) | api, at sign-in | sign-out, or expiry (`CONSOLE_SESSION_TTL_SECS`) |

use uuid::Uuid;

/// The consumer group every worker reads `ingest` through.
pub const CONSUMER_GROUP: &str = "workers";

/// How long a console session lasts after sign-in (8 hours: a working day, then sign in
/// again).
pub const CONSOLE_SESSION_TTL_SECS: u64 = 8 * 3600;

/// How long an `Idempotency-Key` is remembered (CONTRACT §4: 24 hours).
pub const IDEMPOTENCY_TTL_SECS: u64 = 24 * 3600;

/// The cached tables' names in their keys (`<cache>:version`, `<cache>:changes`): each is
/// one `cache::Cached::NAME`.
pub const SUBSCRIPTIONS_CACHE: &str = "subs";
/// See [`SUBSCRIPTIONS_CACHE`].
pub const TENANTS_CACHE: &str = "tenants";
/// See [`SUBSCRIPTIONS_CACHE`].
pub const API_KEYS_CACHE: &str = "apikeys";
/// See [`SUBSCRIPTIONS_CACHE`].
pub const SOURCES_CACHE: &str = "sources";

#[derive(Debug, Clone)]
pub struct Keys {
    /// `<prefix>:{<prefix>}`: what every key starts with.
    tag: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Self {
            tag: format!("{prefix}:{{{prefix}}}"),
        }
    }

    /// A pattern that matches every key of this deployment (for SCAN or KEYS).
    pub fn pattern(&self) -> String {
        format!("{}:*", self.tag)
    }

    /// The stream of work: ingested webhooks and retries that have come due.
    pub fn stream(&self) -> String {
        format!("{}:ingest", self.tag)
    }

    /// `Idempotency-Key` → the first request's webhook id, per tenant space: the same key
    /// sent in two tenants names two webhooks. The default space keeps the plain form;
    /// tenants' keys live under another name, so no key sent in one space can collide
    /// with one sent in another, whatever characters it holds.
    pub fn idempotency(&self, tenant: Option<Uuid>, key: &str) -> String {
        match tenant {
            None => format!("{}:idem:{key}", self.tag),
            Some(tenant) => format!("{}:idem-tenant:{tenant}:{key}", self.tag),
        }
    }

    /// What status needs to know about a webhook no worker has stored yet.
    pub fn queued(&self, webhook_id: Uuid) -> String {
        format!("{}{webhook_id}", self.queued_prefix())
    }

    /// What every `queued:` marker's key starts with (for scripts that build one).
    pub fn queued_prefix(&self) -> String {
        format!("{}:queued:", self.tag)
    }

    /// Retries waiting for their time, scored by due time in Unix milliseconds.
    pub fn retry_schedule(&self) -> String {
        format!("{}:retry", self.tag)
    }

    /// Webhooks ingested with `X-Deliver-At`, waiting for their time: webhook ids scored
    /// by due time in Unix milliseconds (rounded up).
    pub fn delayed(&self) -> String {
        format!("{}:delayed", self.tag)
    }

    /// A delayed webhook's stream entry (its fields, but the subscription version, which
    /// is read when it moves), until it moves into the stream.
    pub fn delayed_entry(&self, webhook_id: Uuid) -> String {
        format!("{}{webhook_id}", self.delayed_entry_prefix())
    }

    /// What every `delayed:<webhook id>` key starts with (for the script that moves them).
    pub fn delayed_entry_prefix(&self) -> String {
        format!("{}:delayed:", self.tag)
    }

    /// Bumped on every change of the rows cached as `name` (`cache::Cached::NAME`);
    /// caches reload when it moves.
    pub fn cache_version(&self, name: &str) -> String {
        format!("{}:{name}:version", self.tag)
    }

    /// Which row each version bump of cache `name` was about, so caches reload only what
    /// changed.
    pub fn cache_changes(&self, name: &str) -> String {
        format!("{}:{name}:changes", self.tag)
    }

    /// Held (with an expiry) by the one worker running a scheduled purge.
    pub fn purge_lock(&self) -> String {
        format!("{}:purge:lock", self.tag)
    }

    /// Dead letters: stream entries a worker gave up on (undecodable, or redelivered more
    /// than `MAX_ENTRY_REDELIVERIES` times), each with the original fields and the reason.
    pub fn dead_letters(&self) -> String {
        format!("{}:dead", self.tag)
    }

    /// Held (with an expiry) by the one worker running a reconciliation pass.
    pub fn reconcile_lock(&self) -> String {
        format!("{}:reconcile:lock", self.tag)
    }

    /// The rate limiter's state for one subscription with a `rate_limit`: when its next
    /// attempt may start, and the last turn handed to a waiting one.
    pub fn throttle(&self, subscription_id: Uuid) -> String {
        format!("{}:throttle:{subscription_id}", self.tag)
    }

    /// The inbound rate limiter's state for one source with a `rate_limit`, shared by
    /// every api process.
    pub fn inbound_limit(&self, source_id: Uuid) -> String {
        format!("{}:inbound-limit:{source_id}", self.tag)
    }

    /// A console session, by its random id (the cookie's value).
    pub fn console_session(&self, session_id: &str) -> String {
        format!("{}:console:{session_id}", self.tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_starts_with_the_prefix_and_carries_it_as_a_hash_tag() {
        let keys = Keys::new("tenant-a");
        let id = Uuid::nil();
        for key in [
            keys.stream(),
            keys.idempotency(None, "k"),
            keys.idempotency(Some(id), "k"),
            keys.queued(id),
            keys.retry_schedule(),
            keys.delayed(),
            keys.delayed_entry(id),
            keys.cache_version(SUBSCRIPTIONS_CACHE),
            keys.cache_changes(SUBSCRIPTIONS_CACHE),
            keys.purge_lock(),
            keys.dead_letters(),
            keys.reconcile_lock(),
            keys.throttle(id),
            keys.inbound_limit(id),
        ] {
            assert!(key.starts_with("tenant-a:"), "{key}");
            // Redis Cluster hashes the text between the first `{` and the next `}`.
            let tag = key
                .split_once('{')
                .and_then(|(_, rest)| rest.split_once('}'))
                .map(|(tag, _)| tag);
            assert_eq!(tag, Some("tenant-a"), "{key}");
        }
    }
}
