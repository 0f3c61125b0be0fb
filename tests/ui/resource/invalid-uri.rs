use mcp_auth_runtime::prelude::*;

/// Totals by status.
#[resource(uri = "tenant summary", scope = "invoices:read")]
async fn summary() -> Result<String, ToolError> {
    Ok(String::new())
}

fn main() {}
