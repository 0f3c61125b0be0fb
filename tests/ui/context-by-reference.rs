use mcp_auth_runtime::prelude::*;

struct Notes;

/// Count the notes.
#[tool(scope = "notes:read")]
async fn count_notes(ctx: &ToolContext<Notes>) -> Result<String, ToolError> {
    let _ = ctx.state();
    Ok("0".into())
}

fn main() {}
