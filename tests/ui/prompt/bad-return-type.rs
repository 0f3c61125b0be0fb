use mcp_auth_runtime::prelude::*;

/// A reminder.
#[prompt(scope = "invoices:read")]
async fn reminder() -> Result<u32, ToolError> {
    Ok(7)
}

fn main() {
    let _ = prompts![reminder];
}
