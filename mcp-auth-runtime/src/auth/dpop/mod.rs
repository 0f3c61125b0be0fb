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
//! SKELETON: the lead fixed this API so that the engineers of issue 17 can work in parallel.
//! Bodies marked `todo!` are the proof engineer's (`proof.rs`, `htu.rs`, `thumbprint.rs`,
//! `replay.rs`, `nonce.rs`); the wiring (layer, challenges, metadata, verifiers, builder) is
//! the wiring engineer's.

use std::fmt;
use std::sync::Arc;
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

    /// A configuration with `policy`, the default algorithms and `iat` window, no nonces.
    pub fn new(policy: DpopPolicy) -> Self {
        Dpop {
            inner: Arc::new(Inner {
                policy,
                algorithms: Self::DEFAULT_ALGORITHMS.to_vec(),
                iat_window: Self::DEFAULT_IAT_WINDOW,
                nonce_key: None,
                previous_nonce_keys: Vec::new(),
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

    /// The policy.
    pub fn policy(&self) -> DpopPolicy {
        self.inner.policy
    }

    /// The accepted proof algorithms.
    pub fn accepted_algorithms(&self) -> &[Algorithm] {
        &self.inner.algorithms
    }

    fn inner_mut(&mut self) -> &mut Inner {
        Arc::get_mut(&mut self.inner).expect("configured before it is shared")
    }
}

impl fmt::Debug for Dpop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dpop")
            .field("policy", &self.inner.policy)
            .field("algorithms", &self.inner.algorithms)
            .field("iat_window", &self.inner.iat_window)
            .field("nonces", &self.inner.nonce_key.is_some())
            .finish_non_exhaustive()
    }
}

/// What a proof must match: the request it came with (RFC 9449 §4.3).
#[derive(Debug, Clone, Copy)]
pub struct ProofRequest<'a> {
    /// The request's method (`htm`).
    pub method: &'a Method,
    /// The request's URI as the client addressed it, without query and fragment (`htu`);
    /// behind a proxy, the public URI, not the one the server sees.
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
    pub async fn verify_proof(
        &self,
        proof: &str,
        request: ProofRequest<'_>,
    ) -> Result<VerifiedProof, DpopError> {
        let _ = (proof, request);
        todo!("proof engineer")
    }

    /// A current server nonce for the `DPoP-Nonce` header, when nonces are on.
    pub fn nonce(&self) -> Option<String> {
        todo!("proof engineer")
    }
}
