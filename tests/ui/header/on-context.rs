use mcp_auth_runtime::prelude::*;

/// Run a query.
#[tool(scope = "db:read")]
async fn run_query(
    #[arg(header = "Caller")] ctx: ToolContext,
    query: String,
) -> Result<String, ToolError> {
    Ok(format!("{:?} {query}", ctx.auth().subject()))
}

fn main() {}
