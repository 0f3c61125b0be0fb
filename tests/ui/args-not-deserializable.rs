use mcp_auth_runtime::prelude::*;

struct NewInvoice {
    customer: String,
}

/// Create an invoice.
#[tool(scope = "invoices:write")]
async fn create_invoice(Args(new): Args<NewInvoice>) -> Result<String, ToolError> {
    Ok(new.customer)
}

fn main() {}
