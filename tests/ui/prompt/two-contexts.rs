use mcp_auth_runtime::prelude::*;

/// A reminder.
#[prompt(scope = "invoices:read")]
async fn reminder(a: ToolContext, b: ToolContext) -> Result<String, ToolError> {
    let _ = (a, b);
    Ok(String::new())
}

fn main() {}
