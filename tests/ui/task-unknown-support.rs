use mcp_auth_runtime::prelude::*;

/// Export every invoice.
#[tool(scope = "invoices:read", task = sometimes)]
async fn export_invoices() -> Result<String, ToolError> {
    Ok("done".into())
}

fn main() {}
