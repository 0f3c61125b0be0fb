use mcp_auth_runtime::prelude::*;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Query {
    region: String,
}

/// Run a query.
#[tool(scope = "db:read")]
async fn run_query(#[arg(header = "Region")] Args(query): Args<Query>) -> Result<String, ToolError> {
    Ok(query.region)
}

fn main() {}
