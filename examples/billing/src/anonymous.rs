//! How many rows refusals without a caller may add to the audit table.
//!
//! Anyone can make the server refuse a request before a credential is accepted (`401`, a
//! forged token, a foreign `Host`): recording each such refusal as a row would let an
//! unauthenticated flood fill the database the invoices live in. [`AnonymousRows`] admits at
//! most [`PER_PEER`] such rows a minute per peer (an IPv6 peer by its /64, as one host holds a
//! whole /64) and [`IN_ALL`] a minute from all peers together; the others are counted and
//! logged, not stored. The metrics (`mcp_auth_decisions_total`) still count every refusal,
//! and refusals of a verified caller (`403`, `429`) are always recorded.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Rows a minute for the refusals of one peer without a caller.
pub(crate) const PER_PEER: u32 = 60;
/// Rows a minute for the refusals of all peers without a caller.
pub(crate) const IN_ALL: u32 = 600;

/// The rows of the current minute, by peer.
#[derive(Debug, Default)]
pub(crate) struct AnonymousRows {
    minute: Mutex<Minute>,
    /// Refusals not recorded since the start.
    skipped: AtomicU64,
}

#[derive(Debug, Default)]
struct Minute {
    at: u64,
    all: u32,
    /// At most `IN_ALL` peers: each admitted row names one.
    peers: HashMap<IpAddr, u32>,
}

impl AnonymousRows {
    /// Whether a refusal without a caller from `peer` gets its row; when not, it is counted
    /// and logged (at the 1st, 2nd, 4th, ... skip, so that a flood cannot flood the log).
    pub(crate) fn admit(&self, peer: Option<IpAddr>) -> bool {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
            / 60;
        let admitted = self.admit_at(now, peer);
        if !admitted {
            let skipped = 1 + self.skipped.fetch_add(1, Ordering::Relaxed);
            if skipped.is_power_of_two() {
                tracing::warn!(
                    skipped,
                    "refusals without a caller beyond the audit table's budget were not \
                     recorded (they are counted in the metrics)"
                );
            }
        }
        admitted
    }

    fn admit_at(&self, minute: u64, peer: Option<IpAddr>) -> bool {
        let mut current = self.minute.lock().unwrap_or_else(|e| e.into_inner());
        if current.at != minute {
            *current = Minute {
                at: minute,
                ..Minute::default()
            };
        }
        if current.all >= IN_ALL {
            return false;
        }
        // A refusal without a known peer (none over HTTP here) shares the unspecified one.
        let key = peer.map_or(IpAddr::from([0u8; 16]), network);
        let rows = current.peers.entry(key).or_insert(0);
        if *rows >= PER_PEER {
            return false;
        }
        *rows += 1;
        current.all += 1;
        true
    }
}

/// The peer as one host: an IPv4 address, or the /64 of an IPv6 one.
fn network(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(_) => peer,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut octets = v6.octets();
                octets[8..].fill(0);
                IpAddr::from(octets)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_peer_and_all_peers_have_a_budget_a_minute() {
        let rows = AnonymousRows::default();
        let one: IpAddr = "192.0.2.1".parse().unwrap();
        let admitted = (0..100).filter(|_| rows.admit_at(7, Some(one))).count();
        assert_eq!(admitted, PER_PEER as usize);
        // Another address of the same IPv6 /64 is the same host; another /64 is not.
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let same: IpAddr = "2001:db8::ffff:1".parse().unwrap();
        let other: IpAddr = "2001:db8:0:1::1".parse().unwrap();
        assert_eq!((0..40).filter(|_| rows.admit_at(7, Some(a))).count(), 40);
        assert_eq!((0..40).filter(|_| rows.admit_at(7, Some(same))).count(), 20);
        assert!(rows.admit_at(7, Some(other)));
        // A new minute, a new budget.
        assert!(rows.admit_at(8, Some(one)));
        // All peers together: at most `IN_ALL` a minute.
        let many = (0..=u16::MAX)
            .map(|n| IpAddr::from([10, 0, (n >> 8) as u8, n as u8]))
            .filter(|peer| rows.admit_at(9, Some(*peer)))
            .count();
        assert_eq!(many, IN_ALL as usize);
    }
}
