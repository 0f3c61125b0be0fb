//! What the tests of every mcp-auth package share, so that no helper is written twice: a real
//! token issuer signing with real keys ([`issuer`]), MCP clients of both eras ([`Client`] for
//! 2025-11-25 sessions, [`modern`] for 2026-07-28 requests, [`stdio`] for the stdio
//! transport), servers on loopback ([`serve`]), the headers of answers ([`header`]), tools to
//! serve ([`tools`]), log capture ([`logs`]), time bounds and scratch directories
//! ([`fixture`]), and the workspace's programs run as processes ([`process`]).

pub mod dpop;
pub mod fixture;
pub mod issuer;
pub mod logs;
pub mod modern;
pub mod process;
pub mod stdio;
pub mod tools;

mod client;
mod headers;
mod server;

pub use client::{
    Client, EventReader, discover_metadata_url, get_json, initialize, legacy_request, open_session,
    open_session_with,
};
pub use headers::{header, header_values, retry_after};
pub use modern::modern_call;
pub use server::{
    bind, bind_endpoint, serve, serve_on, serve_stateless, serve_stateless_on, serve_with_peers,
};
