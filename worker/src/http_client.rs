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

use std::net::SocketAddr;
use std::time::Duration;

use hookrelay_shared::targets::{self, TargetError};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// A target address that `ALLOW_PRIVATE_TARGETS=false` forbids. Its text names the
/// address, and it is what the attempt's `error` says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused non-global address {0}")]
pub struct RefusedAddress(pub String);

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

/// Checks a target URL's literal host before sending (resolved names are checked by the
/// resolver). `Ok` means the request may be sent.
pub fn check_target(url: &str, allow_private: bool) -> Result<(), TargetCheck> {
    match targets::parse_target_url(url, allow_private) {
        Ok(_) => Ok(()),
        Err(TargetError::Private(host)) => Err(TargetCheck::Refused(RefusedAddress(host))),
        Err(TargetError::Invalid(reason)) => Err(TargetCheck::Invalid(reason)),
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
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| DnsFailure(format!("{host}: {e}")))?
                .collect();
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

/// The global addresses among `found`, or an error naming the refused ones.
fn keep_global(host: &str, found: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, RefusedAddress> {
    let (global, refused): (Vec<SocketAddr>, Vec<SocketAddr>) =
        found.into_iter().partition(|a| targets::is_global(a.ip()));
    if global.is_empty() && !refused.is_empty() {
        let mut names: Vec<String> = refused.iter().map(|a| a.ip().to_string()).collect();
        names.dedup();
        tracing::debug!(
            host,
            refused = names.join(", "),
            "refused a target resolving to non-global addresses"
        );
        return Err(RefusedAddress(names.join(", ")));
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
        assert_eq!(err.to_string(), "refused non-global address 127.0.0.1, ::1");
    }

    #[test]
    fn literal_private_hosts_are_refused_before_sending() {
        assert_eq!(
            check_target("http://127.0.0.1:9/", false),
            Err(TargetCheck::Refused(RefusedAddress("127.0.0.1".into())))
        );
        assert!(matches!(
            check_target("http://localhost/", false),
            Err(TargetCheck::Refused(_))
        ));
        assert_eq!(check_target("http://127.0.0.1:9/", true), Ok(()));
        assert_eq!(check_target("https://example.com/", false), Ok(()));
    }
}
