//! The billing tools. Scopes say which kind of action a caller may take; the tenant from the
//! caller's identity says on whose data.

use mcp_auth_runtime::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::store::{Invoice, Status, Store};

/// The tenant a caller acts for; without one it may touch nothing.
fn tenant<S>(ctx: &ToolContext<S>) -> Result<String, ToolError> {
    ctx.auth()
        .tenant()
        .map(str::to_owned)
        .ok_or_else(|| ToolError::new("the access token names no tenant"))
}

fn actor<S>(ctx: &ToolContext<S>) -> String {
    ctx.auth().subject().unwrap_or("unknown").to_owned()
}

/// Look up an invoice.
///
/// Returns one invoice of the caller's tenant.
#[tool(scope = "invoices:read", read_only)]
pub(crate) async fn lookup_invoice(
    ctx: ToolContext<Store>,
    /// The invoice id, e.g. INV-2041
    invoice_id: String,
) -> Result<Invoice, ToolError> {
    let tenant = tenant(&ctx)?;
    ctx.state()
        .get(&tenant, &invoice_id)
        .ok_or_else(|| ToolError::new(format!("invoice {invoice_id} not found")))
}

/// A page of invoices.
#[derive(Serialize, JsonSchema)]
pub(crate) struct InvoiceList {
    /// The invoices, by id.
    invoices: Vec<Invoice>,
}

/// The statuses a caller can filter on.
#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StatusFilter {
    Open,
    Paid,
    Void,
}

/// List the invoices of the caller's tenant.
#[tool(scope = "invoices:read", read_only)]
pub(crate) async fn list_invoices(
    ctx: ToolContext<Store>,
    /// Only invoices with this status.
    status: Option<StatusFilter>,
) -> Result<InvoiceList, ToolError> {
    let tenant = tenant(&ctx)?;
    let status = status.map(|s| match s {
        StatusFilter::Open => Status::Open,
        StatusFilter::Paid => Status::Paid,
        StatusFilter::Void => Status::Void,
    });
    Ok(InvoiceList {
        invoices: ctx.state().list(&tenant, status),
    })
}

/// Mark an invoice as voided.
///
/// Voiding is recorded with the caller as its actor; voiding a void invoice changes nothing.
#[tool(scope = "invoices:write", destructive, idempotent)]
pub(crate) async fn void_invoice(
    ctx: ToolContext<Store>,
    /// The invoice id, e.g. INV-2041
    invoice_id: String,
) -> Result<Invoice, ToolError> {
    let tenant = tenant(&ctx)?;
    let actor = actor(&ctx);
    let invoice = ctx
        .state()
        .void(&tenant, &invoice_id, &actor)
        .ok_or_else(|| ToolError::new(format!("invoice {invoice_id} not found")))?;
    tracing::info!(target: "audit", tool = "void_invoice", %tenant, %actor, invoice = %invoice_id, "invoice voided");
    Ok(invoice)
}
