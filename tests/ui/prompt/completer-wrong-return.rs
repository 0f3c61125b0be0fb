use mcp_auth_runtime::prelude::*;

async fn invoice_ids(request: CompletionRequest) -> Result<Vec<u32>, ToolError> {
    Ok(vec![request.value().len() as u32])
}

/// A reminder.
#[prompt(scope = "invoices:read")]
async fn reminder(#[arg(complete = invoice_ids)] invoice_id: String) -> Result<String, ToolError> {
    Ok(invoice_id)
}

fn main() {
    let _ = prompts![reminder];
}
