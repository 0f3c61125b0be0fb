use mcp_auth_runtime::prelude::*;

/// One invoice line.
#[resource(uri_template = "invoice://{invoice_id}/lines/{line}", scope = "invoices:read")]
async fn line(invoice_id: String) -> Result<String, ToolError> {
    Ok(invoice_id)
}

fn main() {}
