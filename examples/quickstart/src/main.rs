//! Run with: `cargo run -p quickstart` (from a clone of mcp-auth), then paste the `curl` line
//! it prints. A scoped MCP server and a development authorization server on one port.

use std::sync::{Arc, Mutex};

use mcp_auth_runtime::auth::JwtVerifier;
use mcp_auth_runtime::dev_issuer::{DevIssuer, MintRequest};
use mcp_auth_runtime::prelude::*;
use schemars::JsonSchema;
use serde::Serialize;

/// The server's state: every tool gets it through its `ToolContext`.
#[derive(Clone, Default)]
struct Tasks(Arc<Mutex<Vec<Task>>>);

#[derive(Clone, Serialize, JsonSchema)]
struct Task {
    id: usize,
    title: String,
}

/// A tool's structured result must be a JSON object, so the list is a field.
#[derive(Serialize, JsonSchema)]
struct TaskList {
    tasks: Vec<Task>,
}

/// List the tasks.
#[tool(scope = "tasks:read", read_only)]
async fn list_tasks(ctx: ToolContext<Tasks>) -> Result<TaskList, ToolError> {
    let tasks = ctx.state().0.lock().unwrap().clone();
    Ok(TaskList { tasks })
}

/// Add a task.
#[tool(scope = "tasks:write")]
async fn add_task(
    ctx: ToolContext<Tasks>,
    /// What needs doing, e.g. "Send the Q3 invoices"
    title: String,
) -> Result<Task, ToolError> {
    let mut tasks = ctx.state().0.lock().unwrap();
    let task = Task {
        id: tasks.len() + 1,
        title,
    };
    tasks.push(task.clone());
    Ok(task)
}

/// The rest of a `tools/call` in the stateless 2026-07-28 era: no session needed.
const CURL_LIST_TASKS: &str = r#"-H 'Content-Type: application/json' \
  -H 'Accept: application/json, text/event-stream' -H 'MCP-Protocol-Version: 2026-07-28' \
  -H 'Mcp-Method: tools/call' -H 'Mcp-Name: list_tasks' \
  -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_tasks","arguments":{},
      "_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",
               "io.modelcontextprotocol/clientCapabilities":{}}}}'"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Shows the start-up warnings, and why requests are refused (never a token).
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();

    let port = std::env::var("PORT").unwrap_or_else(|_| "8000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    let origin = format!("http://{}", listener.local_addr()?);
    let resource = format!("{origin}/mcp"); // the audience of the tokens

    // For development only: an authorization server in this process. In production, point
    // `JwtVerifier::builder(issuer, &resource)` at your real issuer instead.
    let issuer = DevIssuer::builder(&origin)
        .resource(&resource)
        .scopes(["tasks:read", "tasks:write"])
        .users([("alice", "acme")])
        .build()?;
    let verifier = JwtVerifier::builder(&origin, &resource)
        .static_keys(issuer.jwks())
        .build()?;

    let server = McpServer::builder("tasks", "0.1.0")
        .tools(tools![list_tasks, add_task])
        .state(Tasks::default())
        .resource(&resource)
        .authorization_server(&origin)
        .verifier(verifier)
        .build()?;

    // Tokens for the user `alice`; MCP clients get theirs from the issuer's OAuth flow.
    let mint = |scopes: &[&str]| {
        issuer.mint(MintRequest {
            subject: "alice".into(),
            scopes: scopes.iter().map(|scope| scope.to_string()).collect(),
            ..MintRequest::default()
        })
    };
    println!("export READ_TOKEN={}", mint(&["tasks:read"])?);
    println!(
        "export WRITE_TOKEN={}",
        mint(&["tasks:read", "tasks:write"])?
    );
    println!("curl -sS {resource} -H \"Authorization: Bearer $READ_TOKEN\" {CURL_LIST_TASKS}");

    let app = server.into_router().merge(issuer.router());
    let shutdown = async {
        tokio::signal::ctrl_c().await.ok();
    };
    mcp_auth_runtime::serve(listener, app, shutdown).await?;
    Ok(())
}
