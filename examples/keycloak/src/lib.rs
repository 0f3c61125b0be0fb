//! An MCP server of notes behind the Keycloak realm of `realm-export.json`: the realm of the
//! MCP documentation's "Understanding Authorization in MCP" tutorial, with one client scope per
//! tool scope (`notes:read`, `notes:write`), an audience mapper naming this server, a tenant
//! claim, and access tokens typed `at+jwt`. See the README next to `Cargo.toml`.
//!
//! The binary is `main.rs`; this library exists so that the tests can start the same server
//! in-process:
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use clap::Parser as _;
//!
//! let cli = keycloak_notes::Cli::parse_from([
//!     "keycloak-notes",
//!     "--issuer", "http://localhost:8080/realms/mcp",
//!     "--resource", "http://localhost:8000/mcp",
//! ]);
//! let server = keycloak_notes::Server::bind(&cli).await?;
//! server.serve(std::future::pending()).await?;
//! # Ok(()) }
//! ```

mod cli;
mod tools;

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context as _;
use mcp_auth_runtime::auth::JwtVerifier;
use mcp_auth_runtime::prelude::*;
use mcp_auth_runtime::{McpServer, ToolDef};

pub use crate::cli::Cli;
pub use crate::tools::{Note, Notebook, Notes};

/// The tools this server serves, with the scopes they require.
pub fn tools() -> Vec<ToolDef> {
    tools![tools::list_notes, tools::add_note]
}

/// A server bound to its port, its issuer's keys fetched, ready to serve.
pub struct Server {
    listener: tokio::net::TcpListener,
    server: McpServer,
}

impl Server {
    /// Configures the verifier for the realm, fetches its signing keys (so that a wrong
    /// `--issuer` or a Keycloak that is not up shows now, not on the first request), builds
    /// the server and binds its port.
    pub async fn bind(cli: &Cli) -> anyhow::Result<Server> {
        let verifier = JwtVerifier::builder(&cli.issuer, &cli.resource)
            .tenant_claim(&cli.tenant_claim)
            .allow_untyped_tokens(cli.allow_untyped_tokens)
            .build()?;
        if cli.allow_untyped_tokens {
            tracing::warn!(
                "--allow-untyped-tokens: access tokens typed `JWT` are accepted too; prefer \
                 turning on the client's at+jwt switch (access.token.header.type.rfc9068)"
            );
        }
        let keys = verifier.warm_up().await.with_context(|| {
            format!(
                "cannot fetch the signing keys of {}: is Keycloak up, and is the realm imported?",
                cli.issuer
            )
        })?;
        tracing::info!(issuer = %cli.issuer, keys, "validating the realm's access tokens");
        let server = McpServer::builder("keycloak-notes", env!("CARGO_PKG_VERSION"))
            .tools(tools())
            .state(Notebook::default())
            .resource(&cli.resource)
            .authorization_server(&cli.issuer)
            // What clients ask for first: the realm's default scope. `notes:write` is an
            // optional scope there, obtained through the step-up challenge when needed.
            .baseline_scopes(["notes:read"])
            .verifier(verifier)
            .build()?;
        let listener = tokio::net::TcpListener::bind((cli.host, cli.port))
            .await
            .with_context(|| format!("cannot listen on {}:{}", cli.host, cli.port))?;
        Ok(Server { listener, server })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        mcp_auth_runtime::serve(self.listener, self.server, shutdown).await
    }
}
