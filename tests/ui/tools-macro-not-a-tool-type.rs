use mcp_auth_runtime::prelude::*;

struct CountInvoices;

fn main() {
    let _tools = tools![CountInvoices];
}
