use mcp_auth_runtime::prelude::*;

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Note {
    title: String,
}

/// List the notes.
#[tool(scope = "notes:read")]
async fn list_notes() -> Result<Vec<Note>, ToolError> {
    Ok(Vec::new())
}

fn main() {}
