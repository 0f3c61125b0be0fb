//! Failed key attempts per peer: a fixed window per peer address, and `429` once a peer has
//! used its failures.
//!
//! An IPv6 peer is counted by its /64, the smallest block a single host is commonly given
//! (one host could otherwise walk through its 2^64 addresses); an IPv4-mapped IPv6 address
//! counts as the IPv4 one. The map is bounded: when it is full of peers of the current window,
//! a new peer is not counted until the window is over. Not a shared counter for them: one
//! party with enough addresses (an IPv6 /48 holds 65,536 /64s) would fill the map and use that
//! counter up, and every client that had not failed yet, holding a good key, would get `429`.
//! Uncounted attempts cost what counted ones do (a SHA-256), and a 256-bit secret is not
//! guessed anyway: the limit keeps scanners cheap, it does not keep keys secret.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::auth::AuthError;
use crate::rate_limit::Quota;

/// Most peers counted in a window; others are not counted.
const MAX_PEERS: usize = 50_000;

/// The failure counters of one [`ApiKeys`](super::ApiKeys) and its clones.
#[derive(Debug)]
pub(super) struct Failures {
    quota: Quota,
    /// Per peer block: the window and its failures.
    counters: Mutex<HashMap<IpAddr, (u64, u32)>>,
    /// Requests refused for their peer's failures: read by metrics.
    pub(super) rejections: std::sync::Arc<crate::observe::Count>,
}

impl Failures {
    pub(super) fn new(quota: Quota) -> Self {
        Failures {
            quota,
            counters: Mutex::default(),
            rejections: Default::default(),
        }
    }

    /// `Err(RateLimited)` when `peer` has used its failures in this window. A request with
    /// no known peer is not limited (the server was not started with the peer's address).
    pub(super) fn check(&self, peer: Option<IpAddr>) -> Result<(), AuthError> {
        let Some(peer) = peer else { return Ok(()) };
        let (window, retry_after) = self.now();
        let counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let failed = counters
            .get(&block_of(peer))
            .filter(|(w, _)| *w == window)
            .map_or(0, |(_, n)| *n);
        if failed >= self.quota.max() {
            self.rejections.add();
            return Err(AuthError::RateLimited { retry_after });
        }
        Ok(())
    }

    /// Counts a failed attempt of `peer`.
    pub(super) fn record(&self, peer: Option<IpAddr>) {
        let Some(peer) = peer else { return };
        let (window, _) = self.now();
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let block = block_of(peer);
        if !counters.contains_key(&block) && counters.len() >= MAX_PEERS {
            counters.retain(|_, (w, _)| *w == window);
            if counters.len() >= MAX_PEERS {
                // Full of this window's peers: see the module docs.
                return;
            }
        }
        let entry = counters.entry(block).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }

    /// The current window's number, and the time left in it.
    fn now(&self) -> (u64, Duration) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let window_ms = self.quota.window_ms().max(1);
        let window = now / window_ms;
        let left = Duration::from_millis((window + 1) * window_ms - now);
        (window, left)
    }
}

/// The address block a peer is counted in.
fn block_of(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(bits))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limited(failures: &Failures, peer: &str) -> bool {
        failures.check(Some(peer.parse().unwrap())).is_err()
    }

    #[test]
    fn a_peer_is_limited_after_its_failures_and_others_are_not() {
        let failures = Failures::new(Quota::per_minute(3));
        for _ in 0..3 {
            assert!(!limited(&failures, "192.0.2.1"));
            failures.record(Some("192.0.2.1".parse().unwrap()));
        }
        assert!(limited(&failures, "192.0.2.1"));
        assert!(!limited(&failures, "192.0.2.2"));
        assert!(failures.check(None).is_ok());
    }

    #[test]
    fn ipv6_peers_are_counted_by_their_64_and_mapped_ipv4_as_ipv4() {
        let failures = Failures::new(Quota::per_minute(2));
        failures.record(Some("2001:db8:1:2::1".parse().unwrap()));
        failures.record(Some("2001:db8:1:2:ffff::9".parse().unwrap()));
        assert!(limited(&failures, "2001:db8:1:2:abcd::1"));
        assert!(!limited(&failures, "2001:db8:1:3::1"));
        failures.record(Some("::ffff:192.0.2.7".parse().unwrap()));
        failures.record(Some("192.0.2.7".parse().unwrap()));
        assert!(limited(&failures, "::ffff:192.0.2.7"));
        assert!(limited(&failures, "192.0.2.7"));
    }

    #[test]
    fn the_map_is_bounded_and_a_full_map_locks_out_no_one_else() {
        // A window of a day: a loop of 50,100 failures on a loaded machine crossed a minute's
        // end now and then, and the new window rightly forgot the first peers.
        let failures = Failures::new(Quota::new(1, Duration::from_secs(86_400)));
        // One party with an IPv6 /48 fails once from each of its /64s, and then some more.
        for i in 0..=MAX_PEERS as u128 + 100 {
            let block = (0x2001_0db8_0001_u128 << 80) | (i << 64);
            failures.record(Some(IpAddr::V6(block.into())));
        }
        assert_eq!(failures.counters.lock().unwrap().len(), MAX_PEERS);
        // A client that has not failed, holding a good key, is not refused for it.
        assert!(!limited(&failures, "203.0.113.1"));
        assert!(!limited(&failures, "2001:db8:ffff::1"));
        // The peers counted stay limited.
        assert!(limited(&failures, "2001:db8:1::1"));
    }
}
