use mcp_auth_runtime::prelude::*;

/// One invoice.
#[resource(uri_template = "invoice://{+invoice_id}", scope = "invoices:read")]
async fn invoice(invoice_id: String) -> Result<String, ToolError> {
    Ok(invoice_id)
}

fn main() {}
