//! Which network addresses are on the public internet: the rule the outbound fence
//! applies to what a name resolves to, and core to an address written in a URL.

use std::net::IpAddr;

/// Whether an address is on the public internet. Everything a server-side fetch must not
/// reach is refused: loopback, private (RFC 1918), shared (RFC 6598), link-local, unique
/// local (RFC 4193), multicast, documentation, benchmarking, reserved, unspecified, the
/// discard prefix (`100::/64`, RFC 6666), and IPv4 addresses wrapped in IPv6: mapped
/// (`::ffff:a.b.c.d`), translated (`::ffff:0:a.b.c.d`, RFC 2765), compatible (`::a.b.c.d`),
/// and the transition ranges below.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..=127).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let segments = v6.segments();
            let [first, second, ..] = segments;
            // Transition ranges (6to4, Teredo, NAT64, SIIT's translated addresses) carry an
            // IPv4 address that may be private; site-local is deprecated but still routed
            // inside some networks.
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first & 0xffc0) == 0xfec0
                || first == 0x2002
                || first == 0x2001 && (second == 0x0000 || second == 0x0db8)
                || first == 0x0064 && second == 0xff9b
                || segments[..4] == [0, 0, 0, 0] && segments[4] == 0xffff && segments[5] == 0
                || segments[..4] == [0x0100, 0, 0, 0]
                || segments[..6].iter().all(|s| *s == 0))
        }
    }
}
