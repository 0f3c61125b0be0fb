use mcp_auth_runtime::prelude::*;

/// One invoice.
#[resource(uri_template = "invoice://{invoice_id}", scope = "invoices:read")]
async fn invoice(invoice_id: String, currency: String) -> Result<String, ToolError> {
    Ok(format!("{invoice_id} {currency}"))
}

fn main() {}
