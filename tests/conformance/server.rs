//! The fixture server of the official MCP conformance suite, written with the public API of
//! mcp-auth only: the tools, resources, prompts and completion of the suite's reference
//! "everything server", the diagnostic tools the 2026-07-28 `server-stateless` scenario
//! calls, and those of the `input-required-result-*` scenarios (`input_required.rs`), served
//! without authentication (the suite sends no token) on loopback. What each
//! scenario expects of it is written down in the scenarios' descriptions (`conformance list
//! --server`, then `conformance server --scenario ..`); `run.sh` says which run.
//!
//! `cargo run -p mcp-auth-tests --bin conformance-server -- 127.0.0.1:3001`

mod input_required;

use std::time::Duration;

use mcp_auth_runtime::prelude::*;
use mcp_auth_runtime::{Content, LogLevel, StreamPolling};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

const TEST_IMAGE_BASE64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
const TEST_AUDIO_BASE64: &str = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=";

/// Tests simple text content response
#[tool(unscoped)]
async fn test_simple_text() -> &'static str {
    "This is a simple text response for testing."
}

/// Tests image content response
#[tool(unscoped)]
async fn test_image_content() -> CallToolResult {
    CallToolResult::new(vec![Content::image(TEST_IMAGE_BASE64, "image/png")])
}

/// Tests audio content response
#[tool(unscoped)]
async fn test_audio_content() -> CallToolResult {
    CallToolResult::new(vec![Content::audio(TEST_AUDIO_BASE64, "audio/wav")])
}

/// Tests embedded resource content response
#[tool(unscoped)]
async fn test_embedded_resource() -> CallToolResult {
    CallToolResult::new(vec![Content::text_resource(
        "test://embedded-resource",
        "text/plain",
        "This is an embedded resource content.",
    )])
}

/// Tests response with multiple content types (text, image, resource)
#[tool(unscoped)]
async fn test_multiple_content_types() -> CallToolResult {
    CallToolResult::new(vec![
        Content::text("Multiple content types test:"),
        Content::image(TEST_IMAGE_BASE64, "image/png"),
        Content::text_resource(
            "test://mixed-content-resource",
            "application/json",
            r#"{"test":"data","value":123}"#,
        ),
    ])
}

/// Tests tool that emits log messages during execution
#[tool(unscoped)]
async fn test_tool_with_logging(ctx: ToolContext) -> String {
    for message in [
        "Tool execution started",
        "Tool processing data",
        "Tool execution completed",
    ] {
        ctx.log(LogLevel::Info, message);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    "Tool with logging executed successfully".into()
}

/// Tests tool that reports progress notifications
#[tool(unscoped)]
async fn test_tool_with_progress(ctx: ToolContext) -> String {
    for step in [0.0, 50.0, 100.0] {
        ctx.progress(
            step,
            Some(100.0),
            Some(&format!("Completed step {step} of 100")),
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    match ctx.progress_token() {
        Some(Value::String(token)) => token.clone(),
        Some(token) => token.to_string(),
        None => "no progress token".into(),
    }
}

/// Tests error response handling
#[tool(unscoped)]
async fn test_error_handling() -> Result<String, ToolError> {
    Err(ToolError::new(
        "This tool intentionally returns an error for testing",
    ))
}

/// Tests server-initiated sampling (LLM completion request)
#[tool(unscoped)]
async fn test_sampling(
    ctx: ToolContext,
    /// The prompt to send to the client's model
    prompt: String,
) -> String {
    let request = json!({
        "messages": [{ "role": "user", "content": { "type": "text", "text": prompt } }],
        "maxTokens": 100,
    });
    match ctx.sample(request).await {
        Ok(result) => format!(
            "LLM response: {}",
            result["content"]["text"].as_str().unwrap_or_default()
        ),
        Err(err) => format!("Sampling not supported or error: {err}"),
    }
}

/// Tests server-initiated elicitation (user input request)
#[tool(unscoped)]
async fn test_elicitation(
    ctx: ToolContext,
    /// The message to show the user
    message: String,
) -> Result<String, ToolError> {
    let schema = json!({
        "type": "object",
        "properties": { "response": { "type": "string", "description": "User's response" } },
        "required": ["response"],
    });
    let answer = ctx.elicit(message, schema).await?;
    Ok(format!(
        "User response: action={}, content={}",
        action(&answer),
        Value::from(answer.content.unwrap_or_default())
    ))
}

fn action(answer: &mcp_auth_runtime::Elicitation) -> &'static str {
    match answer.action {
        mcp_auth_runtime::ElicitAction::Accept => "accept",
        mcp_auth_runtime::ElicitAction::Decline => "decline",
        mcp_auth_runtime::ElicitAction::Cancel => "cancel",
    }
}

/// Tests elicitation with default values per SEP-1034
#[tool(unscoped)]
async fn test_elicitation_sep1034_defaults(ctx: ToolContext) -> Result<String, ToolError> {
    let schema = optional_fields(json!({
        "name": { "type": "string", "description": "User name", "default": "John Doe" },
        "age": { "type": "integer", "description": "User age", "default": 30 },
        "score": { "type": "number", "description": "User score", "default": 95.5 },
        "status": {
            "type": "string",
            "description": "User status",
            "enum": ["active", "inactive", "pending"],
            "default": "active"
        },
        "verified": { "type": "boolean", "description": "Verification status", "default": true }
    }));
    let answer = ctx
        .elicit(
            "Please review and update the form fields with defaults",
            schema,
        )
        .await?;
    Ok(completed(&answer))
}

/// The schema of an elicitation form whose `properties` are all optional.
fn optional_fields(properties: Value) -> Value {
    json!({ "type": "object", "required": [], "properties": properties })
}

fn completed(answer: &mcp_auth_runtime::Elicitation) -> String {
    format!(
        "Elicitation completed: action={}, content={}",
        action(answer),
        Value::from(answer.content.clone().unwrap_or_default())
    )
}

/// Tests elicitation with enum schemas per SEP-1330
#[tool(unscoped)]
async fn test_elicitation_sep1330_enums(ctx: ToolContext) -> Result<String, ToolError> {
    let schema = optional_fields(json!({
        "untitledSingle": {
            "type": "string",
            "description": "Select one option",
            "enum": ["option1", "option2", "option3"]
        },
        "titledSingle": {
            "type": "string",
            "description": "Select one option with titles",
            "oneOf": [
                { "const": "value1", "title": "First Option" },
                { "const": "value2", "title": "Second Option" },
                { "const": "value3", "title": "Third Option" }
            ]
        },
        "legacyEnum": {
            "type": "string",
            "description": "Select one option (legacy)",
            "enum": ["opt1", "opt2", "opt3"],
            "enumNames": ["Option One", "Option Two", "Option Three"]
        },
        "untitledMulti": {
            "type": "array",
            "description": "Select multiple options",
            "minItems": 1,
            "maxItems": 3,
            "items": { "type": "string", "enum": ["option1", "option2", "option3"] }
        },
        "titledMulti": {
            "type": "array",
            "description": "Select multiple options with titles",
            "minItems": 1,
            "maxItems": 3,
            "items": { "anyOf": [
                { "const": "value1", "title": "First Choice" },
                { "const": "value2", "title": "Second Choice" },
                { "const": "value3", "title": "Third Choice" }
            ] }
        }
    }));
    let answer = ctx
        .elicit("Please select options from the enum fields", schema)
        .await?;
    Ok(completed(&answer))
}

/// A postal address.
#[derive(Deserialize, JsonSchema, serde::Serialize)]
#[schemars(rename = "address", extend("$anchor" = "addressDef"))]
struct Address {
    street: Option<String>,
    city: Option<String>,
}

/// How to reach the caller.
#[derive(Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum ContactMethod {
    Phone,
    Email,
}

/// The input of `json_schema_2020_12_tool`: the reference server's schema, with the
/// composition (`allOf`/`anyOf`), conditional (`if`/`then`/`else`) and `$anchor` keywords of
/// SEP-2106 that the suite checks are listed as declared.
#[derive(Deserialize, JsonSchema, serde::Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(extend(
    "allOf" = [{ "anyOf": [{ "required": ["phone"] }, { "required": ["email"] }] }],
    "if" = { "properties": { "contactMethod": { "const": "phone" } }, "required": ["contactMethod"] },
    "then" = { "required": ["phone"] },
    "else" = { "required": ["email"] },
))]
struct SchemaInput {
    name: Option<String>,
    address: Option<Address>,
    contact_method: Option<ContactMethod>,
    phone: Option<String>,
    email: Option<String>,
}

/// Tool with JSON Schema 2020-12 features for conformance testing (SEP-1613)
#[tool(unscoped)]
async fn json_schema_2020_12_tool(Args(input): Args<SchemaInput>) -> String {
    format!(
        "JSON Schema 2020-12 tool called with: {}",
        serde_json::to_string(&input).unwrap_or_default()
    )
}

/// Echo a query run in a region, the region also sent as the `Mcp-Param-Region` header
/// (SEP-2243), for `http-custom-header-server-validation`.
#[tool(unscoped)]
async fn test_custom_header(
    /// The region to run the query in.
    #[arg(header = "Region")]
    region: String,
    /// The query.
    query: String,
) -> String {
    format!("{query} in {region}")
}

/// Tests SSE stream disconnection and client reconnection (SEP-1699)
#[tool(unscoped)]
async fn test_reconnection() -> &'static str {
    // Longer than `POLL_AFTER`: the server closes the stream, and the client resumes it.
    tokio::time::sleep(POLL_AFTER + Duration::from_millis(500)).await;
    "Reconnection test completed successfully. If you received this, the client properly reconnected after stream closure."
}

/// Needs sampling: a client that did not declare it is refused with -32021 (SEP-2575)
#[tool(unscoped)]
async fn test_missing_capability(ctx: ToolContext) -> Result<String, ToolError> {
    let request = json!({
        "messages": [{ "role": "user", "content": { "type": "text", "text": "ping" } }],
        "maxTokens": 10,
    });
    let result = ctx.sample(request).await?;
    Ok(format!(
        "LLM response: {}",
        result["content"]["text"].as_str().unwrap_or_default()
    ))
}

/// Asks for input: its response stream carries the request for input, never a request of its own (SEP-2575)
#[tool(unscoped)]
async fn test_streaming_elicitation(ctx: ToolContext) -> Result<String, ToolError> {
    let schema = optional_fields(json!({ "response": { "type": "string" } }));
    let answer = ctx.elicit("Please respond", schema).await?;
    Ok(completed(&answer))
}

/// Logs while it runs: nothing reaches a client that set no log level (SEP-2575)
#[tool(unscoped)]
async fn test_logging_tool(ctx: ToolContext) -> &'static str {
    for message in ["Logging tool started", "Logging tool completed"] {
        ctx.log(LogLevel::Info, message);
    }
    "Logging tool executed successfully"
}

/// A static text resource for testing
#[resource(
    uri = "test://static-text",
    unscoped,
    name = "static-text",
    title = "Static Text Resource",
    mime_type = "text/plain"
)]
async fn static_text() -> Result<String, ToolError> {
    Ok("This is the content of the static text resource.".into())
}

/// A static binary resource (image) for testing
#[resource(
    uri = "test://static-binary",
    unscoped,
    name = "static-binary",
    title = "Static Binary Resource",
    mime_type = "image/png"
)]
async fn static_binary() -> Result<Vec<ResourceContents>, ToolError> {
    Ok(vec![ResourceContents {
        uri: "test://static-binary".into(),
        mime_type: Some("image/png".into()),
        text: None,
        blob: Some(TEST_IMAGE_BASE64.into()),
    }])
}

/// The JSON of `test://template/{id}/data`.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct TemplateData {
    id: String,
    template_test: bool,
    data: String,
}

/// A resource template with parameter substitution
#[resource(
    uri_template = "test://template/{id}/data",
    unscoped,
    name = "template",
    title = "Resource Template",
    mime_type = "application/json"
)]
async fn template(id: String) -> Result<TemplateData, ToolError> {
    Ok(TemplateData {
        data: format!("Data for ID: {id}"),
        id,
        template_test: true,
    })
}

/// A text resource the subscription scenarios watch
#[resource(
    uri = "test://watched-resource",
    unscoped,
    name = "watched-resource",
    title = "Watched Resource",
    mime_type = "text/plain"
)]
async fn watched_resource() -> Result<String, ToolError> {
    Ok("Watched resource content".into())
}

/// A simple prompt without arguments
#[prompt(unscoped, title = "Simple Test Prompt")]
async fn test_simple_prompt() -> Result<String, ToolError> {
    Ok("This is a simple prompt for testing.".into())
}

/// The values `arg1` of `test_prompt_with_arguments` completes to: those that start with what
/// was typed (the suite types `test`; the spec's example types `par`).
async fn arg1_values(request: CompletionRequest) -> Result<Vec<String>, ToolError> {
    const VALUES: [&str; 6] = ["paris", "park", "party", "test", "testing", "tested"];
    Ok(VALUES
        .into_iter()
        .filter(|value| value.starts_with(request.value()))
        .map(String::from)
        .collect())
}

/// A prompt with required arguments
#[prompt(unscoped, title = "Prompt With Arguments")]
async fn test_prompt_with_arguments(
    /// First test argument
    #[arg(complete = arg1_values)]
    arg1: String,
    /// Second test argument
    arg2: String,
) -> Result<String, ToolError> {
    Ok(format!(
        "Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"
    ))
}

/// A prompt that includes an embedded resource
#[prompt(unscoped, title = "Prompt With Embedded Resource")]
async fn test_prompt_with_embedded_resource(
    /// URI of the resource to embed
    #[arg(name = "resourceUri")]
    resource_uri: String,
) -> Result<Vec<PromptMessage>, ToolError> {
    Ok(vec![
        PromptMessage::user_resource(
            ResourceContents::text(resource_uri, "Embedded resource content for testing.")
                .with_mime_type("text/plain"),
        ),
        PromptMessage::user("Please process the embedded resource above."),
    ])
}

/// A prompt that includes image content
#[prompt(unscoped, title = "Prompt With Image")]
async fn test_prompt_with_image() -> Result<Vec<PromptMessage>, ToolError> {
    Ok(vec![
        PromptMessage::user_content(Content::image(TEST_IMAGE_BASE64, "image/png")),
        PromptMessage::user("Please analyze the image above."),
    ])
}

/// How long a handshake-era request stream stays open without its response before the
/// server closes it for polling (SEP-1699); every other fixture tool answers sooner.
const POLL_AFTER: Duration = Duration::from_secs(1);

// The tools of the tasks scenarios (`tasks-*`, the `io.modelcontextprotocol/tasks`
// extension): each declares whether it may run as a task; the runtime decides the rest.

/// Sync-only: greets by name.
#[tool(unscoped)]
async fn greet(
    /// Who to greet
    name: String,
) -> String {
    format!("Hello, {name}!")
}

/// Task-capable: sleeps `seconds`, then returns a result naming `label`.
#[tool(unscoped, task = optional)]
async fn slow_compute(
    /// How long to work, in seconds
    seconds: f64,
    /// A label echoed in the result
    label: Option<String>,
) -> String {
    tokio::time::sleep(Duration::from_secs_f64(seconds.clamp(0.0, 600.0))).await;
    format!(
        "computed {} after {seconds} s",
        label.as_deref().unwrap_or("result")
    )
}

/// Task-only: after about a second, returns a tool execution error.
#[tool(unscoped, task = required)]
async fn failing_job() -> Result<String, ToolError> {
    tokio::time::sleep(Duration::from_secs(1)).await;
    Err(ToolError::new("the job failed"))
}

/// Task-capable: after about a second, fails with a protocol-level error (it panics).
#[tool(unscoped, task = optional)]
async fn protocol_error_job() -> String {
    tokio::time::sleep(Duration::from_secs(1)).await;
    panic!("protocol_error_job always fails")
}

/// Task-capable: asks the client to confirm, then reports the deletion.
#[tool(unscoped, task = optional)]
async fn confirm_delete(
    ctx: ToolContext,
    /// The file to delete
    filename: String,
) -> Result<String, ToolError> {
    // Some work first, so that the call becomes a task before it asks.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let schema = json!({
        "type": "object",
        "properties": { "confirm": { "type": "boolean" } },
        "required": ["confirm"],
    });
    let answer = ctx.elicit(format!("Delete {filename}?"), schema).await?;
    let confirmed = answer
        .content
        .as_ref()
        .and_then(|c| c.get("confirm"))
        .and_then(Value::as_bool)
        == Some(true);
    Ok(if confirmed {
        format!("deleted {filename}")
    } else {
        format!("kept {filename}")
    })
}

/// Task-capable: asks two questions at once, then reports both answers.
#[tool(unscoped, task = optional)]
async fn multi_input(ctx: ToolContext) -> Result<String, ToolError> {
    // Some work first, so that the call becomes a task before it asks.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let form = json!({
        "type": "object",
        "properties": { "name": { "type": "string" }, "confirm": { "type": "boolean" } },
    });
    let answers = ctx
        .ask(
            mcp_auth_runtime::Ask::new()
                .elicit("first", "First input?", form.clone())
                .elicit("second", "Second input?", form),
        )
        .await?;
    let name = |key: &str| {
        answers
            .elicitation(key)
            .ok()
            .and_then(|answer| answer.content)
            .and_then(|content| {
                content
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_default()
    };
    Ok(format!("got {} and {}", name("first"), name("second")))
}

/// Task-only: asks for the user's name at once (a 2026-07-28 input round), then works on as
/// a task and greets them.
#[tool(unscoped, task = required)]
async fn test_tool_with_task(ctx: ToolContext) -> Result<String, ToolError> {
    let schema = json!({
        "type": "object",
        "properties": { "user_name": { "type": "string" } },
        "required": ["user_name"],
    });
    let answer = ctx.elicit("What is your name?", schema).await?;
    let content = answer.content.unwrap_or_default();
    let name = ["user_name", "name"]
        .iter()
        .find_map(|key| content.get(*key).and_then(Value::as_str))
        .unwrap_or("stranger")
        .to_owned();
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(format!("Hello, {name}!"))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3001".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let server = McpServer::builder("mcp-conformance-test-server", "1.0.0")
        .tools(tools![
            test_simple_text,
            test_image_content,
            test_audio_content,
            test_embedded_resource,
            test_multiple_content_types,
            test_tool_with_logging,
            test_tool_with_progress,
            test_error_handling,
            test_sampling,
            test_elicitation,
            test_elicitation_sep1034_defaults,
            test_elicitation_sep1330_enums,
            json_schema_2020_12_tool,
            test_reconnection,
            test_missing_capability,
            test_streaming_elicitation,
            test_logging_tool,
            greet,
            slow_compute,
            failing_job,
            protocol_error_job,
            confirm_delete,
            multi_input,
            test_tool_with_task,
            test_custom_header,
        ])
        .tools(input_required::tools())
        .resources(resources![
            static_text,
            static_binary,
            template,
            watched_resource
        ])
        .prompts(prompts![
            test_simple_prompt,
            test_prompt_with_arguments,
            test_prompt_with_embedded_resource,
            test_prompt_with_image,
            input_required::test_input_required_result_prompt
        ])
        .stream_polling(StreamPolling::after(POLL_AFTER).retry(Duration::from_millis(500)))
        .without_auth()
        .build()
        .map_err(std::io::Error::other)?;
    eprintln!(
        "conformance server on http://{}/mcp",
        listener.local_addr()?
    );
    mcp_auth_runtime::serve(listener, server, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
