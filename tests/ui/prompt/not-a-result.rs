use mcp_auth_runtime::prelude::*;

/// A reminder.
#[prompt(scope = "invoices:read")]
async fn reminder() -> String {
    String::new()
}

fn main() {}
