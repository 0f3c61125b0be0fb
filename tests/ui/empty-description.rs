use mcp_auth_runtime::prelude::*;

#[tool(scope = "invoices:write", description = "  ")]
async fn void_invoice(invoice_id: String) -> Result<String, ToolError> {
    Ok(invoice_id)
}

fn main() {}
