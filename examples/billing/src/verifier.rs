//! The token verifier the server is configured with: JWTs or introspection, whichever the
//! command line chose, behind the API keys.

use mcp_auth_runtime::auth::{IntrospectionVerifier, JwtVerifier, VerifierChain};

/// JWT access tokens (the dev issuer's or a real issuer's), or opaque tokens introspected.
#[derive(Clone)]
pub(crate) enum Verifier {
    Jwt(JwtVerifier),
    Introspection(IntrospectionVerifier),
}

impl Verifier {
    /// `chain`, with this verifier taking every credential no prefix routes. Added as itself,
    /// not wrapped in this enum: the server's metrics count the token cache of the runtime's
    /// verifiers only (a wrapper would hide it).
    pub(crate) fn otherwise_in(self, chain: VerifierChain) -> VerifierChain {
        match self {
            Verifier::Jwt(verifier) => chain.otherwise(verifier),
            Verifier::Introspection(verifier) => chain.otherwise(verifier),
        }
    }
}
