use mcp_auth_runtime::prelude::*;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Filter {
    status: String,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Page {
    limit: u32,
}

/// List invoices.
#[tool(scope = "invoices:read")]
async fn list_invoices(Args(filter): Args<Filter>, Args(page): Args<Page>) -> String {
    format!("{} {}", filter.status, page.limit)
}

fn main() {}
