use mcp_auth_runtime::prelude::*;

/// Summarize a region.
#[prompt(scope = "db:read")]
async fn summarize(#[arg(header = "Region")] region: String) -> Result<String, ToolError> {
    Ok(region)
}

fn main() {}
