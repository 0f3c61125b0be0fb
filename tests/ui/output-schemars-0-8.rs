use mcp_auth_runtime::prelude::*;

// `JsonSchema` of schemars 0.8 (renamed `schemars08` here), while mcp-auth uses schemars 1.
#[derive(serde::Serialize, schemars08::JsonSchema)]
#[schemars(crate = "schemars08")]
struct Note {
    title: String,
}

/// Read a note.
#[tool(scope = "notes:read")]
async fn read_note(title: String) -> Result<Note, ToolError> {
    Ok(Note { title })
}

fn main() {}
