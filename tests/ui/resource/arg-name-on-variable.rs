use mcp_auth_runtime::prelude::*;

/// One invoice.
#[resource(uri_template = "invoice://{id}", scope = "invoices:read")]
async fn invoice(#[arg(name = "invoiceId")] id: String) -> Result<String, ToolError> {
    Ok(id)
}

fn main() {}
