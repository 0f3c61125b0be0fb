//! Why a configuration or a mint request was refused.

/// Why a [`DevIssuerBuilder`](super::DevIssuerBuilder) refused its configuration, or
/// [`DevIssuer::mint`](super::DevIssuer::mint) a request.
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
    /// [`DevIssuer::mint`](super::DevIssuer::mint): the resource is not one of the configured resources.
    #[error("resource `{0}` is not one this issuer mints tokens for")]
    UnknownResource(String),
    /// [`DevIssuer::mint`](super::DevIssuer::mint): the scope is not one of the configured scopes.
    #[error("scope `{0}` is not one this issuer grants")]
    UnknownScope(String),
    /// A [`DevClient`](super::DevClient) is misconfigured.
    #[error("invalid client `{client}`: {reason}")]
    InvalidClient {
        /// The client id.
        client: String,
        /// What is wrong.
        reason: String,
    },
    /// A token could not be signed.
    #[error("cannot sign the token: {0}")]
    Signing(String),
}
