//! Why a server configuration was refused.

use crate::auth::{DpopConfigError, JwtConfigError};

/// Why [`McpServerBuilder::build`](crate::McpServerBuilder::build) refused a configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Two tools share a name.
    #[error("duplicate tool name `{0}`: tool names must be unique within a server")]
    DuplicateTool(&'static str),
    /// A tool's input or output schema does not describe a JSON object.
    #[error(
        "the {which} schema of tool `{tool}` does not describe an object: MCP requires `\"type\": \"object\"` (wrap the value in a struct)"
    )]
    SchemaNotObject {
        /// The tool.
        tool: &'static str,
        /// `input` or `output`.
        which: &'static str,
    },
    /// A tool's `ToolContext<S>` names another state type than the server's.
    #[error(
        "tool `{tool}` takes `ToolContext<{expected}>` but the server state is `{given}`: pass the state with `.state(..)`"
    )]
    StateMismatch {
        /// The tool.
        tool: &'static str,
        /// The state type the tool expects.
        expected: &'static str,
        /// The state type given to the builder.
        given: &'static str,
    },
    /// Two prompts share a name.
    #[error("duplicate prompt name `{0}`: prompt names must be unique within a server")]
    DuplicatePrompt(&'static str),
    /// A prompt's `ToolContext<S>` names another state type than the server's.
    #[error(
        "prompt `{prompt}` takes `ToolContext<{expected}>` but the server state is `{given}`: pass the state with `.state(..)`"
    )]
    PromptStateMismatch {
        /// The prompt.
        prompt: &'static str,
        /// The state type the prompt expects.
        expected: &'static str,
        /// The state type given to the builder.
        given: &'static str,
    },
    /// Two resources share a URI.
    #[error("duplicate resource URI `{0}`: a URI is served by one resource")]
    DuplicateResource(String),
    /// A resource's URI is not an absolute URI, or its template not an RFC 6570 level-1
    /// template with at least one variable.
    #[error("resource `{resource}` has an invalid URI or template `{uri}`: {reason}")]
    InvalidResourceUri {
        /// The resource's name.
        resource: &'static str,
        /// The URI or template.
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Some URI would be served by two resources (two templates that match a common URI,
    /// or a template that matches a fixed URI), which would leave it unclear which scopes
    /// guard it.
    #[error(
        "resources `{first}` and `{second}` overlap: some URI matches both, and each URI must \
         be served by one resource under one set of scopes; make the templates' literal parts \
         tell them apart"
    )]
    OverlappingResources {
        /// The URI or template registered first.
        first: &'static str,
        /// The one registered after it.
        second: &'static str,
    },
    /// A resource's `ToolContext<S>` names another state type than the server's.
    #[error(
        "resource `{resource}` takes `ToolContext<{expected}>` but the server state is `{given}`: pass the state with `.state(..)`"
    )]
    ResourceStateMismatch {
        /// The resource.
        resource: &'static str,
        /// The state type it expects.
        expected: &'static str,
        /// The state type given to the builder.
        given: &'static str,
    },
    /// No token verifier was configured, and authentication was not explicitly turned off.
    #[error(
        "no token verifier is configured: call `.verifier(..)`, or `.without_auth()` for local development only"
    )]
    NoVerifier,
    /// Authentication is on but no resource URI was configured.
    #[error(
        "no resource URI is configured: call `.resource(\"https://mcp.example.com/mcp\")` with the server's canonical URI, the audience its tokens must name"
    )]
    MissingResource,
    /// The resource URI is not absolute, has a fragment, or is not `https` off loopback.
    #[error(
        "resource `{0}` must be an absolute https URI without fragment (http is allowed on loopback only)"
    )]
    InvalidResource(String),
    /// An authorization server URL is not `https` off loopback.
    #[error("authorization server `{0}` must be an https URL (http is allowed on loopback only)")]
    InsecureAuthorizationServer(String),
    /// Several authorization servers but no verifier: which issuer's tokens to accept is
    /// ambiguous.
    #[error(
        "several authorization servers are configured: pass a verifier with `.verifier(..)` that accepts each of them"
    )]
    AmbiguousIssuer,
    /// A rate limit names a tool the server does not have (a typo would leave the real tool
    /// without its budget).
    #[error("a rate limit names `{0}`, which is not a tool of this server")]
    UnknownRateLimitedTool(String),
    /// A baseline scope is not an RFC 6749 scope token.
    #[error("invalid baseline scope `{0}`")]
    InvalidScope(String),
    /// The default JWT verifier refused its configuration.
    #[error(transparent)]
    Jwt(#[from] JwtConfigError),
    /// The MCP path is not an absolute path.
    #[error(
        "the MCP path `{0}` must start with `/` and be a plain path: no `{{`, `}}`, and no \
         segment starting with `:` or `*` (axum would read those as parameters)"
    )]
    InvalidPath(String),
    /// Clients connecting to the resource's URL would not reach the MCP endpoint: the
    /// resource's path is neither the endpoint's path nor a prefix of it.
    #[error(
        "the resource `{resource}` is not served at the MCP path `{path}`: clients connect to the resource's URL, so the endpoint must be at its path; drop `.path(..)` to serve the endpoint at the resource's path, or, if a reverse proxy rewrites one into the other, say so with `.proxy_rewrites_path()`"
    )]
    PathMismatch {
        /// The configured resource.
        resource: String,
        /// The configured endpoint path.
        path: String,
    },
    /// The verifier checks tokens for another resource than the server's: tokens would be
    /// checked against one audience while metadata and challenges advertise another.
    #[error(
        "the verifier accepts tokens for `{verifier}` but the server's resource is `{server}`: configure both with the same URI"
    )]
    ResourceMismatch {
        /// The verifier's resource.
        verifier: String,
        /// The server's resource.
        server: String,
    },
    /// DPoP is on but no resource is configured: a proof names the URI the client addressed
    /// (`htu`), which is checked against the resource's.
    #[error(
        "DPoP needs the server's public URI to check the `htu` of proofs: configure it with `.resource(..)`, e.g. https://mcp.example.com/mcp"
    )]
    DpopWithoutResource,
    /// The DPoP configuration would refuse every proof or accept forgeable ones.
    #[error(transparent)]
    Dpop(#[from] DpopConfigError),
    /// A request-state key is shorter than 32 bytes.
    #[error(
        "a request-state key must be at least 32 bytes, got {0}: use 32 random bytes, e.g. from `openssl rand -base64 32`"
    )]
    RequestStateKeyTooShort(usize),
    /// A tool's input schema declares an `x-mcp-header` that clients would reject (an
    /// invalid name, one repeated, a non-scalar parameter, a parameter not reached through
    /// `properties` alone): they would drop the tool from their lists.
    #[error("tool `{tool}`: {reason}")]
    InvalidHeaderParam {
        /// The tool.
        tool: &'static str,
        /// The rule broken, naming the property.
        reason: String,
    },
}
