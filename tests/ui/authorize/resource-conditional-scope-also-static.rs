use mcp_auth_runtime::prelude::*;

/// One payout.
#[resource(
    uri_template = "payout://{amount_cents}",
    scope = ["payouts:read", "payments:approve"],
    require(scope = "payments:approve", when = amount_cents > 100_000)
)]
async fn payout(_ctx: ToolContext, amount_cents: u64) -> Result<String, ToolError> {
    Ok(format!("{amount_cents}"))
}

fn main() {}
