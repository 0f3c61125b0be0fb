use mcp_auth_runtime::prelude::*;

struct CountInvoices;

fn server() -> McpServer {
    McpServer::builder("billing", "1.0.0")
        .tools(tools![CountInvoices])
        .without_auth()
        .build()
        .unwrap()
}

fn main() {}
