//! `billing`: the example billing MCP server. See the library docs and the README.

use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Logs and audit events go to stderr: stdout carries the banner, or the token of
    // `billing token`, for scripts to read.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    billing::run(billing::Cli::parse().into_command()).await
}
