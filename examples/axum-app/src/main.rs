//! Run with `cargo run -p axum-app`, then call `/api/reports` or the MCP endpoint with the
//! tokens it prints (`PORT` picks the port, 8000 by default).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Start-up warnings (the development issuer's among them) and request logs go to stderr.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let port: u16 = std::env::var("PORT").map_or(Ok(8000), |p| p.parse())?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let origin = format!("http://{}", listener.local_addr()?);
    let app = axum_app::app(&origin)?;
    print_banner(&origin, &app);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    mcp_auth_runtime::serve(listener, app.router, shutdown).await?;
    Ok(())
}

/// What to call, and with which token: development tokens of the embedded issuer, printed
/// for the person who started the example.
#[allow(clippy::print_stdout)] // the banner is this binary's output
fn print_banner(origin: &str, app: &axum_app::App) {
    let axum_app::Tokens {
        read_only,
        exporter,
    } = &app.tokens;
    println!("MCP endpoint:  {}", app.resource);
    println!("own routes:    {origin}/  {origin}/healthz  {origin}/api/status");
    println!("scoped route:  {origin}/api/reports (needs reports:export)");
    println!();
    println!("read-only token (reports:read):\n{read_only}\n");
    println!("export token (reports:read reports:export):\n{exporter}\n");
    println!("try: curl -i -H \"Authorization: Bearer $TOKEN\" {origin}/api/reports");
}
