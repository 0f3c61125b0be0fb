//! MCP servers on [axum] whose tools are protected by OAuth 2.1 scopes.
//!
//! Annotate an `async fn` with [`#[tool]`](macro@tool), list it with [`tools!`], and serve it
//! with [`McpServer`]:
//!
//! ```
//! use mcp_auth_runtime::prelude::*;
//!
//! #[derive(Clone)]
//! struct Billing;
//!
//! /// Mark an invoice as voided.
//! #[tool(scope = "invoices:write", destructive, idempotent)]
//! async fn void_invoice(ctx: ToolContext<Billing>, invoice_id: String) -> Result<String, ToolError> {
//!     Ok(format!("{invoice_id} voided by {}", ctx.auth().subject().unwrap_or("?")))
//! }
//!
//! let server = McpServer::builder("billing", "1.0.0")
//!     .tools(tools![void_invoice])
//!     .state(Billing)
//!     .without_auth() // local development only; see `McpServerBuilder::verifier`
//!     .build()
//!     .unwrap();
//! assert_eq!(server.scopes_supported(), ["invoices:write"]);
//! let app: axum::Router = server.into_router();
//! ```
//!
//! The scope guard is generated *inside* the function: however it is reached, the body never
//! runs without the scopes.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod auth;
mod context;
#[cfg(feature = "dev-issuer")]
#[cfg_attr(docsrs, doc(cfg(feature = "dev-issuer")))]
pub mod dev_issuer;
mod error;
pub mod health;
mod http;
mod jsonrpc;
pub mod metadata;
mod peer;
mod private;
mod random;
pub mod rate_limit;
mod registry;
mod result;
mod schema;
mod scope;
mod serve;
mod server;
mod session;
mod streams;
#[cfg(feature = "redis")]
pub use session::RedisSessions;
mod tool;
mod transport;

pub use auth::{AuthError, AuthInfo, TokenVerifier};
pub use context::ToolContext;
pub use error::ToolError;
pub use jsonrpc::{CallEvent, CallOutcome};
pub use metadata::ProtectedResourceMetadata;
pub use peer::{ElicitAction, Elicitation, InputRequest, LogLevel};
pub use result::{CallToolResult, Content, ResourceContents};
pub use scope::{ScopePolicy, is_scope_token};
pub use serve::{
    DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_REQUEST_BODY_TIMEOUT,
    DEFAULT_WRITE_TIMEOUT, ServeConfig, serve_with,
};
pub use server::{
    BuildError, DEFAULT_BODY_LIMIT, DEFAULT_MAX_STREAMS_PER_PRINCIPAL, McpServer, McpServerBuilder,
    serve,
};
pub use tool::{Annotations, Args, SCOPES_META_KEY, ToolDef};

/// Turns an `async fn` into a scope-guarded MCP tool.
///
/// ```
/// use mcp_auth_runtime::prelude::*;
///
/// #[derive(serde::Serialize, schemars::JsonSchema)]
/// struct Invoice { id: String, status: String }
///
/// /// Look up an invoice.
/// ///
/// /// Everything after the first paragraph stays in the Rust docs only.
/// #[tool(scope = "invoices:read", read_only)]
/// async fn lookup_invoice(
///     ctx: ToolContext,
///     /// The invoice id, e.g. INV-2041
///     invoice_id: String,
/// ) -> Result<Invoice, ToolError> {
///     Ok(Invoice { id: invoice_id, status: "open".into() })
/// }
/// # let def = tools![lookup_invoice].remove(0);
/// # assert_eq!(def.description(), "Look up an invoice.");
/// ```
///
/// # Arguments
///
/// | argument | meaning |
/// | --- | --- |
/// | `scope = "a"`, `scope = ["a", "b"]` | every listed scope is required to call the tool |
/// | `unscoped` | any authenticated caller may call it; one of `scope` and `unscoped` is required |
/// | `name = ".."` | the tool name (default: the function name); 1–128 of `A-Z a-z 0-9 _ - .` |
/// | `title = ".."` | a human-readable title |
/// | `description = ".."` | default: the first paragraph of the doc comment; one of the two is required |
/// | `read_only`, `destructive`, `idempotent`, `open_world` | MCP annotation hints, `= false` to state the opposite; unset hints are left out |
///
/// # Parameters
///
/// - `ToolContext<S>` (at most one, anywhere): the caller and the server state, not part of
///   the input.
/// - Plain parameters `name: Type` become the properties of the input object; their doc
///   comments become property descriptions, and `#[serde(..)]`/`#[schemars(..)]` attributes
///   apply to them. Each type must be `Deserialize + JsonSchema`; `Option<T>` is optional.
/// - Or one `Args(input): Args<T>`, where `T` is the whole input object.
///
/// # Return type
///
/// `Result<T, E>` or a bare `T`, where `E: Into<ToolError>` and `T` is
///
/// - `String` or `&str`: one text block;
/// - [`CallToolResult`]: returned as built;
/// - anything else `Serialize + JsonSchema`: `structuredContent` plus the same JSON as text,
///   and an `outputSchema`.
///
/// # The scope guard
///
/// A scoped tool that takes a `ToolContext` checks the scopes in its first statement and
/// returns `Err(ToolError::InsufficientScope)` without running its body; it must therefore
/// return a `Result`. The server checks the scopes before dispatching (answering `403` with an
/// `insufficient_scope` challenge) and the generated handler checks them again before
/// deserializing the arguments, so no path through the framework reaches the body without them.
///
/// A tool must say which scopes it needs, or that it needs none:
///
/// ```compile_fail
/// use mcp_auth_runtime::prelude::*;
///
/// /// Void an invoice.
/// #[tool(destructive)]
/// async fn void_invoice(invoice_id: String) -> Result<String, ToolError> {
///     Ok(invoice_id)
/// }
/// ```
pub use mcp_auth_macros::tool;

/// Everything a tool module needs: `use mcp_auth_runtime::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Args, AuthInfo, CallToolResult, Content, McpServer, ToolContext, ToolError, tool, tools,
    };
}

#[doc(hidden)] // used by `#[tool]` expansions; not public API, no semver guarantees
pub mod __private {
    pub use crate::private::*;
}

#[cfg(feature = "fuzzing")]
#[doc(hidden)] // for the fuzz targets of `tests/fuzz` only; not public API, no semver guarantees
pub mod __fuzz {
    //! Thin wrappers around the parsers that untrusted bytes reach first.

    use crate::jsonrpc::{Message, parse, result_body};

    /// Parses one JSON-RPC message as the MCP endpoint does. `Ok` names the kind of message;
    /// `Err` is the JSON-RPC error response the endpoint would send.
    pub fn parse_jsonrpc(body: &[u8]) -> Result<String, Vec<u8>> {
        match parse(body) {
            Ok(Message::Request(request)) => {
                let empty =
                    serde_json::value::RawValue::from_string("{}".into()).expect("`{}` is JSON");
                let reply = result_body(&request.id, &empty);
                Ok(format!(
                    "request {} {} {}",
                    request.method,
                    request.id.key(),
                    reply.len()
                ))
            }
            Ok(Message::Notification { method, .. }) => Ok(format!("notification {method}")),
            Ok(Message::Response { id, .. }) => Ok(format!("response {id}")),
            Err(error) => Err(error.to_bytes().to_vec()),
        }
    }

    /// The bearer token of a request, as the bearer layer reads it.
    pub fn bearer_token<'a>(
        headers: &'a http::HeaderMap,
        query: Option<&str>,
    ) -> Result<Option<&'a str>, &'static str> {
        crate::auth::bearer_token(headers, query)
    }

    /// A 2026-07-28 header value, Base64-decoded when it uses the `=?base64?…?=` sentinel.
    pub fn decode_header_value(raw: &[u8]) -> Option<String> {
        crate::transport::decode_header_value(raw)
    }
}
