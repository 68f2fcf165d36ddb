//! Network restrictions: the addresses a key may be used from.
//!
//! Input is normalized: a bare address is a single host (`/32`, `/128`), and a CIDR with host
//! bits set is refused with the network it probably meant, since silently truncating it would
//! allow a different range than the one the operator wrote.

use crate::ValidationError;
use ipnet::IpNet;
use std::net::IpAddr;

/// Parses and normalizes a list of networks, at most `max` of them, without duplicates.
pub fn parse_networks(input: &[String], max: usize) -> Result<Vec<IpNet>, ValidationError> {
    if input.len() > max {
        return Err(ValidationError::new("networks", format!("at most {max} networks, got {}", input.len())));
    }
    let mut out: Vec<IpNet> = Vec::with_capacity(input.len());
    for (i, raw) in input.iter().enumerate() {
        let field = format!("networks[{i}]");
        let net = parse_network(raw.trim()).map_err(|m| ValidationError::new(&field, m))?;
        if out.contains(&net) {
            return Err(ValidationError::new(field, format!("{net} is listed twice")));
        }
        out.push(net);
    }
    Ok(out)
}

fn parse_network(raw: &str) -> Result<IpNet, String> {
    if let Ok(addr) = raw.parse::<IpAddr>() {
        return Ok(IpNet::from(addr));
    }
    let net: IpNet = raw
        .parse()
        .map_err(|_| format!("{raw:?} is not an IPv4 or IPv6 address or CIDR (e.g. 192.0.2.0/24, 2001:db8::/32)"))?;
    if net.trunc() != net {
        return Err(format!("{raw} has host bits set; did you mean {}?", net.trunc()));
    }
    Ok(net)
}

/// May a key restricted to `networks` be used from `client`? No restriction allows any address;
/// a restriction with an unknown client address allows nothing.
pub fn allows(networks: &[IpNet], client: Option<IpAddr>) -> bool {
    if networks.is_empty() {
        return true;
    }
    let Some(ip) = client else { return false };
    let ip = canonical(ip);
    networks.iter().any(|n| n.contains(&ip))
}

/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.7`) are the IPv4 address they carry.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn nets(list: &[&str]) -> Result<Vec<IpNet>, ValidationError> {
        parse_networks(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>(), 10)
    }

    #[test]
    fn normalizes_addresses_and_cidrs() {
        let n = nets(&["192.0.2.7", "2001:db8::1", "10.0.0.0/8", "2001:db8::/32"]).unwrap();
        let shown: Vec<String> = n.iter().map(|n| n.to_string()).collect();
        assert_eq!(shown, ["192.0.2.7/32", "2001:db8::1/128", "10.0.0.0/8", "2001:db8::/32"]);
    }

    #[test]
    fn rejects_bad_input_with_useful_detail() {
        let err = nets(&["10.1.2.3/8"]).unwrap_err();
        assert_eq!(err.field, "networks[0]");
        assert!(err.message.contains("10.0.0.0/8"), "{}", err.message);
        assert!(nets(&["300.1.1.1"]).is_err());
        assert!(nets(&["10.0.0.0/33"]).is_err());
        assert!(nets(&["1.1.1.1", "1.1.1.1/32"]).is_err());
        let eleven: Vec<String> = (0..11).map(|i| format!("10.0.0.{i}")).collect();
        assert!(parse_networks(&eleven, 10).unwrap_err().message.contains("at most 10"));
    }

    #[test]
    fn allows_checks_membership() {
        let n = nets(&["10.0.0.0/8", "2001:db8::/32"]).unwrap();
        assert!(allows(&n, Some("10.2.3.4".parse().unwrap())));
        assert!(allows(&n, Some("::ffff:10.2.3.4".parse().unwrap())));
        assert!(allows(&n, Some("2001:db8::5".parse().unwrap())));
        assert!(!allows(&n, Some("11.0.0.1".parse().unwrap())));
        assert!(!allows(&n, None));
        assert!(allows(&[], None));
    }
}
