//! [`Algorithm`]: the JWS algorithms a [`JwtVerifier`](super::JwtVerifier) can accept.
//!
//! Ours rather than `jsonwebtoken`'s, so that its releases do not change this crate's API; it
//! is converted where tokens are checked.

use std::fmt;
use std::str::FromStr;

/// A JWS signature algorithm (RFC 7518 §3.1, RFC 8037 §3.1), named as in a token's `alg`
/// header.
///
/// `none` is not one of them: an unsigned token never validates.
///
/// ```
/// use mcp_auth_runtime::auth::Algorithm;
///
/// let alg: Algorithm = "ES256".parse().unwrap();
/// assert_eq!(alg, Algorithm::ES256);
/// assert_eq!(Algorithm::EdDSA.to_string(), "EdDSA");
/// assert!("none".parse::<Algorithm>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC with SHA-256; needs a shared secret.
    HS256,
    /// HMAC with SHA-384; needs a shared secret.
    HS384,
    /// HMAC with SHA-512; needs a shared secret.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// EdDSA on Ed25519.
    EdDSA,
}

impl Algorithm {
    /// The HMAC algorithms, checked with a shared secret.
    pub(crate) const HMAC: [Algorithm; 3] = [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];

    /// The asymmetric algorithms, checked with a public key.
    pub(crate) const ASYMMETRIC: [Algorithm; 9] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    /// The JOSE name, as in a token's `alg` header: `RS256`, `EdDSA`, ...
    pub const fn name(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// Whether this is an HMAC algorithm, checked with a shared secret.
    pub const fn is_hmac(self) -> bool {
        matches!(self, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
    }

    /// `jsonwebtoken`'s name for it.
    pub(crate) fn to_jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as J;
        match self {
            Algorithm::HS256 => J::HS256,
            Algorithm::HS384 => J::HS384,
            Algorithm::HS512 => J::HS512,
            Algorithm::RS256 => J::RS256,
            Algorithm::RS384 => J::RS384,
            Algorithm::RS512 => J::RS512,
            Algorithm::PS256 => J::PS256,
            Algorithm::PS384 => J::PS384,
            Algorithm::PS512 => J::PS512,
            Algorithm::ES256 => J::ES256,
            Algorithm::ES384 => J::ES384,
            Algorithm::EdDSA => J::EdDSA,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a string is not an [`Algorithm`]: not a JOSE algorithm name this crate verifies
/// (names are case-sensitive, RFC 7515 §4.1.1; `none` is never one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a supported JWS algorithm (expected one of HS256/384/512, RS256/384/512, PS256/384/512, ES256, ES384, EdDSA)"
)]
pub struct ParseAlgorithmError(String);

impl FromStr for Algorithm {
    type Err = ParseAlgorithmError;

    fn from_str(name: &str) -> Result<Algorithm, ParseAlgorithmError> {
        (Algorithm::HMAC.into_iter())
            .chain(Algorithm::ASYMMETRIC)
            .find(|alg| alg.name() == name)
            .ok_or_else(|| ParseAlgorithmError(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_jsonwebtoken() {
        for alg in Algorithm::HMAC.into_iter().chain(Algorithm::ASYMMETRIC) {
            assert_eq!(alg.name().parse::<Algorithm>(), Ok(alg));
            assert_eq!(format!("{:?}", alg.to_jsonwebtoken()), alg.name());
            assert_eq!(alg.is_hmac(), alg.name().starts_with("HS"));
        }
        for bad in ["none", "rs256", "ES512", "", "HS256 "] {
            assert!(bad.parse::<Algorithm>().is_err(), "{bad}");
        }
    }
}
