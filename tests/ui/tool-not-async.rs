use mcp_auth_runtime::prelude::*;

/// Count the invoices.
#[tool(scope = "invoices:read")]
fn count_invoices() -> String {
    "12".into()
}

fn main() {}
