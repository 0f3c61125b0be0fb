use mcp_auth_runtime::prelude::*;

/// A reminder.
#[prompt(scope = "invoices:read", name = "payment reminder")]
async fn reminder() -> Result<String, ToolError> {
    Ok(String::new())
}

fn main() {}
