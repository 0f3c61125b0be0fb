//! The billing prompts: workflows a user picks in the client (a slash command), rendered
//! from the caller's tenant's data through [`Store::run`], so they are tenant-bound and
//! audited like the tools.

use mcp_auth_runtime::prelude::*;
use mcp_auth_runtime::{PromptMessage, ResourceContents};

use crate::audit::Called;
use crate::completions::invoice_ids;
use crate::store::{BillingError, Status, Store};

/// Draft a payment reminder for an open invoice of your tenant.
///
/// The messages give the model the invoice's facts (customer, amount, date) and the invoice
/// itself as an embedded resource.
#[prompt(scope = "invoices:read", title = "Payment reminder")]
pub(crate) async fn payment_reminder(
    ctx: ToolContext<Store>,
    /// The open invoice to remind the customer of, e.g. INV-2041.
    #[arg(complete = invoice_ids)]
    invoice_id: String,
) -> Result<Vec<PromptMessage>, ToolError> {
    let detail = ctx
        .state()
        .run(
            ctx.auth(),
            Called::prompt("payment_reminder"),
            Some(invoice_id.clone()),
            move |ledger| {
                let detail = ledger.get(&invoice_id)?;
                if detail.invoice.status != Status::Open {
                    return Err(BillingError::Conflict(format!(
                        "invoice {} is {}: only open invoices are reminded",
                        detail.invoice.id,
                        detail.invoice.status.as_str()
                    )));
                }
                Ok(detail)
            },
        )
        .await?;
    let invoice = &detail.invoice;
    let json = serde_json::to_string_pretty(&detail).map_err(ToolError::internal)?;
    Ok(vec![
        PromptMessage::user(format!(
            "Write a short, polite payment reminder to {customer} for invoice {id}: \
             {amount} is due since {created}. Thank them if they have paid in the meantime, \
             and do not invent any other facts.",
            customer = invoice.customer,
            id = invoice.id,
            amount = dollars(invoice.total_cents - invoice.refunded_cents),
            created = invoice.created_at.get(..10).unwrap_or(&invoice.created_at),
        )),
        PromptMessage::user_resource(
            ResourceContents::text(format!("invoice://{}", invoice.id), json)
                .with_mime_type("application/json"),
        ),
    ])
}

/// `125000` cents as `$1,250.00`.
fn dollars(cents: i64) -> String {
    let units = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, digit) in units.chars().enumerate() {
        if i > 0 && (units.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("${grouped}.{:02}", cents % 100)
}

#[cfg(test)]
mod tests {
    #[test]
    fn dollars_group_thousands() {
        assert_eq!(super::dollars(125_000), "$1,250.00");
        assert_eq!(super::dollars(7_250), "$72.50");
        assert_eq!(super::dollars(31_000_001), "$310,000.01");
        assert_eq!(super::dollars(5), "$0.05");
    }
}
