//! An example billing MCP server built with mcp-auth.
//!
//! `cargo run -p billing` serves three tools on <http://127.0.0.1:8000/mcp>.

mod store;
mod tools;

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::Parser;
use mcp_auth_runtime::prelude::*;

use crate::store::Store;
use crate::tools::{list_invoices, lookup_invoice, void_invoice};

/// The billing MCP server.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Port to listen on.
    #[arg(long, env = "PORT", default_value_t = 8000)]
    port: u16,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    anyhow::ensure!(
        cli.host.is_loopback(),
        "this build serves without authentication, so it binds to loopback only (got {})",
        cli.host
    );

    let tools = tools![lookup_invoice, list_invoices, void_invoice];
    let developer = AuthInfo::new("local-developer")
        .with_tenant("acme")
        .with_scopes(tools.iter().flat_map(|t| t.scopes().iter().copied()));
    let server = McpServer::builder("billing", env!("CARGO_PKG_VERSION"))
        .title("Billing")
        .tools(tools)
        .state(Store::seeded())
        .without_auth_as(developer)
        .build()?;

    let addr = SocketAddr::new(cli.host, cli.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let addr = listener.local_addr()?;
    banner(&server, addr);
    axum::serve(listener, server.into_router())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

fn banner(server: &McpServer, addr: SocketAddr) {
    let mut lines = vec![format!("billing MCP server on http://{addr}{}", server.path())];
    for tool in server.tools() {
        lines.push(format!("  tool {:<16} scopes: {}", tool.name(), tool.scopes().join(" ")));
    }
    lines.push(format!("  scopes supported: {}", server.scopes_supported().join(" ")));
    tracing::info!("\n{}", lines.join("\n"));
}
