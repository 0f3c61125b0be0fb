//! Run with `cargo run -p notes` (HTTP on 127.0.0.1:8080, `NOTES_PORT` to change it, with a
//! development issuer: prints tokens and a curl line), or over stdio with the identity from
//! the environment: `NOTES_SUBJECT=alice NOTES_SCOPES="notes:read notes:write" cargo run -p notes -- stdio`.
//!
//! A notes server: five tools, scoped `notes:read` and `notes:write`, over notes kept in
//! memory for each tenant.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use mcp_auth_runtime::auth::JwtVerifier;
use mcp_auth_runtime::dev_issuer::{DevIssuer, MintRequest};
use mcp_auth_runtime::prelude::*;
use mcp_auth_runtime::{McpServerBuilder, stdio};

/// One note.
#[derive(Clone, serde::Serialize, schemars::JsonSchema)]
struct Note {
    id: u64,
    title: String,
    body: String,
}

/// Every note of the caller's tenant.
#[derive(serde::Serialize, schemars::JsonSchema)]
struct NoteList {
    notes: Vec<Note>,
}

/// The notes of every tenant, in memory: each tool sees its caller's tenant's only (callers
/// without a tenant, such as a stdio user without `NOTES_TENANT`, share theirs).
#[derive(Clone, Default)]
struct Notes(Arc<Mutex<HashMap<Option<String>, Tenant>>>);

/// One tenant's notes, by id.
type Tenant = BTreeMap<u64, Note>;

impl Notes {
    /// Runs `f` on the notes of the caller's tenant.
    fn of<T>(ctx: &ToolContext<Notes>, f: impl FnOnce(&mut Tenant) -> T) -> T {
        let tenant = ctx.auth().tenant().map(str::to_owned);
        let mut all = ctx.state().0.lock().unwrap_or_else(|e| e.into_inner());
        f(all.entry(tenant).or_default())
    }
}

fn not_found(id: u64) -> ToolError {
    ToolError::new(format!("no note {id}"))
}

/// Create a note.
#[tool(scope = "notes:write")]
async fn create_note(
    ctx: ToolContext<Notes>,
    /// A short title
    title: String,
    /// The text of the note
    body: String,
) -> Result<Note, ToolError> {
    Ok(Notes::of(&ctx, |notes| {
        let id = notes.keys().next_back().map_or(1, |last| last + 1);
        let note = Note { id, title, body };
        notes.insert(id, note.clone());
        note
    }))
}

/// List the notes.
#[tool(scope = "notes:read", read_only)]
async fn list_notes(ctx: ToolContext<Notes>) -> Result<NoteList, ToolError> {
    let notes = Notes::of(&ctx, |notes| notes.values().cloned().collect());
    Ok(NoteList { notes })
}

/// Read a note.
#[tool(scope = "notes:read", read_only)]
async fn get_note(ctx: ToolContext<Notes>, id: u64) -> Result<Note, ToolError> {
    Notes::of(&ctx, |notes| notes.get(&id).cloned()).ok_or_else(|| not_found(id))
}

/// Change a note's title or text.
#[tool(scope = "notes:write", idempotent)]
async fn update_note(
    ctx: ToolContext<Notes>,
    id: u64,
    /// The new title, if it changes
    title: Option<String>,
    /// The new text, if it changes
    body: Option<String>,
) -> Result<Note, ToolError> {
    Notes::of(&ctx, |notes| {
        let note = notes.get_mut(&id)?;
        note.title = title.unwrap_or_else(|| note.title.clone());
        note.body = body.unwrap_or_else(|| note.body.clone());
        Some(note.clone())
    })
    .ok_or_else(|| not_found(id))
}

/// Delete a note for good.
#[tool(scope = "notes:write", destructive)]
async fn delete_note(ctx: ToolContext<Notes>, id: u64) -> Result<String, ToolError> {
    Notes::of(&ctx, |notes| notes.remove(&id))
        .map(|_| format!("note {id} deleted"))
        .ok_or_else(|| not_found(id))
}

/// The server, whichever way it is served.
fn notes() -> McpServerBuilder {
    McpServer::builder("notes", env!("CARGO_PKG_VERSION"))
        .tools(tools![
            create_note,
            list_notes,
            get_note,
            update_note,
            delete_note
        ])
        .state(Notes::default())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // To stderr: over stdio, stdout carries protocol messages only.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match std::env::args().nth(1).as_deref() {
        None => serve_http().await,
        Some("stdio") => {
            let identity = stdio::identity_from_env("NOTES")?;
            stdio::serve(notes().stdio_only().build()?, identity).await?;
            Ok(())
        }
        Some(other) => anyhow::bail!("unknown command `{other}`: run `notes` or `notes stdio`"),
    }
}

/// HTTP on loopback, with an embedded development issuer (never deploy it) whose tokens are
/// printed.
async fn serve_http() -> anyhow::Result<()> {
    let port: u16 = std::env::var("NOTES_PORT").map_or(Ok(8080), |port| port.parse())?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let origin = format!("http://{}", listener.local_addr()?);
    let resource = format!("{origin}/mcp");
    let issuer = DevIssuer::builder(&origin)
        .resource(&resource)
        .scopes(["notes:read", "notes:write"])
        .users([("alice", "acme"), ("bob", "globex")])
        .build()?;
    let verifier = JwtVerifier::builder(&origin, &resource)
        .static_keys(issuer.jwks())
        .tenant_claim("tenant")
        .build()?;
    let server = notes()
        .resource(&resource)
        .authorization_server(&origin)
        .verifier(verifier)
        .build()?;
    let token = |scopes: &[&str]| {
        issuer.mint(MintRequest {
            subject: "alice".into(),
            tenant: Some("acme".into()),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            ..MintRequest::default()
        })
    };
    let (read, write) = (
        token(&["notes:read"])?,
        token(&["notes:read", "notes:write"])?,
    );
    print_banner(&format!(
        "notes MCP server on {resource} (development issuer: never deploy it)\n\
         read token:       {read}\n\
         read-write token: {write}\n\
         try: curl -s {resource} -H 'Authorization: Bearer {read}' -H 'Content-Type: application/json' \
         -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{{\"name\":\"list_notes\",\"_meta\":{{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\",\"io.modelcontextprotocol/clientCapabilities\":{{}}}}}}}}' \
         -H 'MCP-Protocol-Version: 2026-07-28' -H 'Mcp-Method: tools/call' -H 'Mcp-Name: list_notes'\n"
    ));
    let app = server.into_router().merge(issuer.router());
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    mcp_auth_runtime::serve(listener, app, shutdown).await?;
    Ok(())
}

#[expect(
    clippy::print_stdout,
    reason = "the tokens and the curl line are the program's output for its user"
)]
fn print_banner(text: &str) {
    print!("{text}");
}
