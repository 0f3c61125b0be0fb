//! The tools and the prompt of the suite's `input-required-result-*` scenarios (SEP-2322,
//! multi round-trip requests): each asks what its scenario's description says, under the
//! keys it fixes, through `ToolContext::ask`. The integrity of `requestState` is the
//! runtime's: nothing here checks a state.

use mcp_auth_runtime::prelude::*;
use mcp_auth_runtime::{Ask, InputKind, Responses};
use serde_json::{Value, json};

/// The tools of the `input-required-result-*` scenarios.
pub(crate) fn tools() -> Vec<mcp_auth_runtime::ToolDef> {
    tools![
        test_input_required_result_elicitation,
        test_input_required_result_sampling,
        test_input_required_result_list_roots,
        test_input_required_result_request_state,
        test_input_required_result_tampered_state,
        test_input_required_result_multiple_inputs,
        test_input_required_result_multi_round,
        test_input_required_result_capabilities,
    ]
    .into_iter()
    .collect()
}

/// A form of one required string property `name`.
fn one_string(name: &str) -> Value {
    json!({
        "type": "object",
        "properties": { name: { "type": "string" } },
        "required": [name],
    })
}

/// The `messages` and `maxTokens` of a sampling request for `text`.
fn sampling(text: &str, max_tokens: u32) -> Value {
    json!({
        "messages": [{ "role": "user", "content": { "type": "text", "text": text } }],
        "maxTokens": max_tokens,
    })
}

/// The property `name` of the form the elicitation `key` returned, or `""`.
fn field(answers: &Responses, key: &str, name: &str) -> Result<String, ToolError> {
    let answer = answers.elicitation(key)?;
    Ok(answer
        .content
        .and_then(|content| content.get(name)?.as_str().map(str::to_owned))
        .unwrap_or_default())
}

/// The text of the sampling answer `key`.
fn sampled(answers: &Responses, key: &str) -> Result<String, ToolError> {
    let result = answers.sampling(key)?;
    Ok(result["content"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// Asks the user's name (key `user_name`), then greets them
#[tool(unscoped)]
async fn test_input_required_result_elicitation(ctx: ToolContext) -> Result<String, ToolError> {
    // A name grants nothing: the suite may send it with the first call (ignore-extra-params).
    let ask = Ask::new()
        .elicit("user_name", "What is your name?", one_string("name"))
        .answerable_in_advance();
    let answers = ctx.ask(ask).await?;
    Ok(format!("Hello, {}!", field(&answers, "user_name", "name")?))
}

/// Asks the client's model the capital of France (key `capital_question`)
#[tool(unscoped)]
async fn test_input_required_result_sampling(ctx: ToolContext) -> Result<String, ToolError> {
    let question = sampling("What is the capital of France?", 100);
    let answers = ctx
        .ask(Ask::new().sample("capital_question", question))
        .await?;
    sampled(&answers, "capital_question")
}

/// Asks the client's roots (key `client_roots`) and names them
#[tool(unscoped)]
async fn test_input_required_result_list_roots(ctx: ToolContext) -> Result<String, ToolError> {
    let answers = ctx.ask(Ask::new().list_roots("client_roots")).await?;
    let roots: Vec<String> = answers
        .roots("client_roots")?
        .into_iter()
        .map(|root| root.uri)
        .collect();
    Ok(format!("Roots: {}", roots.join(", ")))
}

/// Asks for a confirmation (key `confirm`) carried with a sealed requestState
#[tool(unscoped)]
async fn test_input_required_result_request_state(ctx: ToolContext) -> Result<String, ToolError> {
    confirmed(&ctx).await
}

/// Asks for a confirmation whose sealed requestState a client cannot alter
#[tool(unscoped)]
async fn test_input_required_result_tampered_state(ctx: ToolContext) -> Result<String, ToolError> {
    confirmed(&ctx).await
}

/// "Please confirm", answered with the state of the round that asked it (the runtime refuses
/// any other before the tool runs).
async fn confirmed(ctx: &ToolContext) -> Result<String, ToolError> {
    let form = json!({
        "type": "object",
        "properties": { "ok": { "type": "boolean" } },
        "required": ["ok"],
    });
    let answers = ctx
        .ask(Ask::new().elicit("confirm", "Please confirm", form))
        .await?;
    let answer = answers.elicitation("confirm")?;
    let ok = answer.content.and_then(|c| c.get("ok")?.as_bool()) == Some(true);
    Ok(format!("state-ok: confirmed {ok}"))
}

/// Asks a name, a greeting and the roots in one round
#[tool(unscoped)]
async fn test_input_required_result_multiple_inputs(ctx: ToolContext) -> Result<String, ToolError> {
    let ask = Ask::new()
        .elicit("user_name", "What is your name?", one_string("name"))
        .sample("greeting", sampling("Generate a greeting", 50))
        .list_roots("client_roots");
    let answers = ctx.ask(ask).await?;
    Ok(format!(
        "{} {} ({} roots)",
        sampled(&answers, "greeting")?,
        field(&answers, "user_name", "name")?,
        answers.roots("client_roots")?.len()
    ))
}

/// Asks a name, then a favourite colour, in two rounds
#[tool(unscoped)]
async fn test_input_required_result_multi_round(ctx: ToolContext) -> Result<String, ToolError> {
    let step1 = Ask::new().elicit("step1", "Step 1: What is your name?", one_string("name"));
    let name = field(&ctx.ask(step1).await?, "step1", "name")?;
    let step2 = Ask::new().elicit(
        "step2",
        "Step 2: What is your favorite color?",
        one_string("color"),
    );
    let color = field(&ctx.ask(step2).await?, "step2", "color")?;
    Ok(format!("{name} likes {color}"))
}

/// Asks a name and a greeting, each only of a client that declared it can answer
#[tool(unscoped)]
async fn test_input_required_result_capabilities(ctx: ToolContext) -> Result<String, ToolError> {
    let mut ask = Ask::new();
    if ctx.client_supports(InputKind::Elicitation) {
        ask = ask.elicit("user_name", "What is your name?", one_string("name"));
    }
    if ctx.client_supports(InputKind::Sampling) {
        ask = ask.sample("greeting", sampling("Generate a greeting", 50));
    }
    let answers = ctx.ask(ask).await?;
    Ok(format!(
        "{} answers",
        [answers.get("user_name"), answers.get("greeting")]
            .iter()
            .flatten()
            .count()
    ))
}

/// A prompt that asks what context it should use
#[prompt(unscoped, title = "Prompt Requiring Input")]
pub(crate) async fn test_input_required_result_prompt(
    ctx: ToolContext,
) -> Result<String, ToolError> {
    let ask = Ask::new().elicit(
        "user_context",
        "What context should the prompt use?",
        one_string("context"),
    );
    let context = field(&ctx.ask(ask).await?, "user_context", "context")?;
    Ok(format!("Use this context: {context}"))
}
