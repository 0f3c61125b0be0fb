//! OAuth 2.0 Protected Resource Metadata (RFC 9728): how MCP clients find the authorization
//! server and the scopes to ask for.

use serde::Serialize;
use url::Url;

/// The protected-resource metadata document of one MCP server.
///
/// [`McpServer`](crate::McpServer) builds it from its configuration, with `scopes_supported`
/// derived from the declared tools, and serves it at
/// `/.well-known/oauth-protected-resource` + the resource's path (RFC 9728 §3.1) and at the
/// root form.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ProtectedResourceMetadata {
    /// The resource's canonical URI, exactly as configured.
    pub resource: String,
    /// The issuers of tokens for this resource.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub authorization_servers: Vec<String>,
    /// The scopes clients should request.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// How tokens may be presented: `header` only.
    pub bearer_methods_supported: Vec<&'static str>,
    /// A human-readable name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    /// A page of documentation for developers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_documentation: Option<String>,
    /// Whether the resource accepts DPoP-bound access tokens only (RFC 9728 §2, RFC 9449):
    /// `true` under [`DpopPolicy::Require`](crate::auth::DpopPolicy::Require), left out
    /// (meaning `false`) otherwise.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dpop_bound_access_tokens_required: bool,
    /// The JWS algorithms accepted in DPoP proofs (RFC 9728 §2), when DPoP-bound tokens are
    /// accepted or required; left out when DPoP is off.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dpop_signing_alg_values_supported: Vec<&'static str>,
}

impl ProtectedResourceMetadata {
    /// The path the document is served at for `resource`:
    /// `/.well-known/oauth-protected-resource` followed by the resource's path, if any.
    pub fn well_known_path(resource: &str) -> Option<String> {
        let url = Url::parse(resource).ok()?;
        let path = url.path().trim_end_matches('/');
        Some(format!("/.well-known/oauth-protected-resource{path}"))
    }

    /// The absolute URL of the document, sent as `resource_metadata` in challenges.
    pub fn well_known_url(resource: &str) -> Option<String> {
        let url = Url::parse(resource).ok()?;
        let origin = url.origin().ascii_serialization();
        Some(format!("{origin}{}", Self::well_known_path(resource)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_location_inserts_the_resource_path() {
        assert_eq!(
            ProtectedResourceMetadata::well_known_url("https://billing.example.com/mcp").unwrap(),
            "https://billing.example.com/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            ProtectedResourceMetadata::well_known_url("https://billing.example.com").unwrap(),
            "https://billing.example.com/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            ProtectedResourceMetadata::well_known_url("http://127.0.0.1:8000/a/mcp/").unwrap(),
            "http://127.0.0.1:8000/.well-known/oauth-protected-resource/a/mcp"
        );
    }
}
