use mcp_auth_runtime::prelude::*;

async fn invoice_ids(prefix: u32) -> Result<Vec<String>, ToolError> {
    Ok(vec![prefix.to_string()])
}

/// A reminder.
#[prompt(scope = "invoices:read")]
async fn reminder(#[arg(complete = invoice_ids)] invoice_id: String) -> Result<String, ToolError> {
    Ok(invoice_id)
}

fn main() {
    let _ = prompts![reminder];
}
