use mcp_auth_runtime::prelude::*;

struct Billing;

impl Billing {
    /// Count the invoices.
    #[tool(scope = "invoices:read")]
    async fn count_invoices(&self) -> String {
        "12".into()
    }
}

fn main() {}
