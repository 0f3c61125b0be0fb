use mcp_auth_runtime::prelude::*;

async fn reminder() -> Result<String, ToolError> {
    Ok(String::new())
}

fn main() {
    let _ = prompts![reminder];
}
