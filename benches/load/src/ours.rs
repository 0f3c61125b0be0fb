//! (a) The billing server on mcp-auth: JWT access tokens checked against the harness's issuer
//! (keys discovered from its RFC 8414 metadata), two scoped tools.

use mcp_auth_runtime::auth::{Dpop, JwtVerifier};
use mcp_auth_runtime::prelude::*;

use crate::billing::{Invoice, Store};

fn tenant(ctx: &ToolContext<Store>) -> Result<&str, ToolError> {
    ctx.auth()
        .tenant()
        .ok_or_else(|| ToolError::new("the access token names no tenant"))
}

/// The invoice a tool acted on, or the error the other servers answer too.
fn found(invoice: Option<Invoice>, invoice_id: &str) -> Result<Invoice, ToolError> {
    invoice.ok_or_else(|| ToolError::new(format!("invoice {invoice_id} not found")))
}

/// Look up an invoice.
///
/// Returns one invoice of the caller's tenant.
#[tool(scope = "invoices:read", read_only)]
async fn lookup_invoice(
    ctx: ToolContext<Store>,
    /// The invoice id, e.g. INV-2041
    invoice_id: String,
) -> Result<Invoice, ToolError> {
    found(ctx.state().get(tenant(&ctx)?, &invoice_id), &invoice_id)
}

/// Mark an invoice as voided.
#[tool(scope = "invoices:write", destructive, idempotent)]
async fn void_invoice(
    ctx: ToolContext<Store>,
    /// The invoice id, e.g. INV-2041
    invoice_id: String,
) -> Result<Invoice, ToolError> {
    found(ctx.state().void(tenant(&ctx)?, &invoice_id), &invoice_id)
}

/// How the server under test is configured.
pub struct Setup {
    /// The verified-token cache's capacity (0 turns it off; `None` keeps the default).
    pub cache: Option<usize>,
    /// Serves the handshake era without sessions.
    pub stateless: bool,
    /// Accepts DPoP-bound tokens ([`Dpop::accept`], the replay record in memory) besides
    /// bearer tokens.
    pub dpop: bool,
    /// Observed as an operator would run it: metrics recorded for Prometheus and on an OTLP
    /// meter, every span exported over OTLP (to the harness's issuer, which counts the bytes),
    /// and an audit event per request written as JSON lines to a file.
    pub observed: bool,
}

impl Setup {
    /// Neither DPoP nor observability.
    pub fn plain(cache: Option<usize>, stateless: bool) -> Setup {
        Setup {
            cache,
            stateless,
            dpop: false,
            observed: false,
        }
    }
}

/// Serves on `listener` until the process is killed.
pub async fn serve(
    listener: tokio::net::TcpListener,
    issuer: String,
    resource: String,
    setup: Setup,
) -> anyhow::Result<()> {
    let mut verifier =
        JwtVerifier::builder(issuer.clone(), resource.clone()).tenant_claim("tenant");
    if let Some(capacity) = setup.cache {
        verifier = verifier.cache_capacity(capacity);
    }
    let verifier = verifier.build()?;
    verifier
        .warm_up()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut server = McpServer::builder("billing", "1.0.0")
        .tools(tools![lookup_invoice, void_invoice])
        .state(Store::seeded())
        .resource(resource)
        .authorization_server(issuer.clone())
        .verifier(verifier)
        .stateless(setup.stateless)
        .dpop(if setup.dpop { Dpop::accept() } else { Dpop::off() });
    // Kept for the life of the process: dropping the exporters would stop the export.
    let mut _otlp = None;
    if setup.observed {
        use mcp_auth_runtime::observe::audit::JsonLinesSink;
        use mcp_auth_runtime::observe::{Metrics, otlp::Otlp};
        use tracing_subscriber::prelude::*;

        // `MCP_AUTH_LOAD_OBSERVE`: which of `metrics`, `audit`, `traces` are on (all by
        // default), to tell their costs apart.
        let parts = std::env::var("MCP_AUTH_LOAD_OBSERVE")
            .unwrap_or_else(|_| "metrics,audit,traces".into());
        let on = |part: &str| parts.split(',').any(|p| p == part);
        let otlp = Otlp::builder()
            .service_name("mcp-auth-load")
            .endpoint(issuer)
            .build()?;
        if on("traces") {
            tracing_subscriber::registry().with(otlp.layer()).init();
        }
        if on("metrics") {
            server = server.metrics(Metrics::builder().meter(otlp.meter()).build());
        }
        if on("audit") {
            // One file per port, started afresh by each run; the harness removes it at the end.
            let audit = audit_path(listener.local_addr()?.port());
            let _ = std::fs::remove_file(&audit);
            server = server.audit(JsonLinesSink::builder(audit).build()?);
        }
        _otlp = Some(otlp);
    }
    mcp_auth_runtime::serve(listener, server.build()?, std::future::pending()).await?;
    Ok(())
}

/// Where `ours-observed` on `port` writes its audit trail.
pub fn audit_path(port: u16) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("mcp-auth-load-audit-{port}.jsonl"))
}
