//! The resources billing serves, read with the same tenant binding as the tools: another
//! tenant's invoice is not found. Voiding or refunding an invoice publishes an update of its
//! resource to the clients subscribed to it (see `tools.rs`).

use mcp_auth_runtime::prelude::*;

use crate::store::{BillingError, InvoiceDetail, Store};

/// The URI of an invoice's resource.
pub(crate) fn invoice_uri(invoice_id: &str) -> String {
    format!("invoice://{invoice_id}")
}

/// One invoice of your tenant, with its refunds, as JSON.
#[resource(
    uri_template = "invoice://{invoice_id}",
    scope = "invoices:read",
    mime_type = "application/json"
)]
pub(crate) async fn invoice(
    ctx: ToolContext<Store>,
    invoice_id: String,
) -> Result<InvoiceDetail, ToolError> {
    let found = ctx
        .state()
        .run(
            ctx.auth(),
            "read_invoice",
            Some(invoice_id.clone()),
            move |ledger| match ledger.get(&invoice_id) {
                Err(BillingError::NotFound(_)) => Ok(None),
                other => other.map(Some),
            },
        )
        .await?;
    // Not found in the caller's tenant: the same answer as a URI nothing serves.
    found.ok_or(ToolError::NotFound)
}
