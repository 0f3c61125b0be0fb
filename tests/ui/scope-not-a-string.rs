use mcp_auth_runtime::prelude::*;

/// Void an invoice.
#[tool(scope = invoices_write)]
async fn void_invoice(invoice_id: String) -> Result<String, ToolError> {
    Ok(invoice_id)
}

fn main() {}
