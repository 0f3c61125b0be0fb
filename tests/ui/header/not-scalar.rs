use mcp_auth_runtime::prelude::*;

/// Tag an invoice.
#[tool(scope = "invoices:write")]
async fn tag_invoice(
    invoice_id: String,
    #[arg(header = "Tags")] tags: Vec<String>,
) -> Result<String, ToolError> {
    Ok(format!("{invoice_id} {tags:?}"))
}

fn main() {}
