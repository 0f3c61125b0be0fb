//! The billing resources: an invoice by URI, and the tenant's summary. Like the tools, they
//! reach the data only through [`Store::run`], which scopes every query to the caller's
//! tenant and audits every read: another tenant's invoice is "not found", exactly as an
//! invoice that does not exist. Voiding or refunding an invoice publishes an update of its
//! resource to the clients subscribed to it (see `tools.rs`).

use mcp_auth_runtime::prelude::*;

use crate::audit::Called;
use crate::completions::invoice_ids;
use crate::store::{InvoiceDetail, Store, Summary};

/// The URI of an invoice's resource.
pub(crate) fn invoice_uri(invoice_id: &str) -> String {
    format!("invoice://{invoice_id}")
}

/// One invoice of your tenant, with its refunds, as JSON.
///
/// The id is the invoice's, e.g. `invoice://INV-2041`.
#[resource(
    uri_template = "invoice://{invoice_id}",
    scope = "invoices:read",
    title = "Invoice",
    mime_type = "application/json",
    audience = ["user", "assistant"]
)]
pub(crate) async fn invoice(
    ctx: ToolContext<Store>,
    #[arg(complete = invoice_ids)] invoice_id: String,
) -> Result<InvoiceDetail, ToolError> {
    ctx.state()
        .detail(ctx.auth(), Called::resource("invoice"), invoice_id)
        .await
}

/// Your tenant's invoices at a glance: how many and how much, per status and in all.
#[resource(
    uri = "billing://tenant/summary",
    scope = "invoices:read",
    title = "Billing summary",
    mime_type = "application/json",
    priority = 0.8
)]
pub(crate) async fn summary(ctx: ToolContext<Store>) -> Result<Summary, ToolError> {
    ctx.state()
        .run(ctx.auth(), Called::resource("summary"), None, |ledger| {
            ledger.summary()
        })
        .await
}
