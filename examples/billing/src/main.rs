//! `billing`: the example billing MCP server. See the library docs and the README.

use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = billing::Cli::parse().into_command();
    // Logs and audit events go to stderr: stdout carries the banner, or the token of
    // `billing token`, for scripts to read. With `--otlp-endpoint`, spans and metrics go to
    // the collector too; what is left is sent when `_telemetry` drops, at exit.
    let _telemetry = billing::Telemetry::init(&command)?;
    billing::run(command).await
}
