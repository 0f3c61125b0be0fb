//! Who is calling: bearer tokens in, [`AuthInfo`] out.
//!
//! [`TokenVerifier`] is the one extension point: it turns a bearer token into an [`AuthInfo`]
//! or an [`AuthError`]. [`BearerAuthLayer`] applies it to every request of a service and
//! answers RFC 6750 challenges; [`McpServer`](crate::McpServer) installs it on the MCP route.
//! [`RequireScopes`] asks for scopes on routes of your own behind it, with the MCP endpoint's
//! `403` challenge.
//!
//! # Example
//!
//! [`BearerAuthLayer`] in front of a plain axum route: a request without a token gets `401`
//! and a `WWW-Authenticate` challenge that says where to get one; a request with a good token
//! gets through, with the caller's [`AuthInfo`] in its extensions.
//!
//! ```
//! use std::sync::Arc;
//!
//! use axum::body::{Body, to_bytes};
//! use axum::{Extension, Router, routing::get};
//! use http::{Request, StatusCode, header};
//! use mcp_auth_runtime::auth::{AuthInfo, BearerAuthLayer, Challenge, JwkSet, JwtVerifier};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! const SECRET: &[u8] = b"a shared secret of at least 32 bytes";
//! let verifier = JwtVerifier::builder("https://auth.example.com", "https://api.example.com/mcp")
//!     .static_keys(JwkSet::from_json(r#"{"keys": []}"#)?) // nothing is fetched
//!     .hmac_secret(SECRET)
//!     .build()?;
//! let challenge = Challenge::new("example")
//!     .resource_metadata("https://api.example.com/.well-known/oauth-protected-resource/mcp");
//!
//! let app = Router::new()
//!     .route("/whoami", get(|Extension(auth): Extension<Arc<AuthInfo>>| async move {
//!         auth.subject().unwrap_or_default().to_owned()
//!     }))
//!     .layer(BearerAuthLayer::new(verifier, challenge));
//!
//! // No token: 401, and the challenge names the protected-resource metadata (RFC 9728).
//! let request = Request::get("/whoami").body(Body::empty())?;
//! let response = app.clone().oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(
//!     response.headers()[header::WWW_AUTHENTICATE],
//!     "Bearer realm=\"example\", \
//!      resource_metadata=\"https://api.example.com/.well-known/oauth-protected-resource/mcp\""
//! );
//!
//! // An access token (`typ: at+jwt`) from the issuer, for this resource: 200.
//! # let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
//! let mut jwt_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
//! jwt_header.typ = Some("at+jwt".into());
//! let claims = serde_json::json!({
//!     "iss": "https://auth.example.com",
//!     "aud": "https://api.example.com/mcp",
//!     "sub": "alice",
//!     "scope": "invoices:read",
//!     "iat": now,
//!     "exp": now + 300,
//! });
//! let token =
//!     jsonwebtoken::encode(&jwt_header, &claims, &jsonwebtoken::EncodingKey::from_secret(SECRET))?;
//! let request = Request::get("/whoami")
//!     .header(header::AUTHORIZATION, format!("Bearer {token}"))
//!     .body(Body::empty())?;
//! let response = app.oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(to_bytes(response.into_body(), 1024).await?, "alice");
//! # Ok(()) }
//! ```
//!
#![doc = include_str!("../../docs/authorization.md")]
#![doc = include_str!("../../docs/dpop.md")]
#![doc = include_str!("../../docs/api-keys.md")]

mod algorithm;
mod api_key;
mod b64token;
mod cache;
mod chain;
mod challenge;
pub(crate) mod claims;
mod cnf;
mod dpop;
pub(crate) mod fetch;
mod introspection;
mod invalid;
mod jwk_set;
mod jwks;
mod jwt;
mod layer;
mod metrics;
mod possession;
mod principal;
mod require;
pub(crate) mod scope_token;

pub use algorithm::{Algorithm, ParseAlgorithmError};
pub use api_key::{
    ApiKeyError, ApiKeyFile, ApiKeyRecord, ApiKeys, DEFAULT_FAILURES_PER_MINUTE,
    DEFAULT_PREFIX as DEFAULT_API_KEY_PREFIX, DEFAULT_RELOAD_INTERVAL, NewApiKey,
};
pub(crate) use b64token::is_b64token;
pub use chain::VerifierChain;
pub use challenge::Challenge;
pub(crate) use challenge::Scheme;
pub use claims::ScopeClaim;
pub use dpop::{Dpop, DpopError, DpopPolicy, ProofRequest, VerifiedProof};
pub use introspection::{
    ClientAuth, IntrospectionBuilder, IntrospectionConfigError, IntrospectionVerifier,
};
pub use invalid::{InvalidToken, InvalidTokenKind};
pub use jwk_set::{JwkSet, JwkSetError};
pub use jwt::{JwtConfigError, JwtVerifier, JwtVerifierBuilder};
#[cfg(feature = "fuzzing")]
pub(crate) use layer::bearer_token;
pub use layer::{BearerAuth, BearerAuthLayer, ResponseFuture};
pub(crate) use layer::{auth_of, scheme_of};
pub use possession::DpopConfigError;
pub(crate) use possession::{PublicUris, check as check_dpop};
pub use principal::Principal;
pub use require::{RequireScopes, RequireScopesService};
pub use scope_token::is_scope_token;

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{Map, Value};

/// Checks a bearer token and says who is calling, with which scopes.
///
/// Implementations validate everything a resource server must (signature or introspection,
/// issuer, audience, expiry) and return [`AuthError::InvalidToken`] for any token that fails;
/// they never log the token.
pub trait TokenVerifier: Send + Sync + 'static {
    /// Verifies `token`, the credential of an `Authorization: Bearer` header.
    fn verify(&self, token: &str) -> impl Future<Output = Result<AuthInfo, AuthError>> + Send;

    /// Verifies `token` as [`verify`](Self::verify) does, returning a shared [`AuthInfo`];
    /// [`BearerAuthLayer`] calls this one. The default wraps `verify`; a verifier that
    /// remembers results (as [`JwtVerifier`]'s cache does) overrides it to hand out the same
    /// `AuthInfo` without copying it.
    fn verify_shared(
        &self,
        token: &str,
    ) -> impl Future<Output = Result<Arc<AuthInfo>, AuthError>> + Send {
        async move { self.verify(token).await.map(Arc::new) }
    }

    /// Verifies `token` as [`verify_shared`](Self::verify_shared) does, knowing the address of
    /// the peer that sent it (the TCP peer, when the server was started with
    /// [`serve`](crate::serve) or `into_make_service_with_connect_info`; `None` otherwise).
    /// [`BearerAuthLayer`] calls this one. The default ignores the peer; [`ApiKeys`] counts
    /// failed attempts per peer, and [`VerifierChain`] passes it on.
    fn verify_from(
        &self,
        token: &str,
        peer: Option<IpAddr>,
    ) -> impl Future<Output = Result<Arc<AuthInfo>, AuthError>> + Send {
        let _ = peer;
        self.verify_shared(token)
    }

    /// Whether tokens can be checked now, for readiness probes (`/readyz`). It must be cheap
    /// and must not hammer the issuer: [`JwtVerifier`] answers from its key cache, fetching
    /// the key set only when it holds no fresh one, and at most once per refetch interval.
    /// The default, for verifiers with nothing to prepare, is [`Readiness::Ready`].
    fn ready(&self) -> impl Future<Output = Readiness> + Send {
        async { Readiness::Ready }
    }

    /// The resource (audience) this verifier accepts tokens for, if it checks one.
    /// [`McpServerBuilder::build`](crate::McpServerBuilder::build) refuses a verifier whose
    /// resource is not the server's: tokens would be checked against one audience while the
    /// metadata and challenges advertise another. [`JwtVerifier`] and
    /// [`IntrospectionVerifier`] return theirs; the default, `None`, skips the check.
    fn resource(&self) -> Option<&str> {
        None
    }
}

/// Whether a [`TokenVerifier`] can check tokens now.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Readiness {
    /// Tokens can be checked.
    Ready,
    /// Tokens can be checked with what is cached, but refreshing it failed (the issuer is
    /// unreachable): a key rotation would not be seen. The reason is for logs.
    Degraded(String),
    /// No token can be checked now (no key set was ever fetched): every request fails with
    /// `503`. The reason is for logs.
    Unavailable(String),
}

/// Why a token was not accepted.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The token is malformed, expired, revoked, for another audience or otherwise invalid:
    /// `401` with `error="invalid_token"`. The reason is logged, never sent; its class
    /// ([`InvalidToken::kind`]) labels metrics and audit records.
    #[error("invalid token: {0}")]
    InvalidToken(InvalidToken),
    /// The token could not be checked (issuer unreachable, key set unusable): `503`. Fails
    /// closed: the request is never let through.
    #[error("token verification unavailable: {0}")]
    Unavailable(String),
    /// Too many failed attempts from this peer: `429` with `Retry-After`, the credential not
    /// checked. [`ApiKeys`] answers it for key guessing.
    #[error("too many failed attempts; retry after {} s", .retry_after.as_secs())]
    RateLimited {
        /// How long until the peer may try again.
        retry_after: std::time::Duration,
    },
}

/// The verified identity of a caller: subject, client, scopes, expiry, audience and claims.
///
/// It never holds the token itself, so its `Debug` output is safe to log.
///
/// Verifiers hand it out behind an `Arc` ([`TokenVerifier::verify_shared`]): a token served
/// from a verifier's cache gives every request the same `AuthInfo`, and everything derived
/// from it once (the [principal key](Principal::key)) is derived once per token, not once
/// per request.
#[derive(Clone, Default, PartialEq)]
pub struct AuthInfo {
    pub(crate) subject: Option<String>,
    pub(crate) client_id: Option<String>,
    pub(crate) scopes: Vec<String>,
    pub(crate) expires_at: Option<SystemTime>,
    pub(crate) issuer: Option<String>,
    pub(crate) audience: Vec<String>,
    pub(crate) tenant: Option<String>,
    pub(crate) claims: Map<String, Value>,
    pub(crate) dpop_thumbprint: Option<String>,
    /// `principal().key()`, made on first use. Only `issuer`, `subject`, `client_id` and
    /// `tenant` go into it; the builders that set them clear it, and nothing else in the
    /// crate assigns them after the struct is made.
    principal_key: PrincipalKey,
}

/// The memoized [`Principal::key`] of an [`AuthInfo`]: a function of the other fields, so it
/// takes no part in equality.
#[derive(Clone, Default)]
struct PrincipalKey(std::sync::OnceLock<Box<str>>);

impl PartialEq for PrincipalKey {
    fn eq(&self, _: &PrincipalKey) -> bool {
        true
    }
}

impl fmt::Debug for AuthInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthInfo")
            .field("subject", &self.subject)
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .field("expires_at", &self.expires_at)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("tenant", &self.tenant)
            .field("claims", &self.claims)
            .field("dpop_thumbprint", &self.dpop_thumbprint)
            .finish()
    }
}

impl AuthInfo {
    /// A caller identified by `subject`, with no scopes yet.
    pub fn new(subject: impl Into<String>) -> Self {
        AuthInfo {
            subject: Some(subject.into()),
            ..AuthInfo::default()
        }
    }

    /// Sets the granted scopes.
    pub fn with_scopes<I, T>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the OAuth client id.
    pub fn with_client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self.principal_key = PrincipalKey::default();
        self
    }

    /// Sets the tenant.
    pub fn with_tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self.principal_key = PrincipalKey::default();
        self
    }

    /// Sets the expiry of the token.
    pub fn with_expires_at(mut self, expires_at: SystemTime) -> Self {
        self.expires_at = Some(expires_at);
        self
    }

    /// Sets the issuer.
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self.principal_key = PrincipalKey::default();
        self
    }

    /// Sets the audiences.
    pub fn with_audience<I, T>(mut self, audience: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.audience = audience.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the raw claims.
    pub fn with_claims(mut self, claims: Map<String, Value>) -> Self {
        self.claims = claims;
        self
    }

    /// Binds the token to a DPoP key (RFC 9449 §6): `thumbprint` is the token's `cnf.jkt`, the
    /// RFC 7638 SHA-256 thumbprint (base64url) of the client's public key. A custom
    /// [`TokenVerifier`] sets it for bound tokens; [`BearerAuthLayer`] then lets the token
    /// through only with the `DPoP` scheme and a proof signed by that key, and refuses it
    /// when DPoP is off. A verifier that leaves it unset for claims with a `cnf` gets its
    /// tokens refused (fail closed).
    pub fn with_dpop_thumbprint(mut self, thumbprint: impl Into<String>) -> Self {
        self.dpop_thumbprint = Some(thumbprint.into());
        self
    }

    /// The subject (`sub`): the user or service on whose behalf the call is made.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// The OAuth client (`client_id` or `azp`).
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// The granted scopes.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// Whether `scope` was granted, matched exactly.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// When the token expires.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }

    /// The issuer (`iss`).
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The audiences (`aud`).
    pub fn audience(&self) -> &[String] {
        &self.audience
    }

    /// The tenant, from the configured tenant claim.
    pub fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }

    /// Every claim of the token, or of the introspection response.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// The thumbprint of the DPoP key the token is bound to (its `cnf.jkt`, RFC 9449 §6), or
    /// `None` for a bearer token. Behind [`BearerAuthLayer`], a request carrying a bound token
    /// proved possession of that key.
    pub fn dpop_thumbprint(&self) -> Option<&str> {
        self.dpop_thumbprint.as_deref()
    }
}

/// Object-safe form of [`TokenVerifier`], so servers can hold any verifier.
pub(crate) trait DynVerifier: Send + Sync + 'static {
    fn verify_boxed<'a>(
        &'a self,
        token: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<AuthInfo, AuthError>> + Send + 'a>>;

    fn verify_shared_boxed<'a>(
        &'a self,
        token: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Arc<AuthInfo>, AuthError>> + Send + 'a>>;

    fn verify_from_boxed<'a>(
        &'a self,
        token: &'a str,
        peer: Option<IpAddr>,
    ) -> Pin<Box<dyn Future<Output = Result<Arc<AuthInfo>, AuthError>> + Send + 'a>>;

    fn ready_boxed(&self) -> Pin<Box<dyn Future<Output = Readiness> + Send + '_>>;

    fn resource_dyn(&self) -> Option<&str>;

    /// The verifier itself, so that the verifiers of this crate can be told apart and their
    /// counters attached to a server's metrics.
    fn as_any(&self) -> &dyn std::any::Any;
}

impl<V: TokenVerifier> DynVerifier for V {
    fn verify_boxed<'a>(
        &'a self,
        token: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<AuthInfo, AuthError>> + Send + 'a>> {
        Box::pin(self.verify(token))
    }

    fn verify_shared_boxed<'a>(
        &'a self,
        token: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Arc<AuthInfo>, AuthError>> + Send + 'a>> {
        Box::pin(self.verify_shared(token))
    }

    fn verify_from_boxed<'a>(
        &'a self,
        token: &'a str,
        peer: Option<IpAddr>,
    ) -> Pin<Box<dyn Future<Output = Result<Arc<AuthInfo>, AuthError>> + Send + 'a>> {
        Box::pin(self.verify_from(token, peer))
    }

    fn ready_boxed(&self) -> Pin<Box<dyn Future<Output = Readiness> + Send + '_>> {
        Box::pin(self.ready())
    }

    fn resource_dyn(&self) -> Option<&str> {
        self.resource()
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// A shareable, type-erased verifier.
#[derive(Clone)]
pub(crate) struct SharedVerifier(pub(crate) Arc<dyn DynVerifier>);

impl TokenVerifier for SharedVerifier {
    async fn verify(&self, token: &str) -> Result<AuthInfo, AuthError> {
        self.0.verify_boxed(token).await
    }

    async fn verify_shared(&self, token: &str) -> Result<Arc<AuthInfo>, AuthError> {
        self.0.verify_shared_boxed(token).await
    }

    async fn verify_from(
        &self,
        token: &str,
        peer: Option<IpAddr>,
    ) -> Result<Arc<AuthInfo>, AuthError> {
        self.0.verify_from_boxed(token, peer).await
    }

    async fn ready(&self) -> Readiness {
        self.0.ready_boxed().await
    }

    fn resource(&self) -> Option<&str> {
        self.0.resource_dyn()
    }
}

impl fmt::Debug for SharedVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedVerifier")
    }
}

/// Makes aws-lc-rs `jsonwebtoken`'s crypto provider for this process, unless the application
/// installed one already (an `Err` then just says so).
pub(crate) fn install_crypto_provider() {
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
}
