use mcp_auth_runtime::prelude::*;

/// A reminder.
#[prompt(scope = "invoices:read")]
async fn reminder(invoice_ids: Vec<String>) -> Result<String, ToolError> {
    Ok(invoice_ids.join(","))
}

fn main() {
    let _ = prompts![reminder];
}
