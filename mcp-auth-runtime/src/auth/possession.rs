//! Proof of possession at the bearer layer: a [`Dpop`] configuration checked before it
//! serves, the public URI a request's proof must name (`htu`), and the DPoP step of a
//! request whose bound token was verified: its one proof, checked by the engine, and the
//! proof's key against the token's `cnf.jkt` (RFC 9449 §4.3, §7.1).

use http::{HeaderMap, HeaderName, Method};
use url::Url;

use super::claims::is_secure_url;
use super::{Algorithm, Dpop, DpopError, DpopPolicy, ProofRequest};
// The engine's limits: a header longer than the longest proof it reads is refused here
// without copying it, and nonce keys are checked at build against what it seals with.
use super::dpop::{MAX_PROOF_LEN, MIN_NONCE_KEY_LEN};

/// The request header that carries a proof (RFC 9449 §4.1).
pub(crate) const DPOP: HeaderName = HeaderName::from_static("dpop");

/// The response header that carries a server nonce (RFC 9449 §8, §9).
pub(crate) const DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");

/// Why a DPoP configuration was refused, by
/// [`BearerAuthLayer::dpop`](super::BearerAuthLayer::dpop) or (inside a
/// [`BuildError`](crate::BuildError)) by [`McpServerBuilder::build`](crate::McpServerBuilder::build).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DpopConfigError {
    /// No proof algorithm is accepted: every proof would be refused.
    #[error(
        "DPoP accepts no proof algorithm: leave `Dpop::algorithms` at its default or name at least one, e.g. ES256"
    )]
    NoAlgorithms,
    /// An HMAC algorithm is among the accepted ones: a proof is signed with the client's
    /// private key, never a shared secret (RFC 9449 §4.2, §11.6).
    #[error(
        "DPoP proofs cannot use `{0}`: a proof is signed with the client's private key, never a shared secret; accept asymmetric algorithms only (ES256, EdDSA, PS256, ...)"
    )]
    SymmetricAlgorithm(Algorithm),
    /// A nonce key is shorter than 32 bytes.
    #[error(
        "a DPoP nonce key must be at least 32 bytes, got {0}: use 32 random bytes, e.g. from `openssl rand -base64 32`"
    )]
    NonceKeyTooShort(usize),
    /// Previous nonce keys are configured without a current one: no nonce could be issued.
    #[error(
        "DPoP has previous nonce keys but no current one: set the current key with `Dpop::nonces(..)`"
    )]
    PreviousNonceKeyWithoutCurrent,
    /// The in-memory replay record could hold no proof, or one key's share is larger than
    /// the whole.
    #[error(
        "the DPoP replay record must hold at least one proof, and one key's share no more than the whole: got {capacity} in all and {per_key} per key"
    )]
    ReplayCapacity {
        /// [`Dpop::replay_capacity`].
        capacity: usize,
        /// [`Dpop::replay_capacity_per_key`].
        per_key: usize,
    },
    /// The public base URI is not an absolute `https` URI (http on loopback) without query
    /// and fragment.
    #[error(
        "the public URI `{0}` for DPoP proofs must be an absolute https URI without query or fragment (http is allowed on loopback only), e.g. https://api.example.com"
    )]
    InvalidPublicUri(String),
}

/// Refuses configurations that would refuse every proof, or accept forgeable ones.
pub(crate) fn check(dpop: &Dpop) -> Result<(), DpopConfigError> {
    let inner = &dpop.inner;
    if inner.algorithms.is_empty() {
        return Err(DpopConfigError::NoAlgorithms);
    }
    if let Some(hmac) = inner.algorithms.iter().find(|alg| alg.is_hmac()) {
        return Err(DpopConfigError::SymmetricAlgorithm(*hmac));
    }
    if let Some(short) = inner
        .nonce_key
        .iter()
        .chain(&inner.previous_nonce_keys)
        .find(|key| key.len() < MIN_NONCE_KEY_LEN)
    {
        return Err(DpopConfigError::NonceKeyTooShort(short.len()));
    }
    if inner.nonce_key.is_none() && !inner.previous_nonce_keys.is_empty() {
        return Err(DpopConfigError::PreviousNonceKeyWithoutCurrent);
    }
    let (capacity, per_key) = (inner.replay_capacity, inner.per_key_capacity());
    if per_key == 0 || per_key > capacity {
        return Err(DpopConfigError::ReplayCapacity { capacity, per_key });
    }
    Ok(())
}

/// Where clients address this service: what a proof's `htu` must name (RFC 9449 §4.3 check
/// 9: the request's URI without query and fragment), which behind a proxy is not the URI
/// this server sees.
#[derive(Debug, Clone)]
pub(crate) struct PublicUris {
    /// What clients put before a request's path: an origin, or an origin and the prefix a
    /// proxy strips; normalised, without a trailing slash.
    base: String,
    /// A local path that a proxy serves under another public URI (the MCP endpoint under
    /// [`proxy_rewrites_path`](crate::McpServerBuilder::proxy_rewrites_path)), and that URI.
    rewritten: Option<(String, String)>,
}

impl PublicUris {
    /// Requests are addressed as `base` followed by their path.
    pub(crate) fn new(base: &str) -> Result<PublicUris, DpopConfigError> {
        let invalid = || DpopConfigError::InvalidPublicUri(base.to_owned());
        let url = Url::parse(base).map_err(|_| invalid())?;
        if !is_secure_url(base) || url.query().is_some() || url.cannot_be_a_base() {
            return Err(invalid());
        }
        // `Url` lowercases the scheme and host and drops a default port (RFC 3986 §6.2.2,
        // §6.2.3), as the engine does to a proof's `htu`.
        let origin = url.origin().ascii_serialization();
        Ok(PublicUris {
            base: format!("{origin}{}", url.path().trim_end_matches('/')),
            rewritten: None,
        })
    }

    /// The MCP endpoint of a server: a request for `path` is addressed as `public`, the
    /// server's resource URI, since a proxy rewrites one into the other.
    pub(crate) fn rewriting(mut self, path: &str, public: &str) -> PublicUris {
        self.rewritten = Some((path.to_owned(), public.to_owned()));
        self
    }

    /// The URI a proof for a request for `path` must name.
    pub(crate) fn htu(&self, path: &str) -> String {
        match &self.rewritten {
            Some((local, public)) if local == path => public.clone(),
            _ => format!("{}{path}", self.base),
        }
    }
}

/// A layer's DPoP configuration: the engine and where clients address this service.
#[derive(Debug, Clone)]
pub(crate) struct DpopSetup {
    pub(crate) dpop: Dpop,
    pub(crate) uris: PublicUris,
}

/// Why possession was not proven.
#[derive(Debug)]
pub(crate) enum NotProven {
    /// No proof, several, an unreadable or oversized one, or one the engine refused:
    /// `401 invalid_dpop_proof`. The reason is for logs.
    InvalidProof(String),
    /// A proof by another key than the token's `cnf.jkt`: the token is not this client's,
    /// `401 invalid_token` in the DPoP challenge ("invalid DPoP key binding", RFC 9449 §7.1
    /// Figure 16).
    WrongKey,
    /// The proof lacks a current server nonce: `401 use_dpop_nonce` with a fresh nonce.
    UseNonce,
    /// The proof could not be checked now: `503`.
    Unavailable(String),
}

impl DpopSetup {
    /// Whether DPoP is on.
    pub(crate) fn policy(&self) -> DpopPolicy {
        self.dpop.policy()
    }

    /// Checks that the request (`method` on `path`, with `headers`) proves possession of the
    /// key `jkt` that `token` is bound to: one proof, signed by that key (checked before the
    /// signature and the replay record, so that proofs by other keys cost nothing and fill
    /// nothing), valid for this request and this token (the engine's checks, the replay
    /// record last).
    pub(crate) async fn prove(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        token: &str,
        jkt: &str,
    ) -> Result<(), NotProven> {
        let proof = single_proof(headers).map_err(|why| NotProven::InvalidProof(why.into()))?;
        if !super::dpop::htu::is_normal_path(path) {
            return Err(NotProven::InvalidProof(
                "the request path is not in normal form (dot segments or percent-encoded \
                 unreserved characters): it would be routed elsewhere than its htu names"
                    .into(),
            ));
        }
        let uri = self.uris.htu(path);
        let request = ProofRequest {
            method,
            uri: &uri,
            access_token: Some(token),
        };
        let verified = match self.dpop.verify_bound_proof(proof, request, jkt).await {
            Ok(verified) => verified,
            Err(DpopError::UseNonce) => return Err(NotProven::UseNonce),
            Err(DpopError::Unavailable(why)) => return Err(NotProven::Unavailable(why)),
            Err(DpopError::InvalidProof(why)) => return Err(NotProven::InvalidProof(why)),
            Err(DpopError::WrongKey) => return Err(NotProven::WrongKey),
        };
        // The engine compared already; compared again here, where the decision is made.
        // Thumbprints are public: no constant-time comparison is needed, only an exact one.
        let theirs = verified.thumbprint().as_bytes();
        if theirs.len() != jkt.len() || theirs != jkt.as_bytes() {
            return Err(NotProven::WrongKey);
        }
        Ok(())
    }
}

/// The value of the request's one `DPoP` header (RFC 9449 §4.3 check 1: exactly one).
fn single_proof(headers: &HeaderMap) -> Result<&str, &'static str> {
    let mut values = headers.get_all(DPOP).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err("a DPoP request needs exactly one `DPoP` header");
    };
    if value.len() > MAX_PROOF_LEN {
        return Err("the DPoP proof is too long");
    }
    value
        .to_str()
        .map_err(|_| "the DPoP proof is not visible ASCII")
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn htu_is_the_public_base_and_the_request_path() {
        let uris = PublicUris::new("HTTPS://API.Example.com:443/").unwrap();
        assert_eq!(uris.htu("/reports"), "https://api.example.com/reports");
        let uris = PublicUris::new("https://example.com/api/")
            .unwrap()
            .rewriting("/mcp", "https://example.com/api/mcp");
        assert_eq!(uris.htu("/mcp"), "https://example.com/api/mcp");
        assert_eq!(uris.htu("/other"), "https://example.com/api/other");
        for bad in [
            "api.example.com",
            "http://api.example.com",
            "https://api.example.com/?x=1",
            "https://api.example.com/#f",
            "https://u@api.example.com",
            "mailto:a@example.com",
        ] {
            assert!(PublicUris::new(bad).is_err(), "{bad}");
        }
        assert!(PublicUris::new("http://127.0.0.1:8080").is_ok());
    }

    #[test]
    fn exactly_one_proof_of_bounded_size() {
        let mut headers = HeaderMap::new();
        assert!(single_proof(&headers).is_err());
        headers.append(DPOP, HeaderValue::from_static("a.b.c"));
        assert_eq!(single_proof(&headers), Ok("a.b.c"));
        headers.append(DPOP, HeaderValue::from_static("a.b.c"));
        assert!(single_proof(&headers).is_err());
        let long = HeaderValue::try_from("a".repeat(MAX_PROOF_LEN + 1)).unwrap();
        headers.insert(DPOP, long);
        assert!(single_proof(&headers).is_err());
    }

    #[test]
    fn configurations_that_cannot_work_are_refused() {
        assert_eq!(check(&Dpop::accept()), Ok(()));
        assert_eq!(
            check(&Dpop::accept().algorithms([])),
            Err(DpopConfigError::NoAlgorithms)
        );
        assert_eq!(
            check(&Dpop::accept().algorithms([Algorithm::ES256, Algorithm::HS256])),
            Err(DpopConfigError::SymmetricAlgorithm(Algorithm::HS256))
        );
        assert_eq!(
            check(&Dpop::accept().nonces([7u8; 31])),
            Err(DpopConfigError::NonceKeyTooShort(31))
        );
        assert_eq!(
            check(
                &Dpop::accept()
                    .nonces([7u8; 32])
                    .previous_nonce_key([1u8; 8])
            ),
            Err(DpopConfigError::NonceKeyTooShort(8))
        );
        assert_eq!(
            check(&Dpop::accept().previous_nonce_key([1u8; 32])),
            Err(DpopConfigError::PreviousNonceKeyWithoutCurrent)
        );
    }
}
