//! Which client addresses count as one client for failure counting and turn-taking: an IPv4
//! address, or an IPv6 /64. One IPv6 site (a home, an office, a cloud VM) gets a whole /64 and
//! can pick any address in it, so counting per /128 would let one attacker make up a fresh
//! address for every guess. An IPv4 address written in IPv6 (`::ffff:192.0.2.1`) is that IPv4
//! address.

use std::net::IpAddr;

use ipnet::Ipv6Net;

/// The address that stands for `peer`'s client: itself for IPv4, its /64 network for IPv6.
pub fn client_of(peer: IpAddr) -> IpAddr {
    match peer.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Net::new_assert(v6, 64).network()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn ipv6_counts_per_64_and_ipv4_per_address() {
        assert_eq!(
            client_of(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(
            client_of(ip("2001:db8:1:2::1")),
            client_of(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            client_of(ip("2001:db8:1:2::1")),
            client_of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(client_of(ip("192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(client_of(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
    }
}
