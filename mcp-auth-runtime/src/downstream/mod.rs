//! Calling downstream APIs as the user, without passing the user's token through: OAuth 2.0
//! token exchange (RFC 8693).
//!
//! The MCP authorization specification forbids token passthrough: the token a client sent to
//! this server is for this server (its audience) and must never be forwarded. A tool that
//! calls another API on the user's behalf asks the authorization server for a token of that
//! API instead, presenting the inbound token as the `subject_token`:
//!
//! ```no_run
//! use mcp_auth_runtime::downstream::{ClientCredentials, Downstream, TokenExchange};
//! use mcp_auth_runtime::prelude::*;
//!
//! /// Refund an invoice through the payments API.
//! #[tool(scope = "invoices:refund")]
//! async fn refund(ctx: ToolContext, invoice_id: String) -> Result<String, ToolError> {
//!     let payments = Downstream::resource("https://payments.example.com/api")
//!         .scopes(["payments:write"]);
//!     let token = ctx.downstream_token(&payments).await?;
//!     let response = reqwest::Client::new()
//!         .post("https://payments.example.com/api/refunds")
//!         .header(http::header::AUTHORIZATION, token.authorization())
//!         .json(&serde_json::json!({ "invoice_id": invoice_id }))
//!         .send()
//!         .await
//!         .map_err(ToolError::internal)?;
//!     Ok(response.status().to_string())
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let exchange = TokenExchange::builder(
//!     "https://auth.example.com/oauth2/token",
//!     ClientCredentials::secret_basic("billing-mcp", std::env::var("EXCHANGE_SECRET")?),
//! )
//! .build()?;
//! let server = McpServer::builder()
//!     .resource("https://billing.example.com/mcp")
//!     .token_exchange(exchange)
//!     .tool(refund::def());
//! # let _ = server;
//! # Ok(()) }
//! ```
//!
//! The inbound token never leaves the exchange: tools cannot read it, and it is sent nowhere
//! but the configured token endpoint. Exchanged tokens are cached per (inbound token,
//! downstream, scopes) until shortly before they expire, and concurrent requests for the same
//! token share one exchange.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::HeaderValue;

/// The default number of exchanged tokens kept: 10,000.
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;

/// A cached exchanged token is used until this long before it expires, by default: 30 s.
pub const DEFAULT_REFRESH_BEFORE: Duration = Duration::from_secs(30);

/// The default time allowed for one exchange: 10 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Exchanges inbound access tokens for tokens of downstream APIs at the authorization server's
/// token endpoint (RFC 8693), as one confidential client.
///
/// Clones share the cache, the exchanges in flight and the HTTP connection pool. `Debug`
/// output shows the configuration, never a secret or a token.
#[derive(Clone)]
pub struct TokenExchange {
    inner: Arc<Inner>,
}

struct Inner {}

impl TokenExchange {
    /// Starts a configuration for exchanges at `token_endpoint` (an `https` URL, or `http` on
    /// a loopback host), authenticating as `client`.
    pub fn builder(
        token_endpoint: impl Into<String>,
        client: ClientCredentials,
    ) -> TokenExchangeBuilder {
        let _ = (token_endpoint.into(), client);
        todo!("i18-exchange")
    }

    /// Exchanges `subject` (an inbound access token) for a token of `downstream`, or returns
    /// the cached one. Crate-private: tools reach it through
    /// [`ToolContext::downstream_token`](crate::ToolContext::downstream_token), so that no
    /// application code ever holds the inbound token.
    pub(crate) async fn exchange(
        &self,
        subject: &SubjectToken,
        downstream: &Downstream,
    ) -> Result<DownstreamToken, ExchangeError> {
        let _ = (&self.inner, subject, downstream);
        todo!("i18-exchange")
    }
}

impl fmt::Debug for TokenExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenExchange").finish_non_exhaustive()
    }
}

/// Configures a [`TokenExchange`]: see [`TokenExchange::builder`].
#[must_use]
pub struct TokenExchangeBuilder {}

impl TokenExchangeBuilder {
    /// Which grant the exchange uses: [`ExchangeGrant::TokenExchange`] (the default) or
    /// Microsoft Entra's on-behalf-of flow.
    pub fn grant(self, grant: ExchangeGrant) -> Self {
        let _ = grant;
        todo!("i18-exchange")
    }

    /// How many exchanged tokens are kept ([`DEFAULT_CACHE_CAPACITY`]); `0` turns the cache
    /// off (every call exchanges).
    pub fn cache_capacity(self, capacity: usize) -> Self {
        let _ = capacity;
        todo!("i18-exchange")
    }

    /// How long before its expiry a cached token is no longer handed out
    /// ([`DEFAULT_REFRESH_BEFORE`]), so that it does not expire on its way downstream.
    pub fn refresh_before(self, margin: Duration) -> Self {
        let _ = margin;
        todo!("i18-exchange")
    }

    /// The time allowed for one exchange ([`DEFAULT_TIMEOUT`]).
    pub fn timeout(self, timeout: Duration) -> Self {
        let _ = timeout;
        todo!("i18-exchange")
    }

    /// Validates the configuration.
    pub fn build(self) -> Result<TokenExchange, ExchangeConfigError> {
        todo!("i18-exchange")
    }
}

/// The grant a [`TokenExchange`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ExchangeGrant {
    /// RFC 8693 token exchange: `grant_type=urn:ietf:params:oauth:grant-type:token-exchange`,
    /// the inbound token as `subject_token` of type `access_token`.
    #[default]
    TokenExchange,
    /// Microsoft Entra ID's on-behalf-of flow: the JWT-bearer grant
    /// (`urn:ietf:params:oauth:grant-type:jwt-bearer`) with the inbound token as `assertion`
    /// and `requested_token_use=on_behalf_of`.
    EntraOnBehalfOf,
}

/// How the exchanging client authenticates at the token endpoint. `Debug` output never shows
/// the secret or the key.
#[non_exhaustive]
pub enum ClientCredentials {
    /// `client_secret_basic`: HTTP Basic authentication (RFC 6749 §2.3.1).
    SecretBasic {
        /// The client id.
        client_id: String,
        /// The client secret.
        secret: String,
    },
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    SecretPost {
        /// The client id.
        client_id: String,
        /// The client secret.
        secret: String,
    },
    /// `private_key_jwt` (RFC 7523 §2.2, OpenID Connect Core §9): a JWT assertion signed with
    /// the client's private key, made fresh for each exchange.
    PrivateKeyJwt {
        /// The client id: the assertion's `iss` and `sub`.
        client_id: String,
        /// The signing key.
        key: jsonwebtoken::EncodingKey,
        /// The signing algorithm (asymmetric).
        algorithm: jsonwebtoken::Algorithm,
        /// The `kid` of the key, sent in the assertion's header when set.
        kid: Option<String>,
    },
}

impl ClientCredentials {
    /// `client_secret_basic` with this id and secret.
    pub fn secret_basic(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        ClientCredentials::SecretBasic {
            client_id: client_id.into(),
            secret: secret.into(),
        }
    }

    /// `client_secret_post` with this id and secret.
    pub fn secret_post(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        ClientCredentials::SecretPost {
            client_id: client_id.into(),
            secret: secret.into(),
        }
    }

    /// `private_key_jwt` with a PEM private key (PKCS#8 EC P-256/P-384, RSA or Ed25519) for
    /// `algorithm`.
    pub fn private_key_jwt(
        client_id: impl Into<String>,
        pem: &[u8],
        algorithm: jsonwebtoken::Algorithm,
    ) -> Result<Self, ExchangeConfigError> {
        let _ = (client_id.into(), pem, algorithm);
        todo!("i18-exchange")
    }

    /// Sets the `kid` sent with `private_key_jwt` assertions; no effect on the other methods.
    pub fn with_kid(self, kid: impl Into<String>) -> Self {
        let _ = kid.into();
        todo!("i18-exchange")
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        match self {
            ClientCredentials::SecretBasic { client_id, .. }
            | ClientCredentials::SecretPost { client_id, .. }
            | ClientCredentials::PrivateKeyJwt { client_id, .. } => client_id,
        }
    }
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let method = match self {
            ClientCredentials::SecretBasic { .. } => "client_secret_basic",
            ClientCredentials::SecretPost { .. } => "client_secret_post",
            ClientCredentials::PrivateKeyJwt { .. } => "private_key_jwt",
        };
        f.debug_struct("ClientCredentials")
            .field("method", &method)
            .field("client_id", &self.client_id())
            .finish_non_exhaustive()
    }
}

/// What a token is asked for: the downstream API (`resource`, RFC 8707, or `audience`, RFC 8693
/// §2.1) and the scopes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Downstream {
    target: Target,
    scopes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Target {
    Resource(String),
    Audience(String),
}

impl Downstream {
    /// A token for the API at this absolute URI, sent as `resource` (RFC 8707): the audience
    /// of the exchanged token.
    pub fn resource(uri: impl Into<String>) -> Self {
        Downstream {
            target: Target::Resource(uri.into()),
            scopes: Vec::new(),
        }
    }

    /// A token for the API of this logical name, sent as `audience` (RFC 8693 §2.1), for
    /// authorization servers that name APIs rather than locate them.
    pub fn audience(name: impl Into<String>) -> Self {
        Downstream {
            target: Target::Audience(name.into()),
            scopes: Vec::new(),
        }
    }

    /// The scopes asked for (`scope`); none by default, which leaves them to the
    /// authorization server.
    pub fn scopes<I, T>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The resource URI, for [`Downstream::resource`].
    pub fn resource_uri(&self) -> Option<&str> {
        match &self.target {
            Target::Resource(uri) => Some(uri),
            Target::Audience(_) => None,
        }
    }

    /// The audience name, for [`Downstream::audience`].
    pub fn audience_name(&self) -> Option<&str> {
        match &self.target {
            Target::Audience(name) => Some(name),
            Target::Resource(_) => None,
        }
    }

    /// The scopes asked for.
    pub fn requested_scopes(&self) -> &[String] {
        &self.scopes
    }
}

/// A token for a downstream API, from a [`TokenExchange`]. `Debug` output never shows it.
#[derive(Clone)]
pub struct DownstreamToken {
    token: Arc<str>,
    expires_at: Option<SystemTime>,
    scopes: Vec<String>,
}

impl DownstreamToken {
    /// The access token itself. Send it only to the API it was asked for.
    pub fn secret(&self) -> &str {
        &self.token
    }

    /// `Bearer <token>`, for the `Authorization` header; marked sensitive so that HTTP
    /// libraries keep it out of their logs.
    pub fn authorization(&self) -> HeaderValue {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", self.token))
            .expect("an access token is a visible ASCII b64token");
        value.set_sensitive(true);
        value
    }

    /// When the token expires (`expires_in` of the exchange), if the server said.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }

    /// The scopes of the token: the response's `scope`, or those asked for when it has none
    /// (RFC 8693 §2.2.1).
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }
}

impl fmt::Debug for DownstreamToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DownstreamToken")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// The inbound access token of a request, kept for the exchange only. Never exposed to
/// application code; `Debug` output never shows it.
#[derive(Clone)]
pub(crate) struct SubjectToken(pub(crate) Arc<str>);

impl fmt::Debug for SubjectToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SubjectToken(<redacted>)")
    }
}

/// Why no downstream token was obtained. Converts into a [`ToolError`](crate::ToolError) with
/// `?`: refusals by the authorization server become a failed tool result naming the
/// downstream, everything else an internal error (details logged, never sent).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExchangeError {
    /// The server has no [`TokenExchange`] (`McpServerBuilder::token_exchange`).
    #[error("no token exchange is configured")]
    NotConfigured,
    /// The call has no inbound token to exchange (a server without authentication, the stdio
    /// transport, or a direct Rust call).
    #[error("the call has no access token to exchange")]
    NoSubjectToken,
    /// The authorization server refused the exchange (`invalid_grant`, `invalid_target`,
    /// `invalid_scope`, `unauthorized_client`, ...).
    #[error("the authorization server refused the token exchange: {error}")]
    Refused {
        /// The OAuth `error` code.
        error: String,
        /// The `error_description`, if any.
        description: Option<String>,
    },
    /// The authorization server could not be reached, timed out or answered something other
    /// than a token response. Fails closed.
    #[error("token exchange unavailable: {0}")]
    Unavailable(String),
}

/// Why a [`TokenExchange`] configuration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExchangeConfigError {
    /// The token endpoint is not an absolute `https` URL (or `http` on a loopback host).
    #[error(
        "the token endpoint `{0}` must be an absolute https URL (http only on a loopback host)"
    )]
    InvalidEndpoint(String),
    /// The private key could not be read for the algorithm.
    #[error("the private_key_jwt key cannot be used: {0}")]
    InvalidKey(String),
    /// A symmetric algorithm for `private_key_jwt`.
    #[error("private_key_jwt needs an asymmetric algorithm, not {0:?}")]
    SymmetricAlgorithm(jsonwebtoken::Algorithm),
    /// The HTTP client could not be built.
    #[error("the HTTP client could not be built: {0}")]
    Http(String),
}

impl From<ExchangeError> for crate::ToolError {
    fn from(err: ExchangeError) -> Self {
        let _ = err;
        todo!("i18-exchange")
    }
}
