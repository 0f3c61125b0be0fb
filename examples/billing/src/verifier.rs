//! The token verifier the server is configured with, as one type: the MCP endpoint and the
//! audit middleware share it.

use std::sync::Arc;

use mcp_auth_runtime::auth::{AuthError, AuthInfo, TokenVerifier};
use mcp_auth_runtime::auth::{IntrospectionVerifier, JwtVerifier, Readiness};

/// JWT access tokens (the dev issuer's or a real issuer's), or opaque tokens introspected.
#[derive(Clone)]
pub(crate) enum Verifier {
    Jwt(JwtVerifier),
    Introspection(IntrospectionVerifier),
}

impl TokenVerifier for Verifier {
    async fn verify(&self, token: &str) -> Result<AuthInfo, AuthError> {
        match self {
            Verifier::Jwt(verifier) => verifier.verify(token).await,
            Verifier::Introspection(verifier) => verifier.verify(token).await,
        }
    }

    // Delegated so that the JWT verifier's cache hands out its shared results.
    async fn verify_shared(&self, token: &str) -> Result<Arc<AuthInfo>, AuthError> {
        match self {
            Verifier::Jwt(verifier) => verifier.verify_shared(token).await,
            Verifier::Introspection(verifier) => verifier.verify_shared(token).await,
        }
    }

    async fn ready(&self) -> Readiness {
        match self {
            Verifier::Jwt(verifier) => verifier.ready().await,
            Verifier::Introspection(verifier) => verifier.ready().await,
        }
    }

    fn resource(&self) -> Option<&str> {
        match self {
            Verifier::Jwt(verifier) => verifier.resource(),
            Verifier::Introspection(verifier) => Some(verifier.resource()),
        }
    }
}
