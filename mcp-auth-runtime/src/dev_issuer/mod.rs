#![doc = include_str!("../../docs/dev-issuer.md")]

mod builder;
mod client;
mod consent;
mod endpoints;
mod error;
mod issuer;
mod keys;
mod store;

use std::time::Duration;

use bytes::Bytes;

use crate::auth::Dpop;

pub use self::builder::DevIssuerBuilder;
pub use self::client::DevClient;
pub use self::error::DevIssuerError;
pub use self::issuer::{DevIssuer, MintRequest};
use self::keys::SigningKey;
use self::store::Store;

/// The default lifetime of access tokens: one hour.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// The `client_id` claim of tokens from [`DevIssuer::mint`] without one.
pub const MINT_CLIENT_ID: &str = "mcp-auth-dev-issuer";

/// The `grant_type` of RFC 8693 token exchange.
const EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// The issuer's configuration, checked, and its state: what the builder prepares, and the
/// running issuer and its endpoints read.
struct Inner {
    /// The issuer identifier, exactly as configured: the `iss` of every token.
    issuer: String,
    /// The issuer URL's path without trailing slash: empty at an origin root.
    prefix: String,
    /// The issuer's own origin, as browsers serialize it in `Origin`.
    origin: String,
    /// The origins allowed to call `/register` and `/token` from a browser, serialized.
    cors_origins: Vec<String>,
    /// The token endpoint's URL: the `htu` of DPoP proofs sent to it.
    token_endpoint: String,
    /// How the token endpoint treats DPoP proofs; its own replay record of their `jti`.
    dpop: Dpop,
    key: SigningKey,
    /// The metadata document and the key set, serialized once.
    metadata: Bytes,
    jwks: Bytes,
    resources: Vec<Resource>,
    /// Each grantable scope with what it means.
    scopes: Vec<(String, String)>,
    token_lifetime: Duration,
    /// `(subject, home tenant)`; never empty.
    users: Vec<(String, String)>,
    tenants: Vec<String>,
    auto_consent: bool,
    /// The clients configured with [`DevIssuerBuilder::client`]; never evicted.
    clients: Vec<store::Client>,
    store: Store,
}

/// A resource, as configured (the `aud` of its tokens) and in canonical form (for matching).
struct Resource {
    uri: String,
    canonical: String,
}
