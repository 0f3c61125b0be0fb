use mcp_auth_runtime::prelude::*;

async fn callers(request: CompletionRequest) -> Result<Vec<String>, ToolError> {
    Ok(vec![request.value().to_owned()])
}

/// A reminder.
#[prompt(scope = "invoices:read")]
async fn reminder(#[arg(complete = callers)] ctx: ToolContext) -> Result<String, ToolError> {
    let _ = ctx;
    Ok(String::new())
}

fn main() {}
