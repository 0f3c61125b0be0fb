use mcp_auth_runtime::prelude::*;

/// Totals by status.
#[resource(uri = "billing://tenant/summary", scope = "invoices:read", audience = ["model"])]
async fn summary() -> Result<String, ToolError> {
    Ok(String::new())
}

fn main() {}
