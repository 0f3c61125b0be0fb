use mcp_auth_runtime::prelude::*;

/// A reminder.
#[prompt(scope = "invoices:read", unscoped)]
async fn reminder(invoice_id: String) -> Result<String, ToolError> {
    Ok(invoice_id)
}

fn main() {}
