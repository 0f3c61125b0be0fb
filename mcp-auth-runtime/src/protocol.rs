//! The protocol's vocabulary that several layers share: the versions of each era and the
//! `_meta` keys of 2026-07-28.

/// Handshake-era protocol versions, newest first.
pub(crate) const LEGACY_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26"];
/// Protocol versions of the stateless era.
pub(crate) const MODERN_VERSIONS: &[&str] = &["2026-07-28"];

/// `_meta` keys of the 2026-07-28 era.
pub(crate) mod meta {
    pub(crate) const PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
    pub(crate) const CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
    pub(crate) const LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
    pub(crate) const SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";
    pub(crate) const SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";
}
