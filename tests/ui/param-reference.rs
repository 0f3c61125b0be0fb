use mcp_auth_runtime::prelude::*;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Filter {
    tag: String,
}

/// Find notes.
#[tool(scope = "notes:read")]
async fn find_notes(filter: &Filter, tags: Option<&[String]>) -> Result<String, ToolError> {
    Ok(format!("{} {tags:?}", filter.tag))
}

fn main() {}
