//! Connections to destinations, shared by attempts (CONTRACT §15).
//!
//! A [`Connector`] says how to open a connection to an address (a broker URL, a list of
//! Kafka brokers, an S3 bucket) and whether one is still open; a [`Pool`] keeps one
//! connection per address:
//! - attempts to the same address share it, and only one of them opens it;
//! - one found closed (the broker restarted, the channel was closed by an error) is
//!   replaced by the next attempt;
//! - after a failed connect, attempts in the next [`CONNECT_BACKOFF`] fail at once with
//!   the same error instead of each waiting on a broker that is down, so a dead broker
//!   holds permits for no longer than one connect;
//! - the whole attempt (resolving, connecting, publishing, waiting for the broker's
//!   acknowledgement) is bounded by the subscription's timeout, and a connection whose
//!   publish ran out of time is dropped;
//! - connections unused for a while are closed ([`Pool::close_idle`]);
//! - hosts are checked against `ALLOW_PRIVATE_TARGETS` when a connection is opened.
//!
//! Addresses are distinct per destination settings, so a broker that is down or slow
//! never holds up attempts to another.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::message::{Ack, Failure};
use crate::delivery::human_duration;
use crate::http_client::{DNS_TIMEOUT, DnsFailure, RefusedAddress, keep_global, within};

/// How long after a failed connect attempts to the same address fail without trying.
pub const CONNECT_BACKOFF: Duration = Duration::from_secs(1);

/// How to open connections of one destination type.
pub trait Connector: Send + Sync + 'static {
    /// What a connection is opened to.
    type Address: ?Sized + Sync;
    type Connection: Send + Sync + 'static;

    /// Whether a connection whose publish ran out of time is replaced (a client that
    /// reconnects by itself and keeps its own queue, as Kafka's, is kept).
    const REPLACE_AFTER_TIMEOUT: bool = true;

    /// Which connection serves `address` (may hold credentials: never logged).
    fn key(address: &Self::Address) -> String;

    /// The `host:port`s a connection to `address` reaches, checked against the
    /// private-target rule before connecting.
    fn hosts(address: &Self::Address) -> Vec<(String, u16)>;

    /// Opens a connection; `Err` says why not, in an operator's words.
    fn connect(
        &self,
        address: &Self::Address,
    ) -> impl Future<Output = Result<Self::Connection, String>> + Send;

    /// Whether it can still be used (a closed one is replaced).
    fn is_open(connection: &Self::Connection) -> bool;

    /// Closes a connection the pool let go of.
    fn close(connection: Arc<Self::Connection>) {
        drop(connection);
    }
}

struct Slot<T> {
    state: tokio::sync::Mutex<SlotState<T>>,
    last_used: Mutex<Instant>,
}

struct SlotState<T> {
    connection: Option<Arc<T>>,
    /// When the last connect failed, and why.
    failed: Option<(Instant, Failure)>,
}

/// One connection per address, for one [`Connector`].
pub struct Pool<C: Connector> {
    connector: C,
    allow_private: bool,
    slots: Mutex<HashMap<String, Arc<Slot<C::Connection>>>>,
}

impl<C: Connector> Pool<C> {
    pub fn new(connector: C, allow_private: bool) -> Self {
        Self {
            connector,
            allow_private,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// Runs `send` on the connection to `address` (opened if need be), all within
    /// `timeout`.
    pub async fn with_connection<F, Fut>(
        &self,
        address: &C::Address,
        timeout: Duration,
        send: F,
    ) -> Result<Ack, Failure>
    where
        F: FnOnce(Arc<C::Connection>) -> Fut,
        Fut: Future<Output = Result<Ack, Failure>>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        let slot = self.slot(C::key(address));
        let connection = self.connection(&slot, address, deadline, timeout).await?;
        let result = match tokio::time::timeout_at(deadline, send(Arc::clone(&connection))).await {
            Ok(result) => result,
            Err(_) => {
                // A broker that stopped answering: the next attempt connects afresh.
                if C::REPLACE_AFTER_TIMEOUT {
                    self.evict(&slot, &connection).await;
                }
                return Err(timed_out(timeout, "waiting for the acknowledgement"));
            }
        };
        if result.is_err() && !C::is_open(&connection) {
            self.evict(&slot, &connection).await;
        }
        *lock(&slot.last_used) = Instant::now();
        result
    }

    fn slot(&self, key: String) -> Arc<Slot<C::Connection>> {
        let mut slots = lock(&self.slots);
        Arc::clone(slots.entry(key).or_insert_with(|| {
            Arc::new(Slot {
                state: tokio::sync::Mutex::new(SlotState {
                    connection: None,
                    failed: None,
                }),
                last_used: Mutex::new(Instant::now()),
            })
        }))
    }

    /// The slot's open connection, or a new one (one attempt connects; the others wait),
    /// by `deadline`. A connect that fails or runs out of time is remembered for
    /// [`CONNECT_BACKOFF`], so the attempts that waited behind it fail at once.
    async fn connection(
        &self,
        slot: &Slot<C::Connection>,
        address: &C::Address,
        deadline: tokio::time::Instant,
        timeout: Duration,
    ) -> Result<Arc<C::Connection>, Failure> {
        let Ok(mut state) = tokio::time::timeout_at(deadline, slot.state.lock()).await else {
            return Err(timed_out(timeout, "waiting for another attempt's connect"));
        };
        if let Some(connection) = &state.connection {
            if C::is_open(connection) {
                return Ok(Arc::clone(connection));
            }
            if let Some(closed) = state.connection.take() {
                C::close(closed);
            }
        }
        if let Some((at, failure)) = &state.failed
            && at.elapsed() < CONNECT_BACKOFF
        {
            return Err(Failure {
                error: format!(
                    "{} (a connect less than {} ago; not tried again yet)",
                    failure.error,
                    human_duration(CONNECT_BACKOFF)
                ),
                retryable: failure.retryable,
            });
        }
        let connect = async {
            if !self.allow_private {
                check_hosts(&C::hosts(address)).await?;
            }
            self.connector
                .connect(address)
                .await
                .map_err(Failure::retry)
        };
        let connected = tokio::time::timeout_at(deadline, connect)
            .await
            .unwrap_or_else(|_| Err(timed_out(timeout, "connecting")));
        match connected {
            Ok(connection) => {
                let connection = Arc::new(connection);
                state.connection = Some(Arc::clone(&connection));
                state.failed = None;
                Ok(connection)
            }
            Err(failure) => {
                state.failed = Some((Instant::now(), failure.clone()));
                Err(failure)
            }
        }
    }

    /// Drops `connection` from the slot, if it is still the slot's.
    async fn evict(&self, slot: &Slot<C::Connection>, connection: &Arc<C::Connection>) {
        let mut state = slot.state.lock().await;
        if state
            .connection
            .as_ref()
            .is_some_and(|current| Arc::ptr_eq(current, connection))
            && let Some(gone) = state.connection.take()
        {
            C::close(gone);
        }
    }

    /// Closes the connections no attempt has used for `idle` (and that none is using).
    pub fn close_idle(&self, idle: Duration) -> usize {
        let mut closed = 0;
        lock(&self.slots).retain(|_, slot| {
            let in_use = Arc::strong_count(slot) > 1;
            if in_use || lock(&slot.last_used).elapsed() < idle {
                return true;
            }
            match slot.state.try_lock() {
                Ok(mut state) => {
                    if let Some(connection) = state.connection.take() {
                        C::close(connection);
                        closed += 1;
                    }
                    false
                }
                // Someone is connecting right now.
                Err(_) => true,
            }
        });
        closed
    }

    /// Open connections.
    pub fn len(&self) -> usize {
        lock(&self.slots)
            .values()
            .filter(|slot| {
                slot.state
                    .try_lock()
                    .map_or(true, |state| state.connection.is_some())
            })
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn timed_out(timeout: Duration, while_: &str) -> Failure {
    Failure::retry(format!(
        "timed out after {} {while_}",
        human_duration(timeout)
    ))
}

/// Runs `work` within `timeout` (for destinations without connections: files).
pub async fn bounded(
    timeout: Duration,
    work: impl Future<Output = Result<Ack, Failure>>,
) -> Result<Ack, Failure> {
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| Err(timed_out(timeout, "writing")))
}

/// Refuses hosts that resolve to non-global addresses only (`ALLOW_PRIVATE_TARGETS=false`),
/// with the HTTP client's own lookup and rule. Final: a refused host fails its delivery at
/// once.
async fn check_hosts(hosts: &[(String, u16)]) -> Result<(), Failure> {
    for (host, port) in hosts {
        let found = within(
            DNS_TIMEOUT,
            host,
            tokio::net::lookup_host((host.as_str(), *port)),
        )
        .await
        .map_err(|failure: DnsFailure| Failure::retry(failure.to_string()))?;
        keep_global(host, found)
            .map_err(|refused: RefusedAddress| Failure::permanent(refused.to_string()))?;
    }
    Ok(())
}

/// A URL's host and port (or `default_port`), for [`Connector::hosts`].
pub fn url_host(url: &str, default_port: u16) -> Vec<(String, u16)> {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            let host = u.host_str()?.trim_matches(['[', ']']).to_owned();
            Some(vec![(host, u.port().unwrap_or(default_port))])
        })
        .unwrap_or_default()
}

/// A URL's user info as text (`%40` → `@`).
pub fn percent_decode(part: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", part.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use super::*;

    /// A connector whose connections are flags: it counts connects and can be told to
    /// refuse them.
    #[derive(Default)]
    struct Flags {
        connects: Arc<AtomicUsize>,
        refuse: Arc<AtomicBool>,
    }

    impl Connector for Flags {
        type Address = str;
        type Connection = AtomicBool;

        fn key(address: &str) -> String {
            address.to_owned()
        }

        fn hosts(_: &str) -> Vec<(String, u16)> {
            Vec::new()
        }

        async fn connect(&self, _: &str) -> Result<AtomicBool, String> {
            self.connects.fetch_add(1, Ordering::SeqCst);
            if self.refuse.load(Ordering::SeqCst) {
                return Err("connection refused".into());
            }
            Ok(AtomicBool::new(true))
        }

        fn is_open(open: &AtomicBool) -> bool {
            open.load(Ordering::SeqCst)
        }
    }

    const SECOND: Duration = Duration::from_secs(1);

    async fn ack(_: Arc<AtomicBool>) -> Result<Ack, Failure> {
        Ok("ack".to_owned())
    }

    #[tokio::test]
    async fn attempts_share_one_connection_per_address_and_replace_a_closed_one() {
        let flags = Flags::default();
        let connects = Arc::clone(&flags.connects);
        let pool = Pool::new(flags, true);
        for _ in 0..3 {
            pool.with_connection("a", SECOND, ack).await.expect("sent");
        }
        pool.with_connection("b", SECOND, ack).await.expect("sent");
        assert_eq!((connects.load(Ordering::SeqCst), pool.len()), (2, 2));
        // The broker closed it: the next attempt connects afresh.
        pool.with_connection("a", SECOND, |open| async move {
            open.store(false, Ordering::SeqCst);
            Err(Failure::retry("connection reset"))
        })
        .await
        .expect_err("failed");
        pool.with_connection("a", SECOND, ack).await.expect("sent");
        assert_eq!(connects.load(Ordering::SeqCst), 3);
        // Idle ones are closed.
        assert_eq!(pool.close_idle(Duration::ZERO), 2);
        assert!(pool.is_empty());
    }

    #[tokio::test]
    async fn a_failed_connect_fails_the_next_seconds_attempts_without_trying() {
        let flags = Flags::default();
        flags.refuse.store(true, Ordering::SeqCst);
        let connects = Arc::clone(&flags.connects);
        let pool = Pool::new(flags, true);
        let first = pool
            .with_connection("a", SECOND, ack)
            .await
            .expect_err("refused");
        assert_eq!(first.error, "connection refused");
        let second = pool
            .with_connection("a", SECOND, ack)
            .await
            .expect_err("refused");
        assert!(
            second.error.contains("not tried again yet"),
            "{}",
            second.error
        );
        assert_eq!(connects.load(Ordering::SeqCst), 1, "one connect for both");
        // Another address is not held up.
        let other = pool
            .with_connection("b", SECOND, ack)
            .await
            .expect_err("refused");
        assert_eq!(other.error, "connection refused");
    }

    #[tokio::test]
    async fn an_acknowledgement_that_never_comes_ends_at_the_timeout_and_drops_the_connection() {
        let flags = Flags::default();
        let connects = Arc::clone(&flags.connects);
        let pool = Pool::new(flags, true);
        let timeout = Duration::from_millis(50);
        let failure = pool
            .with_connection("a", timeout, |_| std::future::pending())
            .await
            .expect_err("no answer");
        assert_eq!(
            failure.error,
            "timed out after 50ms waiting for the acknowledgement"
        );
        pool.with_connection("a", SECOND, ack).await.expect("sent");
        assert_eq!(
            connects.load(Ordering::SeqCst),
            2,
            "a new connection after the timeout"
        );
    }
}
