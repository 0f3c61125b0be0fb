use mcp_auth_runtime::prelude::*;

/// A reminder.
#[prompt]
async fn reminder(invoice_id: String) -> Result<String, ToolError> {
    Ok(invoice_id)
}

fn main() {}
