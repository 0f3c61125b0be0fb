use mcp_auth_runtime::prelude::*;

async fn count_invoices() -> String {
    "12".into()
}

fn main() {
    let _tools = tools![count_invoices];
}
