use mcp_auth_runtime::prelude::*;

/// Void an invoice.
#[tool(scope = "invoices:write")]
async fn void_invoice(invoice_id: String) -> Result<(), ToolError> {
    let _ = invoice_id;
    Ok(())
}

fn main() {}
