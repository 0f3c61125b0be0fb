use mcp_auth_runtime::prelude::*;

// `JsonSchema` of schemars 0.8 (renamed `schemars08` here), while mcp-auth uses schemars 1.
#[derive(serde::Deserialize, schemars08::JsonSchema)]
#[schemars(crate = "schemars08")]
struct NewNote {
    title: String,
}

/// Add a note.
#[tool(scope = "notes:write")]
async fn add_note(note: NewNote) -> Result<String, ToolError> {
    Ok(note.title)
}

fn main() {}
