use mcp_auth_runtime::prelude::*;

/// Run a query.
#[tool(scope = "db:read")]
async fn run_query(
    #[arg(header = "My Region")] region: String,
    query: String,
) -> Result<String, ToolError> {
    Ok(format!("{query} in {region}"))
}

fn main() {}
