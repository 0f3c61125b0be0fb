use mcp_auth_runtime::prelude::*;

/// One invoice line.
#[resource(uri_template = "invoice://{invoice_id}{line}", scope = "invoices:read")]
async fn line(invoice_id: String, line: String) -> Result<String, ToolError> {
    Ok(format!("{invoice_id} {line}"))
}

fn main() {}
