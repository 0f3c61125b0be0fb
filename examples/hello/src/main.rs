//! Run with: `cargo run -p hello`. The smallest server: one tool, no authentication, for a
//! first look with an MCP client on this machine (never expose it beyond loopback).

use mcp_auth_runtime::prelude::*;

/// Say hello to someone.
#[tool(unscoped, read_only)]
async fn hello(
    /// Who to greet
    name: String,
) -> String {
    format!("Hello, {name}!")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The server warns at start-up that it runs without authentication: a subscriber shows it.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();

    let server = McpServer::builder("hello", "0.1.0")
        .tools(tools![hello])
        .without_auth()
        .build()?;
    let port = std::env::var("PORT").unwrap_or_else(|_| "8000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("MCP endpoint: http://{}/mcp", listener.local_addr()?);
    let shutdown = async {
        tokio::signal::ctrl_c().await.ok();
    };
    mcp_auth_runtime::serve(listener, server, shutdown).await?;
    Ok(())
}
