//! Who is the client? The TCP peer, unless the peer is a configured trusted proxy: then the
//! address that proxy reports.
//!
//! The rule (SPEC §8 "Networks"): walk `X-Forwarded-For` from the right (the entries trusted
//! proxies appended) and take the first address that is not itself a trusted proxy; when every
//! entry is a trusted proxy (or there is none), `X-Real-IP`; then the left-most address of
//! `X-Forwarded-For`; then the peer itself. An entry that does not parse as an address (with an
//! optional port), met before any untrusted address, makes the client unknown: skipping it could
//! hand the decision to an address the client wrote itself further left. A request whose peer
//! is unknown (in-process tests without `ConnectInfo`) has no client address, and then
//! forwarding headers are not believed either.
//!
//! This one function serves every request's [`RequestContext`](keyward_service::RequestContext)
//! and forward-auth, so the two can never disagree.

use crate::header_names::{X_FORWARDED_FOR, X_REAL_IP};
use axum::http::HeaderMap;
use ipnet::IpNet;
use keyward_domain::network::canonical;
use std::net::{IpAddr, SocketAddr};

/// The client address of a request that arrived from `peer`.
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted_proxies: &[IpNet]) -> Option<IpAddr> {
    let peer = canonical(peer?);
    if !is_trusted(peer, trusted_proxies) {
        return Some(peer);
    }
    // A request without either header (a gateway calling directly) is told apart by comparing
    // its few names, before two lookups that would each hash a name.
    if !headers.keys().any(|name| name == X_FORWARDED_FOR || name == X_REAL_IP) {
        return Some(peer);
    }
    let forwarded = headers.get_all(X_FORWARDED_FOR);
    // Later header lines were appended later, so "right-most" starts at the last line.
    for line in forwarded.iter().rev() {
        let Ok(line) = line.to_str() else { continue };
        for entry in line.rsplit(',') {
            match parse_entry(entry) {
                Some(ip) if is_trusted(ip, trusted_proxies) => continue,
                Some(ip) => return Some(ip),
                None => return None,
            }
        }
    }
    if let Some(ip) = headers.get(X_REAL_IP).and_then(|v| v.to_str().ok()).and_then(parse_entry) {
        return Some(ip);
    }
    let left_most =
        forwarded.iter().filter_map(|line| line.to_str().ok()).flat_map(|line| line.split(',')).find_map(parse_entry);
    Some(left_most.unwrap_or(peer))
}

pub(crate) fn is_trusted(ip: IpAddr, trusted_proxies: &[IpNet]) -> bool {
    trusted_proxies.iter().any(|net| net.contains(&ip))
}

/// `192.0.2.7`, `2001:db8::1`, `192.0.2.7:443` or `[2001:db8::1]:443`.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let ip = entry.parse::<IpAddr>().ok().or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))?;
    Some(canonical(ip))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn trusted() -> Vec<IpNet> {
        vec!["127.0.0.1/32".parse().unwrap(), "10.0.0.0/8".parse().unwrap()]
    }

    #[test]
    fn untrusted_peers_are_the_client_whatever_they_claim() {
        let h = headers(&[("x-forwarded-for", "1.2.3.4"), ("x-real-ip", "5.6.7.8")]);
        assert_eq!(client_ip(Some(ip("203.0.113.9")), &h, &trusted()), Some(ip("203.0.113.9")));
        assert_eq!(client_ip(None, &h, &trusted()), None);
    }

    #[test]
    fn trusted_proxies_report_the_right_most_untrusted_address() {
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.1.1.1")]);
        assert_eq!(client_ip(Some(ip("127.0.0.1")), &h, &trusted()), Some(ip("198.51.100.7")));
        let lines = headers(&[("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", "198.51.100.7, 10.0.0.2")]);
        assert_eq!(client_ip(Some(ip("127.0.0.1")), &lines, &trusted()), Some(ip("198.51.100.7")));
    }

    #[test]
    fn ports_are_stripped_and_garbage_makes_the_client_unknown() {
        let h = headers(&[("x-forwarded-for", "198.51.100.7:5555, not-an-ip, [2001:db8::1]:80")]);
        assert_eq!(client_ip(Some(ip("127.0.0.1")), &h, &trusted()), Some(ip("2001:db8::1")));
        // What the proxy appended cannot be read: the address the client wrote to its left must
        // not be believed instead.
        let h = headers(&[("x-forwarded-for", "198.51.100.7, unknown")]);
        assert_eq!(client_ip(Some(ip("127.0.0.1")), &h, &trusted()), None);
        let h = headers(&[("x-forwarded-for", "198.51.100.7, unknown, 10.0.0.1")]);
        assert_eq!(client_ip(Some(ip("127.0.0.1")), &h, &trusted()), None);
    }

    #[test]
    fn x_real_ip_then_left_most_then_peer() {
        let real = headers(&[("x-real-ip", "198.51.100.8")]);
        assert_eq!(client_ip(Some(ip("127.0.0.1")), &real, &trusted()), Some(ip("198.51.100.8")));
        let all_trusted = headers(&[("x-forwarded-for", "10.0.0.5, 10.0.0.6")]);
        assert_eq!(client_ip(Some(ip("127.0.0.1")), &all_trusted, &trusted()), Some(ip("10.0.0.5")));
        assert_eq!(client_ip(Some(ip("127.0.0.1")), &HeaderMap::new(), &trusted()), Some(ip("127.0.0.1")));
        let bad_real = headers(&[("x-real-ip", "nope")]);
        assert_eq!(client_ip(Some(ip("127.0.0.1")), &bad_real, &trusted()), Some(ip("127.0.0.1")));
    }

    #[test]
    fn mapped_ipv6_peers_are_their_ipv4_address() {
        let h = headers(&[("x-forwarded-for", "198.51.100.7")]);
        assert_eq!(client_ip(Some(ip("::ffff:127.0.0.1")), &h, &trusted()), Some(ip("198.51.100.7")));
    }
}
