use mcp_auth_runtime::prelude::*;

struct Invoice {
    id: String,
}

/// Look up an invoice.
#[tool(scope = "invoices:read")]
async fn lookup_invoice(invoice_id: String) -> Result<Invoice, ToolError> {
    Ok(Invoice { id: invoice_id })
}

fn main() {}
