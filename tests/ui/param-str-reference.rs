use mcp_auth_runtime::prelude::*;

/// Read a note.
#[tool(scope = "notes:read")]
async fn read_note(id: &str) -> Result<String, ToolError> {
    Ok(id.to_owned())
}

fn main() {}
