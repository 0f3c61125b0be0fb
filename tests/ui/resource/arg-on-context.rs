use mcp_auth_runtime::prelude::*;

async fn callers(request: CompletionRequest) -> Result<Vec<String>, ToolError> {
    Ok(vec![request.value().to_owned()])
}

/// One invoice.
#[resource(uri_template = "invoice://{id}", scope = "invoices:read")]
async fn invoice(#[arg(complete = callers)] ctx: ToolContext, id: String) -> Result<String, ToolError> {
    let _ = ctx;
    Ok(id)
}

fn main() {}
