use mcp_auth_runtime::prelude::*;

async fn summary() -> Result<String, ToolError> {
    Ok(String::new())
}

fn main() {
    let _ = resources![summary];
}
