//! The `requestState`s already used: each sealed state may confirm one retry.
//!
//! A sealed state proves that this server asked a question of this caller about this call; it
//! does not prove that the retry carrying it is the first. Without a record of spent states,
//! a captured retry of a confirmed refund could be sent again, and refund again, for the
//! state's whole lifetime. So each state carries a random nonce, and the retry that opens it
//! spends the nonce atomically: any later request carrying the same state is refused.
//!
//! Spent nonces are kept until their state expires, when the state would be refused anyway:
//!
//! - in this process ([`MemorySpent`]), at most [`MAX_SPENT`] at once. When that many
//!   unexpired states are spent, further retries are refused (`503`) rather than an unexpired
//!   record forgotten: a forgotten record is a replay allowed. Each process keeps its own
//!   record, so replicas that share a request-state key but not Redis can each accept a state
//!   once.
//! - in Redis (feature `redis`), when the server keeps its sessions there: one key per spent
//!   state (`PREFIX:spent:NONCE`, set with `SET NX PXAT`), so that every replica sharing the
//!   Redis refuses a state any of them spent. If Redis cannot be reached, retries are refused
//!   (`503`): a state that cannot be recorded as spent is never accepted.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;
use std::sync::Mutex;

use super::request_state::Nonce;

/// The most spent states this process remembers at once (about 6 MB). With the default
/// lifetime of 10 minutes, that is a sustained 166 confirmed retries a second.
pub(crate) const MAX_SPENT: usize = 100_000;

/// Why a state could not be spent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NotSpent {
    /// Another request used it before.
    #[error("the state has already been used")]
    Replayed,
    /// This process remembers [`MAX_SPENT`] unexpired states; refused, not forgotten.
    #[error("{0} unexpired request states are recorded as used, the maximum")]
    Full(usize),
    /// The shared record (Redis) cannot be reached.
    #[cfg_attr(
        not(feature = "redis"),
        expect(dead_code, reason = "only Redis can fail")
    )]
    #[error("the record of used request states is unavailable: {0}")]
    Unavailable(String),
}

/// Where the spent states of a server are recorded.
#[derive(Debug)]
pub(crate) enum SpentStates {
    Memory(MemorySpent),
    #[cfg(feature = "redis")]
    Redis(RedisSpent),
}

impl SpentStates {
    /// Records `nonce`, of a state valid until `expires_ms` and found unexpired at
    /// `opened_at`, as spent, unless it already is. The record forgets only states expired
    /// at `opened_at`, so never this one's earlier spending.
    pub(crate) async fn spend(
        &self,
        nonce: Nonce,
        expires_ms: u64,
        opened_at: u64,
    ) -> Result<(), NotSpent> {
        match self {
            SpentStates::Memory(memory) => memory.spend(nonce, expires_ms, opened_at),
            #[cfg(feature = "redis")]
            SpentStates::Redis(redis) => redis.spend(nonce, expires_ms).await,
        }
    }
}

/// Spent states recorded in this process, bounded.
#[derive(Debug)]
pub(crate) struct MemorySpent {
    capacity: usize,
    inner: Mutex<ExpiringKeys<Nonce>>,
}

/// Keys remembered until they expire: the bounded core of every record of used one-time
/// values (spent request states here, DPoP proof ids in `auth::dpop`).
#[derive(Debug)]
pub(crate) struct ExpiringKeys<K> {
    /// Each key, with its expiry (milliseconds since the epoch).
    expiries: HashMap<K, u64>,
    /// The same entries, soonest expiry first, to evict the expired ones without a scan.
    by_expiry: BinaryHeap<Reverse<(u64, K)>>,
}

impl<K> Default for ExpiringKeys<K> {
    fn default() -> Self {
        ExpiringKeys {
            expiries: HashMap::new(),
            by_expiry: BinaryHeap::new(),
        }
    }
}

impl<K: Copy + Eq + Hash + Ord> ExpiringKeys<K> {
    /// Forgets the keys expired at `now_ms`, and only those, telling `forgotten` each.
    pub(crate) fn forget_expired(&mut self, now_ms: u64, mut forgotten: impl FnMut(&K)) {
        while let Some(Reverse((expiry, old))) = self.by_expiry.peek().copied()
            && expiry < now_ms
        {
            self.by_expiry.pop();
            self.expiries.remove(&old);
            forgotten(&old);
        }
    }

    /// Whether `key` is remembered.
    pub(crate) fn contains(&self, key: &K) -> bool {
        self.expiries.contains_key(key)
    }

    /// How many keys are remembered.
    pub(crate) fn len(&self) -> usize {
        self.expiries.len()
    }

    /// Remembers `key` until `expires_ms`; the caller checked it is not remembered yet.
    pub(crate) fn insert(&mut self, key: K, expires_ms: u64) {
        self.expiries.insert(key, expires_ms);
        self.by_expiry.push(Reverse((expires_ms, key)));
    }
}

impl MemorySpent {
    /// A record of at most `capacity` unexpired states.
    pub(crate) fn new(capacity: usize) -> MemorySpent {
        MemorySpent {
            capacity,
            inner: Mutex::default(),
        }
    }

    fn spend(&self, nonce: Nonce, expires_ms: u64, now_ms: u64) -> Result<(), NotSpent> {
        let mut spent = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        // Only expired entries go: their states are refused as expired from now on.
        spent.forget_expired(now_ms, |_| {});
        if spent.contains(&nonce) {
            return Err(NotSpent::Replayed);
        }
        if spent.len() >= self.capacity {
            return Err(NotSpent::Full(self.capacity));
        }
        spent.insert(nonce, expires_ms);
        Ok(())
    }
}

#[cfg(feature = "redis")]
pub(crate) use redis_spent::RedisSpent;

#[cfg(feature = "redis")]
mod redis_spent {
    use std::sync::Arc;
    use std::time::Duration;

    use redis::aio::ConnectionManager;

    use super::{Nonce, NotSpent};

    /// How long spending a state may wait for Redis before the retry is refused (`503`), as
    /// long as a session lookup may.
    const TIMEOUT: Duration = Duration::from_secs(2);

    /// How long a record outlives its state: replicas whose clocks run up to this much behind
    /// Redis's still find it while they would accept the state.
    const CLOCK_SKEW_MS: u64 = 60_000;

    /// Spent states recorded in Redis, shared by every replica under the same prefix.
    pub(crate) struct RedisSpent {
        connection: ConnectionManager,
        prefix: Arc<str>,
    }

    impl std::fmt::Debug for RedisSpent {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("RedisSpent")
                .field("prefix", &self.prefix)
                .finish_non_exhaustive()
        }
    }

    impl RedisSpent {
        /// Records under `PREFIX:spent:`, through `connection`.
        pub(crate) fn new(connection: ConnectionManager, prefix: Arc<str>) -> RedisSpent {
            RedisSpent { connection, prefix }
        }

        pub(super) async fn spend(&self, nonce: Nonce, expires_ms: u64) -> Result<(), NotSpent> {
            self.record(&format!("spent:{nonce}"), expires_ms, "request states")
                .await
        }

        /// Records `PREFIX:NAME` until `expires_ms` (plus the clock skew), unless it already
        /// is: `NotSpent::Replayed` then. `what` names the record in the error log.
        pub(crate) async fn record(
            &self,
            name: &str,
            expires_ms: u64,
            what: &str,
        ) -> Result<(), NotSpent> {
            // One atomic command: of two replicas recording the same name at once, one sets
            // the key and the other finds it.
            let mut set = redis::cmd("SET");
            set.arg(format!("{}:{name}", self.prefix))
                .arg(1)
                .arg("NX")
                .arg("PXAT")
                .arg(expires_ms.saturating_add(CLOCK_SKEW_MS));
            let mut connection = self.connection.clone();
            let answer =
                tokio::time::timeout(TIMEOUT, set.query_async::<Option<String>>(&mut connection))
                    .await;
            let error = match answer {
                Ok(Ok(Some(_))) => return Ok(()),
                Ok(Ok(None)) => return Err(NotSpent::Replayed),
                Ok(Err(err)) => err.to_string(),
                Err(_) => format!("no answer within {TIMEOUT:?}"),
            };
            tracing::error!(%error, "the record of used {what} (Redis) is unavailable");
            Err(NotSpent::Unavailable(error))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nonce(n: u8) -> Nonce {
        Nonce([n; 16])
    }

    #[test]
    fn a_nonce_is_spent_once() {
        let spent = MemorySpent::new(10);
        assert_eq!(spent.spend(nonce(1), 2_000, 1_000), Ok(()));
        assert_eq!(spent.spend(nonce(1), 2_000, 1_500), Err(NotSpent::Replayed));
        assert_eq!(spent.spend(nonce(2), 2_000, 1_500), Ok(()));
    }

    #[test]
    fn a_full_record_refuses_rather_than_forgets() {
        let spent = MemorySpent::new(3);
        for n in 0..3 {
            assert_eq!(spent.spend(nonce(n), 5_000 + u64::from(n), 1_000), Ok(()));
        }
        // Full of unexpired states: a new one is refused, and none of the others forgotten.
        assert_eq!(spent.spend(nonce(9), 9_000, 4_000), Err(NotSpent::Full(3)));
        for n in 0..3 {
            assert_eq!(spent.spend(nonce(n), 9_000, 4_000), Err(NotSpent::Replayed));
        }
        // Once the first state has expired, its record makes room, and only its.
        assert_eq!(spent.spend(nonce(9), 9_000, 5_000), Err(NotSpent::Full(3)));
        assert_eq!(spent.spend(nonce(9), 9_000, 5_001), Ok(()));
        assert_eq!(spent.spend(nonce(1), 9_000, 5_001), Err(NotSpent::Replayed));
        assert_eq!(spent.spend(nonce(10), 9_000, 5_001), Err(NotSpent::Full(3)));
        let inner = spent.inner.lock().unwrap();
        assert_eq!((inner.len(), inner.by_expiry.len()), (3, 3));
    }
}
