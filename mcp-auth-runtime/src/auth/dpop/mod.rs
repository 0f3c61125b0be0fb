//! Proof of possession: DPoP-bound access tokens (RFC 9449).
//!
//! A bearer token works for whoever holds it; a DPoP-bound token (`cnf.jkt` names the
//! thumbprint of the client's key) works only with a fresh proof, a JWT signed by that key for
//! this request (method, URI, access token). [`Dpop`] is a server's DPoP configuration: its
//! [`DpopPolicy`], the accepted algorithms, the `iat` window, the replay record of proof ids
//! (`jti`) and, optionally, server nonces. [`BearerAuthLayer`](super::BearerAuthLayer)
//! applies it; [`McpServerBuilder::dpop`](crate::McpServerBuilder::dpop) configures it for a
//! server.
//!
//! One concern per module: `proof` checks a proof (RFC 9449 §4.3), `htu` normalises URIs,
//! `thumbprint` hashes keys and tokens, `nonce` seals and opens server nonces, `replay`
//! records the proofs used.

pub(crate) mod htu;
mod nonce;
mod proof;
mod replay;
mod thumbprint;

pub(crate) use nonce::MIN_KEY_LEN as MIN_NONCE_KEY_LEN;
pub(crate) use proof::MAX_PROOF_LEN;

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::Method;

use super::Algorithm;

/// Whether a server accepts DPoP-bound tokens, and whether it still accepts bearer tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DpopPolicy {
    /// Bearer tokens only: a DPoP-bound token (one with `cnf`) is refused, and the `DPoP`
    /// scheme is not understood. The default.
    #[default]
    Off,
    /// DPoP-bound tokens with valid proofs, and plain bearer tokens.
    Accept,
    /// DPoP-bound tokens with valid proofs only: a bearer token is refused with the DPoP
    /// challenge.
    Require,
}

/// A server's DPoP configuration (RFC 9449 §4.3, §7, §8, §11.1).
///
/// ```
/// use std::time::Duration;
/// use mcp_auth_runtime::auth::{Algorithm, Dpop};
///
/// let dpop = Dpop::accept()
///     .algorithms([Algorithm::ES256, Algorithm::EdDSA])
///     .iat_window(Duration::from_secs(60));
/// # let _ = dpop;
/// ```
#[derive(Clone)]
pub struct Dpop {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) policy: DpopPolicy,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) iat_window: Duration,
    pub(crate) nonce_key: Option<Vec<u8>>,
    pub(crate) previous_nonce_keys: Vec<Vec<u8>>,
    /// How many unexpired proofs this process may remember, in all and per client key.
    pub(crate) replay_capacity: usize,
    pub(crate) replay_capacity_per_key: Option<usize>,
    /// The proofs accepted so far: in this process unless the server shares Redis.
    pub(crate) used: replay::UsedProofs,
    /// The nonce keys, made from the configuration when first needed.
    nonces: OnceLock<Option<nonce::Nonces>>,
}

impl Dpop {
    /// The algorithms accepted unless [`algorithms`](Self::algorithms) says otherwise:
    /// ES256, ES384, EdDSA, PS256, PS384, PS512, RS256, RS384, RS512 (never HMAC or `none`).
    pub const DEFAULT_ALGORITHMS: [Algorithm; 9] = [
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
    ];

    /// The default `iat` window: proofs issued up to 5 minutes before or after now (SEP-1932).
    pub const DEFAULT_IAT_WINDOW: Duration = Duration::from_secs(300);

    /// How many unexpired proofs a process remembers at once unless
    /// [`replay_capacity`](Self::replay_capacity) says otherwise: 1,000,000 (about 120 MB when
    /// full, taken only as traffic needs it). A proof is remembered until its `iat` leaves
    /// the window, about 6 minutes for a fresh proof with the default window, so this is a
    /// sustained 2,700 fresh proofs a second.
    pub const DEFAULT_REPLAY_CAPACITY: usize = 1_000_000;

    /// A configuration with `policy`, the default algorithms and `iat` window, no nonces.
    pub fn new(policy: DpopPolicy) -> Self {
        Dpop {
            inner: Arc::new(Inner {
                policy,
                algorithms: Self::DEFAULT_ALGORITHMS.to_vec(),
                iat_window: Self::DEFAULT_IAT_WINDOW,
                nonce_key: None,
                previous_nonce_keys: Vec::new(),
                replay_capacity: Self::DEFAULT_REPLAY_CAPACITY,
                replay_capacity_per_key: None,
                used: replay::UsedProofs::Memory(replay::MemoryProofs::new(
                    Self::DEFAULT_REPLAY_CAPACITY,
                    Self::DEFAULT_REPLAY_CAPACITY / 10,
                )),
                nonces: OnceLock::new(),
            }),
        }
    }

    /// Bearer tokens only ([`DpopPolicy::Off`]).
    pub fn off() -> Self {
        Self::new(DpopPolicy::Off)
    }

    /// DPoP-bound tokens and bearer tokens ([`DpopPolicy::Accept`]).
    pub fn accept() -> Self {
        Self::new(DpopPolicy::Accept)
    }

    /// DPoP-bound tokens only ([`DpopPolicy::Require`]).
    pub fn require() -> Self {
        Self::new(DpopPolicy::Require)
    }

    /// The proof algorithms accepted, from [`DEFAULT_ALGORITHMS`](Self::DEFAULT_ALGORITHMS);
    /// HMAC algorithms are refused when the server is built (a proof must be signed with the
    /// client's private key, never a shared secret).
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.inner_mut().algorithms = algorithms.into_iter().collect();
        self
    }

    /// How far a proof's `iat` may lie from now, either way (default 5 minutes). Proof ids are
    /// remembered for as long, so a longer window costs memory.
    pub fn iat_window(mut self, window: Duration) -> Self {
        self.inner_mut().iat_window = window;
        self
    }

    /// Requires server nonces (RFC 9449 §8): a proof must carry a `nonce` this server (or a
    /// replica with the same key) issued recently, else `401` with `error="use_dpop_nonce"`
    /// and a fresh `DPoP-Nonce`. Nonces are sealed timestamps (SEP-1932), so replicas need
    /// the same `key` (at least 32 bytes) but no shared state.
    pub fn nonces(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.inner_mut().nonce_key = Some(key.into());
        self
    }

    /// A former [`nonces`](Self::nonces) key whose nonces are still accepted while keys rotate.
    pub fn previous_nonce_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.inner_mut().previous_nonce_keys.push(key.into());
        self
    }

    /// How many unexpired proofs this process remembers at once (default
    /// [`DEFAULT_REPLAY_CAPACITY`](Self::DEFAULT_REPLAY_CAPACITY)), and so how many fresh
    /// proofs a second it can take: a proof is remembered until its `iat` leaves the window
    /// (window + 60 s for a fresh one). When that many are remembered, further proofs get
    /// `503` until some expire: a forgotten proof would be a replay allowed. One client key
    /// may hold a tenth of it unless
    /// [`replay_capacity_per_key`](Self::replay_capacity_per_key) says otherwise; beyond its
    /// share, that key's proofs get `401`, so that one client cannot make every other wait.
    /// With [`redis_sessions`](crate::McpServerBuilder::redis_sessions) proofs are recorded in
    /// Redis instead, without this bound.
    pub fn replay_capacity(mut self, proofs: usize) -> Self {
        self.inner_mut().replay_capacity = proofs;
        self.reset_record()
    }

    /// How many unexpired proofs of one client key this process remembers at once (default:
    /// a tenth of [`replay_capacity`](Self::replay_capacity)).
    pub fn replay_capacity_per_key(mut self, proofs: usize) -> Self {
        self.inner_mut().replay_capacity_per_key = Some(proofs);
        self.reset_record()
    }

    /// The in-memory record, made anew for the configured capacity.
    fn reset_record(mut self) -> Self {
        let inner = self.inner_mut();
        inner.used = inner.memory_record();
        self
    }

    /// The policy.
    pub fn policy(&self) -> DpopPolicy {
        self.inner.policy
    }

    /// The accepted proof algorithms.
    pub fn accepted_algorithms(&self) -> &[Algorithm] {
        &self.inner.algorithms
    }

    fn inner_mut(&mut self) -> &mut Inner {
        if Arc::get_mut(&mut self.inner).is_none() {
            // A clone shares this configuration: the change makes a copy of its own (with a
            // record of its own), and the clone keeps what it had.
            let copy = self.inner.copy_with(self.inner.memory_record());
            self.inner = Arc::new(copy);
        }
        let inner = Arc::get_mut(&mut self.inner).expect("not shared: copied above if it was");
        // Made again from the changed configuration when next needed.
        inner.nonces = OnceLock::new();
        inner
    }
}

impl Inner {
    /// This configuration with `used` as its replay record.
    fn copy_with(&self, used: replay::UsedProofs) -> Inner {
        Inner {
            policy: self.policy,
            algorithms: self.algorithms.clone(),
            iat_window: self.iat_window,
            nonce_key: self.nonce_key.clone(),
            previous_nonce_keys: self.previous_nonce_keys.clone(),
            replay_capacity: self.replay_capacity,
            replay_capacity_per_key: self.replay_capacity_per_key,
            used,
            nonces: OnceLock::new(),
        }
    }

    /// An empty in-memory record of the configured capacity.
    fn memory_record(&self) -> replay::UsedProofs {
        replay::UsedProofs::Memory(replay::MemoryProofs::new(
            self.replay_capacity,
            self.per_key_capacity(),
        ))
    }

    /// One key's share of the in-memory record.
    pub(crate) fn per_key_capacity(&self) -> usize {
        self.replay_capacity_per_key
            .unwrap_or(self.replay_capacity / 10)
    }
}

impl fmt::Debug for Dpop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dpop")
            .field("policy", &self.inner.policy)
            .field("algorithms", &self.inner.algorithms)
            .field("iat_window", &self.inner.iat_window)
            .field("nonces", &self.inner.nonce_key.is_some())
            .field("replay_capacity", &self.inner.replay_capacity)
            .finish_non_exhaustive()
    }
}

/// What a proof must match: the request it came with (RFC 9449 §4.3).
#[derive(Debug, Clone, Copy)]
pub struct ProofRequest<'a> {
    /// The request's method (`htm`).
    pub method: &'a Method,
    /// The request's URI as the client addressed it, without query and fragment (`htu`);
    /// behind a proxy, the public URI, not the one the server sees. It is compared with
    /// `htu` after normalisation (RFC 9449 §4.3), so a caller that builds it from the request's
    /// path should first refuse a path that normalisation changes (`/a/../b`, `/%61`): its
    /// router would serve such a path from another route than the one `htu` names.
    /// [`BearerAuthLayer`](super::BearerAuthLayer) does.
    pub uri: &'a str,
    /// The access token the proof must be bound to (`ath`); `None` at a token endpoint.
    pub access_token: Option<&'a str>,
}

/// A proof that passed every check: the key it was signed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    pub(crate) thumbprint: String,
}

impl VerifiedProof {
    /// The RFC 7638 SHA-256 thumbprint of the proof's key, base64url without padding: what a
    /// bound token's `cnf.jkt` must equal.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }
}

/// Why a proof was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DpopError {
    /// The proof is malformed, badly signed, for another request or token, outside the `iat`
    /// window, or replayed: `401` with `error="invalid_dpop_proof"`. The reason is logged,
    /// never sent.
    #[error("invalid DPoP proof: {0}")]
    InvalidProof(String),
    /// The proof is signed by a key other than the one the access token is bound to
    /// (`cnf.jkt`): the token is not this client's, so `401` with `error="invalid_token"`
    /// ("invalid DPoP key binding", RFC 9449 §7.1). Only
    /// [`verify_bound_proof`](Dpop::verify_bound_proof) says this, before the signature is
    /// checked or the proof recorded.
    #[error("the DPoP proof's key is not the one the access token is bound to")]
    WrongKey,
    /// The proof lacks a current server nonce: `401` with `error="use_dpop_nonce"` and a
    /// fresh `DPoP-Nonce` header.
    #[error("the DPoP proof needs a current server nonce")]
    UseNonce,
    /// The proof could not be checked (the replay record is full or unreachable): `503`.
    /// Fails closed.
    #[error("DPoP proof verification unavailable: {0}")]
    Unavailable(String),
}

impl Dpop {
    /// Checks `proof`, the value of the request's one `DPoP` header, against `request`: every
    /// check of RFC 9449 §4.3, the nonce when nonces are on, and the replay record last (a
    /// proof is recorded only once everything else passed, so refused proofs fill nothing).
    ///
    /// In order, a proof is refused ([`DpopError::InvalidProof`], whose reason never quotes
    /// the proof) when it is longer than 8 KiB; not a compact JWS; its header or payload
    /// repeats a member name; its `typ` is not `dpop+jwt` (compared as a media type,
    /// case-insensitively, `application/` optional); its `alg` is not an accepted asymmetric
    /// algorithm; it has `crit`; its `jwk` is missing, private or symmetric, or does not fit
    /// `alg` (P-256 for ES256, P-384 for ES384, Ed25519 for EdDSA, RSA of 2048 bits or more);
    /// the signature is not that key's; `jti` is not a string of 1 to 256 bytes; `htm` is not
    /// the request's method (case-sensitive); `htu` does not equal the request's URI once both
    /// are normalised (RFC 3986 §6.2.2-3, query and fragment ignored); `iat` lies outside the
    /// window either way of now; `ath` is missing or not the access token's hash when
    /// `access_token` is given; its `nonce` was not sealed by this server; or the key already
    /// signed a proof with this `jti`. A missing or expired nonce is
    /// [`DpopError::UseNonce`]; a full or unreachable replay record is
    /// [`DpopError::Unavailable`].
    ///
    /// ```
    /// use base64::Engine;
    /// use http::Method;
    /// use mcp_auth_runtime::auth::{Dpop, DpopError, ProofRequest};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    ///
    /// // The client's key, and its public JWK for the proof header.
    /// let pair = aws_lc_rs::signature::EcdsaKeyPair::generate(
    ///     &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
    /// )?;
    /// let pkcs8 = pair.to_pkcs8v1()?;
    /// let key = jsonwebtoken::EncodingKey::from_ec_der(pkcs8.as_ref());
    /// let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    /// header.typ = Some("dpop+jwt".into());
    /// header.jwk = Some(jsonwebtoken::jwk::Jwk::from_encoding_key(
    ///     &key,
    ///     jsonwebtoken::Algorithm::ES256,
    /// )?);
    ///
    /// // A proof for `POST https://api.example.com/mcp` with this access token.
    /// let token = "an-access-token";
    /// let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    /// let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    /// let claims = serde_json::json!({
    ///     "jti": "a-random-id-used-once",
    ///     "htm": "POST",
    ///     "htu": "https://api.example.com/mcp",
    ///     "iat": now,
    ///     "ath": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest),
    /// });
    /// let proof = jsonwebtoken::encode(&header, &claims, &key)?;
    ///
    /// let dpop = Dpop::accept();
    /// let request = ProofRequest {
    ///     method: &Method::POST,
    ///     uri: "https://api.example.com/mcp",
    ///     access_token: Some(token),
    /// };
    /// let verified = dpop.verify_proof(&proof, request).await?;
    /// // What a bound token's `cnf.jkt` must be.
    /// assert_eq!(verified.thumbprint().len(), 43);
    ///
    /// // The same proof again is a replay.
    /// assert_eq!(
    ///     dpop.verify_proof(&proof, request).await,
    ///     Err(DpopError::InvalidProof("replayed".into()))
    /// );
    /// # Ok(()) }
    /// ```
    pub async fn verify_proof(
        &self,
        proof: &str,
        request: ProofRequest<'_>,
    ) -> Result<VerifiedProof, DpopError> {
        proof::verify(self, proof, request, None, proof::now_ms()).await
    }

    /// As [`verify_proof`](Self::verify_proof), for a token bound to the key whose thumbprint
    /// is `jkt` (its `cnf.jkt`): a proof signed by any other key is refused before its
    /// signature is checked and before it is recorded, so that a caller holding one valid
    /// token cannot fill the replay record with proofs of keys of its own.
    pub async fn verify_bound_proof(
        &self,
        proof: &str,
        request: ProofRequest<'_>,
        jkt: &str,
    ) -> Result<VerifiedProof, DpopError> {
        proof::verify(self, proof, request, Some(jkt), proof::now_ms()).await
    }

    /// A current server nonce for the `DPoP-Nonce` header, when nonces are on. One nonce is
    /// issued every 10 seconds and handed to every response meanwhile.
    pub fn nonce(&self) -> Option<String> {
        self.nonce_keys()
            .map(|nonces| nonces.issue(proof::now_ms()))
    }

    /// The nonce keys, when [`nonces`](Self::nonces) is configured.
    fn nonce_keys(&self) -> Option<&nonce::Nonces> {
        let inner = &*self.inner;
        inner
            .nonces
            .get_or_init(|| {
                let key = inner.nonce_key.as_deref()?;
                Some(nonce::Nonces::new(
                    key,
                    &inner.previous_nonce_keys,
                    inner.iat_window,
                ))
            })
            .as_ref()
    }

    /// The same configuration, recording used proofs in `redis` beside the sessions (under
    /// `PREFIX:dpop:`), so that a proof used at one replica is refused at every other.
    #[cfg(feature = "redis")]
    pub(crate) fn with_redis_replay(&self, redis: &crate::session::RedisSessions) -> Dpop {
        let used = replay::UsedProofs::Redis(crate::mcp::RedisSpent::new(
            redis.connection(),
            redis.prefix(),
        ));
        Dpop {
            inner: Arc::new(self.inner.copy_with(used)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_follow_the_configuration() {
        assert_eq!(Dpop::accept().nonce(), None);
        let dpop = Dpop::accept().nonces([1; 32]);
        let nonce = dpop.nonce().unwrap();
        assert_eq!(dpop.nonce(), Some(nonce.clone()), "one per time slice");
        // Configured after a nonce was issued: the new key seals.
        let rekeyed = dpop.nonces([2; 32]);
        assert_ne!(rekeyed.nonce(), Some(nonce));
    }

    #[test]
    fn configuring_a_shared_configuration_leaves_its_clones_alone() {
        let shared = Dpop::accept();
        let clone = shared.clone();
        // Used to panic ("configured before it is shared").
        let changed = shared.algorithms([Algorithm::EdDSA]).replay_capacity(10);
        assert_eq!(changed.accepted_algorithms(), [Algorithm::EdDSA]);
        assert_eq!(clone.accepted_algorithms(), Dpop::DEFAULT_ALGORITHMS);
        assert_eq!(changed.inner.replay_capacity, 10);
        assert_eq!(clone.inner.replay_capacity, Dpop::DEFAULT_REPLAY_CAPACITY);
    }
}
