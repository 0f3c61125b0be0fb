use mcp_auth_runtime::prelude::*;

/// Greet someone.
#[tool(unscoped)]
async fn greet(name: impl Into<String>) -> String {
    format!("hello {}", name.into())
}

fn main() {}
