#![doc = include_str!("../../docs/dev-issuer.md")]

mod builder;
mod consent;
mod endpoints;
mod error;
mod issuer;
mod keys;
mod store;

use std::time::Duration;

pub use self::builder::DevIssuerBuilder;
pub use self::error::DevIssuerError;
pub use self::issuer::{DevIssuer, MintRequest};

/// The default lifetime of access tokens: one hour.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// The `client_id` claim of tokens from [`DevIssuer::mint`] without one.
pub const MINT_CLIENT_ID: &str = "mcp-auth-dev-issuer";
