use mcp_auth_runtime::prelude::*;

/// Annuler une facture.
#[tool(scope = "invoices:write")]
async fn annuler_facturé(invoice_id: String) -> Result<String, ToolError> {
    Ok(invoice_id)
}

fn main() {}
