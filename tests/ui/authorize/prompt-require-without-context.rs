use mcp_auth_runtime::prelude::*;

/// A note on a refund.
#[prompt(scope = "invoices:read", require(scope = "payments:approve", when = amount_cents > 100_000))]
async fn refund_note(amount_cents: u64) -> Result<String, ToolError> {
    Ok(format!("{amount_cents}"))
}

fn main() {}
