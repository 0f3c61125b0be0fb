//! The load benchmark of mcp-auth. `cargo run --release --manifest-path benches/load/Cargo.toml`
//! starts, one after another on this machine and on loopback only, each server under test as
//! its own process, drives it with `wrk` for a fixed time, and prints a table: requests/s,
//! p50/p99 latency, server CPU per request, RSS; then the other paths users take next to the
//! plain call, the plain call under 1 to 256 connections, and the RSS of mcp-auth holding
//! 100,000 handshake-era sessions (`--sessions`). `--help` lists the options.
//!
//! The same binary is each Rust server: `mcp-auth-load serve <kind> <port> <issuer> [..]`.

mod billing;
mod ceiling;
mod dpop;
mod harness;
mod hello;
mod issuer;
mod jwt;
mod ours;
mod rmcp_server;

use anyhow::{Context, bail};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => serve(&args[1..]),
        _ => harness::run(&args),
    }
}

/// `serve <ours|ours-dpop|ours-observed|rmcp|rmcp-jwt|ceiling|hello> <port> <issuer> [cache capacity] [stateful]`
fn serve(args: &[String]) -> anyhow::Result<()> {
    let [kind, port, issuer, rest @ ..] = args else {
        bail!("usage: serve <kind> <port> <issuer> [cache] [stateful]");
    };
    let port: u16 = port.parse().context("port")?;
    // `default` leaves the verifier's default capacity.
    let cache: Option<usize> = match rest.first().map(String::as_str) {
        None | Some("default") => None,
        Some(n) => Some(n.parse().context("cache")?),
    };
    let stateful = rest.get(1).is_some_and(|s| s == "stateful");
    let resource = format!("http://127.0.0.1:{port}/mcp");
    let jwks_url = format!("{issuer}/jwks");
    let issuer = issuer.clone();
    let kind = kind.clone();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            // SIGTERM ends the process through `exit`, so that profilers wrapping it (see
            // `LOAD_WRAP` in the harness) write their output.
            let mut terminate =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::spawn(async move {
                terminate.recv().await;
                std::process::exit(0);
            });
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
            match kind.as_str() {
                "ours" => {
                    let setup = ours::Setup::plain(cache, !stateful);
                    ours::serve(listener, issuer, resource, setup).await
                }
                "ours-dpop" => {
                    let setup = ours::Setup {
                        dpop: true,
                        ..ours::Setup::plain(cache, !stateful)
                    };
                    ours::serve(listener, issuer, resource, setup).await
                }
                "ours-observed" => {
                    let setup = ours::Setup {
                        observed: true,
                        ..ours::Setup::plain(cache, !stateful)
                    };
                    ours::serve(listener, issuer, resource, setup).await
                }
                "rmcp" => rmcp_server::serve(listener, None).await,
                "rmcp-jwt" => {
                    rmcp_server::serve(listener, Some((jwks_url, issuer, resource))).await
                }
                "ceiling" => ceiling::serve(listener, jwks_url, issuer, resource).await,
                "hello" => hello::serve(listener).await,
                other => bail!("unknown server kind `{other}`"),
            }
        })
}

/// `axum::serve` with `TCP_NODELAY` on every connection, as `mcp_auth_runtime::serve` does.
async fn serve_nodelay(
    listener: tokio::net::TcpListener,
    router: axum::Router,
) -> anyhow::Result<()> {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router).await?;
    Ok(())
}
