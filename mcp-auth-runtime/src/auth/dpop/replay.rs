//! The record of proofs already used (RFC 9449 §11.1): each (key, `jti`) is accepted once.
//!
//! A proof is recorded until its `iat` leaves the window, after which it is refused as too old
//! anyway. Entries are the SHA-256 of the key's thumbprint and the `jti`, so an entry's size is
//! fixed whatever `jti` a client sends:
//!
//! - in this process ([`MemoryProofs`], the default), at most
//!   [`Dpop::replay_capacity`](super::Dpop::replay_capacity) at once and a share of it per
//!   client key. When the record is full of unexpired proofs, further
//!   proofs are refused (`503`) rather than an unexpired entry forgotten: a forgotten entry is a
//!   replay allowed. The per-key share keeps one client key from filling the record for every
//!   other client: that key's further proofs are refused (`401`) until its entries expire.
//! - in Redis (feature `redis`), when the server keeps its sessions there: one key per proof
//!   (`PREFIX:dpop:HEX`, set with `SET NX PXAT` as the spent request states are), so that a
//!   proof used at one replica is refused at every other. If Redis cannot be reached, proofs are
//!   refused (`503`).

use std::collections::HashMap;
use std::sync::Mutex;

use super::DpopError;
use crate::mcp::{ExpiringKeys, NotSpent};

/// A proof as the record keys it: the SHA-256 of its key's thumbprint and its `jti`, and a
/// short hash of the thumbprint alone, to count the key's share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ProofId {
    proof: [u8; 32],
    key: u64,
}

impl ProofId {
    pub(crate) fn new(thumbprint: &str, jti: &str) -> ProofId {
        use aws_lc_rs::digest::{Context, SHA256, digest};
        // The thumbprint is base64url, so the separator cannot occur in it: distinct
        // (thumbprint, jti) pairs hash distinct inputs.
        let mut context = Context::new(&SHA256);
        context.update(thumbprint.as_bytes());
        context.update(b"\0");
        context.update(jti.as_bytes());
        let mut proof = [0; 32];
        proof.copy_from_slice(context.finish().as_ref());
        let key_digest = digest(&SHA256, thumbprint.as_bytes());
        let mut key = [0; 8];
        key.copy_from_slice(&key_digest.as_ref()[..8]);
        ProofId {
            proof,
            key: u64::from_be_bytes(key),
        }
    }

    /// The proof hash in lowercase hex, the Redis key's last segment.
    #[cfg_attr(
        not(any(feature = "redis", test)),
        expect(dead_code, reason = "Redis keys only")
    )]
    fn hex(&self) -> String {
        use std::fmt::Write as _;
        self.proof
            .iter()
            .fold(String::with_capacity(64), |mut hex, byte| {
                let _ = write!(hex, "{byte:02x}");
                hex
            })
    }
}

/// Where the proofs a server accepted are recorded.
#[derive(Debug)]
pub(crate) enum UsedProofs {
    Memory(MemoryProofs),
    #[cfg(feature = "redis")]
    Redis(crate::mcp::RedisSpent),
}

impl UsedProofs {
    /// Records `id`, of a proof refused as too old after `expires_ms`, found acceptable at
    /// `now_ms`; refuses it if it is recorded already.
    pub(crate) async fn record(
        &self,
        id: ProofId,
        expires_ms: u64,
        now_ms: u64,
    ) -> Result<(), DpopError> {
        match self {
            UsedProofs::Memory(memory) => memory.record(id, expires_ms, now_ms),
            #[cfg(feature = "redis")]
            UsedProofs::Redis(redis) => redis
                .record(&format!("dpop:{}", id.hex()), expires_ms, "DPoP proofs")
                .await
                .map_err(refused),
        }
    }
}

/// The error of a proof the record refuses.
fn refused(why: NotSpent) -> DpopError {
    match why {
        NotSpent::Replayed => DpopError::InvalidProof("replayed".into()),
        NotSpent::Full(capacity) => DpopError::Unavailable(format!(
            "{capacity} unexpired DPoP proofs are recorded, the maximum"
        )),
        NotSpent::Unavailable(error) => DpopError::Unavailable(format!(
            "the record of used DPoP proofs is unavailable: {error}"
        )),
    }
}

/// Proofs recorded in this process, bounded in total and per client key.
#[derive(Debug)]
pub(crate) struct MemoryProofs {
    capacity: usize,
    per_key: usize,
    inner: Mutex<Recorded>,
}

#[derive(Debug, Default)]
struct Recorded {
    proofs: ExpiringKeys<ProofId>,
    /// How many unexpired proofs each key has in `proofs`; keys with none are removed.
    per_key: HashMap<u64, usize>,
}

impl MemoryProofs {
    /// A record of at most `capacity` unexpired proofs, `per_key` of them by one key.
    pub(crate) fn new(capacity: usize, per_key: usize) -> MemoryProofs {
        MemoryProofs {
            capacity,
            per_key,
            inner: Mutex::default(),
        }
    }

    fn record(&self, id: ProofId, expires_ms: u64, now_ms: u64) -> Result<(), DpopError> {
        let mut recorded = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let Recorded { proofs, per_key } = &mut *recorded;
        // Only expired entries go: their proofs are refused as too old from now on.
        proofs.forget_expired(now_ms, |gone| {
            if let Some(count) = per_key.get_mut(&gone.key) {
                *count -= 1;
                if *count == 0 {
                    per_key.remove(&gone.key);
                }
            }
        });
        if proofs.contains(&id) {
            return Err(refused(NotSpent::Replayed));
        }
        if per_key.get(&id.key).copied().unwrap_or(0) >= self.per_key {
            return Err(DpopError::InvalidProof("too many proofs".into()));
        }
        if proofs.len() >= self.capacity {
            return Err(refused(NotSpent::Full(self.capacity)));
        }
        proofs.insert(id, expires_ms);
        *per_key.entry(id.key).or_default() += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(
        proofs: &MemoryProofs,
        key: &str,
        jti: &str,
        expires: u64,
        now: u64,
    ) -> Result<(), DpopError> {
        proofs.record(ProofId::new(key, jti), expires, now)
    }

    fn replayed() -> Result<(), DpopError> {
        Err(DpopError::InvalidProof("replayed".into()))
    }

    #[test]
    fn a_proof_is_accepted_once_per_key() {
        let proofs = MemoryProofs::new(10, 10);
        assert_eq!(record(&proofs, "k1", "a", 2_000, 1_000), Ok(()));
        assert_eq!(record(&proofs, "k1", "a", 2_000, 1_500), replayed());
        assert_eq!(
            record(&proofs, "k2", "a", 2_000, 1_500),
            Ok(()),
            "same jti, other key"
        );
        assert_eq!(record(&proofs, "k1", "b", 2_000, 1_500), Ok(()));
        // Neither half can be shifted into the other.
        assert_ne!(ProofId::new("ab", "c"), ProofId::new("a", "bc"));
    }

    #[test]
    fn a_full_record_refuses_rather_than_forgets() {
        let proofs = MemoryProofs::new(3, 3);
        for (n, key) in ["k1", "k2", "k3"].into_iter().enumerate() {
            assert_eq!(record(&proofs, key, "j", 5_000 + n as u64, 1_000), Ok(()));
        }
        let full = Err(DpopError::Unavailable(
            "3 unexpired DPoP proofs are recorded, the maximum".into(),
        ));
        assert_eq!(record(&proofs, "k4", "j", 9_000, 4_000), full);
        for key in ["k1", "k2", "k3"] {
            assert_eq!(record(&proofs, key, "j", 9_000, 4_000), replayed());
        }
        // Once the first proof has expired, its entry makes room, and only its.
        assert_eq!(record(&proofs, "k4", "j", 9_000, 5_000), full);
        assert_eq!(record(&proofs, "k4", "j", 9_000, 5_001), Ok(()));
        assert_eq!(record(&proofs, "k2", "j", 9_000, 5_001), replayed());
        assert_eq!(record(&proofs, "k5", "j", 9_000, 5_001), full);
    }

    #[test]
    fn one_key_cannot_fill_the_record() {
        let proofs = MemoryProofs::new(10, 2);
        assert_eq!(record(&proofs, "greedy", "1", 5_000, 1_000), Ok(()));
        assert_eq!(record(&proofs, "greedy", "2", 6_000, 1_000), Ok(()));
        let too_many = Err(DpopError::InvalidProof("too many proofs".into()));
        assert_eq!(record(&proofs, "greedy", "3", 6_000, 1_000), too_many);
        assert_eq!(record(&proofs, "greedy", "1", 6_000, 1_000), replayed());
        // Other keys are unaffected.
        assert_eq!(record(&proofs, "modest", "1", 5_000, 1_000), Ok(()));
        // When the greedy key's first proof expires, it gets one more, and its count is right.
        assert_eq!(record(&proofs, "greedy", "3", 7_000, 5_001), Ok(()));
        assert_eq!(record(&proofs, "greedy", "4", 7_000, 5_001), too_many);
        let inner = proofs.inner.lock().unwrap();
        assert_eq!(inner.proofs.len(), 2);
        assert_eq!(inner.per_key.len(), 1, "modest's count went with its proof");
    }

    /// Two replicas' connections to one `redis-server` of this test: a proof recorded
    /// through one is refused through the other, under `PREFIX:dpop:HEX` until it expires;
    /// with Redis gone, proofs are refused (`503`), not accepted unrecorded.
    #[cfg(feature = "redis")]
    #[tokio::test]
    async fn redis_records_are_shared_and_fail_closed() {
        use std::process::{Command, Stdio};

        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            assert!(
                std::env::var_os("MCP_AUTH_REQUIRE_REDIS").is_none(),
                "redis-server is not installed, and MCP_AUTH_REQUIRE_REDIS is set"
            );
            eprintln!("SKIPPED: redis-server is not installed");
            return;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
        let mut connect = None;
        for _ in 0..250 {
            if let Ok(connection) = client.get_connection_manager().await {
                connect = Some(connection);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let connection = connect.expect("redis-server answers");
        let replica =
            |connection| UsedProofs::Redis(crate::mcp::RedisSpent::new(connection, "t".into()));
        let (one, other) = (
            replica(connection.clone()),
            replica(client.get_connection_manager().await.unwrap()),
        );

        let now = crate::auth::dpop::proof::now_ms();
        let id = ProofId::new("thumbprint", "jti");
        assert_eq!(one.record(id, now + 300_000, now).await, Ok(()));
        assert_eq!(other.record(id, now + 300_000, now).await, replayed());
        assert_eq!(
            other
                .record(ProofId::new("other", "jti"), now + 300_000, now)
                .await,
            Ok(())
        );
        let mut direct = connection.clone();
        let ttl: i64 = redis::cmd("PTTL")
            .arg(format!("t:dpop:{}", id.hex()))
            .query_async(&mut direct)
            .await
            .unwrap();
        // Until the proof's expiry, plus the replicas' allowed clock skew (one minute).
        assert!((300_000..=361_000).contains(&ttl), "{ttl}");

        server.kill().unwrap();
        server.wait().unwrap();
        let down = one
            .record(ProofId::new("thumbprint", "new"), now + 300_000, now)
            .await;
        assert!(matches!(down, Err(DpopError::Unavailable(_))), "{down:?}");
    }

    #[test]
    fn hex_names_the_proof_hash() {
        let hex = ProofId::new("k", "j").hex();
        assert_eq!(hex.len(), 64);
        assert!(
            hex.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }
}
