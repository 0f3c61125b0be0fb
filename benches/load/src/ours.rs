//! (a) The billing server on mcp-auth: JWT access tokens checked against the harness's issuer
//! (keys discovered from its RFC 8414 metadata), two scoped tools.
//!
//! The other paths users take (BENCHMARKS.md, "Other paths") have their own tools and a
//! resource here, beside the two tools every server under test serves; a `tools/call` of
//! `lookup_invoice` takes the same path with or without them (tools are found by name).

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

/// Export the caller's invoices, reporting progress after each.
///
/// Sends one `notifications/progress` per invoice (three) when the call has a
/// `progressToken`: the answer is then an SSE stream, the progress events and the result.
#[tool(scope = "invoices:read", read_only)]
async fn export_invoices(ctx: ToolContext<Store>) -> Result<Export, ToolError> {
    let tenant = tenant(&ctx)?;
    let mut invoices = Vec::with_capacity(EXPORTED.len());
    for (done, id) in EXPORTED.iter().enumerate() {
        invoices.push(found(ctx.state().get(tenant, id), id)?);
        ctx.progress((done + 1) as f64, Some(EXPORTED.len() as f64), None);
    }
    Ok(Export { invoices })
}

/// The invoices `export_invoices` exports, one progress report each.
pub const EXPORTED: [&str; 3] = ["INV-2041", "INV-2042", "INV-2043"];

/// What `export_invoices` returns.
#[derive(serde::Serialize, schemars::JsonSchema)]
struct Export {
    /// The invoices, in id order.
    invoices: Vec<Invoice>,
}

/// Refunds above this many cents also need the `payments:approve` scope.
pub const APPROVAL_LIMIT_CENTS: u64 = 100_000;

/// Check a refund of an invoice against its total, and return the refund to make.
///
/// A refund above 100,000 cents also needs `payments:approve`: the policy depends on the
/// arguments (`require(.., when = ..)`), and is decided after they are parsed. Nothing is
/// recorded, so that every call of the load is the same.
#[tool(
    scope = "invoices:write",
    require(
        scope = "payments:approve",
        when = amount_cents > APPROVAL_LIMIT_CENTS
    ),
    read_only
)]
async fn plan_refund(
    ctx: ToolContext<Store>,
    /// The invoice id, e.g. INV-2041
    invoice_id: String,
    /// The amount to refund, in cents
    amount_cents: u64,
) -> Result<Refund, ToolError> {
    let invoice = found(ctx.state().get(tenant(&ctx)?, &invoice_id), &invoice_id)?;
    if amount_cents > invoice.amount_cents {
        return Err(ToolError::new(format!(
            "a refund of {amount_cents} cents exceeds invoice {invoice_id}"
        )));
    }
    Ok(Refund {
        invoice_id,
        amount_cents,
        currency: invoice.currency,
        approved: amount_cents > APPROVAL_LIMIT_CENTS,
    })
}

/// What `plan_refund` returns.
#[derive(serde::Serialize, schemars::JsonSchema)]
struct Refund {
    /// The invoice refunded.
    invoice_id: String,
    /// The amount, in cents.
    amount_cents: u64,
    /// The invoice's currency.
    currency: String,
    /// Whether the refund needed, and had, `payments:approve`.
    approved: bool,
}

/// One invoice of the caller's tenant, as JSON.
#[resource(
    uri_template = "invoice://{invoice_id}",
    scope = "invoices:read",
    title = "Invoice",
    mime_type = "application/json"
)]
async fn invoice(ctx: ToolContext<Store>, invoice_id: String) -> Result<Invoice, ToolError> {
    found(ctx.state().get(tenant(&ctx)?, &invoice_id), &invoice_id)
}

/// The handshake-era sessions a stateful server holds at most (the runtime's default is
/// 10,000): room for the scale figure's 100,000 and the session path's few.
pub const MAX_SESSIONS: usize = 120_000;

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
        .tools(tools![
            lookup_invoice,
            void_invoice,
            export_invoices,
            plan_refund
        ])
        .resources(resources![invoice])
        .state(Store::seeded())
        .resource(resource)
        .authorization_server(issuer.clone())
        .verifier(verifier)
        .stateless(setup.stateless)
        .max_sessions(MAX_SESSIONS)
        .dpop(if setup.dpop {
            Dpop::accept()
        } else {
            Dpop::off()
        });
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
