use mcp_auth_runtime::prelude::*;

/// A reminder.
#[prompt(scope = "invoices:read")]
async fn reminder(invoice_id: &'static str) -> Result<String, ToolError> {
    Ok(invoice_id.to_owned())
}

fn main() {
    let _ = prompts![reminder];
}
