//! [`DevClient`]: clients registered with the development issuer by its configuration, rather
//! than by dynamic registration: the confidential clients of resource servers that exchange
//! tokens (RFC 8693) or use client credentials.

use std::fmt;

use crate::auth::JwkSet;

/// A client the development issuer knows from the start, with how it authenticates and
/// what it may do. `Debug` output never shows the secret.
///
/// ```
/// use mcp_auth_runtime::dev_issuer::{DevClient, DevIssuer};
///
/// let issuer = DevIssuer::builder("http://127.0.0.1:8000")
///     .resource("http://127.0.0.1:8000/mcp")
///     .resource("http://127.0.0.1:8000/payments")
///     .scopes(["invoices:read", "payments:write"])
///     // The billing server may exchange its callers' tokens for payments tokens.
///     .client(
///         DevClient::secret("billing-mcp", "a secret of at least 32 characters!!")
///             .may_exchange_for("http://127.0.0.1:8000/payments"),
///     )
///     .build()?;
/// # let _ = issuer;
/// # Ok::<(), mcp_auth_runtime::dev_issuer::DevIssuerError>(())
/// ```
#[must_use]
pub struct DevClient {
    pub(super) id: String,
    pub(super) auth: DevClientAuth,
    pub(super) scope: Option<String>,
    pub(super) exchange_for: Vec<String>,
}

/// How a [`DevClient`] authenticates at the token endpoint.
pub(super) enum DevClientAuth {
    /// `client_secret_basic` or `client_secret_post`.
    Secret(String),
    /// `private_key_jwt`, with the client's public keys.
    PrivateKeyJwt(JwkSet),
}

impl DevClient {
    /// A confidential client authenticating with `secret` (`client_secret_basic` or
    /// `client_secret_post`). The secret must be at least 32 characters. The issuer keeps
    /// only its SHA-256 digest.
    pub fn secret(id: impl Into<String>, secret: impl Into<String>) -> Self {
        DevClient {
            id: id.into(),
            auth: DevClientAuth::Secret(secret.into()),
            scope: None,
            exchange_for: Vec::new(),
        }
    }

    /// A confidential client authenticating with `private_key_jwt` assertions (RFC 7523 §2.2)
    /// signed by one of the keys of `jwks`: public EC, RSA or Ed25519 keys, no symmetric
    /// key. What an assertion must carry: see
    /// [Token exchange and configured clients](super#token-exchange-and-configured-clients).
    pub fn private_key_jwt(id: impl Into<String>, jwks: JwkSet) -> Self {
        DevClient {
            id: id.into(),
            auth: DevClientAuth::PrivateKeyJwt(jwks),
            scope: None,
            exchange_for: Vec::new(),
        }
    }

    /// The scopes the client may get with `client_credentials` (space-separated), each one
    /// the issuer grants. Without it, the client has no `client_credentials` grant.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Lets the client exchange tokens (RFC 8693) for tokens of `resource`, one of the
    /// issuer's resources; call it once per resource. A client may exchange for no resource
    /// unless allowed here. The scope of an exchanged token is never wider than the subject
    /// token's.
    pub fn may_exchange_for(mut self, resource: impl Into<String>) -> Self {
        self.exchange_for.push(resource.into());
        self
    }
}

impl fmt::Debug for DevClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let method = match self.auth {
            DevClientAuth::Secret(_) => "client_secret",
            DevClientAuth::PrivateKeyJwt(_) => "private_key_jwt",
        };
        f.debug_struct("DevClient")
            .field("id", &self.id)
            .field("auth", &method)
            .field("scope", &self.scope)
            .field("exchange_for", &self.exchange_for)
            .finish()
    }
}
