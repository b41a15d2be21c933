//! Who a request comes from, and how much each client may ask for.
//!
//! Booket has no TLS of its own, so in production it stands behind a reverse proxy and
//! every TCP connection comes from the proxy. Only from peers listed in
//! `[server] trusted_proxies` is the client taken from the forwarding header, as the
//! right-most address in it that is not itself a trusted proxy (a client can put anything
//! at the left end; what lies left of the first untrusted address is never read, and a
//! malformed element spoils only itself). IPv6 clients are keyed by their /64, which one
//! subscriber usually has whole, so rotating through it gains nothing; and a /48 (one
//! site) has an outer budget of [`SITE_SHARE`] clients, so rotating through its 65,536
//! /64s gains little more.
//!
//! Reads (element, week) and writes (reserve, release, book) have separate per-client
//! budgets; the keyed state is pruned, so a stream of new addresses cannot grow it.

pub use crate::booking::client::{key_of, site_of, SITE_SHARE};
pub use crate::config::ForwardedHeader;
use axum::http::HeaderMap;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};
use ipnet::IpNet;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

/// One address of a forwarding header: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]:4711`, optionally quoted. `unknown` and obfuscated names give `None`.
fn parse_hop(s: &str) -> Option<IpAddr> {
    let s = s.trim().trim_matches('"');
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
        return Some(sa.ip());
    }
    s.strip_prefix('[')
        .and_then(|r| r.split(']').next())
        .and_then(|v6| v6.parse().ok())
}

/// The hops a forwarding header lists, nearest last (`None` for a hop that is not an
/// address). Several header lines count as one list, in order. Each element is read on
/// its own: a byte that is not text spoils only the element it is in, never the hops a
/// proxy appended to its right.
fn hops(headers: &HeaderMap, which: ForwardedHeader) -> Vec<Option<IpAddr>> {
    let name = match which {
        ForwardedHeader::XForwardedFor => "x-forwarded-for",
        ForwardedHeader::Forwarded => "forwarded",
    };
    let mut out = Vec::new();
    for line in headers.get_all(name) {
        for element in line.as_bytes().split(|b| *b == b',') {
            let Ok(element) = std::str::from_utf8(element) else {
                out.push(None);
                continue;
            };
            let hop = match which {
                ForwardedHeader::XForwardedFor => parse_hop(element),
                ForwardedHeader::Forwarded => element
                    .split(';')
                    .filter_map(|pair| pair.split_once('='))
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, v)| parse_hop(v)),
            };
            out.push(hop);
        }
    }
    out
}

/// The client a request is from (see the module docs), as a budget key.
pub fn client_of(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted: &[IpNet],
    which: ForwardedHeader,
) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(&ip.to_canonical()));
    let peer = peer.to_canonical();
    if !is_trusted(&peer) {
        return key_of(peer);
    }
    // Walk from the nearest hop outwards; every hop so far was appended by a proxy we
    // trust, so the first one that is not a trusted proxy is the client.
    let mut last_trusted = peer;
    for hop in hops(headers, which).into_iter().rev() {
        match hop {
            Some(ip) if is_trusted(&ip) => last_trusted = ip.to_canonical(),
            Some(ip) => return key_of(ip),
            // A trusted proxy wrote something that is not an address: the client is
            // unknown, so it shares the budget of that proxy's unknowns.
            None => return key_of(last_trusted),
        }
    }
    key_of(last_trusted)
}

/// Which budget a call spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spend {
    Read,
    Write,
}

type Limiter<C> =
    RateLimiter<IpAddr, HashMapStateStore<IpAddr>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// Per-client budgets for reads and writes, and an outer one per IPv6 site (/48, see
/// [`SITE_SHARE`]).
pub struct Budgets<C: Clock + Clone = DefaultClock> {
    clock: C,
    reads: Limiter<C>,
    writes: Limiter<C>,
    site_reads: Limiter<C>,
    site_writes: Limiter<C>,
}

impl Budgets<DefaultClock> {
    pub fn new(reads_per_minute: u32, writes_per_minute: u32) -> Self {
        Self::with_clock(reads_per_minute, writes_per_minute, DefaultClock::default())
    }
}

impl<C: Clock + Clone> Budgets<C> {
    pub fn with_clock(reads_per_minute: u32, writes_per_minute: u32, clock: C) -> Self {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        let site = |n: u32| quota(n.saturating_mul(SITE_SHARE as u32));
        Budgets {
            reads: RateLimiter::hashmap_with_clock(quota(reads_per_minute), clock.clone()),
            writes: RateLimiter::hashmap_with_clock(quota(writes_per_minute), clock.clone()),
            site_reads: RateLimiter::hashmap_with_clock(site(reads_per_minute), clock.clone()),
            site_writes: RateLimiter::hashmap_with_clock(site(writes_per_minute), clock.clone()),
            clock,
        }
    }

    /// Spends one call of `client`'s budget (and, for IPv6, of its site's); `Err` says how
    /// long until the next is allowed.
    pub fn spend(&self, spend: Spend, client: IpAddr) -> Result<(), Duration> {
        let (own, site) = match spend {
            Spend::Read => (&self.reads, &self.site_reads),
            Spend::Write => (&self.writes, &self.site_writes),
        };
        let wait =
            |not_until: governor::NotUntil<C::Instant>| not_until.wait_time_from(self.clock.now());
        own.check_key(&client).map_err(wait)?;
        match site_of(client) {
            Some(net) => site.check_key(&net).map_err(wait),
            None => Ok(()),
        }
    }

    /// Forgets clients whose budget has filled up again (they are as if never seen).
    pub fn prune(&self) {
        for l in [
            &self.reads,
            &self.writes,
            &self.site_reads,
            &self.site_writes,
        ] {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }

    /// Clients remembered (both budgets, and sites).
    pub fn len(&self) -> usize {
        self.reads.len() + self.writes.len() + self.site_reads.len() + self.site_writes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `Retry-After` in whole seconds, never 0.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use governor::clock::FakeRelativeClock;
    use std::net::Ipv6Addr;

    fn headers(name: &'static str, values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(name, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
        let xff = ForwardedHeader::XForwardedFor;
        let spoofed = headers("x-forwarded-for", &["203.0.113.9"]);
        // From an untrusted peer the header is ignored.
        assert_eq!(
            client_of(ip("198.51.100.7"), &spoofed, &trusted, xff),
            ip("198.51.100.7")
        );
        // From a trusted proxy, the right-most address that is not a trusted proxy: what the
        // client wrote at the left cannot win.
        let chain = headers("x-forwarded-for", &["1.1.1.1, 198.51.100.7", "10.0.0.5"]);
        assert_eq!(
            client_of(ip("10.0.0.2"), &chain, &trusted, xff),
            ip("198.51.100.7")
        );
        // Ports and IPv4-mapped peers.
        let with_port = headers("x-forwarded-for", &["198.51.100.7:4711"]);
        assert_eq!(
            client_of(ip("::ffff:10.0.0.2"), &with_port, &trusted, xff),
            ip("198.51.100.7")
        );
        // No header from a trusted proxy: the proxy itself; junk: the proxy's unknowns.
        assert_eq!(
            client_of(ip("10.0.0.2"), &HeaderMap::new(), &trusted, xff),
            ip("10.0.0.2")
        );
        let junk = headers("x-forwarded-for", &["198.51.100.7, unknown"]);
        assert_eq!(
            client_of(ip("10.0.0.2"), &junk, &trusted, xff),
            ip("10.0.0.2")
        );
        // Without trusted proxies every header is ignored.
        assert_eq!(client_of(ip("10.0.0.2"), &chain, &[], xff), ip("10.0.0.2"));
    }

    #[test]
    fn a_bad_byte_spoils_only_its_own_element_never_the_hops_to_its_right() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let xff = ForwardedHeader::XForwardedFor;
        // What the client wrote, then what the proxy appended, on one line.
        for left in [&b"\xff\xfe"[..], b"1.2.3.4\x80", b"\xc3(, 5.6.7.8"] {
            let mut line = left.to_vec();
            line.extend_from_slice(b", 198.51.100.7");
            let mut h = HeaderMap::new();
            h.append(
                "x-forwarded-for",
                axum::http::HeaderValue::from_bytes(&line).unwrap(),
            );
            assert_eq!(
                client_of(ip("10.0.0.2"), &h, &trusted, xff),
                ip("198.51.100.7"),
                "{left:?}"
            );
        }
    }

    #[test]
    fn an_ipv6_site_has_an_outer_budget_over_its_64s() {
        let clock = FakeRelativeClock::default();
        let b = Budgets::with_clock(100, 1, clock.clone());
        // One write each from 16 different /64s of one /48: the site's budget is spent.
        for i in 0..SITE_SHARE as u16 {
            let c = key_of(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 7, i, 0, 0, 0, 1)));
            assert!(b.spend(Spend::Write, c).is_ok(), "/64 number {i}");
        }
        let fresh = key_of(ip("2001:db8:7:ffff::1"));
        assert!(
            b.spend(Spend::Write, fresh).is_err(),
            "a fresh /64 of the site"
        );
        // Another site, and IPv4, are not touched; reads have their own site budget.
        assert!(b.spend(Spend::Write, key_of(ip("2001:db8:8::1"))).is_ok());
        assert!(b.spend(Spend::Write, ip("192.0.2.1")).is_ok());
        assert!(b.spend(Spend::Read, fresh).is_ok());
        assert_eq!(site_of(ip("192.0.2.1")), None);
        assert_eq!(site_of(fresh), Some(ip("2001:db8:7::")));
    }

    #[test]
    fn the_rfc_7239_header_and_ipv6_prefixes() {
        let trusted: Vec<IpNet> = vec!["127.0.0.1/32".parse().unwrap()];
        let fwd = headers(
            "forwarded",
            &["for=192.0.2.60;proto=https, for=\"[2001:db8:cafe:1:2:3:4:5]:4711\""],
        );
        assert_eq!(
            client_of(ip("127.0.0.1"), &fwd, &trusted, ForwardedHeader::Forwarded),
            ip("2001:db8:cafe:1::")
        );
        // The X-Forwarded-For a client sent along is not read when Forwarded is configured.
        let mut both = fwd.clone();
        both.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.1"));
        assert_eq!(
            client_of(ip("127.0.0.1"), &both, &trusted, ForwardedHeader::Forwarded),
            ip("2001:db8:cafe:1::")
        );
        // Every address of one /64 is one client.
        assert_eq!(
            key_of(ip("2001:db8:1:2::1")),
            key_of(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(key_of(ip("2001:db8:1:2::1")), key_of(ip("2001:db8:1:3::1")));
        assert_eq!(key_of(ip("192.0.2.1")), ip("192.0.2.1"));
    }

    #[test]
    fn reads_and_writes_have_their_own_budgets_and_old_clients_are_forgotten() {
        let clock = FakeRelativeClock::default();
        let b = Budgets::with_clock(3, 1, clock.clone());
        let a = ip("192.0.2.1");
        assert!(b.spend(Spend::Write, a).is_ok());
        let wait = b.spend(Spend::Write, a).unwrap_err();
        assert!(
            wait > Duration::from_secs(50) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        let secs = retry_after_secs(wait);
        assert!(
            secs >= 1 && Duration::from_secs(secs) >= wait,
            "{secs} for {wait:?}"
        );
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        // Writing used none of the reads.
        for _ in 0..3 {
            assert!(b.spend(Spend::Read, a).is_ok());
        }
        assert!(b.spend(Spend::Read, a).is_err());
        // Many clients come and go: remembered until pruned, then forgotten.
        for i in 0..200u8 {
            let _ = b.spend(Spend::Read, IpAddr::from([198, 51, 100, i]));
        }
        assert_eq!(b.len(), 202);
        clock.advance(Duration::from_secs(121));
        assert_eq!(b.len(), 202, "nothing is forgotten without pruning");
        b.prune();
        assert!(b.is_empty(), "{} left", b.len());
        assert!(b.spend(Spend::Write, a).is_ok());
    }
}
