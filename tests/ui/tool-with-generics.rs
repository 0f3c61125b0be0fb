use mcp_auth_runtime::prelude::*;

/// Echo a value.
#[tool(unscoped)]
async fn echo<T: ToString>(value: T) -> String {
    value.to_string()
}

fn main() {}
