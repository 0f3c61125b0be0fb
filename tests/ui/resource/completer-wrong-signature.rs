use mcp_auth_runtime::prelude::*;

fn invoice_ids(request: CompletionRequest) -> Vec<String> {
    vec![request.value().to_owned()]
}

/// One invoice.
#[resource(uri_template = "invoice://{id}", scope = "invoices:read")]
async fn invoice(#[arg(complete = invoice_ids)] id: String) -> Result<String, ToolError> {
    Ok(id)
}

fn main() {
    let _ = resources![invoice];
}
