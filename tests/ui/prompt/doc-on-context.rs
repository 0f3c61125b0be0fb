use mcp_auth_runtime::prelude::*;

/// A reminder.
#[prompt(scope = "invoices:read")]
async fn reminder(
    /// The caller.
    ctx: ToolContext,
) -> Result<String, ToolError> {
    let _ = ctx;
    Ok(String::new())
}

fn main() {}
