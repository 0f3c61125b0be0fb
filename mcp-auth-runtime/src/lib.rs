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
//!
//! Data the model reads is served the same way: [`#[resource]`](macro@resource) on an `async fn`
//! makes a resource at a fixed URI or a resource template (`invoice://{invoice_id}`), listed
//! with [`resources!`] and [`McpServerBuilder::resources`], its scopes checked before it runs.
//! Workflows are [`#[prompt]`](macro@prompt)s, listed with [`prompts!`] and
//! [`McpServerBuilder::prompts`], under the same guarantees; `#[arg(complete = f)]` on a
//! prompt argument or template variable answers `completion/complete` under the scopes of
//! what it completes. Clients subscribe to resources, and application code tells them of
//! changes through a [`Notifier`], across replicas with Redis.
//!
//! A tool or prompt may ask the client for input while it runs, in both protocol eras:
//! [`ToolContext::elicit`], [`sample`](ToolContext::sample),
//! [`list_roots`](ToolContext::list_roots), or several requests in one round under keys of
//! the author's choosing with [`ToolContext::ask`] and an [`Ask`]. In the 2026-07-28 era the
//! request ends with an `InputRequiredResult` whose `requestState` is sealed for the caller,
//! the request and the questions, and the client retries with the answers.
//!
//! A call that needs more than its static scopes when its arguments say so declares it in the
//! attribute, `#[tool(scope = "invoices:write", require(scope = "payments:approve", when =
//! amount_cents > 100_000))]`, on tools, resources and prompts alike: one `403` names every
//! scope the call needs, before its body runs (see [`auth`], "Scopes that depend on the
//! arguments").
//!
//! # Getting started
//!
//! Depend on this crate (it re-exports the macro) and on the crates your tool types derive
//! from:
//!
//! ```toml
//! [dependencies]
//! mcp-auth-runtime = { version = "0.1", features = ["dev-issuer"] }
//! schemars = "1"            # 1.x: a `JsonSchema` derived with schemars 0.8 does not count
//! serde = { version = "1", features = ["derive"] }
//! tokio = { version = "1", features = ["macros", "rt-multi-thread", "signal"] }
//! tracing-subscriber = "0.3"
//! ```
//!
//! The repository's `examples/quickstart` is a complete `main.rs` with two scoped tools and the
//! development issuer, which prints tokens to call them with; the README shows it whole.
//! Then, in production, verify tokens from your authorization server with
//! [`auth::JwtVerifier`] or [`auth::IntrospectionVerifier`], and serve with [`serve`].
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! | --- | --- | --- |
//! | `dev-issuer` | off | [`dev_issuer`]: an embedded OAuth 2.1 authorization server for examples and tests, loopback only; never in production |
//! | `redis` | off | [`session::RedisSessions`] and Redis-backed [`rate_limit`]s, so that several replicas serve one client ([`_deployment`]) |
//! | `fuzzing` | off | internal: the parsers for the fuzz targets; not public API |
//!
//! # Logging
//!
//! The server reports through [`tracing`](https://docs.rs/tracing): start-up warnings (a server
//! [`without_auth`](McpServerBuilder::without_auth), the development issuer, settings that hold
//! on one replica only) and the reason for every refusal. Install a subscriber, e.g.
//! `tracing_subscriber::fmt().init()`, or they go nowhere. No token, code or secret is ever
//! logged.

#![cfg_attr(docsrs, feature(doc_cfg))]

/// `get_ref`, `get_mut` and `into_inner` of a middleware service whose inner service is
/// its field `inner`, as tower-http's middleware have them.
macro_rules! inner_service_accessors {
    () => {
        /// The inner service.
        pub fn get_ref(&self) -> &S {
            &self.inner
        }

        /// The inner service, mutably.
        pub fn get_mut(&mut self) -> &mut S {
            &mut self.inner
        }

        /// Consumes `self`, returning the inner service.
        pub fn into_inner(self) -> S {
            self.inner
        }
    };
}
pub(crate) use inner_service_accessors;

mod ask;
pub mod auth;
mod authorize;
pub mod completion;
mod context;
#[cfg(feature = "dev-issuer")]
#[cfg_attr(docsrs, doc(cfg(feature = "dev-issuer")))]
pub mod dev_issuer;
pub mod downstream;
mod error;
pub mod health;
mod http;
mod input;
mod jsonrpc;
mod mcp;
pub mod metadata;
pub mod observe;
mod peer;
mod private;
pub mod prompt;
mod protocol;
mod random;
pub mod rate_limit;
pub mod resource;
mod result;
mod scope;
mod serve;
mod server;
pub mod session;
mod shelf;
pub mod stdio;
mod task;
mod tool;
mod updates;

/// The [`redis`](https://docs.rs/redis) crate (feature `redis`), re-exported on purpose: the
/// Redis APIs here take its types ([`RedisSessions::connect`](session::RedisSessions::connect)
/// a `redis::Client`, [`RateLimits::redis`](rate_limit::RateLimits::redis) a
/// `redis::aio::ConnectionManager`), and a client built from this re-export always has the
/// version they expect. Its version is part of this crate's API: a new major version of
/// `redis` here is a new major version of this crate.
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis;

// Writing tools.
pub use ask::{Ask, InputKind, Responses, Root};
pub use authorize::INSUFFICIENT_SCOPE_META_KEY;
pub use completion::{Completion, CompletionRequest};
pub use context::ToolContext;
pub use error::ToolError;
pub use input::InputRequest;
pub use peer::{ElicitAction, Elicitation, LogLevel};
pub use prompt::{GetPromptResult, PromptDef, PromptMessage};
pub use resource::ResourceDef;
pub use result::{CallToolResult, Content, ResourceContents};
pub use tool::{Annotations, Args, ToolDef};

// Serving them.
pub use http::polling::StreamPolling;
pub use mcp::{CallEvent, CallKind, CallOutcome};
pub use scope::ScopePolicy;
pub use serve::{ServeConfig, serve, serve_with};
pub use server::{BuildError, McpServer, McpServerBuilder, RouteConflict};
pub use task::TaskSupport;
pub use updates::Notifier;

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
/// | `require(scope = "a", when = <bool expr>)` | repeatable: the scope (or list) is also required when the condition over the parameters holds; needs a `ToolContext` |
/// | `may_require = "a"`, `may_require = ["a", "b"]` | scopes only the body checks, with [`ToolContext::require_scopes`] |
/// | `task = optional`, `task = required` | the tool may run as a task, or only as one (the 2026-07-28 tasks extension; guide: [`_tasks`]) |
///
/// `require(..)` and `may_require` declare what a call may need beyond `scope`, so that
/// `scopes_supported` and the tool's `_meta` name it; see [Scopes that depend on the
/// arguments](crate::auth#scopes-that-depend-on-the-arguments).
///
/// # Parameters
///
/// - `ToolContext<S>` (at most one, anywhere): the caller and the server state, not part of
///   the input.
/// - Plain parameters `name: Type` become the properties of the input object, which is
///   closed: its schema says `"additionalProperties": false` and a call with an argument it
///   does not name is refused. Their doc comments become property descriptions, and
///   `#[serde(..)]`/`#[schemars(..)]` attributes apply to them; `Option<T>` is optional.
/// - Or one `Args(input): Args<T>`, where `T` is the whole input object, open or closed as
///   `T` says (see [below](#closing-an-args-input)).
///
/// `#[arg(header = "Region")]` on a plain parameter sends it also as the `Mcp-Param-Region`
/// HTTP header (SEP-2243), for gateways that route or authorize on it: the property's schema
/// gets `"x-mcp-header": "Region"`, and the server refuses, with `400` and `HeaderMismatch`,
/// a call whose header and body differ in any way. The parameter is a string, an integer or
/// a boolean (or an `Option` of one); the name an HTTP token, unique within the tool
/// regardless of case. See "Parameters mirrored in headers" in [`McpServer`]'s docs.
///
/// ```
/// use mcp_auth_runtime::prelude::*;
///
/// /// Run a query in one region.
/// #[tool(scope = "db:read")]
/// async fn run_query(
///     #[arg(header = "Region")] region: String,
///     #[arg(header = "Limit")] limit: Option<u32>,
///     query: String,
/// ) -> Result<String, ToolError> {
///     Ok(format!("{query} in {region}, {limit:?} rows"))
/// }
/// # let def = tools![run_query].remove(0);
/// # let properties = &def.input_schema()["properties"];
/// # assert_eq!(properties["region"]["x-mcp-header"], "Region");
/// # assert_eq!(properties["limit"]["type"], "integer");
/// ```
///
/// Each parameter type is `Deserialize` (serde 1) and `JsonSchema` of **schemars 1**: a
/// `JsonSchema` derived with schemars 0.8 is another trait, and the compiler error says so.
/// Parameters are owned values, deserialized from the call's JSON: `String`, not `&str`;
/// `Vec<T>`, not `&[T]`; and the context is taken by value, `ToolContext<S>`.
///
/// Integers travel up to 64 bits: a `tools/call` whose arguments hold an integer outside
/// `i64::MIN..=u64::MAX` is refused (`-32602`) before anything runs, whatever the parameter's
/// type. A `u128` parameter would read such a number exactly, but the `requestState` binding,
/// the audit trail, `on_call` and the `Mcp-Param-*` checks read arguments as `serde_json`
/// values, which round it: they would take two neighbouring numbers for one. Pass wider
/// integers as strings.
///
/// # Closing an `Args` input
///
/// The schema and the deserialization of an `Args<T>` input are both `T`'s, generated from its
/// derives, so they always agree: a struct accepts fields it does not name, and its schema
/// does not forbid them, unless it says `#[serde(deny_unknown_fields)]`, which closes both
/// (schemars reads the attribute and writes `"additionalProperties": false`):
///
/// ```
/// use mcp_auth_runtime::prelude::*;
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// #[serde(deny_unknown_fields)]
/// struct NewNote {
///     title: String,
/// }
///
/// /// Add a note.
/// #[tool(scope = "notes:write")]
/// async fn add_note(Args(note): Args<NewNote>) -> Result<String, ToolError> {
///     Ok(note.title)
/// }
/// # let def = tools![add_note].remove(0);
/// # assert_eq!(def.input_schema()["additionalProperties"], false);
/// ```
///
/// The macro does not close `T` for you: it cannot change `T`'s `Deserialize` impl, and a
/// schema closed over an open deserializer (or a key check of its own beside serde's) would
/// disagree with what the tool accepts, for `#[serde(alias)]` names, say. And whether a type
/// can be closed is the type's to say: serde does not support `deny_unknown_fields` together
/// with `#[serde(flatten)]`, and each enum variant decides for itself.
///
/// # Return type
///
/// `Result<T, E>` or a bare `T`, where `E: Into<ToolError>` and `T` is
///
/// - `String` or `&str`: one text block;
/// - [`CallToolResult`]: returned as built;
/// - anything else `Serialize` (serde 1) and `JsonSchema` (schemars 1): a structured result,
///   `structuredContent` plus the same JSON as text, and an `outputSchema`.
///
/// MCP requires `structuredContent` to be a JSON object and `outputSchema` to describe one,
/// so a structured result is a struct with named fields (or a map). Where the type's name shows
/// it is not an object (`Vec<T>`, `VecDeque<T>`, `HashSet<T>`, `BTreeSet<T>` and the other
/// sequences and sets, arrays, slices, tuples, `Option<T>`, `bool`, integers, floats, `char`),
/// the macro refuses it at the return type. Wrap the value in a struct with a named field, or
/// return `String` or `CallToolResult`:
///
/// ```
/// use mcp_auth_runtime::prelude::*;
///
/// #[derive(serde::Serialize, schemars::JsonSchema)]
/// struct Note { title: String }
///
/// #[derive(serde::Serialize, schemars::JsonSchema)]
/// struct Notes { notes: Vec<Note> }
///
/// /// List the notes.
/// #[tool(scope = "notes:read")]
/// async fn list_notes() -> Result<Notes, ToolError> {
///     Ok(Notes { notes: vec![Note { title: "groceries".into() }] })
/// }
/// # let def = tools![list_notes].remove(0);
/// # assert_eq!(def.output_schema().unwrap()["type"], "object");
/// ```
///
/// ```compile_fail
/// use mcp_auth_runtime::prelude::*;
///
/// #[derive(serde::Serialize, schemars::JsonSchema)]
/// struct Note { title: String }
///
/// /// List the notes.
/// #[tool(scope = "notes:read")]
/// async fn list_notes() -> Result<Vec<Note>, ToolError> {
///     Ok(vec![Note { title: "groceries".into() }])
/// }
/// ```
///
/// A type whose schema is not an object although its name does not show it (an enum of unit
/// variants, which serializes as a string; an alias such as `type Notes = Vec<Note>`;
/// `serde_json::Value`) compiles, and [`McpServerBuilder::build`] refuses it with
/// [`BuildError::SchemaNotObject`].
///
/// # How the macro reads types
///
/// A macro sees tokens, not types: it tells a parameter's role, and how to send the result,
/// from the *last segment* of each type's path, whatever comes before it. Where a trait can
/// decide instead, it does: each plain parameter must be `ToolParam` (`Deserialize +
/// JsonSchema`), a structured result `Serialize + JsonSchema`, and an error
/// `Into<ToolError>`, each checked by the compiler at the parameter's or the result's span.
///
/// | last segment | read as |
/// | --- | --- |
/// | `ToolContext`, `ToolContext<S>` (parameter) | the context; `S` is the state type |
/// | `Args<T>` (parameter) | the whole input object `T` |
/// | `Result<T, E>` (return type) | a fallible tool returning `T` |
/// | `String`, `&str` (result) | one text block |
/// | `CallToolResult` (result) | sent as built |
///
/// So a type alias hides the role: `type Ctx = ToolContext<Billing>` as a parameter type is a
/// plain parameter (it does not compile: ``` `ToolContext<Billing>` cannot be a tool
/// parameter ```); `type Text = String` as the result is a structured result
/// (it compiles, but the tool declares an output schema of type `string`, which `build()`
/// refuses: output schemas must be objects); `type Outcome<T> = Result<T, ToolError>` is an
/// infallible tool whose structured result is a `Result` (it does not compile: ``` `Result<String,
/// ToolError>` cannot be a structured tool result ```).
/// And a type of your own named `ToolContext`, `Args`, `Result`, `String` or `CallToolResult`
/// is read as ours. Write these five types by their names.
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

#[doc = include_str!("../docs/resources.md")]
pub use mcp_auth_macros::resource;

#[doc = include_str!("../docs/prompts.md")]
pub use mcp_auth_macros::prompt;

/// A guide, no items: long-running tool calls as tasks (the 2026-07-28 tasks extension).
pub mod _tasks {
    #![doc = include_str!("../docs/tasks.md")]
}

/// A guide, no items: several replicas behind a load balancer, with Redis.
pub mod _deployment {
    #![doc = include_str!("../docs/deployment.md")]
}

/// A guide, no items: metrics for Prometheus, traces through OTLP, the audit trail.
pub mod _observability {
    #![doc = include_str!("../docs/observability.md")]
}

/// Everything a tool module needs: `use mcp_auth_runtime::prelude::*;`.
pub mod prelude {
    pub use crate::auth::AuthInfo;
    pub use crate::{
        Args, CallToolResult, Completion, CompletionRequest, Content, GetPromptResult, McpServer,
        PromptMessage, ResourceContents, ToolContext, ToolError, prompt, prompts, resource,
        resources, tool, tools,
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
        crate::http::decode_header_value(raw)
    }
}

#[cfg(feature = "fuzzing")]
#[doc(hidden)] // for `benches/observe.rs` only; not public API, no semver guarantees
pub mod __observe {
    //! What the request path records per request, for the benchmark of its cost.

    use std::time::Duration;

    use crate::observe::Metrics;
    use crate::observe::metrics::{Decision, OperationRecord, Transport};

    /// Records what one authorized `tools/call` of `tool` records: the authentication, the
    /// authorization and the operation.
    pub fn record_call(metrics: &Metrics, tool: &str, took: Duration) {
        metrics.record_decision(Decision::Authenticated);
        metrics.record_decision(Decision::Authorized);
        metrics.record_operation(&OperationRecord {
            method: "tools/call",
            tool: Some(tool),
            prompt: None,
            protocol_version: Some("2025-11-25"),
            transport: Transport::Tcp,
            error_type: None,
            rpc_status: None,
            duration: took,
        });
    }
}
