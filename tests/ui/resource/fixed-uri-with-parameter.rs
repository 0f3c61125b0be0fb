use mcp_auth_runtime::prelude::*;

/// Totals by status.
#[resource(uri = "billing://tenant/summary", scope = "invoices:read")]
async fn summary(tenant: String) -> Result<String, ToolError> {
    Ok(tenant)
}

fn main() {}
