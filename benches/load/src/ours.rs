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

/// Serves on `listener` until the process is killed. `cache` is the verified-token cache's
/// capacity (0 turns it off; `None` keeps the default); `stateless` serves the handshake era
/// without sessions; `dpop` accepts DPoP-bound tokens ([`Dpop::accept`], the replay record in
/// memory) besides bearer tokens.
pub async fn serve(
    listener: tokio::net::TcpListener,
    issuer: String,
    resource: String,
    cache: Option<usize>,
    stateless: bool,
    dpop: bool,
) -> anyhow::Result<()> {
    let mut verifier =
        JwtVerifier::builder(issuer.clone(), resource.clone()).tenant_claim("tenant");
    if let Some(capacity) = cache {
        verifier = verifier.cache_capacity(capacity);
    }
    let verifier = verifier.build()?;
    verifier
        .warm_up()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let server = McpServer::builder("billing", "1.0.0")
        .tools(tools![lookup_invoice, void_invoice])
        .state(Store::seeded())
        .resource(resource)
        .authorization_server(issuer)
        .verifier(verifier)
        .stateless(stateless)
        .dpop(if dpop { Dpop::accept() } else { Dpop::off() })
        .build()?;
    mcp_auth_runtime::serve(listener, server, std::future::pending()).await?;
    Ok(())
}
