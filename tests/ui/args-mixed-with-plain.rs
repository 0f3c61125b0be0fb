use mcp_auth_runtime::prelude::*;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct NewInvoice {
    customer: String,
}

/// Create an invoice.
#[tool(scope = "invoices:write")]
async fn create_invoice(
    currency: String,
    Args(new): Args<NewInvoice>,
) -> Result<String, ToolError> {
    Ok(format!("{} {currency}", new.customer))
}

fn main() {}
