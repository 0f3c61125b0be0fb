use mcp_auth_runtime::prelude::*;

/// Add two numbers.
#[tool(unscoped)]
async fn add((a, b): (i64, i64)) -> String {
    (a + b).to_string()
}

fn main() {}
