use mcp_auth_runtime::prelude::*;

/// Who am I?
#[tool(scope = "profile:read")]
async fn whoami(ctx: ToolContext) -> String {
    format!("{ctx:?}")
}

fn main() {}
