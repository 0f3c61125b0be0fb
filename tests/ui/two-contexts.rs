use mcp_auth_runtime::prelude::*;

/// Who am I?
#[tool(scope = "profile:read")]
async fn whoami(ctx: ToolContext, again: ToolContext) -> Result<String, ToolError> {
    Ok(format!("{ctx:?} {again:?}"))
}

fn main() {}
