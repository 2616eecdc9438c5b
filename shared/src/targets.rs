//! Delivery targets: URL validation with WHATWG normalisation, and the rule for which
//! addresses hookrelay will never call (`ALLOW_PRIVATE_TARGETS=false`).
//!
//! The api checks literal hosts when a subscription is saved; the worker checks every
//! resolved address again at delivery time, because a name can point anywhere later.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ip_network::{Ipv4Network, Ipv6Network};
use url::{Host, Url};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Not an absolute http(s) URL with a host.
    #[error("Input should be a valid URL, {0}")]
    Invalid(String),
    /// A host that private targets are not allowed to use.
    #[error(
        "Input should be a valid URL with a public host: {0} is not a global address and ALLOW_PRIVATE_TARGETS is false"
    )]
    Private(String),
}

/// Parses and normalises a target URL (`http://h:9911` → `http://h:9911/`).
pub fn parse_target_url(raw: &str, allow_private: bool) -> Result<Url, TargetError> {
    parse_service_url(raw, &["http", "https"], allow_private)
}

/// Parses the URL of a service hookrelay delivers to (an HTTP target, a broker): one of
/// `schemes`, with a host, which must be public unless `allow_private`.
pub fn parse_service_url(
    raw: &str,
    schemes: &[&str],
    allow_private: bool,
) -> Result<Url, TargetError> {
    let url = Url::parse(raw.trim()).map_err(|e| TargetError::Invalid(e.to_string()))?;
    if !schemes.contains(&url.scheme()) {
        let expected = match schemes {
            [.., last] if schemes.len() > 1 => {
                format!("{} or {last}", schemes[..schemes.len() - 1].join(", "))
            }
            _ => schemes.join(""),
        };
        return Err(TargetError::Invalid(format!(
            "the scheme must be {expected}, not {:?}",
            url.scheme()
        )));
    }
    // Schemes the URL standard does not know (amqp, redis, …) keep their host opaque: it
    // is read again as a host, so that an IP literal is one.
    let host = match url.host() {
        None | Some(Host::Domain("")) => {
            return Err(TargetError::Invalid("the URL has no host".into()));
        }
        Some(Host::Domain(name)) => {
            Host::parse(name).map_err(|e| TargetError::Invalid(format!("the host: {e}")))?
        }
        Some(host) => host.to_owned(),
    };
    let host_ref = match &host {
        Host::Domain(name) => Host::Domain(name.as_str()),
        Host::Ipv4(ip) => Host::Ipv4(*ip),
        Host::Ipv6(ip) => Host::Ipv6(*ip),
    };
    if !allow_private && refused_without_lookup(&host_ref).is_some() {
        return Err(TargetError::Private(host.to_string()));
    }
    Ok(url)
}

/// What `localhost` and its subdomains resolve to (RFC 6761 §6.3: always loopback, never
/// asked of DNS).
pub const LOCAL_NAME_ADDRESSES: [IpAddr; 2] = [
    IpAddr::V4(Ipv4Addr::LOCALHOST),
    IpAddr::V6(Ipv6Addr::LOCALHOST),
];

/// The non-global addresses a URL host stands for without any lookup: a non-global IP
/// literal, or the loopback addresses of a `localhost` name. `None` when the host may be
/// used as far as can be told without resolving it.
pub fn refused_without_lookup(host: &Host<&str>) -> Option<Vec<IpAddr>> {
    let refused = match host {
        Host::Domain(name) if is_local_name(name) => LOCAL_NAME_ADDRESSES.to_vec(),
        Host::Domain(_) => return None,
        Host::Ipv4(ip) => vec![IpAddr::V4(*ip)],
        Host::Ipv6(ip) => vec![IpAddr::V6(*ip)],
    };
    refused.iter().all(|ip| !is_global(*ip)).then_some(refused)
}

/// `localhost` and its subdomains always resolve to loopback (RFC 6761).
pub fn is_local_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// Whether an address is globally routable. Loopback, private, link-local, CGNAT,
/// multicast, documentation, benchmarking, reserved and unspecified addresses are not;
/// IPv6 forms that embed an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by
/// the IPv4 address inside them.
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_global_v4(v4),
            None => is_global_v6(v6),
        },
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    !ip.is_multicast() && Ipv4Network::new(ip, 32).is_ok_and(|n| n.is_global())
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    // Teredo (2001::/32) tunnels to hidden IPv4 hosts; discard-only 100::/64.
    let teredo = segments[0] == 0x2001 && segments[1] == 0;
    let discard = segments[..4] == [0x100, 0, 0, 0];
    !ip.is_multicast()
        && !teredo
        && !discard
        && Ipv6Network::new(ip, 128).is_ok_and(|n| n.is_global())
}

fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    match s {
        // IPv4-compatible ::a.b.c.d (also covers :: and ::1, which map to 0.0.0.x).
        [0, 0, 0, 0, 0, 0, _, _] => Some(low()),
        // NAT64 well-known prefix 64:ff9b::/96 and local-use 64:ff9b:1::/48.
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] | [0x64, 0xff9b, 1, ..] => Some(low()),
        // 6to4 2002:a.b.c.d::/48.
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn global(s: &str) -> bool {
        is_global(s.parse().expect("an IP address"))
    }

    #[test]
    fn non_global_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "ff0e::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "2001:0:4136:e378::1",
            "100::1",
        ] {
            assert!(!global(ip), "{ip} must not be global");
        }
    }

    #[test]
    fn global_addresses_are_allowed() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "2002:808:808::",
        ] {
            assert!(global(ip), "{ip} is global");
        }
    }

    #[test]
    fn urls_are_normalised() {
        let url = parse_target_url("http://H.example:9911", true).expect("valid");
        assert_eq!(url.as_str(), "http://h.example:9911/");
        let url = parse_target_url("https://example.com:443/a/../b?x=1", false).expect("valid");
        assert_eq!(url.as_str(), "https://example.com/b?x=1");
    }

    #[test]
    fn invalid_urls_say_valid_url() {
        for raw in [
            "not a url",
            "ftp://example.com/",
            "mailto:a@example.com",
            "http://",
            "/relative",
        ] {
            let err = parse_target_url(raw, true).expect_err(raw);
            assert!(err.to_string().contains("valid URL"), "{raw}: {err}");
        }
    }

    #[test]
    fn private_hosts_depend_on_the_setting() {
        for raw in [
            "http://localhost:8000/",
            "http://api.localhost/",
            "http://127.0.0.1/",
            "http://[::1]/",
            "http://10.0.0.8/",
            "http://[::ffff:192.168.0.1]/",
        ] {
            assert!(
                matches!(parse_target_url(raw, false), Err(TargetError::Private(_))),
                "{raw}"
            );
            assert!(parse_target_url(raw, true).is_ok(), "{raw}");
        }
        assert!(parse_target_url("https://example.com/", false).is_ok());
    }
}
