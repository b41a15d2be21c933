//! Who a client is, as the caps and budgets count it: an IPv4 address, or an IPv6 /64
//! inside its /48 site. The web layer decides which address a request comes from
//! (`clients.rs`); the core gets the key as an argument ([`super::Caller`]).

use std::net::{IpAddr, Ipv6Addr};

/// How many clients' worth one IPv6 /48 may spend in all (its outer budget, beside each
/// /64's own): a /48 is one site — an ISP customer may get one whole, and with it 65,536
/// /64s — so rotating through its /64s gains at most this many budgets. Sized for a
/// shared network: a campus, a library or a company behind one /48 still gets 16 busy
/// citizens' worth of reads, writes and holds.
pub const SITE_SHARE: usize = 16;

/// The site an IPv6 client key belongs to (its /48); `None` for IPv4, whose key is the
/// address itself.
pub fn site_of(key: IpAddr) -> Option<IpAddr> {
    match key.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            Some(IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0)))
        }
        IpAddr::V4(_) => None,
    }
}

/// The key for per-client budgets: an IPv4 address, or an IPv6 address cut to its /64.
pub fn key_of(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}
