use mcp_auth_runtime::prelude::*;

/// Refund part of an invoice.
#[tool(
    scope = "invoices:write",
    require(scope = "payments approve", when = amount_cents > 100_000),
    may_require = ["exports:large", "façade"]
)]
async fn refund(_ctx: ToolContext, amount_cents: u64) -> Result<String, ToolError> {
    Ok(format!("{amount_cents}"))
}

fn main() {}
