use mcp_auth_runtime::prelude::*;

/// A reminder.
#[prompt(scope = "invoices:read")]
async fn reminder(
    #[arg(name = "invoice_id")] id: String,
    invoice_id: String,
) -> Result<String, ToolError> {
    Ok(format!("{id}{invoice_id}"))
}

fn main() {}
