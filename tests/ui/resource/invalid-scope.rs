use mcp_auth_runtime::prelude::*;

/// Totals by status.
#[resource(uri = "billing://tenant/summary", scope = "invoices:read invoices:list")]
async fn summary() -> Result<String, ToolError> {
    Ok(String::new())
}

fn main() {}
