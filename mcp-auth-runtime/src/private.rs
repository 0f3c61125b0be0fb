//! What `#[tool]` expansions name, and only that. Not public API.

pub use schemars;
pub use serde;
pub use serde_json;

pub use crate::context::{CallContext, ToolContext};
pub use crate::error::ToolError;
pub use crate::result::CallToolResult;
pub use crate::tool::{Annotations, Arguments, BoxFuture, StateType, Tool, ToolDef, ToolMeta};

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A tool's descriptor, from what `#[tool]` generated: its metadata and its handler.
pub fn tool_def(meta: ToolMeta, handler: fn(CallContext, Arguments) -> BoxFuture) -> ToolDef {
    ToolDef::new(meta, handler)
}

/// The typed context a tool takes, from the erased one the server passes. Fails only if the
/// server's state is not an `S`, which the server builder rules out for every registered tool.
pub fn context<S: Send + Sync + 'static>(call: CallContext) -> Result<ToolContext<S>, ToolError> {
    ToolContext::from_call(call)
}

/// The guard `#[tool]` inserts as the first statement of a scoped tool that takes a context.
pub fn require_scopes<S>(ctx: &ToolContext<S>, required: &[&str]) -> Result<(), ToolError> {
    ctx.require_scopes(required)
}

/// Deserializes `tools/call` arguments, naming the offending argument on failure.
pub fn parse_arguments<T: ToolParam>(arguments: Arguments) -> Result<T, ToolError> {
    let arguments = Value::Object(arguments.unwrap_or_default());
    serde_path_to_error::deserialize(arguments).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        ToolError::InvalidArguments(if path == "." {
            inner.to_string()
        } else {
            format!("`{path}`: {inner}")
        })
    })
}

/// A tool parameter, or the whole input: deserializable from the arguments and described by a
/// schema.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a tool parameter",
    label = "not `Deserialize + JsonSchema`",
    note = "a tool parameter must implement `serde::Deserialize` and `schemars::JsonSchema`: derive both on your type"
)]
pub trait ToolParam: DeserializeOwned + JsonSchema {}

// `do_not_recommend` makes rustc report a type lacking both derives once, as not a
// `ToolParam` with the note above, instead of once per missing trait.
#[diagnostic::do_not_recommend]
impl<T: DeserializeOwned + JsonSchema> ToolParam for T {}

/// Spanned at a parameter's type so that a missing bound is reported there.
pub fn assert_tool_param<T: ToolParam>() {}

/// A structured tool result: serialized to `structuredContent`, described by `outputSchema`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a structured tool result",
    label = "not `Serialize + JsonSchema`",
    note = "derive `serde::Serialize` and `schemars::JsonSchema` on the result type, or return `String` for text or `CallToolResult` for full control"
)]
pub trait StructuredOutput: Serialize + JsonSchema {}

#[diagnostic::do_not_recommend]
impl<T: Serialize + JsonSchema> StructuredOutput for T {}

/// The input schema of a tool: a JSON Schema 2020-12 object.
pub fn input_schema<T: ToolParam>() -> Value {
    crate::tool::schema::input::<T>()
}

/// The output schema of a structured tool.
pub fn output_schema<T: StructuredOutput>() -> Value {
    crate::tool::schema::output::<T>()
}

/// A text result.
pub fn text(value: impl Into<String>) -> Result<CallToolResult, ToolError> {
    Ok(CallToolResult::text(value))
}

/// A result the tool built itself.
pub fn raw(value: CallToolResult) -> Result<CallToolResult, ToolError> {
    Ok(value)
}

/// A structured result: `structuredContent` plus the same JSON as text.
pub fn structured<T: StructuredOutput>(value: T) -> Result<CallToolResult, ToolError> {
    // The text is written from `value` itself, not from the `Value` tree built for
    // `structuredContent`: the same JSON (members perhaps in another order), in half the time.
    let text = serde_json::to_string(&value).map_err(ToolError::internal)?;
    let value = serde_json::to_value(value).map_err(ToolError::internal)?;
    Ok(CallToolResult {
        content: vec![crate::result::Content::text(text)],
        structured_content: Some(value),
        is_error: false,
        meta: None,
    })
}
