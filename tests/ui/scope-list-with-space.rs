use mcp_auth_runtime::prelude::*;

/// Void an invoice.
#[tool(scope = ["invoices:read", "invoices:write audit"])]
async fn void_invoice(invoice_id: String) -> Result<String, ToolError> {
    Ok(invoice_id)
}

fn main() {}
