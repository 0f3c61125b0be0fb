use mcp_auth_runtime::prelude::*;

/// Run a query.
#[tool(scope = "db:read")]
async fn run_query(#[arg(header = "Région")] region: String) -> Result<String, ToolError> {
    Ok(region)
}

fn main() {}
