use mcp_auth_runtime::prelude::*;

/// Run a query.
#[tool(scope = "db:read")]
async fn run_query(#[arg(name = "q")] query: String) -> Result<String, ToolError> {
    Ok(query)
}

fn main() {}
