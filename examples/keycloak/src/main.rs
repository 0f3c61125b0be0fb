//! Run with `cargo run -p keycloak-notes -- --issuer http://localhost:8080/realms/mcp --resource http://localhost:8000/mcp`,
//! once Keycloak runs with `realm-export.json` imported (see the README next to `Cargo.toml`).

use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Without a subscriber the start-up warnings (`--allow-untyped-tokens`) and the refusals
    // of tokens are never shown.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let server = keycloak_notes::Server::bind(&keycloak_notes::Cli::parse()).await?;
    tracing::info!("serving MCP on http://{}/mcp", server.local_addr()?);
    server
        .serve(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
