//! An embedded OAuth 2.1 authorization server **for local development and tests only**.
//!
//! mcp-auth is a resource server: in production, tokens come from a real authorization server
//! (Keycloak, Entra ID, Auth0, ...). [`DevIssuer`] exists so that an example or a test suite
//! runs with no external service. It signs with a throw-away ES256 key, keeps its state in
//! memory, has no real login (a consent page lets you pick a configured user), and refuses to
//! run anywhere but on a loopback address. Never deploy it.
//!
//! Serve it next to an [`McpServer`](crate::McpServer), on the same listener, with each
//! connection's peer address (`into_make_service_with_connect_info`, which
//! [`mcp_auth_runtime::serve`](crate::serve) does too): without it the issuer refuses every
//! request, since it cannot tell that they come from this machine.
//!
//! ```
//! use mcp_auth_runtime::auth::JwtVerifier;
//! use mcp_auth_runtime::dev_issuer::{DevIssuer, MintRequest};
//! use mcp_auth_runtime::prelude::*;
//!
//! /// Look up an invoice.
//! #[tool(scope = "invoices:read", read_only)]
//! async fn lookup_invoice(ctx: ToolContext, invoice_id: String) -> Result<String, ToolError> {
//!     Ok(format!("{invoice_id} of {}", ctx.auth().tenant().unwrap_or("?")))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // One port: the MCP endpoint and its issuer share the origin.
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let origin = format!("http://{}", listener.local_addr()?);
//! let resource = format!("{origin}/mcp");
//!
//! let issuer = DevIssuer::builder(&origin)
//!     .resource(&resource)
//!     .scopes(["invoices:read", "invoices:write"])
//!     .users([("alice", "acme"), ("bob", "globex")])
//!     .build()?;
//!
//! // The issuer's keys, handed over directly: nothing is fetched over HTTP.
//! let verifier = JwtVerifier::builder(&origin, &resource)
//!     .static_keys(issuer.jwks())
//!     .tenant_claim("tenant")
//!     .build()?;
//! let server = McpServer::builder("billing", "1.0.0")
//!     .tools(tools![lookup_invoice])
//!     .resource(&resource)
//!     .authorization_server(&origin) // advertised to clients in the resource metadata
//!     .verifier(verifier)
//!     .build()?;
//! let app = server
//!     .into_router()
//!     .merge(issuer.router())
//!     .into_make_service_with_connect_info::<std::net::SocketAddr>();
//! tokio::spawn(async move { axum::serve(listener, app).await });
//!
//! // MCP clients run the authorization code flow against `origin`; tests may simply mint.
//! let token = issuer.mint(MintRequest {
//!     subject: "alice".into(),
//!     tenant: Some("acme".into()),
//!     scopes: vec!["invoices:read".into()],
//!     ..MintRequest::default()
//! })?;
//! let initialize = serde_json::json!({
//!     "jsonrpc": "2.0", "id": 1, "method": "initialize",
//!     "params": {
//!         "protocolVersion": "2025-11-25",
//!         "capabilities": {},
//!         "clientInfo": { "name": "doc", "version": "0" },
//!     },
//! });
//! let http = reqwest::Client::new();
//! let response = http.post(&resource).bearer_auth(&token).json(&initialize).send().await?;
//! assert_eq!(response.status(), 200);
//! let response = http.post(&resource).json(&initialize).send().await?;
//! assert_eq!(response.status(), 401);
//! # Ok(()) }
//! ```
//!
//! **Static keys or discovery.** Both work: `JwtVerifier::builder(issuer, resource).build()`
//! discovers the keys from the issuer's metadata, as it would with a real authorization
//! server. Static keys ([`DevIssuer::jwks`]) are recommended here: the verifier needs no HTTP
//! round trip, there is no window at start-up where the listener is not serving yet, and a
//! new key (a restart) reaches the verifier because both live in the same process. Keep
//! discovery when the point is to exercise the production configuration.
//!
//! # Endpoints
//!
//! Relative to the issuer URL (usually an origin root; a path such as
//! `http://127.0.0.1:8080/dev` prefixes every route, and the metadata is also served at the
//! RFC 8414 path-inserted locations):
//!
//! | route | what | from a browser on another origin |
//! | --- | --- | --- |
//! | `GET /.well-known/oauth-authorization-server` | RFC 8414 metadata | readable: CORS `*` |
//! | `GET /.well-known/openid-configuration` | the same document, for OpenID Connect discovery | readable: CORS `*` |
//! | `GET /jwks` | the public signing key (RFC 7517) | readable: CORS `*` |
//! | `POST /register` | RFC 7591 dynamic client registration; loopback `http` redirect URIs only | refused, unless named with [`cors_origin`](DevIssuerBuilder::cors_origin) |
//! | `GET /authorize` | the authorization request; shows the consent page, or redirects at once with [`auto_consent`](DevIssuerBuilder::auto_consent) | navigation only: never CORS |
//! | `POST /authorize` | the consent form's answer (Allow or Deny) | never CORS |
//! | `POST /token` | `authorization_code` (PKCE `S256` required), `refresh_token` (rotating), `client_credentials` (confidential clients) | refused, unless named with [`cors_origin`](DevIssuerBuilder::cors_origin) |
//!
//! Redirects carry `iss` (RFC 9207). Tokens are RFC 9068 JWT access tokens: header
//! `typ: at+jwt` and `kid`; claims `iss`, `aud` (the resource, RFC 8707), `sub`, `client_id`,
//! `scope`, `tenant`, `iat`, `exp`, `jti`.
//!
//! # Scope policy
//!
//! In the authorization code flow, any registered client may request any scope the issuer was
//! configured with ([`DevIssuerBuilder::scopes`]); a scope outside that list is
//! `invalid_scope`. The `scope` a client sends at registration is only its default for
//! requests that name none, **not** an allow-list. This is deliberate: a user consents to each
//! request, and the MCP TypeScript SDK registers with the scope of the first `401` challenge
//! and later asks for more during step-up authorization (after a `403`
//! `insufficient_scope`); an issuer that held it to its registered scope would break step-up.
//! A refresh may narrow the scope of the grant, never widen it.
//!
//! `client_credentials` has no user to consent, so the registered `scope` is its upper bound
//! (RFC 6749 §3.3): a request without `scope` gets the registered scope (those of its scopes
//! the issuer knows), a request for a subset gets that subset, and a request naming any scope
//! outside it is refused with `invalid_scope` rather than silently narrowed. A client
//! registered without `scope` gets tokens without scope, and any scope it names is
//! `invalid_scope`: register the scope a machine client needs.
//!
//! # Browser-based clients (CORS)
//!
//! The metadata documents and the key set are public and readable from any origin, so that a
//! browser-based client can discover the issuer. `/register` and `/token` hand out
//! credentials: by default a browser may call them only from the issuer's own origin, and a
//! request with any other `Origin` (`null` included) is refused with `403` before it does
//! anything, preflight or not. Checking `Origin` rather than relying on CORS alone matters
//! because a page can send a form or `text/plain` POST without a preflight: it could not read
//! the answer, but would register clients or spend codes blind. Clients that are not browsers
//! (SDKs, the Inspector's CLI, `curl`) send no `Origin` and are unaffected.
//!
//! A client that runs in a browser page, such as the MCP Inspector's web UI, needs its origin
//! named: `.cors_origin("http://localhost:6274")`. Named origins get CORS on `/register` and
//! `/token`, echoed exactly (never `*`, never with credentials); any page served from them can
//! obtain tokens from this issuer, so name only origins you trust. `/authorize` never gets
//! CORS: its redirect carries the code, and its consent page a form token.
//!
//! # Users and tenants
//!
//! There are no passwords. The consent page offers every configured user and tenant; each
//! user has a home tenant, preselected for the first user. Any user may be combined with any
//! tenant, which is handy for testing tenant isolation. [`auto_consent`](DevIssuerBuilder::auto_consent)
//! approves every request as the first user in their home tenant. Without configuration there
//! is one user, `dev-user`, in tenant `dev`.
//!
//! # Safety rails
//!
//! - The issuer URL must be on a loopback host, and the router answers only requests whose
//!   `Host` names a loopback host and whose connection comes from loopback: neither other
//!   machines nor web pages through DNS rebinding reach it. It fails closed: served without
//!   peer addresses (`axum::serve(listener, router)` without
//!   `into_make_service_with_connect_info::<SocketAddr>()`), it answers every request with
//!   `500` and says how to fix it.
//! - Cross-origin calls to `/register` and `/token` are refused unless the origin is named
//!   (see [Browser-based clients](#browser-based-clients-cors)).
//! - Redirect URIs must be `http` on a loopback host, matched exactly.
//! - The consent form carries a one-time token bound to the authorization request; the page
//!   cannot be framed and is never served with CORS headers.
//! - Codes live 60 seconds and are single-use (a second presentation revokes the refresh
//!   tokens issued from it); refresh tokens rotate, and a spent one presented again revokes its
//!   family.
//! - State is in memory and bounded; codes, refresh tokens, form tokens and client secrets are
//!   stored as digests; nothing secret is logged or printed by `Debug`.
//! - At most 1,000 clients are remembered, and registrations never push out a client in use.
//!   When the store is full, a new registration replaces a client that never authenticated
//!   or started an authorization (the oldest first), else one idle for a day (the lifetime of
//!   a refresh token, so no client holding a live one goes); if every client was used within
//!   the day, the registration is refused with `503` `temporarily_unavailable`. A client that
//!   registered but has not been used yet can therefore be replaced by a flood of
//!   registrations: it registers again.
//!
//! Not implemented: OpenID Connect ID tokens and userinfo, token revocation and introspection,
//! `private_key_jwt`, pushed authorization requests.

mod consent;
mod endpoints;
mod keys;
mod store;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use bytes::Bytes;
use serde::Serialize;
use serde_json::json;
use url::Url;

use self::keys::SigningKey;
use self::store::{Grant, Store};
use crate::auth::claims::canonical_resource;
use crate::auth::claims::is_loopback_host;
use crate::scope::is_scope_token;

/// The default lifetime of access tokens: one hour.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// The `client_id` claim of tokens from [`DevIssuer::mint`] without one.
pub const MINT_CLIENT_ID: &str = "mcp-auth-dev-issuer";

/// Why a [`DevIssuerBuilder`] refused its configuration, or [`DevIssuer::mint`] a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevIssuerError {
    /// The issuer URL is not an absolute `http(s)` URL without query, fragment or credentials.
    #[error(
        "invalid issuer URL `{0}`: expected an absolute http(s) URL without query, fragment or credentials, e.g. http://127.0.0.1:8080"
    )]
    InvalidIssuer(String),
    /// The issuer URL is not on a loopback host.
    #[error(
        "the development issuer serves loopback only: `{0}` is not on 127.0.0.0/8, [::1] or localhost"
    )]
    NotLoopback(String),
    /// No resource was configured.
    #[error(
        "no resource is configured: call `.resource(..)` with the MCP server's canonical URI, e.g. http://127.0.0.1:8080/mcp"
    )]
    NoResource,
    /// A resource is not an absolute URI without fragment.
    #[error("invalid resource `{0}`: expected an absolute URI without fragment")]
    InvalidResource(String),
    /// A scope is not an RFC 6749 scope token.
    #[error(
        "invalid scope `{0}`: a scope token is one or more printable ASCII characters, no spaces, quotes or backslashes"
    )]
    InvalidScope(String),
    /// A user or tenant name is empty.
    #[error("user and tenant names cannot be empty")]
    EmptyName,
    /// The token lifetime is shorter than a second.
    #[error("the token lifetime must be at least one second")]
    InvalidLifetime,
    /// The signing key is not a PKCS#8 P-256 private key.
    #[error("the signing key is not a PKCS#8 DER P-256 (ES256) private key")]
    InvalidKey,
    /// No signing key could be generated.
    #[error("cannot generate a signing key")]
    KeyGeneration,
    /// A CORS origin is not a web origin (`*` and `null` never are).
    #[error(
        "invalid CORS origin `{0}`: expected a web origin (scheme, host and port only), e.g. http://localhost:6274; `*` and `null` are never allowed"
    )]
    InvalidCorsOrigin(String),
    /// [`DevIssuer::mint`]: the resource is not one of the configured resources.
    #[error("resource `{0}` is not one this issuer mints tokens for")]
    UnknownResource(String),
    /// [`DevIssuer::mint`]: the scope is not one of the configured scopes.
    #[error("scope `{0}` is not one this issuer grants")]
    UnknownScope(String),
    /// A token could not be signed.
    #[error("cannot sign the token: {0}")]
    Signing(String),
}

/// Configures a [`DevIssuer`]. Created by [`DevIssuer::builder`].
///
/// | option | default |
/// | --- | --- |
/// | [`signing_key_pkcs8`](Self::signing_key_pkcs8) | a fresh ES256 key |
/// | [`resource`](Self::resource) | none; at least one is required |
/// | [`scopes`](Self::scopes) | none: tokens carry no scope |
/// | [`users`](Self::users) | `dev-user` in tenant `dev` |
/// | [`tenants`](Self::tenants) | the users' home tenants |
/// | [`auto_consent`](Self::auto_consent) | off: the consent page is shown |
/// | [`token_lifetime`](Self::token_lifetime) | [`DEFAULT_TOKEN_LIFETIME`], one hour |
/// | [`cors_origin`](Self::cors_origin) | none: no cross-origin calls to `/register` and `/token` |
#[must_use]
pub struct DevIssuerBuilder {
    issuer: String,
    key: Option<Vec<u8>>,
    resources: Vec<String>,
    scopes: Vec<String>,
    descriptions: Vec<(String, String)>,
    tenants: Vec<String>,
    users: Vec<(String, String)>,
    auto_consent: bool,
    token_lifetime: Duration,
    cors_origins: Vec<String>,
}

impl DevIssuerBuilder {
    /// Signs with this key, a PKCS#8 DER P-256 private key, e.g. one saved from
    /// [`DevIssuer::key_pkcs8`] so that tokens survive a restart. The `kid` is the key's
    /// RFC 7638 thumbprint, so it stays the same too.
    pub fn signing_key_pkcs8(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.key = Some(der.into());
        self
    }

    /// A resource this issuer mints tokens for: an MCP server's canonical URI, the `aud` of
    /// its tokens (RFC 8707). Call it once per resource; the first is the default for
    /// requests without a `resource` parameter. A request for any other resource is refused
    /// with `invalid_target`.
    pub fn resource(mut self, uri: impl Into<String>) -> Self {
        self.resources.push(uri.into());
        self
    }

    /// Scopes this issuer may grant. In the code flow any registered client may request any
    /// of them; `client_credentials` grants at most the client's registered scope (see
    /// [Scope policy](self#scope-policy)).
    pub fn scopes<I, T>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// What `scope` means, shown on the consent page. Without it, `invoices:read` reads
    /// "read access to invoices".
    pub fn scope_description(
        mut self,
        scope: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        self.descriptions.push((scope.into(), description.into()));
        self
    }

    /// Tenants offered on the consent page, besides the users' home tenants.
    pub fn tenants<I, T>(mut self, tenants: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.tenants.extend(tenants.into_iter().map(Into::into));
        self
    }

    /// Users offered on the consent page, as `(subject, home tenant)`. The first one is
    /// preselected, and approved by [`auto_consent`](Self::auto_consent).
    pub fn users<I, S, T>(mut self, users: I) -> Self
    where
        I: IntoIterator<Item = (S, T)>,
        S: Into<String>,
        T: Into<String>,
    {
        self.users
            .extend(users.into_iter().map(|(s, t)| (s.into(), t.into())));
        self
    }

    /// Approves every valid authorization request at once, as the first user in their home
    /// tenant, without showing the consent page: for headless runs and tests.
    pub fn auto_consent(mut self, auto_consent: bool) -> Self {
        self.auto_consent = auto_consent;
        self
    }

    /// How long access tokens are valid.
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// Lets a browser-based client served from `origin` register and redeem codes with
    /// `fetch`: `/register` and `/token` answer its requests, with CORS headers naming that
    /// origin. Call it once per origin, e.g. `.cors_origin("http://localhost:6274")` for the
    /// MCP Inspector. Any page served from a named origin can then obtain tokens from this
    /// issuer: name only origins whose pages you trust. `*` and `null` are refused.
    pub fn cors_origin(mut self, origin: impl Into<String>) -> Self {
        self.cors_origins.push(origin.into());
        self
    }

    /// Validates the configuration and prepares the key and the metadata.
    pub fn build(self) -> Result<DevIssuer, DevIssuerError> {
        let url = Url::parse(&self.issuer)
            .ok()
            .filter(|u| {
                matches!(u.scheme(), "http" | "https")
                    && !u.cannot_be_a_base()
                    && u.query().is_none()
                    && u.fragment().is_none()
                    && u.username().is_empty()
                    && u.password().is_none()
            })
            .ok_or_else(|| DevIssuerError::InvalidIssuer(self.issuer.clone()))?;
        if !is_loopback_host(url.host()) {
            return Err(DevIssuerError::NotLoopback(self.issuer));
        }
        let prefix = url.path().trim_end_matches('/').to_owned();
        let origin = url.origin().ascii_serialization();

        let mut cors_origins: Vec<String> = Vec::new();
        for given in self.cors_origins {
            let origin = web_origin(&given)
                .ok_or_else(|| DevIssuerError::InvalidCorsOrigin(given.clone()))?;
            if !cors_origins.contains(&origin) {
                cors_origins.push(origin);
            }
        }

        let mut resources: Vec<Resource> = Vec::new();
        for uri in self.resources {
            let canonical = canonical_resource(&uri)
                .ok_or_else(|| DevIssuerError::InvalidResource(uri.clone()))?;
            if !resources.iter().any(|r| r.canonical == canonical) {
                resources.push(Resource { uri, canonical });
            }
        }
        if resources.is_empty() {
            return Err(DevIssuerError::NoResource);
        }

        let mut scopes: Vec<(String, String)> = Vec::new();
        for scope in self.scopes {
            if !is_scope_token(&scope) {
                return Err(DevIssuerError::InvalidScope(scope));
            }
            if !scopes.iter().any(|(s, _)| *s == scope) {
                let description = self
                    .descriptions
                    .iter()
                    .rev()
                    .find(|(s, _)| *s == scope)
                    .map_or_else(|| describe(&scope), |(_, d)| d.clone());
                scopes.push((scope, description));
            }
        }

        let mut users = self.users;
        if users.is_empty() {
            let tenant = self.tenants.first().map_or("dev", String::as_str);
            users.push(("dev-user".into(), tenant.into()));
        }
        let mut tenants: Vec<String> = Vec::new();
        for tenant in users.iter().map(|(_, t)| t).chain(&self.tenants) {
            if !tenants.contains(tenant) {
                tenants.push(tenant.clone());
            }
        }
        if users.iter().any(|(s, _)| s.is_empty()) || tenants.iter().any(String::is_empty) {
            return Err(DevIssuerError::EmptyName);
        }
        if self.token_lifetime.as_secs() == 0 {
            return Err(DevIssuerError::InvalidLifetime);
        }

        let key = match self.key {
            Some(der) => SigningKey::from_pkcs8(der)?,
            None => SigningKey::generate()?,
        };
        let base = self.issuer.trim_end_matches('/');
        let metadata = json!({
            "issuer": self.issuer,
            "authorization_endpoint": format!("{base}/authorize"),
            "token_endpoint": format!("{base}/token"),
            "registration_endpoint": format!("{base}/register"),
            "jwks_uri": format!("{base}/jwks"),
            "scopes_supported": scopes.iter().map(|(s, _)| s).collect::<Vec<_>>(),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported":
                ["none", "client_secret_basic", "client_secret_post"],
            "authorization_response_iss_parameter_supported": true,
        });
        let metadata = Bytes::from(serde_json::to_vec(&metadata).expect("metadata serializes"));
        let jwks = Bytes::from(serde_json::to_vec(&key.jwks()).expect("a JWK set serializes"));

        tracing::warn!(
            issuer = %self.issuer,
            "development issuer: for local development and tests only, never in production"
        );
        Ok(DevIssuer {
            inner: Arc::new(Inner {
                issuer: self.issuer,
                prefix,
                key,
                resources,
                scopes,
                tenants,
                users,
                auto_consent: self.auto_consent,
                token_lifetime: self.token_lifetime,
                metadata,
                jwks,
                origin,
                cors_origins,
                store: Store::default(),
            }),
        })
    }
}

impl fmt::Debug for DevIssuerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevIssuerBuilder")
            .field("issuer", &self.issuer)
            .field("signing_key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("resources", &self.resources)
            .field("scopes", &self.scopes)
            .field("tenants", &self.tenants)
            .field("users", &self.users)
            .field("auto_consent", &self.auto_consent)
            .field("token_lifetime", &self.token_lifetime)
            .field("cors_origins", &self.cors_origins)
            .finish()
    }
}

/// An embedded OAuth 2.1 authorization server for local development and tests: never for
/// production. See the [module docs](self).
///
/// Cloning is cheap and shares the key and the state.
#[derive(Clone)]
pub struct DevIssuer {
    inner: Arc<Inner>,
}

struct Inner {
    /// The issuer identifier, exactly as configured: the `iss` of every token.
    issuer: String,
    /// The issuer URL's path without trailing slash: empty at an origin root.
    prefix: String,
    key: SigningKey,
    resources: Vec<Resource>,
    /// Each grantable scope with what it means.
    scopes: Vec<(String, String)>,
    tenants: Vec<String>,
    /// `(subject, home tenant)`; never empty.
    users: Vec<(String, String)>,
    auto_consent: bool,
    token_lifetime: Duration,
    /// The metadata document and the key set, serialized once.
    metadata: Bytes,
    jwks: Bytes,
    /// The issuer's own origin, as browsers serialize it in `Origin`.
    origin: String,
    /// The origins allowed to call `/register` and `/token` from a browser, serialized.
    cors_origins: Vec<String>,
    store: Store,
}

/// A resource, as configured (the `aud` of its tokens) and in canonical form (for matching).
struct Resource {
    uri: String,
    canonical: String,
}

/// What [`DevIssuer::mint`] puts in a token.
///
/// ```
/// # use mcp_auth_runtime::dev_issuer::MintRequest;
/// let request = MintRequest {
///     subject: "alice".into(),
///     tenant: Some("acme".into()),
///     scopes: vec!["invoices:read".into()],
///     ..MintRequest::default()
/// };
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MintRequest {
    /// `sub`: the user or service.
    pub subject: String,
    /// `tenant`, if any.
    pub tenant: Option<String>,
    /// `scope`: each must be one of the issuer's scopes.
    pub scopes: Vec<String>,
    /// `client_id`; default [`MINT_CLIENT_ID`].
    pub client_id: Option<String>,
    /// `aud`: one of the issuer's resources; default the first.
    pub resource: Option<String>,
    /// How long the token is valid; default the issuer's token lifetime. Zero mints a token
    /// that is already expired, for tests of expiry.
    pub lifetime: Option<Duration>,
}

impl DevIssuer {
    /// Starts configuring an issuer whose identifier (`iss`) is `issuer_url`, e.g.
    /// `http://127.0.0.1:8080`. It must be `http` or `https` on a loopback host.
    pub fn builder(issuer_url: impl Into<String>) -> DevIssuerBuilder {
        DevIssuerBuilder {
            issuer: issuer_url.into(),
            key: None,
            resources: Vec::new(),
            scopes: Vec::new(),
            descriptions: Vec::new(),
            tenants: Vec::new(),
            users: Vec::new(),
            auto_consent: false,
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
            cors_origins: Vec::new(),
        }
    }

    /// The issuer identifier, exactly as configured.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The `kid` of the signing key: its RFC 7638 SHA-256 thumbprint.
    pub fn kid(&self) -> &str {
        self.inner.key.kid()
    }

    /// The private signing key as PKCS#8 DER, to save and pass to
    /// [`DevIssuerBuilder::signing_key_pkcs8`] on the next start. It is a secret: anyone who
    /// holds it can mint tokens this issuer's verifiers accept.
    pub fn key_pkcs8(&self) -> &[u8] {
        self.inner.key.pkcs8()
    }

    /// The public key set, for [`JwtVerifierBuilder::static_keys`](crate::auth::JwtVerifierBuilder::static_keys).
    pub fn jwks(&self) -> crate::auth::JwkSet {
        crate::auth::JwkSet::from_jsonwebtoken(self.inner.key.jwks())
    }

    /// Mints an access token directly, without any flow: for tests and scripts.
    ///
    /// The resource and the scopes must be ones the issuer was configured with.
    pub fn mint(&self, request: MintRequest) -> Result<String, DevIssuerError> {
        let inner = &self.inner;
        let resource = inner
            .resource(request.resource.as_deref())
            .ok_or_else(|| DevIssuerError::UnknownResource(request.resource.unwrap_or_default()))?
            .to_owned();
        if let Some(unknown) = request
            .scopes
            .iter()
            .find(|s| !inner.scopes.iter().any(|(known, _)| known == *s))
        {
            return Err(DevIssuerError::UnknownScope(unknown.clone()));
        }
        let grant = Grant {
            client_id: request.client_id.unwrap_or_else(|| MINT_CLIENT_ID.into()),
            subject: request.subject,
            tenant: request.tenant,
            scopes: inner.ordered(request.scopes.iter().map(String::as_str)),
            resource,
        };
        inner.access_token(&grant, request.lifetime.unwrap_or(inner.token_lifetime))
    }

    /// The issuer's endpoints as an axum router, to merge with the MCP server's router:
    /// `server.into_router().merge(issuer.router())`. Routes sit under the issuer URL's path.
    pub fn router(&self) -> Router {
        endpoints::router(self.inner.clone())
    }
}

impl fmt::Debug for DevIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("DevIssuer")
            .field("issuer", &inner.issuer)
            .field("key", &inner.key)
            .field(
                "resources",
                &inner.resources.iter().map(|r| &r.uri).collect::<Vec<_>>(),
            )
            .field(
                "scopes",
                &inner.scopes.iter().map(|(s, _)| s).collect::<Vec<_>>(),
            )
            .field("users", &inner.users)
            .field("auto_consent", &inner.auto_consent)
            .field("token_lifetime", &inner.token_lifetime)
            .field("cors_origins", &inner.cors_origins)
            .finish_non_exhaustive()
    }
}

/// RFC 9068 §2.2 claims.
#[derive(Serialize)]
struct AccessTokenClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    client_id: &'a str,
    scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<&'a str>,
    iat: u64,
    exp: u64,
    jti: String,
}

impl Inner {
    /// The configured resource a request names (compared in canonical form), or the default.
    fn resource(&self, requested: Option<&str>) -> Option<&str> {
        match requested {
            None => self.resources.first().map(|r| r.uri.as_str()),
            Some(uri) => {
                let canonical = canonical_resource(uri)?;
                self.resources
                    .iter()
                    .find(|r| r.canonical == canonical)
                    .map(|r| r.uri.as_str())
            }
        }
    }

    /// The scopes of a request: those named, each one the issuer grants, or, when none is
    /// named, `default` (a client's registered scope, limited to known scopes) or else every
    /// scope. `Err` names the first unknown scope.
    fn requested_scopes(
        &self,
        requested: Option<&str>,
        default: Option<&str>,
    ) -> Result<Vec<String>, String> {
        match requested {
            Some(requested) => {
                let requested: Vec<&str> = requested.split(' ').filter(|s| !s.is_empty()).collect();
                if let Some(unknown) = requested
                    .iter()
                    .find(|s| !self.scopes.iter().any(|(known, _)| known == *s))
                {
                    return Err((*unknown).to_owned());
                }
                Ok(self.ordered(requested))
            }
            None => match default {
                Some(default) => Ok(self.ordered(default.split(' '))),
                None => Ok(self.scopes.iter().map(|(s, _)| s.clone()).collect()),
            },
        }
    }

    /// The known scopes among `scopes`, in configuration order, without duplicates.
    fn ordered<'a>(&self, scopes: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let scopes: Vec<&str> = scopes.into_iter().collect();
        self.scopes
            .iter()
            .filter(|(known, _)| scopes.contains(&known.as_str()))
            .map(|(s, _)| s.clone())
            .collect()
    }

    /// Whether a browser may call the credential endpoints from `origin`, an `Origin` header:
    /// the issuer's own origin, or one named with `cors_origin`.
    fn known_origin(&self, origin: &[u8]) -> bool {
        origin == self.origin.as_bytes() || self.cors_origins.iter().any(|o| o.as_bytes() == origin)
    }

    fn scope_description(&self, scope: &str) -> &str {
        self.scopes
            .iter()
            .find(|(s, _)| s == scope)
            .map_or("", |(_, d)| d)
    }

    /// The identity `auto_consent` approves, and client credentials get the tenant of.
    fn default_user(&self) -> &(String, String) {
        &self.users[0]
    }

    fn access_token(&self, grant: &Grant, lifetime: Duration) -> Result<String, DevIssuerError> {
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let claims = AccessTokenClaims {
            iss: &self.issuer,
            aud: &grant.resource,
            sub: &grant.subject,
            client_id: &grant.client_id,
            scope: grant.scopes.join(" "),
            tenant: grant.tenant.as_deref(),
            iat,
            exp: iat.saturating_add(lifetime.as_secs()),
            jti: keys::random_string(16),
        };
        self.key.sign(&claims)
    }
}

/// `given` as browsers serialize an origin in `Origin` (RFC 6454 §6.2), if it is an `http(s)`
/// origin: no credentials, path, query or fragment.
fn web_origin(given: &str) -> Option<String> {
    let url = Url::parse(given).ok()?;
    let bare = matches!(url.scheme(), "http" | "https")
        && url.has_host()
        && url.username().is_empty()
        && url.password().is_none()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none();
    bare.then(|| url.origin().ascii_serialization())
}

/// What a scope means when nobody said: `invoices:read` is "read access to invoices".
fn describe(scope: &str) -> String {
    match scope.split_once(':') {
        Some((resource, action)) if !resource.is_empty() && !action.is_empty() => {
            format!("{action} access to {resource}")
        }
        _ => format!("the `{scope}` permission"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_get_a_default_description() {
        assert_eq!(describe("invoices:read"), "read access to invoices");
        assert_eq!(describe("admin"), "the `admin` permission");
    }

    #[test]
    fn cors_origins_are_web_origins_only() {
        for (given, serialized) in [
            ("http://localhost:6274", "http://localhost:6274"),
            ("http://localhost:6274/", "http://localhost:6274"),
            ("HTTP://LocalHost:6274", "http://localhost:6274"),
            ("https://inspector.example:443", "https://inspector.example"),
            ("http://[::1]:80", "http://[::1]"),
        ] {
            assert_eq!(web_origin(given).as_deref(), Some(serialized), "{given}");
        }
        for bad in [
            "*",
            "null",
            "",
            "localhost:6274",
            "http://localhost:6274/inspector",
            "http://localhost:6274/?",
            "http://localhost:6274/#x",
            "http://u:p@localhost:6274",
            "file:///tmp/page.html",
            "ws://localhost:6274",
        ] {
            assert_eq!(web_origin(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_loopback_issuers_build() {
        let build = |url: &str| {
            DevIssuer::builder(url)
                .resource("http://127.0.0.1/mcp")
                .build()
        };
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.1.2.3",
            "http://localhost:1/dev/",
            "https://LOCALHOST",
            "http://[::1]:9",
        ] {
            assert!(build(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com",
            "http://0.0.0.0:8080",
            "http://192.168.1.10",
            "http://localhost.example.com",
            "http://[::]:80",
        ] {
            assert!(
                matches!(build(bad), Err(DevIssuerError::NotLoopback(_))),
                "{bad}"
            );
        }
        for bad in [
            "ftp://127.0.0.1",
            "http://127.0.0.1/?a=b",
            "http://u:p@127.0.0.1",
            "127.0.0.1:80",
        ] {
            assert!(
                matches!(build(bad), Err(DevIssuerError::InvalidIssuer(_))),
                "{bad}"
            );
        }
    }
}
