use mcp_auth_runtime::prelude::*;

/// Copy data between regions.
#[tool(scope = "db:write")]
async fn copy(
    #[arg(header = "Region")] from: String,
    #[arg(header = "REGION")] to: String,
) -> Result<String, ToolError> {
    Ok(format!("{from} {to}"))
}

fn main() {}
