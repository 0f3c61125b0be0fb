use mcp_auth_runtime::prelude::*;

struct InvoiceId(String);

/// Void an invoice.
#[tool(scope = "invoices:write")]
async fn void_invoice(invoice_id: InvoiceId) -> Result<String, ToolError> {
    Ok(invoice_id.0)
}

fn main() {}
