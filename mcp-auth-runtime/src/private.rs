//! What `#[tool]` expansions name, and only that. Not public API.

pub use schemars;
pub use serde;
pub use serde_json;

pub use mcp_auth_macros::{prompts, resources, tools};

pub use crate::authorize::{Condition, authorize, parsed};
pub use crate::completion::{
    CompleteFuture, CompleteHandler, Completer, Completion, CompletionDef, CompletionRequest,
};
pub use crate::context::{CallContext, ToolContext};
pub use crate::error::ToolError;
pub use crate::prompt::{
    GetFuture, GetHandler, GetPromptResult, Prompt, PromptArg, PromptArgument, PromptArguments,
    PromptDef, PromptMeta, PromptOutput,
};
pub use crate::resource::{
    ReadFuture, ReadHandler, ReadRequest, Resource, ResourceAnnotations, ResourceDef, ResourceMeta,
    ResourceUri, Role,
};
pub use crate::result::CallToolResult;
pub use crate::result::ResourceContents;
pub use crate::task::TaskSupport;
pub use crate::tool::{Annotations, Arguments, BoxFuture, StateType, Tool, ToolDef, ToolMeta};

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A tool's descriptor, from what `#[tool]` generated: its metadata and its handler.
pub fn tool_def(meta: ToolMeta, handler: fn(CallContext, Arguments) -> BoxFuture) -> ToolDef {
    ToolDef::new(meta, handler)
}

/// A resource's descriptor, from its metadata and its handler; checked when the server is
/// built.
pub fn resource_def(meta: ResourceMeta, handler: ReadHandler) -> ResourceDef {
    ResourceDef::new(meta, handler)
}

/// A prompt's descriptor, from its metadata and its handler; checked when the server is
/// built.
pub fn prompt_def(meta: PromptMeta, handler: GetHandler) -> PromptDef {
    PromptDef::new(meta, handler)
}

/// `def` with completers for some of its arguments.
pub fn prompt_completing(def: PromptDef, completion: CompletionDef) -> PromptDef {
    def.with_completion(completion)
}

/// `def` (a template) with completers for some of its variables.
pub fn resource_completing(def: ResourceDef, completion: CompletionDef) -> ResourceDef {
    def.with_completion(completion)
}

/// The completers of `arguments`, each with its `ToolContext<S>` state, run by `handler`.
pub fn completion_def(
    arguments: Vec<(&'static str, Option<StateType>)>,
    handler: CompleteHandler,
) -> CompletionDef {
    CompletionDef::new(arguments, handler)
}

/// The state type of completer `f`'s `ToolContext<S>`; spanned at `f` in
/// `#[arg(complete = f)]`, so that a function that is no completer is reported there.
pub fn completer_state<M, F: Completer<M>>(f: &F) -> Option<StateType> {
    f.state()
}

/// Runs completer `f`.
pub fn complete<M, F: Completer<M>>(
    f: F,
    call: CallContext,
    request: CompletionRequest,
) -> CompleteFuture {
    f.complete(call, request)
}

/// Required prompt argument `name`, parsed as the parameter's type: missing or unparsable is
/// invalid params naming the argument.
pub fn prompt_required<T: PromptArg>(
    arguments: &PromptArguments,
    name: &str,
) -> Result<T, ToolError> {
    crate::prompt::required(arguments, name)
}

/// Optional prompt argument `name` (an `Option<T>` parameter), parsed when given.
pub fn prompt_optional<T: PromptArg>(
    arguments: &PromptArguments,
    name: &str,
) -> Result<Option<T>, ToolError> {
    crate::prompt::optional(arguments, name)
}

/// Spanned at a prompt parameter's type so that a type that is no prompt argument is reported
/// there.
pub fn assert_prompt_arg<T: PromptArg>() {}

/// Spanned at a prompt's success type so that a type that is no prompt result is reported
/// there.
pub fn assert_prompt_output<T: PromptOutput>() {}

/// The `prompts/get` result of what a prompt function returned.
pub fn prompt_result<T: PromptOutput>(value: T) -> Result<GetPromptResult, ToolError> {
    Ok(value.into_result())
}

/// The value of template variable `name`, parsed as the parameter's type. A value that does
/// not parse names no resource: the read is answered as not found.
pub fn template_variable<T: std::str::FromStr>(
    read: &ReadRequest,
    name: &str,
) -> Result<T, ToolError> {
    read.variable(name)
        .and_then(|value| value.parse().ok())
        .ok_or(ToolError::NotFound)
}

/// The contents of a resource that returned text.
pub fn resource_text(
    read: &ReadRequest,
    mime_type: Option<&str>,
    text: String,
) -> Result<Vec<ResourceContents>, ToolError> {
    Ok(vec![with_mime(
        ResourceContents::text(read.uri(), text),
        mime_type,
    )])
}

/// The contents of a resource that returned bytes: a base64 `blob`.
pub fn resource_blob(
    read: &ReadRequest,
    mime_type: Option<&str>,
    bytes: Vec<u8>,
) -> Result<Vec<ResourceContents>, ToolError> {
    Ok(vec![with_mime(
        ResourceContents::blob(read.uri(), &bytes),
        mime_type,
    )])
}

/// The contents of a resource that returned a value: its JSON, `application/json` unless the
/// resource declares another media type.
pub fn resource_json<T: Serialize>(
    read: &ReadRequest,
    mime_type: Option<&str>,
    value: T,
) -> Result<Vec<ResourceContents>, ToolError> {
    let text = serde_json::to_string(&value).map_err(ToolError::internal)?;
    let contents = ResourceContents::text(read.uri(), text);
    Ok(vec![with_mime(
        contents,
        mime_type.or(Some("application/json")),
    )])
}

fn with_mime(contents: ResourceContents, mime_type: Option<&str>) -> ResourceContents {
    match mime_type {
        Some(mime_type) => contents.with_mime_type(mime_type),
        None => contents,
    }
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

/// Deserializes `tools/call` arguments, naming the offending argument on failure: in one
/// pass from the JSON the client wrote (no arguments are `{}`). Arguments that do not fit are
/// read a second time, tracking the path, for the message alone.
pub fn parse_arguments<T: ToolParam>(arguments: Arguments) -> Result<T, ToolError> {
    let json = arguments
        .as_deref()
        .map_or("{}", serde_json::value::RawValue::get);
    // The server checked the JSON when it parsed the request: nothing follows the object.
    let first = match serde_json::from_str(json) {
        Ok(parsed) => return Ok(parsed),
        Err(err) => err,
    };
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let err = match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
        // Only trailing input fails here, which the request's parse ruled out.
        Ok(_) => return Err(ToolError::InvalidArguments(without_position(first))),
        Err(err) => err,
    };
    let path = err.path().to_string();
    let inner = without_position(err.into_inner());
    Err(ToolError::InvalidArguments(if path == "." {
        inner
    } else {
        format!("`{path}`: {inner}")
    }))
}

/// The message of `err` without the position serde_json appends when it reads text (" at
/// line 1 column 23"): the message names the argument, and reads as it did when arguments
/// were deserialized from a `Value`, which has no positions.
fn without_position(err: serde_json::Error) -> String {
    let message = err.to_string();
    let position = format!(" at line {} column {}", err.line(), err.column());
    match message.strip_suffix(&position) {
        Some(message) if err.line() != 0 => message.to_owned(),
        _ => message,
    }
}

/// A tool parameter, or the whole input: deserializable from the arguments and described by a
/// schema. Each half is a trait of its own, so that a type lacking one is told which.
pub trait ToolParam: ParamDeserialize + ParamSchema {}

impl<T: ParamDeserialize + ParamSchema> ToolParam for T {}

/// The `Deserialize` half of [`ToolParam`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a tool parameter: it does not implement `serde::Deserialize`",
    label = "not `serde::Deserialize`",
    note = "add `#[derive(serde::Deserialize)]` to the type: a tool parameter is deserialized from the call's arguments"
)]
pub trait ParamDeserialize: DeserializeOwned {}

// `do_not_recommend` makes rustc report the note above rather than serde's own.
#[diagnostic::do_not_recommend]
impl<T: DeserializeOwned> ParamDeserialize for T {}

/// The `JsonSchema` half of [`ToolParam`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a tool parameter: it does not implement `JsonSchema` of schemars 1",
    label = "not `schemars::JsonSchema` (schemars 1)",
    note = "add `#[derive(schemars::JsonSchema)]` to the type, with `schemars = \"1\"` in Cargo.toml: the tool's input schema is generated from it",
    note = "a `JsonSchema` derived with another schemars version (0.8, say) is a different trait and does not count; `cargo tree -d` lists the crates your build has in several versions"
)]
pub trait ParamSchema: JsonSchema {}

#[diagnostic::do_not_recommend]
impl<T: JsonSchema> ParamSchema for T {}

/// Spanned at a parameter's type so that a missing bound is reported there. The halves are
/// bounds of their own, so that rustc reports each missing one with its note; a later
/// `T: ToolParam` at the same span is then not reported again.
pub fn assert_tool_param<T: ParamDeserialize + ParamSchema>() {}

/// A structured tool result: serialized to `structuredContent`, described by `outputSchema`.
pub trait StructuredOutput: OutputSerialize + OutputSchema {}

impl<T: OutputSerialize + OutputSchema> StructuredOutput for T {}

/// Spanned at the result type, as [`assert_tool_param`] is at a parameter's.
pub fn assert_structured_output<T: OutputSerialize + OutputSchema>() {}

/// The `Serialize` half of [`StructuredOutput`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a structured tool result: it does not implement `serde::Serialize`",
    label = "not `serde::Serialize`",
    note = "add `#[derive(serde::Serialize)]` to the type, or return `String` for text or `CallToolResult` for full control"
)]
pub trait OutputSerialize: Serialize {}

#[diagnostic::do_not_recommend]
impl<T: Serialize> OutputSerialize for T {}

/// The `JsonSchema` half of [`StructuredOutput`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a structured tool result: it does not implement `JsonSchema` of schemars 1",
    label = "not `schemars::JsonSchema` (schemars 1)",
    note = "add `#[derive(schemars::JsonSchema)]` to the type, with `schemars = \"1\"` in Cargo.toml: the tool's output schema is generated from it",
    note = "a `JsonSchema` derived with another schemars version (0.8, say) is a different trait and does not count; `cargo tree -d` lists the crates your build has in several versions"
)]
pub trait OutputSchema: JsonSchema {}

#[diagnostic::do_not_recommend]
impl<T: JsonSchema> OutputSchema for T {}

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
    // Serialized once, straight from `value`: the text block and `structuredContent` are the
    // same JSON, and no `Value` tree is built (and dropped) in between.
    CallToolResult::try_structured(&value).map_err(ToolError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Input {
        name: String,
        amount: u64,
        #[serde(default)]
        tags: Vec<String>,
    }

    fn parsed(json: Option<&str>) -> Result<Input, ToolError> {
        let raw = json.map(|json| serde_json::value::RawValue::from_string(json.into()).unwrap());
        parse_arguments(raw)
    }

    fn message(json: Option<&str>) -> String {
        match parsed(json) {
            Err(ToolError::InvalidArguments(message)) => message,
            other => panic!("invalid arguments expected, got {other:?}"),
        }
    }

    #[test]
    fn arguments_deserialize_in_one_pass_from_what_the_client_wrote() {
        let input = parsed(Some(r#"{"name":"a\"b","amount":5,"tags":["x"]}"#)).unwrap();
        assert_eq!((input.name.as_str(), input.amount), ("a\"b", 5));
        assert_eq!(input.tags, ["x"]);
    }

    #[test]
    fn argument_errors_name_the_argument_and_no_position() {
        let cases = [
            (None, "missing field `name`"),
            (Some(r#"{"name":"a"}"#), "missing field `amount`"),
            (
                Some(r#"{"name":"a","amount":"five"}"#),
                "`amount`: invalid type: string \"five\", expected u64",
            ),
            (
                Some(r#"{"name":"a","amount":1,"extra":true}"#),
                "`extra`: unknown field `extra`, expected one of `name`, `amount`, `tags`",
            ),
            (
                Some(r#"{"name":"a","amount":1,"tags":["x",2]}"#),
                "`tags[1]`: invalid type: integer `2`, expected a string",
            ),
        ];
        for (json, expected) in cases {
            assert_eq!(message(json), expected, "{json:?}");
        }
    }
}
