//! An example billing MCP server built with mcp-auth.
//!
//! `cargo run -p billing` serves the billing tools on <http://127.0.0.1:8000/mcp>. With
//! `--issuer` it is an OAuth 2.1 resource server validating that issuer's JWT access tokens;
//! with `--introspection-url` it introspects opaque tokens (RFC 7662); with neither it runs as
//! a local development server without authentication, on loopback only.

mod store;
mod tools;

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::Parser;
use mcp_auth_runtime::auth::{ClientAuth, IntrospectionVerifier, JwtVerifier, ScopeClaim};
use mcp_auth_runtime::prelude::*;
use mcp_auth_runtime::{McpServerBuilder, ToolDef};

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
    /// The authorization server (issuer) whose JWT access tokens are accepted, e.g.
    /// `http://localhost:8080/realms/master`.
    #[arg(long, env = "ISSUER_URL")]
    issuer: Option<String>,
    /// This server's canonical URI, the audience tokens must name [default:
    /// http://HOST:PORT/mcp].
    #[arg(long, env = "RESOURCE_URL")]
    resource: Option<String>,
    /// Fetch the issuer's keys from this URL instead of discovering it.
    #[arg(long, env = "JWKS_URL", requires = "issuer")]
    jwks_url: Option<String>,
    /// The claim holding the scopes: `scope` (RFC 9068, Keycloak, Auth0), `scp` (Entra ID,
    /// Okta), or any other claim name.
    #[arg(long, env = "SCOPE_CLAIM", default_value = "scope")]
    scope_claim: String,
    /// The claim naming the caller's tenant.
    #[arg(long, env = "TENANT_CLAIM", default_value = "tenant")]
    tenant_claim: String,
    /// Validate opaque tokens with this RFC 7662 introspection endpoint instead of JWTs.
    #[arg(long, env = "INTROSPECTION_URL", conflicts_with = "jwks_url")]
    introspection_url: Option<String>,
    /// Client id for the introspection endpoint.
    #[arg(long, env = "OAUTH_CLIENT_ID", requires = "introspection_url")]
    client_id: Option<String>,
    /// Client secret for the introspection endpoint (prefer the environment variable).
    #[arg(
        long,
        env = "OAUTH_CLIENT_SECRET",
        hide_env_values = true,
        requires = "client_id"
    )]
    client_secret: Option<String>,
}

impl Cli {
    fn scope_claim(&self) -> ScopeClaim {
        match self.scope_claim.as_str() {
            "scope" => ScopeClaim::Scope,
            "scp" => ScopeClaim::Scp,
            other => ScopeClaim::Custom(other.to_owned()),
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();

    let addr = SocketAddr::new(cli.host, cli.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let addr = listener.local_addr()?;
    let resource = cli
        .resource
        .clone()
        .unwrap_or_else(|| format!("http://{addr}/mcp"));

    let tools = tools![lookup_invoice, list_invoices, void_invoice];
    let builder = McpServer::builder("billing", env!("CARGO_PKG_VERSION"))
        .title("Billing")
        .state(Store::seeded());
    let server = configure_auth(builder, &cli, &resource, tools)
        .await?
        .build()?;

    banner(&server, addr);
    axum::serve(listener, server.into_router())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

async fn configure_auth(
    builder: McpServerBuilder,
    cli: &Cli,
    resource: &str,
    tools: Vec<ToolDef>,
) -> anyhow::Result<McpServerBuilder> {
    if let Some(endpoint) = &cli.introspection_url {
        let mut verifier = IntrospectionVerifier::builder(endpoint.clone(), resource)
            .scope_claim(cli.scope_claim())
            .tenant_claim(cli.tenant_claim.clone());
        if let Some(issuer) = &cli.issuer {
            verifier = verifier.issuer(issuer.clone());
        }
        if let (Some(id), Some(secret)) = (&cli.client_id, &cli.client_secret) {
            verifier = verifier.client_credentials(id.clone(), secret.clone(), ClientAuth::Basic);
        }
        let mut builder = builder
            .tools(tools)
            .resource(resource)
            .verifier(verifier.build()?);
        if let Some(issuer) = &cli.issuer {
            builder = builder.authorization_server(issuer.clone());
        }
        return Ok(builder);
    }
    if let Some(issuer) = &cli.issuer {
        let mut verifier = JwtVerifier::builder(issuer.clone(), resource)
            .scope_claim(cli.scope_claim())
            .tenant_claim(cli.tenant_claim.clone());
        if let Some(jwks) = &cli.jwks_url {
            verifier = verifier.jwks_url(jwks.clone());
        }
        let verifier = verifier.build()?;
        // Fail at start-up, not on the first request, when the issuer is unreachable.
        let keys = verifier
            .warm_up()
            .await
            .with_context(|| format!("cannot fetch the signing keys of {issuer}"))?;
        tracing::info!(issuer, keys, "validating JWT access tokens");
        return Ok(builder
            .tools(tools)
            .resource(resource)
            .authorization_server(issuer.clone())
            .verifier(verifier));
    }
    anyhow::ensure!(
        cli.host.is_loopback(),
        "without --issuer or --introspection-url the server has no authentication, so it binds \
         to loopback only (got {})",
        cli.host
    );
    let developer = AuthInfo::new("local-developer")
        .with_tenant("acme")
        .with_scopes(tools.iter().flat_map(|t| t.scopes().iter().copied()));
    Ok(builder.tools(tools).without_auth_as(developer))
}

fn banner(server: &McpServer, addr: SocketAddr) {
    let mut lines = vec![format!(
        "billing MCP server on http://{addr}{}",
        server.path()
    )];
    for tool in server.tools() {
        lines.push(format!(
            "  tool {:<16} scopes: {}",
            tool.name(),
            tool.scopes().join(" ")
        ));
    }
    match server.metadata() {
        Some(metadata) => {
            lines.push(format!("  resource:          {}", metadata.resource));
            lines.push(format!(
                "  authorization:     {}",
                metadata.authorization_servers.join(" ")
            ));
            lines.push(format!(
                "  scopes supported:  {}",
                metadata.scopes_supported.join(" ")
            ));
        }
        None => lines.push(
            "  authentication:    none (local development; every call acts as local-developer of tenant acme)"
                .to_owned(),
        ),
    }
    tracing::info!("\n{}", lines.join("\n"));
}
