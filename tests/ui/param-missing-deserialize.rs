use mcp_auth_runtime::prelude::*;

#[derive(schemars::JsonSchema)]
struct NewNote {
    title: String,
}

/// Add a note.
#[tool(scope = "notes:write")]
async fn add_note(note: NewNote) -> Result<String, ToolError> {
    Ok(note.title)
}

fn main() {}
