use mcp_auth_runtime::prelude::*;

async fn count_invoices() -> String {
    "12".into()
}

fn server() -> McpServer {
    McpServer::builder("billing", "1.0.0")
        .tools(tools![count_invoices])
        .without_auth()
        .build()
        .unwrap()
}

fn main() {}
