use mcp_auth_runtime::prelude::*;

/// Totals by status.
#[resource(uri = "billing://tenant/summary", scope = "invoices:read")]
async fn summary() -> String {
    String::new()
}

fn main() {}
