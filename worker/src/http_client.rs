//! The one HTTP client every delivery attempt goes through, and the SSRF guard.
//!
//! One `reqwest::Client` per process keeps connections pooled per host. It never follows
//! redirects (a 3xx is a failed attempt), never uses a proxy (a proxy would connect on
//! our behalf to addresses we never checked) and applies `DELIVERY_TIMEOUT` to the
//! whole request.
//!
//! With `ALLOW_PRIVATE_TARGETS=false` names are resolved by [`GuardedResolver`], which
//! keeps only globally routable addresses: the connection is made to an address that was
//! checked, so a DNS answer that changes between check and connect cannot slip through.
//! Literal IP hosts and `localhost` never reach a resolver, so [`check_target`] refuses
//! them before a request is built.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hookrelay_shared::targets::{self, TargetError};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Host;

/// The longest one DNS lookup of a target may take. The system resolver runs on a
/// blocking thread that cannot be cancelled; past this the attempt stops waiting for it
/// (and at exit the runtime abandons it, see `hookrelay_shared::startup::EXIT_GRACE`).
pub(crate) const DNS_TIMEOUT: Duration = Duration::from_secs(5);

/// A target that `ALLOW_PRIVATE_TARGETS=false` forbids. Its text, which is what the
/// attempt's `error` says, names the addresses (CONTRACT §5) and, for a name, the host:
/// `refused non-global address 127.0.0.1, ::1 for host localhost`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused non-global address {}{}", .addresses.join(", "), .host.as_ref().map(|h| format!(" for host {h}")).unwrap_or_default())]
pub struct RefusedAddress {
    addresses: Vec<String>,
    /// The name that resolved to them; `None` for an IP literal.
    host: Option<String>,
}

impl RefusedAddress {
    fn new(addresses: impl IntoIterator<Item = IpAddr>, host: Option<&str>) -> Self {
        let mut addresses: Vec<String> = addresses.into_iter().map(|a| a.to_string()).collect();
        addresses.dedup();
        Self {
            addresses,
            host: host.map(str::to_owned),
        }
    }
}

/// A name that did not resolve.
#[derive(Debug, thiserror::Error)]
#[error("DNS lookup failed: {0}")]
pub struct DnsFailure(pub String);

/// Builds the delivery client. It keeps up to `max_in_flight` (`WORKER_CONCURRENCY`) idle
/// connections per host: with fewer, a receiver taking every attempt in flight sees
/// connections closed after each burst and opened again for the next (measured: with 64
/// kept at 256 in flight, `connect` and `shutdown` were 4% of the worker's CPU).
pub fn build(
    delivery_timeout: Duration,
    allow_private_targets: bool,
    max_in_flight: usize,
) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(delivery_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .pool_max_idle_per_host(max_in_flight)
        .pool_idle_timeout(Duration::from_secs(60))
        .tcp_nodelay(true)
        .dns_resolver(GuardedResolver {
            allow_private: allow_private_targets,
        })
        .build()
        .map_err(|e| anyhow::anyhow!("Failed to build the delivery HTTP client: {e}"))
}

/// Checks a target URL's literal host (an IP, or `localhost`) before sending; names are
/// checked by the resolver once resolved. `Ok` means the request may be sent.
pub fn check_target(url: &str, allow_private: bool) -> Result<(), TargetCheck> {
    let url = targets::parse_target_url(url, true).map_err(|e| match e {
        TargetError::Invalid(reason) | TargetError::Private(reason) => TargetCheck::Invalid(reason),
    })?;
    if allow_private {
        return Ok(());
    }
    let Some(host) = url.host() else {
        return Ok(());
    };
    match targets::refused_without_lookup(&host) {
        None => Ok(()),
        Some(addresses) => {
            let name = match host {
                Host::Domain(name) => Some(name),
                Host::Ipv4(_) | Host::Ipv6(_) => None,
            };
            Err(TargetCheck::Refused(RefusedAddress::new(addresses, name)))
        }
    }
}

/// Why a target was not even tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetCheck {
    Refused(RefusedAddress),
    Invalid(String),
}

/// Resolves with the system resolver and, unless private targets are allowed, keeps only
/// global addresses.
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: reqwest puts the URL's port (or the scheme's default) in its place.
            let found = within(
                DNS_TIMEOUT,
                &host,
                tokio::net::lookup_host((host.as_str(), 0)),
            )
            .await?;
            let addrs = if allow_private {
                found
            } else {
                keep_global(&host, found)?
            };
            if addrs.is_empty() {
                return Err(DnsFailure(format!("{host}: no addresses")).into());
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Waits at most `limit` for a lookup of `host`.
pub(crate) async fn within<I: Iterator<Item = SocketAddr>>(
    limit: Duration,
    host: &str,
    lookup: impl std::future::Future<Output = std::io::Result<I>>,
) -> Result<Vec<SocketAddr>, DnsFailure> {
    match tokio::time::timeout(limit, lookup).await {
        Ok(Ok(found)) => Ok(found.collect()),
        Ok(Err(e)) => Err(DnsFailure(format!("{host}: {e}"))),
        Err(_) => Err(DnsFailure(format!("{host}: no answer within {limit:?}"))),
    }
}

/// The global addresses among `found`, or an error naming the refused ones.
pub fn keep_global(host: &str, found: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, RefusedAddress> {
    let (global, refused): (Vec<SocketAddr>, Vec<SocketAddr>) =
        found.into_iter().partition(|a| targets::is_global(a.ip()));
    if global.is_empty() && !refused.is_empty() {
        let refused = RefusedAddress::new(refused.iter().map(SocketAddr::ip), Some(host));
        tracing::debug!(host, %refused, "refused a target resolving to non-global addresses");
        return Err(refused);
    }
    Ok(global)
}

/// Finds one of our own errors (refused address, DNS failure) in an error's source
/// chain, where reqwest and hyper wrap them.
pub fn find_cause<'a, E: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a E> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<E>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

/// Whether any error in the chain is an I/O error of this kind.
pub fn has_io_kind(err: &(dyn std::error::Error + 'static), kind: std::io::ErrorKind) -> bool {
    find_cause::<std::io::Error>(err).is_some_and(|e| e.kind() == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_global_addresses_survive_resolution() {
        let addr = |s: &str| SocketAddr::new(s.parse().expect("ip"), 0);
        let kept =
            keep_global("mixed", vec![addr("10.0.0.1"), addr("8.8.8.8")]).expect("one global");
        assert_eq!(kept, vec![addr("8.8.8.8")]);
        let err =
            keep_global("private", vec![addr("127.0.0.1"), addr("::1")]).expect_err("none global");
        assert_eq!(
            err.to_string(),
            "refused non-global address 127.0.0.1, ::1 for host private"
        );
    }

    fn refusal(url: &str) -> String {
        match check_target(url, false) {
            Err(TargetCheck::Refused(refused)) => refused.to_string(),
            other => panic!("{url} is refused, not {other:?}"),
        }
    }

    #[test]
    fn literal_private_hosts_are_refused_before_sending_naming_the_address() {
        assert_eq!(
            refusal("http://127.0.0.1:9/"),
            "refused non-global address 127.0.0.1"
        );
        assert_eq!(refusal("http://[::1]:9/"), "refused non-global address ::1");
        assert_eq!(
            refusal("http://localhost:9/"),
            "refused non-global address 127.0.0.1, ::1 for host localhost"
        );
        assert_eq!(check_target("http://127.0.0.1:9/", true), Ok(()));
        assert_eq!(check_target("https://example.com/", false), Ok(()));
        assert!(matches!(
            check_target("ftp://example.com/", false),
            Err(TargetCheck::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn a_lookup_that_never_answers_fails_after_its_limit() {
        let limit = Duration::from_millis(50);
        let never = std::future::pending::<std::io::Result<std::vec::IntoIter<SocketAddr>>>();
        let started = std::time::Instant::now();
        let error = within(limit, "slow.example", never)
            .await
            .expect_err("no answer");
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(
            error.to_string(),
            "DNS lookup failed: slow.example: no answer within 50ms"
        );
    }
}
