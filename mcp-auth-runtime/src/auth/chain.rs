//! [`VerifierChain`]: several verifiers on one server, each for the credentials it
//! recognises (API keys by their prefix, JWTs otherwise).

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use super::api_key::ApiKeys;
use super::{AuthError, AuthInfo, Readiness, SharedVerifier, TokenVerifier};

/// Sends each credential to the verifier for it: the first whose prefix it starts with, else
/// the [`otherwise`](Self::otherwise) verifier, else refuses it (`401`). The `401`/`403`
/// answers, the challenges and the audit are the same whichever verifier decided.
///
/// ```no_run
/// use mcp_auth_runtime::auth::{ApiKeys, JwtVerifier, VerifierChain};
///
/// # fn demo(jwt: JwtVerifier) -> Result<(), Box<dyn std::error::Error>> {
/// let verifier = VerifierChain::new()
///     .api_keys(ApiKeys::from_file("data/api-keys.json")?)
///     .otherwise(jwt);
/// # let _ = verifier; Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct VerifierChain {
    prefixed: Vec<(String, SharedVerifier)>,
    otherwise: Option<SharedVerifier>,
}

impl VerifierChain {
    /// A chain that refuses every credential until verifiers are added.
    pub fn new() -> Self {
        VerifierChain::default()
    }

    /// Credentials starting with `prefix` go to `verifier`.
    pub fn prefix(mut self, prefix: impl Into<String>, verifier: impl TokenVerifier) -> Self {
        self.prefixed
            .push((prefix.into(), SharedVerifier(Arc::new(verifier))));
        self
    }

    /// Credentials starting with the keys' prefix go to `keys`.
    pub fn api_keys(self, keys: ApiKeys) -> Self {
        let prefix = keys.prefix().to_owned();
        self.prefix(prefix, keys)
    }

    /// Credentials no prefix matched go to `verifier`; its resource is the chain's.
    pub fn otherwise(mut self, verifier: impl TokenVerifier) -> Self {
        self.otherwise = Some(SharedVerifier(Arc::new(verifier)));
        self
    }
}

impl TokenVerifier for VerifierChain {
    async fn verify(&self, token: &str) -> Result<AuthInfo, AuthError> {
        let _ = token;
        todo!("i18-apikeys")
    }

    async fn verify_from(
        &self,
        token: &str,
        peer: Option<IpAddr>,
    ) -> Result<Arc<AuthInfo>, AuthError> {
        let _ = (token, peer);
        todo!("i18-apikeys")
    }

    async fn ready(&self) -> Readiness {
        todo!("i18-apikeys")
    }

    fn resource(&self) -> Option<&str> {
        self.otherwise.as_ref().and_then(TokenVerifier::resource)
    }
}

impl fmt::Debug for VerifierChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifierChain")
            .field(
                "prefixes",
                &self.prefixed.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            )
            .field("otherwise", &self.otherwise.is_some())
            .finish()
    }
}
