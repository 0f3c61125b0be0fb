//! Resource descriptors: fixed URIs and RFC 6570 templates, each with the scopes a read
//! requires, and the handler that reads it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use serde_json::{Map, Value};

mod registry;
pub(crate) mod template;

pub(crate) use registry::Resources;
pub(crate) use template::UriTemplate;

use crate::completion::CompletionDef;
use crate::context::CallContext;
use crate::error::ToolError;
use crate::result::ResourceContents;
use crate::tool::{StateType, ToolDef};

/// The future an erased resource handler returns.
pub type ReadFuture =
    Pin<Box<dyn Future<Output = Result<Vec<ResourceContents>, ToolError>> + Send>>;

/// The erased handler of a resource: checks the scopes, binds the template's variables and
/// runs the user's function.
pub type ReadHandler = fn(CallContext, ReadRequest) -> ReadFuture;

/// One `resources/read`: the URI asked for and, for a template, its variables' values
/// (percent-decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRequest {
    uri: String,
    variables: Vec<(String, String)>,
}

impl ReadRequest {
    /// A read of `uri` with these variable values; for calling a handler directly.
    pub fn new(uri: impl Into<String>, variables: Vec<(String, String)>) -> Self {
        ReadRequest {
            uri: uri.into(),
            variables,
        }
    }

    /// The URI asked for.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The value of template variable `name`.
    pub fn variable(&self, name: &str) -> Option<&str> {
        self.variables
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A function annotated with `#[resource]`, seen through the type of the same name the macro
/// declares beside it. `resources!` calls [`Resource::def`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a resource",
    label = "not annotated with `#[resource]`",
    note = "annotate the `async fn` with `#[resource(uri = \"...\", scope = \"...\")]` to list it in `resources!`"
)]
pub trait Resource {
    /// The resource's descriptor.
    fn def() -> ResourceDef;
}

/// Where a resource lives: one URI, or every expansion of a level-1 URI template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceUri {
    /// `uri = "billing://tenant/summary"`.
    Fixed(&'static str),
    /// `uri_template = "invoice://{invoice_id}"`.
    Template(&'static str),
}

/// Who a resource is meant for (`annotations.audience`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The human user.
    User,
    /// The model.
    Assistant,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// MCP resource annotations; empty ones are left out of the listing.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ResourceAnnotations {
    /// `audience`: who the resource is for.
    pub audience: &'static [Role],
    /// `priority`, from 0 (optional) to 1 (required).
    pub priority: Option<f64>,
}

/// What `#[resource]` knows at compile time.
#[derive(Debug, Clone, Copy)]
pub struct ResourceMeta {
    /// The URI or URI template.
    pub uri: ResourceUri,
    /// The programmatic name.
    pub name: &'static str,
    /// The human-readable title.
    pub title: Option<&'static str>,
    /// What the resource holds.
    pub description: Option<&'static str>,
    /// The media type of its contents.
    pub mime_type: Option<&'static str>,
    /// Every scope a read requires; empty for an `unscoped` resource.
    pub scopes: &'static [&'static str],
    /// The annotations.
    pub annotations: ResourceAnnotations,
    /// The state type of the handler's `ToolContext<S>`, if it takes one with a state.
    pub state: Option<StateType>,
}

/// One registered resource or resource template: its metadata and erased handler.
///
/// Built by `#[resource]`, collected by `resources!` and validated when the server is built
/// (URIs and templates well-formed, no URI served by two of them, state types matching).
#[derive(Clone)]
pub struct ResourceDef {
    meta: ResourceMeta,
    handler: ReadHandler,
    completion: Option<CompletionDef>,
}

impl ResourceDef {
    /// The `_meta` key under which lists publish each resource's required scopes, the same
    /// as tools'.
    pub const SCOPES_META_KEY: &str = ToolDef::SCOPES_META_KEY;

    /// A descriptor from its metadata and handler; checked when the server is built.
    pub(crate) fn new(meta: ResourceMeta, handler: ReadHandler) -> Self {
        ResourceDef {
            meta,
            handler,
            completion: None,
        }
    }

    /// The same template with completers for some of its variables.
    pub(crate) fn with_completion(mut self, completion: CompletionDef) -> Self {
        self.completion = Some(completion);
        self
    }

    /// The completers of its template variables (`#[arg(complete = f)]`), if any.
    pub fn completion(&self) -> Option<&CompletionDef> {
        self.completion.as_ref()
    }

    /// The URI or template.
    pub fn uri(&self) -> ResourceUri {
        self.meta.uri
    }

    /// The programmatic name.
    pub fn name(&self) -> &'static str {
        self.meta.name
    }

    /// Every scope a read requires.
    pub fn scopes(&self) -> &'static [&'static str] {
        self.meta.scopes
    }

    /// The media type of its contents.
    pub fn mime_type(&self) -> Option<&'static str> {
        self.meta.mime_type
    }

    pub(crate) fn state(&self) -> Option<StateType> {
        self.meta.state
    }

    pub(crate) fn handler(&self) -> ReadHandler {
        self.handler
    }

    /// Its entry in `resources/list` or `resources/templates/list`.
    pub(crate) fn to_json(&self) -> Value {
        let mut entry = Map::new();
        match self.meta.uri {
            ResourceUri::Fixed(uri) => entry.insert("uri".into(), uri.into()),
            ResourceUri::Template(template) => entry.insert("uriTemplate".into(), template.into()),
        };
        entry.insert("name".into(), self.meta.name.into());
        for (key, value) in [
            ("title", self.meta.title),
            ("description", self.meta.description),
            ("mimeType", self.meta.mime_type),
        ] {
            if let Some(value) = value {
                entry.insert(key.into(), value.into());
            }
        }
        let a = self.meta.annotations;
        let mut annotations = Map::new();
        if !a.audience.is_empty() {
            let audience: Vec<Value> = a.audience.iter().map(|r| r.as_str().into()).collect();
            annotations.insert("audience".into(), audience.into());
        }
        if let Some(priority) = a.priority {
            annotations.insert("priority".into(), priority.into());
        }
        if !annotations.is_empty() {
            entry.insert("annotations".into(), annotations.into());
        }
        let mut meta = Map::new();
        meta.insert(Self::SCOPES_META_KEY.into(), self.meta.scopes.into());
        entry.insert("_meta".into(), meta.into());
        Value::Object(entry)
    }
}

impl fmt::Debug for ResourceDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceDef")
            .field("uri", &self.meta.uri)
            .field("name", &self.meta.name)
            .field("scopes", &self.meta.scopes)
            .finish_non_exhaustive()
    }
}

/// Collects `#[resource]` functions into a `Vec<ResourceDef>` for
/// [`McpServerBuilder::resources`](crate::McpServerBuilder::resources), as
/// [`tools!`](crate::tools) does for tools: each entry is a path to an annotated function.
///
/// ```
/// use mcp_auth_runtime::prelude::*;
///
/// /// Totals by status.
/// #[resource(uri = "billing://tenant/summary", scope = "invoices:read")]
/// async fn summary() -> Result<String, ToolError> {
///     Ok("{}".into())
/// }
///
/// let resources = resources![summary];
/// assert_eq!(resources[0].name(), "summary");
/// ```
///
/// ```compile_fail
/// use mcp_auth_runtime::prelude::*;
///
/// async fn not_a_resource() -> Result<String, ToolError> { Ok(String::new()) }
///
/// let resources = resources![not_a_resource];
/// ```
#[macro_export]
macro_rules! resources {
    ($($resource:path),* $(,)?) => {
        $crate::__private::resources!($($resource),*)
    };
}
