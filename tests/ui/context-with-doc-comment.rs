use mcp_auth_runtime::prelude::*;

/// Who am I?
#[tool(unscoped)]
async fn whoami(
    /// The caller.
    ctx: ToolContext,
) -> String {
    format!("{ctx:?}")
}

fn main() {}
