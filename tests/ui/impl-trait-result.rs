use mcp_auth_runtime::prelude::*;

/// Count the invoices.
#[tool(unscoped)]
async fn count_invoices() -> Result<impl serde::Serialize, ToolError> {
    Ok(12)
}

fn main() {}
