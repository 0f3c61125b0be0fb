//! [`VerifierChain`]: several verifiers on one server, each for the credentials it
//! recognises (API keys by their prefix, JWTs otherwise).

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use super::api_key::ApiKeys;
use super::{AuthError, AuthInfo, Readiness, SharedVerifier, TokenVerifier};

/// Sends each credential to the verifier for it: the one with the longest prefix it starts
/// with, else the [`otherwise`](Self::otherwise) verifier, else refuses it (`401`). The
/// `401`/`403` answers, the challenges and the audit are the same whichever verifier decided.
///
/// A credential goes to exactly one verifier: a key refused by the keys is never tried as a
/// JWT, nor a JWT as a key. Prefixes are matched exactly (case-sensitively); with `sk_` and
/// `sk_live_` both routed, `sk_live_...` goes to the second whatever the order of addition.
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
    /// Counts what each verifier of the chain counts in `metrics`.
    pub(crate) fn attach_metrics(&self, metrics: &crate::observe::Metrics) {
        let routed = self.prefixed.iter().map(|(_, verifier)| verifier);
        for verifier in routed.chain(&self.otherwise) {
            verifier.attach_metrics(metrics);
        }
    }

    /// A chain that refuses every credential until verifiers are added.
    pub fn new() -> Self {
        VerifierChain::default()
    }

    /// Credentials starting with `prefix` go to `verifier` (unless a longer routed prefix
    /// matches them).
    ///
    /// # Panics
    ///
    /// If `prefix` is empty (it would take every credential) or routed already.
    pub fn prefix(mut self, prefix: impl Into<String>, verifier: impl TokenVerifier) -> Self {
        let prefix = prefix.into();
        assert!(
            !prefix.is_empty(),
            "a verifier chain prefix cannot be empty"
        );
        assert!(
            self.prefixed.iter().all(|(p, _)| *p != prefix),
            "the verifier chain routes the prefix {prefix:?} already"
        );
        self.prefixed
            .push((prefix, SharedVerifier(Arc::new(verifier))));
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

    /// The verifier for `token`.
    fn route(&self, token: &str) -> Result<&SharedVerifier, AuthError> {
        self.prefixed
            .iter()
            .filter(|(prefix, _)| token.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, verifier)| verifier)
            .or(self.otherwise.as_ref())
            .ok_or_else(|| {
                AuthError::InvalidToken("no verifier for this kind of credential".into())
            })
    }
}

impl TokenVerifier for VerifierChain {
    async fn verify(&self, token: &str) -> Result<AuthInfo, AuthError> {
        self.route(token)?.verify(token).await
    }

    async fn verify_shared(&self, token: &str) -> Result<Arc<AuthInfo>, AuthError> {
        self.route(token)?.verify_shared(token).await
    }

    async fn verify_from(
        &self,
        token: &str,
        peer: Option<IpAddr>,
    ) -> Result<Arc<AuthInfo>, AuthError> {
        self.route(token)?.verify_from(token, peer).await
    }

    /// Ready when every verifier is; unavailable when none can check a credential; degraded
    /// in between (some credentials can be checked).
    async fn ready(&self) -> Readiness {
        let verifiers = self.prefixed.iter().map(|(_, v)| v).chain(&self.otherwise);
        let mut unavailable = Vec::new();
        let mut degraded = Vec::new();
        let mut count = 0;
        for verifier in verifiers {
            count += 1;
            match verifier.ready().await {
                Readiness::Ready => {}
                Readiness::Degraded(why) => degraded.push(why),
                Readiness::Unavailable(why) => unavailable.push(why),
            }
        }
        if count > 0 && unavailable.len() == count {
            Readiness::Unavailable(unavailable.join("; "))
        } else if unavailable.is_empty() && degraded.is_empty() {
            Readiness::Ready
        } else {
            unavailable.extend(degraded);
            Readiness::Degraded(unavailable.join("; "))
        }
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
