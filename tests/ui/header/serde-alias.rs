use mcp_auth_runtime::prelude::*;

/// Run a query in a region.
#[tool(scope = "t:use")]
async fn query(
    #[arg(header = "Region")]
    #[serde(alias = "zone")]
    region: String,
) -> Result<String, ToolError> {
    Ok(region)
}

fn main() {}
