//! Tool descriptors: what `#[tool]` generates and `tools!` collects.

use std::any::TypeId;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

pub(crate) mod headers;
mod registry;
pub(crate) mod schema;
mod security;

pub(crate) use registry::Registry;

use crate::context::CallContext;
use crate::error::ToolError;
use crate::result::CallToolResult;

/// The future an erased tool handler returns.
pub type BoxFuture = Pin<Box<dyn Future<Output = Result<CallToolResult, ToolError>> + Send>>;

/// The `arguments` object of a `tools/call` request as the client wrote it (`None` when the
/// client sent none, or `null`). The server has checked that it is an object whose objects
/// repeat no member name; the handler deserializes it once, straight into the tool's input
/// type, with no `Value` tree in between.
pub type Arguments = Option<Box<RawValue>>;

/// The erased handler `#[tool]` generates: checks the scopes, deserializes the arguments and
/// runs the user's function.
pub(crate) type Handler = fn(CallContext, Arguments) -> BoxFuture;

/// The whole input of a tool, as one `Deserialize + JsonSchema` type.
///
/// ```
/// use mcp_auth_runtime::prelude::*;
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct NewInvoice {
///     /// The customer to bill.
///     customer: String,
///     /// Amount in cents.
///     amount_cents: u64,
/// }
///
/// /// Create an invoice.
/// #[tool(scope = "invoices:write")]
/// async fn create_invoice(Args(new): Args<NewInvoice>) -> Result<String, ToolError> {
///     Ok(format!("billed {} {}", new.customer, new.amount_cents))
/// }
/// # let def = mcp_auth_runtime::tools![create_invoice].remove(0);
/// # assert_eq!(def.input_schema()["required"], serde_json::json!(["customer", "amount_cents"]));
/// # assert_eq!(def.input_schema().get("additionalProperties"), None);
/// ```
///
/// The input is `T`'s, schema and deserialization alike: unlike plain parameters, which make a
/// closed object, `NewInvoice` above accepts fields it does not name, and its schema does not
/// forbid them. `#[serde(deny_unknown_fields)]` on `T` closes both, schema
/// (`"additionalProperties": false`) and calls; the macro cannot do it for `T`, as
/// [`#[tool]`](macro@crate::tool#closing-an-args-input) explains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Args<T>(pub T);

/// A function annotated with `#[tool]`, seen through the type of the same name the macro
/// declares beside it. `tools!` calls [`Tool::def`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a tool",
    label = "not annotated with `#[tool]`",
    note = "annotate the `async fn` with `#[tool(scope = \"...\")]`, or `#[tool(unscoped)]`, to list it in `tools!`"
)]
pub trait Tool {
    /// The tool's descriptor.
    fn def() -> ToolDef;
}

/// MCP tool annotations (`annotations` in `tools/list`); `None` leaves a hint out so that
/// clients apply the specification's defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Annotations {
    /// `readOnlyHint`: the tool does not modify its environment.
    pub read_only: Option<bool>,
    /// `destructiveHint`: the tool may perform destructive updates.
    pub destructive: Option<bool>,
    /// `idempotentHint`: calling it again with the same arguments has no further effect.
    pub idempotent: Option<bool>,
    /// `openWorldHint`: the tool interacts with an open world of external entities.
    pub open_world: Option<bool>,
}

/// The state type a tool's `ToolContext<S>` expects, checked when the server is built.
#[derive(Clone, Copy)]
pub struct StateType {
    pub(crate) id: fn() -> TypeId,
    pub(crate) name: &'static str,
}

impl StateType {
    /// The state type `S`.
    pub fn of<S: 'static>() -> Self {
        StateType {
            id: TypeId::of::<S>,
            name: std::any::type_name::<S>(),
        }
    }
}

impl fmt::Debug for StateType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// What `#[tool]` knows at compile time: literals and schema builders.
#[derive(Debug, Clone, Copy)]
pub struct ToolMeta {
    /// The tool name.
    pub name: &'static str,
    /// The human-readable title.
    pub title: Option<&'static str>,
    /// The description the model reads.
    pub description: &'static str,
    /// Every scope a call requires; empty for an `unscoped` tool.
    pub scopes: &'static [&'static str],
    /// Every scope a call may require beyond `scopes`, depending on its arguments
    /// (`require(scope = .., when = ..)`) or on what the body finds (`may_require`); see
    /// [`ToolDef::CONDITIONAL_SCOPES_META_KEY`].
    pub conditional_scopes: &'static [&'static str],
    /// The annotation hints.
    pub annotations: Annotations,
    /// Builds the input JSON Schema.
    pub input_schema: fn() -> Value,
    /// Builds the output JSON Schema, for tools with structured output.
    pub output_schema: Option<fn() -> Value>,
    /// The state type of the tool's `ToolContext<S>`, if it takes one with a state.
    pub state: Option<StateType>,
    /// Whether the tool may run as a task (`#[tool(task = ..)]`).
    pub task: crate::TaskSupport,
}

/// One registered tool: its metadata, schemas and erased handler.
///
/// Built by `#[tool]`, collected by [`tools!`](crate::tools) and validated when the server is
/// built (names unique, schemas objects, state types matching).
#[derive(Clone)]
pub struct ToolDef {
    meta: ToolMeta,
    input_schema: Value,
    output_schema: Option<Value>,
    handler: Handler,
    /// The parameters mirrored in `Mcp-Param-*` headers, or why the schema's declarations
    /// are invalid (the server's builder refuses the tool then).
    headers: Result<Vec<headers::HeaderParam>, String>,
}

impl ToolDef {
    /// The `_meta` key under which `tools/list` publishes each tool's required scopes, so that
    /// clients can request them before the first call.
    pub const SCOPES_META_KEY: &str = "mcp-auth/scopes";

    /// The `_meta` key under which lists publish the scopes a call *may* require beyond those
    /// of [`SCOPES_META_KEY`](Self::SCOPES_META_KEY), depending on its arguments or data; left
    /// out when there are none. A client that can ask for them up front avoids a step-up.
    pub const CONDITIONAL_SCOPES_META_KEY: &str = "mcp-auth/conditionalScopes";

    /// Builds a descriptor; the schemas are generated here, once.
    pub(crate) fn new(meta: ToolMeta, handler: Handler) -> Self {
        let mut input_schema = (meta.input_schema)();
        let headers = headers::scan(&mut input_schema);
        ToolDef {
            input_schema,
            headers,
            output_schema: meta.output_schema.map(|schema| schema()),
            meta,
            handler,
        }
    }

    /// The tool name.
    pub fn name(&self) -> &'static str {
        self.meta.name
    }

    /// The human-readable title.
    pub fn title(&self) -> Option<&'static str> {
        self.meta.title
    }

    /// The description.
    pub fn description(&self) -> &'static str {
        self.meta.description
    }

    /// Every scope a call requires.
    pub fn scopes(&self) -> &'static [&'static str] {
        self.meta.scopes
    }

    /// Every scope a call may require beyond [`scopes`](Self::scopes).
    pub fn conditional_scopes(&self) -> &'static [&'static str] {
        self.meta.conditional_scopes
    }

    /// The annotation hints.
    pub fn annotations(&self) -> Annotations {
        self.meta.annotations
    }

    /// The input JSON Schema (2020-12).
    pub fn input_schema(&self) -> &Value {
        &self.input_schema
    }

    /// The output JSON Schema, for tools with structured output.
    pub fn output_schema(&self) -> Option<&Value> {
        self.output_schema.as_ref()
    }

    /// Whether the tool may run as a task.
    pub fn task_support(&self) -> crate::TaskSupport {
        self.meta.task
    }

    pub(crate) fn state(&self) -> Option<StateType> {
        self.meta.state
    }

    pub(crate) fn handler(&self) -> Handler {
        self.handler
    }

    /// The parameters mirrored in `Mcp-Param-*` headers (`x-mcp-header`).
    pub(crate) fn header_params(&self) -> &[headers::HeaderParam] {
        self.headers.as_deref().unwrap_or_default()
    }

    /// Why the input schema's `x-mcp-header` declarations are invalid, if they are.
    pub(crate) fn header_error(&self) -> Option<&str> {
        self.headers.as_ref().err().map(String::as_str)
    }

    /// The tool's entry in `tools/list`, on a server that authenticates callers unless
    /// `anonymous`.
    pub(crate) fn to_json(&self, anonymous: bool) -> Value {
        let mut tool = Map::new();
        tool.insert("name".into(), self.meta.name.into());
        if let Some(title) = self.meta.title {
            tool.insert("title".into(), title.into());
        }
        tool.insert("description".into(), self.meta.description.into());
        tool.insert("inputSchema".into(), self.input_schema.clone());
        if let Some(schema) = &self.output_schema {
            tool.insert("outputSchema".into(), schema.clone());
        }
        let a = self.meta.annotations;
        let mut annotations = Map::new();
        if let Some(title) = self.meta.title {
            annotations.insert("title".into(), title.into());
        }
        for (key, value) in [
            ("readOnlyHint", a.read_only),
            ("destructiveHint", a.destructive),
            ("idempotentHint", a.idempotent),
            ("openWorldHint", a.open_world),
        ] {
            if let Some(value) = value {
                annotations.insert(key.into(), value.into());
            }
        }
        if !annotations.is_empty() {
            tool.insert("annotations".into(), annotations.into());
        }
        let schemes = security::schemes(anonymous, self.meta.scopes, self.meta.conditional_scopes);
        tool.insert(security::KEY.into(), schemes.clone());
        let mut meta = Map::new();
        meta.insert(security::KEY.into(), schemes);
        meta.insert(Self::SCOPES_META_KEY.into(), self.meta.scopes.into());
        if !self.meta.conditional_scopes.is_empty() {
            meta.insert(
                Self::CONDITIONAL_SCOPES_META_KEY.into(),
                self.meta.conditional_scopes.into(),
            );
        }
        tool.insert("_meta".into(), meta.into());
        Value::Object(tool)
    }
}

impl fmt::Debug for ToolDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolDef")
            .field("name", &self.meta.name)
            .field("scopes", &self.meta.scopes)
            .field("conditional_scopes", &self.meta.conditional_scopes)
            .field("annotations", &self.meta.annotations)
            .finish_non_exhaustive()
    }
}

/// Collects `#[tool]` functions into a `Vec<ToolDef>` for
/// [`McpServerBuilder::tools`](crate::McpServerBuilder::tools).
///
/// Each entry is a path to an annotated function, so tools from other modules and crates can be
/// listed; a path to anything else does not compile, and the error at the path says that it
/// is not a tool and that `#[tool]` makes it one.
///
/// ```
/// use mcp_auth_runtime::prelude::*;
///
/// mod invoices {
///     use mcp_auth_runtime::prelude::*;
///
///     /// Count the invoices.
///     #[tool(scope = "invoices:read", read_only)]
///     pub async fn count_invoices() -> String {
///         "12".into()
///     }
/// }
///
/// /// Say hello.
/// #[tool(unscoped)]
/// async fn hello() -> &'static str {
///     "hello"
/// }
///
/// let tools = tools![invoices::count_invoices, hello];
/// assert_eq!(tools[0].name(), "count_invoices");
/// assert_eq!(tools[0].scopes(), ["invoices:read"]);
/// ```
///
/// ```compile_fail
/// use mcp_auth_runtime::prelude::*;
///
/// async fn not_a_tool() -> String { String::new() }
///
/// let tools = tools![not_a_tool];
/// ```
#[macro_export]
macro_rules! tools {
    ($($tool:path),* $(,)?) => {
        $crate::__private::tools!($($tool),*)
    };
}
