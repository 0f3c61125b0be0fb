use mcp_auth_runtime::prelude::*;

/// Refund part of an invoice.
#[tool(scope = "invoices:write", require(scope = "payments:approve", when = ))]
async fn refund(_ctx: ToolContext, amount_cents: u64) -> Result<String, ToolError> {
    Ok(format!("{amount_cents}"))
}

fn main() {}
