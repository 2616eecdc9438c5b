//! Address ranges written as CIDRs: `TRUSTED_PROXIES` and a source's `ip_allowlist`. One
//! parser for both, so the two accept the same forms, and one membership test, so an
//! IPv4 client that reaches an IPv6 socket (`::ffff:203.0.113.7`) matches `203.0.113.0/24`.

use std::net::IpAddr;
use std::str::FromStr;

use ip_network::IpNetwork;

/// Reads `10.0.0.0/8`, `2001:db8::/32`, or a bare address (`192.0.2.1`: that one address).
/// Host bits must be zero (`10.0.0.1/8` is refused: it is ambiguous whether the operator
/// meant the network or the host). Spaces around the value are ignored.
pub fn parse(text: &str) -> Result<IpNetwork, String> {
    let text = text.trim();
    if !text.contains('/') {
        return IpAddr::from_str(text)
            .map(IpNetwork::from)
            .map_err(|_| format!("{text:?} is not an IP address or CIDR"));
    }
    IpNetwork::from_str(text).map_err(|e| match e {
        ip_network::IpNetworkParseError::IpNetworkError(
            ip_network::IpNetworkError::HostBitsSet,
        ) => {
            format!("{text:?} has host bits set (write the network, e.g. 10.0.0.0/8)")
        }
        _ => format!("{text:?} is not a CIDR such as 10.0.0.0/8 or 2001:db8::/32"),
    })
}

/// Reads a comma-separated list (empty text: no ranges).
pub fn parse_list(text: &str) -> Result<Vec<IpNetwork>, String> {
    text.split(',')
        .filter(|part| !part.trim().is_empty())
        .map(parse)
        .collect()
}

/// `address` with an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) turned into IPv4.
pub fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Whether any of `ranges` holds `address` (IPv4-mapped IPv6 counts as IPv4).
pub fn contains(ranges: &[IpNetwork], address: IpAddr) -> bool {
    let address = canonical(address);
    ranges.iter().any(|range| range.contains(address))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn cidrs_and_bare_addresses_parse_and_match() {
        let ranges = parse_list("10.0.0.0/8, 192.0.2.1,2001:db8::/32").expect("valid");
        assert!(contains(&ranges, ip("10.1.2.3")));
        assert!(contains(&ranges, ip("192.0.2.1")));
        assert!(!contains(&ranges, ip("192.0.2.2")));
        assert!(contains(&ranges, ip("2001:db8::7")));
        assert!(!contains(&ranges, ip("2001:db9::7")));
        assert!(parse_list("").expect("empty").is_empty());
    }

    #[test]
    fn ipv4_mapped_ipv6_matches_ipv4_ranges_and_plain_ipv6_does_not() {
        let ranges = parse_list("203.0.113.0/24").expect("valid");
        assert!(contains(&ranges, ip("::ffff:203.0.113.7")));
        assert!(!contains(&ranges, ip("2001:db8::cb00:7107")));
        assert!(!contains(&ranges, ip("::1")));
    }

    #[test]
    fn malformed_ranges_say_why() {
        assert!(
            parse("10.0.0.1/8")
                .expect_err("host bits")
                .contains("host bits")
        );
        assert!(parse("10.0.0.0/33").is_err());
        assert!(parse("example.com").is_err());
        assert!(parse_list("10.0.0.0/8,nope").is_err());
    }
}
