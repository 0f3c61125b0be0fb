use mcp_auth_runtime::prelude::*;

/// Refund part of an invoice.
#[tool(scope = "invoices:write")]
async fn refund(#[arg(header = "Amount")] amount: Option<f64>) -> Result<String, ToolError> {
    Ok(format!("{amount:?}"))
}

fn main() {}
